"""A misbehaving filter's compiled module (both runtimes) in real Envoy 1.40:
a callback that loops forever costs one 500 and the worker serves on (the callback budget);
a traceback in Envoy's log shows the filter's source lines.

The filter is tests/data/budget/budget_filter.py. MicroPython has a budget by default (100 ms);
CPython only when asked (PROXYWASM_CALLBACK_BUDGET_MS, or proxywasm.set_callback_budget), as
its check costs ~26% more wasm instructions per request (docs/reliability.md). In wasmtime the
emulated monotonic clock moves with the real time spent in a callback, as Envoy's does, so the
budget runs out there too.
"""

from __future__ import annotations

import http.client
import time
from pathlib import Path

import pytest

from proxywasm_build.envoy.runner import LocalEnvoy
from proxywasm_build.hosts import built_module

pytestmark = [pytest.mark.build]

FILTER = Path(__file__).resolve().parent / "data" / "budget" / "budget_filter.py"
RAISE_LINE = FILTER.read_text().splitlines().index('            raise ValueError("raised on purpose")') + 1
RUNTIMES = ("micropython", "cpython")
#: What Envoy needs to give a CPython module a budget (MicroPython has one by default).
ENVIRONMENT = {"micropython": {}, "cpython": {"PROXYWASM_CALLBACK_BUDGET_MS": "100"}}


@pytest.fixture(scope="module", params=RUNTIMES)
def module(request: pytest.FixtureRequest) -> tuple[str, Path]:
    return request.param, built_module(FILTER, request.param)   # cached by content


def get(envoy: LocalEnvoy, mode: str | None = None) -> tuple[int, float]:
    """(status, seconds) of one request, `x-mode: mode` when given; 599 when Envoy did not answer."""
    connection = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=10)
    started = time.monotonic()
    try:
        connection.request("GET", "/", headers={"x-mode": mode} if mode else {})
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    except TimeoutError:
        return 599, time.monotonic() - started
    finally:
        connection.close()


def error_logs(envoy: LocalEnvoy, needle: str) -> list[str]:
    return [message for level, message in envoy.wasm_logs() if needle in message]


@pytest.mark.envoy
def test_code_sets_the_budget_in_envoy(module: tuple[str, Path]):
    _, path = module
    with LocalEnvoy(module=path, plugin_config=b"50") as envoy:
        assert get(envoy)[0] == 200
        status, seconds = get(envoy, "loop")
        assert status == 500 and seconds < 5
        assert error_logs(envoy, "CallbackBudgetExceeded: proxy_on_request_headers ran past its budget of 50 ms")
        assert [get(envoy)[0] for _ in range(3)] == [200, 200, 200]


def test_code_sets_the_budget_in_wasmtime(module: tuple[str, Path]):
    from proxywasm.testing import Host

    _, path = module
    # fuel bounds the test should the budget not run out (the loop would never end)
    host = Host.load(path, plugin_config=b"50", fuel=2_000_000_000)
    request = {":method": "GET", ":path": "/", ":authority": "a"}
    started = time.monotonic()
    assert host.http_request({**request, "x-mode": "loop"}).status == 500
    assert time.monotonic() - started < 5
    assert any("ran past its budget of 50 ms" in m for m in host.log_messages())
    assert host.http_request(request).headers["x-served"] == "yes"


@pytest.mark.envoy
def test_runaway_callback_costs_one_500_and_the_worker_serves_on_in_envoy(module: tuple[str, Path]):
    runtime, path = module
    with LocalEnvoy(module=path, environment_variables=ENVIRONMENT[runtime]) as envoy:
        assert get(envoy)[0] == 200
        status, seconds = get(envoy, "loop")
        assert status == 500 and seconds < 5
        logged = error_logs(envoy, "CallbackBudgetExceeded")
        assert logged and "proxy_on_request_headers ran past its budget of 100 ms" in logged[-1]
        assert 'File "budget_filter.py", line' in logged[-1]
        assert "    count += 1" in logged[-1] or "    while True:" in logged[-1]  # where the loop was stopped
        # the same worker (--concurrency 1) answers what follows
        assert [get(envoy)[0] for _ in range(5)] == [200] * 5
        # a filter that swallows the exception and runs on fails its VM instead of the worker
        status, seconds = get(envoy, "swallow")
        assert status != 599 and seconds < 5
        assert error_logs(envoy, "still ran one budget (100 ms) after CallbackBudgetExceeded: failing the VM")


@pytest.mark.envoy
def test_environment_budget_wins_over_the_code_in_envoy(module: tuple[str, Path]):
    _, path = module
    with LocalEnvoy(module=path, plugin_config=b"5000",
                    environment_variables={"PROXYWASM_CALLBACK_BUDGET_MS": "30"}) as envoy:
        status, seconds = get(envoy, "loop")
        assert status == 500 and seconds < 2
        assert error_logs(envoy, "ran past its budget of 30 ms")
        assert get(envoy)[0] == 200


@pytest.mark.envoy
def test_traceback_in_envoy_shows_the_filter_source_line(module: tuple[str, Path]):
    _, path = module
    with LocalEnvoy(module=path) as envoy:
        assert get(envoy, "raise")[0] == 500
        logged = error_logs(envoy, "ValueError: raised on purpose")
        assert logged
        lines = logged[-1].splitlines()
        at = next(i for i, line in enumerate(lines) if line.startswith(f'  File "budget_filter.py", line {RAISE_LINE},'))
        assert lines[at + 1] == '    raise ValueError("raised on purpose")'


@pytest.mark.parametrize("budget", [-1, "100", True, 3_000_000])
def test_set_callback_budget_refuses_what_is_not_a_budget(budget):
    import proxywasm

    with pytest.raises(ValueError, match="milliseconds from 0 to 2000000"):
        proxywasm.set_callback_budget(budget)
