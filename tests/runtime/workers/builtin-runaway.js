// A runaway inside a native built-in, which the engine's time limit does not interrupt
// (DESIGN.md: String.prototype.includes on large strings); only the watchdog stops it.
export default {
  fetch() {
    const haystack = "a".repeat(200000);
    const needle = "a".repeat(100000) + "b";
    return new Response(String(haystack.includes(needle)));
  },
};
