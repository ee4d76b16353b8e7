"""Build backends: one per interpreter a Python filter can be embedded with.

A backend turns a Python filter (a `.py` file or a package directory) into one Proxy-Wasm
module: `cpython` (CPython 3.11 for wasm32-wasi: any pure-Python filter) and `micropython`
(MicroPython 1.19: a module about as light as AssemblyScript's, for filters whose imports it
provides); `runtime_choice` picks one for `--runtime auto`. What both share lives in
`backends.common`, one idea a file:

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
import inspect
from pathlib import Path
from typing import Any, Callable

from proxywasm_build.errors import UserError

# runtime name -> "module:function" building a Python filter with it
BACKENDS: dict[str, str] = {
    "cpython": "proxywasm_build.backends.cpython:build_python_filter",
    "micropython": "proxywasm_build.backends.micropython:build_micropython_filter",
}


def backend(runtime: str) -> Callable[..., Path]:
    """The build function of the backend called `runtime`."""
    if runtime not in BACKENDS:
        raise UserError(f"unknown runtime {runtime!r}; choose one of: {', '.join(sorted(BACKENDS))}.")
    module_name, _, function = BACKENDS[runtime].partition(":")
    return getattr(importlib.import_module(module_name), function)


def build_python(source: Path, output: Path | None = None, *, runtime: str = "auto",
                 announce: Callable[[str], None] | None = None, **options: Any) -> Path:
    """Build a Python filter with the backend of `runtime` (auto, micropython or cpython);
    returns the written module's path.

    `auto` picks MicroPython when the filter fits it (`runtime_choice`); `announce`, when given,
    receives the one line saying which runtime and why before the build starts. Options a
    backend does not take (`snapshot_module` for MicroPython, `heap_size` for CPython) are
    dropped; a `report` dict also receives `runtime` and `runtime_reason`.
    """
    from proxywasm_build.backends.runtime_choice import choose_runtime

    choice = choose_runtime(Path(source), runtime)
    if announce is not None:
        announce(choice.line())
    build_function = backend(choice.runtime)
    accepted = inspect.signature(build_function).parameters
    written = build_function(source, output, **{k: v for k, v in options.items() if k in accepted})
    report = options.get("report")
    if isinstance(report, dict):
        report.update(runtime=choice.runtime, runtime_reason=choice.line())
    return written
