// z0-api: encoding
// requires: bytes
// provides: TextEncoder, TextDecoder
const wLabels = ["utf-8", "utf8", "unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "x-unicode20utf8"];

function wSource(input) {
  if (input === undefined) return "";
  if (input instanceof wAB || wIsView(input) || typeof SharedArrayBuffer === "function" && input instanceof SharedArrayBuffer) {
    return wLatin(input);
  }
  throw new TypeError("The \"input\" argument must be an ArrayBuffer or an ArrayBufferView.");
}

function wTail(b) {
  const n = b.length;
  for (let i = n - 1; i >= 0 && i >= n - 3; i--) {
    const c = b.charCodeAt(i);
    if (c < 0x80) return n;
    if (c < 0xc0) continue;
    if (c < 0xc2 || c > 0xf4 || n - i >= (c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2)) return n;
    if (i + 1 < n) {
      const d = b.charCodeAt(i + 1);
      if (c === 0xe0 && d < 0xa0 || c === 0xed && d > 0x9f || c === 0xf0 && d < 0x90 || c === 0xf4 && d > 0x8f) return n;
    }
    return i;
  }
  return n;
}

class TextEncoder {
  get encoding() { return "utf-8"; }
  encode(input = "") {
    return wToBytes(wUtf8(`${input}`));
  }
  encodeInto(source, dest) {
    if (!(dest instanceof wU8)) throw new TypeError("Failed to execute 'encodeInto' on 'TextEncoder': parameter 2 is not of type 'Uint8Array'.");
    source = `${source}`;
    const u = wUtf8(source), cap = dest.length;
    let read = source.length, written = u.length;
    if (written > cap) {
      read = written = 0;
      while (read < source.length) {
        const c = source.codePointAt(read);
        const len = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
        if (written + len > cap) break;
        written += len;
        read += c > 0xffff ? 2 : 1;
      }
    }
    for (let i = 0; i < written; i++) dest[i] = u.charCodeAt(i);
    return { read, written };
  }
}

class TextDecoder {
  #fatal; #keepBOM; #pending = ""; #started = false;
  constructor(label = "utf-8", options) {
    const l = reflectApply(wLower, `${label}`, []).trim();
    if (!wLabels.includes(l)) throw new RangeError(`The "${label}" encoding is not supported.`);
    this.#fatal = !!(options && options.fatal);
    this.#keepBOM = !!(options && options.ignoreBOM);
  }
  get encoding() { return "utf-8"; }
  get fatal() { return this.#fatal; }
  get ignoreBOM() { return this.#keepBOM; }
  decode(input, options) {
    let b = this.#pending + wSource(input);
    const stream = !!(options && options.stream);
    this.#pending = "";
    if (stream) {
      const k = wTail(b);
      this.#pending = b.slice(k);
      b = b.slice(0, k);
    }
    let s;
    try {
      s = wText(b, this.#fatal);
    } catch (e) {
      this.#pending = "";
      this.#started = false;
      throw e;
    }
    if (!this.#started && s) {
      if (!this.#keepBOM && s.charCodeAt(0) === 0xfeff) s = s.slice(1);
      this.#started = true;
    }
    if (!stream) this.#started = false;
    return s;
  }
}
wTag(TextEncoder, "TextEncoder");
wTag(TextDecoder, "TextDecoder");

__z0.define(globalThis, { TextEncoder, TextDecoder });
