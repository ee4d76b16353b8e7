"""Freeze a filter's import closure into C for CPython.

Every module the filter, the SDK (`proxywasm`, without `proxywasm.testing`) and CPython's
start-up need is compiled by the host CPython 3.11 (whose marshal format matches the 3.11.8
inside the module) and emitted as a C array for `PyImport_FrozenModules`.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import marshal
import modulefinder
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import proxywasm

from proxywasm_build import cache
from proxywasm_build.backends.common import source_lines
from proxywasm_build.backends.common.filter_source import FilterSource
from proxywasm_build.errors import UserError
from proxywasm_build.backends.cpython.toolchain import TOOLCHAINS_DIR

SDK_DIR = Path(proxywasm.__file__).resolve().parent.parent
SDK_ROOTS = ("proxywasm", "proxywasm.dispatcher", "proxywasm._host")
#: importlib's bootstrap, frozen in `_PyImport_FrozenBootstrap` under the names CPython looks up
#: (our table replaces libpython's frozen.o and its 0.6 MB of deepfrozen modules): name -> source.
BOOTSTRAP = {
    "_frozen_importlib": "importlib._bootstrap",
    "_frozen_importlib_external": "importlib._bootstrap_external",
    "zipimport": "zipimport",
}
#: Never frozen under their own names: importlib/__init__ installs the bootstrap copies.
_SERVED_BY_BOOTSTRAP = frozenset({*BOOTSTRAP, *BOOTSTRAP.values()})


def load_manifest() -> dict:
    return json.loads((TOOLCHAINS_DIR / "stdlib.json").read_text())


@dataclass
class FrozenModule:
    name: str
    code: bytes          # marshalled code object
    is_package: bool
    group: str           # "stdlib" or "app": objects are cached per group


@dataclass
class FrozenSet:
    modules: list[FrozenModule] = field(default_factory=list)
    referenced: set[str] = field(default_factory=set)   # every module name the closure imports
    eager: set[str] = field(default_factory=set)        # ... at module level, or from app code
    left_out: list[str] = field(default_factory=list)   # heavy stdlib modules only imported lazily

    def names(self, group: str | None = None) -> list[str]:
        return [m.name for m in self.modules if group is None or m.group == group]

    def size(self, group: str | None = None) -> int:
        return sum(len(m.code) for m in self.modules if group is None or m.group == group)


def freeze_closure(filter_source: FilterSource, stdlib_dir: Path, direct_imports: set[str]) -> FrozenSet:
    """Compile the filter's import closure (filter, SDK, stdlib, start-up) to code objects."""
    if sys.version_info[:2] != (3, 11):
        raise UserError("building a CPython filter needs the host Python to be 3.11 "
                        "(its bytecode must match CPython 3.11 inside the module).")
    manifest = load_manifest()
    wanted = set(direct_imports)
    excludes = [name for name in manifest["never_freeze"]
                if not any(w == name or w.startswith(name + ".") for w in wanted)]
    excludes += ["proxywasm.testing", "_proxywasm_host"]
    site_dirs = _site_packages()
    roots = [filter_source.module, *SDK_ROOTS, *manifest["startup"]]
    search_path = [str(filter_source.root), str(SDK_DIR), str(stdlib_dir), *map(str, site_dirs)]
    filter_root = filter_source.root.resolve()
    sdk_root = (SDK_DIR / "proxywasm").resolve()
    stdlib_root = stdlib_dir.resolve()

    def classify(file: Path, name: str) -> tuple[str, str, int]:
        """(group, file name in tracebacks, optimize level); the most specific root wins."""
        if file.is_relative_to(sdk_root):
            return "app", str(file.relative_to(SDK_DIR)), 0
        if file.is_relative_to(stdlib_root):
            return "stdlib", f"<frozen {name}>", 2
        for site in site_dirs:  # pure-Python packages of the build interpreter
            if file.is_relative_to(site) and not file.is_relative_to(filter_root):
                return "site", str(file.relative_to(site)), 0
        return "app", str(file.relative_to(filter_root)), 0

    def is_app_module(module) -> bool:
        file = getattr(module, "__file__", None)
        return bool(file) and classify(Path(file).resolve(), module.__name__)[0] == "app"

    finder = _find(roots, search_path, excludes)
    # Heavy stdlib modules that only other stdlib modules import, inside functions (functools
    # -> typing, warnings -> traceback/linecache/tracemalloc, ...): left out unless something
    # imports them at module level or the filter or SDK imports them anywhere.
    eager = _eager_reach(finder, roots, is_app_module)
    lazy_only = [name for name in manifest["freeze_only_if_imported_eagerly"]
                 if name in finder.modules and name not in eager]
    if lazy_only:
        finder = _find(roots, search_path, excludes + lazy_only)

    frozen = FrozenSet(referenced=set(finder.modules) | set(finder.badmodules), left_out=lazy_only)
    for name, module in finder.modules.items():
        code = getattr(module, "__code__", None)
        file = getattr(module, "__file__", None)
        if code is None or not file:
            continue
        is_app = classify(Path(file).resolve(), name)[0] == "app"
        frozen.eager |= _imports_of(code, nested=is_app)
    for name in sorted(finder.modules):
        module = finder.modules[name]
        path = getattr(module, "__file__", None)
        if not path or not path.endswith(".py") or name in _SERVED_BY_BOOTSTRAP or name == "__main__":
            continue
        file = Path(path).resolve()
        source = file.read_bytes()
        group, filename, optimize = classify(file, name)
        code = _marshalled(source, filename, optimize, file)
        frozen.modules.append(FrozenModule(name, code, module.__path__ is not None, group))
    sources = source_lines.sources_module_text(filter_source).encode()
    code = _marshalled(sources, f"<frozen {source_lines.MODULE}>", 2, filter_root / source_lines.MODULE)
    frozen.modules.append(FrozenModule(source_lines.MODULE, code, False, "app"))
    for name, source_name in BOOTSTRAP.items():
        file = (stdlib_dir / (source_name.replace(".", "/") + ".py")).resolve()
        code = _marshalled(file.read_bytes(), f"<frozen {source_name}>", 2, file)
        frozen.modules.append(FrozenModule(name, code, False, "bootstrap"))
    return frozen


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


class _WithoutTypeCheckingBlocks(ast.NodeTransformer):
    """`if TYPE_CHECKING:` bodies never run, but their imports are in the bytecode, where the
    import-closure scan would find them (typing, datetime, ... for annotations only)."""

    def visit_If(self, node: ast.If):
        if _is_type_checking(node.test):
            return [self.visit(n) for n in node.orelse] or ast.Pass()
        return self.generic_visit(node)


def _parse_for_freezing(source: bytes | str, filename: str) -> ast.Module:
    tree = _WithoutTypeCheckingBlocks().visit(ast.parse(source, filename=filename))
    return ast.fix_missing_locations(tree)


@functools.lru_cache(maxsize=4096)
def _code_to_scan(text: str | bytes, pathname: str):
    """The code ModuleFinder scans for a source file's imports. Kept per process: a watcher
    rebuilding after each save finds the same stdlib again, and parsing it is most of a freeze."""
    return compile(_parse_for_freezing(text, pathname), pathname, "exec")


class _Finder(modulefinder.ModuleFinder):
    """ModuleFinder that scans the code the module will run, without TYPE_CHECKING blocks."""

    def load_module(self, fqname, fp, pathname, file_info):
        if file_info[2] != modulefinder._PY_SOURCE:
            return super().load_module(fqname, fp, pathname, file_info)
        # What ModuleFinder.load_module does for a source file, with the code from the cache.
        module = self.add_module(fqname)
        module.__file__ = pathname
        module.__code__ = _code_to_scan(fp.read(), pathname)
        self.scan_code(module.__code__, module)
        return module


def _find(roots: list[str], search_path: list[str], excludes: list[str]) -> "_Finder":
    finder = _Finder(path=search_path, excludes=excludes)
    for root in roots:
        try:
            finder.import_hook(root)
        except ImportError as err:
            raise UserError(f"cannot find module {root!r} for the filter: {err}.") from None
    return finder


def _eager_reach(finder: "_Finder", roots: list[str], is_app_module) -> set[str]:
    """Modules the roots reach through imports that run at import time (module level and
    class bodies), plus everything the filter's and the SDK's own code imports anywhere."""
    import dis

    modules = finder.modules
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in modules:
            continue
        seen.add(name)
        if "." in name:
            todo.append(name.rpartition(".")[0])
        module = modules[name]
        code = getattr(module, "__code__", None)
        if code is None:
            continue
        package = name if module.__path__ else name.rpartition(".")[0]
        for target, level, fromlist in _import_sites(code, nested=is_app_module(module), dis=dis):
            if level:
                base = package.rsplit(".", level - 1)[0] if level > 1 else package
                target = f"{base}.{target}" if target else base
            todo.append(target)
            todo.extend(f"{target}.{item}" for item in fromlist or () if item != "*")
    return seen


def _import_sites(code, *, nested: bool, dis):
    yield from dis._find_imports(code)
    for const in code.co_consts:
        if hasattr(const, "co_code") and (nested or const.co_flags & 0x2 == 0):
            yield from _import_sites(const, nested=nested, dis=dis)


def _site_packages() -> list[Path]:
    """The build interpreter's site-packages: pure-Python dependencies of a filter come from
    there (after the filter's own directory, the SDK and the stdlib, which win)."""
    import site
    import sysconfig

    dirs = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    dirs += site.getsitepackages() if hasattr(site, "getsitepackages") else []
    out: list[Path] = []
    for d in dirs:
        path = Path(d).resolve()
        if path.is_dir() and path not in out:
            out.append(path)
    return out


def _imports_of(code, *, nested: bool) -> set[str]:
    """Names of IMPORT_NAME in a module's code: module level and class bodies, or all of it."""
    import dis

    names: set[str] = set()
    for instruction in dis.get_instructions(code):
        if instruction.opname == "IMPORT_NAME" and isinstance(instruction.argval, str):
            names.add(instruction.argval)
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            is_class_body = const.co_flags & 0x2 == 0  # not CO_NEWLOCALS: a class body
            if nested or is_class_body:
                names |= _imports_of(const, nested=nested)
    return names


def _marshalled(source: bytes, filename: str, optimize: int, file: Path) -> bytes:
    """Marshalled code for `source`, cached by content: marshal's output depends on reference
    counts, so the same source must map to the same bytes for object caching to work."""
    key = hashlib.sha256(b"\0".join([b"no-type-checking", sys.version.encode(), filename.encode(),
                                      str(optimize).encode(), source])).hexdigest()[:24]
    cached = cache.cache_dir() / "marshal" / f"{key}.bin"
    if cached.exists():
        return cached.read_bytes()
    try:
        code = compile(_parse_for_freezing(source, filename), filename, "exec",
                       dont_inherit=True, optimize=optimize)
    except SyntaxError as err:
        raise UserError(f"{file}:{err.lineno}: syntax error: {err.msg}.") from None
    data = marshal.dumps(code)
    cache.atomic_write(cached, data)
    return data


def _c_bytes(data: bytes) -> str:
    # Hex escapes in string literals: compact for the C compiler to read.
    lines = []
    for start in range(0, len(data), 64):
        chunk = data[start:start + 64]
        lines.append('"' + "".join(f"\\x{b:02x}" for b in chunk) + '"')
    return "\n".join(lines) if lines else '""'


def _symbol(module: FrozenModule) -> str:
    digest = hashlib.sha256(module.name.encode()).hexdigest()[:8]
    safe = "".join(c if c.isalnum() else "_" for c in module.name)
    return f"pw_code_{safe}_{digest}"


def frozen_group_source(frozen: FrozenSet, group: str) -> str:
    """C file defining the code arrays of one group (cached as an object by content).

    Not `const`: the snapshot zeroes the code of modules it has already imported."""
    parts = ["/* GENERATED by proxywasm_build.backends.cpython.freezer: marshalled CPython 3.11 code. */\n"]
    for module in frozen.modules:
        if module.group == group:
            parts.append(f"/* {module.name} */\nunsigned char {_symbol(module)}[] =\n"
                         f"{_c_bytes(module.code)};\n")
    return "\n".join(parts)


def bootstrap_table_source(frozen: FrozenSet) -> str:
    """C file replacing libpython's frozen.o and deepfreeze.o: the bootstrap table (code of
    the `bootstrap` group), empty stdlib/test tables (the rest is in `pw_frozen_modules`),
    the aliases CPython reports as `__origname__`, and no-op deep-freeze hooks."""
    lines = [
        "/* GENERATED by proxywasm_build.backends.cpython.freezer: replaces libpython's frozen.o/deepfreeze.o. */",
        "#include <stddef.h>",
        "struct _frozen { const char *name; const unsigned char *code; int size; int is_package;",
        "                 void *(*get_code)(void); };",
        "struct _module_alias { const char *name; const char *orig; };",
    ]
    entries = [m for m in frozen.modules if m.group == "bootstrap"]
    for module in entries:
        lines.append(f"extern unsigned char {_symbol(module)}[];")
    lines.append("static const struct _frozen pw_bootstrap[] = {")
    for module in entries:
        lines.append(f'    {{"{module.name}", {_symbol(module)}, {len(module.code)}, 0, NULL}},')
    lines += [
        "    {NULL, NULL, 0, 0, NULL},",
        "};",
        "static const struct _frozen pw_no_frozen[] = {{NULL, NULL, 0, 0, NULL}};",
        "static const struct _module_alias pw_aliases[] = {",
    ]
    for name, source_name in BOOTSTRAP.items():
        if name != source_name:
            lines.append(f'    {{"{name}", "{source_name}"}},')
    lines += [
        "    {NULL, NULL},",
        "};",
        "const struct _frozen *_PyImport_FrozenBootstrap = pw_bootstrap;",
        "const struct _frozen *_PyImport_FrozenStdlib = pw_no_frozen;",
        "const struct _frozen *_PyImport_FrozenTest = pw_no_frozen;",
        "const struct _module_alias *_PyImport_FrozenAliases = pw_aliases;",
        "const struct _frozen *PyImport_FrozenModules = NULL;",
        "int _Py_Deepfreeze_Init(void) { return 0; }",
        "void _Py_Deepfreeze_Fini(void) {}",
    ]
    return "\n".join(lines) + "\n"


def frozen_table_source(frozen: FrozenSet, filter_module: str) -> str:
    """C file with `pw_frozen_modules` (for PyImport_FrozenModules) and `pw_filter_module`."""
    lines = [
        "/* GENERATED by proxywasm_build.backends.cpython.freezer. */",
        "#include <stddef.h>",
        "struct _frozen { const char *name; const unsigned char *code; int size; int is_package;",
        "                 void *(*get_code)(void); };",
    ]
    for module in frozen.modules:
        lines.append(f"extern unsigned char {_symbol(module)}[];")
    lines.append("const struct _frozen pw_frozen_modules[] = {")
    for module in frozen.modules:
        lines.append(f'    {{"{module.name}", {_symbol(module)}, {len(module.code)}, '
                     f'{1 if module.is_package else 0}, NULL}},')
    lines.append("    {NULL, NULL, 0, 0, NULL},")
    lines.append("};")
    lines.append(f'const char pw_filter_module[] = "{filter_module}";')
    digest = hashlib.sha256()
    for module in frozen.modules:
        digest.update(module.name.encode() + b"\0" + module.code)
    digest.update(filter_module.encode())
    lines.append(f"const unsigned long long pw_frozen_digest = 0x{digest.hexdigest()[:16]}ULL;")
    return "\n".join(lines) + "\n"


def read_inittab(config_c: Path) -> dict[str, str]:
    """CPython's builtin-module table for wasm32-wasi (name -> init function), from config.c."""
    table = config_c.read_text().split("_PyImport_Inittab[]", 1)[-1]
    return dict(re.findall(r'\{"([A-Za-z0-9_]+)",\s*([A-Za-z0-9_]+)\}', table))


def select_builtins(inittab: dict[str, str], frozen: FrozenSet) -> dict[str, str]:
    """The C modules a filter links: CPython's core set plus those its import closure names.

    CPython's own table references all of libpython's C modules, so all of them are linked; a
    table of only these keeps the rest (CJK codecs, _decimal, unicodedata, expat, tests) out.
    """
    manifest = load_manifest()
    core = set(manifest["core_builtins"])
    eager_only = set(manifest["link_only_if_imported_eagerly"])
    return {name: func for name, func in inittab.items()
            if name in core or (name in frozen.referenced and name not in eager_only)
            or name in frozen.eager}


def inittab_source(builtins: dict[str, str]) -> str:
    lines = ["/* GENERATED by proxywasm_build.backends.cpython.freezer: the builtin-module table. */",
             "#include <Python.h>"]
    for func in sorted(set(builtins.values()) - {"NULL"}):
        lines.append(f"extern PyObject *{func}(void);")
    lines.append("struct _inittab _PyImport_Inittab[] = {")
    for name, func in builtins.items():
        lines.append(f'    {{"{name}", {func}}},')
    lines.append("    {NULL, NULL},")
    lines.append("};")
    return "\n".join(lines) + "\n"
