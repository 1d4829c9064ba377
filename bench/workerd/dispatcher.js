// z0's dispatch path in a workerd worker (bench/peers_bench.py): the tenant is found by its gateway key
// (`x-z0-api-key` or `Authorization: Bearer z0k_…`, both stripped, as z0's key strategy does), client-sent
// `x-z0-*` headers are dropped, the context headers are set, and the tenant's worker is called through
// its service binding. The key is the one the bench sends; a real dispatcher would read a KV or a table.
const KEYS = { "z0k_bench_0123456789abcdef0123456789abcdef": "tenant_bench" };

function hex(bytes) {
  let out = "";
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0");
  return out;
}

export default {
  async fetch(request, env) {
    let key = request.headers.get("x-z0-api-key");
    const authorization = request.headers.get("authorization");
    let bearer = false;
    if (authorization !== null && authorization.slice(0, 7).toLowerCase() === "bearer ") {
      const token = authorization.slice(7).trim();
      if (token.startsWith("z0k_")) {
        bearer = true;
        key = key ?? token;
      }
    }
    const requestId = crypto.randomUUID();
    const tenantId = key === null ? undefined : KEYS[key];
    const worker = tenantId === undefined ? undefined : env[tenantId];
    if (worker === undefined) {
      return new Response("Unauthorized", { status: 401, headers: { "x-z0-request-id": requestId } });
    }
    const headers = new Headers();
    for (const [name, value] of request.headers) {
      if (!name.startsWith("x-z0-") && name !== "traceparent" && !(bearer && name === "authorization")) {
        headers.append(name, value);
      }
    }
    const ids = crypto.getRandomValues(new Uint8Array(24));
    const traceId = hex(ids.subarray(0, 16));
    const spanId = hex(ids.subarray(16));
    headers.set("x-z0-tenant-id", tenantId);
    headers.set("x-z0-request-id", requestId);
    headers.set("x-z0-trace-id", traceId);
    headers.set("x-z0-span-id", spanId);
    headers.set("traceparent", `00-${traceId}-${spanId}-01`);
    // The URL, method and body as they came (cheaper than cloning the Request; redirects reach the client).
    const response = await worker.fetch(request.url, {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
    });
    const out = new Response(response.body, response);
    out.headers.set("x-z0-request-id", requestId);
    return out;
  },
};
