// z0-api: body
// requires: headers, bytes
// always: true
const wUsedMessage = "Body has already been used. It can only be used once. Use tee() first if you need to read it twice.";
const wGetBodyMessage = "Request with a GET or HEAD method cannot have a body.";
let wBInit, wBHeaders, wBRaw, wBText, wBTake, wBCopy, wBMove, wBHost, wBase64Host = false;

function wRawText(x) {
  return wDecode(typeof x === "string" ? x : wToLatin(x));
}

function wRawBytes(x) {
  return typeof x === "string" ? wToBytes(x) : x;
}

function wCopyBytes(b) {
  return new wU8(wIsView(b) ? new wU8(b.buffer, b.byteOffset, b.byteLength) : new wU8(b));
}

class Body {
  #h = null;
  #k = 0;
  #v = null;
  #u = false;
  get headers() { return this.#h; }
  get body() {
    const k = this.#k;
    if (k === 3) return this.#v;
    if (k === 0) return null;
    if (typeof wRSBytes !== "function") {
      throw new TypeError("z0 loads ReadableStream only into scripts that mention it (e.g. 'body', 'ReadableStream').");
    }
    const v = this.#v;
    const s = wRSBytes(this.#u ? "" : k === 1 ? wUtf8(v) : k === 5 ? reflectApply(wFromBase64, wU8, [v]) : v, this.#u);
    this.#k = 3;
    this.#v = s;
    this.#u = false;
    return s;
  }
  get bodyUsed() {
    return this.#u || this.#k === 3 && wRSDisturbed(this.#v);
  }
  text() { return wBText(this); }
  async json() { return jsonParse(await wBText(this)); }
  async arrayBuffer() { return wRawBytes(await wBRaw(this)).buffer; }
  async bytes() { return wRawBytes(await wBRaw(this)); }
  static {
    wBHeaders = (o) => o.#h;
    wBText = async (o) => {
      if (o.#k === 1 && !o.#u) {
        const v = o.#v;
        o.#u = true;
        o.#v = null;
        return reflectApply(wWF, v, []);
      }
      return wRawText(await wBRaw(o));
    };
    wBRaw = async (o) => {
      if (o.bodyUsed) throw new TypeError(wUsedMessage);
      const k = o.#k, v = o.#v;
      if (k === 3) return wRSAll(v);
      if (k === 0) return "";
      o.#u = true;
      o.#v = null;
      return k === 1 ? wUtf8(v) : k === 5 ? reflectApply(wFromBase64, wU8, [v]) : v;
    };
    wBInit = (o, h, b, type, nullStatus) => {
      o.#h = h;
      if (b === undefined || b === null) return;
      let k = 4, v, t = null;
      if (typeof b === "string") { k = 1; v = b; t = "text/plain;charset=UTF-8"; }
      else if (b instanceof wAB || wIsView(b)) v = wCopyBytes(b);
      else if (typeof wBlob === "function" && b instanceof Blob) { k = 2; v = wBlobData(b); t = b.type || null; }
      else if (typeof wFDEncode === "function" && b instanceof FormData) { k = 2; [v, t] = wFDEncode(b); }
      else if (typeof URLSearchParams === "function" && b instanceof URLSearchParams) {
        k = 1; v = `${b}`; t = "application/x-www-form-urlencoded;charset=UTF-8";
      } else if (typeof wRSBytes === "function" && b instanceof ReadableStream) {
        if (b.locked || wRSDisturbed(b)) {
          throw new TypeError("This ReadableStream is disturbed (has already been read from), and cannot be used as a body.");
        }
        k = 3; v = b;
      } else if (typeof wRSBytes === "function" && typeof b[wAIter] === "function") { k = 3; v = ReadableStream.from(b); }
      else { k = 1; v = `${b}`; t = "text/plain;charset=UTF-8"; }
      if (nullStatus) {
        if (k === 3 || v.length) throw new TypeError("Response with null body status (101, 204, 205, or 304) cannot have a body.");
        return;
      }
      o.#k = k;
      o.#v = v;
      if (type) t = type;
      if (t !== null) wHDefault(h, "content-type", t);
    };
    wBHost = (o, h, body, encoding) => {
      o.#h = h;
      if (encoding === "base64") wBase64Host = true;
      if (body) { o.#k = encoding === "base64" ? 5 : 2; o.#v = body; }
    };
    wBTake = (o) => {
      if (o.bodyUsed) throw new TypeError(wUsedMessage);
      const k = o.#k, v = o.#v;
      if (k === 3) return wRSAll(v);
      o.#u = k !== 0;
      o.#v = null;
      return k === 0 ? "" : k === 1 ? wUtf8(v) : k === 5 ? reflectApply(wFromBase64, wU8, [v]) : v;
    };
    wBCopy = (from, to, h) => {
      const k = from.#k, v = from.#v;
      to.#h = h;
      to.#k = k;
      to.#u = from.#u;
      if (k === 3) [from.#v, to.#v] = wRSTee(v);
      else to.#v = k === 4 && v !== null ? new wU8(v) : v;
    };
    wBMove = (from, to, h, bodyless) => {
      if (bodyless && from.#k !== 0) throw new TypeError(wGetBodyMessage);
      to.#h = h;
      to.#k = from.#k;
      to.#v = from.#v;
      if (from.#k !== 0) from.#u = true;
    };
  }
}
