"""TextEncoder and TextDecoder (web/encoding.js) on the real engine: every Unicode scalar, lone
surrogates, the WHATWG UTF-8 decoder's replacement rules, fatal, BOM handling and streaming."""

from __future__ import annotations

import json
import random

import pytest

from tests.runtime.jsenv import JsEnv, JsError


@pytest.fixture(scope="module")
def env() -> JsEnv:
    return JsEnv(["encoding"])


def js_bytes(data: bytes) -> str:
    return f"new Uint8Array({json.dumps(list(data))})"


def test_encode_every_scalar_value(env: JsEnv) -> None:
    utf8_length = sum(len(chr(c).encode()) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    assert env.run("""
        const parts = [];
        for (let c = 0; c < 0x110000; c += 0x1000) {
            const codes = [];
            for (let d = c; d < c + 0x1000; d++) if (d < 0xd800 || d > 0xdfff) codes.push(d);
            parts.push(String.fromCodePoint(...codes));
        }
        const all = parts.join("");
        const bytes = new TextEncoder().encode(all);
        const back = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
        const sample = [...bytes.subarray(0, 4), ...bytes.subarray(bytes.length - 4)];
        return [bytes.length, back === all, sample];
    """) == [utf8_length, True, [0, 1, 2, 3, 0xF4, 0x8F, 0xBF, 0xBF]]


@pytest.mark.parametrize(
    "text", ["", "a", "é", "€", "😀", "a\u0301", "שלום", "\x00", "\U0010ffff", "mixed é😀€ text"]
)
def test_encode_matches_python(env: JsEnv, text: str) -> None:
    assert env.run(f"return [...new TextEncoder().encode({json.dumps(text)})];") == list(text.encode())


def test_lone_surrogates_encode_to_replacement_characters(env: JsEnv) -> None:
    assert env.run(r"""
        return [[...new TextEncoder().encode("a\ud800b")], [...new TextEncoder().encode("\udc00\ud83d")],
                [...new TextEncoder().encode("\ud83d\ude00")]];
    """) == [[97, 239, 191, 189, 98], [239, 191, 189, 239, 191, 189], [240, 159, 152, 128]]


def test_encode_into(env: JsEnv) -> None:
    assert env.run("""
        const out = [];
        for (const [text, size] of [["hello", 10], ["héllo", 2], ["😀a", 3], ["😀a", 4], ["a€", 3], ["",
            1]]) {
            const dest = new Uint8Array(size);
            const r = new TextEncoder().encodeInto(text, dest);
            out.push([r.read, r.written, [...dest]]);
        }
        return out;
    """) == [
        [5, 5, [104, 101, 108, 108, 111, 0, 0, 0, 0, 0]],
        [1, 1, [104, 0]],
        [0, 0, [0, 0, 0]],
        [2, 4, [240, 159, 152, 128]],
        [1, 1, [97, 0, 0]],
        [0, 0, [0]],
    ]
    with pytest.raises(JsError, match="is not of type 'Uint8Array'"):
        env.run("new TextEncoder().encodeInto('x', new Uint16Array(2))")


INVALID = [
    b"\xff",
    b"\x80",
    b"\xc0\xaf",
    b"\xe0\x80\xaf",
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xf4\x90\x80\x80",
    b"\xf5\x80\x80\x80",
    b"\xf0\x9f\x98",
    b"\xf0\x9f",
    b"a\xe2\x82",
    b"\xe2\x28\xa1",
    b"\xc3\x28",
    b"\xfe\xfe\xff\xff",
    b"\xf0\x80\x80\x80",
    b"valid \xc3\xa9 then \xc3 bad",
]


@pytest.mark.parametrize("data", INVALID)
def test_invalid_bytes_decode_like_the_whatwg_decoder(env: JsEnv, data: bytes) -> None:
    assert env.run(f"return new TextDecoder().decode({js_bytes(data)});") == data.decode("utf-8", "replace")


@pytest.mark.parametrize("data", INVALID)
def test_fatal_decoder_throws_a_type_error(env: JsEnv, data: bytes) -> None:
    with pytest.raises(JsError, match="The encoded data was not valid for encoding utf-8") as caught:
        env.run(f"new TextDecoder('utf-8', {{ fatal: true }}).decode({js_bytes(data)});")
    assert caught.value.name == "TypeError"


def test_random_bytes_decode_like_python(env: JsEnv) -> None:
    rng = random.Random(7)
    samples = [
        bytes(
            rng.choice([0x41, 0x80, 0xBF, 0xC2, 0xE0, 0xED, 0xF0, 0xF4, 0xFF, 0x9F, 0xA0]) for _ in range(12)
        )
        for _ in range(200)
    ]
    decoded = env.run(
        f"return {json.dumps([list(s) for s in samples])}"
        ".map((b) => new TextDecoder().decode(new Uint8Array(b)));"
    )
    assert decoded == [s.decode("utf-8", "replace") for s in samples]


def test_bom_is_stripped_unless_ignore_bom(env: JsEnv) -> None:
    bom, inner = js_bytes(b"\xef\xbb\xbfhi"), js_bytes(b"a\xef\xbb\xbf")
    assert env.run(f"""
        return [new TextDecoder().decode({bom}), new TextDecoder("utf-8",
            {{ ignoreBOM: true }}).decode({bom}).length,
                new TextDecoder().decode({inner}).length];
    """) == ["hi", 3, 2]


def test_streaming_decode_splits_anywhere(env: JsEnv) -> None:
    text = "\ufeffé😀€ a\u0301 שלום 𝄞"
    data = text.encode()
    cases = []
    for cut in range(len(data) + 1):
        cases.append([list(data[:cut]), list(data[cut:])])
    results = env.run(f"""
        const d = new TextDecoder();
        return {json.dumps(cases)}.map(([a, b]) =>
            d.decode(new Uint8Array(a), {{ stream: true }}) + d.decode(new Uint8Array(b),
                {{ stream: true }}) + d.decode());
    """)
    assert results == [text[1:]] * len(cases)


def test_streaming_decode_one_byte_at_a_time_with_errors(env: JsEnv) -> None:
    data = b"ok \xf0\x9f\x98 \xe2\x82\xac \xed\xa0\x80 \xf0\x9f\x98\x80 \xc3"
    assert env.run(f"""
        const d = new TextDecoder();
        let s = "";
        for (const b of {json.dumps(list(data))}) s += d.decode(new Uint8Array([b]), {{ stream: true }});
        return s + d.decode();
    """) == data.decode("utf-8", "replace")


def test_decode_accepts_buffers_and_views(env: JsEnv) -> None:
    assert env.run("""
        const u8 = new TextEncoder().encode("xhiy");
        return [new TextDecoder().decode(u8.buffer), new TextDecoder().decode(new DataView(u8.buffer, 1, 2)),
                new TextDecoder().decode(), new TextDecoder().decode(new Uint16Array([0x6968]))];
    """) == ["xhiy", "hi", "", "hi"]
    with pytest.raises(JsError, match="must be an ArrayBuffer or an ArrayBufferView") as caught:
        env.run("new TextDecoder().decode('text')")
    assert caught.value.name == "TypeError"


def test_labels_and_attributes(env: JsEnv) -> None:
    assert env.run("""
        const d = new TextDecoder(" UTF8 ", { fatal: true });
        return [d.encoding, d.fatal, d.ignoreBOM, new TextEncoder().encoding];
    """) == ["utf-8", True, False, "utf-8"]
    with pytest.raises(JsError, match=r'The "latin1" encoding is not supported\.') as caught:
        env.run("new TextDecoder('latin1')")
    assert caught.value.name == "RangeError"
