// z0-api: request
// requires: body
// provides: Request
// always: true
const wMethods = /^(?:DELETE|GET|HEAD|OPTIONS|POST|PUT)$/;

function wMethod(m) {
  m = `${m}`;
  const u = m.toUpperCase();
  if (wMethods.test(u)) return u;
  if (m === u && wToken.test(m) && u !== "CONNECT" && u !== "TRACE" && u !== "TRACK") return m;
  throw new TypeError("Invalid HTTP method string: " + m);
}

class Request extends Body {
  #url = "";
  #m = "GET";
  #r = "follow";
  #s = null;
  #cf = undefined;
  #ts = null;
  constructor(input, init) {
    super();
    if (input === wSkip) return;
    let h = null, b, from = null, like = null, fresh = false, changed = false;
    if (input instanceof Request) {
      this.#url = input.#url; this.#m = input.#m; this.#r = input.#r; this.#s = input.#s; this.#cf = input.#cf;
      h = wBHeaders(input);
      from = input;
    } else {
      this.#url = `${input}`;
    }
    if (init !== undefined && init !== null) {
      if (typeof init !== "object") throw new TypeError("Failed to construct 'Request': The provided value is not of type 'RequestInit'.");
      if (init instanceof Request) {
        this.#m = init.#m; this.#r = init.#r; this.#s = init.#s; this.#cf = init.#cf;
        h = wBHeaders(init);
        from = null;
        like = init;
      } else {
        const m = init.method;
        if (m !== undefined) { this.#m = wMethod(m); changed = true; }
        const hs = init.headers;
        if (hs !== undefined) { h = new Headers(hs); fresh = true; }
        const s = init.signal;
        if (s !== undefined) {
          if (s !== null && typeof wSigNew === "function" && !(s instanceof AbortSignal)) {
            throw new TypeError("Failed to construct 'Request': member signal is not of type AbortSignal.");
          }
          this.#s = s;
        }
        const r = init.redirect;
        if (r !== undefined) {
          const v = reflectApply(wLower, `${r}`, []);
          if (v !== "follow" && v !== "manual") {
            throw new TypeError("Invalid redirect value, must be one of \"follow\" or \"manual\" (\"error\" won't be implemented "
              + "since it does not make sense at the edge; use \"manual\" and check the response status code).");
          }
          this.#r = v;
        }
        if (init.cf !== undefined) this.#cf = init.cf;
        const i = init.integrity;
        if (i !== undefined && `${i}` !== "") {
          throw new TypeError("Subrequest integrity checking is not implemented. The integrity option must be either undefined or an empty string.");
        }
        b = init.body;
        if (b !== undefined) { from = null; changed = true; }
      }
    }
    if (!fresh) h = new Headers(h);
    if (like !== null) return wBCopy(like, this, h);
    const bodyless = changed && (this.#m === "GET" || this.#m === "HEAD");
    if (from !== null) {
      if (from.bodyUsed) throw new TypeError("Cannot reconstruct a Request with a used body.");
      wBMove(from, this, h, bodyless);
    } else {
      if (bodyless && b !== undefined && b !== null) throw new TypeError(wGetBodyMessage);
      wBInit(this, h, b);
    }
  }
  get method() { return this.#m; }
  get url() { return this.#url; }
  get redirect() { return this.#r; }
  get signal() {
    return this.#s ?? (this.#ts ??= typeof wSigNew === "function" ? wSigNew() : null);
  }
  get cf() { return this.#cf; }
  clone() {
    if (this.bodyUsed) throw new TypeError("Cannot clone a Request whose body has already been used.");
    const r = new Request(wSkip);
    r.#url = this.#url; r.#m = this.#m; r.#r = this.#r; r.#s = this.#s; r.#cf = this.#cf;
    wBCopy(this, r, wHClone(wBHeaders(this)));
    return r;
  }
  static {
    __z0.requestFromHost = (meta, body) => {
      const r = new Request(wSkip), m = meta.method;
      r.#url = meta.url;
      r.#m = m;
      if (meta.cf !== undefined) r.#cf = meta.cf;
      wBHost(r, wHNew(meta.headers, true), m === "GET" || m === "HEAD" ? null : body, meta.bodyEncoding);
      return r;
    };
  }
}
for (const [name, value] of [["integrity", ""], ["keepalive", false], ["fetcher", null]]) {
  defineProperty(Request.prototype, name, { value, configurable: true });
}
wTag(Request, "Request");

__z0.define(globalThis, { Request });
