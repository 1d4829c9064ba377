export default {
  fetch(request, env, ctx) {
    return new Response(`hello from ${env.NAME || "z0"}`, { headers: { "x-worker": "hello" } });
  },
};
