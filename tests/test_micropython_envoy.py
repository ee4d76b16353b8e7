"""A MicroPython filter module in real Envoy 1.40 (V8): the SDK answers, print() and tracebacks
reach Envoy's log, an exception answers 500 and the VM keeps serving, memory stays flat."""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest

from proxywasm_build.backends.micropython import build_micropython_filter
from proxywasm_build.envoy.runner import LocalEnvoy
from test_micropython_runtime import BOOM_LINE, FILTER

pytestmark = [pytest.mark.envoy, pytest.mark.build]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def get(envoy: LocalEnvoy, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def echo_envoy(tmp_path_factory: pytest.TempPathFactory):
    source = tmp_path_factory.mktemp("mp-envoy") / "filter.py"
    source.write_text(FILTER)
    module = build_micropython_filter(source, source.with_suffix(".wasm"))
    with LocalEnvoy(module=module) as running:
        yield running


def test_sdk_filter_answers_and_prints_in_envoy(echo_envoy: LocalEnvoy):
    status, headers, _ = get(echo_envoy, "/hello")
    assert status == 200 and headers.get("x-path") == "/hello"
    assert any("request '/hello' 50" in message for _, message in echo_envoy.wasm_logs())


def test_exception_answers_500_logs_traceback_and_keeps_serving(echo_envoy: LocalEnvoy):
    assert get(echo_envoy, "/boom")[0] == 500
    tracebacks = [message for _, message in echo_envoy.wasm_logs() if "ValueError: boom at '/boom'" in message]
    assert tracebacks and f'File "filter.py", line {BOOM_LINE}' in tracebacks[-1]
    for _ in range(3):
        assert get(echo_envoy, "/again")[0] == 200


def test_many_requests_keep_the_heap_flat_in_envoy(echo_envoy: LocalEnvoy):
    heaps = [int(get(echo_envoy, f"/n{i}")[1]["x-heap-used"]) for i in range(2000)]
    assert max(heaps) < 1024 * 1024


def test_allow_deny_example_in_envoy(tmp_path: Path):
    module = build_micropython_filter(EXAMPLES / "allow_deny", tmp_path / "allow_deny.wasm")
    with LocalEnvoy(module=module, plugin_config=b'{"deny": {"path_prefixes": ["/admin"]}}') as envoy:
        status, headers, body = get(envoy, "/admin/x")
        assert (status, body, headers.get("x-denied-by")) == (403, b"denied\n", "allow-deny")
        status, headers, _ = get(envoy, "/public")
        assert status == 200 and headers.get("x-allow-deny") == "allowed"
