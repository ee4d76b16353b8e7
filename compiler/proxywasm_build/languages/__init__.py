"""Build filter projects written in AssemblyScript, Rust or Go: find the language, hand it the build.

One module a language (`assemblyscript`, `rust`, `go`, plus `c` for the benchmarks' C filters);
`bindings` writes the ABI bindings an AssemblyScript or dependency-free Rust project carries.
"""

from __future__ import annotations

import json
from pathlib import Path

from proxywasm_build.cache import atomic_write
from proxywasm_build.errors import UserError
from proxywasm_build.languages.assemblyscript import build_assemblyscript_project
from proxywasm_build.languages.rust import build_rust_project
from proxywasm_build.wasm.metadata_section import producers_section
from proxywasm_build.wasm.reader import read_module


def detect_project_language(directory: Path) -> str | None:
    """"assemblyscript", "rust", "go", "python" or None, from the files a project keeps at its top."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    if (directory / "Cargo.toml").is_file():
        return "rust"
    if (directory / "go.mod").is_file():
        return "go"
    package_json = directory / "package.json"
    if package_json.is_file():
        try:
            package = json.loads(package_json.read_text())
        except (OSError, ValueError):
            package = {}
        deps = {**package.get("dependencies", {}), **package.get("devDependencies", {})}
        if "assemblyscript" in deps or (directory / "asconfig.json").is_file() \
                or (directory / "assembly").is_dir():
            return "assemblyscript"
    if (directory / "filter.py").is_file() or (directory / "__init__.py").is_file():
        return "python"
    return None


def build_project(directory: Path, output: Path | None = None) -> Path:
    """Build an AssemblyScript, Rust or Go project; `output` defaults to `build/filter.wasm` inside it."""
    directory = Path(directory)
    language = detect_project_language(directory)
    output = Path(output) if output is not None else directory / "build" / "filter.wasm"
    if language == "assemblyscript":
        return _record_language(build_assemblyscript_project(directory, output), "AssemblyScript")
    if language == "rust":
        return _record_language(build_rust_project(directory, output), "Rust")
    if language == "go":
        from proxywasm_build.languages.go import build_go_module

        return build_go_module(directory, output)
    raise UserError(f"{directory} is neither an AssemblyScript, a Rust nor a Go filter project.")


def _record_language(module: Path, language: str) -> Path:
    """Say in the module what it was written in, with the standard `producers` section, when the
    toolchain did not (stripped asc and rustc output carries none; Go's does)."""
    data = module.read_bytes()
    if read_module(data).custom_section("producers") is None:
        section = producers_section({"language": [(language, "")], "processed-by": [("proxywasm build", "")]})
        atomic_write(module, data + section)
    return module


def ensure_built(directory: Path, output: Path | None = None) -> Path:
    """`build_project`, skipped when the module is newer than every source of the project."""
    directory = Path(directory)
    output = Path(output) if output is not None else directory / "build" / "filter.wasm"
    if output.is_file():
        newest = max((p.stat().st_mtime for p in _project_sources(directory)), default=0.0)
        if output.stat().st_mtime >= newest:
            return output
    return build_project(directory, output)


def _project_sources(directory: Path) -> list[Path]:
    patterns = ("assembly/**/*.ts", "package.json", "src/**/*.rs", "Cargo.toml")
    return [path for pattern in patterns for path in directory.glob(pattern) if path.is_file()]
