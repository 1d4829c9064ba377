// z0-api: crypto
// requires: domexception
// provides: crypto
// triggers: crypto, getRandomValues, randomUUID
const wCharCode = Function.prototype.call.bind(String.prototype.charCodeAt);
const wToHex = Uint8Array.prototype.toHex;
const wTAName = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get;
const wIntArrays = ["Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array",
  "BigInt64Array", "BigUint64Array"];
const wKey = new Int32Array(8), wOut = new Int32Array(16), wOutBytes = new Uint8Array(wOut.buffer);
let wSeeded = false, wSeed = null, wSpare = null;

function wBlock(n) {
  const k = wKey, o = wOut;
  let x0 = 0x61707865, x1 = 0x3320646e, x2 = 0x79622d32, x3 = 0x6b206574, x4 = k[0], x5 = k[1], x6 = k[2], x7 = k[3],
    x8 = k[4], x9 = k[5], x10 = k[6], x11 = k[7], x12 = n, x13 = 0, x14 = 0, x15 = 0;
  for (let i = 0; i < 10; i++) {
    x0 = x0 + x4 | 0; x12 = (x12 ^= x0) << 16 | x12 >>> 16; x8 = x8 + x12 | 0; x4 = (x4 ^= x8) << 12 | x4 >>> 20;
    x0 = x0 + x4 | 0; x12 = (x12 ^= x0) << 8 | x12 >>> 24; x8 = x8 + x12 | 0; x4 = (x4 ^= x8) << 7 | x4 >>> 25;
    x1 = x1 + x5 | 0; x13 = (x13 ^= x1) << 16 | x13 >>> 16; x9 = x9 + x13 | 0; x5 = (x5 ^= x9) << 12 | x5 >>> 20;
    x1 = x1 + x5 | 0; x13 = (x13 ^= x1) << 8 | x13 >>> 24; x9 = x9 + x13 | 0; x5 = (x5 ^= x9) << 7 | x5 >>> 25;
    x2 = x2 + x6 | 0; x14 = (x14 ^= x2) << 16 | x14 >>> 16; x10 = x10 + x14 | 0; x6 = (x6 ^= x10) << 12 | x6 >>> 20;
    x2 = x2 + x6 | 0; x14 = (x14 ^= x2) << 8 | x14 >>> 24; x10 = x10 + x14 | 0; x6 = (x6 ^= x10) << 7 | x6 >>> 25;
    x3 = x3 + x7 | 0; x15 = (x15 ^= x3) << 16 | x15 >>> 16; x11 = x11 + x15 | 0; x7 = (x7 ^= x11) << 12 | x7 >>> 20;
    x3 = x3 + x7 | 0; x15 = (x15 ^= x3) << 8 | x15 >>> 24; x11 = x11 + x15 | 0; x7 = (x7 ^= x11) << 7 | x7 >>> 25;
    x0 = x0 + x5 | 0; x15 = (x15 ^= x0) << 16 | x15 >>> 16; x10 = x10 + x15 | 0; x5 = (x5 ^= x10) << 12 | x5 >>> 20;
    x0 = x0 + x5 | 0; x15 = (x15 ^= x0) << 8 | x15 >>> 24; x10 = x10 + x15 | 0; x5 = (x5 ^= x10) << 7 | x5 >>> 25;
    x1 = x1 + x6 | 0; x12 = (x12 ^= x1) << 16 | x12 >>> 16; x11 = x11 + x12 | 0; x6 = (x6 ^= x11) << 12 | x6 >>> 20;
    x1 = x1 + x6 | 0; x12 = (x12 ^= x1) << 8 | x12 >>> 24; x11 = x11 + x12 | 0; x6 = (x6 ^= x11) << 7 | x6 >>> 25;
    x2 = x2 + x7 | 0; x13 = (x13 ^= x2) << 16 | x13 >>> 16; x8 = x8 + x13 | 0; x7 = (x7 ^= x8) << 12 | x7 >>> 20;
    x2 = x2 + x7 | 0; x13 = (x13 ^= x2) << 8 | x13 >>> 24; x8 = x8 + x13 | 0; x7 = (x7 ^= x8) << 7 | x7 >>> 25;
    x3 = x3 + x4 | 0; x14 = (x14 ^= x3) << 16 | x14 >>> 16; x9 = x9 + x14 | 0; x4 = (x4 ^= x9) << 12 | x4 >>> 20;
    x3 = x3 + x4 | 0; x14 = (x14 ^= x3) << 8 | x14 >>> 24; x9 = x9 + x14 | 0; x4 = (x4 ^= x9) << 7 | x4 >>> 25;
  }
  o[0] = x0 + 0x61707865; o[1] = x1 + 0x3320646e; o[2] = x2 + 0x79622d32; o[3] = x3 + 0x6b206574;
  o[4] = x4 + k[0]; o[5] = x5 + k[1]; o[6] = x6 + k[2]; o[7] = x7 + k[3];
  o[8] = x8 + k[4]; o[9] = x9 + k[5]; o[10] = x10 + k[6]; o[11] = x11 + k[7];
  o[12] = x12 + n; o[13] = x13; o[14] = x14; o[15] = x15;
}

function wRandom(n) {
  const seed = wSeed;
  if (seed !== null) {
    for (let i = 0; i < 8; i++) {
      wKey[i] ^= wCharCode(seed, 4 * i) | wCharCode(seed, 4 * i + 1) << 8 | wCharCode(seed, 4 * i + 2) << 16 | wCharCode(seed, 4 * i + 3) << 24;
    }
    wSeed = null;
    wSeeded = true;
    wSpare = null;
  }
  if (!wSeeded) {
    throw new Error("Disallowed operation called within global scope. Generating random values is not allowed within "
      + "global scope (z0 seeds its generator when a request starts). To fix this error, perform this operation within a handler.");
  }
  const spare = wSpare;
  if (spare !== null && spare.length >= n) {
    wSpare = spare.length > n ? spare.subarray(n) : null;
    return spare.slice(0, n);
  }
  const out = new Uint8Array(n);
  wBlock(0);
  const next = wOut.slice(0, 8);
  let at = 0, block = 0, from = 32;
  for (;;) {
    const take = n - at < 64 - from ? n - at : 64 - from;
    out.set(wOutBytes.subarray(from, from + take), at);
    at += take;
    if (at >= n) {
      wSpare = from + take < 64 ? wOutBytes.slice(from + take) : null;
      break;
    }
    wBlock(++block);
    from = 0;
  }
  wKey.set(next);
  return out;
}

__z0.seedRandom = function (seed) {
  if (typeof seed !== "string" || seed.length !== 32) throw new TypeError("z0: the random seed must be 32 bytes.");
  wSeed = seed;
};

const crypto = {
  getRandomValues(array) {
    if (!wIsView(array)) throw new TypeError("Failed to execute 'getRandomValues' on 'Crypto': parameter 1 is not of type 'ArrayBufferView'.");
    if (!wIntArrays.includes(reflectApply(wTAName, array, []))) {
      throw new DOMException("The data argument must be an integer-type TypedArray.", "TypeMismatchError");
    }
    const n = array.byteLength;
    if (n > 65536) {
      throw new DOMException(`The ArrayBufferView's byte length (${n}) exceeds the number of bytes of entropy available via this API (65536).`,
        "QuotaExceededError");
    }
    new Uint8Array(array.buffer, array.byteOffset, n).set(wRandom(n));
    return array;
  },
  randomUUID() {
    const b = wRandom(16);
    b[6] = b[6] & 0x0f | 0x40;
    b[8] = b[8] & 0x3f | 0x80;
    const h = reflectApply(wToHex, b, []);
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  },
};
defineProperty(crypto, Symbol.toStringTag, { value: "Crypto", configurable: true });

__z0.define(globalThis, { crypto });
