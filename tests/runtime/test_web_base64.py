"""atob and btoa (web/base64.js) on the real engine, with the forgiving-base64 rules and their errors."""

from __future__ import annotations

import base64
import json

import pytest

from tests.runtime.jsenv import JsEnv, JsError


@pytest.fixture(scope="module")
def env() -> JsEnv:
    return JsEnv(["base64"])


def test_round_trip_of_every_byte(env: JsEnv) -> None:
    latin1 = bytes(range(256)).decode("latin-1")
    encoded = env.run(f"return btoa({json.dumps(latin1)});")
    assert encoded == base64.b64encode(bytes(range(256))).decode()
    assert env.run(f"return atob({json.dumps(encoded)}) === {json.dumps(latin1)};") is True


@pytest.mark.parametrize(
    ("data", "decoded"),
    [
        ("", ""),
        ("YQ==", "a"),
        ("YQ", "a"),
        ("YWI=", "ab"),
        ("YWI", "ab"),
        (" Y W\nJ j\t", "abc"),
        ("/+8=", "\xff\xef"),
    ],
)
def test_atob_is_forgiving(env: JsEnv, data: str, decoded: str) -> None:
    assert env.run(f"return atob({json.dumps(data)});") == decoded


@pytest.mark.parametrize("data", ["Y", "YQ===", "Y=Q=", "YQ*=", "é", "YWJj=", "=YQ"])
def test_atob_rejects_bad_input(env: JsEnv, data: str) -> None:
    with pytest.raises(JsError) as caught:
        env.run(f"atob({json.dumps(data)})")
    assert caught.value.name == "InvalidCharacterError"
    assert caught.value.message == "The string to be decoded is not correctly encoded."
    assert env.run(
        f"try {{ atob({json.dumps(data)}); }} catch (e) {{ return [e instanceof DOMException, e.code]; }}"
    ) == [True, 5]


def test_btoa_rejects_non_latin1(env: JsEnv) -> None:
    with pytest.raises(JsError) as caught:
        env.run("btoa('☃')")
    assert caught.value.name == "InvalidCharacterError"
    assert "outside of the Latin1 range" in caught.value.message


def test_arguments_are_strings_and_required(env: JsEnv) -> None:
    assert env.run("return [btoa(12), atob(undefined === 1 ? '' : 'MTI='), btoa(null)];") == [
        "MTI=",
        "12",
        "bnVsbA==",
    ]
    with pytest.raises(JsError, match="1 argument required"):
        env.run("atob()")
