// Module state and globals persist across this isolate's requests, as in Workers.
let count = 0;
export default {
  fetch(request) {
    count += 1;
    const url = new URL(request.url);
    if (url.searchParams.has("set")) globalThis.secret = url.searchParams.get("set");
    return Response.json({ count, secret: globalThis.secret ?? null });
  },
};
