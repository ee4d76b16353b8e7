"""Tests of the http_auth example: the emulator plays the authorisation service."""

import json
from pathlib import Path

import pytest
from proxywasm.testing import Host, HttpCall, PluginStartError

FILTER = Path(__file__).parent / "filter.py"
CONFIG = {"cluster": "auth", "authority": "auth.internal", "timeout_seconds": 0.5,
          "forward_headers": ["authorization"], "copy_headers": ["x-auth-user"]}
REQUEST = {":method": "POST", ":path": "/orders?id=7", ":authority": "shop.example",
           "authorization": "Bearer good"}
UPSTREAM = (200, {"content-type": "text/plain"}, b"order placed")


def load(**overrides) -> Host:
    return Host.load(FILTER, plugin_config=json.dumps({**CONFIG, **overrides}).encode(),
                     clusters=["auth"])


def test_an_allowed_request_reaches_the_upstream_with_the_identity_from_the_service():
    host = load()
    checks: list[HttpCall] = []

    def auth_service(call: HttpCall):
        checks.append(call)
        return 200, {"x-auth-user": "alice"}, b""

    host.on_http_call("auth", auth_service)
    response = host.http_request({**REQUEST, "x-auth-user": "mallory"}, body=b"{}",
                                 upstream=UPSTREAM)
    assert response.status == 200 and response.body == b"order placed"
    assert response.upstream_request.headers.get_all("x-auth-user") == ["alice"]
    assert response.upstream_request.body == b"{}"
    (check,) = checks
    assert check.upstream == "auth" and check.timeout_ms == 500
    assert check.headers[":method"] == "GET" and check.headers[":path"] == "/check"
    assert check.headers[":authority"] == "auth.internal"
    assert check.headers["authorization"] == "Bearer good"
    assert check.headers["x-original-method"] == "POST"
    assert check.headers["x-original-path"] == "/orders?id=7"
    assert "x-auth-user" not in check.headers


@pytest.mark.parametrize("status, body", [(401, b"unauthorized\n"), (403, b"forbidden\n")])
def test_a_refusal_is_passed_to_the_client_and_the_upstream_never_sees_the_request(status, body):
    host = load()
    host.on_http_call("auth", (status, {"www-authenticate": 'Bearer realm="shop"'}, b"no"))
    response = host.http_request(REQUEST, upstream=UPSTREAM)
    assert response.status == status and response.body == body
    assert response.headers["www-authenticate"] == 'Bearer realm="shop"'
    assert response.headers["x-auth-denied-by"] == "http-auth"
    assert response.upstream_request is None


@pytest.mark.emulator_only  # uses what only the emulator has (clock, step-by-step stream, internals)
def test_a_failed_callout_fails_closed_with_503():
    host = load()
    host.on_http_call("auth", None)
    response = host.http_request(REQUEST, upstream=UPSTREAM)
    assert response.status == 503
    assert response.upstream_request is None
    assert any("no answer from cluster auth" in m for m in host.log_messages())


def test_a_cluster_envoy_does_not_know_answers_503_instead_of_crashing():
    host = Host.load(FILTER, plugin_config=json.dumps(CONFIG).encode())  # no "auth" cluster
    response = host.http_request(REQUEST, upstream=UPSTREAM)
    assert response.status == 503
    assert response.upstream_request is None
    assert any("cannot call cluster auth" in m for m in host.log_messages())


def test_a_broken_service_answer_is_a_503_not_an_allow():
    host = load()
    host.on_http_call("auth", (500, {}, b"oops"))
    assert host.http_request(REQUEST, upstream=UPSTREAM).status == 503


@pytest.mark.emulator_only  # uses what only the emulator has (clock, step-by-step stream, internals)
def test_the_request_and_its_body_are_held_while_the_callout_is_pending():
    host = load()
    stream = host.http_stream()
    stream.send_request_headers(REQUEST)
    stream.send_request_body(b'{"item": 1}', end_of_stream=True)
    assert stream.request_paused_at == 0
    assert stream.upstream_request is None
    (call,) = host.pending_http_calls
    host.respond_http_call(call, 200, {"x-auth-user": "bob"})
    assert stream.upstream_request.headers["x-auth-user"] == "bob"
    assert stream.upstream_request.body == b'{"item": 1}'
    stream.send_response_headers({":status": "204"}, end_of_stream=True)
    assert stream.response.status == 204


def test_a_callout_failing_while_the_request_is_held_answers_503():
    host = load()
    stream = host.http_stream()
    stream.send_request_headers(REQUEST, end_of_stream=True)
    host.fail_http_call(host.pending_http_calls[0])
    assert stream.response.status == 503
    assert stream.upstream_request is None


def test_a_configuration_without_a_cluster_is_refused():
    with pytest.raises(PluginStartError, match="needs at least"):
        Host.load(FILTER, plugin_config=b'{"path": "/check"}')
