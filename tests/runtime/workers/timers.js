// Timers and waitUntil: the response goes out, the waitUntil work goes on and logs when it ends.
export default {
  async fetch(request, env, ctx) {
    const started = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const waited = Date.now() - started;
    ctx.waitUntil(new Promise((resolve) => setTimeout(() => { console.log("waitUntil done"); resolve(); }, 100)));
    let ticks = 0;
    await new Promise((resolve) => {
      const id = setInterval(() => { ticks += 1; if (ticks === 3) { clearInterval(id); resolve(); } }, 5);
    });
    console.log("responding", { waited: waited >= 45, ticks });
    return Response.json({ waited: waited >= 45, ticks });
  },
};
