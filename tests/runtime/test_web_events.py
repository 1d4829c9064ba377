"""Event, EventTarget (web/events.js), AbortController and AbortSignal (web/abort.js) on the real engine."""

from __future__ import annotations

import pytest

from tests.runtime.jsenv import JsEnv, JsError


@pytest.fixture(scope="module")
def env() -> JsEnv:
    return JsEnv(["abort"])


def test_listeners_run_in_order_with_this_and_event(env: JsEnv) -> None:
    assert env.run("""
        const t = new EventTarget();
        const log = [];
        function f(e) { log.push(["f", this === t, e.type, e.target === t, e.currentTarget === t,
            e.eventPhase]); }
        t.addEventListener("ping", f);
        t.addEventListener("ping", f);
        t.addEventListener("ping", { handleEvent(e) { log.push(["object", e.type]); } });
        const e = new Event("ping");
        const result = t.dispatchEvent(e);
        log.push([result, e.eventPhase, e.currentTarget, e.target === t]);
        return log;
    """) == [["f", True, "ping", True, True, 2], ["object", "ping"], [True, 0, None, True]]


def test_once_signal_and_remove(env: JsEnv) -> None:
    assert env.run("""
        const t = new EventTarget(), c = new AbortController();
        let once = 0, signalled = 0, removed = 0;
        const r = () => removed++;
        t.addEventListener("x", () => once++, { once: true });
        t.addEventListener("x", () => signalled++, { signal: c.signal });
        t.addEventListener("x", r);
        t.removeEventListener("x", r);
        t.dispatchEvent(new Event("x"));
        c.abort();
        t.dispatchEvent(new Event("x"));
        t.addEventListener("x", () => signalled++, { signal: c.signal });
        t.dispatchEvent(new Event("x"));
        return [once, signalled, removed];
    """) == [1, 1, 0]


def test_prevent_default_and_stop_immediate_propagation(env: JsEnv) -> None:
    assert env.run("""
        const t = new EventTarget();
        let after = false;
        t.addEventListener("x", (e) => { e.preventDefault(); e.stopImmediatePropagation(); });
        t.addEventListener("x", () => { after = true; });
        const cancelable = new Event("x", { cancelable: true });
        const plain = new Event("x");
        const passive = new Event("y", { cancelable: true });
        t.addEventListener("y", (e) => e.preventDefault(), { passive: true });
        return [t.dispatchEvent(cancelable), cancelable.defaultPrevented, t.dispatchEvent(plain), after,
                t.dispatchEvent(passive), passive.defaultPrevented];
    """) == [False, True, True, False, True, False]


def test_listener_errors_are_logged_and_do_not_stop_dispatch(env: JsEnv) -> None:
    assert env.run("""
        const t = new EventTarget();
        let second = false;
        t.addEventListener("x", () => { throw new Error("listener broke"); });
        t.addEventListener("x", () => { second = true; });
        return [t.dispatchEvent(new Event("x")), second];
    """) == [True, True]


def test_custom_event_and_event_fields(env: JsEnv) -> None:
    assert env.run("""
        const e = new CustomEvent("c", { detail: { n: 1 }, bubbles: true });
        return [e.detail, e.bubbles, e.cancelable, e.composed, e.isTrusted, typeof e.timeStamp,
            e instanceof Event,
                Event.AT_TARGET, new CustomEvent("d").detail];
    """) == [{"n": 1}, True, False, False, False, "number", True, 2, None]
    with pytest.raises(JsError, match="1 argument required"):
        env.run("new Event()")
    with pytest.raises(JsError, match="parameter 1 is not of type 'Event'"):
        env.run("new EventTarget().dispatchEvent({ type: 'x' })")


def test_abort_controller(env: JsEnv) -> None:
    assert env.run("""
        const c = new AbortController(), s = c.signal, log = [];
        s.onabort = (e) => log.push("onabort " + e.type);
        s.addEventListener("abort", () => log.push("listener " + s.aborted));
        const before = [s.aborted, s.reason];
        c.abort();
        c.abort("again");
        let thrown;
        try { s.throwIfAborted(); } catch (e) { thrown = e; }
        return [before, log, s.reason.name, s.reason.message, s.reason instanceof DOMException,
            thrown === s.reason];
    """) == [
        [False, None],
        ["onabort abort", "listener true"],
        "AbortError",
        "The operation was aborted",
        True,
        True,
    ]


def test_abort_signal_statics(env: JsEnv) -> None:
    assert env.run("""
        const a = AbortSignal.abort("why");
        const b = new AbortController(), c = new AbortController();
        const any = AbortSignal.any([b.signal, c.signal]);
        let anySawSource;
        any.onabort = () => { anySawSource = c.signal.aborted; };
        c.abort("c-reason");
        const already = AbortSignal.any([new AbortController().signal, a]);
        return [a.aborted, a.reason, any.aborted, any.reason, anySawSource, already.reason, b.signal.aborted];
    """) == [True, "why", True, "c-reason", True, "why", False]
    with pytest.raises(JsError, match="Illegal constructor"):
        env.run("new AbortSignal()")


def test_abort_signal_timeout_uses_host_timers(env: JsEnv) -> None:
    assert env.run("""
        const s = AbortSignal.timeout(10);
        const before = s.aborted;
        await new Promise((resolve) => s.addEventListener("abort", resolve));
        return [before, s.aborted, s.reason.name, s.reason.message];
    """) == [False, True, "TimeoutError", "The operation was aborted due to timeout"]


def test_dom_exception(env: JsEnv) -> None:
    assert env.run("""
        const e = new DOMException("msg", "NotFoundError");
        const d = new DOMException();
        return [e.name, e.message, e.code, e instanceof Error, String(e), d.name, d.message, d.code,
                Object.prototype.toString.call(e), typeof e.stack];
    """) == [
        "NotFoundError",
        "msg",
        8,
        True,
        "NotFoundError: msg",
        "Error",
        "",
        0,
        "[object DOMException]",
        "string",
    ]
