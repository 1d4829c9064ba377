// z0-api: response
// requires: body
// provides: Response
// always: true
const wBadStatusText = /[^\t\x20-\x7e\x80-\xff]/;
let wJsonType = null;

class Response extends Body {
  #s = 200;
  #t = "";
  #ty = "default";
  #url = "";
  #rd = false;
  constructor(body, init) {
    super();
    if (body === wSkip) return;
    const type = wJsonType;
    wJsonType = null;
    let h = null, s = 200;
    if (init !== undefined && init !== null) {
      if (typeof init !== "object") throw new TypeError("Failed to construct 'Response': The provided value is not of type 'ResponseInit'.");
      const st = init.status;
      if (st !== undefined) s = st & 0xffff;
      const t = init.statusText;
      if (t !== undefined) {
        this.#t = `${t}`;
        if (wBadStatusText.test(this.#t)) throw new TypeError("Invalid statusText");
      }
      const hs = init.headers;
      if (hs !== undefined) h = new Headers(hs);
    }
    if (s < 200 || s > 599) {
      throw new RangeError("Responses may only be constructed with status codes in the range 200 to 599, inclusive.");
    }
    this.#s = s;
    wBInit(this, h ?? new Headers(), body, type, s === 204 || s === 205 || s === 304);
  }
  get status() { return this.#s; }
  get statusText() { return this.#t; }
  get ok() { return this.#s >= 200 && this.#s < 300; }
  get type() { return this.#ty; }
  get url() { return this.#url; }
  get redirected() { return this.#rd; }
  clone() {
    if (this.bodyUsed) throw new TypeError("Cannot clone a Response whose body has already been used.");
    const r = new Response(wSkip);
    r.#s = this.#s; r.#t = this.#t; r.#ty = this.#ty; r.#url = this.#url; r.#rd = this.#rd;
    wBCopy(this, r, wHClone(wBHeaders(this)));
    return r;
  }
  static json(data, init) {
    const s = jsonStringify(data);
    if (s === undefined) throw new TypeError("The data passed to Response.json() is not JSON-serializable.");
    wJsonType = "application/json";
    try { return new Response(s, init); } finally { wJsonType = null; }
  }
  static redirect(url, status = 302) {
    url = `${url}`;
    status = +status;
    if (status !== 301 && status !== 302 && status !== 303 && status !== 307 && status !== 308) {
      throw new RangeError(status + " is not a redirect status code. It must be one of: 301, 302, 303, 307, or 308.");
    }
    if (wBadValue.test(url)) throw new TypeError("Redirect URL cannot contain '\\r', '\\n', or '\\0': " + url);
    const r = new Response(wSkip);
    r.#s = status;
    wBInit(r, wHNew([["location", url]], true));
    return r;
  }
  static error() {
    const r = new Response(wSkip);
    r.#s = 0;
    r.#ty = "error";
    wBInit(r, wHNew([], true));
    return r;
  }
  static {
    __z0.responseFromHost = (meta, body) => {
      const r = new Response(wSkip);
      r.#s = meta.status;
      r.#t = meta.statusText || "";
      r.#url = meta.url || "";
      r.#rd = !!meta.redirected;
      wBHost(r, wHNew(meta.headers, true), body, meta.bodyEncoding);
      return r;
    };
    __z0.responseToHost = async (r) => {
      if (r.#ty === "error") throw new TypeError("Return value from serve handler must not be an error response (like Response.error()).");
      const out = objectCreate(null);
      let b = wBTake(r);
      out.status = r.#s;
      out.statusText = r.#t;
      out.headers = wHList(wBHeaders(r));
      if (typeof b !== "string" && !(b instanceof wU8)) b = await b;
      if (typeof b === "string") {
        out.body = b;
        out.bodyEncoding = "latin1";
      } else if (wBase64Host) {
        out.body = reflectApply(wToBase64, b, []);
        out.bodyEncoding = "base64";
      } else {
        out.body = wToLatin(b);
        out.bodyEncoding = "latin1";
      }
      return out;
    };
  }
}
defineProperty(Response.prototype, "webSocket", { value: null, configurable: true });
wTag(Response, "Response");

__z0.define(globalThis, { Response });
