"""`proxywasm inspect`: ABI version, exports, imports, section sizes, our Python metadata."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import wasmtime

from proxywasm import abi

PROXYWASM = str(Path(sys.executable).parent / "proxywasm")

PYTHON_METADATA = {"abi": "0.2.1", "python": "3.11.8", "sdk": "0.1.0",
                   "frozen_modules": ["proxywasm", "json", "json.decoder"], "builtin_modules": ["_json"]}

MODULE_WAT = """
(module
  (import "env" "proxy_log" (func (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_configuration" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "_initialize"))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "malloc") (param i32) (result i32) i32.const 0)
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) i32.const 0)
  (func (export "proxy_on_request_metadata") (param i32 i32) (result i32) i32.const 0)
  (func (export "proxy_on_bogus"))
  (@custom "proxywasm-python" "%s")
)
"""


def write_module(tmp_path: Path, metadata: dict = PYTHON_METADATA) -> Path:
    text = json.dumps(metadata).replace("\\", "\\\\").replace('"', '\\"')
    path = tmp_path / "python_filter.wasm"
    path.write_bytes(wasmtime.wat2wasm(MODULE_WAT % text))
    return path


def run_inspect(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROXYWASM, "inspect", *map(str, args)], capture_output=True, text=True,
                          timeout=60)


def test_inspect_json(tmp_path: Path) -> None:
    path = write_module(tmp_path)
    proc = run_inspect(path, "--json")
    assert proc.returncode == 0, proc.stderr
    described = json.loads(proc.stdout)
    assert described["abi_version"] == "0.2.1"
    assert described["size"] == path.stat().st_size
    assert described["python"] == PYTHON_METADATA
    roles = {e["name"]: e["role"] for e in described["exports"]}
    assert roles == {"memory": "memory", "_initialize": "start", "proxy_abi_version_0_2_1": "ABI marker",
                     "malloc": "allocator", "proxy_on_request_headers": "callback",
                     "proxy_on_request_metadata": "callback (Envoy extra)",
                     "proxy_on_bogus": "unknown callback"}
    signatures = {e["name"]: e["signature"] for e in described["exports"]}
    assert signatures["proxy_on_request_headers"] == str(
        abi.LATEST.callbacks["proxy_on_request_headers"].signature)
    providers = {i["name"]: i["provided_by"] for i in described["imports"]}
    assert providers == {"proxy_log": "Proxy-Wasm 0.2.1", "proxy_get_configuration": "not provided by Envoy",
                         "fd_write": "WASI", "path_open": "WASI (always fails in Envoy)"}
    sections = {s["name"]: s["size"] for s in described["sections"]}
    assert sections["proxywasm-python"] == len("proxywasm-python") + 1 + len(json.dumps(PYTHON_METADATA))
    assert sum(s["size"] for s in described["sections"]) < described["size"]


def test_largest_functions_by_body_size() -> None:
    from proxywasm_build.wasm.reader import read_module

    data = wasmtime.wat2wasm("""(module
      (import "env" "proxy_log" (func (param i32 i32 i32) (result i32)))
      (func $small (export "small") nop)
      (func $big i32.const 1 i32.const 2 i32.add i32.const 3 i32.mul drop)
      (func $middle (export "middle") i32.const 7 drop))""")
    info = read_module(data)
    assert info.function_body_sizes() == [3, 11, 5]  # local-declaration count + code + end
    # $big keeps its name from the name section; the others are named by their exports too
    assert info.largest_functions(2) == [(2, "big", 11), (3, "middle", 5)]


def test_inspect_human_output(tmp_path: Path) -> None:
    proc = run_inspect(write_module(tmp_path))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "python_filter.wasm" in out and "Proxy-Wasm ABI 0.2.1" in out
    for needle in ("Exports (7)", "Imports (4)", "proxy_on_request_headers", "(i32, i32, i32) -> (i32)",
                   "not provided by Envoy", 'custom "proxywasm-python"', "Runtime cpython 3.11.8",
                   "proxywasm SDK 0.1.0", "3 frozen modules: proxywasm, json, json.decoder",
                   "Largest functions", "proxy_on_request_headers"):
        assert needle in out, needle


def test_inspect_names_the_micropython_runtime(tmp_path: Path) -> None:
    metadata = {"runtime": "micropython", "micropython": "1.19.0", "sdk": "0.1.0", "abi": "0.2.1",
                "heap_size": 1048576, "frozen_modules": ["proxywasm", "filter"]}
    proc = run_inspect(write_module(tmp_path, metadata))
    assert proc.returncode == 0, proc.stderr
    assert "Runtime micropython 1.19.0, GC heap 1024 KiB, proxywasm SDK 0.1.0" in proc.stdout
    described = json.loads(run_inspect(write_module(tmp_path, metadata), "--json").stdout)
    assert described["python"]["runtime"] == "micropython"


def test_inspect_module_without_marker_or_metadata(tmp_path: Path) -> None:
    path = tmp_path / "plain.wasm"
    path.write_bytes(wasmtime.wat2wasm('(module (func (export "add") (param i32 i32) (result i32) '
                                       'local.get 0 local.get 1 i32.add))'))
    described = json.loads(run_inspect(path, "--json").stdout)
    assert described["abi_version"] is None and described["python"] is None
    assert described["exports"] == [{"name": "add", "kind": "func", "signature": "(i32, i32) -> (i32)",
                                     "description": "func (i32, i32) -> (i32)", "role": ""}]
    assert "Proxy-Wasm ABI none (not a Proxy-Wasm module)" in run_inspect(path).stdout
