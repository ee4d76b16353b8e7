"""Describe a module: ABI version, exports, imports, section sizes, our Python metadata."""

from __future__ import annotations

from typing import Any

from proxywasm import abi

from proxywasm_build.wasm.validate import python_metadata
from proxywasm_build.wasm.reader import ModuleInfo


def export_role(name: str, version: abi.AbiVersion | None) -> str:
    """What the host does with an export of this name."""
    if name in abi.MARKERS:
        return "ABI marker"
    if name in ("malloc", "proxy_on_memory_allocate"):
        return "allocator"
    if name in abi.START_EXPORTS:
        return "start"
    if version is not None and name in version.callbacks:
        return "callback"
    if name in abi.EXTRA_HOST_KNOWN_CALLBACKS:
        return "callback (Envoy extra)"
    if name.startswith("proxy_on_"):
        return "unknown callback"
    if name == "memory":
        return "memory"
    return ""


def import_provider(module: str, name: str, version: abi.AbiVersion | None) -> str:
    """Who provides an import in Envoy: the Proxy-Wasm ABI, Envoy's extras, WASI, or nobody."""
    version = version or abi.LATEST
    if module == "env":
        if name in version.hostcalls:
            return f"Proxy-Wasm {version.version}"
        if name in abi.ENVOY_EXTRA_ENV_IMPORTS:
            return "Envoy extra"
    elif module in abi.WASI_MODULES and name in abi.ENVOY_WASI_FUNCTIONS:
        return "WASI" if name in abi.ENVOY_WASI_WORKING else "WASI (always fails in Envoy)"
    return "not provided by Envoy"


def abi_version_of(info: ModuleInfo) -> str | None:
    """The ABI of the first exported marker function (what Envoy uses), or None."""
    for export in info.exports:
        if export.kind == "func" and export.name in abi.MARKERS:
            return abi.MARKERS[export.name]
    return None


def describe_module(info: ModuleInfo) -> dict[str, Any]:
    """A JSON-ready description of the module."""
    version_name = abi_version_of(info)
    version = abi.ABI_VERSIONS.get(version_name) if version_name else None
    return {
        "size": info.size,
        "abi_version": version_name,
        "code_size": info.code_size,
        "defined_functions": info.defined_functions,
        "exports": [
            {"name": e.name, "kind": e.kind, "signature": str(e.signature) if e.signature else None,
             "description": e.description, "role": export_role(e.name, version)}
            for e in info.exports
        ],
        "imports": [
            {"module": i.module, "name": i.name, "kind": i.kind,
             "signature": str(i.signature) if i.signature else None, "description": i.description,
             "provided_by": import_provider(i.module, i.name, version) if i.kind == "func" else ""}
            for i in info.imports
        ],
        "sections": [
            {"kind": s.kind, "name": s.name, "offset": s.offset, "size": s.size}
            for s in info.sections
        ],
        "largest_functions": [
            {"index": index, "name": name, "size": size}
            for index, name, size in info.largest_functions(10)
        ],
        "python": python_metadata(info),
    }
