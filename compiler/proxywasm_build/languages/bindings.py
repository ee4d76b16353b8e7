"""The AssemblyScript and Rust ABI bindings a new project gets, with their generated import blocks.

The AssemblyScript binding (toolchains/assemblyscript/proxywasm/) and the dependency-free Rust
binding (toolchains/rust/proxy_wasm/) are hand-written on top of one generated file each
(`abi.ts`, `abi.rs`): enums and host imports rendered from `proxywasm.abi`, the one ABI table.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from proxywasm import abi

from proxywasm_build import cache
from proxywasm_build.resources import toolchains_dir

ASSEMBLYSCRIPT_BINDING_DIR = toolchains_dir() / "assemblyscript" / "proxywasm"
RUST_BINDING_DIR = toolchains_dir() / "rust" / "proxy_wasm"

# The AssemblyScript the binding is written for: the build runs it, scaffolds pin it in package.json.
ASSEMBLYSCRIPT_VERSION = "0.28.20"

# Where each language's project keeps the generated binding.
ASSEMBLYSCRIPT_BINDING_PATH = Path("assembly") / "proxywasm"
RUST_BINDING_PATH = Path("src") / "proxy_wasm"

_ENUMS: tuple[type, ...] = (
    abi.Status, abi.LogLevel, abi.Action, abi.BufferType, abi.MapType, abi.PeerType,
    abi.StreamType, abi.MetricType, abi.GrpcStatus,
)


def _pascal(upper_snake: str) -> str:
    return "".join(part.capitalize() for part in upper_snake.split("_"))


def camel_case(snake: str) -> str:
    """`get_http_request_header` -> `getHttpRequestHeader`: the AssemblyScript binding's names."""
    first, *rest = snake.split("_")
    return first + "".join(part.capitalize() for part in rest)


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
            f"{camel_case(name)}: {_assemblyscript_param_type(name, wasm_type)}"
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
    return _write_binding(Path(project_dir) / ASSEMBLYSCRIPT_BINDING_PATH, ASSEMBLYSCRIPT_BINDING_DIR.glob("*.ts"),
                          "abi.ts", render_assemblyscript_abi())


def write_rust_binding(project_dir: Path) -> Path:
    """Copy the dependency-free Rust binding into `project_dir/src/proxy_wasm/` with a fresh abi.rs."""
    return _write_binding(Path(project_dir) / RUST_BINDING_PATH, RUST_BINDING_DIR.glob("*.rs"),
                          "abi.rs", render_rust_abi())


def _write_binding(target: Path, sources: Iterable[Path], abi_name: str, abi_text: str) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for source in sorted(sources):
        cache.atomic_write(target / source.name, source.read_bytes())
    cache.atomic_write(target / abi_name, abi_text.encode())
    return target
