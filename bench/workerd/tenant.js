// The tenant's hello world: the same worker z0 runs in bench/peers_bench.py.
export default {
  fetch(request) {
    return new Response("hello");
  },
};
