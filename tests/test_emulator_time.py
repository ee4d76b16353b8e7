"""The emulated clock as a `.py` filter run in-process sees it through `import time`."""

from pathlib import Path

from proxywasm.testing import Host

FILTER = '''
import time
from time import time_ns, monotonic_ns, gmtime, localtime, strftime

import proxywasm
from proxywasm import Action, HttpContext, RootContext


class Clock(HttpContext):
    def on_http_request_headers(self, num_headers, end_of_stream):
        self.send_http_response(200, [
            ("x-proxy", str(self.get_current_time_nanoseconds())),
            ("x-time-ns", str(time_ns())), ("x-time", repr(time.time())),
            ("x-mono", str(monotonic_ns())), ("x-perf", str(time.perf_counter_ns())),
            ("x-utc", str(localtime() == gmtime())), ("x-year", strftime("%Y")),
        ], b"")
        return Action.PAUSE


class Root(RootContext):
    def create_http_context(self, context_id):
        return Clock(context_id, self)


proxywasm.set_root_context(Root)
'''


def test_a_py_filters_time_module_follows_the_emulated_clock(tmp_path: Path) -> None:
    path = tmp_path / "clock_filter.py"
    path.write_text(FILTER)
    host = Host.load(path)
    request = {":method": "GET", ":path": "/", ":authority": "a"}
    first = host.http_request(request).headers
    host.advance(3600)
    second = host.http_request(request).headers
    assert int(second["x-time-ns"]) == int(second["x-proxy"]) == host.now_ns
    assert float(second["x-time"]) == host.now_ns / 1e9
    # plus the real time the filter spent in its callback in between, as in Envoy
    assert 0 <= int(second["x-mono"]) - int(first["x-mono"]) - 3600 * 10**9 < 10**9
    assert 0 <= int(second["x-perf"]) - int(second["x-mono"]) < 10**9
    assert second["x-utc"] == "True"
    assert second["x-year"] == str(__import__("time").gmtime(host.now_ns / 1e9).tm_year)


# A hand-written module whose on_tick records WASI's clocks in gauges: realtime ("wall"),
# monotonic ("mono") and the errno of the process CPU-time clock ("cpu").
CLOCKS_MODULE = r'''
(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_record_metric" (func $record (param i32 i64) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $tick_period (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "wallmonocpu")
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $tick_period (i32.const 1000)))
    (i32.const 1))
  (func $gauge (param $name i32) (param $size i32) (param $value i64)
    (drop (call $define (i32.const 1) (local.get $name) (local.get $size) (i32.const 200)))
    (drop (call $record (i32.load (i32.const 200)) (local.get $value))))
  (func (export "proxy_on_tick") (param i32)
    (drop (call $clock (i32.const 0) (i64.const 1) (i32.const 300)))
    (call $gauge (i32.const 100) (i32.const 4) (i64.load (i32.const 300)))
    (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 300)))
    (call $gauge (i32.const 104) (i32.const 4) (i64.load (i32.const 300)))
    (call $gauge (i32.const 108) (i32.const 3)
          (i64.extend_i32_u (call $clock (i32.const 2) (i64.const 1) (i32.const 300)))))
)
'''


def test_a_modules_wasi_clocks_are_the_emulated_clock(tmp_path: Path) -> None:
    """Envoy answers clock_time_get with its Proxy-Wasm clock (realtime), its monotonic clock,
    and ENOTSUP (58) for the CPU-time clocks."""
    import wasmtime

    path = tmp_path / "clocks.wasm"
    path.write_bytes(wasmtime.wat2wasm(CLOCKS_MODULE))
    host = Host.load(path)
    host.advance(1)
    first = dict(host.metrics)
    assert first["wall"] == host.now_ns
    assert first["cpu"] == 58
    host.advance(5)
    assert host.metrics["wall"] == host.now_ns
    assert 0 <= host.metrics["mono"] - first["mono"] - 5 * 10**9 < 10**9


SPIN_FILTER = '''
import time

import proxywasm
from proxywasm import Action, HttpContext, RootContext


class Spin(HttpContext):
    def on_http_request_headers(self, num_headers, end_of_stream):
        start = time.monotonic_ns()
        for _ in range(2_000_000):  # up to 50 ms of the filter's own work
            if time.monotonic_ns() - start >= 50_000_000:
                break
        self.send_http_response(200, [("x-spent-ns", str(time.monotonic_ns() - start))], b"")
        return Action.PAUSE


class Root(RootContext):
    def create_http_context(self, context_id):
        return Spin(context_id, self)


proxywasm.set_root_context(Root)
'''


def test_the_monotonic_clock_moves_while_a_callback_runs(tmp_path: Path) -> None:
    """In Envoy the monotonic clock is real: a filter timing its own work sees it take time
    (and the runtime's callback budget runs out), though the emulated wall clock stands still."""
    path = tmp_path / "spin_filter.py"
    path.write_text(SPIN_FILTER)
    host = Host.load(path)
    before = host.now_ns
    response = host.http_request({":method": "GET", ":path": "/", ":authority": "a"})
    assert int(response.headers["x-spent-ns"]) >= 50_000_000
    assert host.now_ns == before
