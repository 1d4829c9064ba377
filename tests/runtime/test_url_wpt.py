"""URL (web/url.js, web/idna.js) against the web-platform-tests URL data, on the real engine.

Every case of `urltestdata.json` and `setters_tests.json` (tests/runtime/wpt, see its README) runs in one
isolate with idna loaded; each field is compared. Known failures are listed below with a reason;
a listed case that passes fails the test too, so the list stays honest.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.jsenv import JsEnv

WPT = Path(os.environ.get("Z0_WPT_DIR", Path(__file__).with_name("wpt")))
FIELDS = (
    "href",
    "origin",
    "protocol",
    "username",
    "password",
    "host",
    "hostname",
    "port",
    "pathname",
    "search",
    "hash",
)

# (input, base) -> reason. Empty: every case passes.
KNOWN_URL_FAILURES: dict[tuple[str, str | None], str] = {}
# (attribute, href, new_value) -> reason. Empty: every case passes.
KNOWN_SETTER_FAILURES: dict[tuple[str, str, str], str] = {}

IDN = re.compile(r"[^\x00-\x7f]|xn--|%[89a-f]", re.IGNORECASE)

PARSE_ALL = """
const out = [];
for (const [input, base] of JSON.parse(%s)) {
  try {
    const url = base === null ? new URL(input) : new URL(input, base);
    const fields = {};
    for (const name of %s) fields[name] = url[name];
    out.push(fields);
  } catch (error) {
    const lazy = String(error && error.message).startsWith("z0 loads");
    out.push({ error: lazy ? "lazy" : error instanceof TypeError ? "TypeError" : String(error) });
  }
}
return out;
"""

SET_ALL = """
const out = [];
for (const [attribute, href, value, names] of JSON.parse(%s)) {
  const url = new URL(href);
  url[attribute] = value;
  const fields = {};
  for (const name of names) fields[name] = url[name];
  out.push(fields);
}
return out;
"""


def load(name: str) -> Any:
    path = WPT / name
    if not path.exists():
        pytest.fail(f"{path} is missing: the WPT URL data lives in tests/runtime/wpt (or set Z0_WPT_DIR)")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def env() -> JsEnv:
    return JsEnv(["url"], lazy=["idna"])


def url_case_failure(case: dict[str, Any], got: dict[str, Any]) -> str | None:
    if case.get("failure"):
        return None if got.get("error") == "TypeError" else f"expected a TypeError, got {got}"
    if "error" in got:
        return f"threw {got['error']}"
    wrong = {f: (got[f], case[f]) for f in FIELDS if f in case and got[f] != case[f]}
    return f"(got, expected) {wrong}" if wrong else None


def parse_all(env: JsEnv, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pairs = json.dumps([[c["input"], c["base"]] for c in cases])
    results: list[dict[str, Any]] = env.run(PARSE_ALL % (json.dumps(pairs), json.dumps(FIELDS)))
    return results


def test_urltestdata(env: JsEnv) -> None:
    cases = [c for c in load("urltestdata.json") if isinstance(c, dict)]
    results = parse_all(env, cases)
    failures = {}
    for case, got in zip(cases, results, strict=True):
        problem = url_case_failure(case, got)
        if problem is not None:
            failures[(case["input"], case["base"])] = problem
    idn = [c for c in cases if IDN.search(c["input"] + (c["base"] or ""))]
    idn_failed = [c for c in idn if (c["input"], c["base"]) in failures]
    passed = len(cases) - len(failures)
    print(f"\nurltestdata: {passed}/{len(cases)} ({100 * passed / len(cases):.1f}%)")
    print(f"urltestdata IDN cases (non-ASCII, %80-%FF or xn--): {len(idn) - len(idn_failed)}/{len(idn)}")

    idn_problems = [failures[c["input"], c["base"]] for c in idn_failed]
    assert not idn_problems, f"internationalized-domain cases must all pass: {idn_problems}"
    unexpected = {k: v for k, v in failures.items() if k not in KNOWN_URL_FAILURES}
    assert not unexpected, f"cases failing that are not known failures: {unexpected}"
    fixed = [k for k in KNOWN_URL_FAILURES if k not in failures]
    assert not fixed, f"known failures that now pass; take them off the list: {fixed}"
    assert passed >= 0.95 * len(cases)


def test_setters(env: JsEnv) -> None:
    data = load("setters_tests.json")
    cases = [(attr, case) for attr, group in data.items() if attr != "comment" for case in group]
    payload = [[attr, c["href"], c["new_value"], list(c["expected"])] for attr, c in cases]
    results = env.run(SET_ALL % json.dumps(json.dumps(payload)))
    failures = {}
    for (attr, case), got in zip(cases, results, strict=True):
        wrong = {f: (got[f], want) for f, want in case["expected"].items() if got[f] != want}
        if wrong:
            failures[(attr, case["href"], case["new_value"])] = f"(got, expected) {wrong}"
    passed = len(cases) - len(failures)
    per_attr = {a: sum(1 for attr, _ in cases if attr == a) for a, _ in cases}
    print(f"\nsetters_tests: {passed}/{len(cases)} ({100 * passed / len(cases):.1f}%) over {per_attr}")

    unexpected = {k: v for k, v in failures.items() if k not in KNOWN_SETTER_FAILURES}
    assert not unexpected, f"setter cases failing that are not known failures: {unexpected}"
    fixed = [k for k in KNOWN_SETTER_FAILURES if k not in failures]
    assert not fixed, f"known setter failures that now pass; take them off the list: {fixed}"
    assert passed >= 0.90 * len(cases)


def test_only_non_ascii_domains_load_idna(env: JsEnv) -> None:
    """Without idna, every case parses as with it, except non-ASCII domains, which ask for idna."""
    cases = [c for c in load("urltestdata.json") if isinstance(c, dict)]
    with_idna = parse_all(env, cases)
    bare = JsEnv(["url"])
    without = parse_all(bare, cases)
    asked = [c for c, got in zip(cases, without, strict=True) if got.get("error") == "lazy"]
    assert asked and all(IDN.search(c["input"] + (c["base"] or "")) for c in asked)
    assert all(a == b for a, b in zip(with_idna, without, strict=True) if b.get("error") != "lazy")
    assert json.loads(bare.entry("take"))["missing"] == ["idna"] * len(asked)
    print(f"\nurltestdata cases that load idna: {len(asked)}")
