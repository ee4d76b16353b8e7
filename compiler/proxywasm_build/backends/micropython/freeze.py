"""Freeze Python modules into C for the filter runtime: .py -> .mpy (mpy-cross) -> C (mpy-tool.py).

The frozen names are paths relative to each import root ("filter.py", "proxywasm/context.py",
"json.py"), which MicroPython's importer finds under sys.path's ".frozen" entry, and which
tracebacks show. The generated C also holds the qstrs the frozen code adds to the core's
(the `mp_qstr_frozen_const_pool` the runtime's config names).
"""

from __future__ import annotations

import ast
import hashlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from proxywasm_build.backends.micropython.mpycross import compile_to_mpy
from proxywasm_build.backends.micropython.sources import patched_source_dir
from proxywasm_build.cache import atomic_write, cache_dir
from proxywasm_build.errors import UserError


@dataclass(frozen=True)
class FrozenFile:
    name: str      # the path relative to its import root, e.g. "proxywasm/context.py"
    path: Path


def package_files(root: Path, package_dir: Path, skip: tuple[str, ...] = ()) -> list[FrozenFile]:
    """Every .py under `package_dir`, named relative to `root`, except subpackages in `skip`."""
    files = []
    for path in sorted(package_dir.rglob("*.py")):
        relative = path.relative_to(root)
        if "__pycache__" in relative.parts or any(part in skip for part in relative.parts[:-1]):
            continue
        files.append(FrozenFile(relative.as_posix(), path))
    return files


def module_name(frozen: FrozenFile) -> str:
    """The import name of a frozen file ("proxywasm/__init__.py" -> "proxywasm")."""
    parts = frozen.name[:-3].split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def frozen_c(files: list[FrozenFile], qstr_header: Path) -> Path:
    """The C file freezing `files` against the core whose qstrs are in `qstr_header` (cached)."""
    mpys = [compile_to_mpy(f.path, f.name) for f in files]
    digest = hashlib.sha256(qstr_header.read_bytes())
    for mpy in mpys:
        digest.update(mpy.name.encode())
    output = cache_dir() / "micropython-frozen" / f"{digest.hexdigest()[:24]}.c"
    if output.exists():
        return output
    tool = patched_source_dir() / "tools" / "mpy-tool.py"
    proc = subprocess.run([sys.executable, str(tool), "-f", "-q", str(qstr_header), "-mlongint-impl=mpz",
                           *map(str, mpys)], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"mpy-tool.py could not freeze the modules: {tail}")
    atomic_write(output, proc.stdout.encode())
    return output


def _on_micropython(test: ast.expr) -> bool | None:
    """True/False when an `if` test says "on MicroPython" / "not on MicroPython", else None:
    `_MICROPYTHON`-style flags and `sys.implementation.name == "micropython"`."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = _on_micropython(test.operand)
        return None if inner is None else not inner
    if isinstance(test, ast.Name) and test.id.lstrip("_") == "MICROPYTHON":
        return True
    if (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Eq, ast.NotEq))
            and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value == "micropython"
            and ast.unparse(test.left) == "sys.implementation.name"):
        return isinstance(test.ops[0], ast.Eq)
    return None


class _ImportCollector(ast.NodeVisitor):
    """Module names imported anywhere, except in branches MicroPython never runs."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.names: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        branch = _on_micropython(node.test)
        if branch is None:
            self.generic_visit(node)
            return
        for statement in node.body if branch else node.orelse:
            self.visit(statement)

    def visit_Import(self, node: ast.Import) -> None:
        self.names.update(alias.name for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            parts = self.package.split(".") if self.package else []
            parts = parts[:len(parts) - (node.level - 1)] if node.level > 1 else parts
            base = ".".join([*parts, *([base] if base else [])])
        self.names.add(base)
        self.names.update(f"{base}.{alias.name}" for alias in node.names)


def _imported_names(frozen: FrozenFile) -> set[str]:
    """Absolute module names `frozen` imports (nested imports too), with their parents."""
    try:
        tree = ast.parse(frozen.path.read_bytes(), filename=frozen.name)
    except SyntaxError:
        return set()   # mpy-cross reports it with the file's name
    name = module_name(frozen)
    collector = _ImportCollector(name if frozen.name.endswith("__init__.py") else name.rpartition(".")[0])
    collector.visit(tree)
    with_parents = set()
    for imported in collector.names:
        parts = imported.split(".")
        with_parents.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return with_parents


def import_closure(roots: list[FrozenFile], optional: list[FrozenFile]) -> list[FrozenFile]:
    """`roots` and the files of `optional` they import, directly or through each other."""
    by_module = {module_name(f): f for f in optional}
    chosen: dict[str, FrozenFile] = {}
    pending = list(roots)
    while pending:
        for name in _imported_names(pending.pop()):
            found = by_module.get(name)
            if found is not None and name not in chosen:
                chosen[name] = found
                pending.append(found)
    return [*roots, *(f for f in optional if module_name(f) in chosen)]
