"""Compiled modules under the emulator (wasmtime): marshalling, traps, limits."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from proxywasm.testing import FilterLoadError, Host, ModuleTrap

# A hand-written ABI 0.2.1 module: on_configure reads the whole plugin configuration the way
# SDKs do (max_size = 0xFFFFFFFF) and logs it; a request with any body traps (unreachable);
# on_tick spins forever (for the fuel limit).
MODULE = r'''
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $tick_period (param i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  (func (export "malloc") (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $ptr))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "_initialize"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $get_buffer (i32.const 7) (i32.const 0) (i32.const -1) (i32.const 16) (i32.const 20)))
    (drop (call $log (i32.const 2) (i32.load (i32.const 16)) (i32.load (i32.const 20))))
    (drop (call $tick_period (i32.const 1000)))
    (i32.const 1))
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32) unreachable)
  (func (export "proxy_on_tick") (param i32) (loop $spin (br $spin)))
)
'''


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wat") / "probe.wasm"
    path.write_bytes(wasmtime.wat2wasm(MODULE))
    return path


def test_whole_buffer_read_with_unsigned_max_size(module: Path) -> None:
    config = b'{"a": "' + b"x" * 300 + b'"}'
    host = Host.load(module, plugin_config=config)
    assert host.log_messages() == [config.decode()]


def test_trap_is_a_clear_error_with_the_callback_name(module: Path) -> None:
    host = Host.load(module)
    with pytest.raises(ModuleTrap, match="module trapped in proxy_on_request_body"):
        host.http_request({":method": "POST", ":path": "/", ":authority": "a"}, body=b"x")


def test_fuel_limit_stops_a_runaway_callback(module: Path) -> None:
    host = Host.load(module, fuel=100_000)
    with pytest.raises(ModuleTrap, match="proxy_on_tick"):
        host.tick()


def test_not_a_proxy_wasm_module(tmp_path: Path) -> None:
    plain = tmp_path / "plain.wasm"
    plain.write_bytes(wasmtime.wat2wasm('(module (func (export "f")))'))
    with pytest.raises(FilterLoadError, match="exports no proxy_abi_version_"):
        Host.load(plain)
    junk = tmp_path / "junk.wasm"
    junk.write_bytes(b"\0asm\x01\0\0\0\xff")
    with pytest.raises(FilterLoadError, match="not a loadable WebAssembly module"):
        Host.load(junk)


def test_unknown_hostcall_import_fails_like_envoy(tmp_path: Path) -> None:
    path = tmp_path / "old.wasm"
    path.write_bytes(wasmtime.wat2wasm('''(module
      (import "env" "proxy_get_configuration" (func (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "malloc") (param i32) (result i32) (i32.const 0))
      (func (export "proxy_abi_version_0_2_1")))'''))
    with pytest.raises(FilterLoadError, match="env.proxy_get_configuration"):
        Host.load(path)
