"""Links a script's modules into one plain script, because QuickJS (as z0 uses it) has no module loader.

The output is a function expression, `(function (__z0_link) { … })`, that host.js calls with its link
object. For ES modules its body is strict and holds one factory per JavaScript module, then calls

    __z0_link.start(defs, mainModule, lineTable)

    defs       {name: {kind: "esm", deps: [name, …], factory, async?: 1}
                     | {kind: "text", value: string} | {kind: "data", value: latin-1 string}}
    lineTable  [firstLine, module, firstColumn, lineCount, {moduleLine: "outStart outEnd inStart delta …"}, …]
               one group of five per JavaScript module (see ModuleSpan and Shift)

A factory is a generator (async when the module uses top-level `await`): calling it creates the
module's scope with its function declarations hoisted; its first step hands js/modules.js the export
getters (so modules in a cycle reach each other's hoisted functions, as in ESM); its second step runs
the module's body. Its parameters are the getter registration, `import()`, `import.meta` and the
namespaces of its dependencies, in `deps` order. Imported bindings become live reads of those
namespaces (`__z0_m0.name`), where scope analysis on the tree-sitter tree finds that they are not
shadowed. Export names, star exports and missing or ambiguous imports are resolved here, once.

Every module line stays on one known output line (module line 1 shares its output line with the
wrapper text that opens the module), so engine positions map back with `LinkedScript.position`.
A service-worker script is wrapped as it is (not strict), followed by `__z0_link.serviceWorker()`.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import tree_sitter

from z0.errors import InvalidModule
from z0.modules import ModuleKind, module_kind
from z0.registry import Module
from z0.runtime.syntax import decode_source, first_error, js_parser

__all__ = ["LinkedScript", "ModuleSpan", "Shift", "link"]


_SEPARATORS = re.compile(rb"\xe2\x80[\xa8\xa9]")  # U+2028, U+2029
_LITERAL_TEXT = frozenset({"string_fragment", "comment", "regex_pattern", "escape_sequence"})
_STACK_POSITION = re.compile(r"<input>:(\d+)(?::(\d+))?")
_IDENTIFIER_NAME = re.compile(r"[A-Za-z_$][\w$]*", re.ASCII)
_FUNCTIONS = frozenset(
    {
        "function_declaration",
        "function_expression",
        "generator_function_declaration",
        "generator_function",
        "arrow_function",
        "method_definition",
    }
)
_CLASSES = frozenset({"class", "class_declaration"})
_SCOPES = (
    _FUNCTIONS
    | _CLASSES
    | {
        "class_static_block",
        "statement_block",
        "switch_body",
        "for_statement",
        "for_in_statement",
        "catch_clause",
    }
)
_LEXICAL = frozenset(
    {"lexical_declaration", "class_declaration", "function_declaration", "generator_function_declaration"}
)
# Words of the source, as bytes (UTF-8 sequences whole): a superset of its identifiers.
_WORD = re.compile(rb"[A-Za-z_$\x80-\xff][\w$\x80-\xff]*")
_NAME_NODES = frozenset(
    {"identifier", "shorthand_property_identifier", "shorthand_property_identifier_pattern"}
)
_MAYBE_BINDING_PARENTS = frozenset(
    {"formal_parameters", "array_pattern", "rest_pattern", "catch_clause", *_FUNCTIONS, *_CLASSES}
)
_BINDING_FIELDS = {
    "variable_declarator": "name",
    "arrow_function": "parameter",
    "for_in_statement": "left",
    "assignment_pattern": "left",
    "object_assignment_pattern": "left",
    "pair_pattern": "value",
}

_ANONYMOUS_DEFAULTS = frozenset({"function_expression", "generator_function", "class", "arrow_function"})
_IMPORT_SYNTAX = frozenset(
    {"import_specifier", "namespace_import", "import_clause", "export_specifier", "namespace_export"}
)
_PATTERN_TARGETS = frozenset({"array_pattern", "rest_pattern"})
_DATA_ESCAPES = {
    **{byte: f"\\x{byte:02x}" for byte in (*range(0x20), 0x7F, *range(0x80, 0xA0))},
    ord('"'): '\\"',
    ord("\\"): "\\\\",
}


# ---------------------------------------------------------------------------------------------
# The result


@dataclass(frozen=True, slots=True)
class Shift:
    """A rewrite on one line: output columns [out_start, out_end) came from input column in_start;
    columns from out_end on are `delta` further right than in the module (0-based columns)."""

    out_start: int
    out_end: int
    in_start: int
    delta: int


@dataclass(frozen=True, slots=True)
class ModuleSpan:
    """Where one module sits in the output: its line 1 is output line `first_line`, after
    `first_column` characters of wrapper text."""

    module: str
    first_line: int
    line_count: int
    first_column: int
    shifts: Mapping[int, tuple[Shift, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LinkedScript:
    """A function expression: `ctx.eval(source)(link)` runs the script (see host.js `boot`).

    `identifiers` holds every identifier-like word of the tenant's JavaScript (identifiers,
    property and shorthand names, and also words in strings and comments: a superset, so that
    `obj["getReader"]` counts too), for choosing the Workers API files an isolate loads."""

    source: str
    format: str  # "modules" | "service-worker"
    main_module: str
    line_map: tuple[ModuleSpan, ...]
    identifiers: frozenset[str]

    def position(self, line: int, column: int) -> tuple[str, int, int] | None:
        """The (module, line, column) of a 1-based output position; None on wrapper text."""
        at = bisect_right(self.line_map, line, key=lambda span: span.first_line) - 1
        if at < 0:
            return None
        span = self.line_map[at]
        module_line = line - span.first_line + 1
        if module_line > span.line_count:
            return None
        offset = column - 1
        if module_line == 1:
            offset -= span.first_column
            if offset < 0:
                return None
        return span.module, module_line, _unshift(span.shifts.get(module_line, ()), offset) + 1

    def map_stack(self, stack: str, line_offset: int) -> str:
        """Rewrites `<input>:LINE:COL` of a QuickJS stack (the source evaluated after `line_offset`
        newlines) into module positions; z0's own lines become `z0`."""

        def replace(match: re.Match[str]) -> str:
            line = int(match[1]) - line_offset
            where = self.position(line, int(match[2] or 1)) if line >= 1 else None
            if where is None:
                return "z0"
            return f"{where[0]}:{where[1]}" + (f":{where[2]}" if match[2] else "")

        return _STACK_POSITION.sub(replace, stack)


def _unshift(shifts: Sequence[Shift], offset: int) -> int:
    result = offset
    for shift in shifts:
        if offset < shift.out_start:
            break
        if offset < shift.out_end:
            return shift.in_start
        result = offset - shift.delta
    return result


# ---------------------------------------------------------------------------------------------
# Entry point


def link(modules: Sequence[Module], main_module: str, *, service_worker: bool = False) -> LinkedScript:
    """Links uploaded modules into one script; raises InvalidModule for what an engine would refuse
    at link time (unresolvable imports, missing exports, assignments to imports)."""
    kinds: dict[str, ModuleKind] = {}
    for module in modules:
        if module.name in kinds:
            raise InvalidModule(f"Module {module.name!r} is uploaded twice.")
        kinds[module.name] = module_kind(module.content_type, module.name)
    if kinds.get(main_module) is not ModuleKind.ES_MODULE:
        raise InvalidModule(
            f"The main module {main_module!r} is not an uploaded JavaScript module; "
            f"uploaded: {_listing(kinds)}."
        )
    by_name = {module.name: module for module in modules}
    if service_worker:
        return _link_service_worker(by_name[main_module])
    resolver = _Resolver(kinds)
    parsed = {
        name: _analyze(name, by_name[name].content, resolver)
        for name, kind in kinds.items()
        if kind is ModuleKind.ES_MODULE
    }
    graph = _Graph(parsed)
    graph.check_imports()
    return _Emitter(parsed, graph, by_name, kinds, main_module).emit()


def _listing(kinds: Mapping[str, ModuleKind]) -> str:
    return ", ".join(f"{name} ({kind.value})" for name, kind in sorted(kinds.items())) or "nothing"


def _parse(name: str, content: bytes) -> tuple[bytes, tree_sitter.Node]:
    """The module's source with its line breaks counted as QuickJS counts them, and its tree.

    QuickJS numbers lines by LF, and by CR only in some places (not in block comments), and by
    U+2028/U+2029 only between tokens (not in strings or comments). So CR LF and CR become LF
    (which changes no value: raw CRs appear only in comments, templates, which normalize them,
    and line continuations), and separators between tokens become LF; then a line is a LF."""
    source = decode_source(name, content).replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    root = js_parser().parse(source).root_node
    between_tokens = [
        match.start()
        for match in _SEPARATORS.finditer(source)
        if (node := root.descendant_for_byte_range(match.start(), match.end())) is None
        or node.type not in _LITERAL_TEXT
    ]
    if between_tokens:
        text = bytearray(source)
        for start in reversed(between_tokens):
            text[start : start + 3] = b"\n"
        source = bytes(text)
        root = js_parser().parse(source).root_node
    return source, root


# ---------------------------------------------------------------------------------------------
# Text helpers


class _Lines:
    """Line numbers of byte offsets, counting line breaks as JavaScript does."""

    def __init__(self, source: bytes) -> None:
        self.source = source
        self.starts = [0, *(match.end() for match in re.finditer(b"\n", source))]

    def line(self, offset: int) -> int:
        return bisect_right(self.starts, offset)

    def column(self, offset: int) -> int:
        start = self.starts[self.line(offset) - 1]
        return len(self.source[start:offset].decode("utf-8", "replace"))


def _text(node: tree_sitter.Node) -> str:
    return (node.text or b"").decode("utf-8")


def _string_value(node: tree_sitter.Node) -> str:
    raw = _text(node)[1:-1]
    if "\\" not in raw:
        return raw
    try:
        value: str = json.loads('"' + raw.replace("\\'", "'").replace('"', '\\"') + '"')
    except ValueError:
        return raw
    return value


def _js_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _js_key(name: str) -> str:
    # A literal "__proto__" key would set the prototype instead of defining a property.
    return '["__proto__"]' if name == "__proto__" else _js_string(name)


def _member(name: str) -> str:
    return f".{name}" if _IDENTIFIER_NAME.fullmatch(name) else f"[{_js_string(name)}]"


def _utf16_order(name: str) -> bytes:
    return name.encode("utf-16-be", "surrogatepass")


# ---------------------------------------------------------------------------------------------
# Resolution


class _Resolver:
    def __init__(self, kinds: Mapping[str, ModuleKind]) -> None:
        self.kinds = kinds

    def resolve(self, importer: str, specifier: str, line: int) -> str:
        name = _resolve_name(importer, specifier)
        kind = self.kinds.get(name)
        if kind is not None and kind is not ModuleKind.SOURCE_MAP:
            return name
        if kind is ModuleKind.SOURCE_MAP:
            reason = f"{name!r} is a source map, which z0 keeps but never runs"
        elif specifier.startswith("node:"):
            reason = "Node.js built-in modules are not available in z0; bundle a polyfill instead"
        elif specifier.startswith("cloudflare:"):
            reason = "Cloudflare's built-in modules are not available in z0"
        else:
            reason = f"no uploaded module is named {name!r}"
        raise InvalidModule(
            f"{importer}:{line}: cannot import {specifier!r}: {reason}. Uploaded: {_listing(self.kinds)}."
        )


def _resolve_name(importer: str, specifier: str) -> str:
    """`./` and `../` are relative to the importer's folder; anything else is a module name as
    uploaded. Must agree with `mResolve` in js/modules.js."""
    if not specifier.startswith(("./", "../")):
        return specifier
    parts = importer.split("/")[:-1]
    for part in specifier.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts)


# ---------------------------------------------------------------------------------------------
# One module: imports, exports and rewrites


@dataclass(frozen=True, slots=True)
class _Edit:
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class _Import:
    target: str
    name: str | None  # None: the namespace
    line: int
    specifier: str


@dataclass(slots=True)
class _JsModule:
    name: str
    lines: _Lines
    root: tree_sitter.Node
    deps: list[str] = field(default_factory=list)
    imports: dict[str, _Import] = field(default_factory=dict)
    local_exports: dict[str, str] = field(default_factory=dict)
    indirect_exports: dict[str, _Import] = field(default_factory=dict)
    star_exports: list[_Import] = field(default_factory=list)
    edits: list[_Edit] = field(default_factory=list)
    is_async: bool = False
    default_function: bool = False  # `export default function () {}`: named "default" at run time
    identifiers: set[str] = field(default_factory=set)

    def error(self, node: tree_sitter.Node, message: str) -> InvalidModule:
        return InvalidModule(f"{self.name}:{self.lines.line(node.start_byte)}: {message}")


_DEFAULT_LOCAL = "\0default"  # placeholder for the hidden binding of `export default <expression>`


def _analyze(name: str, content: bytes, resolver: _Resolver) -> _JsModule:
    source, root = _parse(name, content)
    module = _JsModule(name, _Lines(source), root)
    if root.has_error:
        raise module.error(first_error(root), "SyntaxError: the module does not parse")
    if source.startswith(b"#!"):
        module.edits.append(_Edit(0, 2, "//"))
    declared = _module_bindings(root)
    exported_locals: list[tuple[str, str, tree_sitter.Node]] = []
    for statement in root.named_children:
        if statement.type == "return_statement":
            # Would end the module's factory quietly; engines refuse it in a module.
            raise module.error(statement, "SyntaxError: return outside of a function")
        if statement.type == "import_statement":
            _read_import(module, statement, resolver, declared)
        elif statement.type == "export_statement":
            exported_locals += _read_export(module, statement, resolver)
    for exported, local, node in exported_locals:
        if local in module.imports:
            _add_export(module, exported, node, indirect=module.imports[local])
        elif local in declared or local == _DEFAULT_LOCAL:
            _add_export(module, exported, node, local=local)
        else:
            raise module.error(node, f"SyntaxError: export {local!r} is not defined in the module")
    module.identifiers = _words(source)
    _rewrite_references(module)
    module.is_async = any(_at_top_level(token) for token in _keywords(module, "await"))
    for token in _keywords(module, "import"):
        parent = token.parent
        if parent is not None and parent.type == "meta_property":
            module.edits.append(_Edit(parent.start_byte, parent.end_byte, _META))
        elif parent is not None and parent.type == "import":
            _rewrite_dynamic_import(module, token, resolver)
    return module


def _blank(module: _JsModule, node: tree_sitter.Node) -> None:
    """Removes a statement, keeping its lines and columns; the `;` ends any statement before it
    that relied on automatic semicolon insertion."""
    original = module.lines.source[node.start_byte : node.end_byte].decode("utf-8")
    module.edits.append(_Edit(node.start_byte, node.end_byte, ";" + re.sub("[^\n]", " ", original[1:])))


def _request(module: _JsModule, statement: tree_sitter.Node, resolver: _Resolver) -> tuple[str, int, str]:
    source = statement.child_by_field_name("source")
    assert source is not None
    specifier = _string_value(source)
    line = module.lines.line(statement.start_byte)
    target = resolver.resolve(module.name, specifier, line)
    if target not in module.deps:
        module.deps.append(target)
    return target, line, specifier


def _read_import(
    module: _JsModule, statement: tree_sitter.Node, resolver: _Resolver, declared: set[str]
) -> None:
    target, line, specifier = _request(module, statement, resolver)
    _blank(module, statement)
    clause = next((child for child in statement.named_children if child.type == "import_clause"), None)
    if clause is None:
        return
    bindings: list[tuple[str, str | None, tree_sitter.Node]] = []
    for part in clause.named_children:
        if part.type == "identifier":
            bindings.append((_text(part), "default", part))
        elif part.type == "namespace_import":
            local = part.named_children[-1]
            bindings.append((_text(local), None, local))
        elif part.type == "named_imports":
            for spec in part.named_children:
                if spec.type != "import_specifier":
                    continue
                imported = spec.child_by_field_name("name")
                assert imported is not None
                local = spec.child_by_field_name("alias") or imported
                imported_name = _string_value(imported) if imported.type == "string" else _text(imported)
                bindings.append((_text(local), imported_name, local))
    for local_name, wanted, node in bindings:
        if local_name in module.imports or local_name in declared:
            raise module.error(node, f"SyntaxError: identifier {local_name!r} has already been declared")
        module.imports[local_name] = _Import(target, wanted, line, specifier)


def _export_name(node: tree_sitter.Node) -> str:
    return _string_value(node) if node.type == "string" else _text(node)


def _read_export(
    module: _JsModule, statement: tree_sitter.Node, resolver: _Resolver
) -> list[tuple[str, str, tree_sitter.Node]]:
    """Reads one export statement and rewrites it; returns the (exported, local, node) pairs of
    local bindings, checked once every import and declaration is known."""
    declaration = statement.child_by_field_name("declaration")
    value = statement.child_by_field_name("value")
    is_default = any(child.type == "default" for child in statement.children[:2])
    if statement.child_by_field_name("source") is not None:
        _read_reexport(module, statement, resolver)
        return []
    if declaration is not None:
        _edit_prefix(module, statement, declaration, "")
        if is_default:
            named = declaration.child_by_field_name("name")
            assert named is not None
            return [("default", _text(named), named)]
        return [(name, name, declaration) for name in _declared_names(declaration)]
    if value is not None:
        _rewrite_default_expression(module, statement, value)
        return [("default", _DEFAULT_LOCAL, statement)]
    _blank(module, statement)
    pairs = []
    for clause in statement.named_children:
        for spec in clause.named_children if clause.type == "export_clause" else ():
            if spec.type != "export_specifier":
                continue
            local = spec.child_by_field_name("name")
            assert local is not None
            alias = spec.child_by_field_name("alias") or local
            pairs.append((_export_name(alias), _text(local), spec))
    return pairs


def _read_reexport(module: _JsModule, statement: tree_sitter.Node, resolver: _Resolver) -> None:
    target, line, specifier = _request(module, statement, resolver)
    _blank(module, statement)
    for part in statement.named_children:
        if part.type == "namespace_export":
            exported = _export_name(part.named_children[-1])
            _add_export(module, exported, part, indirect=_Import(target, None, line, specifier))
            return
        if part.type == "export_clause":
            for spec in part.named_children:
                if spec.type != "export_specifier":
                    continue
                imported = spec.child_by_field_name("name")
                assert imported is not None
                alias = spec.child_by_field_name("alias") or imported
                indirect = _Import(target, _export_name(imported), line, specifier)
                _add_export(module, _export_name(alias), spec, indirect=indirect)
            return
    module.star_exports.append(_Import(target, None, line, specifier))


def _add_export(
    module: _JsModule,
    exported: str,
    node: tree_sitter.Node,
    *,
    local: str | None = None,
    indirect: _Import | None = None,
) -> None:
    if exported in module.local_exports or exported in module.indirect_exports:
        raise module.error(node, f"SyntaxError: duplicate export of {exported!r}")
    if local is not None:
        module.local_exports[exported] = local
    elif indirect is not None:
        module.indirect_exports[exported] = indirect


def _edit_prefix(module: _JsModule, statement: tree_sitter.Node, body: tree_sitter.Node, text: str) -> None:
    """Replaces `export [default]` before `body`; spaces keep the columns when the text is shorter."""
    original = module.lines.source[statement.start_byte : body.start_byte].decode("utf-8")
    if "\n" in original:
        module.edits.append(_Edit(statement.start_byte, body.start_byte, text + " "))
    else:
        module.edits.append(_Edit(statement.start_byte, body.start_byte, text.ljust(len(original))))


def _rewrite_default_expression(
    module: _JsModule, statement: tree_sitter.Node, value: tree_sitter.Node
) -> None:
    anonymous = _is_anonymous_function(value)
    if value.type in ("function_expression", "generator_function") and anonymous:
        # A hoisted declaration, as `export default function () {}` is in ESM.
        parameters = value.child_by_field_name("parameters")
        assert parameters is not None
        _edit_prefix(module, statement, value, "")
        module.edits.append(_Edit(parameters.start_byte, parameters.start_byte, f" {_DEFAULT_LOCAL}"))
        module.default_function = True
    elif anonymous:
        # A property key names an anonymous function or class "default", as ESM does.
        _edit_prefix(module, statement, value, f"const {_DEFAULT_LOCAL} = {{default: ")
        module.edits.append(_Edit(value.end_byte, value.end_byte, "}.default"))
    else:
        _edit_prefix(module, statement, value, f"const {_DEFAULT_LOCAL} = ")


def _is_anonymous_function(node: tree_sitter.Node) -> bool:
    while node.type == "parenthesized_expression" and node.named_child_count == 1:
        node = node.named_children[0]
    return node.type in _ANONYMOUS_DEFAULTS and node.child_by_field_name("name") is None


# ---------------------------------------------------------------------------------------------
# Bindings and scopes


def _pattern_names(node: tree_sitter.Node | None) -> Iterator[str]:
    if node is None:
        return
    kind = node.type
    if kind in ("identifier", "shorthand_property_identifier_pattern"):
        yield _text(node)
    elif kind in ("object_pattern", "array_pattern", "rest_pattern", "formal_parameters"):
        for child in node.named_children:
            yield from _pattern_names(child)
    elif kind == "pair_pattern":
        yield from _pattern_names(node.child_by_field_name("value"))
    elif kind in ("assignment_pattern", "object_assignment_pattern"):
        yield from _pattern_names(node.child_by_field_name("left"))


def _declared_names(declaration: tree_sitter.Node) -> list[str]:
    """Names bound by a declaration statement (not counting nested scopes)."""
    if declaration.type in ("lexical_declaration", "variable_declaration"):
        return [
            name
            for declarator in declaration.named_children
            if declarator.type == "variable_declarator"
            for name in _pattern_names(declarator.child_by_field_name("name"))
        ]
    named = declaration.child_by_field_name("name")
    return [_text(named)] if named is not None and declaration.type in _LEXICAL else []


def _var_names(scope: tree_sitter.Node) -> set[str]:
    """`var` names hoisted to this scope: the whole subtree, except nested functions."""
    names: set[str] = set()
    stack = list(scope.named_children)
    while stack:
        node = stack.pop()
        kind = node.type
        if kind in _FUNCTIONS or kind == "class_static_block":
            continue
        if kind == "variable_declaration":
            names.update(_declared_names(node))
        elif kind == "for_in_statement" and _kind_of(node) == "var":
            names.update(_pattern_names(node.child_by_field_name("left")))
        stack.extend(node.named_children)
    return names


def _kind_of(node: tree_sitter.Node) -> str | None:
    kind = node.child_by_field_name("kind")
    return None if kind is None else kind.type


def _lexical_names(statements: Sequence[tree_sitter.Node]) -> set[str]:
    return {name for node in statements if node.type in _LEXICAL for name in _declared_names(node)}


def _module_bindings(root: tree_sitter.Node) -> set[str]:
    statements = [
        child.child_by_field_name("declaration") or child if child.type == "export_statement" else child
        for child in root.named_children
    ]
    return _var_names(root) | _lexical_names(statements)


class _Scopes:
    """Which names inner scopes declare, computed once per scope node."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, bool], set[str]] = {}

    def refers_to_module(self, node: tree_sitter.Node, name: str) -> bool:
        """True when `name` at `node` is the module-level binding (no inner scope shadows it)."""
        via = node
        scope = node.parent
        while scope is not None and scope.type != "program":
            if scope.type in _SCOPES and name in self._declared(scope, via):
                return False
            via = scope
            scope = scope.parent
        return True

    def _declared(self, scope: tree_sitter.Node, via: tree_sitter.Node) -> set[str]:
        # Default values of parameters do not see the body's declarations.
        in_parameters = via.type == "formal_parameters"
        key = (scope.id, in_parameters)
        names = self._cache.get(key)
        if names is None:
            names = self._cache[key] = _scope_names(scope, in_parameters)
        return names


def _scope_names(scope: tree_sitter.Node, in_parameters: bool) -> set[str]:
    kind = scope.type
    if kind in _FUNCTIONS:
        names = set(_pattern_names(scope.child_by_field_name("parameters")))
        names.update(_pattern_names(scope.child_by_field_name("parameter")))
        own = scope.child_by_field_name("name")
        if own is not None and kind in ("function_expression", "generator_function"):
            names.add(_text(own))
        body = scope.child_by_field_name("body")
        if body is not None and body.type == "statement_block" and not in_parameters:
            names |= _var_names(body)
        return names
    if kind in _CLASSES:
        own = scope.child_by_field_name("name")
        return {_text(own)} if own is not None else set()
    if kind == "class_static_block":
        return _var_names(scope)
    if kind == "statement_block":
        return _lexical_names(scope.named_children)
    if kind == "switch_body":
        return _lexical_names(
            [statement for case in scope.named_children for statement in case.named_children]
        )
    if kind == "for_statement":
        initializer = scope.child_by_field_name("initializer")
        return _lexical_names([initializer]) if initializer is not None else set()
    if kind == "for_in_statement":
        if _kind_of(scope) in ("let", "const"):
            return set(_pattern_names(scope.child_by_field_name("left")))
        return set()
    if kind == "catch_clause":
        return set(_pattern_names(scope.child_by_field_name("parameter")))
    return set()


def _is_assignment_target(node: tree_sitter.Node) -> bool:
    if node.type == "shorthand_property_identifier_pattern":
        return True
    parent = node.parent
    if parent is None:
        return False
    kind = parent.type
    if kind in ("assignment_expression", "augmented_assignment_expression", "for_in_statement"):
        return parent.child_by_field_name("left") == node
    if kind in ("assignment_pattern", "object_assignment_pattern"):
        return parent.child_by_field_name("left") == node
    if kind == "pair_pattern":
        return parent.child_by_field_name("value") == node
    return kind == "update_expression" or kind in _PATTERN_TARGETS


def _words(source: bytes) -> set[str]:
    return {word.decode("utf-8", "replace") for word in set(_WORD.findall(source))}


def _occurrences(module: _JsModule, names: Iterable[str]) -> dict[str, list[tree_sitter.Node]]:
    """The identifier nodes spelling these names, found by text first (cheaper than visiting the tree)."""
    alternatives = b"|".join(re.escape(name.encode("utf-8")) for name in sorted(names, key=len, reverse=True))
    pattern = re.compile(rb"(?<![\w$\x80-\xff])(?:" + alternatives + rb")(?![\w$\x80-\xff])")
    found: dict[str, list[tree_sitter.Node]] = {}
    for match in pattern.finditer(module.lines.source):
        node = module.root.descendant_for_byte_range(match.start(), match.end())
        # Text in strings, comments and property names lands on other nodes.
        if node is not None and node.type in _NAME_NODES and (node.start_byte, node.end_byte) == match.span():
            found.setdefault(match[0].decode("utf-8"), []).append(node)
    return found


def _maybe_binding(node: tree_sitter.Node) -> bool:
    """Whether this name might declare a binding (conservative: assignment targets count too)."""
    if node.type == "shorthand_property_identifier_pattern":
        return True
    parent = node.parent
    if parent is None:
        return False
    if parent.type in _MAYBE_BINDING_PARENTS:
        return True
    field = _BINDING_FIELDS.get(parent.type)
    return field is not None and parent.child_by_field_name(field) == node


def _rewrite_references(module: _JsModule) -> None:
    if not module.imports:
        return
    scopes = _Scopes()
    for name, nodes in _occurrences(module, module.imports).items():
        imported = module.imports[name]
        # Scope analysis only for names that some inner scope may declare again.
        shadowable = any(_maybe_binding(node) for node in nodes)
        for node in nodes:
            parent = node.parent
            if parent is not None and parent.type in _IMPORT_SYNTAX:
                continue
            if shadowable and not scopes.refers_to_module(node, name):
                continue
            if _is_assignment_target(node):
                raise module.error(node, f"TypeError: assignment to the imported binding {name!r}")
            module.edits.append(_Edit(node.start_byte, node.end_byte, _reference(module, node, imported)))


def _reference(module: _JsModule, node: tree_sitter.Node, imported: _Import) -> str:
    namespace = _namespace_param(module.deps.index(imported.target))
    read = namespace if imported.name is None else namespace + _member(imported.name)
    if node.type == "shorthand_property_identifier":
        return f"{_text(node)}: {read}"
    parent = node.parent
    is_callee = (
        parent is not None
        and parent.type == "call_expression"
        and parent.child_by_field_name("function") == node
    )
    if imported.name is not None and is_callee:
        return f"(0, {read})"  # an imported function is called with `this` undefined
    return read


def _at_top_level(node: tree_sitter.Node) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.type in _FUNCTIONS or parent.type in ("class_static_block", "class_body"):
            return False
        parent = parent.parent
    return True


def _keywords(module: _JsModule, word: str) -> Iterator[tree_sitter.Node]:
    """The tokens of a keyword, found by text first (cheaper than visiting the tree)."""
    pattern = re.compile(rb"(?<![\w$\x80-\xff])" + word.encode() + rb"(?![\w$\x80-\xff])")
    for match in pattern.finditer(module.lines.source):
        node = module.root.descendant_for_byte_range(match.start(), match.end())
        if node is not None and node.type == word and (node.start_byte, node.end_byte) == match.span():
            yield node


def _rewrite_dynamic_import(module: _JsModule, token: tree_sitter.Node, resolver: _Resolver) -> None:
    """`import(x)` becomes z0's import function; a literal specifier is checked now."""
    module.edits.append(_Edit(token.start_byte, token.end_byte, _IMPORT))
    call = token.parent.parent if token.parent is not None else None
    arguments = call.child_by_field_name("arguments") if call is not None else None
    first = arguments.named_children[0] if arguments is not None and arguments.named_children else None
    if first is None:
        return
    if first.type == "string" or (first.type == "template_string" and "${" not in _text(first)):
        resolver.resolve(module.name, _string_value(first), module.lines.line(first.start_byte))


# Names inside the output, before the prefix is chosen (see _Emitter.prefix).
_REGISTER = "\0e"
_IMPORT = "\0i"
_META = "\0u"


def _namespace_param(index: int) -> str:
    return f"\0m{index}"


# ---------------------------------------------------------------------------------------------
# The module graph: ESM export resolution, done once at link time


@dataclass(frozen=True, slots=True)
class _Binding:
    module: str
    name: str | None  # a local binding, or None: the module's namespace


_AMBIGUOUS = _Binding("", "\0ambiguous")


class _Graph:
    def __init__(self, parsed: Mapping[str, _JsModule]) -> None:
        self.parsed = parsed

    def resolve(self, module: str, name: str, seen: set[tuple[str, str]] | None = None) -> _Binding | None:
        """ResolveExport of the ECMAScript spec."""
        seen = set() if seen is None else seen
        if (module, name) in seen:
            return None
        seen.add((module, name))
        record = self.parsed.get(module)
        if record is None:
            return _Binding(module, "default") if name == "default" else None
        if name in record.local_exports:
            return _Binding(module, record.local_exports[name])
        indirect = record.indirect_exports.get(name)
        if indirect is not None:
            if indirect.name is None:
                return _Binding(indirect.target, None)
            return self.resolve(indirect.target, indirect.name, seen)
        if name == "default":
            return None
        found: _Binding | None = None
        for star in record.star_exports:
            resolution = self.resolve(star.target, name, seen)
            if resolution is _AMBIGUOUS:
                return _AMBIGUOUS
            if resolution is not None:
                if found is not None and found != resolution:
                    return _AMBIGUOUS
                found = resolution
        return found

    def exported_names(self, module: str, visited: set[str] | None = None) -> list[str]:
        visited = set() if visited is None else visited
        if module in visited:
            return []
        visited.add(module)
        record = self.parsed.get(module)
        if record is None:
            return ["default"]
        names = [*record.local_exports, *record.indirect_exports]
        for star in record.star_exports:
            for name in self.exported_names(star.target, visited):
                if name != "default" and name not in names:
                    names.append(name)
        return names

    def star_source(self, module: str, name: str) -> str:
        """The `export *` dependency that provides `name` (unambiguous by the time this is asked)."""
        for star in self.parsed[module].star_exports:
            if self.resolve(star.target, name) not in (None, _AMBIGUOUS):
                return star.target
        raise AssertionError(f"{name!r} is not exported by a star export of {module!r}")

    def namespace(self, module: str) -> list[str]:
        names = [
            name
            for name in self.exported_names(module)
            if self.resolve(module, name) not in (None, _AMBIGUOUS)
        ]
        return sorted(names, key=_utf16_order)

    def check_imports(self) -> None:
        for record in self.parsed.values():
            wanted = [*record.imports.values(), *record.indirect_exports.values()]
            for imported in wanted:
                if imported.name is None:
                    continue
                resolution = self.resolve(imported.target, imported.name)
                if resolution is None or resolution is _AMBIGUOUS:
                    problem = "an ambiguous export" if resolution is _AMBIGUOUS else "no export"
                    raise InvalidModule(
                        f"{record.name}:{imported.line}: SyntaxError: the module {imported.specifier!r} "
                        f"({imported.target}) has {problem} named {imported.name!r}"
                    )


# ---------------------------------------------------------------------------------------------
# Output

# Generated text names z0's bindings with a "\0" placeholder, filled with the prefix at the end.


def _fill(text: str, prefix: str) -> str:
    return text.replace("\0", prefix)


def _choose_prefix(identifiers: frozenset[str]) -> str:
    """A prefix for z0's names in the output that no name in the tenant's code starts with."""
    prefix = "__z0_"
    while any(name.startswith(prefix) for name in identifiers):
        prefix = prefix[:-1] + "x_"
    return prefix


def _count_lines(text: str) -> int:
    return text.count("\n") + 1


class _Emitter:
    def __init__(
        self,
        parsed: Mapping[str, _JsModule],
        graph: _Graph,
        by_name: Mapping[str, Module],
        kinds: Mapping[str, ModuleKind],
        main: str,
    ) -> None:
        self.parsed = parsed
        self.graph = graph
        self.by_name = by_name
        self.kinds = kinds
        self.main = main
        self.identifiers: frozenset[str] = frozenset().union(
            *(module.identifiers for module in parsed.values())
        )
        self.prefix = _choose_prefix(self.identifiers)

    def emit(self) -> LinkedScript:
        p = self.prefix
        out = [f'(function ({p}link) {{ "use strict"; const {p}F = [']
        line = 2
        spans: list[ModuleSpan] = []
        for index, module in enumerate(self.parsed.values()):
            text, shifts = _apply(module, p)
            opener = _fill(self._opener(module), p)
            spans.append(ModuleSpan(module.name, line, _count_lines(text), len(opener), shifts))
            closer = "}]" if index == len(self.parsed) - 1 else "},"
            out += [opener + text, closer]
            line += spans[-1].line_count + 1
        table = ", ".join(map(_table_entry, spans))
        out.append(f"; {p}link.start({self._defs()}, {_js_string(self.main)}, [{table}]);")
        out.append("})")
        return LinkedScript("\n".join(out), "modules", self.main, tuple(spans), self.identifiers)

    def _opener(self, module: _JsModule) -> str:
        """The factory's head, on the module's first line: it registers the export getters, then
        pauses until modules.js evaluates the module."""
        params = [_REGISTER, _IMPORT, _META, *(_namespace_param(i) for i in range(len(module.deps)))]
        getters = ", ".join(
            f"{_js_key(name)}: () => {self._getter(module, name)}"
            for name in self.graph.namespace(module.name)
        )
        name_fix = f", {_DEFAULT_LOCAL}" if module.default_function else ""
        kind = "async function*" if module.is_async else "function*"
        return f"{kind} ({', '.join(params)}) {{ {_REGISTER}({{{getters}}}{name_fix}); yield; "

    def _getter(self, module: _JsModule, name: str) -> str:
        local = module.local_exports.get(name)
        if local is not None:
            return local
        indirect = module.indirect_exports.get(name)
        if indirect is not None:
            target, imported = indirect.target, indirect.name
        else:
            target, imported = self.graph.star_source(module.name, name), name
        namespace = _namespace_param(module.deps.index(target))
        return namespace if imported is None else namespace + _member(imported)

    def _defs(self) -> str:
        entries = []
        for name, kind in self.kinds.items():
            if kind is ModuleKind.ES_MODULE:
                module = self.parsed[name]
                deps = ", ".join(_js_string(dep) for dep in module.deps)
                factory = f"{self.prefix}F[{list(self.parsed).index(name)}]"
                flag = ", async: 1" if module.is_async else ""
                entries.append(f'{_js_key(name)}: {{kind: "esm", deps: [{deps}], factory: {factory}{flag}}}')
            elif kind is ModuleKind.TEXT:
                value = _js_string(decode_source(name, self.by_name[name].content))
                entries.append(f'{_js_key(name)}: {{kind: "text", value: {value}}}')
            elif kind is ModuleKind.DATA:
                value = self.by_name[name].content.decode("latin-1").translate(_DATA_ESCAPES)
                entries.append(f'{_js_key(name)}: {{kind: "data", value: "{value}"}}')
        return "{" + ", ".join(entries) + "}"


def _table_entry(span: ModuleSpan) -> str:
    """A module's entry in the line table that js/modules.js maps stack frames with."""
    shifts = ", ".join(
        f'{line}: "{" ".join(f"{s.out_start} {s.out_end} {s.in_start} {s.delta}" for s in items)}"'
        for line, items in span.shifts.items()
    )
    return (
        f"{span.first_line}, {_js_string(span.module)}, {span.first_column}, {span.line_count}, {{{shifts}}}"
    )


def _apply(module: _JsModule, prefix: str) -> tuple[str, dict[int, tuple[Shift, ...]]]:
    """The module's rewritten text and, per line, the column shifts its rewrites made."""
    source = module.lines.source
    pieces: list[bytes] = []
    shifts: dict[int, list[Shift]] = {}
    position = 0
    for edit in sorted(module.edits, key=lambda e: (e.start, e.end)):
        if edit.start < position:
            raise AssertionError(f"overlapping rewrites in {module.name} at byte {edit.start}")
        text = _fill(edit.text, prefix).encode("utf-8")
        original = source[edit.start : edit.end]
        breaks = original.count(b"\n")
        pieces += [source[position : edit.start], text]
        if breaks:
            # Rewrites keep the module's lines: the line breaks they replaced go after them.
            pieces.append(b"\n" * (breaks - text.count(b"\n")))
        position = edit.end
        if not breaks:
            _record_shift(
                module, shifts, edit.start, len(original.decode("utf-8")), len(text.decode("utf-8"))
            )
    pieces.append(source[position:])
    return b"".join(pieces).decode("utf-8"), {line: tuple(items) for line, items in shifts.items()}


def _record_shift(
    module: _JsModule, shifts: dict[int, list[Shift]], start: int, width: int, length: int
) -> None:
    if length == width:
        return
    on_line = shifts.setdefault(module.lines.line(start), [])
    before = on_line[-1].delta if on_line else 0
    column = module.lines.column(start)
    on_line.append(Shift(column + before, column + before + length, column, before + length - width))


# ---------------------------------------------------------------------------------------------
# Service-worker scripts: one classic script, not strict, nothing to link


def _link_service_worker(module: Module) -> LinkedScript:
    source, root = _parse(module.name, module.content)
    lines = _Lines(source)
    if root.has_error:
        line = lines.line(first_error(root).start_byte)
        raise InvalidModule(f"{module.name}:{line}: SyntaxError: the script does not parse")
    identifiers = frozenset(_words(source))
    prefix = _choose_prefix(identifiers)
    text = source.decode("utf-8")
    if text.startswith("#!"):
        text = "//" + text[2:]
    opener = f"(function ({prefix}link) {{ "
    out = f"{opener}{text}\n{prefix}link.serviceWorker();\n}})"
    span = ModuleSpan(module.name, 1, _count_lines(text), len(opener))
    return LinkedScript(out, "service-worker", module.name, (span,), identifiers)
