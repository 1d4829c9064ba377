// z0-api: fetch
// requires: request, response
// provides: fetch
let wFetchNext = 0;

async function fetch(input, init) {
  let redirect = null;
  if (init !== undefined && init !== null && typeof init === "object" && !(init instanceof Request)) {
    const r = init.redirect;
    if (r !== undefined && reflectApply(wLower, `${r}`, []) === "error") {
      redirect = "error";
      init = { __proto__: init, redirect: "manual" };
    }
  }
  const req = new Request(input, init);
  const signal = typeof wSigNew === "function" ? req.signal : null;
  signal?.throwIfAborted();
  let url = req.url;
  const U = __z0.URL;
  if (U !== undefined) {
    try { url = new U(url).href; } catch (e) { throw U.canParse(url) ? e : new TypeError("Fetch API cannot load: " + url); }
  }
  const body = wRawBytes(await wBRaw(req));
  signal?.throwIfAborted();
  const token = ++wFetchNext;
  const op = __z0.hostOp("fetch", {
    method: req.method, url, headers: wHList(wBHeaders(req)), redirect: redirect ?? req.redirect,
    body: body.length ? reflectApply(wToBase64, body, []) : null, abort: token,
  });
  return new PromiseCtor((resolve, reject) => {
    const onAbort = () => {
      try { reflectApply(promiseThen, __z0.hostOp("fetch.abort", { token }), [undefined, () => {}]); } catch (e) {}
      reject(signal.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    reflectApply(promiseThen, op, [(meta) => {
      signal?.removeEventListener("abort", onAbort);
      try { resolve(__z0.responseFromHost(meta, meta.body)); } catch (e) { reject(e); }
    }, (e) => {
      signal?.removeEventListener("abort", onAbort);
      reject(new TypeError(`${e.message}`));
    }]);
  });
}

__z0.define(globalThis, { fetch });
