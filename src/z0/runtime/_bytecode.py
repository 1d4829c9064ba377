"""QuickJS bytecode for z0's own prelude: compiled once per executor, read into every new isolate.

Evaluating the Workers API prelude from source is mostly parsing (measured: 5.8 of 7.1 ms for the
95 KB prelude of a Workers API hello world); reading the same code as bytecode takes ~0.7 ms, and
bytecode written without the source text leaves each isolate ~100 KB smaller (QuickJS otherwise
keeps every function's source for `Function.prototype.toString`).

The `quickjs-ng` binding has no bytecode API, but its extension module exports QuickJS's C API
(`JS_Eval`, `JS_WriteObject`, `JS_ReadObject`, `JS_EvalFunction`), so this module calls them through
ctypes with the `JSContext *` of a `quickjs.Context`. That pointer sits right after the object's
header in the binding's struct (`PyObject_HEAD; JSRuntime *runtime; JSContext *context; ...`); the
layout is checked on every use (`JS_GetRuntime(context)` must be the runtime beside it), and where
the check fails, `available()` is False and callers evaluate source as before.

Only bytecode that this process compiled from z0's own files is ever read: QuickJS does not
validate bytecode, so bytes from anywhere else (a tenant, a file) must never reach `JS_ReadObject`.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from typing import Any

import _quickjs
import quickjs

__all__ = ["BytecodeError", "available", "compile_script", "run_script"]

_EVAL_TYPE_GLOBAL = 0
_EVAL_FLAG_COMPILE_ONLY = 1 << 5
_WRITE_OBJ_BYTECODE = 1 << 0
_WRITE_OBJ_STRIP_SOURCE = 1 << 4  # line numbers stay: stack traces still name z0's frames
_READ_OBJ_BYTECODE = 1 << 0
_TAG_EXCEPTION = 6
# The file name the binding gives evaluated code: stack traces of the prelude read the same either way.
FILENAME = b"<input>"


class BytecodeError(Exception):
    """QuickJS refused to compile, write, read or run the code (the caller falls back to source)."""


class _JSValue(ctypes.Structure):
    # JSValue on 64-bit builds without NaN-boxing: a 64-bit union and a 64-bit tag; passed and
    # returned in two integer registers, as two uint64s are.
    _fields_ = (("u", ctypes.c_uint64), ("tag", ctypes.c_int64))


@functools.cache
def _library() -> ctypes.CDLL | None:
    if sys.maxsize <= 2**32:
        return None
    try:
        lib = ctypes.CDLL(_quickjs.__file__)
        signatures: dict[str, tuple[Any, list[Any]]] = {
            "JS_GetRuntime": (ctypes.c_void_p, [ctypes.c_void_p]),
            "JS_Eval": (
                _JSValue,
                [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_int],
            ),
            "JS_WriteObject": (
                ctypes.c_void_p,
                [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t), _JSValue, ctypes.c_int],
            ),
            "JS_ReadObject": (_JSValue, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]),
            "JS_EvalFunction": (_JSValue, [ctypes.c_void_p, _JSValue]),
            "JS_GetException": (_JSValue, [ctypes.c_void_p]),
            "JS_FreeValue": (None, [ctypes.c_void_p, _JSValue]),
            "js_free": (None, [ctypes.c_void_p, ctypes.c_void_p]),
        }
        for name, (restype, argtypes) in signatures.items():
            function = getattr(lib, name)
            function.restype = restype
            function.argtypes = argtypes
    except (OSError, AttributeError):
        return None
    return lib


def _handles(ctx: quickjs.Context) -> tuple[ctypes.CDLL, int]:
    """The library and the context's `JSContext *`; BytecodeError where this binding does not fit."""
    lib = _library()
    context = _context_pointer(ctx)
    if lib is None or context is None:
        raise BytecodeError("this build of quickjs-ng does not expose its context")
    return lib, context


def _context_pointer(ctx: quickjs.Context) -> int | None:
    """The context's `JSContext *`, or None where the binding's layout is not the one this expects."""
    lib = _library()
    if lib is None or type(ctx) is not quickjs.Context:
        return None
    base = id(ctx) + object.__basicsize__  # past PyObject_HEAD
    runtime = ctypes.c_void_p.from_address(base).value
    context = ctypes.c_void_p.from_address(base + ctypes.sizeof(ctypes.c_void_p)).value
    if not runtime or not context or lib.JS_GetRuntime(context) != runtime:
        return None
    return context


@functools.cache
def available() -> bool:
    """Whether bytecode works with this build of the binding (checked once, on a throwaway context)."""
    try:
        data = compile_script("globalThis.__z0_probe = [1, 2].map((x) => x * 2).join();")
        ctx = quickjs.Context()
        run_script(ctx, data)
        return bool(ctx.get("__z0_probe") == "2,4")
    except BytecodeError:
        return False


def compile_script(source: str) -> bytes:
    """Bytecode of a global script (without its source text), compiled in a throwaway context."""
    ctx = quickjs.Context()
    lib, context = _handles(ctx)
    encoded = source.encode("utf-8")
    compiled = lib.JS_Eval(
        context, encoded, len(encoded), FILENAME, _EVAL_TYPE_GLOBAL | _EVAL_FLAG_COMPILE_ONLY
    )
    _check(lib, context, compiled, "compile")
    try:
        size = ctypes.c_size_t()
        buffer = lib.JS_WriteObject(
            context, ctypes.byref(size), compiled, _WRITE_OBJ_BYTECODE | _WRITE_OBJ_STRIP_SOURCE
        )
        if not buffer:
            raise BytecodeError("QuickJS could not write the compiled script")
        try:
            return ctypes.string_at(buffer, size.value)
        finally:
            lib.js_free(context, buffer)
    finally:
        lib.JS_FreeValue(context, compiled)
        del ctx


def run_script(ctx: quickjs.Context, bytecode: bytes) -> None:
    """Runs bytecode from `compile_script` in this context; its completion value is dropped (a script
    hands back what it makes through a global the caller reads and deletes)."""
    lib, context = _handles(ctx)
    function = lib.JS_ReadObject(context, bytecode, len(bytecode), _READ_OBJ_BYTECODE)
    _check(lib, context, function, "read")
    result = lib.JS_EvalFunction(context, function)  # takes the function's reference
    _check(lib, context, result, "run")
    lib.JS_FreeValue(context, result)


def _check(lib: ctypes.CDLL, context: int, value: _JSValue, step: str) -> None:
    if value.tag == _TAG_EXCEPTION:
        lib.JS_FreeValue(context, lib.JS_GetException(context))
        raise BytecodeError(f"QuickJS could not {step} the script")
