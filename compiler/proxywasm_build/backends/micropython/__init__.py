"""The MicroPython 1.19 backend: a Python filter as a light Proxy-Wasm module.

The runtime is MicroPython's core (patched: dicts keep insertion order, f-strings take !r/!s;
see patches.py) without its compiler, compiled once with zig and cached; per filter only the
frozen bytecode of the SDK, the stdlib shims (toolchains/micropython/lib) and the filter's own
files, plus a small config unit, are compiled and linked. Hostcalls and callback exports are
generated from the ABI tables (hostmodule.py); port/reactor.c starts MicroPython on the first
callback, imports the filter, and collects garbage only between callbacks.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

from proxywasm import abi

from proxywasm_build.backends.common.filter_check import check_filter
from proxywasm_build.backends.common.filter_source import FilterSource, resolve_filter_source
from proxywasm_build.backends.common import source_lines
from proxywasm_build.backends.common.output import default_output, write_valid_module
from proxywasm_build.backends.micropython import cbuild
from proxywasm_build.backends.micropython.freeze import (FrozenFile, frozen_c, import_closure, module_name,
                                                          package_files)
from proxywasm_build.backends.micropython.hostmodule import generate_host_module
from proxywasm_build.backends.micropython.interpreter import lib_dir
from proxywasm_build.backends.micropython.mpycross import compile_check, compile_to_mpy
from proxywasm_build.backends.micropython.sources import MICROPYTHON_VERSION
from proxywasm_build.cache import atomic_write, cache_dir
from proxywasm_build.errors import UserError
from proxywasm_build.wasm.metadata_section import METADATA_SECTION, custom_section

__all__ = ["build_micropython_filter", "available_modules", "compile_check", "fetch_toolchain",
           "DEFAULT_HEAP_SIZE"]

#: The smallest GC heap a filter gets unless it asks: the SDK's and a small filter's objects take
#: about 45 KB after import; the rest is room for requests' garbage between collections (one runs
#: once a quarter of the heap was allocated since the last). Only the pages touched cost memory.
DEFAULT_HEAP_SIZE = 1024 * 1024
MIN_HEAP_SIZE = 64 * 1024
#: A bigger filter gets a heap of this many times its frozen bytecode (modules' objects live on
#: the heap), rounded up to 256 KiB.
HEAP_PER_BYTECODE_BYTE = 16


def fetch_toolchain() -> Path:
    """Fetch MicroPython's pinned sources and build what every filter reuses (the patched core
    for the module, our mpy-cross) into the cache; returns the core's build directory."""
    from proxywasm_build.backends.micropython.mpycross import mpy_cross

    mpy_cross()
    return cbuild.build_core(reactor_variant()).directory


def default_heap_size(files: list[FrozenFile]) -> int:
    """The heap a module gets by default: DEFAULT_HEAP_SIZE, more for much frozen code."""
    bytecode = sum(compile_to_mpy(f.path, f.name).stat().st_size for f in files)
    quantum = 256 * 1024
    return max(DEFAULT_HEAP_SIZE, -(-bytecode * HEAP_PER_BYTECODE_BYTE // quantum) * quantum)
#: A 256 KB shadow stack (the interpreter's stack check allows 200 KB of it).
REACTOR_LINK_FLAGS = ("-mexec-model=reactor", "-Wl,--strip-all", "-Wl,-z,stack-size=262144")


def reactor_variant() -> cbuild.Variant:
    port = cbuild.port_dir()
    return cbuild.Variant(
        name="reactor", config_dir=port,
        port_sources=(port / "reactor.c", port / "runtime_module.c", port / "c_longjmp_tag.s", cbuild.stdio_source()),
        cflags=cbuild.WASM_CFLAGS, generated=(("host_module.c", generate_host_module()),))


def _sdk_dir() -> Path:
    import proxywasm

    return Path(proxywasm.__file__).resolve().parent


def _sdk_version() -> str:
    import proxywasm

    return getattr(proxywasm, "__version__", "0")


def sdk_files() -> list[FrozenFile]:
    """The SDK without its emulator (proxywasm.testing); a module freezes the part its import
    reaches on MicroPython."""
    sdk = _sdk_dir()
    return package_files(sdk.parent, sdk, skip=("testing",))


def lib_files() -> list[FrozenFile]:
    """The stdlib shims; a module freezes those the SDK and the filter import."""
    return package_files(lib_dir(), lib_dir()) if lib_dir().is_dir() else []


def filter_files(filter_source: FilterSource) -> list[FrozenFile]:
    """The filter's own files, named relative to its import root (a root __init__.py, which
    names no module there, is left out)."""
    files = [FrozenFile(path.resolve().relative_to(filter_source.root.resolve()).as_posix(), path)
             for path in filter_source.files]
    return [f for f in files if module_name(f)]


def build_micropython_filter(source: Path, output: Path | None = None, *, heap_size: int | None = None,
                             optimize: bool = True, report: dict | None = None) -> Path:
    """Build a Python filter (a .py file or a filter directory) into a MicroPython Proxy-Wasm module.

    Returns the written `.wasm` path (default: next to the source). `heap_size` is the GC heap
    in bytes (default: 1 MiB, more for a filter with much code: `default_heap_size`); a filter
    that keeps much state or handles big bodies in Python may need more (MemoryError otherwise).
    `optimize=False` leaves out binaryen's wasm-opt (most of a rebuild's time, seconds): the module
    runs the same code, about 13% bigger, for an edit-and-reload loop. Raises `UserError` with one
    sentence for a filter that cannot be built (syntax MicroPython rejects, no set_root_context, ...).
    `report`, if given, receives the module size, heap size, frozen modules and step timings.
    """
    started = time.perf_counter()
    if heap_size is not None and int(heap_size) < MIN_HEAP_SIZE:
        raise UserError(f"heap_size {heap_size} is too small; MicroPython needs at least {MIN_HEAP_SIZE} bytes.")
    filter_source = resolve_filter_source(Path(source))
    check_filter(filter_source)
    output = Path(output) if output is not None else default_output(Path(source), filter_source)
    own = filter_files(filter_source)
    sdk = sdk_files()
    # reactor.c imports the filter, then proxywasm.dispatcher; the rest is what they import.
    roots = [*own, *(f for f in sdk if module_name(f) in ("proxywasm", "proxywasm.dispatcher"))]
    files = import_closure(roots, [*(f for f in sdk if f not in roots), *lib_files()])
    heap = default_heap_size(files) if heap_size is None else int(heap_size)
    core = cbuild.build_core(reactor_variant())
    frozen = frozen_c([*files, _sources_file(filter_source)], core.qstr_header)
    module = _link_filter(core, frozen, filter_source.module, heap)
    data = _optimized(module) if optimize else module.read_bytes()
    frozen_names = sorted(module_name(f) for f in files)
    metadata = {
        "runtime": "micropython",
        "micropython": MICROPYTHON_VERSION,
        "abi": abi.LATEST.version,
        "sdk": _sdk_version(),
        "filter": filter_source.module,
        "heap_size": heap,
        "optimized": optimize,
        "frozen_modules": frozen_names,
    }
    data += custom_section(METADATA_SECTION, json.dumps(metadata, separators=(",", ":")).encode())
    write_valid_module(data, output)
    if report is not None:
        report.update(size=len(data), heap_size=heap, frozen_modules=len(frozen_names),
                      frozen_module_names=frozen_names,
                      filter_modules=sorted(module_name(f) for f in own),
                      seconds={"total": round(time.perf_counter() - started, 3)})
    return output


def _sources_file(filter_source: FilterSource) -> FrozenFile:
    """`_proxywasm_sources` (the filter's own lines, for tracebacks) as a file to freeze."""
    text = source_lines.sources_module_text(filter_source)
    name = f"{source_lines.MODULE}.py"
    path = cache_dir() / "micropython-sources" / hashlib.sha256(text.encode()).hexdigest()[:24] / name
    if not path.is_file():
        atomic_write(path, text.encode())
    return FrozenFile(name, path)


#: binaryen's wasm-opt over the linked module: about 12% smaller (zig's -Os leaves it room), in
#: seconds, cached by the module's bytes. The features are what the module uses (exception
#: handling is MicroPython's NLR).
WASM_OPT_FLAGS = ("-Oz", "--enable-exception-handling", "--enable-reference-types", "--enable-bulk-memory",
                  "--enable-sign-ext", "--enable-mutable-globals", "--enable-nontrapping-float-to-int",
                  "--enable-multivalue")


def _optimized(module: Path) -> bytes:
    """The linked module after wasm-opt (cached by its content)."""
    import subprocess

    from proxywasm_build.backends.common.toolchain import BINARYEN_VERSION, wasm_opt

    data = module.read_bytes()
    key = hashlib.sha256(data + BINARYEN_VERSION.encode() + " ".join(WASM_OPT_FLAGS).encode()).hexdigest()[:24]
    cached = cache_dir() / "micropython-optimized" / f"{key}.wasm"
    if not cached.exists():
        scratch = cached.with_name(f".{cached.name}.{os.getpid()}")
        cached.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([*wasm_opt(), str(module), "-o", str(scratch), *WASM_OPT_FLAGS],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"wasm-opt failed on the MicroPython module: {tail}")
        scratch.replace(cached)
    return cached.read_bytes()


def _link_filter(core: cbuild.CoreBuild, frozen: Path, filter_module: str, heap: int) -> Path:
    """Compile the frozen C and the config unit against `core` and link them (both cached)."""
    work = cache_dir() / "micropython-filter"
    frozen_obj = work / f"{frozen.stem}-{core.directory.name}.o"
    if not frozen_obj.exists():
        work.mkdir(parents=True, exist_ok=True)
        scratch = frozen_obj.with_name(f".{frozen_obj.name}.{os.getpid()}")
        core.compile(frozen, scratch)
        scratch.replace(frozen_obj)
    # Imported by name (CPython builds such a file too: its import is by name, not a statement);
    # anything else could not be written into the C string below.
    if not re.fullmatch(r"[\w.-]+", filter_module):
        raise UserError(f"the filter module name {filter_module!r} is not a Python module name.")
    config = (f"#include <stddef.h>\n"
              f"const char pw_filter_module[] = \"{filter_module}\";\n"
              f"const size_t pw_heap_size = {heap};\n")
    config_c = work / f"config-{hashlib.sha256(config.encode()).hexdigest()[:16]}.c"
    if not config_c.exists():
        atomic_write(config_c, config.encode())
    config_obj = config_c.with_name(f"{config_c.stem}-{core.directory.name}.o")
    if not config_obj.exists():
        scratch = config_obj.with_name(f".{config_obj.name}.{os.getpid()}")
        core.compile(config_c, scratch)
        scratch.replace(config_obj)
    key = hashlib.sha256(f"{frozen_obj.name}\0{config_obj.name}".encode()).hexdigest()[:24]
    module = work / f"{key}.wasm"
    if not module.exists():
        cbuild.link(core, [frozen_obj, config_obj], module, REACTOR_LINK_FLAGS)
    return module


_BUILTIN_MODULE = re.compile(r"MP_ROM_QSTR\(MP_QSTR_(\w+)\)")


def available_modules() -> set[str]:
    """Every module name a filter can import in the MicroPython runtime: builtin C modules
    (with the plain names their u-prefixed weak links answer to), the frozen stdlib shims, and
    proxywasm with its submodules."""
    core = cbuild.build_core(reactor_variant())
    text = (core.directory / "genhdr" / "moduledefs.h").read_text()
    builtin = {name for name in _BUILTIN_MODULE.findall(text) if name != "__main__"}
    names = set(builtin)
    names |= {name[1:] for name in builtin if name.startswith("u") and len(name) > 1}
    names |= {module_name(f) for f in [*sdk_files(), *lib_files()]}
    return names
