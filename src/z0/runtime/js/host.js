// z0-api: host
// always: true
// provides: console, setTimeout, clearTimeout, setInterval, clearInterval, addEventListener, removeEventListener
/*
 * Binding contract (host <-> isolate). The host calls one function, __z0.entry(command, a, b):
 *   "setup", {env, bindings, lineOffset} once, before the tenant's code: env holds the plain values
 *                                         (vars, secrets); bindings maps a name to {type, …}, made into
 *                                         env[name] by the factory a binding's file puts in __z0.bindings
 *   "boot", linkFn                        runs the linked tenant code: linkFn({start(defs, main, lineTable)})
 *   "bootState"                  -> JSON  {state: "pending"|"ok"|"error", handlers, error}
 *   "dispatch", {id, method, url, headers, seed, bodyEncoding}, body   starts a request (body: base64,
 *                                         seed: 32 random bytes in hex, for crypto.getRandomValues)
 *   "begin", {id, seed}                   a request context without a handler (tests); seed in hex
 *   "take"                       -> JSON  {ops, response: {status, statusText, headers, body, bodyEncoding}, done,
 *                                          logs, error, missing}; once done, the request is forgotten
 *   "resolve", [{id, ok, value, error}]   results of host ops
 *   "lazy", name, exports                 a lazy file's exports (see __z0.lazy)
 *   "end"                                 forget the request (after done, or when the host gives up)
 * A host op is {id, op, ...args}; the host performs it and resolves it by id.
 */
const { defineProperty, keys: objectKeys, create: objectCreate, freeze, setPrototypeOf } = Object;
const { stringify: jsonStringify, parse: jsonParse } = JSON;
const { apply: reflectApply } = Reflect;
const PromiseCtor = Promise;
const promiseResolve = Promise.resolve.bind(Promise);
const promiseThen = Promise.prototype.then;
const fromCharCode = String.fromCharCode;
const ErrorCtor = Error;

__z0.define = function (target, props) {
  for (const name of objectKeys(props)) {
    defineProperty(target, name, { value: props[name], writable: true, configurable: true, enumerable: false });
  }
};

__z0.latin1ToBytes = function (s) {
  const n = s.length;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = s.charCodeAt(i);
  return out;
};

__z0.bytesToLatin1 = function (bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += reflectApply(fromCharCode, null, bytes.subarray(i, i + 8192));
  }
  return s;
};

let current = null;
// Binding factories by type, set by each binding's file: (name, descriptor) -> the object in env.
__z0.bindings = objectCreate(null);
let nextOpId = 1;
let bootState = { state: "pending", handlers: [], error: null };
let handlers = null;
const fetchListeners = [];
const lazyExports = objectCreate(null);
const timers = new Map();
let nextTimerId = 1;

// What crosses to the host about a request is bounded: a tenant's huge message or endless logging
// costs the tenant, not the host.
const MAX_TEXT = 8192;
const MAX_LOG_LINES = 1000;

function clip(text) {
  return text.length > MAX_TEXT ? text.slice(0, MAX_TEXT) + "… [" + (text.length - MAX_TEXT) + " more characters]" : text;
}

function errorInfo(error) {
  if (error !== null && typeof error === "object") {
    let name = "Error";
    let message = "";
    let stack = "";
    try { name = clip(String(error.name)); } catch (e) {}
    try { message = clip(String(error.message)); } catch (e) {}
    try { stack = clip(String(error.stack || "")); } catch (e) {}
    return { name, message, stack };
  }
  let text;
  try { text = clip(String(error)); } catch (e) { text = "(unprintable value)"; }
  return { name: "Error", message: "Uncaught " + text, stack: "" };
}

__z0.lazy = function (name) {
  const exports = lazyExports[name];
  if (exports !== undefined) return exports;
  if (current !== null) current.missing.push(name);
  throw new TypeError("z0 loads '" + name + "' on first use; this request will run again.");
};

const MAX_PENDING_OPS = 10000;

__z0.hostOp = function (op, args) {
  const request = current;
  if (request === null) {
    throw new TypeError(
      "Some functionality, such as asynchronous I/O, fetch, timers, cannot be performed at global scope " +
        "or outside a request. Move it into a handler."
    );
  }
  if (request.pending.size >= MAX_PENDING_OPS) {
    throw new RangeError("Too many operations waiting at once (the limit is " + MAX_PENDING_OPS + ").");
  }
  const id = nextOpId++;
  // Ops, and what holds them until take() serializes them, have no prototype: a setter or toJSON a
  // tenant adds to Object.prototype or Array.prototype never sees an op (subtle's carry key material).
  const message = objectCreate(null);
  message.id = id;
  message.op = op;
  if (args) for (const key of objectKeys(args)) message[key] = args[key];
  request.ops[request.ops.length] = message;
  return new PromiseCtor((resolve, reject) => request.pending.set(id, { resolve, reject }));
};

function track(promise) {
  const request = current;
  if (request === null) return;
  request.waitUntil++;
  reflectApply(promiseThen, promiseResolve(promise), [
    () => { request.waitUntil--; },
    (error) => {
      request.waitUntil--;
      request.logs.push({ level: "error", message: clip("Uncaught (in waitUntil) " + describe(error)) });
    },
  ]);
}

// Timers

function startTimer(callback, ms, args, repeat) {
  if (typeof callback !== "function") {
    throw new TypeError("The callback provided as parameter 1 is not a function.");
  }
  const request = current;
  const id = nextTimerId++;
  const delay = Math.max(0, Number(ms) || 0);
  const timer = { request, repeat };
  timers.set(id, timer);
  const arm = () => {
    reflectApply(promiseThen, __z0.hostOp("timer", { ms: delay }), [
      () => {
        if (!timers.has(id) || current !== request) return;
        if (!repeat) timers.delete(id);
        try { reflectApply(callback, globalThis, args); }
        catch (error) { request.logs.push({ level: "error", message: clip("Uncaught " + describe(error)) }); }
        if (repeat && timers.has(id)) arm();
      },
      () => { timers.delete(id); },
    ]);
  };
  arm();
  return id;
}

function setTimeout(callback, ms, ...args) { return startTimer(callback, ms, args, false); }
function setInterval(callback, ms, ...args) { return startTimer(callback, ms, args, true); }
function clearTimeout(id) { timers.delete(Number(id)); }

// console: captured per request, with its level; printed by the host with the request id.

function describe(value, depth) {
  depth = depth || 0;
  if (typeof value === "string") return depth ? jsonStringify(value) : value;
  if (value === null || value === undefined || typeof value === "number" || typeof value === "boolean") {
    return String(value);
  }
  if (typeof value === "bigint") return value + "n";
  if (typeof value === "symbol" || typeof value === "function") {
    try { return typeof value === "function" ? "[Function " + (value.name || "(anonymous)") + "]" : value.toString(); }
    catch (e) { return "[" + typeof value + "]"; }
  }
  if (value instanceof ErrorCtor) {
    const info = errorInfo(value);
    return info.stack ? info.name + ": " + info.message + "\n" + info.stack : info.name + ": " + info.message;
  }
  if (depth > 2) return "[Object]";
  try {
    if (Array.isArray(value)) return "[ " + value.slice(0, 100).map((v) => describe(v, depth + 1)).join(", ") + " ]";
    const names = objectKeys(value).slice(0, 100);
    const tag = value.constructor && value.constructor.name && value.constructor.name !== "Object"
      ? value.constructor.name + " " : "";
    return tag + "{ " + names.map((k) => k + ": " + describe(value[k], depth + 1)).join(", ") + " }";
  } catch (e) {
    return "[object]";
  }
}

const bootLogs = [];
function log(level) {
  return function (...args) {
    const request = current;
    const lines = request !== null ? request.logs : bootLogs;
    const written = request !== null ? request.logged++ : bootLogs.length;
    if (written > MAX_LOG_LINES || (request === null && written >= 100)) return;
    const message = written === MAX_LOG_LINES
      ? "[z0: more than " + MAX_LOG_LINES + " log lines in one request; the rest are dropped]"
      : clip(args.map((a) => describe(a)).join(" "));
    lines.push({ level, message });
  };
}
const console = {};
for (const [name, level] of [["log", "log"], ["info", "info"], ["warn", "warn"], ["error", "error"],
  ["debug", "debug"], ["trace", "debug"]]) {
  console[name] = log(level);
}

// Service-worker format: addEventListener("fetch", listener)

function addEventListener(type, listener) {
  if (type === "fetch" && (typeof listener === "function" || (listener && typeof listener.handleEvent === "function"))) {
    fetchListeners.push(listener);
  }
}
function removeEventListener(type, listener) {
  const at = fetchListeners.indexOf(listener);
  if (type === "fetch" && at >= 0) fetchListeners.splice(at, 1);
}

// Requests

function newRequestState(id) {
  return { id, ops: setPrototypeOf([], null), pending: new Map(), logs: [], logged: 0, waitUntil: 0, response: null, responded: false,
    body: null, error: null, missing: [], finished: false };
}

function catching(promise, onError) {
  reflectApply(promiseThen, promise, [undefined, onError]);
}

// No callback here returns a promise: the engine would call that promise's `then` as a property,
// which the tenant may have replaced.
function respondWith(request, value) {
  const fail = (error) => {
    request.error = errorInfo(error);
    request.responded = true;
  };
  const deliver = (response) => {
    if (typeof Response === "undefined" || !(response instanceof Response)) {
      fail(new TypeError("The handler did not return a Response (got " + describe(response) + ")."));
      return;
    }
    let pending;
    try { pending = __z0.responseToHost(response); } catch (error) { fail(error); return; }
    reflectApply(promiseThen, promiseResolve(pending), [(out) => {
      request.body = out.body;
      out.body = undefined;
      request.response = out;
      request.responded = true;
    }, fail]);
  };
  let settled;
  try { settled = promiseResolve(value); } catch (error) { fail(error); return; }
  reflectApply(promiseThen, settled, [deliver, fail]);
}

// The host sends 32 fresh random bytes with every request, in hex.
function hexToLatin1(hex) {
  return reflectApply(fromCharCode, null, Uint8Array.fromHex(hex));
}

function dispatch(meta, body) {
  if (bootState.state !== "ok") throw new TypeError("z0: the script is not ready (" + bootState.state + ").");
  const request = newRequestState(meta.id);
  current = request;
  if (meta.seed !== undefined && typeof __z0.seedRandom === "function") __z0.seedRandom(hexToLatin1(meta.seed));
  try {
    const req = __z0.requestFromHost(meta, body);
    const ctx = freeze({
      waitUntil: (promise) => track(promise),
      passThroughOnException: () => {},
      props: freeze({}),
    });
    if (handlers !== null) {
      respondWith(request, reflectApply(handlers.fetch, handlers, [req, __z0.env || {}, ctx]));
    } else {
      let responded = null;
      const event = {
        type: "fetch",
        request: req,
        respondWith(value) {
          if (responded !== null) throw new TypeError("respondWith() was already called.");
          responded = value;
        },
        waitUntil: (promise) => track(promise),
        passThroughOnException: () => {},
      };
      for (const listener of fetchListeners) {
        if (typeof listener === "function") listener.call(globalThis, event);
        else listener.handleEvent(event);
      }
      if (responded === null) throw new TypeError("No fetch listener called event.respondWith().");
      respondWith(request, responded);
    }
  } catch (error) {
    request.error = errorInfo(error);
    request.responded = true;
  }
}

function take() {
  const request = current;
  if (request === null) return jsonStringify({ ops: [], response: null, done: true, logs: [], error: null });
  const ops = request.ops;
  request.ops = setPrototypeOf([], null);
  const logs = request.logs;
  request.logs = [];
  let response = null;
  if (request.response !== null && !request.finished) {
    response = request.response;
    response.body = request.body;
    request.body = null;
    request.finished = true;
  }
  const failed = request.error !== null;
  const done = request.responded && request.waitUntil === 0 && (failed || request.finished);
  const out = jsonStringify(
    setPrototypeOf({ ops, response, done, logs, error: request.error, missing: request.missing }, null)
  );
  if (failed) request.error = null;
  if (done) end();
  return out;
}

function end() {
  current = null;
  timers.clear();
}

function settle(results) {
  const request = current;
  if (request === null) return;
  for (const result of results) {
    const waiter = request.pending.get(result.id);
    if (waiter === undefined) continue;
    request.pending.delete(result.id);
    if (result.ok) waiter.resolve(result.value);
    else waiter.reject(new ErrorCtor(String(result.error)));
  }
}

function boot(linkFn) {
  const link = {
    start(defs, main, lineTable) {
      catching(reflectApply(promiseThen, __z0.modules.instantiate(defs, main, lineTable), [
        (namespace) => {
          const handler = namespace.default;
          if (handler === null || typeof handler !== "object" && typeof handler !== "function") {
            throw new TypeError("The main module has no default export; export default { fetch(request, env, ctx) {…} }.");
          }
          const names = [];
          for (const name of ["fetch", "scheduled", "queue", "email", "tail", "trace"]) {
            if (typeof handler[name] === "function") names.push(name);
          }
          if (typeof handler.fetch !== "function") {
            throw new TypeError("The default export has no fetch handler; export default { fetch(request, env, ctx) {…} }.");
          }
          handlers = handler;
          bootState = { state: "ok", handlers: names, error: null };
        },
        undefined,
      ]), (error) => {
        bootState = { state: "error", handlers: [], error: errorInfo(error) };
      });
    },
    serviceWorker() {
      if (fetchListeners.length === 0) {
        bootState = { state: "error", handlers: [], error: errorInfo(
          new TypeError("The script adds no fetch event listener: addEventListener('fetch', (event) => event.respondWith(…)).")) };
      } else {
        bootState = { state: "ok", handlers: ["fetch"], error: null };
      }
    },
  };
  try {
    linkFn(link);
  } catch (error) {
    bootState = { state: "error", handlers: [], error: errorInfo(error) };
  }
}

__z0.entry = function (command, a, b) {
  switch (command) {
    case "setup": {
      const config = jsonParse(a);
      const env = config.env || {};
      const bindings = config.bindings || {};
      for (const name of objectKeys(bindings)) {
        const factory = __z0.bindings[bindings[name].type];
        if (factory === undefined) throw new TypeError("z0: no binding of type " + bindings[name].type);
        env[name] = factory(name, bindings[name]);
      }
      __z0.env = env;
      __z0.lineOffset = config.lineOffset || 0;
      return undefined;
    }
    case "boot": return boot(a);
    case "bootState": {
      const state = bootState;
      return jsonStringify({ state: state.state, handlers: state.handlers, error: state.error, logs: bootLogs.splice(0) });
    }
    case "dispatch": return dispatch(jsonParse(a), b);
    case "begin": {
      const meta = jsonParse(a);
      current = newRequestState(meta.id);
      if (meta.seed !== undefined && typeof __z0.seedRandom === "function") __z0.seedRandom(hexToLatin1(meta.seed));
      return undefined;
    }
    case "take": return take();
    case "resolve": return settle(jsonParse(a));
    case "lazy": lazyExports[a] = b; return undefined;
    case "end": return end();
    default: throw new TypeError("z0: unknown host command " + command);
  }
};

__z0.define(globalThis, {
  console, setTimeout, setInterval, clearTimeout, clearInterval: clearTimeout, addEventListener, removeEventListener,
});
