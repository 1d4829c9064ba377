"""Generates the data line of idna.js (UTS #46 tables) and checks idna.js against the tables.

The data comes from Python packages, so nothing is downloaded here; they must carry the same
Unicode version as the QuickJS-ng build's `String.prototype.normalize` (17.0 for quickjs-ng 0.17):

    pip install --target /tmp/idna-gen idna==3.18 unicodedata2==17.0.1
    PYTHONPATH=/tmp/idna-gen .venv/bin/python src/z0/runtime/js/web/_gen_idna.py

- IdnaMappingTable.txt: `idna.uts46data` (status and mapping of every code point),
- Joining_Type: `idna.idnadata.joining_types`,
- Bidi_Class, General_Category (marks) and Canonical_Combining_Class (Virama = 9): `unicodedata2`
  (or the interpreter's `unicodedata` when its version matches).

idna.js derives each mapping from the engine's own case mapping and NFKC (see its header), so
the data line holds only: the status runs over all code points; over the valid code points, the
Bidi_Class runs and the runs of a class that folds Joining_Type, Virama and marks together (the
asserts below check the folding); and the mappings the derivation gets wrong. The script then
evaluates idna.js in QuickJS and checks every code point's status, mapping, bidi and joining
class against the source tables, and fails if any differs.

Runs are packed as numbers `length * classes + class`, each written in mixed radix with printable
ASCII: chars 35..126 without the backslash are digits 0..90; 0..44 continue a number and 45..90
end it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import quickjs
from idna import idnadata, package_data, uts46data


def unicode_data() -> ModuleType:
    try:
        return importlib.import_module("unicodedata2")
    except ImportError:  # the interpreter's own tables, if their version matches
        return importlib.import_module("unicodedata")


ucd = unicode_data()


def source_name(module: ModuleType) -> str:
    if module.__name__ == "unicodedata":
        return "Python's unicodedata"
    return f"PyPI {module.__name__} {importlib.metadata.version(module.__name__)}"


HERE = Path(__file__).resolve().parent
TARGET = HERE / "idna.js"
LIMIT = 0x110000
MAP_CLASSES = {"X": 0, "V": 1, "M": 1, "D": 1, "I": 2}
BIDI_CLASSES = {
    "L": 0,
    "R": 1,
    "AL": 1,
    "AN": 2,
    "EN": 3,
    "NSM": 4,
    "ES": 5,
    "CS": 5,
    "ET": 5,
    "ON": 5,
    "BN": 5,
}
BIDI_OTHER = 6
JOIN_NONE, JOIN_L, JOIN_D, JOIN_R, JOIN_T, JOIN_MARK, JOIN_MARK_T, JOIN_VIRAMA, JOIN_VIRAMA_T = range(9)


def status_table() -> tuple[list[str], list[str | None]]:
    starts = list(uts46data.uts46_starts)
    status: list[str] = [""] * LIMIT
    mapping: list[str | None] = [None] * LIMIT
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else LIMIT
        code = chr(uts46data.uts46_statuses[i])
        assert code in MAP_CLASSES, f"unexpected UTS #46 status {code!r}"
        for cp in range(start, end):
            status[cp] = code
            mapping[cp] = uts46data.uts46_replacements[i]
    return status, mapping


def joining_types() -> dict[int, str]:
    types: dict[int, str] = {}
    for kind, ranges in idnadata.joining_types.items():
        for packed in ranges:
            for cp in range(packed >> 32, packed & 0xFFFFFFFF):
                types[cp] = kind
    return types


def pack(classes: list[int | None], count: int) -> str:
    """Runs of equal classes from code point 0; None (don't care) joins the run before it."""
    runs: list[list[int]] = []
    for cp, cls in enumerate(classes):
        if cls is None or (runs and runs[-1][1] == cls):
            if runs:
                runs[-1][0] += 1
            continue
        if not runs and cp:
            raise ValueError("the first code point needs a class")
        runs.append([1, cls])
    out = []
    for length, cls in runs:
        n = length * count + cls
        digits = [45 + n % 46]
        n //= 46
        while n:
            digits.append(n % 45)
            n //= 45
        for d in reversed(digits):
            c = d + 35
            out.append(chr(c + 1 if c >= 92 else c))
    return "".join(out)


def internals(source: str) -> tuple[quickjs.Context, str]:
    ctx = quickjs.Context()
    probe = source.replace(
        "return { toASCII };",
        "return { toASCII, lookup, mapCodePoint, MAP, BIDI, JOIN };",
    )
    assert probe != source, "idna.js must end with `return { toASCII };`"
    ctx.eval("globalThis.idna = " + probe)
    return ctx, probe


def js_mappings(ctx: quickjs.Context, allowed: list[int]) -> dict[int, str]:
    ctx.eval("globalThis.cps = " + json.dumps(allowed))
    raw = ctx.eval("JSON.stringify(cps.map((cp) => idna.mapCodePoint(String.fromCodePoint(cp), cp)))")
    return dict(zip(allowed, json.loads(raw), strict=True))


def js_classes(ctx: quickjs.Context, table: str) -> str:
    return str(
        ctx.eval(
            f"(() => {{ const out = []; for (let cp = 0; cp < {LIMIT}; cp++) "
            f"out.push(idna.lookup(idna.{table}, cp)); return out.join(''); }})()"
        )
    )


def main() -> int:
    if not (uts46data.__version__ == idnadata.__version__ == ucd.unidata_version):
        print(
            f"IdnaMappingTable {uts46data.__version__}, Joining_Type {idnadata.__version__} and Bidi_Class "
            f"{ucd.unidata_version} differ; install matching packages (see this script's docstring)",
            file=sys.stderr,
        )
        return 1
    status, mapping = status_table()
    valid = [status[cp] in "VD" for cp in range(LIMIT)]
    jt = joining_types()
    transparent_not_nsm = []
    bidi: list[int | None] = []
    join: list[int | None] = []
    for cp in range(LIMIT):
        if not valid[cp]:
            bidi.append(None)
            join.append(None)
            continue
        b = BIDI_CLASSES.get(ucd.bidirectional(chr(cp)), BIDI_OTHER)
        bidi.append(b)
        kind, nsm = jt.get(cp), b == BIDI_CLASSES["NSM"]
        mark, transparent = ucd.category(chr(cp)).startswith("M"), kind == "T" and not nsm
        # idna.js: transparent = NSM or T, MARK_T, VIRAMA_T; virama = VIRAMA, VIRAMA_T; mark = NSM or >= MARK.
        assert not nsm or (kind == "T" and mark), f"U+{cp:04X} is NSM but Joining_Type {kind}"
        assert not (mark and kind in ("L", "D", "R")), f"mark U+{cp:04X} joins"
        if transparent:
            transparent_not_nsm.append(cp)
        if ucd.combining(chr(cp)) == 9:
            assert mark, f"virama U+{cp:04X} is not a mark"
            join.append(JOIN_VIRAMA_T if transparent else JOIN_VIRAMA)
        elif nsm:
            join.append(None)
        elif mark:
            join.append(JOIN_MARK_T if transparent else JOIN_MARK)
        elif transparent:
            join.append(JOIN_T)
        else:
            join.append({"L": JOIN_L, "D": JOIN_D, "R": JOIN_R}.get(kind or "", JOIN_NONE))
    map_classes: list[int | None] = [MAP_CLASSES[s] for s in status]
    tables = [pack(map_classes, 3), pack(bidi, 7), pack(join, 9)]

    expected: dict[int, str] = {}
    for cp in range(128, LIMIT):
        if MAP_CLASSES[status[cp]] == 1:
            target = mapping[cp] if status[cp] == "M" else chr(cp)
            assert target is not None, f"U+{cp:04X} is mapped to nothing"
            expected[cp] = target
    source = TARGET.read_text(encoding="utf-8")
    versions = (
        f"// data: IdnaMappingTable {uts46data.__version__} and Joining_Type {idnadata.__version__} "
        f"(PyPI idna {package_data.__version__}), Bidi_Class and Canonical_Combining_Class "
        f"{ucd.unidata_version} ({source_name(ucd)}); generated by _gen_idna.py"
    )

    def write(exceptions: dict[int, str]) -> str:
        data = ", ".join(json.dumps(t) for t in tables)
        exc = ", ".join(f"{cp}: {json.dumps(v)}" for cp, v in sorted(exceptions.items()))
        text = re.sub(r"^// data:.*$", lambda _: versions, source, count=1, flags=re.M)
        return re.sub(
            r"^  const DATA = .*;$",
            lambda _: f"  const DATA = [{data}, {{ {exc} }}];",
            text,
            count=1,
            flags=re.M,
        )

    ctx, _ = internals(write({}))
    derived = js_mappings(ctx, sorted(expected))
    exceptions = {cp: want for cp, want in expected.items() if derived[cp] != want}
    result = write(exceptions)

    ctx, _ = internals(result)
    problems = []
    got = js_mappings(ctx, sorted(expected))
    problems += [f"U+{cp:04X} maps to {got[cp]!r}, not {w!r}" for cp, w in expected.items() if got[cp] != w]
    for name, classes in (("MAP", map_classes), ("BIDI", bidi), ("JOIN", join)):
        js = js_classes(ctx, name)
        problems += [
            f"{name} U+{cp:04X}: {js[cp]} != {cls}"
            for cp, cls in enumerate(classes)
            if cls is not None and int(js[cp]) != cls
        ]
    if problems:
        print("\n".join(problems[:50]), f"\n{len(problems)} problems", file=sys.stderr)
        return 1
    TARGET.write_text(result, encoding="utf-8")
    print(versions)
    print(
        f"runs: map {len(tables[0])} chars, bidi {len(tables[1])}, join {len(tables[2])}; "
        f"{len(exceptions)} mapping exceptions; T but not NSM: {[hex(c) for c in transparent_not_nsm]}"
    )
    print(f"idna.js: {len(result.encode())} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
