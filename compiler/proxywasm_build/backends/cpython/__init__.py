"""The CPython build backend: a Python filter becomes one Proxy-Wasm ABI 0.2.1 module.

    build_python_filter(Path("filter.py"))          # -> Path("filter.wasm")

Steps (docs/build.md tells the whole story): check the filter, freeze its import closure,
generate the C bridge from `proxywasm.abi`, compile (cached) and link with zig's wasm-ld against
libpython 3.11 for wasm32-wasi, snapshot with wizer after Python has started and imported the
filter, strip, add the `proxywasm-python` metadata section, validate, write atomically.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

from proxywasm import abi

from proxywasm_build import cache
from proxywasm_build.errors import UserError
from proxywasm_build.progress import step
from proxywasm_build.wasm.leb128 import encode_unsigned
from proxywasm_build.backends.common import compile as cc
from proxywasm_build.backends.cpython import nocompiler
from proxywasm_build.backends.cpython.bridge import generate_bridge_source
from proxywasm_build.backends.cpython.freezer import (FilterSource, FrozenSet, check_filter, freeze_closure, bootstrap_table_source,
                      frozen_group_source,
                      frozen_table_source, inittab_source, read_inittab, resolve_filter_source,
                      select_builtins)
from proxywasm_build.backends.common.datasegments import split_zero_runs
from proxywasm_build.backends.common.snapshot import snapshot
from proxywasm_build.backends.cpython.toolchain import PYTHON_VERSION, TOOLCHAINS_DIR, ensure_toolchain, fetch_toolchain

__all__ = ["build_python_filter", "fetch_toolchain", "METADATA_SECTION"]

METADATA_SECTION = "proxywasm-python"


def _sdk_version() -> str:
    import proxywasm

    return getattr(proxywasm, "__version__", "0")



def custom_section(name: str, payload: bytes) -> bytes:
    """Encode a wasm custom section (id 0); appending one to a module keeps it valid."""
    encoded = name.encode()
    body = encode_unsigned(len(encoded)) + encoded + payload
    return b"\x00" + encode_unsigned(len(body)) + body


def default_output(source: Path, filter_source: FilterSource) -> Path:
    """`x.py` -> `x.wasm` beside it; a directory -> `<dir>/<module>.wasm` inside it."""
    source = Path(source)
    if source.is_file():
        return source.with_suffix(".wasm")
    return source / f"{filter_source.module}.wasm"


def _validate(data: bytes) -> None:
    from proxywasm_build.wasm.validate import validate_module

    report = validate_module(data, abi="0.2.1", envoy="1.40")
    if not report.ok:
        first = report.findings[0].message if report.findings else "unknown problem"
        errors = [f.message for f in report.findings if f.severity == "error"] or [first]
        reason = errors[0].rstrip(".")
        raise UserError(f"the built module is not a valid Proxy-Wasm module, so it was not written: {reason}.")


WASM_OPT_FLAGS = ("-Oz", "-g", "--enable-bulk-memory", "--enable-sign-ext",
                  "--enable-mutable-globals", "--enable-nontrapping-float-to-int",
                  "--enable-multivalue")


def _optimize(module: Path, output: Path) -> Path:
    """wasm-opt -Oz (keeping function names), cached by the input's hash: it takes minutes."""
    import hashlib
    import shutil

    from proxywasm_build.backends.cpython.toolchain import BINARYEN_VERSION, wasm_opt

    data = module.read_bytes()
    key = hashlib.sha256(data + BINARYEN_VERSION.encode() + " ".join(WASM_OPT_FLAGS).encode()).hexdigest()[:24]
    cached = cache.cache_dir() / "optimized" / f"{key}.wasm"
    if not cached.exists():
        with step("Optimizing with wasm-opt -Oz (a few minutes)"):
            proc = subprocess.run([*wasm_opt(), str(module), "-o", str(output), *WASM_OPT_FLAGS],
                                  capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"wasm-opt failed: {tail}")
        cache.atomic_write(cached, output.read_bytes())
    shutil.copyfile(cached, output)
    return output


def build_python_filter(source: Path, output: Path | None = None, *, snapshot_module: bool = True,
                        keep_names: bool = True, all_builtins: bool = False, optimize: bool = False,
                        compiler: bool | None = None, all_accelerators: bool = False,
                        report: dict | None = None) -> Path:
    """Build a Python filter (a .py file or a filter directory) into one Proxy-Wasm module.

    Returns the written `.wasm` path (default: next to the source). Raises `UserError` with one
    sentence for a filter that cannot be built (syntax error, sandbox-incompatible import, no
    `set_root_context`) and refuses to write a module the validator rejects.
    `all_builtins` links every C module of libpython (CPython's own table) instead of only the
    ones the import closure names. `optimize` runs binaryen's wasm-opt -Oz (npm `binaryen`;
    minutes, cached): about 17% less code, so V8 compiles it faster. `compiler`: None (default)
    leaves CPython's parser and compiler out when the filter's import does not need them
    (build/nocompiler.py), True always links them, False refuses to. `all_accelerators` links
    C accelerators with a pure-Python twin (`_datetime`) even when the filter's import does not
    import them. `report`, if given, receives sizes and timings of each step.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def mark(step: str, since: float) -> float:
        now = time.perf_counter()
        timings[step] = round(now - since, 3)
        return now

    filter_source = resolve_filter_source(Path(source))
    direct_imports = check_filter(filter_source)
    output = Path(output) if output is not None else default_output(Path(source), filter_source)
    t = mark("check", started)
    toolchain = ensure_toolchain()
    t = mark("toolchain", t)
    frozen = freeze_closure(filter_source, toolchain.stdlib_dir, direct_imports)
    inittab = read_inittab(toolchain.stdlib_dir / "config-3.11-wasm32-wasi" / "config.c")
    builtins = inittab if all_builtins else select_builtins(inittab, frozen)
    t = mark("freeze", t)

    record = nocompiler.record_compiled_sources(filter_source)
    if compiler is False and (record is None or not record.usable):
        why = "its import needs the ast module" if record else "it could not be imported on this machine"
        raise UserError(f"the filter cannot be built without Python's compiler: {why}.")
    # Without a snapshot the import first runs inside Envoy, where a text the build machine
    # did not see could no longer be answered by relinking: keep the compiler unless asked.
    without_compiler = (compiler is False or (compiler is None and snapshot_module)) \
        and record is not None and record.usable
    if not all_accelerators and record is not None:
        builtins = {name: func for name, func in builtins.items()
                    if name not in nocompiler.PURE_PYTHON_FALLBACKS or name in record.imported}
    t = mark("record", t)

    common = [
        cc.compile_c(toolchain, (TOOLCHAINS_DIR / "runtime.c").read_text(), "runtime",
                     ("-DPW_SNAPSHOT_BUILD",) if snapshot_module else ()),
        cc.compile_c(toolchain, (TOOLCHAINS_DIR / "wasi_shims.c").read_text(), "wasi_shims"),
        cc.compile_c(toolchain, generate_bridge_source(abi.LATEST), "bridge"),
        cc.compile_c(toolchain, frozen_group_source(frozen, "site"), "frozen_site"),
        cc.compile_c(toolchain, frozen_group_source(frozen, "app"), "frozen_app"),
        cc.compile_c(toolchain, frozen_group_source(frozen, "bootstrap"), "frozen_bootstrap"),
        cc.compile_c(toolchain, bootstrap_table_source(frozen), "bootstrap_table"),
    ]
    t = mark("compile", t)

    def make_module(tmp: Path, without_compiler: bool) -> tuple[Path, dict[str, str], FrozenSet]:
        nonlocal t
        linked_builtins = ({k: v for k, v in builtins.items() if k not in nocompiler.COMPILER_BUILTINS}
                           if without_compiler else builtins)
        # stdlib modules that cannot be imported without `_ast` are not worth their bytes
        embedded = (FrozenSet([m for m in frozen.modules if m.group != "stdlib"
                               or m.name not in nocompiler.COMPILER_MODULES], frozen.referenced, frozen.eager,
                              frozen.left_out)
                    if without_compiler else frozen)
        objects = [*common, cc.compile_c(toolchain, inittab_source(linked_builtins), "inittab"),
                   cc.compile_c(toolchain, frozen_group_source(embedded, "stdlib"), "frozen_stdlib"),
                   cc.compile_c(toolchain, frozen_table_source(embedded, filter_source.module), "frozen_table")]
        libpython = nocompiler.libpython_with_compiler(toolchain)
        if without_compiler:
            objects += [cc.compile_c(toolchain, (TOOLCHAINS_DIR / "nocompiler.c").read_text(), "nocompiler"),
                        cc.compile_c(toolchain, nocompiler.source_cache_source(record), "source_cache")]
            libpython = nocompiler.libpython_without_compiler(toolchain)
        linked = cc.link(toolchain, objects, tmp / "linked.wasm", libpython=libpython)
        t = mark("link", t)
        module = linked
        if snapshot_module:
            module = snapshot(toolchain, linked, tmp / "snapshot.wasm")
            t = mark("snapshot", t)
        return module, linked_builtins, embedded

    with tempfile.TemporaryDirectory(prefix="proxywasm-build-") as tmp:
        try:
            module, builtins, frozen = make_module(Path(tmp), without_compiler)
        except UserError as error:
            # The filter's import inside the module compiled a text the build machine did not
            # see, or needed `_ast`: the full interpreter serves it (unless asked not to).
            if not without_compiler or compiler is False or not (
                    nocompiler.MARKER in str(error) or "_ast" in str(error) or "_tokenize" in str(error)):
                raise
            without_compiler = False
            module, builtins, frozen = make_module(Path(tmp), without_compiler)
        module.write_bytes(split_zero_runs(module.read_bytes()))
        stripped = Path(tmp) / "stripped.wasm"
        strip_args = ["strip", str(module), "-o", str(stripped)]
        if not keep_names:
            strip_args.insert(1, "--all")
        subprocess.run([str(toolchain.wasm_tools), *strip_args], check=True, capture_output=True)
        t = mark("strip", t)
        if optimize:
            stripped = _optimize(stripped, Path(tmp) / "optimized.wasm")
            t = mark("optimize", t)
        data = stripped.read_bytes()

    metadata = {
        "abi": abi.LATEST.version,
        "python": PYTHON_VERSION,
        "sdk": _sdk_version(),
        "filter": filter_source.module,
        "snapshot": snapshot_module,
        "optimized": optimize,
        "compiler": not without_compiler,
        "frozen_modules": frozen.names(),
        "builtin_modules": sorted([*builtins, "_proxywasm_host"]),
        "left_out_modules": sorted(frozen.left_out),
    }
    data += custom_section(METADATA_SECTION, json.dumps(metadata, separators=(",", ":")).encode())
    _validate(data)
    t = mark("validate", t)
    cache.atomic_write(output, data)
    timings["total"] = round(time.perf_counter() - started, 3)
    if report is not None:
        report.update(size=len(data), frozen_modules=len(frozen.modules),
                      frozen_bytes=frozen.size(), frozen_stdlib_bytes=frozen.size("stdlib"),
                      frozen_app_bytes=frozen.size("app"), compiler=not without_compiler,
                      left_out_modules=sorted(frozen.left_out),
                      seconds=timings)
    return output
