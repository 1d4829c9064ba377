# workerd serving z0's dispatch path (bench/peers_bench.py): a dispatcher worker that finds the tenant by
# its gateway key, sets z0's context headers and calls the tenant's worker through a service binding.
# One process, listening on 127.0.0.1 only; the bench overrides the port with --socket-addr http=….
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "dispatcher", worker = .dispatcher),
    (name = "tenant_bench", worker = .tenant),
  ],
  sockets = [(name = "http", address = "127.0.0.1:9405", http = (), service = "dispatcher")],
);

const dispatcher :Workerd.Worker = (
  modules = [(name = "dispatcher.js", esModule = embed "dispatcher.js")],
  compatibilityDate = "2025-09-01",
  # One service binding per tenant worker; the dispatcher picks it by the tenant id.
  bindings = [(name = "tenant_bench", service = "tenant_bench")],
);

const tenant :Workerd.Worker = (
  modules = [(name = "tenant.js", esModule = embed "tenant.js")],
  compatibilityDate = "2025-09-01",
);
