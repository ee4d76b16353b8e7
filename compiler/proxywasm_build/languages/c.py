"""Compile plain C Proxy-Wasm filters with zig (PyPI `ziglang`): wasm32-wasi reactors.

Used by the tests and benchmarks for small C filters. Symbols marked
`__attribute__((export_name("...")))` in the C source are exported; `exports` adds more
(`-Wl,--export=NAME`). zig's caches live in the proxywasm cache directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Sequence

from proxywasm_build.cache import atomic_write, cache_dir
from proxywasm_build.errors import UserError
from proxywasm_build.languages.diagnostics import compile_failure, located_errors

ZIG_TARGET = "wasm32-wasi"
DEFAULT_FLAGS = ("-Os", "-mexec-model=reactor", "-Wl,--strip-debug")


def zig_command() -> list[str]:
    """The command that runs the pinned zig (`python -m ziglang`) from this environment."""
    return [sys.executable, "-m", "ziglang"]


def zig_env() -> dict[str, str]:
    env = dict(os.environ)
    zig_cache = cache_dir() / "zig"
    env.setdefault("ZIG_GLOBAL_CACHE_DIR", str(zig_cache / "global"))
    env.setdefault("ZIG_LOCAL_CACHE_DIR", str(zig_cache / "local"))
    return env


def compile_c_module(
    sources: Sequence[Path | str],
    output: Path | str,
    *,
    exports: Iterable[str] | None = None,
    extra_flags: Sequence[str] = (),
) -> Path:
    """Compile C `sources` into a wasm32-wasi reactor module at `output`; return its path.

    `exports` names extra symbols to export (for example `malloc`); `extra_flags` go to
    `zig cc` as they are (`-DNAME`, `-I...`, `-O2`). Raises `UserError` with every error the
    compiler reported (file:line:col) when compilation fails.
    """
    output = Path(output)
    source_paths = [Path(s) for s in sources]
    for path in source_paths:
        if not path.is_file():
            raise UserError(f"C source {path} does not exist.")
    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = output.with_name(f".{output.name}.zig{os.getpid()}.wasm")
    command = [
        *zig_command(), "cc", "-target", ZIG_TARGET, *DEFAULT_FLAGS,
        *(f"-Wl,--export={name}" for name in exports or ()),
        *extra_flags,
        "-o", str(scratch), *map(str, source_paths),
    ]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, env=zig_env())
        if proc.returncode != 0:
            raise compile_failure(f"zig could not compile {', '.join(p.name for p in source_paths)}",
                                  located_errors(proc.stderr, marker="error"), proc)
        atomic_write(output, scratch.read_bytes())
    finally:
        if scratch.exists():
            scratch.unlink()
    return output

