from __future__ import annotations

import json

import pytest

from z0.errors import InvalidMetadata, InvalidModule, InvalidName, PayloadTooLarge
from z0.uploads import UploadPart, prepare_upload

JS = "application/javascript+module"
HELLO = b"export default { fetch() { return new Response('hi'); } };"


def part(
    name: str, content: bytes = HELLO, content_type: str | None = JS, field: str = "files"
) -> UploadPart:
    return UploadPart(field, name, content_type, content)


def prepare(metadata: object, parts: list[UploadPart], max_bytes: int = 1 << 20, name: str = "tenant_abc"):  # type: ignore[no-untyped-def]
    raw = metadata if isinstance(metadata, (str, bytes)) or metadata is None else json.dumps(metadata)
    return prepare_upload(name, raw, parts, max_bytes=max_bytes)


def test_modules_take_the_part_filename_and_keep_their_types() -> None:
    upload = prepare(
        {"main_module": "index.js", "tags": ["plan:pro"], "compatibility_date": "2025-01-01"},
        [
            part("index.js"),
            part("lib/util.js", b"export const x = 1;", "text/javascript"),
            part("greeting.txt", b"hello", "text/plain; charset=utf-8"),
            part("blob.bin", b"\x00\x01", "application/octet-stream"),
            part("index.js.map", b"{}", "application/source-map"),
        ],
    )
    assert upload.main_module == "index.js"
    assert upload.format == "modules"
    assert [(m.name, m.content_type) for m in upload.modules] == [
        ("index.js", JS),
        ("lib/util.js", "text/javascript"),
        ("greeting.txt", "text/plain"),
        ("blob.bin", "application/octet-stream"),
        ("index.js.map", "application/source-map"),
    ]
    assert upload.tags == ("plan:pro",)
    assert upload.metadata["compatibility_date"] == "2025-01-01"


def test_part_without_filename_uses_its_field_name_and_guessed_type() -> None:
    upload = prepare({"main_module": "worker.mjs"}, [UploadPart("worker.mjs", None, None, HELLO)])
    assert upload.modules[0].name == "worker.mjs"
    assert upload.modules[0].content_type == JS


def test_tags_absent_means_keep_and_unknown_metadata_is_kept() -> None:
    upload = prepare({"main_module": "index.js", "observability": {"enabled": True}}, [part("index.js")])
    assert upload.tags is None
    assert upload.metadata["observability"] == {"enabled": True}


def test_service_worker_format_with_body_part() -> None:
    source = b"addEventListener('fetch', (event) => event.respondWith(new Response('sw')));"
    upload = prepare({"body_part": "worker.js"}, [part("worker.js", source, "application/javascript")])
    assert upload.format == "service-worker"
    assert upload.main_module == "worker.js"


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (None, "no 'metadata' part"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ({}, "names no main_module"),
        ({"main_module": "index.js", "bindings": [{"type": "plain_text"}]}, r"metadata\.bindings\.0\.name"),
        ({"main_module": "index.js", "compatibility_date": "2025-13-01"}, "compatibility_date"),
        ({"main_module": "index.js", "tags": "plan:pro"}, r"metadata\.tags"),
        (
            {"main_module": "index.js", "bindings": [{"name": "A", "type": "plain_text"}] * 2},
            "'A' more than once",
        ),
    ],
)
def test_bad_metadata_is_refused(metadata: object, message: str) -> None:
    with pytest.raises(InvalidMetadata, match=message):
        prepare(metadata, [part("index.js")])


def test_main_module_must_be_uploaded_and_javascript() -> None:
    with pytest.raises(InvalidModule, match=r"main_module 'main\.js' is not among the uploaded modules"):
        prepare({"main_module": "main.js"}, [part("index.js")])
    with pytest.raises(InvalidModule, match="must be JavaScript"):
        prepare({"main_module": "a.txt"}, [part("a.txt", b"hi", "text/plain")])


def test_wasm_and_python_are_refused_clearly() -> None:
    with pytest.raises(InvalidModule, match="WebAssembly modules are not supported"):
        prepare(
            {"main_module": "index.js"}, [part("index.js"), part("add.wasm", b"\0asm", "application/wasm")]
        )
    with pytest.raises(InvalidModule, match="WebAssembly"):
        prepare({"main_module": "index.js"}, [part("index.js"), part("add.wasm", b"\0asm", None)])
    with pytest.raises(InvalidModule, match="Python Workers are not supported"):
        prepare({"main_module": "main.py"}, [part("main.py", b"print(1)", "text/x-python")])
    with pytest.raises(InvalidModule, match="does not accept"):
        prepare({"main_module": "index.js"}, [part("index.js"), part("x.json", b"{}", "application/json")])


def test_syntax_error_names_the_module_and_line() -> None:
    broken = b"export const a = 1;\nexport const b = ;\n"
    with pytest.raises(InvalidModule, match=r"lib/b\.js:2:"):
        prepare({"main_module": "index.js"}, [part("index.js"), part("lib/b.js", broken)])


@pytest.mark.parametrize("name", ["../escape.js", "/abs.js", "a//b.js", "lib/./x.js", "a\\b.js", "./"])
def test_module_names_stay_relative(name: str) -> None:
    with pytest.raises(InvalidModule, match="Module name"):
        prepare({"main_module": "index.js"}, [part("index.js"), part(name)])


def test_a_leading_dot_slash_is_dropped_as_imports_resolve_it() -> None:
    upload = prepare(
        {"main_module": "index.js"}, [part("index.js"), part("./lib/x.js", b"export const x = 1;")]
    )
    assert [m.name for m in upload.modules] == ["index.js", "lib/x.js"]
    with pytest.raises(InvalidModule, match="more than once"):
        prepare({"main_module": "index.js"}, [part("index.js"), part("./index.js")])


def test_duplicate_modules_and_bad_names_are_refused() -> None:
    with pytest.raises(InvalidModule, match="more than once"):
        prepare({"main_module": "index.js"}, [part("index.js"), part("index.js")])
    with pytest.raises(InvalidName, match="Script name"):
        prepare({"main_module": "index.js"}, [part("index.js")], name="Bad Name")
    with pytest.raises(InvalidName, match="at most 8"):
        prepare({"main_module": "index.js", "tags": [f"t{i}" for i in range(9)]}, [part("index.js")])


def test_total_size_over_the_limit_is_413() -> None:
    big = b"// " + b"x" * 2000 + b"\nexport default {};"
    with pytest.raises(PayloadTooLarge, match="limit is 1000 bytes"):
        prepare({"main_module": "index.js"}, [part("index.js", big)], max_bytes=1000)
