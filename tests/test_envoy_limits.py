"""Envoy's buffer and header limits, reachable from `render_bootstrap` (so from `run` and
`deploy envoy`): in a real Envoy, a filter that buffers a 2 MiB request or response body, and
requests with a 60 KiB header value or 500 headers, fail with Envoy's defaults and pass with
raised limits."""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest

from proxywasm_build.envoy.runner import LocalEnvoy
from proxywasm_build.envoy.upstream import RecordingUpstream
from proxywasm_build.hosts import built_module

BUFFERING = Path(__file__).parent / "data" / "buffering_filter.py"
RAISED = {"buffer_limit_bytes": 4 << 20, "max_request_headers_kb": 96, "max_headers_count": 600}

TWO_MIB = 2 << 20
BIG_BODY = ("POST", "/", {}, b"x" * TWO_MIB)
LONG_HEADER = ("GET", "/", {"x-long": "v" * 60 * 1024}, b"")
MANY_HEADERS = ("GET", "/", {f"x-h{i}": "1" for i in range(500)}, b"")
BIG_RESPONSE = ("GET", "/upstream", {}, b"")


def exchange(envoy: LocalEnvoy, method: str, path: str, headers: dict[str, str],
             body: bytes) -> tuple[int | str, bytes]:
    """(status, body), or ("closed", b"") when Envoy closed the connection mid-response."""
    conn = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=30)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        try:
            return response.status, response.read()
        except http.client.IncompleteRead:
            return "closed", b""
    finally:
        conn.close()


@pytest.fixture(scope="module")
def module() -> Path:
    return built_module(BUFFERING, runtime="micropython")


@pytest.fixture(scope="module")
def upstream():
    with RecordingUpstream(200, {"content-type": "text/plain"}, b"y" * TWO_MIB) as server:
        yield server


@pytest.mark.build
def test_envoys_default_limits_stop_big_bodies_and_big_headers(module, upstream):
    with LocalEnvoy(module=module, upstream=upstream.address) as envoy:
        assert exchange(envoy, *BIG_BODY)[0] == 413
        assert exchange(envoy, *LONG_HEADER)[0] == 431
        assert exchange(envoy, *MANY_HEADERS)[0] == 431
        status, body = exchange(envoy, *BIG_RESPONSE)
        assert len(body) < TWO_MIB, status


@pytest.mark.build
def test_raised_limits_let_the_filter_buffer_2_mib_and_read_big_headers(module, upstream):
    with LocalEnvoy(module=module, upstream=upstream.address, **RAISED) as envoy:
        status, body = exchange(envoy, *BIG_BODY)
        assert (status, body.split()[:2]) == (200, [b"body", str(TWO_MIB).encode()])
        status, body = exchange(envoy, *LONG_HEADER)
        assert status == 200 and body.endswith(b"longest %d\n" % (60 * 1024))
        status, body = exchange(envoy, *MANY_HEADERS)
        assert status == 200 and int(body.split()[3]) >= 500
        assert exchange(envoy, *BIG_RESPONSE) == (200, b"y" * TWO_MIB)


def test_limits_outside_envoys_bounds_are_one_sentence():
    from proxywasm_build.envoy.config import render_bootstrap
    from proxywasm_build.errors import UserError

    with pytest.raises(UserError, match="max_request_headers_kb must be from 1 to 8192, not 9000"):
        render_bootstrap(module=BUFFERING, listener_port=1, admin_port=2, max_request_headers_kb=9000)
