"""Tests of the json_body example: chunked bodies both ways, invalid JSON, content-length."""

import json
from pathlib import Path

import pytest
from proxywasm import LogLevel
from proxywasm.testing import Host, PluginStartError

FILTER = Path(__file__).parent / "filter.py"
CONFIG = {"request": {"set": {"source": "edge"}, "remove": ["password"]},
          "response": {"set": {"served_by": "python"}, "remove": ["internal_id"]},
          "max_bytes": 64}
BODY = b'{"user": "alice", "password": "hunter2", "items": [1, 2]}'
REQUEST = {":method": "POST", ":path": "/login", ":authority": "example.com",
           "content-type": "application/json", "content-length": str(len(BODY))}


def sized(body: list[bytes], **headers: str) -> dict:
    """REQUEST for this body, with a content-length that matches it."""
    return {**REQUEST, "content-length": str(sum(map(len, body))), **headers}
ANSWER = b'{"id": 7, "internal_id": "db-42", "ok": true}'
UPSTREAM = (200, {"content-type": "application/json; charset=utf-8",
                  "content-length": str(len(ANSWER))}, ANSWER)


def never_got_the_body(response) -> bool:
    """The upstream saw at most the headers (Envoy resets it; it may not even have started)."""
    return response.upstream_request is None or response.upstream_request.body == b""


@pytest.fixture
def host() -> Host:
    return Host.load(FILTER, plugin_config=json.dumps(CONFIG).encode())


def test_a_chunked_request_body_is_rewritten_as_a_whole(host):
    response = host.http_request(REQUEST, body=[BODY[:10], BODY[10:30], BODY[30:]],
                                 upstream=UPSTREAM)
    sent = response.upstream_request
    assert json.loads(sent.body) == {"user": "alice", "items": [1, 2], "source": "edge"}
    assert "content-length" not in sent.headers
    assert sent.headers["content-type"] == "application/json"


def test_the_upstream_gets_the_headers_at_once_and_the_body_only_whole(host):
    stream = host.http_stream()
    stream.send_request_headers(REQUEST)
    assert stream.upstream_request.headers[":path"] == "/login"
    stream.send_request_body(BODY[:20])
    assert stream.upstream_request.body == b""
    stream.send_request_body(BODY[20:], end_of_stream=True)
    assert json.loads(stream.upstream_request.body)["source"] == "edge"


def test_a_chunked_response_body_is_rewritten_and_its_length_dropped(host):
    response = host.http_request(REQUEST, body=BODY, upstream=UPSTREAM, response_chunks=3)
    assert response.status == 200
    assert json.loads(response.body) == {"id": 7, "ok": True, "served_by": "python"}
    assert "content-length" not in response.headers


@pytest.mark.parametrize("body", [[b'{"user": ', b'"alice"'], [b"[1, 2]"], [b"\xff\xfe"]])
def test_a_request_body_that_is_not_a_json_object_gets_400(host, body):
    response = host.http_request(sized(body), body=body, upstream=UPSTREAM)
    assert response.status == 400
    assert response.body.startswith(b"invalid JSON body: ")
    assert never_got_the_body(response)


def test_an_invalid_json_response_passes_unchanged_with_a_warning(host):
    response = host.http_request(REQUEST, body=BODY,
                                 upstream=(200, {"content-type": "application/json"}, b"{oops"),
                                 response_chunks=2)
    assert response.status == 200
    assert response.body == b"{oops"
    assert any("upstream sent invalid JSON" in m for m in host.log_messages(LogLevel.WARN))


def test_a_json_body_larger_than_max_bytes_gets_413(host):
    big = json.dumps({"data": "x" * 100}).encode()
    response = host.http_request(sized([big]), body=[big[:50], big[50:]], upstream=UPSTREAM)
    assert response.status == 413
    assert never_got_the_body(response)


def test_bodies_that_are_not_json_pass_untouched(host):
    request = sized([b"not json"], **{"content-type": "text/plain"})
    response = host.http_request(request, body=[b"not ", b"json"],
                                 upstream=(200, {"content-type": "text/plain",
                                                 "content-length": "5"}, b"plain"))
    assert response.upstream_request.body == b"not json"
    assert response.upstream_request.headers["content-length"] == "8"
    assert (response.body, response.headers["content-length"]) == (b"plain", "5")


def test_a_bad_configuration_is_refused():
    with pytest.raises(PluginStartError, match="json-body"):
        Host.load(FILTER, plugin_config=b'{"max_bytes": "lots"}')
