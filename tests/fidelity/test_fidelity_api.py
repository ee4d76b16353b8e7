"""The testing API says what a Go or Rust SDK user's unit tests say: the Action each callback
returned, one callback driven alone (`host.http_context()`), and the maps as the filter left
them, read mid-stream. Most tests here translate the Go SDK's example unit tests
(`http_headers`, `http_auth_random`, `json_validation`) to this API.

Driving one callback alone and reading the returned Action exist only in the emulator: Envoy
has no call that runs one callback of one filter, and it never reports what a callback
returned. Those tests are `emulator_only`; they run on the python and wasm hosts. Reading
the request headers mid-stream runs on Envoy too (there: as the upstream received them).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proxywasm import Action
from proxywasm.testing import EmulatorError, Host

FILTER = Path(__file__).parent / "filters" / "api.py"


def load(mode: str, **config) -> Host:
    return Host.load(FILTER, plugin_config=json.dumps({"mode": mode, **config}),
                     clusters=["httpbin"] if mode == "auth" else ())


def info_logs(host: Host) -> list[str]:
    return [r.message for r in host.logs if r.level == 2]


# --- http_headers -------------------------------------------------------------------------

@pytest.mark.emulator_only
@pytest.mark.parametrize("sent, key, expected", [
    ({}, "x-wasm-request", "set by the filter"),                    # a default request header
    ({"key": "value"}, "key", "value"),                             # the client's header stays
    ({"x-wasm-request": "test"}, "x-wasm-request", "set by the filter"),  # replaced
])
def test_on_request_headers_alone_returns_continue_and_leaves_the_headers(sent, key, expected):
    """Envoy cannot run on_http_request_headers alone, nor report the Action it returned."""
    host = load("headers")
    ctx = host.http_context()
    action = ctx.call_on_request_headers(sent, end_of_stream=False)
    assert action == Action.CONTINUE
    assert ctx.current_request_headers[key] == expected
    ctx.complete()
    logs = info_logs(host)
    assert f"{ctx.context_id} finished" in logs
    assert f"request header --> {key}: {expected}" in logs


@pytest.mark.emulator_only
def test_on_request_headers_adds_the_configured_header():
    """Envoy cannot run on_http_request_headers alone, nor report the Action it returned."""
    host = load("headers", header="x-user-id", value="123", path="request")
    ctx = host.http_context()
    assert ctx.call_on_request_headers({}) == Action.CONTINUE
    assert ctx.current_request_headers["x-user-id"] == "123"
    ctx.complete()
    assert "request header --> x-user-id: 123" in info_logs(host)


@pytest.mark.emulator_only
def test_on_response_headers_alone_returns_continue_and_leaves_the_headers():
    """Envoy cannot run the header callbacks one at a time, nor report their Actions."""
    host = load("headers", header="x-ingress-header", value="powered by us", path="response")
    ctx = host.http_context()
    ctx.call_on_request_headers({":path": "/"}, end_of_stream=True)
    action = ctx.call_on_response_headers({":status": "200", "x-user-id": "123"})
    assert action == Action.CONTINUE
    headers = ctx.current_response_headers
    assert (headers["x-wasm-response"], headers["x-user-id"]) == ("api", "123")
    assert headers["x-ingress-header"] == "powered by us"
    assert ctx.actions_of("on_http_response_headers") == [Action.CONTINUE]
    ctx.complete()
    logs = info_logs(host)
    assert "response header <-- x-wasm-response: api" in logs
    assert "response header <-- x-user-id: 123" in logs
    assert logs[-1] == f"{ctx.context_id} finished"


# --- http_auth_random ---------------------------------------------------------------------

@pytest.mark.emulator_only
def test_auth_pauses_the_request_headers_while_it_asks():
    """Envoy never reports the Action on_http_request_headers returned."""
    host = load("auth")
    ctx = host.http_context()
    assert ctx.call_on_request_headers({"key": "value"}) == Action.PAUSE
    assert ctx.last_action == Action.PAUSE
    (call,) = host.pending_http_calls
    assert call.upstream == "httpbin" and call.headers[":path"] == "/uuid"
    # Envoy's own x-forwarded-proto and x-request-id come after the client's headers
    assert "request header: key: value" in info_logs(host)
    assert info_logs(host)[-1] == "http call dispatched to httpbin"


@pytest.mark.emulator_only
def test_auth_answer_grants_or_answers_403_locally():
    """Envoy cannot run on_http_request_headers alone (the callout answer is the emulator's)."""
    host = load("auth")
    granted = host.http_context()
    granted.call_on_request_headers({":path": "/"})
    (call,) = host.pending_http_calls
    host.respond_http_call(call, 200, {"content-type": "application/json"},
                           b'{"uuid": "6b10a67a-1c67-4199-835b-cbefcd4a63d4"}')
    assert granted.local_response is None
    assert granted.upstream_request is not None  # resumed: the request went on
    assert info_logs(host)[-1] == "access granted"

    denied = host.http_context()
    denied.call_on_request_headers({":path": "/"})
    (call,) = host.pending_http_calls
    host.respond_http_call(call, 200, {}, b'{"uuid": "bbbbbbbb-1c67-4199-835b-cbefcd4a63d4"}')
    reply = denied.local_response
    assert reply is not None and info_logs(host)[-1] == "access forbidden"
    assert (reply.status, reply.body) == (403, b"access forbidden")
    assert reply.headers["powered-by"] == "proxywasm-python"
    assert denied.finished  # the local reply ended the stream


@pytest.mark.emulator_only
def test_calls_envoy_would_not_make_are_refused_with_the_reason():
    """Envoy has no single-callback calls to refuse: it simply never makes them."""
    host = load("auth")
    ctx = host.http_context()
    with pytest.raises(EmulatorError, match="before the request body"):
        ctx.call_on_request_body(b"x")
    ctx.call_on_request_headers({":path": "/"})
    with pytest.raises(EmulatorError, match="paused in on_http_request_headers"):
        ctx.call_on_request_body(b"x", end_of_stream=True)
    with pytest.raises(EmulatorError, match="have not reached the upstream"):
        ctx.call_on_response_headers({":status": "200"})
    ctx.complete()
    with pytest.raises(EmulatorError, match="complete"):
        ctx.call_on_request_trailers({"t": "1"})


# --- json_validation ----------------------------------------------------------------------

@pytest.mark.emulator_only
@pytest.mark.parametrize("content_type, expected", [
    ("text/html", Action.PAUSE), ("application/json", Action.CONTINUE)])
def test_json_request_headers_action(content_type, expected):
    """Envoy never reports the Action on_http_request_headers returned."""
    ctx = load("json").http_context()
    assert ctx.call_on_request_headers({"content-type": content_type}) == expected
    assert (ctx.local_response is not None) == (expected == Action.PAUSE)


@pytest.mark.emulator_only
@pytest.mark.parametrize("body, expected", [
    (b"invalid_payload", Action.PAUSE),
    (b'{"unknown_key": "unknown_value"}', Action.PAUSE),
    (b'{"my_key": "my_value"}', Action.CONTINUE)])
def test_json_request_body_action(body, expected):
    """Envoy never reports the Action on_http_request_body returned."""
    ctx = load("json", required_keys=["my_key"]).http_context()
    assert ctx.call_on_request_headers({"content-type": "application/json"}) == Action.CONTINUE
    assert ctx.call_on_request_body(body[:4]) == Action.PAUSE  # waits for the whole body
    assert ctx.current_request_body == body[:4]
    assert ctx.call_on_request_body(body[4:], end_of_stream=True) == expected
    assert ctx.actions_of("on_http_request_body") == [Action.PAUSE, expected]
    if expected == Action.CONTINUE:
        assert ctx.upstream_request.body == body
    else:
        assert ctx.local_response.status == 403


# --- whole streams: actions and mid-stream reads -------------------------------------------

@pytest.mark.emulator_only
def test_a_whole_stream_records_every_callback_and_its_action():
    """Envoy never reports the Action a callback returned."""
    host = load("json", required_keys=["a"])
    stream = host.http_stream()
    stream.send_request_headers({":method": "POST", ":path": "/", "content-type": "application/json"})
    stream.send_request_body(b'{"a":', end_of_stream=False)
    stream.send_request_body(b" 1}", end_of_stream=True)
    # HTTP/1.1: the end of stream comes in a body call of its own, after the last data
    assert [(a.callback, a.action) for a in stream.actions] == [
        ("on_http_request_headers", Action.CONTINUE),
        ("on_http_request_body", Action.PAUSE),
        ("on_http_request_body", Action.PAUSE),
        ("on_http_request_body", Action.CONTINUE)]
    assert stream.last_action == Action.CONTINUE
    stream.send_response_headers({":status": "200"}, end_of_stream=True)
    assert stream.actions[-1] == ("on_http_response_headers", Action.CONTINUE, 0)


def test_request_headers_are_readable_mid_stream_before_the_request_completes():
    host = load("headers")
    stream = host.http_stream()
    stream.send_request_headers({":method": "POST", ":path": "/upload", "x-client": "1"})
    headers = stream.current_request_headers
    assert headers["x-wasm-request"] == "set by the filter" and headers["x-client"] == "1"
    stream.send_request_body(b"part", end_of_stream=True)
    assert stream.upstream_request.body == b"part"
    stream.send_response_headers({":status": "200", "x-up": "1"})
    headers = stream.current_response_headers  # the response has not ended either
    assert (headers[":status"], headers["x-up"], headers["x-wasm-response"]) == ("200", "1", "api")
    stream.send_response_body(b"done", end_of_stream=True)
    assert stream.response.body == b"done" and stream.current_response_body == b"done"
    stream.complete()


# --- TCP ------------------------------------------------------------------------------------

@pytest.mark.emulator_only
def test_tcp_callbacks_alone_return_their_actions():
    """Envoy cannot run a network filter's callback alone, nor report its Action."""
    host = load("tcp")
    conn = host.tcp_context()
    assert conn.new_connection_action == Action.CONTINUE
    assert conn.call_on_downstream_data(b"hold ") == Action.PAUSE
    assert conn.to_upstream == b""
    assert conn.call_on_downstream_data(b"release") == Action.CONTINUE
    assert conn.to_upstream == b"hold release"
    assert conn.call_on_upstream_data(b"answer") == Action.CONTINUE
    assert conn.to_downstream == b"answer"
    conn.close()
    with pytest.raises(EmulatorError, match="closed"):
        conn.call_on_downstream_data(b"late")
