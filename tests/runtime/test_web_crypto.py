"""crypto.getRandomValues and crypto.randomUUID (web/crypto.js) on the real engine: a ChaCha20 DRBG the
host seeds at every request."""

from __future__ import annotations

import json
import re
import secrets

import pytest

from tests.runtime.jsenv import JsEnv, JsError

# RFC 8439 A.1, test vector #1: the ChaCha20 block for an all-zero key, nonce and counter.
ZERO_KEY_BLOCK = bytes.fromhex(
    "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7"
    "da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586"
)
# RFC 8439 A.1, test vector #2: the same key and nonce, block counter 1.
ZERO_KEY_BLOCK_1 = bytes.fromhex(
    "9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed"
    "29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f"
)


def internal_env(apis: list[str]) -> JsEnv:
    """A JsEnv that also puts z0's internal namespace on globalThis.__z0 (tests only)."""
    return JsEnv(apis, internals=True)


def seed(env: JsEnv, data: bytes) -> None:
    env.run(f"__z0.seedRandom({json.dumps(data.decode('latin-1'))});")


@pytest.fixture
def env() -> JsEnv:
    env = internal_env(["crypto"])
    seed(env, secrets.token_bytes(32))
    return env


def test_no_random_values_before_the_first_seed() -> None:
    env = internal_env(["crypto"])
    for call in ("crypto.getRandomValues(new Uint8Array(4))", "crypto.randomUUID()"):
        with pytest.raises(
            JsError, match=r"Disallowed operation called within global scope\. Generating random values"
        ) as caught:
            env.run(call)
        assert caught.value.name == "Error"


def test_the_generator_is_chacha20_with_fast_key_erasure() -> None:
    env = internal_env(["crypto"])
    seed(env, bytes(32))
    first = env.run("return [...crypto.getRandomValues(new Uint8Array(96))];")
    assert bytes(first) == ZERO_KEY_BLOCK[32:] + ZERO_KEY_BLOCK_1
    again = env_bytes(env, 64)
    assert again not in (ZERO_KEY_BLOCK, ZERO_KEY_BLOCK_1)
    assert again[:32] not in (ZERO_KEY_BLOCK[32:], ZERO_KEY_BLOCK_1[:32])


def test_small_requests_share_a_block() -> None:
    env = internal_env(["crypto"])
    seed(env, bytes(32))
    parts = [env_bytes(env, 8) for _ in range(4)]
    assert b"".join(parts) == ZERO_KEY_BLOCK[32:]
    assert env_bytes(env, 8) not in ZERO_KEY_BLOCK + ZERO_KEY_BLOCK_1


def test_reseeding_mixes_into_the_state_instead_of_replacing_it() -> None:
    a, b = internal_env(["crypto"]), internal_env(["crypto"])
    seed(a, bytes(32))
    seed(b, b"\x01" * 32)
    for env in (a, b):
        env_bytes(env, 16)
        seed(env, bytes(32))
    out_a, out_b = env_bytes(a, 32), env_bytes(b, 32)
    assert out_a != out_b
    assert ZERO_KEY_BLOCK[32:] not in (out_a, out_b)


def env_bytes(env: JsEnv, n: int) -> bytes:
    return bytes(env.run(f"return [...crypto.getRandomValues(new Uint8Array({n}))];"))


def test_integer_arrays_of_every_kind_are_filled(env: JsEnv) -> None:
    assert (
        env.run("""
        const kinds = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array,
            Uint32Array,
                       BigInt64Array, BigUint64Array];
        return kinds.map((K) => {
            const a = new K(64);
            const same = crypto.getRandomValues(a) === a;
            const zero = typeof a[0] === "bigint" ? 0n : 0;
            return same && a.some((v) => v !== zero);
        });
    """)
        == [True] * 9
    )


def test_only_the_view_is_written(env: JsEnv) -> None:
    assert (
        env.run("""
        const buf = new Uint8Array(16);
        crypto.getRandomValues(new Uint8Array(buf.buffer, 4, 8));
        return [...buf.subarray(0, 4), ...buf.subarray(12)];
    """)
        == [0] * 8
    )


def test_quota_and_type_errors(env: JsEnv) -> None:
    assert env.run("return crypto.getRandomValues(new Uint8Array(65536)).length;") == 65536
    with pytest.raises(JsError) as caught:
        env.run("crypto.getRandomValues(new Uint8Array(65537))")
    assert caught.value.name == "QuotaExceededError"
    assert (
        "(65537) exceeds the number of bytes of entropy available via this API (65536)"
        in caught.value.message
    )
    for bad in ("new Float32Array(4)", "new Float64Array(1)", "new DataView(new ArrayBuffer(4))"):
        with pytest.raises(JsError) as caught:
            env.run(f"crypto.getRandomValues({bad})")
        assert caught.value.name == "TypeMismatchError"
    for bad in ("new ArrayBuffer(4)", "[1, 2]", "undefined"):
        with pytest.raises(JsError) as caught:
            env.run(f"crypto.getRandomValues({bad})")
        assert caught.value.name == "TypeError"


def test_random_uuid_format_and_uniqueness(env: JsEnv) -> None:
    uuids = env.run("return Array.from({ length: 2000 }, () => crypto.randomUUID());")
    assert len(set(uuids)) == len(uuids)
    pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
    assert all(re.fullmatch(pattern, u) for u in uuids)


def test_output_looks_uniform(env: JsEnv) -> None:
    data = env_bytes(env, 65536)
    counts = [0] * 256
    for b in data:
        counts[b] += 1
    assert min(counts) > 150 and max(counts) < 380
    ones = sum(bin(b).count("1") for b in data)
    assert abs(ones / (len(data) * 8) - 0.5) < 0.01


def test_crypto_global(env: JsEnv) -> None:
    assert env.run(
        "return [Object.prototype.toString.call(crypto), crypto.subtle, typeof crypto.getRandomValues];"
    ) == [
        "[object Crypto]",
        None,
        "function",
    ]
