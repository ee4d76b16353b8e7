"""Ticks and time as Envoy 1.40 has them (measured with filters/ticks.py in Envoy):

- the first tick comes one period after set_tick_period, then one per period;
- a callout made from on_tick is answered like any other, and ticks go on while it is pending;
- a request paused until a tick is resumed by that tick;
- a module's WASI clock (Python's `time` inside it) is the Proxy-Wasm clock.

In Envoy `advance(seconds)` waits in real time, so the periods here are short.
"""

import json
from pathlib import Path

import pytest
from proxywasm.testing import EmulatorError, Host

FILTER = Path(__file__).parent / "filters" / "ticks.py"
REQUEST = {":method": "GET", ":path": "/", ":authority": "example.com"}


def load(mode: str, period_ms: int = 100, **config) -> Host:
    return Host.load(FILTER, plugin_config=json.dumps({"mode": mode, "period_ms": period_ms, **config}),
                     clusters=["ticker"])


def test_a_callout_made_from_on_tick_is_answered_by_the_responder():
    host = load("callout")
    host.on_http_call("ticker", (200, {}, b"pong"))
    assert host.http_request(REQUEST).status == 200  # arms the ticks' callouts
    host.advance(0.5)
    assert "tick answer 200 pong" in host.log_messages()
    assert host.metrics["tick.answered"] == 1


def test_ticks_go_on_while_a_callout_from_an_earlier_tick_is_pending():
    host = load("callout", period_ms=150)  # not the Envoy the test above armed (reuse pool)
    assert host.http_request(REQUEST).status == 200
    host.advance(0.5)
    assert len(host.pending_http_calls) == 1
    ticks = [m for m in host.log_messages() if m.startswith("tick ")]
    assert any(m.endswith("pending 1") for m in ticks)
    assert host.metrics.get("tick.answered", 0) == 0


@pytest.mark.emulator_only
def test_a_grpc_call_made_from_on_tick_is_answered_by_the_responder():
    """The envoy host has no gRPC server to answer a call."""
    host = load("grpc")
    host.on_grpc_call("ticker", "probe.Ticker", "Tick", b"tock")
    host.http_request(REQUEST)
    host.advance(0.5)
    assert "tick grpc answer 0 tock" in host.log_messages()
    assert host.pending_grpc_calls == []


@pytest.mark.emulator_only
def test_host_tick_answers_the_callouts_it_made_too():
    """host.tick() is the emulator's: Envoy's ticks come only with real time."""
    host = load("callout")
    host.on_http_call("ticker", (200, {}, b"pong"))
    host.http_request(REQUEST)
    host.tick()
    assert "tick answer 200 pong" in host.log_messages()


def test_a_request_paused_until_the_next_tick_is_resumed_by_it():
    host = load("hold")
    response = host.http_request(REQUEST, upstream=(200, {}, b"after the tick"))
    assert response.status == 200 and response.body == b"after the tick"
    assert response.upstream_request is not None
    messages = host.log_messages()
    assert messages.index("held until the next tick") < messages.index("resumed at a tick")


@pytest.mark.emulator_only
def test_http_request_moves_the_clock_to_the_tick_that_resumes_the_stream():
    """Reads the emulated clock, which Envoy's real one is not. The first tick is one period
    after set_tick_period, as in Envoy."""
    host = load("hold", period_ms=250)
    start = host.now_ns
    host.http_request(REQUEST)
    assert host.now_ns - start == 250_000_000


@pytest.mark.emulator_only
def test_a_request_only_a_tick_could_resume_says_that_no_tick_is_scheduled():
    """Envoy would hold the request until its stream timeout: a test cannot wait for that."""
    host = load("hold", period_ms=0)
    with pytest.raises(EmulatorError, match="no tick is scheduled"):
        host.http_request(REQUEST)


def test_a_modules_time_module_reads_the_proxy_wasm_clock():
    host = load("clock", period_ms=0)
    first = host.http_request(REQUEST).headers
    host.advance(1.0)
    second = host.http_request(REQUEST).headers
    for seen in (first, second):  # read microseconds apart in Envoy, the same clock here
        assert abs(int(seen["x-wall-ns"]) - int(seen["x-proxy-ns"])) < 200_000_000
    proxy_moved = int(second["x-proxy-ns"]) - int(first["x-proxy-ns"])
    monotonic_moved = int(second["x-mono-ns"]) - int(first["x-mono-ns"])
    assert proxy_moved >= 1_000_000_000
    assert abs(monotonic_moved - proxy_moved) < 200_000_000


@pytest.mark.emulator_only
def test_the_tick_period_a_plugin_set_is_readable():
    """Envoy does not report a plugin's tick period."""
    host = load("callout", period_ms=250)
    assert host.tick_period_ms == 250
    assert host.plugins[0].tick_period_ms == 250
    assert load("clock", period_ms=0).tick_period_ms == 0

