"""`proxywasm build`: any filter source into one Proxy-Wasm module.

A Rust, AssemblyScript or Go project directory goes to its language's toolchain
(`proxywasm_build.languages`); anything else is a Python filter, built by a backend
(`proxywasm_build.backends`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from proxywasm_build import languages
from proxywasm_build.backends import build_python


def build(source: Path, output: Path | None = None, **python_options: Any) -> Path:
    """Build `source` into a module and return its path.

    A project directory in another language defaults to `build/filter.wasm` inside it; a
    Python filter is built with `backends.build_python(source, output, **python_options)`.
    """
    source = Path(source)
    if source.is_dir() and languages.detect_project_language(source) in ("rust", "assemblyscript", "go"):
        return languages.build_project(source, output)
    return build_python(source, output, **python_options)
