// z0-api: streams
// requires: bytes
// provides: ReadableStream, ReadableStreamDefaultReader, ReadableStreamBYOBReader, ReadableStreamDefaultController, ReadableByteStreamController, CountQueuingStrategy, ByteLengthQueuingStrategy
// triggers: ReadableStream, ReadableStreamDefaultReader, ReadableStreamBYOBReader, CountQueuingStrategy, ByteLengthQueuingStrategy, body, stream, getReader, tee
const wNoop = () => {};
let wRSOf;

function wDeferred() {
  const d = {};
  d.p = new PromiseCtor((res, rej) => { d.res = res; d.rej = rej; });
  return d;
}

const wResolveFn = PromiseCtor.resolve, wRejectFn = PromiseCtor.reject;

function wOk(x) {
  return reflectApply(wResolveFn, PromiseCtor, [x]);
}

function wRejected(e) {
  const p = reflectApply(wRejectFn, PromiseCtor, [e]);
  reflectApply(promiseThen, p, [undefined, wNoop]);
  return p;
}

function wHandled(d) {
  reflectApply(promiseThen, d.p, [undefined, wNoop]);
  return d;
}

function wCall(self, fn, args) {
  if (fn === undefined) return wOk();
  try { return wOk(reflectApply(fn, self, args)); } catch (e) { return wRejected(e); }
}

function wHWM(strategy, dflt) {
  const h = strategy === undefined || strategy === null || strategy.highWaterMark === undefined ? dflt : +strategy.highWaterMark;
  if (!(h >= 0)) throw new RangeError("The highWaterMark of a queuing strategy must be a non-negative number.");
  return h;
}

function wMethodOf(obj, name) {
  const f = obj[name];
  if (f !== undefined && typeof f !== "function") throw new TypeError(`The '${name}' member of the underlying object must be a function.`);
  return f;
}

function wSize(S, chunk, onError) {
  if (S.bytes) return chunk.byteLength;
  if (!S.sizeFn) return 1;
  let n;
  try { n = +reflectApply(S.sizeFn, undefined, [chunk]); } catch (e) { onError(e); throw e; }
  if (!(n >= 0) || n === Infinity) {
    const e = new RangeError("The size of a chunk must be a finite, non-negative number.");
    onError(e);
    throw e;
  }
  return n;
}

function rsDesired(S) {
  return S.state === 2 ? null : S.state === 1 ? 0 : S.hwm - S.size;
}

function rsPull(S) {
  if (S.state !== 0 || S.closing || !S.started) return;
  if (!(S.reader && S.reader.reqs.length) && rsDesired(S) <= 0) return;
  if (S.pulling) { S.again = true; return; }
  S.pulling = true;
  reflectApply(promiseThen, wCall(S.src, S.pull, [S.ctl]), [() => {
    S.pulling = false;
    if (S.again) { S.again = false; rsPull(S); }
  }, (e) => rsError(S, e)]);
}

function rsFulfill(S, req, chunk) {
  if (!req.view) return req.res({ value: chunk, done: false });
  const v = req.view, n = Math.min(v.byteLength, chunk.byteLength);
  new wU8(v.buffer, v.byteOffset, n).set(n < chunk.byteLength ? chunk.subarray(0, n) : chunk);
  if (n < chunk.byteLength) {
    const rest = chunk.subarray(n);
    S.queue.unshift(rest);
    S.sizes.unshift(rest.byteLength);
    S.size += rest.byteLength;
  }
  req.res({ value: new v.constructor(v.buffer, v.byteOffset, n / (v.BYTES_PER_ELEMENT || 1)), done: false });
}

function rsEnqueue(S, chunk) {
  if (S.closing || S.state !== 0) throw new TypeError("Cannot enqueue a chunk into a stream that is closed or errored.");
  if (S.bytes) {
    if (!wIsView(chunk)) throw new TypeError("A byte stream can only enqueue an ArrayBuffer view.");
    if (!chunk.byteLength) throw new TypeError("A byte stream cannot enqueue an empty chunk.");
    chunk = new wU8(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
  const R = S.reader;
  if (R && R.reqs.length && !S.queue.length) rsFulfill(S, R.reqs.shift(), chunk);
  else {
    const n = wSize(S, chunk, (e) => rsError(S, e));
    S.queue.push(chunk);
    S.sizes.push(n);
    S.size += n;
  }
  rsPull(S);
}

function rsCloseRequest(S) {
  if (S.closing || S.state !== 0) throw new TypeError("Cannot close a stream that is already closed or errored.");
  S.closing = true;
  if (!S.queue.length) rsClose(S);
}

function rsClose(S) {
  if (S.state !== 0) return;
  S.state = 1;
  const R = S.reader;
  if (R) {
    for (const req of R.reqs.splice(0)) {
      req.res({ value: req.view ? new req.view.constructor(req.view.buffer, req.view.byteOffset, 0) : undefined, done: true });
    }
    R.closed.res();
  }
}

function rsError(S, e) {
  if (S.state !== 0) return;
  S.state = 2;
  S.error = e;
  S.queue = [];
  S.sizes = [];
  S.size = 0;
  S.raw = undefined;
  const R = S.reader;
  if (R) {
    for (const req of R.reqs.splice(0)) req.rej(e);
    R.closed.rej(e);
  }
}

function rsCancel(S, reason) {
  S.disturbed = true;
  if (S.state === 1) return wOk();
  if (S.state === 2) return wRejected(S.error);
  rsClose(S);
  S.queue = [];
  S.sizes = [];
  S.size = 0;
  S.raw = undefined;
  return reflectApply(promiseThen, wCall(S.src, S.cancel, [reason]), [wNoop]);
}

function rdAcquire(S, byob) {
  if (S.reader) throw new TypeError("This ReadableStream is currently locked to a reader.");
  if (byob && !S.bytes) throw new TypeError("A BYOB reader can only be used with a byte stream.");
  const R = { S, reqs: [], closed: wHandled(wDeferred()) };
  if (S.state === 1) R.closed.res();
  else if (S.state === 2) R.closed.rej(S.error);
  S.reader = R;
  return R;
}

function rdRead(R, view) {
  const S = R.S;
  if (!S) return wRejected(new TypeError("This ReadableStream reader has been released."));
  S.disturbed = true;
  if (S.state === 2) return wRejected(S.error);
  if (S.state === 1) {
    return wOk({ value: view ? new view.constructor(view.buffer, view.byteOffset, 0) : undefined, done: true });
  }
  const d = wDeferred();
  d.view = view;
  if (S.queue.length) {
    const chunk = S.queue.shift();
    S.size -= S.sizes.shift();
    rsFulfill(S, d, chunk);
    if (S.closing && !S.queue.length) rsClose(S);
    else rsPull(S);
  } else {
    R.reqs.push(d);
    rsPull(S);
  }
  return d.p;
}

function rdRelease(R) {
  const S = R.S;
  if (!S) return;
  const e = new TypeError("This ReadableStream reader has been released.");
  for (const req of R.reqs.splice(0)) req.rej(e);
  if (S.state !== 0) R.closed = wHandled(wDeferred());
  R.closed.rej(e);
  S.reader = null;
  R.S = null;
}

function rsTake(S) {
  if (S.raw === undefined || S.reader || S.disturbed || S.state !== 0 || S.queue.length) return null;
  const v = S.raw;
  S.raw = undefined;
  S.disturbed = true;
  S.state = 1;
  return v;
}

class ReadableStreamDefaultController {
  #S;
  constructor(key, S) {
    if (key !== wSkip) throw new TypeError("Illegal constructor");
    this.#S = S;
  }
  get desiredSize() { return rsDesired(this.#S); }
  close() { rsCloseRequest(this.#S); }
  enqueue(chunk) { rsEnqueue(this.#S, chunk); }
  error(e) { rsError(this.#S, e); }
}

class ReadableByteStreamController extends ReadableStreamDefaultController {
  get byobRequest() { return null; }
}

class ReadableStream {
  #S;
  constructor(source, strategy) {
    if (source === undefined || source === null) source = {};
    const S = this.#S = {
      state: 0, error: undefined, disturbed: false, reader: null, queue: [], sizes: [], size: 0, hwm: 1, sizeFn: undefined,
      src: source, pull: undefined, cancel: undefined, started: false, pulling: false, again: false, closing: false,
      bytes: false, raw: undefined, ctl: null,
    };
    const type = source.type;
    if (type !== undefined) {
      if (`${type}` !== "bytes") throw new TypeError(`'${type}' is not a valid ReadableStream type.`);
      if (strategy && strategy.size !== undefined) throw new RangeError("A byte stream cannot use a size function.");
      S.bytes = true;
    }
    S.hwm = wHWM(strategy, S.bytes ? 0 : 1);
    S.sizeFn = S.bytes || !strategy ? undefined : strategy.size;
    S.pull = wMethodOf(source, "pull");
    S.cancel = wMethodOf(source, "cancel");
    const start = wMethodOf(source, "start");
    S.ctl = new (S.bytes ? ReadableByteStreamController : ReadableStreamDefaultController)(wSkip, S);
    const r = start === undefined ? undefined : reflectApply(start, source, [S.ctl]);
    reflectApply(promiseThen, wOk(r), [() => { S.started = true; rsPull(S); }, (e) => rsError(S, e)]);
  }
  get locked() { return this.#S.reader !== null; }
  cancel(reason) {
    const S = this.#S;
    if (S.reader) return wRejected(new TypeError("Cannot cancel a ReadableStream that is locked to a reader."));
    return rsCancel(S, reason);
  }
  getReader(options) {
    const mode = options === undefined || options === null ? undefined : options.mode;
    if (mode === undefined) return new ReadableStreamDefaultReader(this);
    if (`${mode}` === "byob") return new ReadableStreamBYOBReader(this);
    throw new TypeError(`'${mode}' is not a valid reader mode.`);
  }
  tee() { return wRSTee(this); }
  values(options) { return rsValues(this.#S, options); }
  static from(iterable) { return rsFrom(iterable); }
  static {
    wRSOf = (s) => {
      if (s === null || typeof s !== "object" || !(#S in s)) throw new TypeError("The value is not a ReadableStream.");
      return s.#S;
    };
  }
}

function wRSDisturbed(s) {
  return wRSOf(s).disturbed;
}
function wRSBytes(raw, used) {
  const s = new ReadableStream({
    type: "bytes",
    pull(c) {
      const v = S.raw;
      S.raw = undefined;
      if (v.length) c.enqueue(wRawChunk(v));
      c.close();
    },
  });
  const S = wRSOf(s);
  S.raw = raw;
  if (used) {
    S.disturbed = true;
    S.raw = undefined;
    rsClose(S);
  }
  return s;
}

function wRawChunk(raw) {
  return typeof raw === "string" ? wToBytes(raw) : raw;
}

async function wRSAll(s) {
  const S = wRSOf(s);
  if (S.reader) throw new TypeError("This ReadableStream is currently locked to a reader.");
  const taken = rsTake(S);
  if (taken !== null) return taken;
  const R = rdAcquire(S, false), parts = [];
  let size = 0;
  try {
    for (;;) {
      const { value, done } = await rdRead(R);
      if (done) break;
      if (!(value instanceof wAB) && !wIsView(value)) {
        const e = new TypeError("This ReadableStream did not return bytes.");
        rsCancel(S, e);
        throw e;
      }
      const u = wIsView(value) ? new wU8(value.buffer, value.byteOffset, value.byteLength) : new wU8(value);
      parts[parts.length] = u;
      size += u.length;
    }
  } finally {
    rdRelease(R);
  }
  const out = new wU8(size);
  for (let i = 0, at = 0; i < parts.length; at += parts[i].length, i++) out.set(parts[i], at);
  return out;
}

function wRSTee(s) {
  const S = wRSOf(s), R = rdAcquire(S, false), cancelled = wDeferred();
  let reading = false, again = false, c1 = false, c2 = false, r1, r2, A, B;
  const pull = () => {
    if (reading) { again = true; return; }
    reading = true;
    reflectApply(promiseThen, rdRead(R), [(r) => {
      reading = false;
      if (r.done) {
        if (!c1 && A.state === 0 && !A.closing) rsCloseRequest(A);
        if (!c2 && B.state === 0 && !B.closing) rsCloseRequest(B);
        cancelled.res();
        return;
      }
      const v = r.value;
      if (!c1) rsEnqueue(A, v);
      if (!c2) rsEnqueue(B, S.bytes ? new wU8(v) : v);
      if (again) { again = false; pull(); }
    }, (e) => {
      reading = false;
      rsError(A, e);
      rsError(B, e);
      cancelled.res();
    }]);
  };
  const cancel = (first) => (reason) => {
    if (first) { c1 = true; r1 = reason; } else { c2 = true; r2 = reason; }
    if (c1 && c2) cancelled.res(rsCancel(S, [r1, r2]));
    return cancelled.p;
  };
  const a = new ReadableStream({ type: S.bytes ? "bytes" : undefined, pull, cancel: cancel(true) });
  const b = new ReadableStream({ type: S.bytes ? "bytes" : undefined, pull, cancel: cancel(false) });
  A = wRSOf(a);
  B = wRSOf(b);
  if (S.raw !== undefined && !S.queue.length && !S.disturbed) {
    A.raw = S.raw;
    B.raw = typeof S.raw === "string" ? S.raw : new wU8(S.raw);
    A.pull = B.pull = function (c) {
      const me = c === A.ctl ? A : B, v = me.raw;
      me.raw = undefined;
      if (v.length) c.enqueue(wRawChunk(v));
      c.close();
    };
    S.raw = undefined;
    S.disturbed = true;
    rsClose(S);
  }
  return [a, b];
}

function rsValues(S, options) {
  const R = rdAcquire(S, false), keep = !!(options && options.preventCancel);
  return {
    async next() {
      if (!R.S) return { value: undefined, done: true };
      try {
        const r = await rdRead(R);
        if (r.done) rdRelease(R);
        return r;
      } catch (e) {
        rdRelease(R);
        throw e;
      }
    },
    async return(value) {
      const S = R.S;
      rdRelease(R);
      if (S && !keep) await rsCancel(S, value);
      return { value, done: true };
    },
    [wAIter]() { return this; },
  };
}

function rsFrom(iterable) {
  let it, next;
  const a = iterable === null || iterable === undefined ? undefined : iterable[wAIter];
  if (a !== undefined && a !== null) it = reflectApply(a, iterable, []);
  else {
    const s = iterable === null || iterable === undefined ? undefined : iterable[wIter];
    if (typeof s !== "function") throw new TypeError("ReadableStream.from() needs an iterable or an async iterable.");
    it = reflectApply(s, iterable, []);
  }
  if (it === null || typeof it !== "object") throw new TypeError("The iterator method did not return an object.");
  next = it.next;
  return new ReadableStream({
    async pull(c) {
      const r = await reflectApply(next, it, []);
      if (r === null || typeof r !== "object") throw new TypeError("The iterator's next() did not return an object.");
      if (r.done) c.close();
      else c.enqueue(await r.value);
    },
    async cancel(reason) {
      const f = it.return;
      if (f === undefined || f === null) return;
      const r = await reflectApply(f, it, [reason]);
      if (r === null || typeof r !== "object") throw new TypeError("The iterator's return() did not return an object.");
    },
  }, { highWaterMark: 0 });
}

class ReadableStreamDefaultReader {
  #R;
  constructor(stream) { this.#R = rdAcquire(wRSOf(stream), false); }
  get closed() { return this.#R.closed.p; }
  read() { return rdRead(this.#R); }
  releaseLock() { rdRelease(this.#R); }
  cancel(reason) {
    const S = this.#R.S;
    return S ? rsCancel(S, reason) : wRejected(new TypeError("This ReadableStream reader has been released."));
  }
}

class ReadableStreamBYOBReader {
  #R;
  constructor(stream) { this.#R = rdAcquire(wRSOf(stream), true); }
  get closed() { return this.#R.closed.p; }
  read(view) {
    if (!wIsView(view) || !view.byteLength) return wRejected(new TypeError("read() needs a non-empty ArrayBuffer view."));
    return rdRead(this.#R, view);
  }
  releaseLock() { rdRelease(this.#R); }
  cancel(reason) {
    const S = this.#R.S;
    return S ? rsCancel(S, reason) : wRejected(new TypeError("This ReadableStream reader has been released."));
  }
}

class CountQueuingStrategy {
  #h;
  constructor(init) { this.#h = +init.highWaterMark; }
  get highWaterMark() { return this.#h; }
  get size() { return wCountSize; }
}
const wCountSize = function size() { return 1; };

class ByteLengthQueuingStrategy {
  #h;
  constructor(init) { this.#h = +init.highWaterMark; }
  get highWaterMark() { return this.#h; }
  get size() { return wByteSize; }
}
const wByteSize = function size(chunk) { return chunk.byteLength; };

defineProperty(ReadableStream.prototype, wAIter, { value: ReadableStream.prototype.values, writable: true, configurable: true });
wTag(ReadableStream, "ReadableStream");
wTag(ReadableStreamDefaultReader, "ReadableStreamDefaultReader");

__z0.define(globalThis, {
  ReadableStream, ReadableStreamDefaultReader, ReadableStreamBYOBReader, ReadableStreamDefaultController,
  ReadableByteStreamController, CountQueuingStrategy, ByteLengthQueuingStrategy,
});
