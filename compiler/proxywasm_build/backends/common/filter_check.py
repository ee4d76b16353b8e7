"""Check a filter's source before building it, and name what it imports directly.

Every backend refuses the same mistakes with one sentence each: a syntax error (file:line), an
import the Proxy-Wasm sandbox cannot run, a filter that registers no context for Envoy to run.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from proxywasm.testing import sandbox

from proxywasm_build.backends.common.filter_source import FilterSource
from proxywasm_build.errors import UserError


@dataclass
class _ParsedFile:
    path: Path
    tree: ast.Module


def _parse_file(path: Path) -> _ParsedFile:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text.") from None
    try:
        return _ParsedFile(path, ast.parse(text, filename=str(path)))
    except SyntaxError as err:
        raise UserError(f"{path}:{err.lineno}: syntax error: {err.msg}.") from None


#: Registrations that give Envoy something to run (the SDK supplies a plain root context when
#: only an HTTP or stream factory is registered).
_REGISTRATIONS = ("set_root_context", "set_http_context", "set_stream_context")


def _registers_a_context(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in _REGISTRATIONS:
                return True
    return False


def check_filter(filter_source: FilterSource) -> set[str]:
    """Syntax, what the sandbox refuses (`proxywasm.testing.sandbox`, the emulator's own checks:
    imports, C extensions, hostcalls at import, registrations) and a registered context;
    returns the names the filter's files import directly."""
    parsed = [_parse_file(p) for p in filter_source.files]
    direct = {name for item in parsed for name, _ in sandbox.imported_names(item.tree)}
    try:
        sandbox.check_sources(filter_source.files, filter_source.root)
        if not any(_registers_a_context(item.tree) for item in parsed):
            main = filter_source.files[0]
            raise UserError(f"{main} never calls proxywasm.set_root_context(...), so Envoy would have "
                            f"no root context to run.")
        package = filter_source.root / filter_source.module
        sandbox.check_import(package if package.is_dir() else package.with_suffix(".py"))
    except sandbox.FilterRefused as refused:
        raise UserError(str(refused)) from None
    return direct
