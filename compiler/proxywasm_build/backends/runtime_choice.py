"""Which runtime embeds a Python filter: MicroPython when it can, CPython otherwise.

`auto` picks MicroPython (a module about 1/15 the size, faster to start, lighter in every sidecar)
when every module the filter's own files import is one the MicroPython runtime provides, its
compiler accepts every file, and no file uses a language feature MicroPython lacks; otherwise
CPython, which runs any pure-Python filter. Either way the build says which and why in one line.
`--runtime micropython` turns the first reason against it into an error naming file:line.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from proxywasm.testing import sandbox

from proxywasm_build.backends.common.filter_source import FilterSource, resolve_filter_source
from proxywasm_build.errors import UserError

RUNTIMES = ("auto", "micropython", "cpython")

#: Class-level hooks MicroPython 1.19 never calls: a filter relying on one would build and then
#: misbehave, so it goes to CPython instead.
_UNSUPPORTED_HOOKS = {
    "__init_subclass__": "class hook __init_subclass__",
    "__class_getitem__": "class hook __class_getitem__",
    "__set_name__": "descriptor hook __set_name__",
    "__slots__": "__slots__",
}


@dataclass(frozen=True)
class Obstacle:
    """Why a file cannot run on MicroPython: where, and what."""

    path: Path
    line: int
    what: str      # e.g. "imports `re`, which the micropython runtime lacks"

    def located(self, root: Path) -> str:
        return f"{_shown(self.path, root)}:{self.line} {self.what}"


@dataclass(frozen=True)
class RuntimeChoice:
    runtime: str
    reason: str

    def line(self) -> str:
        """The one line the build prints, e.g. `micropython: every import is provided (json)`."""
        return f"{self.runtime}: {self.reason}"


def choose_runtime(source: Path, requested: str = "auto") -> RuntimeChoice:
    """The runtime to build `source` with; `requested` is auto, micropython or cpython.

    Raises UserError for an unknown runtime, or for `micropython` when the filter cannot run
    on it (the sentence names file:line and the module or feature).
    """
    if requested not in RUNTIMES:
        raise UserError(f"unknown runtime {requested!r}; choose one of: {', '.join(RUNTIMES)}.")
    if requested == "cpython":
        return RuntimeChoice("cpython", "asked for with --runtime cpython")
    filter_source = resolve_filter_source(source)
    obstacle = first_obstacle(filter_source)
    if obstacle is None:
        return RuntimeChoice("micropython", _fits_reason(filter_source))
    located = obstacle.located(filter_source.root)
    if requested == "micropython":
        raise UserError(f"{located}, so the filter cannot be built for the micropython runtime "
                        f"(build it with --runtime cpython).")
    return RuntimeChoice("cpython", located)


def first_obstacle(filter_source: FilterSource) -> Obstacle | None:
    """The first thing in the filter's files that MicroPython cannot run, or None."""
    from proxywasm_build.backends import micropython

    available, local = micropython.available_modules(), _local_modules(filter_source)
    for path in filter_source.files:
        obstacle = _file_obstacle(path, filter_source, available, local)
        if obstacle is not None:
            return obstacle
    return None


def _file_obstacle(path: Path, filter_source: FilterSource, available: set[str],
                   local: set[str]) -> Obstacle | None:
    from proxywasm_build.backends import micropython

    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError):
        return None  # the build's own check reports it with the same words on either runtime
    for name, line in sorted(sandbox.imported_names(tree), key=lambda item: item[1]):
        if _is_provided(name, available, local):
            continue
        if "." in name and _is_provided(name.rpartition(".")[0], available, local):
            continue  # `from json import dumps` also yields `json.dumps`: a name, not a module
        return Obstacle(path, line, f"imports `{name}`, which the micropython runtime lacks")
    missing = _first_missing_name(tree, available, local)
    if missing is not None:
        line, module, name = missing
        return Obstacle(path, line, f"uses `{module}.{name}`, which the micropython runtime's "
                                    f"`{module}` lacks")
    feature = _unsupported_feature(tree)
    if feature is not None:
        return Obstacle(path, feature[0], f"uses {feature[1]}, which MicroPython does not support")
    try:
        micropython.compile_check(path, _shown(path, filter_source.root))
    except UserError as rejected:
        line = _line_of(str(rejected))
        return Obstacle(path, line, _message_of(str(rejected)))
    return None


def _first_missing_name(tree: ast.Module, available: set[str],
                        local: set[str]) -> tuple[int, str, str] | None:
    """The first `from M import n`, or `M.n` on an imported module M, that names something the
    runtime's M does not have: (line, M, n). The SDK and the filter's own modules are not
    checked (CPython would fail the same way)."""
    names = runtime_module_names()
    for line, module, name in sorted(_names_taken(tree, available, local)):
        known = names.get(module)
        if known is not None and name not in known:
            return line, module, name
    return None


def _names_taken(tree: ast.Module, available: set[str], local: set[str]) -> list[tuple[int, str, str]]:
    """(line, module, name) for each name the file takes from a runtime module that is not
    itself a module the runtime provides (`from urllib import parse` is a module)."""
    def checked(module: str) -> bool:
        return module in available and module.partition(".")[0] not in local | {"proxywasm"}

    taken: list[tuple[int, str, str]] = []
    aliases: dict[str, str] = {}   # the name a module is bound to -> the module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and checked(node.module):
            taken += [(node.lineno, node.module, alias.name) for alias in node.names
                      if alias.name != "*" and f"{node.module}.{alias.name}" not in available]
        elif isinstance(node, ast.Import):
            aliases.update({alias.asname or alias.name: alias.name for alias in node.names if checked(alias.name)})
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            module = aliases.get(_dotted(node.value) or "")
            if module is not None and f"{module}.{node.attr}" not in available:
                taken.append((node.lineno, module, node.attr))
    return taken


def _dotted(node: ast.expr) -> str | None:
    """`a.b.c` for a chain of attribute accesses on a name, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def runtime_module_names() -> dict[str, set[str]]:
    """What each module the MicroPython runtime provides defines (`dir()` of it in the dev
    interpreter, which runs the same core and stdlib), cached per runtime build."""
    import hashlib
    import json

    from proxywasm_build import cache
    from proxywasm_build.backends import micropython
    from proxywasm_build.backends.micropython.interpreter import interpreter_path, lib_dir, run_micropython

    modules = sorted(name for name in micropython.available_modules()
                     if name != "proxywasm" and not name.startswith("proxywasm."))
    digest = hashlib.sha256(str(interpreter_path()).encode() + "\0".join(modules).encode())
    for path in sorted(lib_dir().rglob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    cached = cache.cache_dir() / "micropython-names" / f"{digest.hexdigest()[:24]}.json"
    if cached.exists():
        return {k: set(v) for k, v in json.loads(cached.read_text()).items()}
    script = ("import sys\nout = {}\nfor name in %r:\n"
              "    try:\n        __import__(name)\n        out[name] = dir(sys.modules[name])\n"
              "    except Exception:\n        pass\nimport json\nprint(json.dumps(out))\n" % modules)
    result = run_micropython(script)
    if result.returncode != 0:
        raise UserError(f"listing the micropython runtime's modules failed: "
                        f"{(result.stderr.strip().splitlines() or ['no output'])[-1]}")
    found = json.loads(result.stdout)
    cache.atomic_write(cached, json.dumps(found).encode())
    return {k: set(v) for k, v in found.items()}


def _is_provided(name: str, available: set[str], local: set[str]) -> bool:
    top = name.partition(".")[0]
    return name in available or top in local or name in local


def _local_modules(filter_source: FilterSource) -> set[str]:
    """Top-level names the filter's own files (and, for a single file, its neighbours) make
    importable: they are frozen with it."""
    names = {filter_source.module}
    root = filter_source.root
    for path in [*filter_source.files, *root.glob("*.py")]:
        resolved, top = path.resolve(), root.resolve()
        relative = resolved.relative_to(top) if resolved.is_relative_to(top) else Path(path.name)
        names.add(relative.parts[0].removesuffix(".py"))
    names.update(p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    return names


def _unsupported_feature(tree: ast.Module) -> tuple[int, str] | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            if any(keyword.arg == "metaclass" for keyword in node.keywords):
                return node.lineno, "a metaclass"
            for item in node.body:
                names = _defined_names(item)
                for name in names:
                    if name in _UNSUPPORTED_HOOKS:
                        return item.lineno, _UNSUPPORTED_HOOKS[name]
    return None


def _defined_names(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _fits_reason(filter_source: FilterSource) -> str:
    imported: set[str] = set()
    local = _local_modules(filter_source)
    for path in filter_source.files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue  # the backend's own check reports it in one sentence
        imported |= {name.partition(".")[0] for name, _line in sandbox.imported_names(tree)}
    outside = sorted(imported - local - {"proxywasm"})
    if not outside:
        return "the filter imports only the proxywasm SDK"
    return f"every import is provided ({', '.join(outside)})"


def _shown(path: Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


def _line_of(sentence: str) -> int:
    """The line number in a compile_check sentence `file.py:3: ...`, 1 when it has none."""
    parts = sentence.split(":")
    return int(parts[1]) if len(parts) > 2 and parts[1].strip().isdigit() else 1


def _message_of(sentence: str) -> str:
    parts = sentence.split(":", 2)
    message = parts[2] if len(parts) > 2 and parts[1].strip().isdigit() else sentence
    return message.strip().rstrip(".")
