"""What a stream looks like to the filter: the headers Envoy adds to a request before the filter
sees it, and how each protocol frames a body (where the end of stream comes).

Measured in Envoy 1.40 with the probe filter `filters/shape.py`, which logs every callback's
view as one JSON line.
"""

import json
import re
from pathlib import Path

import pytest
from proxywasm.testing import EmulatorError, Host

FILTER = Path(__file__).parent / "filters" / "shape.py"
ALPHABET = b"abcdefghijklmnopqrstuvwxyz"
POST = {":method": "POST", ":path": "/p", ":authority": "a.example", "content-length": "26"}
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def load(request_body: str = "continue", response_body: str = "continue", **kwargs) -> Host:
    config = {"request_body": request_body, "response_body": response_body}
    return Host.load(FILTER, plugin_config=json.dumps(config), **kwargs)


def seen(host: Host, at: str) -> list[dict]:
    """What the filter logged in callback `at`, in call order."""
    lines = [json.loads(m[len("shape "):]) for m in host.log_messages() if m.startswith("shape ")]
    return [line for line in lines if line["at"] == at]


def bodies(host: Host, way: str) -> list[tuple[int, bool, bytes]]:
    return [(b["size"], b["end"], b["data"].encode("latin-1")) for b in seen(host, f"{way}_body")]


# --- what Envoy adds to a request --------------------------------------------------------------

def test_envoy_adds_scheme_forwarded_proto_and_a_uuid4_request_id_in_its_order():
    host = load()
    response = host.http_request({":method": "GET", ":path": "/p", ":authority": "a.example", "x-b": "1"})
    headers = seen(host, "request_headers")[0]["headers"]
    assert [name for name, _ in headers] == [":authority", ":path", ":method", ":scheme", "x-b",
                                             "x-forwarded-proto", "x-request-id"]
    values = dict(headers)
    assert (values[":scheme"], values["x-forwarded-proto"]) == ("http", "http")
    assert UUID4.match(values["x-request-id"])
    # the upstream gets them too
    upstream = response.upstream_request.headers
    assert upstream["x-request-id"] == values["x-request-id"]
    assert upstream["x-forwarded-proto"] == "http"


def test_each_request_gets_its_own_request_id():
    host = load()
    for _ in range(2):
        host.http_request({":method": "GET", ":path": "/", ":authority": "a"})
    first, second = (dict(line["headers"])["x-request-id"] for line in seen(host, "request_headers"))
    assert first != second


def test_a_clients_request_id_and_forwarded_proto_are_kept_and_give_the_scheme():
    host = load()
    host.http_request({"user-agent": "ua", ":path": "/q", ":method": "GET", ":authority": "h",
                       "x-request-id": "mine", "x-forwarded-proto": "https"})
    assert seen(host, "request_headers")[0]["headers"] == [
        [":authority", "h"], [":path", "/q"], [":method", "GET"], [":scheme", "https"],
        ["user-agent", "ua"], ["x-request-id", "mine"], ["x-forwarded-proto", "https"]]


def test_a_forwarded_proto_that_is_no_scheme_leaves_the_scheme_http():
    host = load()
    host.http_request({":method": "GET", ":path": "/", ":authority": "h", "x-forwarded-proto": "ftp"})
    assert dict(seen(host, "request_headers")[0]["headers"])[":scheme"] == "http"


def test_a_fixed_request_id_makes_the_upstream_request_exact():
    host = load(request_id="req-1")
    request = {":method": "GET", ":path": "/", ":authority": "a.example", "x-b": "1"}
    response = host.http_request(request)
    assert dict(seen(host, "request_headers")[0]["headers"])["x-request-id"] == "req-1"
    assert response.upstream_request.headers == {**request, "x-forwarded-proto": "http",
                                                 "x-request-id": "req-1"}


@pytest.mark.emulator_only
def test_without_envoy_headers_the_filter_sees_exactly_the_tests_headers():
    """Envoy always adds these headers: leaving them out is the emulator's alone."""
    host = load(envoy_headers=False)
    request = {":method": "GET", ":path": "/", ":authority": "a.example"}
    response = host.http_request(request)
    assert seen(host, "request_headers")[0]["headers"] == [[k, v] for k, v in request.items()]
    assert response.upstream_request.headers == request


def test_the_filter_sees_response_headers_as_the_upstream_sent_them():
    host = load()
    host.http_request({":method": "GET", ":path": "/", ":authority": "a"},
                      upstream=(200, {"x-up": "1", "content-length": "5"}, b"hello"))
    names = [name for name, _ in seen(host, "response_headers")[0]["headers"]]
    # Envoy adds nothing before the filter; its `date` goes to the client afterwards.
    assert names[0] == ":status" and "x-up" in names and "server" not in names


# --- HTTP/1.1 body framing -------------------------------------------------------------------

def test_http1_ends_a_body_in_its_own_call_after_data_that_went_on():
    host = load()
    response = host.http_request(POST, ALPHABET, upstream=(200, {"content-length": "5"}, b"hello"))
    assert bodies(host, "request") == [(26, False, ALPHABET), (0, True, b"")]
    assert bodies(host, "response") == [(5, False, b"hello"), (0, True, b"")]
    assert seen(host, "request_headers")[0]["protocol"] == "HTTP/1.1"
    assert (response.upstream_request.body, response.body) == (ALPHABET, b"hello")


def test_http1_end_of_stream_call_shows_the_whole_buffered_body_after_pause():
    host = load("pause", "pause")
    response = host.http_request(POST, ALPHABET, upstream=(200, {"content-length": "5"}, b"hello"))
    assert bodies(host, "request") == [(26, False, ALPHABET), (26, True, ALPHABET)]
    assert bodies(host, "response") == [(5, False, b"hello"), (5, True, b"hello")]
    assert (response.upstream_request.body, response.body) == (ALPHABET, b"hello")


def send_in_pieces(host: Host, response_headers: dict) -> None:
    stream = host.http_stream()
    stream.send_request_headers(POST)
    stream.send_request_body(ALPHABET[:10])
    stream.send_request_body(ALPHABET[10:20])
    stream.send_request_body(ALPHABET[20:], end_of_stream=True)
    stream.send_response_headers({":status": "200", **response_headers})
    stream.send_response_body(b"hel")
    stream.send_response_body(b"lo", end_of_stream=True)
    stream.complete()


@pytest.mark.parametrize("response_headers", [{}, {"content-length": "5"}], ids=["chunked", "length"])
def test_http1_body_in_pieces_then_an_empty_end_when_each_piece_went_on(response_headers):
    host = load()
    send_in_pieces(host, response_headers)
    assert bodies(host, "request") == [(10, False, ALPHABET[:10]), (10, False, ALPHABET[10:20]),
                                       (6, False, ALPHABET[20:]), (0, True, b"")]
    assert bodies(host, "response") == [(3, False, b"hel"), (2, False, b"lo"), (0, True, b"")]


@pytest.mark.parametrize("response_headers", [{}, {"content-length": "5"}], ids=["chunked", "length"])
def test_http1_body_in_pieces_buffered_by_pause_ends_with_everything(response_headers):
    host = load("pause", "pause")
    send_in_pieces(host, response_headers)
    assert bodies(host, "request") == [(10, False, ALPHABET[:10]), (20, False, ALPHABET[:20]),
                                       (26, False, ALPHABET), (26, True, ALPHABET)]
    assert bodies(host, "response") == [(3, False, b"hel"), (5, False, b"hello"), (5, True, b"hello")]


def test_http1_pause_on_the_first_piece_only_ends_with_what_came_after():
    host = load("pause_first", "pause_first")
    send_in_pieces(host, {})
    assert bodies(host, "request") == [(10, False, ALPHABET[:10]), (20, False, ALPHABET[:20]),
                                       (6, False, ALPHABET[20:]), (0, True, b"")]
    assert bodies(host, "response") == [(3, False, b"hel"), (5, False, b"hello"), (0, True, b"")]


def test_http1_body_with_trailers_has_no_end_of_stream_body_call():
    host = load()
    stream = host.http_stream()
    stream.send_request_headers({":method": "POST", ":path": "/p", ":authority": "a"})
    stream.send_request_body(ALPHABET[:10])
    stream.send_request_trailers({"x-t": "1"})
    stream.send_response_headers({":status": "200"})
    stream.send_response_body(b"hel")
    stream.send_response_trailers({"x-rt": "2"})
    stream.complete()
    assert bodies(host, "request") == [(10, False, ALPHABET[:10])]
    assert bodies(host, "response") == [(3, False, b"hel")]
    assert len(seen(host, "request_trailers")) == len(seen(host, "response_trailers")) == 1


# --- HTTP/2 ----------------------------------------------------------------------------------

def test_http2_ends_the_request_body_with_its_last_data():
    host = load(protocol="HTTP/2")
    request = {":method": "POST", ":path": "/p", ":authority": "a.example", "x-a": "1"}
    response = host.http_request(request, [ALPHABET[:10], ALPHABET[10:20], ALPHABET[20:]],
                                 upstream=(200, {"content-length": "5"}, b"hello"))
    assert bodies(host, "request") == [(10, False, ALPHABET[:10]), (10, False, ALPHABET[10:20]),
                                       (6, True, ALPHABET[20:])]
    # the upstream is still HTTP/1.1: its body ends apart
    assert bodies(host, "response") == [(5, False, b"hello"), (0, True, b"")]
    line = seen(host, "request_headers")[0]
    assert line["protocol"] == "HTTP/2"
    assert [name for name, _ in line["headers"]] == [":method", ":path", ":authority", ":scheme", "x-a",
                                                     "x-forwarded-proto", "x-request-id"]
    assert response.upstream_request.body == ALPHABET


def test_http2_keeps_the_clients_scheme_and_forwarded_proto_comes_from_the_connection():
    host = load(protocol="HTTP/2")
    host.http_request({":method": "GET", ":scheme": "https", ":authority": "a", ":path": "/",
                       "x-request-id": "mine"})
    assert seen(host, "request_headers")[0]["headers"] == [
        [":method", "GET"], [":scheme", "https"], [":authority", "a"], [":path", "/"],
        ["x-request-id", "mine"], ["x-forwarded-proto", "http"]]


def test_http2_buffered_body_ends_with_everything():
    host = load("pause", protocol="HTTP/2")
    host.http_request({":method": "POST", ":path": "/p", ":authority": "a"}, [ALPHABET[:10], ALPHABET[10:]])
    assert bodies(host, "request") == [(10, False, ALPHABET[:10]), (26, True, ALPHABET)]


@pytest.mark.emulator_only
def test_an_http2_upstream_ends_the_response_body_with_its_last_data():
    """The envoy host's recording upstream speaks HTTP/1.1 only."""
    host = load(upstream_protocol="HTTP/2")
    host.http_request({":method": "GET", ":path": "/", ":authority": "a"},
                      upstream=(200, {}, b"hello"), response_chunks=2)
    assert bodies(host, "response") == [(3, False, b"hel"), (2, True, b"lo")]


@pytest.mark.emulator_only
def test_an_unknown_protocol_is_one_sentence():
    """The envoy host refuses it with its own sentence (a UserError)."""
    with pytest.raises(EmulatorError, match="protocol must be 'HTTP/1.1' or 'HTTP/2', not 'HTTP/3'"):
        load(protocol="HTTP/3")
