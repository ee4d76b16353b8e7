"""The testing API's single-callback drivers and stream views with several plugins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proxywasm import Action
from proxywasm.testing import EmulatorError, Host

FILTER = Path(__file__).parent / "fidelity" / "filters" / "api.py"


def two_plugins() -> Host:
    host = Host.load(FILTER, plugin_config=json.dumps({"mode": "headers"}))
    host.add_plugin(plugin_config=json.dumps({"mode": "json"}), name="json")
    return host


def test_a_stream_records_the_actions_of_each_filter_in_the_chain():
    host = two_plugins()
    stream = host.http_stream()
    stream.send_request_headers({":method": "POST", "content-type": "application/json"})
    stream.send_request_body(b'{"a"')
    assert [tuple(a) for a in stream.actions] == [
        ("on_http_request_headers", Action.CONTINUE, 0),
        ("on_http_request_headers", Action.CONTINUE, 1),
        ("on_http_request_body", Action.CONTINUE, 0),
        ("on_http_request_body", Action.PAUSE, 1)]
    assert stream.actions_of("on_http_request_body", filter=1) == [Action.PAUSE]
    # the second filter holds the chunk: it is part of the body as the filters left it
    assert stream.current_request_body == b'{"a"' and stream.upstream_request.body == b""
    stream.send_request_body(b": 1}", end_of_stream=True)
    assert stream.current_request_body == b'{"a": 1}' == stream.upstream_request.body


def test_http_context_runs_only_the_chosen_plugin():
    host = two_plugins()
    ctx = host.http_context(1)
    assert ctx.plugin.name == "json"
    assert ctx.call_on_request_headers({"content-type": "text/plain"}) == Action.PAUSE
    assert [a.callback for a in ctx.actions] == ["on_http_request_headers",
                                                 "on_http_response_headers",
                                                 "on_http_response_body"]  # its local reply
    assert "x-wasm-request" not in ctx.current_request_headers  # plugin 0 never ran
    assert ctx.local_response.body == b"content-type must be application/json"
    with pytest.raises(EmulatorError, match="there is no plugin 2: this host runs 2"):
        host.http_context(2)


def test_a_driven_context_refuses_what_envoy_would_not_deliver():
    host = Host.load(FILTER, plugin_config=json.dumps({"mode": "headers"}))
    ctx = host.http_context()
    ctx.call_on_request_headers({":path": "/"}, end_of_stream=True)
    with pytest.raises(EmulatorError, match="request already ended"):
        ctx.call_on_request_body(b"late")
    with pytest.raises(EmulatorError, match="before the response body"):
        ctx.call_on_response_body(b"x")
    assert ctx.call_on_response_headers({":status": "204"}) == Action.CONTINUE
    with pytest.raises(EmulatorError, match="already sent"):
        ctx.call_on_response_headers({":status": "204"})
    assert ctx.call_on_response_trailers({"grpc-status": "0"}) == Action.CONTINUE
    assert ctx.finished  # the client got the whole response: on_log ran
    host.close()
    with pytest.raises(EmulatorError, match="no plugin is running"):
        host.http_context()
