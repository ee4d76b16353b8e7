"""Tests of the allow_deny example against the emulated Envoy."""

import json
from pathlib import Path

import pytest
from proxywasm.testing import Host, PluginStartError

FILTER = Path(__file__).parent / "filter.py"
UPSTREAM = (200, {"content-type": "text/plain"}, b"hello")


def request(path: str = "/", method: str = "GET", **headers: str) -> dict:
    return {":method": method, ":path": path, ":authority": "example.com",
            **{name.replace("_", "-"): value for name, value in headers.items()}}


def load(config: dict | None = None) -> Host:
    return Host.load(FILTER, plugin_config=json.dumps(config).encode() if config else b"")


RULES = {"deny": {"headers": ["x-deny"], "header_values": {"x-env": "dev"},
                  "path_prefixes": ["/admin"], "methods": ["delete"]}}


def test_without_configuration_the_x_deny_header_is_denied_as_in_the_design():
    host = load()
    denied = host.http_request(request(x_deny="1"), upstream=UPSTREAM)
    assert denied.status == 403
    assert denied.body == b"denied\n"
    assert denied.upstream_request is None
    assert denied.headers["x-denied-by"] == "allow-deny"
    assert denied.headers["x-deny-reason"] == "header x-deny"
    allowed = host.http_request(request(), upstream=UPSTREAM)
    assert allowed.status == 200 and allowed.body == b"hello"


@pytest.mark.parametrize("req, reason", [
    (request(x_deny=""), "header x-deny"),
    (request(x_env="dev"), "header x-env=dev"),
    (request("/admin"), "path /admin"),
    (request("/admin/users?page=2"), "path /admin"),
    (request(method="DELETE"), "method DELETE"),
])
def test_each_kind_of_deny_rule_blocks_before_the_upstream(req, reason):
    response = load(RULES).http_request(req, upstream=UPSTREAM)
    assert response.status == 403
    assert response.headers["x-deny-reason"] == reason
    assert response.upstream_request is None
    assert "x-allow-deny" not in response.headers


@pytest.mark.parametrize("req", [
    request(), request(x_env="prod"), request("/public/admin"), request("/?next=/admin"),
    request(method="POST"),
])
def test_requests_matching_no_deny_rule_reach_the_upstream_and_are_tagged(req):
    response = load(RULES).http_request(req, upstream=UPSTREAM)
    assert response.status == 200
    assert response.body == b"hello"
    assert response.headers["x-allow-deny"] == "allowed"
    assert response.upstream_request.headers[":path"] == req[":path"]


def test_an_allow_list_lets_only_matching_requests_through_and_deny_still_wins():
    host = load({"allow": {"path_prefixes": ["/api/"]}, "deny": {"methods": ["DELETE"]}})
    assert host.http_request(request("/api/items"), upstream=UPSTREAM).status == 200
    outside = host.http_request(request("/other"), upstream=UPSTREAM)
    assert outside.status == 403
    assert outside.headers["x-deny-reason"] == "not allowed"
    assert host.http_request(request("/api/items", method="DELETE"),
                             upstream=UPSTREAM).headers["x-deny-reason"] == "method DELETE"


def test_status_body_and_response_header_come_from_the_configuration():
    host = load({"deny": {"headers": ["x-block"]}, "status": 401, "body": "go away",
                 "response_header": ["x-checked-by", "python"]})
    denied = host.http_request(request(x_block="1"), upstream=UPSTREAM)
    assert (denied.status, denied.body) == (401, b"go away")
    allowed = host.http_request(request(x_deny="1"), upstream=UPSTREAM)
    assert allowed.headers["x-checked-by"] == "python"
    assert "x-allow-deny" not in allowed.headers


@pytest.mark.parametrize("config", [b"{deny", b'{"deny": ["x-deny"]}', b'{"status": "nope"}'])
def test_a_bad_configuration_is_refused_with_the_reason_logged(config):
    with pytest.raises(PluginStartError, match="allow-deny: bad plugin configuration"):
        Host.load(FILTER, plugin_config=config)
