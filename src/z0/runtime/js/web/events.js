// z0-api: events
// requires: domexception
// provides: Event, EventTarget, CustomEvent
const wNow = Date.now;
let wEvState;

class Event {
  #s;
  constructor(type, init) {
    if (arguments.length === 0) throw new TypeError("Failed to construct 'Event': 1 argument required, but only 0 present.");
    this.#s = {
      type: `${type}`, bubbles: !!(init && init.bubbles), cancelable: !!(init && init.cancelable),
      composed: !!(init && init.composed), time: wNow(), prevented: false, stop: false, stopNow: false,
      passive: false, busy: false, phase: 0, target: null, current: null,
    };
  }
  get type() { return this.#s.type; }
  get bubbles() { return this.#s.bubbles; }
  get cancelable() { return this.#s.cancelable; }
  get composed() { return this.#s.composed; }
  get defaultPrevented() { return this.#s.prevented; }
  get eventPhase() { return this.#s.phase; }
  get target() { return this.#s.target; }
  get srcElement() { return this.#s.target; }
  get currentTarget() { return this.#s.current; }
  get timeStamp() { return this.#s.time; }
  get returnValue() { return !this.#s.prevented; }
  set returnValue(v) { if (!v) this.preventDefault(); }
  get cancelBubble() { return this.#s.stop; }
  set cancelBubble(v) { if (v) this.#s.stop = true; }
  preventDefault() {
    const s = this.#s;
    if (s.cancelable && !s.passive) s.prevented = true;
  }
  stopPropagation() { this.#s.stop = true; }
  stopImmediatePropagation() { this.#s.stop = this.#s.stopNow = true; }
  composedPath() { return this.#s.busy ? [this.#s.current] : []; }
  static {
    wEvState = (e) => e.#s;
  }
}
defineProperty(Event.prototype, "isTrusted", { value: false, configurable: true });
for (const [i, name] of ["NONE", "CAPTURING_PHASE", "AT_TARGET", "BUBBLING_PHASE"].entries()) {
  defineProperty(Event, name, { value: i, enumerable: true });
  defineProperty(Event.prototype, name, { value: i, enumerable: true });
}

function wDispatch(target, e, list) {
  const s = wEvState(e);
  if (s.busy) throw new DOMException("The event is already being dispatched.", "InvalidStateError");
  s.busy = true;
  s.target = s.current = target;
  s.phase = 2;
  if (list) {
    for (const x of [...list]) {
      if (x.gone) continue;
      if (x.once) { x.gone = true; list.splice(list.indexOf(x), 1); }
      s.passive = x.passive;
      try {
        if (typeof x.fn === "function") reflectApply(x.fn, target, [e]);
        else reflectApply(x.fn.handleEvent, x.fn, [e]);
      } catch (error) {
        console.error("Uncaught", error);
      }
      s.passive = false;
      if (s.stopNow) break;
    }
  }
  s.busy = s.stop = s.stopNow = false;
  s.phase = 0;
  s.current = null;
  return !s.prevented;
}

class CustomEvent extends Event {
  #d;
  constructor(type, init) {
    super(type, init);
    this.#d = init && init.detail !== undefined ? init.detail : null;
  }
  get detail() { return this.#d; }
}

class EventTarget {
  #l = null;
  addEventListener(type, fn, options) {
    if (fn === null || fn === undefined) return;
    if (typeof fn !== "function" && typeof fn !== "object") {
      throw new TypeError("Failed to execute 'addEventListener' on 'EventTarget': parameter 2 is not of type 'Object'.");
    }
    let capture = false, once = false, passive = false, signal;
    if (typeof options === "boolean") capture = options;
    else if (options !== null && typeof options === "object") {
      capture = !!options.capture; once = !!options.once; passive = !!options.passive; signal = options.signal;
    }
    if (signal && signal.aborted) return;
    type = `${type}`;
    const map = this.#l ??= new Map();
    let list = map.get(type);
    if (!list) map.set(type, list = []);
    for (const x of list) if (x.fn === fn && x.capture === capture) return;
    list.push({ fn, capture, once, passive, gone: false });
    if (signal) signal.addEventListener("abort", () => this.removeEventListener(type, fn, capture));
  }
  removeEventListener(type, fn, options) {
    const capture = typeof options === "boolean" ? options : !!(options && options.capture);
    const list = this.#l && this.#l.get(`${type}`);
    if (list) {
      for (let i = 0; i < list.length; i++) {
        if (list[i].fn === fn && list[i].capture === capture) { list[i].gone = true; list.splice(i, 1); return; }
      }
    }
  }
  dispatchEvent(event) {
    if (!(event instanceof Event)) {
      throw new TypeError("Failed to execute 'dispatchEvent' on 'EventTarget': parameter 1 is not of type 'Event'.");
    }
    return wDispatch(this, event, this.#l && this.#l.get(event.type));
  }
}
wTag(Event, "Event");
wTag(EventTarget, "EventTarget");

__z0.define(globalThis, { Event, EventTarget, CustomEvent });
