"""Compile C with zig for wasm32-wasi and link the module with wasm-ld, caching objects.

Objects are cached by the hash of their source and flags, so a rebuild of a changed filter
recompiles only the frozen-module table and the filter's own group of frozen modules.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

from proxywasm_build import cache
from proxywasm_build.backends.common.left_out_parts import raise_build_failure
from proxywasm_build.backends.common.toolchain import WasiTools

#: -Oz for size; no UBSan runtime; the wasm features V8 in Envoy 1.40 and wizer 11 both accept.
CFLAGS = ("-target", "wasm32-wasi", "-Oz", "-fno-sanitize=all", "-D_WASI_EMULATED_SIGNAL",
          "-D_WASI_EMULATED_PROCESS_CLOCKS", "-D_WASI_EMULATED_GETPID",
          "-mcpu=generic", "-mno-reference-types", "-Wno-unused-parameter")
STACK_SIZE = 1 << 20
INITIAL_MEMORY: int | None = None   # wasm-ld's default: static data + stack; the heap grows
MAX_MEMORY = 1 << 30


def _objects_dir() -> Path:
    d = cache.cache_dir() / "objects"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None,
         left_out_part_signs: tuple[str, ...] = ()) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        details = (proc.stderr or proc.stdout).strip().splitlines()
        errors = [line for line in details if "error" in line.lower()] or details or ["no output"]
        raise_build_failure(f"{what} failed: {errors[0][:400]}", left_out_part_signs)


def compile_c(toolchain: WasiTools, source: str, name: str, extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile C `source` to a wasm32-wasi object, reusing a cached object for the same input."""
    includes = [flag for directory in toolchain.include_dirs for flag in ("-I", str(directory))]
    flags = (*CFLAGS, *includes, *extra_flags)
    key = hashlib.sha256(("\0".join(flags) + "\0" + source).encode()).hexdigest()[:20]
    obj = _objects_dir() / f"{name}-{key}.o"
    if obj.exists():
        return obj
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"{name}.c"
        src.write_text(source)
        out = Path(tmp) / f"{name}.o"
        _run(toolchain.zig("cc", *flags, "-c", str(src), "-o", str(out)),
             f"compiling {name}.c", toolchain.zig_env())
        os.replace(out, obj)
    return obj


def link(toolchain: WasiTools, objects: list[Path], output: Path, *, libraries: tuple[Path, ...] = (),
         gc_sections: bool = True, left_out_part_signs: tuple[str, ...] = ()) -> Path:
    """Link our objects, the interpreter's `libraries` and zig's wasi-libc into one reactor module.

    A failure whose message shows one of `left_out_part_signs` raises `LeftOutPartNeeded`."""
    cmd = toolchain.zig(
        "wasm-ld", "--no-entry", "--export-memory", "--stack-first",
        "-z", f"stack-size={STACK_SIZE}",
        *([f"--initial-memory={INITIAL_MEMORY}"] if INITIAL_MEMORY else []),
        f"--max-memory={MAX_MEMORY}", "--allow-multiple-definition",
        # libpython's pthread stubs clash with wasi-libc's; the first definition (ours, then
        # libpython's) wins.
        *([] if gc_sections else ["--no-gc-sections"]),
        # PROXYWASM_LINK_MAP=file writes wasm-ld's map (where every symbol landed): for weight work.
        *([f"-Map={os.environ['PROXYWASM_LINK_MAP']}"] if os.environ.get("PROXYWASM_LINK_MAP") else []),
        "-o", str(output),
        *map(str, objects),
        *map(str, libraries),
        *map(str, toolchain.libc_inputs),
    )
    _run(cmd, "linking the module", toolchain.zig_env(), left_out_part_signs)
    return output
