"""Modules without CPython's parser and compiler (toolchains/python/nocompiler.c tells why).

A filter runs frozen bytecode, so the parser, the AST and the compiler (about 0.5 MB of the
2.4 MB of wasm code V8 compiles before Envoy is ready) only serve compile()/exec()/eval() of
source text. The build imports the filter once on the build machine with those builtins
watched, compiles the texts they received there, and embeds the code objects; the module
answers those texts from the cache and raises RuntimeError for any other text. A filter whose
import needs the `ast` module (dataclasses, inspect), or whose import inside the module meets
a text the build machine did not see, gets the full interpreter instead.
"""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from proxywasm_build import cache
from proxywasm_build.backends.common.filter_source import FilterSource
from proxywasm_build.backends.cpython.freezer import _c_bytes
from proxywasm_build.backends.cpython.toolchain import Toolchain

#: libpython3.11.a members left out: the PEG parser, tokenizer, AST, symtable, compiler.
COMPILER_MEMBERS = (
    "token.o", "pegen.o", "pegen_errors.o", "action_helpers.o", "parser.o", "string_parser.o",
    "peg_api.o", "myreadline.o", "tokenizer.o", "Python-ast.o", "Python-tokenize.o", "asdl.o",
    "ast.o", "ast_opt.o", "ast_unparse.o", "compile.o", "future.o", "symtable.o",
    "symtablemodule.o",
)
#: Builtin C modules that live in those members.
COMPILER_BUILTINS = ("_ast", "_tokenize", "_symtable")
#: Stdlib modules whose import needs `_ast` (left out of a module without the compiler).
COMPILER_MODULES = ("ast", "inspect", "symtable", "dataclasses", "pydoc")
#: C accelerators whose Python module carries a complete pure-Python implementation: linked
#: only when the filter's import (on the build machine) imports them.
PURE_PYTHON_FALLBACKS = {"_datetime": "datetime"}
#: Text in the error a module without a compiler raises (nocompiler.c, PW_NO_COMPILER_MARKER).
MARKER = "this module was built without Python's compiler"
#: Texts in a link or snapshot failure that mean the module needed the compiler it left out:
#: nocompiler.c's refusal of a text, or a missing compiler builtin.
COMPILER_NEEDED_SIGNS = (MARKER, "_ast", "_tokenize")

_MODES = {"exec": 257, "eval": 258, "single": 256}

_RECORDER = r"""
import builtins, sys
# nothing else imported before the watch: a module imported earlier would build its
# namedtuples unseen
seen = []
def watch(name, default_mode):
    original = getattr(builtins, name)
    def watched(source, *args, **kwargs):
        caller = sys._getframe(1).f_code.co_filename
        if isinstance(source, (str, bytes, bytearray)) and not caller.startswith("<frozen importlib"):
            mode, filename = default_mode, "<string>"
            if name == "compile":
                filename = args[0] if args else kwargs.get("filename", "<string>")
                mode = args[1] if len(args) > 1 else kwargs.get("mode", "exec")
            text = source if isinstance(source, str) else bytes(source).decode("utf-8")
            seen.append([mode, text, str(filename)])
        return original(source, *args, **kwargs)
    setattr(builtins, name, watched)
for name, mode in (("compile", "exec"), ("exec", "exec"), ("eval", "eval")):
    watch(name, mode)
root, module, out, path = sys.argv[1:5]
sys.path[:0] = [root, *path.split(__import__("os").pathsep)]
__import__("proxywasm.dispatcher")
__import__(module)
needs_ast = sorted(m for m in ("_ast", "_tokenize", "_symtable") if m in sys.modules)
import json
with open(out, "w") as fh:
    json.dump({"sources": seen, "needs_ast": needs_ast, "imported": sorted(sys.modules)}, fh)
"""


@dataclass(frozen=True)
class SourceRecord:
    """What importing the filter compiles from text (None: it could not be imported here)."""

    sources: tuple[tuple[str, str, str], ...]   # (mode, text, filename)
    needs_ast: tuple[str, ...]
    imported: frozenset[str] = frozenset()      # sys.modules after the import

    @property
    def usable(self) -> bool:
        return not self.needs_ast


def _import_path() -> list[str]:
    import proxywasm

    from proxywasm_build.backends.cpython.freezer import _site_packages

    return [str(Path(proxywasm.__file__).resolve().parents[1]), *map(str, _site_packages())]


def record_compiled_sources(filter_source: FilterSource, timeout: float = 120.0) -> SourceRecord | None:
    """Import the filter in a fresh build-machine CPython, noting every compiled source text."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "record.json"
        try:
            # -S: no site, so nothing is imported (and no namedtuple built) before the watch
            # -B: no __pycache__ written next to the filter
            proc = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", _RECORDER, str(filter_source.root),
                                   filter_source.module, str(out), os.pathsep.join(_import_path())],
                                  capture_output=True, text=True, timeout=timeout, cwd=tmp)
        except subprocess.TimeoutExpired:
            return None
        if proc.returncode != 0 or not out.exists():
            return None
        data = json.loads(out.read_text())
    sources = tuple(dict.fromkeys((m, t, f) for m, t, f in data["sources"] if m in _MODES))
    return SourceRecord(sources, tuple(data["needs_ast"]), frozenset(data["imported"]))


def source_cache_source(record: SourceRecord) -> str:
    """C file defining `pw_source_cache`: each recorded text with its marshalled code object."""
    lines = ["/* GENERATED by proxywasm_build.backends.cpython.nocompiler: source texts compiled at build time. */",
             "#include <stddef.h>",
             "struct pw_source_entry { int mode; const char *source; long source_size;",
             "                         const unsigned char *code; long code_size; };"]
    entries = []
    for i, (mode, text, filename) in enumerate(record.sources):
        code = _marshalled(text, filename, mode)
        encoded = text.encode("utf-8")
        lines.append(f"static const char pw_text_{i}[] = {_c_bytes(encoded)};")
        lines.append(f"static const unsigned char pw_code_{i}[] = {_c_bytes(code)};")
        entries.append(f"    {{{_MODES[mode]}, pw_text_{i}, {len(encoded)}, pw_code_{i}, {len(code)}}},")
    lines.append("const struct pw_source_entry pw_source_cache[] = {")
    lines.extend(entries or ["    {0, NULL, 0, NULL, 0},"])
    lines.append("};")
    lines.append(f"const int pw_source_cache_count = {len(entries)};")
    return "\n".join(lines) + "\n"


def _marshalled(text: str, filename: str, mode: str) -> bytes:
    """Cached by content, as the frozen modules are: marshal's output depends on reference
    counts, and the same filter must build the same bytes."""
    import hashlib

    key = hashlib.sha256("\0".join([sys.version, "source-cache", mode, filename, text]).encode()).hexdigest()[:24]
    cached = cache.cache_dir() / "marshal" / f"{key}.bin"
    if cached.exists():
        return cached.read_bytes()
    data = marshal.dumps(compile(text, filename, mode, dont_inherit=True, optimize=0))
    cache.atomic_write(cached, data)
    return data


#: libpython3.11.a members every module replaces: the frozen-module tables and the deepfrozen
#: bootstrap and stdlib modules (0.6 MB of static objects, most of them never imported by a
#: filter); freezer.bootstrap_table_source provides what the rest of libpython needs of them.
FROZEN_MEMBERS = ("frozen.o", "deepfreeze.o")


def libpython_without_compiler(toolchain: Toolchain) -> Path:
    """libpython3.11.a minus COMPILER_MEMBERS and FROZEN_MEMBERS, made once into the cache."""
    return libpython_without(toolchain, COMPILER_MEMBERS + FROZEN_MEMBERS, "nocompiler")


def libpython_with_compiler(toolchain: Toolchain) -> Path:
    """libpython3.11.a minus FROZEN_MEMBERS (the full interpreter, for filters that need it)."""
    return libpython_without(toolchain, FROZEN_MEMBERS, "compiler")


def libpython_without(toolchain: Toolchain, members: tuple[str, ...], label: str) -> Path:
    """A copy of libpython3.11.a without `members`, made once into the cache with `zig ar d`."""
    import hashlib
    import os
    import shutil
    import tempfile

    key = hashlib.sha256(" ".join(members).encode()).hexdigest()[:12]
    target = cache.cache_dir() / "toolchains" / f"libpython3.11-{label}-{key}.a"
    if target.exists():
        return target
    with cache.locked(f"libpython-{label}"):
        if target.exists():
            return target
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            copy = Path(tmp) / "libpython.a"
            shutil.copyfile(toolchain.libpython, copy)
            subprocess.run(toolchain.zig("ar", "d", str(copy), *members),
                           check=True, capture_output=True, env=toolchain.zig_env())
            os.replace(copy, target)
    return target
