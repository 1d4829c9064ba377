// An HTML page, with the visitor's details escaped, and a cookie.
const escape = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const name = url.searchParams.get("name") || "world";
    const visits = Number((request.headers.get("cookie") || "").match(/visits=(\d+)/)?.[1] || 0) + 1;
    const html = `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8"><title>Hello, ${escape(name)}</title></head>
  <body>
    <h1>Hello, ${escape(name)}! 👋</h1>
    <p>Visit number ${visits}. Served by tenant ${escape(request.headers.get("x-z0-tenant-id") || "?")}.</p>
  </body>
</html>`;
    return new Response(html, {
      headers: {
        "content-type": "text/html; charset=utf-8",
        "set-cookie": `visits=${visits}; Path=/; HttpOnly`,
      },
    });
  },
};
