"""One filter built for both runtimes answers every request the same, in wasmtime.

The MicroPython runtime brings its own json, dict order and string formatting; a filter whose
JSON body, headers or error message came out differently there would pass its own tests on
one runtime and change behaviour on the other. Here the same requests go through the
json_body and allow_deny examples built with `--runtime cpython` and `--runtime micropython`,
and every response (status, headers in order, body, what the upstream got) must be equal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from proxywasm.testing import Host

from proxywasm_build.hosts import built_module
from proxywasm_build.wasm.reader import read_module
from proxywasm_build.wasm.validate import python_metadata

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

JSON_CONFIG = {"request": {"set": {"source": "edge", "tags": ["a", "ü"], "n": 1.5}, "remove": ["password"]},
               "response": {"set": {"served_by": "python", "nested": {"b": 1, "a": [True, None]}},
                            "remove": ["internal_id"]},
               "max_bytes": 4096}
JSON_HEADERS = {":method": "POST", ":path": "/login", ":authority": "example.com",
                "content-type": "application/json"}
ANSWER = '{"zeta": 1, "id": 7, "internal_id": "db-42", "ok": true, "text": "caf\\u00e9 \\ud83d\\ude00", ' \
         '"big": 12345678901234567890, "neg": -0.25, "e": 1e-7}'
JSON_BODIES = [
    b'{"user": "alice", "password": "hunter2", "items": [1, 2]}',
    b'{"b": 2, "a": 1, "c": {"y": [], "x": {}}}',
    '{"name": "Zoë", "emoji": "😀", "quote": "a\\"b"}'.encode(),
    b'{"user": "alice", ',                # invalid: the 400 carries json's own message
    b'[1, 2, 3]',                          # not an object
    b'   ',                                # empty document
    b'{"a": 1} trailing',                  # extra data
]
ALLOW_DENY_CONFIG = {"deny": {"headers": ["x-deny"], "header_values": {"x-env": "dev"},
                              "path_prefixes": ["/admin"], "methods": ["delete"]}}
ALLOW_DENY_REQUESTS = [
    {":method": "GET", ":path": "/", ":authority": "example.com"},
    {":method": "GET", ":path": "/", ":authority": "example.com", "x-deny": "1"},
    {":method": "GET", ":path": "/", ":authority": "example.com", "x-env": "dev"},
    {":method": "GET", ":path": "/admin/users", ":authority": "example.com"},
    {":method": "DELETE", ":path": "/x", ":authority": "example.com"},
    {":method": "GET", ":path": "/", ":authority": "example.com", "x-env": "prod"},
]


def seen(response) -> tuple:
    """Everything a client and the upstream saw of one exchange."""
    upstream = response.upstream_request
    return (response.status, list(response.headers.items()), response.body,
            None if upstream is None else (list(upstream.headers.items()), upstream.body))


def load_both(filter_path: Path, config: dict) -> dict[str, Host]:
    hosts = {}
    for runtime in ("cpython", "micropython"):
        module = built_module(filter_path, runtime=runtime)
        assert python_metadata(read_module(module.read_bytes()))["runtime"] == runtime
        # Envoy's x-request-id is random: fixed, so both runtimes' upstream requests compare
        hosts[runtime] = Host.load(module, plugin_config=json.dumps(config).encode(), request_id="req-1")
    return hosts


@pytest.mark.build
def test_json_body_answers_alike_on_both_runtimes() -> None:
    hosts = load_both(EXAMPLES / "json_body" / "filter.py", JSON_CONFIG)
    answers = {}
    for runtime, host in hosts.items():
        answers[runtime] = [
            seen(host.http_request({**JSON_HEADERS, "content-length": str(len(body))}, body=body,
                                   upstream=(200, {"content-type": "application/json"}, ANSWER.encode())))
            for body in JSON_BODIES]
    for index, (on_cpython, on_micropython) in enumerate(zip(answers["cpython"], answers["micropython"])):
        assert on_micropython == on_cpython, JSON_BODIES[index]
    statuses = [answer[0] for answer in answers["cpython"]]
    assert statuses == [200, 200, 200, 400, 400, 400, 400]  # the corpus reaches both paths


@pytest.mark.build
def test_allow_deny_answers_alike_on_both_runtimes() -> None:
    hosts = load_both(EXAMPLES / "allow_deny" / "filter.py", ALLOW_DENY_CONFIG)
    answers = {runtime: [seen(host.http_request(request, upstream=(200, {"content-type": "text/plain"}, b"hi")))
                         for request in ALLOW_DENY_REQUESTS]
               for runtime, host in hosts.items()}
    assert answers["micropython"] == answers["cpython"]
    assert [answer[0] for answer in answers["cpython"]] == [200, 403, 403, 403, 403, 200]
