"""Build AssemblyScript and Rust filter projects, and generate their ABI bindings' import blocks.

The AssemblyScript binding (toolchains/assemblyscript/proxywasm/) and the dependency-free Rust
binding (toolchains/rust/proxy_wasm/) are hand-written on top of one generated file each
(`abi.ts`, `abi.rs`): enums and host imports rendered from `proxywasm.abi`, the one ABI table.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from proxywasm import abi

from proxywasm_build import cache
from proxywasm_build.errors import UserError
from proxywasm_build.resources import toolchains_dir

ASSEMBLYSCRIPT_BINDING_DIR = toolchains_dir() / "assemblyscript" / "proxywasm"
RUST_BINDING_DIR = toolchains_dir() / "rust" / "proxy_wasm"

ASSEMBLYSCRIPT_VERSION = "0.28.20"
RUST_TARGET = "wasm32-unknown-unknown"

# Where each language's project keeps the generated binding.
ASSEMBLYSCRIPT_BINDING_PATH = Path("assembly") / "proxywasm"
RUST_BINDING_PATH = Path("src") / "proxy_wasm"

_ENUMS: tuple[type, ...] = (
    abi.Status, abi.LogLevel, abi.Action, abi.BufferType, abi.MapType, abi.PeerType,
    abi.StreamType, abi.MetricType, abi.GrpcStatus,
)


def _pascal(upper_snake: str) -> str:
    return "".join(part.capitalize() for part in upper_snake.split("_"))


def _camel(snake: str) -> str:
    first, *rest = snake.split("_")
    return first + "".join(part.capitalize() for part in rest)


# ---------------------------------------------------------------------------
# Generated binding files


def render_assemblyscript_abi(version: str = "0.2.1") -> str:
    """`abi.ts`: the ABI enums and one `@external("env", ...)` declaration per hostcall."""
    table = abi.ABI_VERSIONS[version]
    lines = [
        f"// Generated from proxywasm.abi (Proxy-Wasm ABI {version}) by proxywasm_build.languages.",
        "// Do not edit: `proxywasm init` writes it again for a new project.",
        "",
        f"export const NO_GRPC_STATUS: i32 = {abi.NO_GRPC_STATUS};",
        "",
    ]
    for enum in _ENUMS:
        lines.append(f"export enum {enum.__name__} {{")
        lines += [f"  {_pascal(member.name)} = {member.value}," for member in enum]
        lines += ["}", ""]
    for hostcall in table.hostcalls.values():
        params = ", ".join(
            f"{_camel(name)}: {_assemblyscript_param_type(name, wasm_type)}"
            for name, wasm_type in zip(hostcall.params, hostcall.signature.params)
        )
        result = "u32" if hostcall.returns_status else "void"
        lines.append(f'@external("env", "{hostcall.name}")')
        lines.append(f"export declare function {hostcall.name}({params}): {result};")
    return "\n".join(lines) + "\n"


def _assemblyscript_param_type(param: str, wasm_type: str) -> str:
    if wasm_type == "i64":
        return "u64" if param == "value" else "i64"
    if param.endswith("_data") or param.startswith("return_"):
        return "usize"
    if param == "grpc_status":
        return "i32"
    return "u32"


def _rust_param_type(hostcall: abi.Hostcall, param: str, wasm_type: str) -> str:
    if wasm_type == "i64":
        return "u64" if param == "value" else "i64"
    if param.startswith("return_"):
        if param.endswith("_data"):
            return "*mut *mut u8"
        if param.endswith("_size"):
            return "*mut usize"
        outputs = dict(hostcall.outputs)
        return "*mut u64" if outputs.get(param[len("return_"):]) == "u64" else "*mut u32"
    if param.endswith("_data"):
        return "*const u8"
    if param.endswith("_size"):
        return "usize"
    if param == "grpc_status":
        return "i32"
    return "u32"


def render_rust_abi(version: str = "0.2.1") -> str:
    """`abi.rs`: the ABI enums and the `extern "C"` block of `env.proxy_*` imports."""
    table = abi.ABI_VERSIONS[version]
    lines = [
        f"// Generated from proxywasm.abi (Proxy-Wasm ABI {version}) by proxywasm_build.languages.",
        "// Do not edit: `proxywasm init` writes it again for a new project.",
        "#![allow(dead_code)]",
        "",
        f"pub const NO_GRPC_STATUS: i32 = {abi.NO_GRPC_STATUS};",
        "",
    ]
    for enum in _ENUMS:
        lines += ["#[repr(u32)]", "#[derive(Debug, Clone, Copy, PartialEq, Eq)]",
                  f"pub enum {enum.__name__} {{"]
        lines += [f"    {_pascal(member.name)} = {member.value}," for member in enum]
        lines += ["}", ""]
    lines += ['#[link(wasm_import_module = "env")]', 'extern "C" {']
    for hostcall in table.hostcalls.values():
        params = ", ".join(
            f"{name}: {_rust_param_type(hostcall, name, wasm_type)}"
            for name, wasm_type in zip(hostcall.params, hostcall.signature.params)
        )
        result = " -> u32" if hostcall.returns_status else ""
        lines.append(f"    pub fn {hostcall.name}({params}){result};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_assemblyscript_binding(project_dir: Path) -> Path:
    """Copy the AssemblyScript binding into `project_dir/assembly/proxywasm/` with a fresh abi.ts."""
    target = Path(project_dir) / ASSEMBLYSCRIPT_BINDING_PATH
    target.mkdir(parents=True, exist_ok=True)
    for source in sorted(ASSEMBLYSCRIPT_BINDING_DIR.glob("*.ts")):
        cache.atomic_write(target / source.name, source.read_bytes())
    cache.atomic_write(target / "abi.ts", render_assemblyscript_abi().encode())
    return target


def write_rust_binding(project_dir: Path) -> Path:
    """Copy the dependency-free Rust binding into `project_dir/src/proxy_wasm/` with a fresh abi.rs."""
    target = Path(project_dir) / RUST_BINDING_PATH
    target.mkdir(parents=True, exist_ok=True)
    for source in sorted(RUST_BINDING_DIR.glob("*.rs")):
        cache.atomic_write(target / source.name, source.read_bytes())
    cache.atomic_write(target / "abi.rs", render_rust_abi().encode())
    return target


# ---------------------------------------------------------------------------
# Project detection


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


# ---------------------------------------------------------------------------
# AssemblyScript


def assemblyscript_compiler() -> Path:
    """The pinned `asc`, installed from npm into the cache on first use."""
    prefix = cache.npm_package("assemblyscript", ASSEMBLYSCRIPT_VERSION)
    return prefix / "node_modules" / ".bin" / "asc"


def build_assemblyscript_project(directory: Path, output: Path) -> Path:
    """Compile `directory/assembly/index.ts` into a Proxy-Wasm 0.2.1 reactor at `output`.

    Runs the pinned AssemblyScript (npm `assemblyscript@0.28.20`, cached) with the incremental
    GC, `_initialize` as the exported start function and an abort handler that logs through
    `proxy_log` (Envoy has no `env.abort`).
    """
    directory = Path(directory).resolve()
    entry = directory / "assembly" / "index.ts"
    if not entry.is_file():
        raise UserError(f"{directory} is not an AssemblyScript filter project: assembly/index.ts is missing.")
    if not (directory / ASSEMBLYSCRIPT_BINDING_PATH / "exports.ts").is_file():
        raise UserError(f"{directory} has no Proxy-Wasm binding in assembly/proxywasm/; "
                        "create the project with `proxywasm init --lang assemblyscript`.")
    asc = assemblyscript_compiler()
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="proxywasm-asc-") as scratch:
        built = Path(scratch) / "filter.wasm"
        command = [
            str(asc), "assembly/index.ts", "-o", str(built),
            "-O", "--shrinkLevel", "1", "--noAssert",
            "--runtime", "incremental",
            "--exportStart", "_initialize",
            "--use", "abort=assembly/proxywasm/runtime/abortHandler",
        ]
        proc = subprocess.run(command, cwd=directory, capture_output=True, text=True)
        if proc.returncode != 0 or not built.is_file():
            raise UserError(f"AssemblyScript could not compile {entry}: {_first_error(proc)}")
        cache.atomic_write(output, built.read_bytes())
    return output


def _first_error(proc: subprocess.CompletedProcess) -> str:
    text = ((proc.stderr or "") + "\n" + (proc.stdout or "")).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.lower().startswith("error"):
            return line.rstrip(".")
    for line in lines:
        if "error" in line.lower():
            return line.rstrip(".")
    return (lines[0] if lines else f"exit status {proc.returncode}").rstrip(".")


# ---------------------------------------------------------------------------
# Rust


def rustc_with_wasm_target() -> Path | None:
    """A `rustc` whose sysroot has the wasm32-unknown-unknown standard library, if any.

    Debian's rustc (`apt-get install rustc libstd-rust-dev-wasm32`) has it; a rustup toolchain
    earlier on PATH often lacks the target, so every candidate is checked.
    """
    candidates: list[str] = []
    for name in (os.environ.get("PROXYWASM_RUSTC"), "/usr/bin/rustc", shutil.which("rustc")):
        if name and name not in candidates and Path(name).exists():
            candidates.append(name)
    for rustc in candidates:
        proc = subprocess.run([rustc, "--print", "sysroot"], capture_output=True, text=True)
        if proc.returncode == 0:
            sysroot = Path(proc.stdout.strip())
            if (sysroot / "lib" / "rustlib" / RUST_TARGET / "lib").is_dir():
                return Path(rustc)
    return None


def build_rust_project(directory: Path, output: Path) -> Path:
    """Build a Rust filter project into a Proxy-Wasm module at `output`.

    A project carrying the bundled binding (`src/proxy_wasm/`, from `init --no-deps` or
    `skeleton`) is compiled by `rustc` alone for wasm32-unknown-unknown; a project that depends
    on the `proxy-wasm` crate is built with `cargo`, which needs the crates registry.
    """
    directory = Path(directory).resolve()
    if not (directory / "Cargo.toml").is_file() or not (directory / "src" / "lib.rs").is_file():
        raise UserError(f"{directory} is not a Rust filter project: Cargo.toml or src/lib.rs is missing.")
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    if (directory / RUST_BINDING_PATH / "mod.rs").is_file():
        return _build_rust_with_rustc(directory, output)
    return _build_rust_with_cargo(directory, output)


def _build_rust_with_rustc(directory: Path, output: Path) -> Path:
    rustc = rustc_with_wasm_target()
    if rustc is None:
        raise UserError("no rustc with the wasm32-unknown-unknown target was found; "
                        "install one (Debian: apt-get install rustc libstd-rust-dev-wasm32).")
    with tempfile.TemporaryDirectory(prefix="proxywasm-rustc-") as scratch:
        built = Path(scratch) / "filter.wasm"
        command = [
            str(rustc), "--edition", "2021", "--crate-type", "cdylib", "--crate-name", "filter",
            "--target", RUST_TARGET, "-C", "opt-level=z", "-C", "panic=abort", "-C", "lto",
            "-C", "strip=symbols", "-C", "codegen-units=1",
            "src/lib.rs", "-o", str(built),
        ]
        proc = subprocess.run(command, cwd=directory, capture_output=True, text=True)
        if proc.returncode != 0 or not built.is_file():
            raise UserError(f"rustc could not compile {directory / 'src' / 'lib.rs'}: {_first_error(proc)}")
        cache.atomic_write(output, built.read_bytes())
    return output


def _build_rust_with_cargo(directory: Path, output: Path) -> Path:
    cargo = shutil.which("cargo")
    if cargo is None:
        raise UserError("cargo is not installed; a project that depends on the proxy-wasm crate "
                        "needs cargo and the crates registry (or create it with --no-deps).")
    proc = subprocess.run(
        [cargo, "build", "--release", "--target", RUST_TARGET],
        cwd=directory, capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise UserError(f"cargo could not build {directory}: {_first_error(proc)}")
    artifacts = sorted((directory / "target" / RUST_TARGET / "release").glob("*.wasm"))
    if not artifacts:
        raise UserError(f"cargo built {directory} but produced no .wasm file; is crate-type cdylib?")
    cache.atomic_write(output, artifacts[0].read_bytes())
    return output


def _project_sources(directory: Path) -> list[Path]:
    patterns = ("assembly/**/*.ts", "package.json", "src/**/*.rs", "Cargo.toml")
    return [path for pattern in patterns for path in directory.glob(pattern) if path.is_file()]


def ensure_built(directory: Path, output: Path | None = None) -> Path:
    """`build_project`, skipped when the module is newer than every source of the project."""
    directory = Path(directory)
    output = Path(output) if output is not None else directory / "build" / "filter.wasm"
    if output.is_file():
        newest = max((p.stat().st_mtime for p in _project_sources(directory)), default=0.0)
        if output.stat().st_mtime >= newest:
            return output
    return build_project(directory, output)


def build_project(directory: Path, output: Path | None = None) -> Path:
    """Build an AssemblyScript, Rust or Go project; `output` defaults to `build/filter.wasm` inside it."""
    directory = Path(directory)
    language = detect_project_language(directory)
    output = Path(output) if output is not None else directory / "build" / "filter.wasm"
    if language == "assemblyscript":
        return build_assemblyscript_project(directory, output)
    if language == "rust":
        return build_rust_project(directory, output)
    if language == "go":
        from proxywasm_build.languages.go import build_go_module

        return build_go_module(directory, output)
    raise UserError(f"{directory} is neither an AssemblyScript, a Rust nor a Go filter project.")
