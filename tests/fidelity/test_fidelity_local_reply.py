"""Local replies as Envoy 1.40 sends them: the gRPC form only for gRPC requests, and one reply
when the filter fails while its own local reply is on its way."""

from pathlib import Path

import pytest
from proxywasm.testing import Host

FILTER = Path(__file__).parent / "filters" / "lifetimes.py"
REQUEST = {":method": "POST", ":path": "/svc/Method", ":authority": "a"}


def grpc_reply(content_type=None):
    host = Host.load(FILTER, plugin_config=b"grpc-reply")
    headers = dict(REQUEST, **({"content-type": content_type} if content_type else {}))
    return host.http_request(headers, b"x")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/grpc-web",
                                          "application/grpc;charset=utf-8", "Application/grpc"])
def test_a_grpc_status_on_a_plain_request_is_an_ordinary_reply(content_type):
    response = grpc_reply(content_type)
    assert response.status == 401
    assert response.body == b"nope"
    assert response.headers["content-type"] == "text/plain"
    assert "grpc-status" not in response.headers and "grpc-message" not in response.headers
    assert response.local_reply


@pytest.mark.parametrize("content_type", ["application/grpc", "application/grpc+proto",
                                          "application/grpc+json"])
def test_a_grpc_request_gets_the_grpc_form(content_type):
    response = grpc_reply(content_type)
    assert response.status == 200
    assert response.body == b""
    assert response.headers["content-type"] == "application/grpc"
    assert response.headers["grpc-status"] == "16"
    assert response.headers["grpc-message"] == "nope"


@pytest.mark.emulator_only
def test_the_grpc_form_says_content_length_0():
    """The Envoy test host leaves content-length out of every response it compares
    (proxywasm_build.envoy.results.comparable_headers); Envoy 1.40 sends `content-length: 0`
    last, measured with a raw HTTP/1.1 client."""
    response = grpc_reply("application/grpc")
    assert list(response.headers.items()) == [
        ("content-type", "application/grpc"), ("grpc-status", "16"), ("grpc-message", "nope"),
        ("content-length", "0")]


def test_a_filter_failing_on_its_own_local_reply_answers_one_500():
    """403 from on_http_request_headers; on_http_response_headers (called once, for the 403)
    raises, so the SDK answers 500, which replaces the 403 without running the filter again:
    no response callback sees the 500, on_log does."""
    host = Host.load(FILTER, plugin_config=b"reply-then-raise read")
    response = host.http_request(REQUEST)
    assert response.status == 500
    assert response.body == b"internal filter error\n"
    assert response.headers["content-type"] == "text/plain"
    assert response.upstream_request is None
    messages = host.log_messages()
    assert messages.count("response_headers 403") == 1
    assert sum(m.startswith("python exception in on_http_response_headers") for m in messages) == 1
    assert messages.count("log") == 1
    assert not any(m.startswith("response_body") for m in messages)  # the 500's body passes unseen
    assert any(m.startswith("log sh get=OK:500 ") for m in messages)  # on_log reads the reply that left
