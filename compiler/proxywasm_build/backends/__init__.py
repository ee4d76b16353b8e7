"""Build backends: one per interpreter a Python filter can be embedded with.

A backend turns a Python filter (a `.py` file or a package directory) into one Proxy-Wasm
module. Today there is one, `cpython` (CPython 3.11 for wasm32-wasi). What a second one shares
lives in `backends.common`, one idea a file:

- `filter_source`: which module a path names; `filter_check`: syntax, sandbox imports, a
  registered context, and the filter's direct imports;
- `toolchain`: zig's wasi-libc, wizer, wasm-tools, wasm-opt; `compile`: cached zig compiles
  and the wasm-ld link; `snapshot`: wizer; `datasegments`: the snapshot's zero runs;
- `left_out_parts`: `LeftOutPartNeeded`, raised by link or snapshot when a trimmed interpreter
  misses a part, so the backend can build again with it;
- `output`: the default output path (the metadata section itself is `wasm.metadata_section`)
  and the validate-before-write step.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

from proxywasm_build.errors import UserError

# runtime name -> "module:function" building a Python filter with it
BACKENDS: dict[str, str] = {
    "cpython": "proxywasm_build.backends.cpython:build_python_filter",
}


def backend(runtime: str) -> Callable[..., Path]:
    """The build function of the backend called `runtime`."""
    if runtime not in BACKENDS:
        raise UserError(f"unknown runtime {runtime!r}; choose one of: {', '.join(sorted(BACKENDS))}.")
    module_name, _, function = BACKENDS[runtime].partition(":")
    return getattr(importlib.import_module(module_name), function)


def build_python(source: Path, output: Path | None = None, *, runtime: str = "cpython",
                 **options: Any) -> Path:
    """Build a Python filter with the backend of `runtime`; returns the written module's path."""
    return backend(runtime)(source, output, **options)
