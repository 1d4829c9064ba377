// z0-api: structured-clone
// requires: domexception, body
// provides: structuredClone
const wObjToString = Object.prototype.toString, wIsArray = Array.isArray;
const wErrors = { EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };
const wTypedArrays = { Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array };
const wTAName2 = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get;
const wNoClone = [PromiseCtor, WeakMap, WeakSet, WeakRef, FinalizationRegistry, Symbol, Headers, Body];
const wDateCtor = Date, wRegExpCtor = RegExp, wMapCtor = Map, wSetCtor = Set;

function wCloneError(v) {
  const what = typeof v === "symbol" ? v.toString() : typeof v === "function" ? "function " + (v.name || "(anonymous)")
    : reflectApply(wObjToString, v, []);
  return new DOMException(what + " could not be cloned.", "DataCloneError");
}

function wClone(v, seen) {
  if (typeof v === "symbol" || typeof v === "function") throw wCloneError(v);
  if (v === null || typeof v !== "object") return v;
  let r = seen.get(v);
  if (r !== undefined) return r;
  if (wIsArray(v)) {
    r = new Array(v.length);
    seen.set(v, r);
    for (const k of objectKeys(v)) r[k] = wClone(v[k], seen);
    return r;
  }
  if (v instanceof wMapCtor) {
    r = new wMapCtor();
    seen.set(v, r);
    for (const [k, x] of v) r.set(wClone(k, seen), wClone(x, seen));
    return r;
  }
  if (v instanceof wSetCtor) {
    r = new wSetCtor();
    seen.set(v, r);
    for (const x of v) r.add(wClone(x, seen));
    return r;
  }
  if (v instanceof wDateCtor) r = new wDateCtor(v.getTime());
  else if (v instanceof wRegExpCtor) r = new wRegExpCtor(v.source, v.flags);
  else if (v instanceof wAB) r = v.slice(0);
  else if (wIsView(v)) {
    const b = wClone(v.buffer, seen), name = reflectApply(wTAName2, v, []);
    r = name === undefined ? new DataView(b, v.byteOffset, v.byteLength) : new wTypedArrays[name](b, v.byteOffset, v.length);
  } else if (typeof DOMException === "function" && v instanceof DOMException) r = new DOMException(v.message, v.name);
  else if (v instanceof ErrorCtor) {
    r = new (wErrors[v.name] || ErrorCtor)(v.message);
    if (v.stack !== undefined) defineProperty(r, "stack", { value: `${v.stack}`, writable: true, configurable: true });
    if ("cause" in v) defineProperty(r, "cause", { value: wClone(v.cause, seen), writable: true, configurable: true });
  } else if (v instanceof Boolean || v instanceof Number || v instanceof String || v instanceof BigInt) r = Object(v.valueOf());
  else if (typeof wBlobData === "function" && v instanceof Blob) {
    r = v instanceof File ? wFile(wBlobData(v), v.name, v.type, v.lastModified) : wBlob(wBlobData(v), v.type);
  } else {
    if (wNoClone.some((C) => v instanceof C) || typeof wRSOf === "function" && v instanceof ReadableStream
      || typeof wWSOf === "function" && (v instanceof WritableStream || v instanceof TransformStream)
      || typeof EventTarget === "function" && v instanceof EventTarget) {
      throw wCloneError(v);
    }
    r = {};
    seen.set(v, r);
    for (const k of objectKeys(v)) r[k] = wClone(v[k], seen);
    return r;
  }
  seen.set(v, r);
  return r;
}

function structuredClone(value, options) {
  if (arguments.length === 0) throw new TypeError("Failed to execute 'structuredClone': 1 argument required, but only 0 present.");
  const seen = new wMapCtor(), moved = [];
  const transfer = options === undefined || options === null ? undefined : options.transfer;
  if (transfer !== undefined) {
    for (const b of transfer) {
      if (!(b instanceof wAB)) throw new DOMException("Value not transferable.", "DataCloneError");
      if (seen.has(b)) throw new DOMException("ArrayBuffer is listed twice in the transfer list.", "DataCloneError");
      if (b.detached) throw new DOMException("An ArrayBuffer is detached and could not be cloned.", "DataCloneError");
      seen.set(b, b.slice(0));
      moved.push(b);
    }
  }
  const out = wClone(value, seen);
  for (const b of moved) b.transfer();
  return out;
}

__z0.define(globalThis, { structuredClone });
