"""A built CPython filter in real Envoy 1.40 (V8): same answers as the emulator, failures contained."""

from __future__ import annotations

import http.client
import json

import pytest

from proxywasm_build.backends.cpython import build_python_filter
from proxywasm_build.envoy.runner import LocalEnvoy
from test_build import DENY_FILTER, write

pytestmark = [pytest.mark.envoy, pytest.mark.build]

PLUGIN_CONFIG = json.dumps({"header": "x-block"}).encode()


def get(envoy: LocalEnvoy, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=10)
    try:
        connection.request("GET", "/", headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def filter_source(tmp_path_factory):
    return write(tmp_path_factory.mktemp("envoy-deny") / "filter.py", DENY_FILTER)


@pytest.fixture(scope="module")
def envoy(filter_source):
    module = build_python_filter(filter_source, filter_source.with_name("deny.wasm"))
    with LocalEnvoy(module=module, plugin_config=PLUGIN_CONFIG) as running:
        yield running


def test_design_example_denies_and_marks_in_envoy(envoy):
    status, headers, body = get(envoy, {"x-block": "1"})
    assert (status, body, headers.get("x-denied-by")) == (403, b"denied\n", "python")
    status, headers, body = get(envoy, {"x-deny": "1"})  # configured header is x-block
    assert status == 200 and headers.get("x-python") == "yes"
    assert body == b"hello from upstream\n"


def test_stderr_of_the_module_reaches_envoys_log(envoy):
    assert any("python filter vm started" in message for _, message in envoy.wasm_logs())


def test_envoy_answers_as_the_emulator_does(envoy, filter_source):
    from proxywasm.testing import Host

    host = Host.load(filter_source, plugin_config=PLUGIN_CONFIG)
    for headers in ({"x-block": "1"}, {}, {"x-deny": "1"}):
        emulated = host.http_request({":method": "GET", ":path": "/", ":authority": "example.com",
                                      **headers}, upstream=(200, {}, b"hello from upstream\n"))
        status, got_headers, body = get(envoy, headers)
        assert (status, body) == (emulated.status, emulated.body), headers
        assert got_headers.get("x-python") == emulated.headers.get("x-python")
        assert got_headers.get("x-denied-by") == emulated.headers.get("x-denied-by")


def test_a_python_exception_is_logged_and_answered_500_and_the_vm_keeps_serving(envoy):
    status, _, _ = get(envoy, {"x-boom": "1"})
    assert status == 500
    tracebacks = [message for level, message in envoy.wasm_logs()
                  if "Traceback" in message and "RuntimeError: kaboom from python" in message]
    assert tracebacks and 'File "filter.py"' in tracebacks[-1]
    for _ in range(3):
        assert get(envoy, {})[0] == 200
    assert get(envoy, {"x-block": "1"})[0] == 403
