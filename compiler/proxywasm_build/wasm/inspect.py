"""Describe a module: ABI version, exports, imports, section sizes, our Python metadata."""

from __future__ import annotations

import re
from typing import Any

from proxywasm import abi

from proxywasm_build.wasm.leb128 import read_unsigned
from proxywasm_build.wasm.validate import python_metadata
from proxywasm_build.wasm.reader import ModuleInfo


def human_size(n: int) -> str:
    """1234567 -> "1.23 MB", 41234 -> "41.2 KB", 530 -> "530 B"."""
    if n >= 1_000_000:
        return f"{n / 1e6:.2f} MB"
    if n >= 1000:
        return f"{n / 1e3:.1f} KB"
    return f"{n} B"


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


def producers(info: ModuleInfo) -> dict[str, list[str]]:
    """The standard `producers` custom section (tool-conventions): field -> names, e.g.
    `{"language": ["Go"], "processed-by": ["Go cmd/compile"]}`; empty when absent or corrupt."""
    raw = info.custom_section("producers")
    if not raw:
        return {}
    try:
        return _read_producers(raw)
    except (IndexError, UnicodeDecodeError):
        return {}


def _read_producers(raw: bytes) -> dict[str, list[str]]:
    def string(pos: int) -> tuple[str, int]:
        length, pos = read_unsigned(raw, pos)
        if pos + length > len(raw):
            raise IndexError("string past the section's end")
        return raw[pos:pos + length].decode(), pos + length

    fields: dict[str, list[str]] = {}
    count, pos = read_unsigned(raw, 0)
    for _ in range(count):
        field_name, pos = string(pos)
        values, pos = read_unsigned(raw, pos)
        for _ in range(values):
            name, pos = string(pos)
            _version, pos = string(pos)
            fields.setdefault(field_name, []).append(name)
    return fields


#: Names in a `producers` section (language or tool; matched in order) -> the runtime we show.
_PRODUCER_RUNTIMES = (
    (re.compile(r"assemblyscript", re.I), "AssemblyScript"),
    (re.compile(r"tinygo", re.I), "Go (TinyGo)"),
    (re.compile(r"go(\b| |$)", re.I), "Go"),
    (re.compile(r"rust", re.I), "Rust"),
    (re.compile(r"c\+\+|cpp\b", re.I), "C++"),
    (re.compile(r"c(\d\d)?$|clang", re.I), "C"),
)


def module_runtime(info: ModuleInfo) -> str | None:
    """What the module was written in, as far as it says: our metadata section for Python
    (CPython, MicroPython), else the `producers` section or Go's build-id section; None when
    the module says nothing (a stripped C, Rust or AssemblyScript module often does not)."""
    python = python_metadata(info)
    if python:
        runtime = str(python.get("runtime", "cpython"))
        version = python.get(runtime, python.get("python", ""))
        label = {"cpython": "CPython", "micropython": "MicroPython"}.get(runtime, runtime)
        return f"{label} {version}".strip()
    found = producers(info)
    for name in [*found.get("language", []), *found.get("processed-by", [])]:
        for pattern, label in _PRODUCER_RUNTIMES:
            if pattern.match(name):
                return label
    if info.custom_section("go:buildid") is not None:
        return "Go"
    return None
