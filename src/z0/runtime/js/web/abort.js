// z0-api: abort
// requires: events
// provides: AbortController, AbortSignal
// triggers: AbortController, AbortSignal, signal, throwIfAborted
const wSigKey = {};
let wSigNew, wSigAbort;

class AbortSignal extends EventTarget {
  #a = false;
  #r = undefined;
  #h = null;
  #hl = false;
  #d = null;
  constructor(key) {
    if (key !== wSigKey) throw new TypeError("Illegal constructor");
    super();
  }
  get aborted() { return this.#a; }
  get reason() { return this.#r; }
  throwIfAborted() { if (this.#a) throw this.#r; }
  get onabort() { return this.#h; }
  set onabort(f) {
    this.#h = typeof f === "function" || typeof f === "object" && f !== null ? f : null;
    if (!this.#hl) {
      this.#hl = true;
      this.addEventListener("abort", (e) => {
        const h = this.#h;
        if (typeof h === "function") reflectApply(h, this, [e]);
      });
    }
  }
  static abort(reason) {
    const s = new AbortSignal(wSigKey);
    wSigAbort(s, reason);
    return s;
  }
  static timeout(ms) {
    ms = +ms;
    if (!(ms >= 0 && ms <= Number.MAX_SAFE_INTEGER)) throw new TypeError("AbortSignal.timeout() needs a non-negative number of milliseconds.");
    const s = new AbortSignal(wSigKey);
    setTimeout(() => wSigAbort(s, new DOMException("The operation was aborted due to timeout", "TimeoutError")), ms);
    return s;
  }
  static any(signals) {
    const s = new AbortSignal(wSigKey), list = [...signals];
    for (const x of list) {
      if (!(x instanceof AbortSignal)) throw new TypeError("AbortSignal.any() needs a sequence of AbortSignals.");
      if (x.#a) { wSigAbort(s, x.#r); return s; }
    }
    for (const x of list) (x.#d ??= []).push(s);
    return s;
  }
  static {
    wSigNew = () => new AbortSignal(wSigKey);
    wSigAbort = (s, reason) => {
      if (s.#a) return;
      s.#a = true;
      s.#r = reason === undefined ? new DOMException("The operation was aborted", "AbortError") : reason;
      const all = [s];
      for (let i = 0; i < all.length; i++) {
        const d = all[i].#d;
        all[i].#d = null;
        if (d) for (const x of d) if (!x.#a) { x.#a = true; x.#r = s.#r; all.push(x); }
      }
      for (const x of all) x.dispatchEvent(new Event("abort"));
    };
  }
}

class AbortController {
  #s = wSigNew();
  get signal() { return this.#s; }
  abort(reason) { wSigAbort(this.#s, reason); }
}
wTag(AbortSignal, "AbortSignal");
wTag(AbortController, "AbortController");

__z0.define(globalThis, { AbortController, AbortSignal });
