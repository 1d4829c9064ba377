// z0-api: modules
// always: true
// (placeholder: the module registry, written with the linker)
__z0.modules = {
  instantiate(defs, main) {
    return Promise.reject(new TypeError("z0: the module linker is not built yet"));
  },
};
