"""Streams (web/streams.js, web/streams-writable.js) on the real engine: readers, pull and backpressure,
cancel, tee, pipeTo and pipeThrough, TransformStream, WritableStream, async iteration, ReadableStream.from,
byte streams."""

from __future__ import annotations

import pytest

from tests.runtime.jsenv import JsEnv, JsError


@pytest.fixture(scope="module")
def env() -> JsEnv:
    env = JsEnv(["streams-writable", "encoding", "abort"])
    env.run("""
        globalThis.collect = async (stream) => {
            const out = [];
            for await (const c of stream) out.push(c);
            return out;
        };
        globalThis.of = (...chunks) => new ReadableStream({
            start(c) { for (const x of chunks) c.enqueue(x); c.close(); } });
    """)
    return env


def test_default_reader_reads_then_closes(env: JsEnv) -> None:
    assert env.run("""
        const s = of("a", "b");
        const r = s.getReader();
        const out = [s.locked, await r.read(), await r.read(), await r.read(), await r.read()];
        r.releaseLock();
        out.push(s.locked);
        await r.closed.catch((e) => out.push(e.name));
        return out;
    """) == [
        True,
        {"value": "a", "done": False},
        {"value": "b", "done": False},
        {"done": True},
        {"done": True},
        False,
        "TypeError",
    ]


def test_pull_is_driven_by_reads_and_the_high_water_mark(env: JsEnv) -> None:
    assert env.run("""
        const log = [];
        let n = 0;
        const s = new ReadableStream({
            start(c) { log.push("start " + c.desiredSize); },
            pull(c) { log.push("pull " + c.desiredSize); c.enqueue(++n); if (n === 3) c.close(); },
        }, { highWaterMark: 2 });
        await null; await null; await null;
        log.push("read " + JSON.stringify(await s.getReader().read()));
        return log;
    """) == ["start 2", "pull 2", "pull 1", "pull 1", 'read {"value":1,"done":false}']


def test_a_pending_read_is_fulfilled_by_a_later_enqueue(env: JsEnv) -> None:
    assert env.run("""
        let ctl;
        const s = new ReadableStream({ start(c) { ctl = c; } }, { highWaterMark: 0 });
        const r = s.getReader();
        const p = r.read();
        ctl.enqueue("late");
        ctl.close();
        return [await p, await r.read()];
    """) == [{"value": "late", "done": False}, {"done": True}]


def test_errors_reach_readers(env: JsEnv) -> None:
    assert env.run("""
        const s = new ReadableStream({ pull(c) { c.error(new TypeError("boom")); } });
        const r = s.getReader();
        const out = [];
        try { await r.read(); } catch (e) { out.push(e.message); }
        try { await r.closed; } catch (e) { out.push("closed: " + e.message); }
        const thrower = new ReadableStream({ pull() { throw new RangeError("pull threw"); } });
        try { await thrower.getReader().read(); } catch (e) { out.push(e.name); }
        return out;
    """) == ["boom", "closed: boom", "RangeError"]


def test_cancel_reaches_the_source(env: JsEnv) -> None:
    assert env.run("""
        let reason;
        const s = new ReadableStream({ start(c) { c.enqueue(1); }, cancel(r) { reason = r; } });
        const r = s.getReader();
        const pending = [];
        await r.cancel("enough");
        return [reason, await r.read(), await r.closed];
    """) == ["enough", {"done": True}, None]


def test_locking_errors(env: JsEnv) -> None:
    for code, message in [
        (
            "const s = of(); s.getReader(); s.getReader();",
            "This ReadableStream is currently locked to a reader.",
        ),
        ("const s = of(); s.getReader(); await s.cancel();", "Cannot cancel a ReadableStream that is locked"),
        (
            "const r = of().getReader(); r.releaseLock(); await r.read();",
            "This ReadableStream reader has been released.",
        ),
        (
            "const w = new WritableStream(); w.getWriter(); w.getWriter();",
            "This WritableStream is currently locked",
        ),
        ("of().getReader({ mode: 'byob' });", "A BYOB reader can only be used with a byte stream."),
    ]:
        with pytest.raises(JsError, match=message) as caught:
            env.run(code)
        assert caught.value.name == "TypeError"


def test_tee_gives_both_branches_every_chunk(env: JsEnv) -> None:
    assert env.run("""
        const [a, b] = of(1, 2, 3).tee();
        return [await collect(a), await collect(b)];
    """) == [[1, 2, 3], [1, 2, 3]]


def test_tee_cancels_the_source_only_when_both_branches_cancel(env: JsEnv) -> None:
    assert env.run("""
        let reason = null;
        const [a, b] = new ReadableStream({ cancel(r) { reason = r; } }).tee();
        await null;
        const first = a.cancel("x");
        const before = reason;
        await b.cancel("y");
        await first;
        return [before, reason];
    """) == [None, ["x", "y"]]


def test_async_iteration_and_early_exit(env: JsEnv) -> None:
    assert env.run("""
        let cancelled = false;
        const s = new ReadableStream({ pull(c) { c.enqueue(1); }, cancel() { cancelled = true; } });
        let n = 0;
        for await (const x of s) { n += x; if (n === 3) break; }
        const kept = of(1, 2);
        for await (const x of kept.values({ preventCancel: true })) break;
        return [n, cancelled, s.locked, kept.locked, await collect(kept)];
    """) == [3, True, False, False, [2]]


def test_from_iterables(env: JsEnv) -> None:
    assert env.run("""
        async function* gen() { yield "a"; yield "b"; }
        return [await collect(ReadableStream.from(gen())), await collect(ReadableStream.from([1,
            Promise.resolve(2)])),
                await collect(ReadableStream.from(of("x")))];
    """) == [["a", "b"], [1, 2], ["x"]]
    with pytest.raises(JsError, match="needs an iterable"):
        env.run("ReadableStream.from(5)")


def test_writable_stream_writes_in_order_and_closes(env: JsEnv) -> None:
    assert env.run("""
        const log = [];
        const ws = new WritableStream({
            start() { log.push("start"); },
            async write(chunk) { await null; log.push("write " + chunk); },
            close() { log.push("close"); },
        });
        const w = ws.getWriter();
        log.push("desired " + w.desiredSize);
        const writes = [w.write(1), w.write(2)];
        log.push("desired " + w.desiredSize);
        await w.close();
        await Promise.all(writes);
        await w.closed;
        log.push("closed");
        return log;
    """) == ["start", "desired 1", "desired -1", "write 1", "write 2", "close", "closed"]


def test_writable_backpressure_and_ready(env: JsEnv) -> None:
    assert env.run("""
        let release;
        const ws = new WritableStream({ write() { return new Promise((r) => { release = r; }); } },
            { highWaterMark: 1 });
        const w = ws.getWriter();
        await w.ready;
        w.write("a");
        let ready = false;
        w.ready.then(() => { ready = true; });
        await null; await null;
        const before = ready;
        release();
        await w.ready;
        return [before, ready];
    """) == [False, True]


def test_writable_errors_and_abort(env: JsEnv) -> None:
    assert env.run("""
        const out = [];
        const failing = new WritableStream({ write() { throw new Error("sink failed"); } }).getWriter();
        await failing.write(1).catch((e) => out.push("write: " + e.message));
        await failing.closed.catch((e) => out.push("closed: " + e.message));
        await failing.write(2).catch((e) => out.push("again: " + e.message));
        let aborted;
        const ws = new WritableStream({ abort(r) { aborted = r; } });
        const w = ws.getWriter();
        await w.abort("stop");
        await w.closed.catch((e) => out.push("abort closed: " + e));
        out.push("sink saw " + aborted);
        return out;
    """) == [
        "write: sink failed",
        "closed: sink failed",
        "again: sink failed",
        "abort closed: stop",
        "sink saw stop",
    ]


def test_pipe_to(env: JsEnv) -> None:
    assert env.run("""
        const got = [];
        let closed = false;
        const ws = new WritableStream({ write(c) { got.push(c); }, close() { closed = true; } });
        await of(1, 2, 3).pipeTo(ws);
        const kept = [];
        const open = new WritableStream({ write(c) { kept.push(c); } });
        await of("x").pipeTo(open, { preventClose: true });
        const w = open.getWriter();
        await w.write("y");
        return [got, closed, kept];
    """) == [[1, 2, 3], True, ["x", "y"]]


def test_pipe_to_propagates_errors_both_ways(env: JsEnv) -> None:
    assert env.run("""
        const out = [];
        let abortReason;
        const src = new ReadableStream({ pull(c) { c.error("source broke"); } });
        await src.pipeTo(new WritableStream({ abort(r) { abortReason = r; } })).catch((e) => out.push(e));
        out.push(abortReason);
        let cancelReason;
        const endless = new ReadableStream({ pull(c) { c.enqueue(1); }, cancel(r) { cancelReason = r; } });
        await endless.pipeTo(new WritableStream({ write() { throw "sink broke"; } }))
            .catch((e) => out.push(e));
        out.push(cancelReason);
        return out;
    """) == ["source broke", "source broke", "sink broke", "sink broke"]


def test_pipe_to_with_an_abort_signal(env: JsEnv) -> None:
    assert env.run("""
        const c = new AbortController();
        let cancelled, aborted;
        const endless = new ReadableStream({ pull(ctl) { ctl.enqueue(1); }, cancel(r) { cancelled = r; } });
        const p = endless.pipeTo(new WritableStream({ write() { c.abort("user"); },
            abort(r) { aborted = r; } }), { signal: c.signal });
        let error;
        await p.catch((e) => { error = e; });
        return [error, cancelled, aborted];
    """) == ["user", "user", "user"]


def test_transform_stream_and_pipe_through(env: JsEnv) -> None:
    assert env.run("""
        const upper = new TransformStream({
            transform(chunk, c) { c.enqueue(chunk.toUpperCase()); c.enqueue("|"); },
            flush(c) { c.enqueue("end"); },
        });
        const identity = new TransformStream();
        return [await collect(of("a", "b").pipeThrough(upper)), await collect(of(1,
            2).pipeThrough(identity))];
    """) == [["A", "|", "B", "|", "end"], [1, 2]]


def test_transform_stream_errors_and_terminate(env: JsEnv) -> None:
    assert env.run("""
        const out = [];
        const bad = new TransformStream({ transform() { throw new Error("transform failed"); } });
        await of(1).pipeThrough(bad).getReader().read().catch((e) => out.push(e.message));
        const t = new TransformStream({ transform(chunk, c) { c.enqueue(chunk); c.terminate(); } });
        const w = t.writable.getWriter();
        w.write("only");
        out.push(await collect(t.readable));
        return out;
    """) == ["transform failed", ["only"]]


def test_transform_stream_backpressure_waits_for_the_reader(env: JsEnv) -> None:
    assert env.run("""
        const seen = [];
        const t = new TransformStream({ transform(c, ctl) { seen.push(c); ctl.enqueue(c); } });
        const w = t.writable.getWriter();
        w.write(1); w.write(2);
        for (let i = 0; i < 5; i++) await null;
        const before = [...seen];
        const r = t.readable.getReader();
        await r.read(); await r.read();
        return [before, seen];
    """) == [[], [1, 2]]


def test_text_streams_through_encoding_pipeline(env: JsEnv) -> None:
    assert (
        env.run("""
        const bytes = new TextEncoder().encode("héllo 😀");
        const parts = [bytes.subarray(0, 2), bytes.subarray(2, 8), bytes.subarray(8)];
        const d = new TextDecoder();
        const text = new TransformStream({
            transform(c, ctl) { ctl.enqueue(d.decode(c, { stream: true })); },
            flush(ctl) { ctl.enqueue(d.decode()); },
        });
        return (await collect(of(...parts).pipeThrough(text))).join("");
    """)
        == "héllo 😀"
    )


def test_byte_streams_and_byob_readers(env: JsEnv) -> None:
    assert env.run("""
        const s = new ReadableStream({ type: "bytes", start(c) { c.enqueue(new Uint8Array([1, 2, 3, 4,
            5])); c.close(); } });
        const r = s.getReader({ mode: "byob" });
        const a = await r.read(new Uint8Array(2));
        const b = await r.read(new Uint8Array(10));
        const end = await r.read(new Uint8Array(1));
        return [[...a.value], [...b.value], end.done, end.value.length];
    """) == [[1, 2], [3, 4, 5], True, 0]
    with pytest.raises(JsError, match=r"A byte stream can only enqueue an ArrayBuffer view\."):
        env.run("new ReadableStream({ type: 'bytes', start(c) { c.enqueue('x'); } });")


def test_queuing_strategies(env: JsEnv) -> None:
    assert env.run("""
        const bytes = new ByteLengthQueuingStrategy({ highWaterMark: 4 });
        const count = new CountQueuingStrategy({ highWaterMark: 2 });
        let ctl;
        new ReadableStream({ start(c) { ctl = c; } }, bytes);
        ctl.enqueue(new Uint8Array(3));
        const afterBytes = ctl.desiredSize;
        let ctl2;
        new ReadableStream({ start(c) { ctl2 = c; } }, count);
        ctl2.enqueue({});
        return [bytes.highWaterMark, bytes.size(new Uint8Array(7)), count.highWaterMark, count.size(),
            afterBytes, ctl2.desiredSize];
    """) == [4, 7, 2, 1, 1, 1]


def test_identity_and_fixed_length_streams(env: JsEnv) -> None:
    assert env.run("""
        const id = new IdentityTransformStream();
        const w = id.writable.getWriter();
        w.write(new Uint8Array([1])); w.close();
        const fixed = new FixedLengthStream(2);
        const fw = fixed.writable.getWriter();
        fw.write(new Uint8Array([1, 2, 3])).catch(() => {});
        const error = await fixed.readable.getReader().read().catch((e) => e.message);
        return [(await collect(id.readable)).map((c) => [...c]), error];
    """) == [[[1]], "Attempt to write too many bytes through a FixedLengthStream."]


def test_illegal_constructors_and_bad_arguments(env: JsEnv) -> None:
    for code in [
        "new ReadableStreamDefaultController()",
        "new ReadableStream({ type: 'other' })",
        "new ReadableStream({ pull: 5 })",
        "new ReadableStreamDefaultReader({})",
        "new WritableStreamDefaultWriter({})",
    ]:
        with pytest.raises(JsError) as caught:
            env.run(code)
        assert caught.value.name == "TypeError", code
    with pytest.raises(JsError) as caught:
        env.run("new ReadableStream({}, { highWaterMark: -1 })")
    assert caught.value.name == "RangeError"


def test_releasing_a_writer_rejects_its_pending_promises(env: JsEnv) -> None:
    assert env.run("""
        const ws = new WritableStream({ write() { return new Promise(() => {}); } }, { highWaterMark: 1 });
        const w = ws.getWriter();
        w.write("stuck");
        const ready = w.ready, closed = w.closed, out = [];
        w.releaseLock();
        await ready.catch((e) => out.push("ready " + e.name));
        await closed.catch((e) => out.push("closed " + e.name));
        return [out, ws.locked];
    """) == [["ready TypeError", "closed TypeError"], False]


def test_the_controller_signal_aborts_with_the_stream(env: JsEnv) -> None:
    assert env.run("""
        let signal;
        const ws = new WritableStream({ start(c) { signal = c.signal; } });
        await ws.abort("stop");
        return [signal.aborted, signal.reason];
    """) == [True, "stop"]
