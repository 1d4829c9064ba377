from __future__ import annotations

import pytest

from z0.errors import InvalidModule
from z0.runtime.syntax import check_module_source, decode_source


def test_valid_module_passes() -> None:
    check_module_source(
        "index.js",
        "import { greet } from './lib/greet.js';\nexport default { fetch: () => new Response(greet()) };\n",
    )


def test_syntax_error_names_module_line_and_column() -> None:
    source = "export default {\n  async fetch(request) {\n    return new Response('hi';\n  }\n};\n"
    with pytest.raises(InvalidModule) as caught:
        check_module_source("src/worker.js", source)
    assert "SyntaxError" in caught.value.message
    assert "src/worker.js:3:" in caught.value.message


def test_columns_count_characters_not_bytes() -> None:
    with pytest.raises(InvalidModule, match=r"w\.js:1:16"):
        check_module_source("w.js", "const é = 'ü'; )")


def test_jsx_is_refused_with_a_hint() -> None:
    with pytest.raises(InvalidModule, match=r"JSX is not JavaScript at app\.js:2:14; compile it"):
        check_module_source("app.js", "let a = 1;\nconst page = <div>{a}</div>;\n")


def test_service_worker_scripts_cannot_import() -> None:
    check_module_source(
        "sw.js", "addEventListener('fetch', e => e.respondWith(new Response('x')));", es_module=False
    )
    with pytest.raises(InvalidModule, match="service-worker"):
        check_module_source(
            "sw.js", "import x from './x.js';\naddEventListener('fetch', () => {});", es_module=False
        )


def test_invalid_utf8_is_refused_with_its_line() -> None:
    with pytest.raises(InvalidModule, match=r"not valid UTF-8 \(line 2"):
        decode_source("bad.js", b"let a = 1;\nlet b = '\xff';\n")
