// z0-api: headers
// requires: bytes
// provides: Headers
// always: true
const wToken = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const wBadValue = /[\0\r\n]/;
const wTrim = /^[\t\n\r ]+|[\t\n\r ]+$/g, wSort = Array.prototype.sort;
let wHNew, wHGet, wHDefault, wHList, wHClone;

const wHNames = objectCreate(null);
let wHNamesSize = 0;

function wHName(name) {
  const known = typeof name === "string" ? wHNames[name] : undefined;
  if (known !== undefined) return known;
  name = `${name}`;
  if (!wToken.test(name)) throw new TypeError("Invalid header name.");
  const lower = reflectApply(wLower, name, []);
  if (wHNamesSize < 64) { wHNames[name] = lower; wHNamesSize++; }
  return lower;
}

function wHCopy(list) {
  const out = [];
  for (let i = 0; i < list.length; i++) out[i] = list[i];
  return out;
}

function wHJoin(list) {
  let s = list[0];
  for (let i = 1; i < list.length; i++) s += ", " + list[i];
  return s;
}

function wHValue(value) {
  value = `${value}`;
  const n = value.length;
  if (n && (value.charCodeAt(0) <= 32 || value.charCodeAt(n - 1) <= 32)) value = value.replace(wTrim, "");
  if (wBadValue.test(value)) throw new TypeError("Invalid header value.");
  return value;
}

class Headers {
  #m = objectCreate(null);
  #c = null;
  #g = false;
  constructor(init) {
    if (init === undefined || init === null) return;
    if (typeof init !== "object" && typeof init !== "function") {
      throw new TypeError("Failed to construct 'Headers': The provided value is not of type "
        + "'(record<ByteString, ByteString> or sequence<sequence<ByteString>>)'.");
    }
    if (#m in init) {
      const m = init.#m;
      for (const k in m) this.#m[k] = m[k];
      if (init.#c) this.#c = wHCopy(init.#c);
    } else if (typeof init[wIter] === "function") {
      for (const pair of init) {
        const p = Array.isArray(pair) ? pair : pair !== null && typeof pair === "object" ? [...pair] : null;
        if (!p || p.length !== 2) {
          throw new TypeError("To initialize a Headers object from a sequence, each inner sequence must have exactly two elements.");
        }
        this.#add(p[0], p[1]);
      }
    } else {
      const keys = objectKeys(init);
      for (let i = 0; i < keys.length; i++) this.#add(keys[i], init[keys[i]]);
    }
  }
  #add(name, value) {
    name = wHName(name);
    value = wHValue(value);
    if (name === "set-cookie") { const c = this.#c ??= []; c[c.length] = value; }
    else {
      const m = this.#m, old = m[name];
      m[name] = old === undefined ? value : old + ", " + value;
    }
  }
  append(name, value) {
    if (this.#g) throw new TypeError("Can't modify immutable headers.");
    this.#add(name, value);
  }
  set(name, value) {
    if (this.#g) throw new TypeError("Can't modify immutable headers.");
    name = wHName(name);
    value = wHValue(value);
    if (name === "set-cookie") this.#c = [value];
    else this.#m[name] = value;
  }
  delete(name) {
    if (this.#g) throw new TypeError("Can't modify immutable headers.");
    name = wHName(name);
    if (name === "set-cookie") this.#c = null;
    else delete this.#m[name];
  }
  get(name) {
    name = wHName(name);
    if (name === "set-cookie") return this.#c ? wHJoin(this.#c) : null;
    const v = this.#m[name];
    return v === undefined ? null : v;
  }
  has(name) {
    name = wHName(name);
    return name === "set-cookie" ? this.#c !== null : this.#m[name] !== undefined;
  }
  getSetCookie() {
    return this.#c ? wHCopy(this.#c) : [];
  }
  getAll(name) {
    if (wHName(name) !== "set-cookie") throw new TypeError("getAll() can only be used with the header name \"Set-Cookie\".");
    return this.getSetCookie();
  }
  forEach(callback, thisArg) {
    const list = wHList(this);
    for (let i = 0; i < list.length; i++) reflectApply(callback, thisArg, [list[i][1], list[i][0], this]);
  }
  entries() { return wHList(this)[wIter](); }
  keys() { return wHList(this).map((p) => p[0])[wIter](); }
  values() { return wHList(this).map((p) => p[1])[wIter](); }
  static {
    wHNew = (pairs, immutable) => {
      const h = new Headers(), m = h.#m, n = pairs.length;
      for (let i = 0; i < n; i++) {
        const name = reflectApply(wLower, pairs[i][0], []), v = pairs[i][1];
        if (name === "set-cookie") { const c = h.#c ??= []; c[c.length] = v; }
        else m[name] = m[name] === undefined ? v : m[name] + ", " + v;
      }
      h.#g = immutable;
      return h;
    };
    wHGet = (h, name) => {
      const v = h.#m[name];
      return v === undefined ? null : v;
    };
    wHDefault = (h, name, value) => {
      if (h.#m[name] === undefined) h.#m[name] = value;
    };
    wHList = (h) => {
      const m = h.#m, c = h.#c, names = objectKeys(m), out = [];
      if (c) names[names.length] = "set-cookie";
      reflectApply(wSort, names, []);
      for (let i = 0; i < names.length; i++) {
        const k = names[i];
        if (k !== "set-cookie") out[out.length] = [k, m[k]];
        else for (let j = 0; j < c.length; j++) out[out.length] = [k, c[j]];
      }
      return out;
    };
    wHClone = (h) => {
      const copy = new Headers(h);
      copy.#g = h.#g;
      return copy;
    };
  }
}
defineProperty(Headers.prototype, wIter, { value: Headers.prototype.entries, writable: true, configurable: true });
wTag(Headers, "Headers");

__z0.define(globalThis, { Headers });
