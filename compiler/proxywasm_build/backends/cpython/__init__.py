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
from dataclasses import dataclass
from pathlib import Path

from proxywasm import abi

from proxywasm_build import cache
from proxywasm_build.progress import step
from proxywasm_build.backends.common import compile as cc
from proxywasm_build.backends.common.datasegments import split_zero_runs
from proxywasm_build.backends.common.filter_check import check_filter
from proxywasm_build.backends.common.filter_source import FilterSource, resolve_filter_source
from proxywasm_build.backends.common.left_out_parts import LeftOutPartNeeded
from proxywasm_build.wasm.metadata_section import METADATA_SECTION, custom_section
from proxywasm_build.backends.common.output import default_output, write_valid_module
from proxywasm_build.backends.common.snapshot import snapshot
from proxywasm_build.backends.cpython import nocompiler
from proxywasm_build.backends.cpython.bridge import generate_bridge_source
from proxywasm_build.backends.cpython.freezer import (FrozenSet, bootstrap_table_source,
                                                      freeze_closure, frozen_group_source, frozen_table_source,
                                                      inittab_source, read_inittab, select_builtins)
from proxywasm_build.backends.cpython.nocompiler import SourceRecord
from proxywasm_build.backends.cpython.toolchain import (PYTHON_VERSION, TOOLCHAINS_DIR, Toolchain,
                                                        ensure_toolchain, fetch_toolchain)
from proxywasm_build.errors import UserError

__all__ = ["build_python_filter", "fetch_toolchain", "METADATA_SECTION"]


def _sdk_version() -> str:
    import proxywasm

    return getattr(proxywasm, "__version__", "0")


WASM_OPT_FLAGS = ("-Oz", "-g", "--enable-bulk-memory", "--enable-sign-ext",
                  "--enable-mutable-globals", "--enable-nontrapping-float-to-int",
                  "--enable-multivalue")


def _optimize(module: Path, output: Path) -> Path:
    """wasm-opt -Oz (keeping function names), cached by the input's hash: it takes minutes."""
    import hashlib
    import shutil

    from proxywasm_build.backends.common.toolchain import BINARYEN_VERSION, wasm_opt

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


@dataclass(frozen=True)
class BuildOptions:
    """The caller's choices (build_python_filter's keyword arguments tell what each means)."""

    snapshot: bool = True
    keep_names: bool = True
    all_builtins: bool = False
    optimize: bool = False
    compiler: bool | None = None
    all_accelerators: bool = False


@dataclass
class BuildPlan:
    """What one build links, decided before anything is compiled."""

    options: BuildOptions
    filter_source: FilterSource
    output: Path
    toolchain: Toolchain
    frozen: FrozenSet             # the import closure
    builtins: dict[str, str]      # C modules to link: name -> init function
    record: SourceRecord | None   # what the filter's import compiles from text (None: unknown)
    without_compiler: bool        # leave CPython's parser and compiler out


@dataclass
class LinkedModule:
    """A linked (and snapshotted) module, with what it was actually given."""

    path: Path
    builtins: dict[str, str]
    frozen: FrozenSet
    without_compiler: bool


class StepTimer:
    """Seconds each build step took, for the caller's `report`."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def mark(self, step: str) -> None:
        now = time.perf_counter()
        self.seconds[step] = round(now - self.last, 3)
        self.last = now

    def finish(self) -> dict[str, float]:
        self.seconds["total"] = round(time.perf_counter() - self.started, 3)
        return self.seconds


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
    options = BuildOptions(snapshot_module, keep_names, all_builtins, optimize, compiler, all_accelerators)
    timer = StepTimer()
    plan = _plan(Path(source), output, options, timer)
    shared_objects = _compile_shared_objects(plan)
    timer.mark("compile")
    with tempfile.TemporaryDirectory(prefix="proxywasm-build-") as tmp:
        linked = _link_with_fallback(plan, shared_objects, Path(tmp), timer)
        data = _finish_module(plan, linked, Path(tmp), timer)
    data += custom_section(METADATA_SECTION, _metadata_json(plan, linked))
    write_valid_module(data, plan.output)
    timer.mark("validate")
    if report is not None:
        report.update(_report(linked, data, timer.finish()))
    return plan.output


def _plan(source: Path, output: Path | None, options: BuildOptions, timer: StepTimer) -> BuildPlan:
    """Check the filter, fetch the toolchain, freeze the import closure, decide on the compiler."""
    filter_source = resolve_filter_source(source)
    direct_imports = check_filter(filter_source)
    output = Path(output) if output is not None else default_output(source, filter_source)
    timer.mark("check")
    toolchain = ensure_toolchain()
    timer.mark("toolchain")
    frozen, builtins = _freeze(filter_source, toolchain, direct_imports, options)
    timer.mark("freeze")
    record, without_compiler = _decide_compiler(filter_source, options)
    builtins = _drop_unimported_accelerators(builtins, record, options)
    timer.mark("record")
    return BuildPlan(options, filter_source, output, toolchain, frozen, builtins, record, without_compiler)


def _freeze(filter_source: FilterSource, toolchain: Toolchain, direct_imports: set[str],
            options: BuildOptions) -> tuple[FrozenSet, dict[str, str]]:
    """The import closure as code objects, and the C modules it names."""
    frozen = freeze_closure(filter_source, toolchain.stdlib_dir, direct_imports)
    inittab = read_inittab(toolchain.stdlib_dir / "config-3.11-wasm32-wasi" / "config.c")
    builtins = inittab if options.all_builtins else select_builtins(inittab, frozen)
    return frozen, builtins


def _decide_compiler(filter_source: FilterSource, options: BuildOptions) -> tuple[SourceRecord | None, bool]:
    """Import the filter here to learn whether the module can do without CPython's compiler:
    (what the import compiled from text, whether to leave the compiler out)."""
    record = nocompiler.record_compiled_sources(filter_source)
    if options.compiler is False and (record is None or not record.usable):
        why = "its import needs the ast module" if record else "it could not be imported on this machine"
        raise UserError(f"the filter cannot be built without Python's compiler: {why}.")
    # Without a snapshot the import first runs inside Envoy, where a text the build machine
    # did not see could no longer be answered by relinking: keep the compiler unless asked.
    without_compiler = (options.compiler is False or (options.compiler is None and options.snapshot)) \
        and record is not None and record.usable
    return record, without_compiler


def _drop_unimported_accelerators(builtins: dict[str, str], record: SourceRecord | None,
                                  options: BuildOptions) -> dict[str, str]:
    """Leave out C accelerators with a pure-Python twin that the filter's import did not import."""
    if options.all_accelerators or record is None:
        return builtins
    return {name: func for name, func in builtins.items()
            if name not in nocompiler.PURE_PYTHON_FALLBACKS or name in record.imported}


def _compile_shared_objects(plan: BuildPlan) -> list[Path]:
    """The objects a module links with or without the compiler."""
    toolchain, frozen = plan.toolchain, plan.frozen
    return [
        cc.compile_c(toolchain, (TOOLCHAINS_DIR / "runtime.c").read_text(), "runtime",
                     ("-DPW_SNAPSHOT_BUILD",) if plan.options.snapshot else ()),
        cc.compile_c(toolchain, (TOOLCHAINS_DIR / "wasi_shims.c").read_text(), "wasi_shims"),
        cc.compile_c(toolchain, generate_bridge_source(abi.LATEST), "bridge"),
        cc.compile_c(toolchain, frozen_group_source(frozen, "site"), "frozen_site"),
        cc.compile_c(toolchain, frozen_group_source(frozen, "app"), "frozen_app"),
        cc.compile_c(toolchain, frozen_group_source(frozen, "bootstrap"), "frozen_bootstrap"),
        cc.compile_c(toolchain, bootstrap_table_source(frozen), "bootstrap_table"),
    ]


def _link_with_fallback(plan: BuildPlan, shared_objects: list[Path], tmp: Path, timer: StepTimer) -> LinkedModule:
    """Link (and snapshot) the planned module; when it turns out to need the compiler it left
    out, link the full interpreter instead (unless the caller refused the compiler)."""
    try:
        return _link(plan, shared_objects, tmp, timer, without_compiler=plan.without_compiler)
    except LeftOutPartNeeded:
        # The filter's import inside the module compiled a text the build machine did not
        # see, or needed `_ast`: the full interpreter serves it.
        if plan.options.compiler is False:
            raise
        return _link(plan, shared_objects, tmp, timer, without_compiler=False)


def _link(plan: BuildPlan, shared_objects: list[Path], tmp: Path, timer: StepTimer, *,
          without_compiler: bool) -> LinkedModule:
    toolchain = plan.toolchain
    builtins, frozen = plan.builtins, plan.frozen
    signs: tuple[str, ...] = ()
    if without_compiler:
        builtins = {k: v for k, v in builtins.items() if k not in nocompiler.COMPILER_BUILTINS}
        frozen = _without_compiler_modules(frozen)
        signs = nocompiler.COMPILER_NEEDED_SIGNS
    objects = [*shared_objects, cc.compile_c(toolchain, inittab_source(builtins), "inittab"),
               cc.compile_c(toolchain, frozen_group_source(frozen, "stdlib"), "frozen_stdlib"),
               cc.compile_c(toolchain, frozen_table_source(frozen, plan.filter_source.module), "frozen_table")]
    libpython = nocompiler.libpython_with_compiler(toolchain)
    if without_compiler:
        objects += [cc.compile_c(toolchain, (TOOLCHAINS_DIR / "nocompiler.c").read_text(), "nocompiler"),
                    cc.compile_c(toolchain, nocompiler.source_cache_source(plan.record), "source_cache")]
        libpython = nocompiler.libpython_without_compiler(toolchain)
    module = cc.link(toolchain, objects, tmp / "linked.wasm", libraries=toolchain.link_libraries(libpython),
                     left_out_part_signs=signs)
    timer.mark("link")
    if plan.options.snapshot:
        module = snapshot(toolchain, module, tmp / "snapshot.wasm", left_out_part_signs=signs)
        timer.mark("snapshot")
    return LinkedModule(module, builtins, frozen, without_compiler)


def _without_compiler_modules(frozen: FrozenSet) -> FrozenSet:
    """`frozen` without the stdlib modules that cannot be imported without `_ast`: not worth their bytes."""
    kept = [m for m in frozen.modules if m.group != "stdlib" or m.name not in nocompiler.COMPILER_MODULES]
    return FrozenSet(kept, frozen.referenced, frozen.eager, frozen.left_out)


def _finish_module(plan: BuildPlan, linked: LinkedModule, tmp: Path, timer: StepTimer) -> bytes:
    """Drop the snapshot's zero runs, strip (names kept unless asked) and optionally optimize."""
    module = linked.path
    module.write_bytes(split_zero_runs(module.read_bytes()))
    stripped = tmp / "stripped.wasm"
    strip_args = ["strip", str(module), "-o", str(stripped)]
    if not plan.options.keep_names:
        strip_args.insert(1, "--all")
    subprocess.run([str(plan.toolchain.wasm_tools), *strip_args], check=True, capture_output=True)
    timer.mark("strip")
    if plan.options.optimize:
        stripped = _optimize(stripped, tmp / "optimized.wasm")
        timer.mark("optimize")
    return stripped.read_bytes()


def _metadata_json(plan: BuildPlan, linked: LinkedModule) -> bytes:
    """The module's metadata section: how it was built and what it embeds."""
    metadata = {
        "runtime": "cpython",
        "abi": abi.LATEST.version,
        "python": PYTHON_VERSION,
        "sdk": _sdk_version(),
        "filter": plan.filter_source.module,
        "snapshot": plan.options.snapshot,
        "optimized": plan.options.optimize,
        "compiler": not linked.without_compiler,
        "frozen_modules": linked.frozen.names(),
        "builtin_modules": sorted([*linked.builtins, "_proxywasm_host"]),
        "left_out_modules": sorted(linked.frozen.left_out),
    }
    return json.dumps(metadata, separators=(",", ":")).encode()


def _report(linked: LinkedModule, data: bytes, seconds: dict[str, float]) -> dict:
    frozen = linked.frozen
    return dict(size=len(data), frozen_modules=len(frozen.modules),
                frozen_bytes=frozen.size(), frozen_stdlib_bytes=frozen.size("stdlib"),
                frozen_app_bytes=frozen.size("app"), compiler=not linked.without_compiler,
                left_out_modules=sorted(frozen.left_out), seconds=seconds)
