"""A MicroPython filter module answers callbacks without proxywasm.dispatcher where the
dispatcher's tables allow (ANSWERED_IN_C, CALLED_DIRECTLY, CONTEXT_CREATE_FUNCTION), with the
dispatcher's behaviour: conversions, failure handling, a replaced dispatcher function, and the
wasm instructions it saves."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import pytest

from proxywasm.testing import Host
from proxywasm_build.backends.micropython import build_micropython_filter

pytestmark = pytest.mark.build

FILTER = '''\
import proxywasm
from proxywasm import Action, HttpContext, RootContext, dispatcher

calls = []


class Checked(HttpContext):
    def on_http_request_headers(self, num_headers, end_of_stream):
        path = self.get_http_request_header(":path")
        self.path = path
        calls.append(("eos", type(end_of_stream).__name__, num_headers > 0))
        if path == "/calls":
            self.send_http_response(200, (), repr(calls).encode())
            return Action.PAUSE
        if path.startswith("/next/"):
            Root.next_context = path[6:]
        if path == "/boom":
            raise ValueError("boom in " + path)
        if path == "/exit":
            raise SystemExit(3)
        if path == "/text-action":
            return "0"          # int("0"): CONTINUE, as the dispatcher makes it
        if path == "/bool-action":
            return False
        return Action.CONTINUE

    def on_http_response_headers(self, num_headers, end_of_stream):
        self.add_http_response_header("x-eos", type(end_of_stream).__name__)
        self.add_http_response_header("x-calls", repr(calls[-1]))
        return Action.CONTINUE

    def on_done(self):
        calls.append(("done", self.path))
        return True

    def on_delete(self):
        calls.append(("delete", self.path))


class FailOpen(Checked):
    fail_open = True


class Root(RootContext):
    next_context = "checked"     # what the next stream's context is (a request sets it)

    def create_http_context(self, context_id):
        kind, Root.next_context = Root.next_context, "checked"
        if kind == "fail":
            raise RuntimeError("no context for this one")
        if kind == "default":
            return None     # the registered factory, else HttpContext
        if kind == "open":
            return FailOpen(context_id, self)
        return Checked(context_id, self)


proxywasm.set_root_context(Root)

_own = dispatcher.proxy_on_response_body


def replaced(context_id, body_size, end_of_stream):
    calls.append(("replaced response_body", body_size))
    return _own(context_id, body_size, end_of_stream)


dispatcher.proxy_on_response_body = replaced
'''


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("fastpath") / "filter.py"
    source.write_text(FILTER)
    return build_micropython_filter(source, source.with_suffix(".wasm"))


def request(host: Host, path: str):
    return host.http_request({":method": "GET", ":path": path, ":authority": "example"},
                             upstream=(200, {}, b"hello\n"))


def test_overridden_callbacks_get_a_bool_end_of_stream_and_their_result_through_int(module: Path):
    host = Host.load(module)
    response = request(host, "/plain")
    assert response.status == 200
    assert response.headers.get("x-eos") == "bool"
    assert response.headers.get("x-calls") == "('eos', 'bool', True)"
    assert request(host, "/text-action").status == 200
    assert request(host, "/bool-action").status == 200


def test_an_exception_fails_the_stream_closed_or_open_with_its_traceback(module: Path):
    host = Host.load(module)
    assert request(host, "/boom").status == 500
    errors = "\n".join(host.log_messages(min_level=4))
    assert "python exception in on_http_request_headers" in errors
    assert "ValueError: boom in /boom" in errors
    assert request(host, "/exit").status == 500       # SystemExit is caught too
    assert request(host, "/next/open").status == 200
    assert request(host, "/boom").status == 200        # FailOpen: the request goes on
    assert request(host, "/after").status == 200


def test_a_failing_create_http_context_is_logged_and_the_stream_passes(module: Path):
    host = Host.load(module)
    assert request(host, "/next/fail").status == 200
    response = request(host, "/no-context")
    assert response.status == 200 and response.headers.get("x-eos") is None
    errors = "\n".join(host.log_messages(min_level=4))
    assert "python exception in context creation" in errors
    assert "RuntimeError: no context for this one" in errors
    assert request(host, "/next/default").status == 200
    response = request(host, "/default-context")       # HttpContext: no x-eos header
    assert response.status == 200 and response.headers.get("x-eos") is None


def test_overridden_lifecycle_callbacks_and_a_replaced_dispatcher_function_run_python(module: Path):
    host = Host.load(module)
    assert request(host, "/first").status == 200
    calls = request(host, "/calls").body.decode()
    assert "('done', '/first')" in calls and "('delete', '/first')" in calls
    assert "('replaced response_body', 6)" in calls   # replaced at import: Python sees it


FUEL = 10**12


def _fuel_per_callback(module: Path, pairs: int = 5) -> dict[str, int]:
    host = Host.load(module, fuel=FUEL)
    wasm = host.module
    fuel: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()
    invoke = wasm._invoke

    def counting(name: str, *args: int) -> Any:
        try:
            return invoke(name, *args)
        finally:
            fuel[name] += FUEL - wasm.store.get_fuel()
            calls[name] += 1

    request(host, "/warm-up")
    wasm._invoke = counting
    for _ in range(pairs):
        assert request(host, "/plain").status == 200
    return {name: fuel[name] // calls[name] for name in fuel}


def test_callbacks_left_at_their_default_cost_no_python(tmp_path: Path):
    source = tmp_path / "defaults.py"
    source.write_text("import proxywasm\nfrom proxywasm import HttpContext, RootContext\n\n\n"
                      "class Mine(HttpContext):\n"
                      "    def on_http_request_headers(self, num_headers, end_of_stream):\n"
                      "        return 0\n\n\n"
                      "proxywasm.set_http_context(Mine)\n")
    per_call = _fuel_per_callback(build_micropython_filter(source, tmp_path / "defaults.wasm"))
    # a Python call costs thousands of instructions: these are answered in C
    for name in ("proxy_on_response_headers", "proxy_on_response_body", "proxy_on_log",
                 "proxy_on_done"):
        assert per_call[name] < 1_000, (name, per_call)
    # straight to the method, no dispatcher frame
    assert per_call["proxy_on_request_headers"] < 5_000, per_call
