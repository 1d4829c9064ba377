// Decodes the body as UTF-8 text and sends it back as text, with its length in UTF-16 units.
export default {
  async fetch(request) {
    const text = await request.text();
    return new Response(text, { headers: { "content-type": "text/plain; charset=utf-8", "x-chars": String(text.length) } });
  },
};
