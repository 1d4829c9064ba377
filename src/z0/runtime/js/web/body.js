// z0-api: body
// requires: headers, bytes
// always: true
const wUsedMessage = "Body has already been used. It can only be used once. Use tee() first if you need to read it twice.";
const wGetBodyMessage = "Request with a GET or HEAD method cannot have a body.";
let wBInit, wBHeaders, wBRead, wBTake, wBCopy, wBMove, wBHost;

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
    const s = wRSBytes(this.#u ? "" : k === 1 ? wUtf8(this.#v) : this.#v, this.#u);
    this.#k = 3;
    this.#v = s;
    this.#u = false;
    return s;
  }
  get bodyUsed() {
    return this.#u || this.#k === 3 && wRSDisturbed(this.#v);
  }
  text() { return wBRead(this, true); }
  async json() { return jsonParse(await wBRead(this, true)); }
  async arrayBuffer() { return wToBytes(await wBRead(this, false)).buffer; }
  async bytes() { return wToBytes(await wBRead(this, false)); }
  static {
    wBHeaders = (o) => o.#h;
    wBRead = async (o, text) => {
      if (o.bodyUsed) throw new TypeError(wUsedMessage);
      const k = o.#k, v = o.#v;
      if (k === 3) {
        const b = await wRSAll(v);
        return text ? wDecode(b) : b;
      }
      if (k === 0) return "";
      o.#u = true;
      o.#v = null;
      return k === 1 ? text ? reflectApply(wWF, v, []) : wUtf8(v) : text ? wDecode(v) : v;
    };
    wBInit = (o, h, b, type, nullStatus) => {
      o.#h = h;
      if (b === undefined || b === null) return;
      let k = 2, v, t = null;
      if (typeof b === "string") { k = 1; v = b; t = "text/plain;charset=UTF-8"; }
      else if (b instanceof wAB || wIsView(b)) v = wLatin(b);
      else if (typeof wBlob === "function" && b instanceof Blob) { v = wBlobData(b); t = b.type || null; }
      else if (typeof wFDEncode === "function" && b instanceof FormData) [v, t] = wFDEncode(b);
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
    wBHost = (o, h, latin1) => {
      o.#h = h;
      if (latin1) { o.#k = 2; o.#v = latin1; }
    };
    wBTake = (o) => {
      if (o.bodyUsed) throw new TypeError(wUsedMessage);
      const k = o.#k, v = o.#v;
      if (k === 3) return wRSAll(v);
      o.#u = k !== 0;
      o.#v = null;
      return k === 0 ? "" : k === 1 ? wUtf8(v) : v;
    };
    wBCopy = (from, to, h) => {
      to.#h = h;
      to.#k = from.#k;
      to.#u = from.#u;
      if (from.#k === 3) [from.#v, to.#v] = wRSTee(from.#v);
      else to.#v = from.#v;
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
