// Echoes the request: method, URL, headers and body, byte for byte.
export default {
  async fetch(request) {
    const body = await request.arrayBuffer();
    const headers = new Headers({ "x-method": request.method, "x-url": request.url, "x-length": String(body.byteLength) });
    for (const [name, value] of request.headers) headers.set(`x-echo-${name}`, value);
    return new Response(body, { status: 200, headers });
  },
};
