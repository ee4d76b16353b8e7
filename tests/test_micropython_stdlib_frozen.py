"""The stdlib shims frozen into a real MicroPython filter module answer as CPython's modules do:
one filter that exercises every shim runs in-process on CPython (its own stdlib) and as a
MicroPython module in wasmtime, and both responses and log lines must be the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proxywasm.testing import Host
from proxywasm_build.backends.micropython import build_micropython_filter

pytestmark = pytest.mark.build

FILTER = '''\
import base64
import binascii
import functools
import hashlib
import hmac
import itertools
import json
import logging
import random
import secrets
import string
import time
from typing import Any, Dict, Optional
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import proxywasm
from proxywasm import Action, HttpContext, RootContext

log = logging.getLogger("stdlib")


def results(path: str) -> Dict[str, Any]:
    query = urlsplit(path).query
    pairs = parse_qsl(query, keep_blank_values=True)
    key = b"secret"
    token = base64.urlsafe_b64encode(json.dumps({"sub": "ana", "n": 1.5}).encode()).rstrip(b"=")
    padded = token + b"=" * (-len(token) % 4)
    doc: Optional[Dict[str, Any]] = json.loads(base64.urlsafe_b64decode(padded))
    return {
        "pairs": pairs,
        "encoded": urlencode(pairs),
        "quoted": quote(path, safe=""),
        "token": token.decode(),
        "doc": doc,
        "sha256": hashlib.sha256(query.encode()).hexdigest(),
        "sha1": hashlib.sha1(b"abc").hexdigest(),
        "md5": hashlib.md5(b"abc").hexdigest(),
        "hmac": hmac.new(key, query.encode(), "sha256").hexdigest(),
        "same": hmac.compare_digest(b"a", b"a"),
        "hex": binascii.hexlify(b"\\x00\\xff", ":").decode(),
        "crc": binascii.crc32(b"hello"),
        "b32": base64.b32encode(b"hi").decode(),
        "epoch": list(time.gmtime(86400 * 365))[:6],
        "date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(1700000000)),
        "now_ok": time.time() > 1.7e9,
        "letters": string.ascii_letters[:5],
        "token_len": len(secrets.token_hex(8)),
        "random_ok": 0 <= random.random() < 1 and 1 <= random.randint(1, 3) <= 3,
        "reduce": functools.reduce(lambda a, b: a * b, [1, 2, 3, 4]),
        "chunks": [list(g) for _, g in itertools.groupby("aabccc")],
        "floats": [0.1 + 0.2, 1e16, 1.5e-7, -0.0, 2.5],
        "unicode": "h\\u00e9llo \\U0001F600",
    }


class Probe(HttpContext):
    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        path = self.get_http_request_header(":path") or "/"
        body = json.dumps(results(path), indent=1)
        log.warning("answered %s with %d bytes", path, len(body))
        self.send_http_response(200, [("content-type", "application/json")], body.encode())
        return Action.PAUSE


class Root(RootContext):
    def create_http_context(self, context_id: int) -> HttpContext:
        return Probe(context_id, self)


proxywasm.set_root_context(Root)
'''

PATHS = ["/probe?a=1&b=two%20words&c=%E2%82%AC&empty=&flag", "/x?q=caf%C3%A9+au+lait&n=-3"]


@pytest.fixture(scope="module")
def probe_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("stdlib-probe") / "filter.py"
    source.write_text(FILTER)
    return source


def _answers(host: Host) -> list[tuple[int, str, list[str]]]:
    answers = []
    for path in PATHS:
        host.clear_logs()
        response = host.http_request({":method": "GET", ":path": path, ":authority": "example"})
        logged = [line for line in host.log_messages() if "stdlib: " in line]
        answers.append((response.status, response.body.decode(), logged))
    return answers


def test_frozen_shims_answer_like_cpython(probe_source: Path) -> None:
    module = build_micropython_filter(probe_source, probe_source.with_suffix(".wasm"), report=(report := {}))
    assert {"json", "base64", "hashlib", "hmac", "urllib.parse", "logging", "time", "random", "secrets",
            "functools", "itertools", "string", "typing"} <= set(report["frozen_module_names"])
    assert "_sha256py" not in report["frozen_module_names"]   # the runtime hashes SHA-256 in C
    expected = _answers(Host.load(probe_source))
    got = _answers(Host.load(module))
    assert got == expected
    for status, body, logged in got:
        assert status == 200 and json.loads(body)["now_ok"] is True
        assert len(logged) == 1 and logged[0].startswith("stdlib: answered /")
