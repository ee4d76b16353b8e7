"""Tests of the header_rewrite example against the emulated Envoy."""

import json
from pathlib import Path

import pytest
from proxywasm.testing import Host, PluginStartError

FILTER = Path(__file__).parent / "filter.py"
REQUEST = {":method": "GET", ":path": "/", ":authority": "example.com",
           "x-internal-token": "secret", "x-forwarded-proto": "http", "x-tag": "from-client"}
UPSTREAM = (200, {"server": "backend/1.0", "x-powered-by": "php", "content-type": "text/plain"},
            b"hello")
CONFIG = {
    "request": {"remove": ["X-Internal-Token"], "set": {"x-forwarded-proto": "https"},
                "add": {"x-tag": "from-filter", "x-trace": ["1", "2"]}},
    "response": {"remove": ["server", "x-powered-by"], "add": {"x-frame-options": "DENY"},
                 "set": {"content-type": "text/html"}},
}


def load(config: dict) -> Host:
    # Envoy adds an x-request-id (a fresh UUID4) to each request: fixed here so the upstream
    # request can be compared whole
    return Host.load(FILTER, plugin_config=json.dumps(config).encode(), request_id="req-1")


def test_request_headers_are_removed_replaced_and_added_before_the_upstream():
    response = load(CONFIG).http_request(REQUEST, upstream=UPSTREAM)
    sent = response.upstream_request.headers
    assert "x-internal-token" not in sent
    assert sent.get_all("x-forwarded-proto") == ["https"]
    assert sent.get_all("x-tag") == ["from-client", "from-filter"]
    assert sent.get_all("x-trace") == ["1", "2"]
    assert sent[":path"] == "/"


def test_response_headers_are_rewritten_before_the_client_sees_them():
    response = load(CONFIG).http_request(REQUEST, upstream=UPSTREAM)
    assert response.status == 200 and response.body == b"hello"
    assert "server" not in response.headers and "x-powered-by" not in response.headers
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers.get_all("content-type") == ["text/html"]


def test_one_direction_only_leaves_the_other_untouched():
    response = load({"response": {"add": {"x-a": "1"}}}).http_request(REQUEST, upstream=UPSTREAM)
    assert response.upstream_request.headers == {**REQUEST, "x-request-id": "req-1"}
    assert response.headers["x-a"] == "1" and response.headers["server"] == "backend/1.0"


def test_pseudo_headers_can_be_set():
    response = load({"request": {"set": {":path": "/v2/"}}}).http_request(REQUEST, upstream=UPSTREAM)
    assert response.upstream_request.headers[":path"] == "/v2/"


@pytest.mark.parametrize("config, why", [
    (b"not json", "bad plugin configuration"),
    (b'{"request": {"remove": [":path"]}}', "pseudo-header :path"),
    (b'{"request": ["x-a"]}', "bad plugin configuration"),
])
def test_a_bad_configuration_is_refused_with_the_reason_logged(config, why):
    with pytest.raises(PluginStartError, match=why):
        Host.load(FILTER, plugin_config=config)
