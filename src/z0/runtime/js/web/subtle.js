// z0-api: subtle
// requires: crypto, domexception
// provides: CryptoKey, SubtleCrypto
// triggers: subtle, timingSafeEqual, CryptoKey, SubtleCrypto, importKey, digest
// The host computes everything (z0/bindings/subtle.py has the contract). A key's material is in its handle,
// kept in the private field #h and sent with the ops that use it. Host results come through the captured
// promiseThen, never `await`, which tenant code can intercept by replacing Promise.prototype.then.
// Objects holding a handle are only made by literals: assigning to one would run any setter a tenant put
// on Object.prototype, with the object as `this`.
const wSTag = {};
const wABLen = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "byteLength").get;
let wHandle;

function wSBytes(x) {
  if (wIsView(x)) return new wU8(x.buffer, x.byteOffset, x.byteLength);
  try { reflectApply(wABLen, x, []); } catch (e) { throw new TypeError("Expected an ArrayBuffer or ArrayBufferView."); }
  return new wU8(x);
}

const wB64 = (x) => reflectApply(wToBase64, wSBytes(x), []);
const wBuf = (s) => wFromBase64(s).buffer;
const wSame = (v) => v;
const wExported = (v) => v[0] === "{" ? jsonParse(v) : wBuf(v);

function wList(x) {
  const out = [];
  for (const v of x) out[out.length] = `${v}`;
  return out;
}

function wAlg(a) {
  if (a === null || typeof a !== "object") return { name: `${a}` };
  if (a.name === undefined) throw new TypeError("The algorithm needs a name.");
  const { hash, length, tagLength, namedCurve, iv, additionalData } = a;
  const out = { name: `${a.name}` };
  if (hash !== undefined) out.hash = wAlg(hash).name;
  if (length !== undefined) out.length = +length;
  if (tagLength !== undefined) out.tagLength = +tagLength;
  if (namedCurve !== undefined) out.namedCurve = `${namedCurve}`;
  if (iv !== undefined) out.iv = wB64(iv);
  if (additionalData !== undefined) out.additionalData = wB64(additionalData);
  return out;
}

function wJwk(j) {
  if (j === null || typeof j !== "object") throw new TypeError("A jwk import needs a JsonWebKey object.");
  const out = {};
  for (const k of ["kty", "use", "alg", "crv", "x", "d", "k"]) if (j[k] !== undefined) out[k] = `${j[k]}`;
  if (j.key_ops !== undefined) out.key_ops = wList(j.key_ops);
  if (j.ext !== undefined) out.ext = !!j.ext;
  return out;
}

const wDigestArgs = (alg, data) => ({ alg: wAlg(alg), data: wB64(data) });
const wKeyArgs = (alg, key, data) => ({ alg: wAlg(alg), key: wHandle(key), data: wB64(data) });
const wVerifyArgs = (alg, key, sig, data) => ({ ...wKeyArgs(alg, key, data), signature: wB64(sig) });
const wGenerateArgs = (alg, extractable, usages) =>
  ({ alg: wAlg(alg), extractable: !!extractable, usages: wList(usages) });
const wExportArgs = (format, key) => ({ format: `${format}`, key: wHandle(key) });

function wImportArgs(format, keyData, alg, extractable, usages) {
  const f = `${format}`;
  const data = f === "jwk" ? wJwk(keyData) : wB64(keyData);
  return { format: f, keyData: data, ...wGenerateArgs(alg, extractable, usages) };
}

// build(...) runs inside the executor, so a bad argument rejects the promise instead of throwing.
function wOp(op, map, build, a, b, c, d, e) {
  return new PromiseCtor((resolve, reject) => {
    reflectApply(promiseThen, __z0.hostOp("subtle." + op, build(a, b, c, d, e)), [(v) => {
      if (v !== null && typeof v === "object") {
        reject(v.error === "TypeError" ? new TypeError(v.message) : new DOMException(v.message, v.error));
      } else {
        try { resolve(map(v)); } catch (error) { reject(error); }
      }
    }, reject]);
  });
}

function wKeys(text) {
  const list = jsonParse(text);
  const first = new CryptoKey(wSTag, list[0][0], list[0][1]);
  return list.length === 1 ? first : { publicKey: first, privateKey: new CryptoKey(wSTag, list[1][0], list[1][1]) };
}

class CryptoKey {
  #v;
  #h;
  constructor(tag, view, handle) {
    if (tag !== wSTag) throw new TypeError("Illegal constructor");
    this.#v = view;
    this.#h = handle;
  }
  get type() { return this.#v.type; }
  get extractable() { return this.#v.extractable; }
  get algorithm() { return this.#v.algorithm; }
  get usages() { return this.#v.usages; }
  static {
    wHandle = (k) => {
      if (k === null || typeof k !== "object" || !(#h in k)) throw new TypeError("The key is not a CryptoKey.");
      return k.#h;
    };
  }
}

class SubtleCrypto {
  constructor(tag) {
    if (tag !== wSTag) throw new TypeError("Illegal constructor");
  }
  digest(alg, data) { return wOp("digest", wBuf, wDigestArgs, alg, data); }
  sign(alg, key, data) { return wOp("sign", wBuf, wKeyArgs, alg, key, data); }
  verify(alg, key, signature, data) { return wOp("verify", wSame, wVerifyArgs, alg, key, signature, data); }
  encrypt(alg, key, data) { return wOp("encrypt", wBuf, wKeyArgs, alg, key, data); }
  decrypt(alg, key, data) { return wOp("decrypt", wBuf, wKeyArgs, alg, key, data); }
  importKey(format, keyData, alg, extractable, usages) {
    return wOp("importKey", wKeys, wImportArgs, format, keyData, alg, extractable, usages);
  }
  generateKey(alg, extractable, usages) { return wOp("generateKey", wKeys, wGenerateArgs, alg, extractable, usages); }
  exportKey(format, key) { return wOp("exportKey", wExported, wExportArgs, format, key); }
  // Synchronous, as in Workers: a Promise here would be truthy, and every signature check would pass.
  timingSafeEqual(a, b) {
    const x = wSBytes(a), y = wSBytes(b), n = x.byteLength;
    if (n !== y.byteLength) throw new TypeError("Input buffers must have the same byte length.");
    let d = 0;
    for (let i = 0; i < n; i++) d |= x[i] ^ y[i];
    return d === 0;
  }
}
wTag(CryptoKey, "CryptoKey");
wTag(SubtleCrypto, "SubtleCrypto");

__z0.define(crypto, { subtle: new SubtleCrypto(wSTag) });
__z0.define(globalThis, { CryptoKey, SubtleCrypto });
