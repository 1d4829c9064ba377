// A webhook receiver: checks an HMAC-SHA256 signature of the body before trusting it.
// The secret comes from the binding WEBHOOK_SECRET; the signature from `x-signature: sha256=<hex>`.
const encoder = new TextEncoder();

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function verify(secret, body, signature) {
  if (!signature || !signature.startsWith("sha256=")) return false;
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const expected = "sha256=" + hex(await crypto.subtle.sign("HMAC", key, encoder.encode(body)));
  const a = encoder.encode(expected);
  const b = encoder.encode(signature);
  return a.byteLength === b.byteLength && crypto.subtle.timingSafeEqual(a, b);
}

export default {
  async fetch(request, env) {
    if (request.method !== "POST") return new Response("POST only", { status: 405 });
    const body = await request.text();
    if (!(await verify(env.WEBHOOK_SECRET, body, request.headers.get("x-signature")))) {
      return new Response("bad signature", { status: 401 });
    }
    const event = JSON.parse(body);
    console.log("webhook event", event.type);
    return Response.json({ received: event.type });
  },
};
