"""The envoy host's mid-stream views: what has left Envoy, and a plain sentence for the rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proxywasm_build.envoy.host import EnvoyHost
from proxywasm_build.errors import UserError

FILTER = Path(__file__).parent / "fidelity" / "filters" / "api.py"


@pytest.mark.envoy
def test_envoy_shows_the_request_once_it_left_and_says_why_not_before():
    with EnvoyHost.load(FILTER, plugin_config=json.dumps({"mode": "auth"}),
                        clusters=["httpbin"]) as envoy:
        with pytest.raises(UserError, match="run one callback"):
            envoy.http_context()
        stream = envoy.http_stream()
        stream.send_request_headers({":method": "GET", ":path": "/held"})
        with pytest.raises(UserError, match="has not reached the upstream"):
            stream.current_request_headers
        with pytest.raises(UserError, match="does not report"):
            stream.last_action
        (call,) = envoy.pending_http_calls
        envoy.respond_http_call(call, 200, {}, b'{"uuid": "0a"}')
        assert stream.current_request_headers[":path"] == "/held"
        assert stream.local_response is None
        stream.complete()

        denied = envoy.http_stream()
        denied.send_request_headers({":method": "GET", ":path": "/"}, end_of_stream=True)
        (call,) = envoy.pending_http_calls
        envoy.respond_http_call(call, 200, {}, b'{"uuid": "fa"}')
        reply = denied.local_response
        assert (reply.status, reply.body) == (403, b"access forbidden")
        denied.complete()
