"""Small real Proxy-Wasm modules (WebAssembly text) for the rollout tests: each answers every
request itself with its version as the body, so a client sees which version served it.

They compile in milliseconds in Envoy, so the tests spend their time on what Envoy does with
a new version, not on V8 compiling a Python runtime.
"""

from __future__ import annotations

from pathlib import Path

_WAT = r"""
(module
  (import "env" "proxy_send_local_response"
    (func $send_local_response (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value"
    (func $add_header (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 8192))
  (data (i32.const 16) "{body}")
  (data (i32.const 1024) "{log}")
  (data (i32.const 2048) "rollout_reply")
  (data (i32.const 2080) "\00\00\00\00")
  (data (i32.const 2112) "x-version")
  {marker}
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $size)) (i32.const 15))
                               (i32.const -16)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow (i32.add (i32.shr_u (local.get $size) (i32.const 16)) (i32.const 1))))))
    (local.get $ptr))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    {vm_start})
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $log (i32.const {log_level}) (i32.const 1024) (i32.const {log_len})))
    (i32.const {configure_result}))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    {on_request})
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    ;; x-version: <version> (the body text without "version " and the newline)
    (drop (call $add_header (i32.const 2) (i32.const 2112) (i32.const 9)
      (i32.const 24) (i32.const {version_len})))
    (i32.const 0))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_delete") (param i32))
)
"""

#: How a module may behave when Envoy starts it.
STARTS = ("ok", "refuse", "trap", "no-abi")


_LOCAL_REPLY = """(drop (call $send_local_response
      (i32.const 200) (i32.const 2048) (i32.const 13) (i32.const 16) (i32.const {body_len})
      (i32.const 2080) (i32.const 4) (i32.const -1)))
    (i32.const 1)"""


def version_module(path: Path, version: str, start: str = "ok", *, local_reply: bool = True) -> Path:
    """Write a module answering `version` to every request (`local_reply`), or letting requests
    through to the upstream and adding `x-version: <version>` to the response headers.

    `start`: "ok"; "refuse" (on_configure logs an error and returns false); "trap" (on_vm_start
    traps, as a Python exception at VM start ends); "no-abi" (no ABI marker export: the
    validator refuses it, Envoy would too).
    """
    import wasmtime

    assert start in STARTS, start
    body = f"version {version}\n"
    log = (f"version {version} refuses its configuration" if start == "refuse"
           else f"version {version} configured")
    body_len = len(body.encode())
    wat = _WAT.format(
        on_request=_LOCAL_REPLY.format(body_len=body_len) if local_reply else "(i32.const 0)",
        version_len=len(version.encode()),
        body=body.replace("\n", "\\0a"), body_len=len(body.encode()),
        log=log, log_len=len(log.encode()), log_level=4 if start == "refuse" else 2,
        configure_result=0 if start == "refuse" else 1,
        vm_start="unreachable" if start == "trap" else "(i32.const 1)",
        marker="" if start == "no-abi" else '(func (export "proxy_abi_version_0_2_1"))',
    )
    path.write_bytes(wasmtime.wat2wasm(wat))
    return path
