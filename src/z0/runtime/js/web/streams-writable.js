// z0-api: streams-writable
// requires: streams
// provides: WritableStream, WritableStreamDefaultWriter, WritableStreamDefaultController, TransformStream, TransformStreamDefaultController, IdentityTransformStream, FixedLengthStream
// triggers: WritableStream, WritableStreamDefaultWriter, TransformStream, IdentityTransformStream, FixedLengthStream, getWriter, pipeTo, pipeThrough
const wRaceFn = PromiseCtor.race, wAllFn = PromiseCtor.all, wClose = {};
let wWSOf;

function wsUpdateBackpressure(W) {
  const bp = W.state === "writable" && !W.closeReq && W.hwm - W.size <= 0;
  if (bp === W.bp) return;
  W.bp = bp;
  if (W.writer) wrReady(W.writer, bp);
}

function wsStartErroring(W, reason) {
  W.state = "erroring";
  W.error = reason;
  const Wr = W.writer;
  if (Wr) wrRejectReady(Wr, reason);
  if (!W.inFlight && W.started) wsFinishErroring(W);
}

function wsFinishErroring(W) {
  W.state = "errored";
  const e = W.error;
  for (const x of W.queue.splice(0)) if (x !== wClose) x.rej(e);
  W.sizes = [];
  W.size = 0;
  const abort = W.pendingAbort;
  W.pendingAbort = null;
  const rejectClosed = () => {
    if (W.closeReq) { W.closeReq.rej(e); W.closeReq = null; }
    if (W.writer) W.writer.closed.rej(e);
  };
  if (!abort) return rejectClosed();
  if (abort.wasErroring) { abort.rej(e); return rejectClosed(); }
  reflectApply(promiseThen, wCall(W.sink, W.abort, [abort.reason]), [() => { abort.res(); rejectClosed(); }, (e2) => { abort.rej(e2); rejectClosed(); }]);
}

function wsDealWithRejection(W, e) {
  if (W.state === "writable") wsStartErroring(W, e);
  else if (W.state === "erroring") wsFinishErroring(W);
}

function wsAdvance(W) {
  if (!W.started || W.inFlight) return;
  if (W.state === "erroring") return wsFinishErroring(W);
  if (!W.queue.length || W.state !== "writable") return;
  const x = W.queue[0];
  W.inFlight = true;
  if (x === wClose) {
    W.queue.shift();
    W.sizes.shift();
    reflectApply(promiseThen, wCall(W.sink, W.close, []), [() => {
      W.inFlight = false;
      if (W.closeReq) { W.closeReq.res(); W.closeReq = null; }
      if (W.pendingAbort) { W.pendingAbort.res(); W.pendingAbort = null; }
      W.state = "closed";
      W.error = undefined;
      if (W.writer) W.writer.closed.res();
    }, (e) => {
      W.inFlight = false;
      if (W.closeReq) { W.closeReq.rej(e); W.closeReq = null; }
      if (W.pendingAbort) { W.pendingAbort.rej(e); W.pendingAbort = null; }
      wsDealWithRejection(W, e);
    }]);
    return;
  }
  reflectApply(promiseThen, wCall(W.sink, W.write, [x.chunk, W.ctl]), [() => {
    W.inFlight = false;
    W.queue.shift();
    W.size -= W.sizes.shift();
    x.res();
    wsUpdateBackpressure(W);
    wsAdvance(W);
  }, (e) => {
    W.inFlight = false;
    W.queue.shift();
    W.size -= W.sizes.shift();
    x.rej(e);
    wsDealWithRejection(W, e);
  }]);
}

function wsWrite(W, chunk) {
  let n;
  try {
    n = wSize(W, chunk, (e) => { if (W.state === "writable") wsStartErroring(W, e); });
  } catch (e) {
    return wRejected(e);
  }
  if (W.state === "errored" || W.state === "erroring") return wRejected(W.error);
  if (W.closeReq || W.state === "closed") return wRejected(new TypeError("Cannot write to a WritableStream that is closing or closed."));
  const d = wDeferred();
  d.chunk = chunk;
  W.queue.push(d);
  W.sizes.push(n);
  W.size += n;
  wsUpdateBackpressure(W);
  wsAdvance(W);
  return d.p;
}

function wsClose(W) {
  if (W.state === "closed" || W.state === "errored") return wRejected(new TypeError("Cannot close a WritableStream that is closed or errored."));
  if (W.closeReq) return wRejected(new TypeError("The WritableStream is already closing."));
  const d = wDeferred();
  W.closeReq = d;
  if (W.writer && W.bp && W.state === "writable") wrReady(W.writer, false);
  W.queue.push(wClose);
  W.sizes.push(0);
  wsAdvance(W);
  return d.p;
}

function wsAbort(W, reason) {
  if (W.state === "closed" || W.state === "errored") return wOk();
  if (W.pendingAbort) return W.pendingAbort.p;
  const wasErroring = W.state === "erroring";
  const d = wDeferred();
  d.reason = wasErroring ? undefined : reason;
  if (W.signal && typeof wSigAbort === "function") wSigAbort(W.signal, reason);
  d.wasErroring = wasErroring;
  W.pendingAbort = d;
  if (!wasErroring) wsStartErroring(W, reason);
  return d.p;
}

function wrReady(Wr, pending) {
  if (pending && !Wr.waiting) Wr.ready = wHandled(wDeferred());
  else if (!pending && Wr.waiting) Wr.ready.res();
  Wr.waiting = pending;
}

function wrRejectReady(Wr, e) {
  if (!Wr.waiting) Wr.ready = wHandled(wDeferred());
  Wr.waiting = false;
  Wr.ready.rej(e);
}

function wrAcquire(W) {
  if (W.writer) throw new TypeError("This WritableStream is currently locked to a writer.");
  const Wr = { W, ready: wHandled(wDeferred()), waiting: true, closed: wHandled(wDeferred()) };
  const st = W.state;
  if (st === "erroring" || st === "errored") wrRejectReady(Wr, W.error);
  else if (st === "closed" || !W.bp || W.closeReq) wrReady(Wr, false);
  if (st === "closed") Wr.closed.res();
  else if (st === "errored") Wr.closed.rej(W.error);
  W.writer = Wr;
  return Wr;
}

function wrRelease(Wr) {
  const W = Wr.W;
  if (!W) return;
  const e = new TypeError("This writer has been released and cannot be used.");
  wrRejectReady(Wr, e);
  if (W.state !== "writable" && W.state !== "erroring") Wr.closed = wHandled(wDeferred());
  Wr.closed.rej(e);
  W.writer = null;
  Wr.W = null;
}

function wrStream(Wr) {
  if (!Wr.W) throw new TypeError("This writer has been released and cannot be used.");
  return Wr.W;
}

class WritableStreamDefaultController {
  #W;
  constructor(key, W) {
    if (key !== wSkip) throw new TypeError("Illegal constructor");
    this.#W = W;
  }
  error(e) { if (this.#W.state === "writable") wsStartErroring(this.#W, e); }
  get signal() {
    const W = this.#W;
    if (!W.signal && typeof wSigNew === "function") W.signal = wSigNew();
    return W.signal;
  }
}

class WritableStream {
  #W;
  constructor(sink, strategy) {
    if (sink === undefined || sink === null) sink = {};
    if (sink.type !== undefined) throw new RangeError("WritableStream does not support a 'type'.");
    const W = this.#W = {
      state: "writable", error: undefined, queue: [], sizes: [], size: 0, hwm: wHWM(strategy, 1),
      sizeFn: strategy ? strategy.size : undefined, sink, write: wMethodOf(sink, "write"), close: wMethodOf(sink, "close"),
      abort: wMethodOf(sink, "abort"), started: false, inFlight: false, closeReq: null, pendingAbort: null, bp: false,
      writer: null, ctl: null, bytes: false, signal: null,
    };
    W.ctl = new WritableStreamDefaultController(wSkip, W);
    wsUpdateBackpressure(W);
    const start = wMethodOf(sink, "start");
    const r = start === undefined ? undefined : reflectApply(start, sink, [W.ctl]);
    reflectApply(promiseThen, wOk(r), [() => { W.started = true; wsAdvance(W); }, (e) => {
      W.started = true;
      wsDealWithRejection(W, e);
    }]);
  }
  get locked() { return this.#W.writer !== null; }
  abort(reason) {
    if (this.#W.writer) return wRejected(new TypeError("Cannot abort a WritableStream that is locked to a writer."));
    return wsAbort(this.#W, reason);
  }
  close() {
    if (this.#W.writer) return wRejected(new TypeError("Cannot close a WritableStream that is locked to a writer."));
    return wsClose(this.#W);
  }
  getWriter() { return new WritableStreamDefaultWriter(this); }
  static {
    wWSOf = (s) => {
      if (s === null || typeof s !== "object" || !(#W in s)) throw new TypeError("The value is not a WritableStream.");
      return s.#W;
    };
  }
}

class WritableStreamDefaultWriter {
  #Wr;
  constructor(stream) { this.#Wr = wrAcquire(wWSOf(stream)); }
  get closed() { return this.#Wr.closed.p; }
  get ready() { return this.#Wr.ready.p; }
  get desiredSize() {
    const W = wrStream(this.#Wr);
    return W.state === "errored" || W.state === "erroring" ? null : W.state === "closed" ? 0 : W.hwm - W.size;
  }
  write(chunk) {
    try { return wsWrite(wrStream(this.#Wr), chunk); } catch (e) { return wRejected(e); }
  }
  close() {
    try { return wsClose(wrStream(this.#Wr)); } catch (e) { return wRejected(e); }
  }
  abort(reason) {
    try { return wsAbort(wrStream(this.#Wr), reason); } catch (e) { return wRejected(e); }
  }
  releaseLock() { wrRelease(this.#Wr); }
}

class TransformStreamDefaultController {
  #T;
  constructor(key, T) {
    if (key !== wSkip) throw new TypeError("Illegal constructor");
    this.#T = T;
  }
  get desiredSize() { return rsDesired(this.#T.R); }
  enqueue(chunk) {
    const T = this.#T;
    try {
      rsEnqueue(T.R, chunk);
    } catch (e) {
      T.errorWritable(e);
      throw new TypeError("The readable side of the TransformStream cannot accept more chunks.");
    }
    if (rsDesired(T.R) <= 0 && !T.bp) T.setBackpressure(true);
  }
  error(e) {
    rsError(this.#T.R, e);
    this.#T.errorWritable(e);
  }
  terminate() {
    const T = this.#T;
    if (T.R.state === 0 && !T.R.closing) rsCloseRequest(T.R);
    T.errorWritable(new TypeError("The TransformStream has been terminated."));
  }
}

class TransformStream {
  #r;
  #w;
  constructor(transformer, writableStrategy, readableStrategy) {
    if (transformer === undefined || transformer === null) transformer = {};
    if (transformer.readableType !== undefined || transformer.writableType !== undefined) {
      throw new RangeError("TransformStream does not support readableType or writableType.");
    }
    const transform = wMethodOf(transformer, "transform"), flush = wMethodOf(transformer, "flush");
    const cancel = wMethodOf(transformer, "cancel"), start = wMethodOf(transformer, "start");
    const started = wDeferred();
    const T = { R: null, W: null, bp: false, change: null };
    T.setBackpressure = (v) => {
      if (T.change) T.change.res();
      T.change = wDeferred();
      T.bp = v;
    };
    T.errorWritable = (e) => {
      if (T.W.state === "writable") wsStartErroring(T.W, e);
      if (T.bp) T.setBackpressure(false);
    };
    const ctl = new TransformStreamDefaultController(wSkip, T);
    const run = (chunk) => {
      const p = transform === undefined ? wCall(ctl, ctl.enqueue, [chunk]) : wCall(transformer, transform, [chunk, ctl]);
      return reflectApply(promiseThen, p, [undefined, (e) => { rsError(T.R, e); T.errorWritable(e); throw e; }]);
    };
    this.#w = new WritableStream({
      start: () => started.p,
      write: (chunk) => {
        if (!T.bp) return run(chunk);
        return reflectApply(promiseThen, T.change.p, [() => {
          if (T.W.state === "erroring") throw T.W.error;
          return run(chunk);
        }]);
      },
      close: () => reflectApply(promiseThen, wCall(transformer, flush, [ctl]), [() => {
        if (T.R.state === 2) throw T.R.error;
        if (T.R.state === 0 && !T.R.closing) rsCloseRequest(T.R);
      }, (e) => { rsError(T.R, e); throw e; }]),
      abort: (reason) => {
        rsError(T.R, reason);
        return wCall(transformer, cancel, [reason]);
      },
    }, writableStrategy);
    this.#r = new ReadableStream({
      start: () => started.p,
      pull: () => {
        T.setBackpressure(false);
        return T.change.p;
      },
      cancel: (reason) => {
        T.errorWritable(reason);
        return wCall(transformer, cancel, [reason]);
      },
    }, readableStrategy === undefined ? { highWaterMark: 0 } : readableStrategy);
    T.R = wRSOf(this.#r);
    T.W = wWSOf(this.#w);
    T.setBackpressure(true);
    try {
      started.res(start === undefined ? undefined : reflectApply(start, transformer, [ctl]));
    } catch (e) {
      started.rej(e);
      throw e;
    }
  }
  get readable() { return this.#r; }
  get writable() { return this.#w; }
}

class IdentityTransformStream extends TransformStream {
  constructor() { super(); }
}

class FixedLengthStream extends TransformStream {
  constructor(length) {
    const expected = +length;
    if (!(expected >= 0)) throw new TypeError("FixedLengthStream requires a non-negative integer length.");
    let seen = 0;
    super({
      transform(chunk, c) {
        seen += chunk.byteLength;
        if (seen > expected) throw new TypeError("Attempt to write too many bytes through a FixedLengthStream.");
        c.enqueue(chunk);
      },
      flush() {
        if (seen < expected) throw new TypeError("FixedLengthStream did not see all expected bytes before close().");
      },
    });
  }
}

async function rsPipeTo(S, dest, options) {
  const W = wWSOf(dest);
  if (S.reader || W.writer) throw new TypeError("Cannot pipe a stream that is locked.");
  const o = options === undefined || options === null ? {} : options;
  const preventClose = !!o.preventClose, preventAbort = !!o.preventAbort, preventCancel = !!o.preventCancel, signal = o.signal;
  const R = rdAcquire(S, false), Wr = wrAcquire(W), stop = wDeferred();
  let halted = false, action, failed, error, last = wOk(), onAbort;
  const halt = (act, isError, e) => {
    if (halted) return;
    halted = true;
    action = act;
    failed = isError;
    error = e;
    stop.res();
  };
  if (signal !== undefined) {
    onAbort = () => halt(() => reflectApply(wAllFn, PromiseCtor, [[
      !preventAbort && W.state === "writable" ? wsAbort(W, signal.reason) : undefined,
      !preventCancel && S.state === 0 ? rsCancel(S, signal.reason) : undefined,
    ]]), true, signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort);
  }
  reflectApply(promiseThen, R.closed.p, [undefined, (e) => halt(preventAbort ? null : () => wsAbort(W, e), true, e)]);
  reflectApply(promiseThen, Wr.closed.p, [undefined, (e) => halt(preventCancel ? null : () => rsCancel(S, e), true, e)]);
  if (W.state === "closed" || W.closeReq) {
    const e = new TypeError("The destination WritableStream is closed.");
    halt(preventCancel ? null : () => rsCancel(S, e), true, e);
  }
  try {
    while (!halted) {
      await reflectApply(wRaceFn, PromiseCtor, [[reflectApply(promiseThen, Wr.ready.p, [undefined, wNoop]), stop.p]]);
      const r = halted ? null : await reflectApply(wRaceFn, PromiseCtor, [[reflectApply(promiseThen, rdRead(R), [undefined, wNoop]), stop.p]]);
      if (!halted && !r) await stop.p;
      if (halted) break;
      if (r.done) halt(preventClose ? null : () => wsClose(W), false);
      else {
        last = wsWrite(W, r.value);
        reflectApply(promiseThen, last, [undefined, wNoop]);
      }
    }
    if (W.state === "writable" && !W.closeReq) await reflectApply(promiseThen, last, [undefined, wNoop]);
    if (action) await action();
  } catch (e) {
    failed = true;
    error = e;
  } finally {
    rdRelease(R);
    wrRelease(Wr);
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
  if (failed) throw error;
}

for (const [name, value] of [
  ["pipeTo", function pipeTo(dest, options) { return rsPipeTo(wRSOf(this), dest, options); }],
  ["pipeThrough", function pipeThrough(transform, options) {
    const { writable, readable } = transform;
    if (!(readable instanceof ReadableStream) || !(writable instanceof WritableStream)) {
      throw new TypeError("pipeThrough() needs an object with a readable ReadableStream and a writable WritableStream.");
    }
    if (this.locked) throw new TypeError("This ReadableStream is currently locked to a reader.");
    if (writable.locked) throw new TypeError("This WritableStream is currently locked to a writer.");
    reflectApply(promiseThen, this.pipeTo(writable, options), [undefined, wNoop]);
    return readable;
  }],
]) {
  defineProperty(ReadableStream.prototype, name, { value, writable: true, configurable: true });
}
wTag(WritableStream, "WritableStream");
wTag(TransformStream, "TransformStream");
wTag(WritableStreamDefaultWriter, "WritableStreamDefaultWriter");

__z0.define(globalThis, {
  WritableStream, WritableStreamDefaultWriter, WritableStreamDefaultController, TransformStream,
  TransformStreamDefaultController, IdentityTransformStream, FixedLengthStream,
});
