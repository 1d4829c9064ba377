"""crypto.subtle: web/subtle.js on the real engine, its host ops (z0.bindings.subtle) answering through the
real router, known-answer vectors, the spec's errors, keys that stay hidden, and examples/webhook through
real executors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.runtime.jsenv import JsEnv, JsError
from z0.bindings import HostOpRouter
from z0.bindings import subtle as subtle_module
from z0.registry import Module
from z0.runtime.compile import compile_script
from z0.runtime.hostops import HostOpError
from z0.runtime.jsapi import select_files
from z0.runtime.limits import Limits
from z0.runtime.supervisor import Runtime, RuntimeConfig, RuntimeRequest, ScriptCode
from z0.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="module")

JS = "application/javascript+module"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HELPERS = """
const hex = (b) => new Uint8Array(b).toHex();
const bytes = (h) => Uint8Array.fromHex(h);
const utf8 = (s) => new TextEncoder().encode(s);
const subtle = crypto.subtle;
const failure = async (p) => {
  try { await p; return "resolved"; }
  catch (e) { return (e instanceof DOMException ? "DOMException " : "") + e.name; }
};
"""


def make_router() -> HostOpRouter:
    router = HostOpRouter()
    subtle_module.register(router, settings=Settings(), registry=None)
    return router


def script(name: str, source: str, **plain: str) -> ScriptCode:
    bindings = [{"name": key, "type": "plain_text", "text": value} for key, value in plain.items()]
    modules = [Module("index.js", JS, source.encode())]
    return compile_script(
        f"ns/{name}/{uuid.uuid4().hex[:8]}", f"ns/{name}", modules, "index.js", bindings=bindings
    )


class Isolate:
    """web/subtle.js in an isolate, its host ops performed by the real router as the gateway would."""

    def __init__(self) -> None:
        self.env = JsEnv(["subtle", "encoding"])
        self.router = make_router()
        self.code = script("subtle-unit", "export default { fetch() {} };")

    async def run(self, body: str) -> Any:
        ctx, entry = self.env.ctx, self.env.entry
        ctx.eval(
            "globalThis.__result = undefined;"
            f"(async () => {{ {HELPERS}\n{body}\n}})().then("
            "(v) => { globalThis.__result = JSON.stringify({ ok: true, value: v ?? null }); },"
            "(e) => { globalThis.__result = JSON.stringify({ ok: false, name: String(e && e.name),"
            " message: String(e && e.message), stack: String(e && e.stack || '') }); });"
        )
        while True:
            while ctx.execute_pending_job():
                pass
            ops = json.loads(entry("take"))["ops"]
            if not ops:
                break
            entry("resolve", json.dumps([await self.perform(op) for op in ops]))
        result = json.loads(ctx.eval("globalThis.__result"))
        if not result["ok"]:
            raise JsError(result["name"], result["message"], result["stack"])
        return result["value"]

    async def perform(self, op: dict[str, Any]) -> dict[str, Any]:
        try:
            value = await self.router.perform(self.code, "test", op)
        except HostOpError as exc:
            return {"id": op["id"], "ok": False, "error": str(exc)}
        return {"id": op["id"], "ok": True, "value": value}


@pytest.fixture
def js() -> Isolate:
    return Isolate()


# digest


@pytest.mark.parametrize(
    ("name", "expected"),
    [  # FIPS 180-2 examples: the digests of "abc"
        ("SHA-1", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("SHA-256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "SHA-384",
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
            "8086072ba1e7cc2358baeca134c825a7",
        ),
        (
            "SHA-512",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
    ],
)
async def test_digest_known_answers(js: Isolate, name: str, expected: str) -> None:
    assert await js.run(f"return hex(await subtle.digest('{name}', utf8('abc')));") == expected
    assert (
        await js.run(f"return hex(await subtle.digest({{ name: '{name.lower()}' }}, utf8('abc')));")
        == expected
    )


async def test_every_buffer_source_is_data_and_results_are_array_buffers(js: Isolate) -> None:
    result = await js.run("""
      const abc = utf8("xabcx");
      const views = [abc.subarray(1, 4), abc.buffer.slice(1, 4), new DataView(abc.buffer, 1, 3),
        new Uint8ClampedArray(abc.buffer, 1, 3)];
      const out = [];
      for (const view of views) {
        const digest = await subtle.digest("SHA-256", view);
        out.push([digest instanceof ArrayBuffer, hex(digest)]);
      }
      return out;
    """)
    assert result == [[True, hashlib.sha256(b"abc").hexdigest()]] * 4


async def test_large_data_is_hashed_off_the_event_loop(js: Isolate) -> None:
    size = 3 << 20  # over THREAD_OVER once in base64
    got = await js.run(f"return hex(await subtle.digest('SHA-512', new Uint8Array({size}).fill(7)));")
    assert got == hashlib.sha512(b"\x07" * size).hexdigest()


async def test_argument_errors_reject_rather_than_throw(js: Isolate) -> None:
    result = await js.run("""
      const p = subtle.digest("SHA-256", "not bytes");
      return [p instanceof Promise, await failure(p), await failure(subtle.digest("MD5", utf8("x"))),
        await failure(subtle.digest({}, utf8("x"))), typeof subtle.deriveBits];
    """)
    assert result == [True, "TypeError", "DOMException NotSupportedError", "TypeError", "undefined"]


# HMAC


RFC4231 = [  # (key, data, hash, hex MAC): RFC 4231 test cases 1, 2, 3, 6 and 7; RFC 2202 case 1 for SHA-1
    ("0b" * 20, b"Hi There", "SHA-256", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (
        "0b" * 20,
        b"Hi There",
        "SHA-384",
        "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
    ),
    (
        "0b" * 20,
        b"Hi There",
        "SHA-512",
        "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
        "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
    ),
    ("0b" * 20, b"Hi There", "SHA-1", "b617318655057264e28bc0b6fb378c8ef146be00"),
    (
        b"Jefe".hex(),
        b"what do ya want for nothing?",
        "SHA-256",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        b"Jefe".hex(),
        b"what do ya want for nothing?",
        "SHA-512",
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
        "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
    ),
    ("aa" * 20, b"\xdd" * 50, "SHA-256", "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (
        "aa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "SHA-256",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    (
        "aa" * 131,
        b"This is a test using a larger than block-size key and a larger than block-size data. "
        b"The key needs to be hashed before being used by the HMAC algorithm.",
        "SHA-256",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
]


@pytest.mark.parametrize(("key", "data", "hash", "expected"), RFC4231)
async def test_hmac_known_answers(js: Isolate, key: str, data: bytes, hash: str, expected: str) -> None:
    result = await js.run(f"""
      const alg = {{ name: "hmac", hash: {{ name: "{hash}" }} }};
      const key = await subtle.importKey("raw", bytes("{key}"), alg, false, ["sign", "verify"]);
      const data = bytes("{data.hex()}");
      const mac = await subtle.sign("HMAC", key, data);
      return [hex(mac), await subtle.verify({{ name: "HMAC" }}, key, mac, data), key.algorithm.length];
    """)
    assert result == [expected, True, len(key) * 4]


async def test_hmac_verify_is_false_for_any_tampering(js: Isolate) -> None:
    result = await js.run("""
      const key = await subtle.importKey("raw", utf8("secret"), { name: "HMAC", hash: "SHA-256" }, false,
        ["sign", "verify"]);
      const mac = new Uint8Array(await subtle.sign("HMAC", key, utf8("body")));
      const flipped = mac.slice(); flipped[0] ^= 1;
      const check = (sig, data) => subtle.verify("HMAC", key, sig, utf8(data));
      return [await check(mac, "body"), await check(mac, "bodY"), await check(flipped, "body"),
        await check(mac.subarray(1), "body"), await check(new Uint8Array(0), "body")];
    """)
    assert result == [True, False, False, False, False]


async def test_hmac_lengths_follow_the_spec(js: Isolate) -> None:
    result = await js.run("""
      const alg = (hash, length) => ({ name: "HMAC", hash, length });
      const gen256 = await subtle.generateKey(alg("SHA-256"), true, ["sign"]);
      const gen512 = await subtle.generateKey(alg("SHA-512"), true, ["sign"]);
      const gen100 = await subtle.generateKey(alg("SHA-1", 100), true, ["sign"]);
      const short = await subtle.importKey("raw", new Uint8Array(4), alg("SHA-256", 30), true, ["sign"]);
      const size = async (key) => (await subtle.exportKey("raw", key)).byteLength;
      return [gen256.algorithm.length, await size(gen256), gen512.algorithm.length,
        gen100.algorithm.length, await size(gen100), short.algorithm.length,
        await failure(subtle.importKey("raw", new Uint8Array(4), alg("SHA-256", 24), true, ["sign"])),
        await failure(subtle.importKey("raw", new Uint8Array(4), alg("SHA-256", 40), true, ["sign"])),
        await failure(subtle.importKey("raw", new Uint8Array(0), alg("SHA-256"), true, ["sign"])),
        await failure(subtle.importKey("raw", new Uint8Array(4), { name: "HMAC" }, true, ["sign"])),
        await failure(subtle.generateKey(alg("SHA-256", 0), true, ["sign"]))];
    """)
    assert result == [
        512,
        64,
        1024,
        100,
        13,
        30,
        "DOMException DataError",
        "DOMException DataError",
        "DOMException DataError",
        "TypeError",
        "DOMException OperationError",
    ]


# AES-GCM

GCM_KEY = "feffe9928665731c6d6a8f9467308308"
GCM_IV = "cafebabefacedbaddecaf888"
GCM_AAD = "feedfacedeadbeeffeedfacedeadbeefabaddad2"
GCM_PLAIN = (
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
)
GCM_VECTORS = [  # McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 2, 3, 4, 14 and 16
    ("00" * 16, "00" * 12, "00" * 16, "", "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf"),
    (
        GCM_KEY,
        GCM_IV,
        GCM_PLAIN,
        "",
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
        "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
        "4d5c2af327cd64a62cf35abd2ba6fab4",
    ),
    (
        GCM_KEY,
        GCM_IV,
        GCM_PLAIN[:120],
        GCM_AAD,
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
        "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
        "5bc94fbc3221a5db94fae95ae7121a47",
    ),
    ("00" * 32, "00" * 12, "00" * 16, "", "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"),
    (
        GCM_KEY * 2,
        GCM_IV,
        GCM_PLAIN[:120],
        GCM_AAD,
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
        "76fc6ece0f4e1768cddf8853bb2d551b",
    ),
]


@pytest.mark.parametrize(("key", "iv", "plain", "aad", "expected"), GCM_VECTORS)
async def test_aes_gcm_known_answers(
    js: Isolate, key: str, iv: str, plain: str, aad: str, expected: str
) -> None:
    extra = f", additionalData: bytes('{aad}')" if aad else ""
    result = await js.run(f"""
      const key = await subtle.importKey("raw", bytes("{key}"), "AES-GCM", false, ["encrypt", "decrypt"]);
      const alg = {{ name: "aes-gcm", iv: bytes("{iv}"){extra} }};
      const sealed = await subtle.encrypt(alg, key, bytes("{plain}"));
      return [hex(sealed), hex(await subtle.decrypt(alg, key, sealed)), key.algorithm];
    """)
    assert result == [expected, plain, {"name": "AES-GCM", "length": len(key) * 4}]


async def test_aes_gcm_tampering_is_an_operation_error(js: Isolate) -> None:
    result = await js.run("""
      const key = await subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
      const iv = new Uint8Array(12).fill(1), additionalData = utf8("header");
      const alg = { name: "AES-GCM", iv, additionalData };
      const sealed = new Uint8Array(await subtle.encrypt(alg, key, utf8("secret")));
      const flipped = sealed.slice(); flipped[0] ^= 1;
      const open = (changes, data) => failure(subtle.decrypt({ ...alg, ...changes }, key, data));
      return [await open({}, sealed), await open({}, flipped),
        await open({ additionalData: utf8("other") }, sealed),
        await open({ iv: new Uint8Array(12) }, sealed), await open({ additionalData: undefined }, sealed),
        await open({}, sealed.subarray(0, 10)),
        await failure(subtle.encrypt({ name: "AES-GCM" }, key, sealed)),
        await failure(subtle.encrypt({ name: "AES-GCM", iv, tagLength: 100 }, key, sealed))];
    """)
    assert result == [
        "resolved",
        "DOMException OperationError",
        "DOMException OperationError",
        "DOMException OperationError",
        "DOMException OperationError",
        "DOMException OperationError",
        "TypeError",
        "DOMException OperationError",
    ]


async def test_aes_gcm_short_tags_and_key_sizes(js: Isolate) -> None:
    result = await js.run("""
      const out = [];
      for (const length of [128, 192, 256]) {
        const key = await subtle.generateKey({ name: "AES-GCM", length }, true, ["encrypt", "decrypt"]);
        const alg = { name: "AES-GCM", iv: new Uint8Array(12), tagLength: 96 };
        const sealed = await subtle.encrypt(alg, key, utf8("hello"));
        out.push([(await subtle.exportKey("raw", key)).byteLength, sealed.byteLength,
          new TextDecoder().decode(await subtle.decrypt(alg, key, sealed))]);
      }
      out.push(await failure(subtle.importKey("raw", new Uint8Array(10), "AES-GCM", true, ["encrypt"])));
      out.push(await failure(subtle.generateKey({ name: "AES-GCM", length: 64 }, true, ["encrypt"])));
      out.push(await failure(subtle.generateKey({ name: "AES-GCM" }, true, ["encrypt"])));
      return out;
    """)
    assert result == [
        [16, 17, "hello"],
        [24, 17, "hello"],
        [32, 17, "hello"],
        "DOMException DataError",
        "DOMException OperationError",
        "TypeError",
    ]


# Ed25519

RFC8032 = [  # (secret key, public key, message, signature): RFC 8032 section 7.1, tests 1, 2 and 3
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032)
async def test_ed25519_known_answers(
    js: Isolate, secret: str, public: str, message: str, signature: str
) -> None:
    result = await js.run(f"""
      const b64url = (h) => bytes(h).toBase64({{ alphabet: "base64url", omitPadding: true }});
      const raw = await subtle.importKey("raw", bytes("{public}"), "Ed25519", true, ["verify"]);
      const jwk = await subtle.importKey("jwk", {{ kty: "OKP", crv: "Ed25519", x: b64url("{public}") }},
        {{ name: "ed25519" }}, true, ["verify"]);
      const priv = await subtle.importKey("jwk", {{ kty: "OKP", crv: "Ed25519", x: b64url("{public}"),
        d: b64url("{secret}") }}, "Ed25519", false, ["sign"]);
      const sig = bytes("{signature}"), msg = bytes("{message}");
      const bad = sig.slice(); bad[63] ^= 0x80;
      const check = (key, sig, msg) => subtle.verify("Ed25519", key, sig, msg);
      return [await check(raw, sig, msg), await check(jwk, sig, msg),
        hex(await subtle.sign("Ed25519", priv, msg)), await check(raw, bad, msg),
        await check(raw, sig, utf8("other")), await check(raw, sig.subarray(1), msg),
        [raw.type, priv.type, raw.usages, priv.usages, raw.algorithm]];
    """)
    assert result == [
        True,
        True,
        signature,
        False,
        False,
        False,
        ["public", "private", ["verify"], ["sign"], {"name": "Ed25519"}],
    ]


async def test_ed25519_pairs_and_der_formats(js: Isolate) -> None:
    result = await js.run("""
      const pair = await subtle.generateKey("Ed25519", true, ["sign", "verify"]);
      const sig = await subtle.sign("Ed25519", pair.privateKey, utf8("m"));
      const again = async (format, key) =>
        subtle.importKey(format, await subtle.exportKey(format, key), "Ed25519", true, key.usages);
      const spki = await again("spki", pair.publicKey), pkcs8 = await again("pkcs8", pair.privateKey);
      const jwk = await subtle.exportKey("jwk", pair.privateKey);
      const other = await subtle.generateKey("Ed25519", true, ["sign"]);
      const otherX = (await subtle.exportKey("jwk", other.publicKey)).x;
      const node = await subtle.importKey("raw", await subtle.exportKey("raw", pair.publicKey),
        { name: "NODE-ED25519", namedCurve: "NODE-ED25519" }, false, ["verify"]);
      return [Object.keys(pair), pair.publicKey.extractable, pair.publicKey.usages, pair.privateKey.usages,
        await subtle.verify("Ed25519", spki, sig, utf8("m")),
        hex(await subtle.sign("Ed25519", pkcs8, utf8("m"))) === hex(sig),
        [jwk.kty, jwk.crv, typeof jwk.x, typeof jwk.d, jwk.key_ops, jwk.ext],
        await subtle.verify("NODE-ED25519", node, sig, utf8("m")), node.algorithm,
        await failure(subtle.verify("Ed25519", node, sig, utf8("m"))),
        await failure(subtle.exportKey("raw", pair.privateKey)),
        await failure(subtle.importKey("raw", new Uint8Array(31), "Ed25519", true, ["verify"])),
        await failure(subtle.importKey("raw", new Uint8Array(32), "Ed25519", true, ["sign"])),
        await failure(subtle.importKey("jwk", { ...jwk, crv: "X25519" }, "Ed25519", true, ["sign"])),
        await failure(subtle.importKey("jwk", { ...jwk, x: otherX }, "Ed25519", true, ["sign"]))];
    """)
    assert result == [
        ["publicKey", "privateKey"],
        True,
        ["verify"],
        ["sign"],
        True,
        True,
        ["OKP", "Ed25519", "string", "string", ["sign"], True],
        True,
        {"name": "NODE-ED25519", "namedCurve": "NODE-ED25519"},
        "DOMException InvalidAccessError",
        "DOMException InvalidAccessError",
        "DOMException DataError",
        "DOMException SyntaxError",
        "DOMException DataError",
        "DOMException DataError",
    ]


# JWK and export


async def test_jwk_round_trips(js: Isolate) -> None:
    result = await js.run("""
      const halg = { name: "HMAC", hash: "SHA-384" };
      const hkey = await subtle.importKey("raw", utf8("k3y"), halg, true, ["sign", "verify"]);
      const hjwk = await subtle.exportKey("jwk", hkey);
      const back = await subtle.importKey("jwk", hjwk, halg, false, ["verify"]);
      const mac = await subtle.sign("HMAC", hkey, utf8("x"));
      const nines = new Uint8Array(16).fill(9);
      const akey = await subtle.importKey("raw", nines, "AES-GCM", true, ["encrypt", "decrypt"]);
      const ajwk = await subtle.exportKey("jwk", akey);
      const aback = await subtle.importKey("jwk", ajwk, "AES-GCM", true, ["decrypt"]);
      return [hjwk, await subtle.verify("HMAC", back, mac, utf8("x")), back.usages, ajwk,
        hex(await subtle.exportKey("raw", aback))];
    """)
    assert result == [
        {"kty": "oct", "k": "azN5", "alg": "HS384", "key_ops": ["sign", "verify"], "ext": True},
        True,
        ["verify"],
        {
            "kty": "oct",
            "k": "CQkJCQkJCQkJCQkJCQkJCQ",
            "alg": "A128GCM",
            "key_ops": ["encrypt", "decrypt"],
            "ext": True,
        },
        "09" * 16,
    ]


async def test_jwk_imports_check_their_members(js: Isolate) -> None:
    result = await js.run("""
      const hmac = { name: "HMAC", hash: "SHA-256" };
      const imp = (jwk, usages = ["sign"], extractable = false, alg = hmac) =>
        failure(subtle.importKey("jwk", jwk, alg, extractable, usages));
      const k = "azN5";
      return [await imp({ kty: "oct", k, alg: "HS256", use: "sig", key_ops: ["sign"], ext: false }),
        await imp({ kty: "RSA", k }), await imp({ kty: "oct" }), await imp({ kty: "oct", k: "a+b/" }),
        await imp({ kty: "oct", k, alg: "HS512" }), await imp({ kty: "oct", k, use: "enc" }),
        await imp({ kty: "oct", k, key_ops: ["verify"] }),
        await imp({ kty: "oct", k, ext: false }, ["sign"], true),
        await imp({ kty: "oct", k: "AAAAAAAAAAAAAAAAAAAAAA", alg: "A256GCM" }, ["encrypt"], false, "AES-GCM"),
        await imp("not an object")];
    """)
    assert result == ["resolved"] + ["DOMException DataError"] * 8 + ["TypeError"]


async def test_non_extractable_keys_do_not_export(js: Isolate) -> None:
    result = await js.run("""
      const key = await subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const out = (format) => failure(subtle.exportKey(format, key));
      return [key.extractable, await out("raw"), await out("jwk"), await out("spki"), await out("pem")];
    """)
    assert result == [
        False,
        "DOMException InvalidAccessError",
        "DOMException InvalidAccessError",
        "DOMException InvalidAccessError",
        "TypeError",
    ]


# Keys: their views, their usages, their hidden material


async def test_crypto_key_objects(js: Isolate) -> None:
    result = await js.run("""
      const alg = { name: "hmac", hash: "sha-256" };
      const key = await subtle.importKey("raw", utf8("k"), alg, false, ["verify", "sign", "sign"]);
      let made;
      try { new CryptoKey(); } catch (e) { made = e.name; }
      return [String(key), key instanceof CryptoKey, key.type, key.extractable, key.algorithm, key.usages,
        key.algorithm === key.algorithm, key.usages === key.usages, made, String(subtle),
        subtle instanceof SubtleCrypto, Object.getOwnPropertyNames(crypto).includes("subtle")];
    """)
    assert result == [
        "[object CryptoKey]",
        True,
        "secret",
        False,
        {"name": "HMAC", "hash": {"name": "SHA-256"}, "length": 8},
        ["sign", "verify"],
        True,
        True,
        "TypeError",
        "[object SubtleCrypto]",
        True,
        True,
    ]


async def test_usages_are_enforced(js: Isolate) -> None:
    result = await js.run("""
      const hmac = (usages, hash = "SHA-256", name = "HMAC", format = "raw") =>
        subtle.importKey(format, utf8("k"), { name, hash }, false, usages);
      const signer = await hmac(["sign"]);
      const sealer = await subtle.importKey("raw", new Uint8Array(16), "AES-GCM", false, ["encrypt"]);
      const iv = new Uint8Array(12);
      return [await failure(subtle.verify("HMAC", signer, new Uint8Array(32), utf8("x"))),
        await failure(subtle.decrypt({ name: "AES-GCM", iv }, sealer, new Uint8Array(32))),
        await failure(subtle.encrypt({ name: "AES-GCM", iv }, signer, utf8("x"))),
        await failure(subtle.sign("Ed25519", signer, utf8("x"))),
        await failure(subtle.sign("RSA-PSS", signer, utf8("x"))),
        await failure(subtle.sign("HMAC", { type: "secret" }, utf8("x"))),
        await failure(hmac(["encrypt"])), await failure(hmac([])), await failure(hmac(["fly"])),
        await failure(hmac(["encrypt"], "SHA-256", "RSA-OAEP")),
        await failure(hmac(["sign"], "SHA-256", "HMAC", "spki")),
        await failure(hmac(["sign"], "MD5"))];
    """)
    assert result == [
        "DOMException InvalidAccessError",
        "DOMException InvalidAccessError",
        "DOMException InvalidAccessError",
        "DOMException InvalidAccessError",
        "DOMException NotSupportedError",
        "TypeError",
        "DOMException SyntaxError",
        "DOMException SyntaxError",
        "TypeError",
        "DOMException NotSupportedError",
        "DOMException NotSupportedError",
        "DOMException NotSupportedError",
    ]


async def test_key_material_is_not_reachable_from_the_key(js: Isolate) -> None:
    result = await js.run("""
      const key = await subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const seen = JSON.stringify([Object.getOwnPropertyNames(key), Object.getOwnPropertySymbols(key), key,
        Object.getOwnPropertyNames(CryptoKey.prototype), { ...key }]);
      return [seen, Object.getOwnPropertyNames(key).length];
    """)
    assert result == ['[[],[],{},["constructor","type","extractable","algorithm","usages"],{}]', 0]


async def test_key_material_does_not_leak_through_prototype_hooks(js: Isolate) -> None:
    result = await js.run("""
      const seen = [];
      const hook = { get() { seen.push(this); }, set(v) { seen.push(v); }, configurable: true };
      for (const name of ["key", "toJSON", "then"]) {
        Object.defineProperty(Object.prototype, name, hook);
        Object.defineProperty(Array.prototype, name, hook);
      }
      const key = await subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      await subtle.sign("HMAC", key, utf8("x"));
      for (const name of ["key", "toJSON", "then"]) {
        delete Object.prototype[name];
        delete Array.prototype[name];
      }
      const text = (v) => {
        try { return typeof v === "string" ? v : JSON.stringify(v); } catch (e) { return ""; }
      };
      return seen.some((v) => /"k":/.test(text(v)));
    """)
    assert result is False


# timingSafeEqual


async def test_timing_safe_equal(js: Isolate) -> None:
    result = await js.run("""
      const eq = subtle.timingSafeEqual;
      const same = eq(utf8("sha256=abc"), utf8("sha256=abc"));
      let lengths, notBytes;
      try { eq(utf8("ab"), utf8("abc")); } catch (e) { lengths = [e.name, e.message]; }
      try { eq("ab", "ab"); } catch (e) { notBytes = e.name; }
      return [same, typeof same, eq(utf8("sha256=abc"), utf8("sha256=abd")), eq(utf8("a"), utf8("b")),
        eq(new Uint8Array(0), new ArrayBuffer(0)),
        eq(new Uint16Array([0x0201]), new DataView(new Uint8Array([1, 2]).buffer)),
        lengths, notBytes];
    """)
    assert result == [
        True,
        "boolean",
        False,
        False,
        True,
        True,
        ["TypeError", "Input buffers must have the same byte length."],
        "TypeError",
    ]


async def test_files_are_chosen_by_what_a_script_mentions() -> None:
    for mention in ("subtle", "timingSafeEqual", "importKey", "digest", "CryptoKey"):
        names = [api.name for api in select_files([mention])]
        assert "subtle" in names and names.index("crypto") < names.index("subtle"), mention


# Host ops on their own


async def test_host_op_shapes() -> None:
    router = make_router()
    code = script("subtle-ops", "export default { fetch() {} };")
    data = "YWJj"  # "abc"
    digest = await router.perform(code, "r", {"op": "subtle.digest", "alg": {"name": "SHA-1"}, "data": data})
    assert digest == "qZk+NkcGgWq6PiVxeFDCbJzQ2J0="
    keys = await router.perform(
        code,
        "r",
        {
            "op": "subtle.importKey",
            "format": "raw",
            "keyData": data,
            "alg": {"name": "HMAC", "hash": "SHA-256"},
            "extractable": False,
            "usages": ["sign"],
        },
    )
    assert isinstance(keys, str)  # key material never reaches tenant code as an object (see subtle.py)
    [[view, handle]] = json.loads(keys)
    assert view == {
        "type": "secret",
        "extractable": False,
        "algorithm": {"name": "HMAC", "hash": {"name": "SHA-256"}, "length": 24},
        "usages": ["sign"],
    }
    mac = await router.perform(
        code, "r", {"op": "subtle.sign", "alg": {"name": "HMAC"}, "key": handle, "data": data}
    )
    assert mac == base64.b64encode(hmac.digest(b"abc", b"abc", "sha256")).decode()
    refused = await router.perform(
        code,
        "r",
        {"op": "subtle.verify", "alg": {"name": "HMAC"}, "key": handle, "signature": mac, "data": data},
    )
    assert refused == {
        "error": "InvalidAccessError",
        "message": "This key cannot be used to verify (its usages: sign).",
    }
    forged = await router.perform(
        code, "r", {"op": "subtle.sign", "alg": {"name": "HMAC"}, "key": "{}", "data": data}
    )
    assert forged == {"error": "TypeError", "message": "The key is not a CryptoKey."}


# Through real executors


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def runtime() -> AsyncIterator[Runtime]:
    async with Runtime(RuntimeConfig(executors=1), host_ops=make_router()) as shared:
        yield shared


async def post(runtime: Runtime, code: ScriptCode, body: bytes, **headers: str) -> tuple[int, bytes]:
    request = RuntimeRequest("POST", "https://hooks.example/", list(headers.items()), body)
    response = await runtime.fetch(code, request, Limits(), request_id=str(uuid.uuid4()))
    return response.status, response.body


async def test_webhook_example(runtime: Runtime) -> None:
    code = script("webhook", (EXAMPLES / "webhook" / "index.js").read_text(), WEBHOOK_SECRET="s3cret")
    body = b'{"type": "push", "ref": "main"}'
    good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    wrong = "sha256=" + hmac.new(b"other", body, hashlib.sha256).hexdigest()
    assert await post(runtime, code, body, **{"x-signature": good}) == (200, b'{"received":"push"}')
    assert await post(runtime, code, body, **{"x-signature": wrong}) == (401, b"bad signature")
    assert await post(runtime, code, body, **{"x-signature": good[:-1]}) == (401, b"bad signature")
    assert await post(runtime, code, body) == (401, b"bad signature")


async def test_errors_cross_from_the_host_as_dom_exceptions(runtime: Runtime) -> None:
    source = """
      export default {
        async fetch(request) {
          const alg = { name: "AES-GCM", iv: new Uint8Array(12) };
          const usages = ["encrypt", "decrypt"];
          const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 128 }, false, usages);
          const sealed = new Uint8Array(await crypto.subtle.encrypt(alg, key, await request.arrayBuffer()));
          sealed[0] ^= 1;
          try { await crypto.subtle.decrypt(alg, key, sealed); }
          catch (e) { return new Response(`${e instanceof DOMException} ${e.name}`); }
          return new Response("decrypted");
        },
      };
    """
    assert await post(runtime, script("gcm", source), b"payload") == (200, b"true OperationError")


async def test_generated_hmac_keys_are_bounded(js: Isolate) -> None:
    result = await js.run("""
      try {
        await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256", length: 2 ** 31 }, false, ["sign"]);
        return "made";
      } catch (error) {
        return error.name + ": " + error.message;
      }
    """)
    assert result == "OperationError: HMAC keys z0 generates are at most 8192 bits."
