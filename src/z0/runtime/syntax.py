"""Syntax checks of uploaded JavaScript, with tree-sitter, so that tenant code never runs at upload.

A syntax error is reported with the module's name, line and column (1-based), like an engine would.
"""

from __future__ import annotations

import threading

import tree_sitter
import tree_sitter_javascript

from z0.errors import InvalidModule

__all__ = ["check_module_source", "decode_source", "first_error", "js_parser"]

_LANGUAGE = tree_sitter.Language(tree_sitter_javascript.language())
_local = threading.local()
_JSX_QUERY = tree_sitter.Query(_LANGUAGE, "[(jsx_element) (jsx_self_closing_element)] @jsx")


def js_parser() -> tree_sitter.Parser:
    """This thread's JavaScript parser (a tree-sitter parser is not to be shared between threads)."""
    parser: tree_sitter.Parser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = tree_sitter.Parser(_LANGUAGE)
    return parser


def decode_source(name: str, content: bytes) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise InvalidModule(f"Module {name!r} is not valid UTF-8 (line {line}, byte {exc.start}).") from exc


def check_module_source(name: str, source: str, *, es_module: bool = True) -> None:
    """Raises InvalidModule naming the module and line of the first syntax error."""
    encoded = source.encode("utf-8")
    root = js_parser().parse(encoded).root_node
    if root.has_error:
        node = first_error(root)
        if node.is_missing:
            detail = f"expected {node.type!r}"
        else:
            snippet = encoded[node.start_byte : node.end_byte][:40].decode("utf-8", "replace").strip()
            detail = f"unexpected {snippet!r}" if snippet else "unexpected end of input"
        raise InvalidModule(f"Uncaught SyntaxError: {detail} at {_where(name, encoded, node)}")
    jsx = tree_sitter.QueryCursor(_JSX_QUERY).captures(root).get("jsx")
    if jsx:
        first = min(jsx, key=lambda node: node.start_byte)
        raise InvalidModule(
            f"Uncaught SyntaxError: JSX is not JavaScript at {_where(name, encoded, first)}; "
            "compile it before upload."
        )
    if not es_module:
        for node in root.children:
            if node.type in ("import_statement", "export_statement"):
                raise InvalidModule(
                    f"Uncaught SyntaxError: import/export in a service-worker script at "
                    f"{_where(name, encoded, node)}; upload it as a module (metadata main_module) instead."
                )


def first_error(node: tree_sitter.Node) -> tree_sitter.Node:
    """The first ERROR or MISSING node under `node`, in source order."""
    for child in node.children:
        if child.is_error or child.is_missing:
            return child
        if child.has_error:
            return first_error(child)
    return node


def _where(name: str, encoded: bytes, node: tree_sitter.Node) -> str:
    """`name:line:column`, 1-based, the column counted in characters as an engine counts them."""
    row, byte_column = node.start_point
    line_start = encoded.rfind(b"\n", 0, node.start_byte) + 1
    column = len(encoded[line_start : line_start + byte_column].decode("utf-8", "replace")) + 1
    return f"{name}:{row + 1}:{column}"
