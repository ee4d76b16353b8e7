"""The per-request header methods of a MicroPython module (C methods of `_proxywasm_host`,
the getter through `get_header_map_value_str`) answer as the SDK does under the
emulator: text decoded with U+FFFD for invalid UTF-8, None when absent, str or bytes names,
replace/add/remove reaching the upstream, and HttpContext.__init__ (C there too) taking
keywords and running a cooperative __init__ once per stream, send_http_response (C for the
common reply) answering every other form through the Python method."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxywasm.testing import Host
from proxywasm_build.backends.micropython import build_micropython_filter

pytestmark = pytest.mark.build

FILTER = '''\
import proxywasm
from proxywasm import Action, Context, HttpContext, RootContext

NAMES = ("x-ascii", "x-utf8", "x-bad", "x-empty", "x-absent", b"x-ascii")


class Counted(Context):
    def __init__(self, context_id):
        super().__init__(context_id)
        self.inits = getattr(self, "inits", 0) + 1


class Headers(HttpContext):
    def on_http_request_headers(self, num_headers, end_of_stream):
        seen = [self.get_http_request_header(name) for name in NAMES]
        path = self.get_http_request_header(name=":path")
        if path == "/errors":
            self.send_http_response(200, (), "|".join(self.errors()).encode())
            return Action.PAUSE
        if path == "/reply":  # not the common local reply: the Python method's general path
            self.send_http_response(201, [("x-r", "1")], "caf\u00e9", details="why")
            return Action.PAUSE
        if path == "/reply-kw":
            self.send_http_response(status_code=202, body=b"kw")
            return Action.PAUSE
        if path == "/read":
            body = "|".join("None" if value is None else value for value in seen)
            self.send_http_response(200, (), body.encode())
            return Action.PAUSE
        self.set_http_request_header("x-set", "caf\\u00e9")
        self.set_http_request_header(b"x-ascii", b"replaced")
        self.set_http_request_header("x-empty", None)
        self.add_http_request_header("x-utf8", "second")
        self.add_http_request_header(b"x-added", b"1")
        return Action.CONTINUE

    def on_http_request_body(self, body_size, end_of_stream):
        if not end_of_stream:
            return Action.PAUSE
        out = []
        for call in (lambda: self.get_http_request_body(), lambda: self.get_http_request_body(2),
                     lambda: self.get_http_request_body(1, 3),
                     lambda: self.get_http_request_body(start=0, max_size=2),
                     lambda: self.get_http_request_body(50), lambda: self.get_http_response_body()):
            try:
                value = call()
                out.append(b"None" if value is None else value)
            except Exception as error:
                out.append((type(error).__name__ + ":" + str(getattr(error, "status", ""))).encode())
        self.send_http_response(200, (), b"|".join(out))
        return Action.PAUSE

    def errors(self):
        """What the methods raise or answer where the host refuses: the same on both runtimes."""
        out = []
        for call in (lambda: self.add_http_response_header("x-a", "1"),
                     lambda: self.set_http_response_header(name="x-a", value="1"),
                     lambda: self.set_http_response_header("x-a", None),
                     lambda: HttpContext.get_http_response_header(self, "x-a"),
                     lambda: self.add_http_request_header("x-a")):
            try:
                out.append(repr(call()))
            except Exception as error:
                out.append(type(error).__name__ + ":" + str(getattr(error, "status", "")))
        return out

    def on_http_response_headers(self, num_headers, end_of_stream):
        self.add_http_response_header("x-inits", str(getattr(self, "inits", 0)))
        self.set_http_response_header("x-upstream", None)
        return Action.CONTINUE


class WithInit(Headers, Counted):
    pass


class Root(RootContext):
    def create_http_context(self, context_id):
        if context_id % 2:
            return WithInit(context_id, self)
        return Headers(context_id=context_id, root=self)


proxywasm.set_root_context(Root)
'''

REQUEST = [(":method", "GET"), (":authority", "example"), ("x-ascii", "plain"),
           ("x-utf8", "caf\u00e9 \u2603"), ("x-bad", b"ok\xff\xfe-\xe2\x82"), ("x-empty", "")]


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Host]:
    source = tmp_path_factory.mktemp("headers") / "filter.py"
    source.write_text(FILTER)
    module = build_micropython_filter(source, source.with_suffix(".wasm"))
    return {"emulator": Host.load(source), "micropython": Host.load(module)}


def request(host: Host, path: str):
    return host.http_request([(":path", path)] + REQUEST,
                             upstream=(200, {"x-upstream": "1"}, b"hello\n"))


@pytest.mark.parametrize("runtime", ["emulator", "micropython"])
def test_header_values_decode_as_the_emulator_does(hosts: dict[str, Host], runtime: str):
    response = request(hosts[runtime], "/read")
    bad = b"ok\xff\xfe-\xe2\x82".decode("utf-8", "replace")
    assert response.body.decode() == f"plain|caf\u00e9 \u2603|{bad}||None|plain"


def test_refusals_and_bad_arguments_answer_alike(hosts: dict[str, Host]):
    answers = {runtime: request(host, "/errors").body.decode() for runtime, host in hosts.items()}
    assert answers["micropython"] == answers["emulator"]
    assert answers["emulator"].count("HostError") >= 2 and answers["emulator"].endswith("TypeError:")


@pytest.mark.parametrize("runtime", ["emulator", "micropython"])
def test_replace_add_remove_reach_the_upstream(hosts: dict[str, Host], runtime: str):
    for _ in range(2):  # both classes: Headers and WithInit (cooperative __init__)
        response = request(hosts[runtime], "/pass")
        upstream = response.upstream_request.headers
        assert upstream.get_all("x-utf8") == ["caf\u00e9 \u2603", "second"]
        assert (upstream["x-set"], upstream["x-ascii"], upstream["x-added"]) == ("caf\u00e9", "replaced", "1")
        assert upstream.get("x-empty") is None
        assert response.headers.get("x-upstream") is None
    inits = sorted(request(hosts[runtime], "/pass").headers["x-inits"] for _ in range(2))
    assert inits == ["0", "1"]


@pytest.mark.parametrize("path", ["/reply", "/reply-kw"])
def test_local_replies_other_than_the_common_one_answer_alike(hosts: dict[str, Host], path: str):
    answers = {runtime: request(host, path) for runtime, host in hosts.items()}
    emulator, micropython = answers["emulator"], answers["micropython"]
    assert (micropython.status, micropython.body, micropython.headers.get("x-r")) == \
        (emulator.status, emulator.body, emulator.headers.get("x-r"))
    assert emulator.status == (201 if path == "/reply" else 202) and emulator.local_reply


def test_request_body_reads_answer_alike(hosts: dict[str, Host]):
    bodies = {runtime: host.http_request([(":path", "/pass")] + REQUEST, b"hello body").body
              for runtime, host in hosts.items()}
    assert bodies["micropython"] == bodies["emulator"]
    assert bodies["emulator"] == b"hello body|llo body|ell|he|HostError:2|None"
