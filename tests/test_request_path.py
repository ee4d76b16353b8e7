"""The per-request path of a compiled Python filter: callbacks the bridge answers in C.

A context whose class keeps the SDK's default for a callback in
`proxywasm.dispatcher.ANSWERED_IN_C` is answered by the C bridge without calling Python; one
that overrides it gets every call. The same filter runs as `.py` (dispatcher called directly)
and as `.wasm` (wasmtime) with the same answers.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from proxywasm import dispatcher
from proxywasm.abi import Action
from proxywasm.context import HttpContext, RootContext, StreamContext

# Requests alternate between two context classes: Hooked overrides the callbacks the bridge
# could answer (and is fail_open), Plain keeps the defaults (and fails closed).
FILTER = textwrap.dedent('''
    import proxywasm
    from proxywasm import Action, HttpContext, LogLevel, MetricType, RootContext
    from proxywasm import dispatcher, hostcalls

    class Plain(HttpContext):
        def on_http_request_headers(self, num_headers, end_of_stream):
            # read now: Envoy lets go of the request headers once this callback continues
            self.path = self.get_http_request_header(b":path")
            if self.get_http_request_header("x-boom") is not None:
                raise RuntimeError("boom in request headers")
            if self.get_http_request_header("x-none") is not None:
                return None  # not an Action: int(None) fails like an exception
            if self.get_http_request_header("x-true") is not None:
                self.send_http_response(418, [], b"teapot")
                return True  # int(True) == Action.PAUSE
            return Action.CONTINUE

        def on_http_response_headers(self, num_headers, end_of_stream):
            # str, bytes and other buffers, as names and values
            self.add_http_response_header("x-str", "caf\u00e9")
            self.add_http_response_header(b"x-bytes", b"b")
            self.add_http_response_header(bytearray(b"x-bytearray"), memoryview(b"m"))
            self.set_http_response_header("x-set", "s")
            self.add_http_response_header("x-path", self.path)
            self.set_http_response_header("x-raw", b"\\xff")  # not UTF-8: read back as U+FFFD
            self.add_http_response_header("x-raw-ok", str(self.get_http_response_header("x-raw") == "\\ufffd"))
            return Action.CONTINUE

    class Hooked(Plain):
        fail_open = True

        def on_http_response_body(self, body_size, end_of_stream):
            if not end_of_stream:
                return Action.PAUSE  # buffer: on HTTP/1.1 the end comes in its own call
            body = self.get_http_response_body(0, body_size) or b""
            self.set_http_response_body(0, body_size, body.upper())
            return Action.CONTINUE

        def on_log(self):
            self.increment_metric(self.root.metric["log"])

        def on_done(self):
            self.increment_metric(self.root.metric["done"])
            return True

        def on_delete(self):
            self.increment_metric(self.root.metric["delete"])

    class Root(RootContext):
        def on_configure(self, plugin_configuration_size):
            self.metric = {name: self.define_metric(MetricType.COUNTER, "hooked_" + name)
                           for name in ("log", "done", "delete")}
            self.streams = 0
            self.set_tick_period_milliseconds(1000)
            return True

        def create_http_context(self, context_id):
            self.streams += 1
            if self.streams == 20:
                raise RuntimeError("no context for stream 20")
            if self.streams == 21:
                return None  # the SDK's HttpContext
            return (Hooked if self.streams % 2 else Plain)(context_id, self)

        def on_tick(self):
            live = len(dispatcher.current_vm().contexts)
            hostcalls.log(LogLevel.INFO, f"live contexts: {live}")

    proxywasm.set_root_context(Root)
''')

REQUEST = {":method": "GET", ":path": "/", ":authority": "x"}
UPSTREAM = (200, {}, b"hello\n")


@pytest.fixture(scope="module")
def filter_py(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("request_path") / "filter.py"
    path.write_text(FILTER)
    return path


@pytest.fixture(scope="module")
def filter_wasm(filter_py) -> Path:
    from proxywasm_build.backends.cpython import build_python_filter

    return build_python_filter(filter_py, filter_py.with_suffix(".wasm"))


@pytest.fixture
def filter_path(request) -> Path:
    return request.getfixturevalue("filter_wasm" if request.param == "wasm" else "filter_py")


# --- the table the bridge is generated from ----------------------------------------------

def test_every_answer_in_c_is_what_the_dispatcher_returns_for_a_default_context():
    """For each ANSWERED_IN_C callback, the value the bridge returns without Python is exactly
    what the dispatcher returns for a context keeping the SDK default."""
    vm, previous = dispatcher.VM(), dispatcher.current_vm()
    dispatcher.activate(vm)
    try:
        root = RootContext(1)
        for name, _method, answer in dispatcher.ANSWERED_IN_C:
            context = (StreamContext if "stream" in name or "connection" in name
                       or "downstream" in name or "upstream" in name else HttpContext)(2, root)
            vm.contexts.update({1: root, 2: context})
            function = getattr(dispatcher, name)
            arity = function.__code__.co_argcount
            result = function(2, *([0] * (arity - 1)))
            assert (None if result is None else int(result)) == answer, name
            if name == "proxy_on_delete":
                assert 2 not in vm.contexts
    finally:
        dispatcher.activate(previous)


def test_the_mask_follows_the_class_overrides():
    class Plain(HttpContext):
        def on_http_request_headers(self, num_headers, end_of_stream):
            return Action.PAUSE

    class Hooked(Plain):
        def on_log(self):
            pass

    names = [name for name, _method, _answer in dispatcher.ANSWERED_IN_C]
    bit = {name: 1 << i for i, name in enumerate(names)}
    plain = dispatcher._answered_in_c_mask(Plain(5))
    hooked = dispatcher._answered_in_c_mask(Hooked(6))
    assert not plain & bit["proxy_on_request_headers"]
    assert plain & bit["proxy_on_log"] and plain & bit["proxy_on_done"] and plain & bit["proxy_on_delete"]
    assert not hooked & bit["proxy_on_log"] and hooked & bit["proxy_on_done"]
    # a root context has no HTTP callbacks: the bridge never answers them for it
    root = dispatcher._answered_in_c_mask(RootContext(1))
    assert not root & bit["proxy_on_request_headers"] and root & bit["proxy_on_log"]


def test_the_generated_bridge_answers_each_table_entry_in_c():
    from proxywasm_build.backends.cpython.bridge import generate_bridge_source

    source = generate_bridge_source()
    for i, (name, _method, answer) in enumerate(dispatcher.ANSWERED_IN_C):
        export = source.split(f'export_name("{name}")', 1)[1].split("\n}\n", 1)[0]
        assert f"pw_answered_in_c((uint32_t)context_id, {1 << i}u)" in export, name
        if name == "proxy_on_delete":
            assert "pw_forget_in_c((uint32_t)context_id)" in export
        elif answer is not None:
            assert f"return {answer};" in export, name


# --- the same filter as .py and as .wasm --------------------------------------------------

@pytest.mark.build
@pytest.mark.parametrize("filter_path", ["py", "wasm"], indirect=True)
def test_overridden_callbacks_still_run_and_defaults_are_answered(filter_path):
    from proxywasm.testing import Host

    host = Host.load(filter_path)
    hooked = host.http_request(REQUEST, upstream=UPSTREAM)     # stream 1: Hooked
    plain = host.http_request(REQUEST, upstream=UPSTREAM)      # stream 2: Plain
    assert hooked.status == 200 and hooked.body == b"HELLO\n"
    assert plain.status == 200 and plain.body == b"hello\n"
    for response in (hooked, plain):
        assert response.headers["x-str"] == "caf\u00e9" and response.headers["x-bytes"] == "b"
        assert response.headers["x-bytearray"] == "m" and response.headers["x-set"] == "s"
        assert response.headers["x-path"] == "/" and response.headers["x-raw-ok"] == "True"
    for _ in range(4):
        host.http_request(REQUEST, upstream=UPSTREAM)
    assert host.metrics["hooked_log"] == 3
    assert host.metrics["hooked_done"] == 3
    assert host.metrics["hooked_delete"] == 3


@pytest.mark.build
@pytest.mark.parametrize("filter_path", ["py", "wasm"], indirect=True)
def test_an_exception_fails_closed_or_open_as_the_context_says(filter_path):
    from proxywasm.testing import Host

    host = Host.load(filter_path)
    boom = {**REQUEST, "x-boom": "1"}
    fail_open = host.http_request(boom, upstream=UPSTREAM)     # Hooked: fail_open
    fail_closed = host.http_request(boom, upstream=UPSTREAM)   # Plain: 500
    assert fail_open.status == 200 and fail_open.upstream_request is not None
    assert fail_closed.status == 500 and fail_closed.upstream_request is None
    failures = [m for m in host.log_messages() if "boom in request headers" in m]
    assert len(failures) == 2
    # the traceback names the author's frame, whichever way the call went
    assert all("in on_http_request_headers" in m and "RuntimeError" in m for m in failures)


@pytest.mark.build
@pytest.mark.parametrize("filter_path", ["py", "wasm"], indirect=True)
def test_a_callback_result_becomes_an_action_as_int_would_make_it(filter_path):
    from proxywasm.testing import Host

    host = Host.load(filter_path)
    host.http_request(REQUEST, upstream=UPSTREAM)  # the next stream is a Plain one
    none = host.http_request({**REQUEST, "x-none": "1"}, upstream=UPSTREAM)
    assert none.status == 500 and none.upstream_request is None
    assert any("TypeError" in m and "on_http_request_headers" in m for m in host.log_messages())
    true = host.http_request({**REQUEST, "x-true": "1"}, upstream=UPSTREAM)
    assert true.status == 418 and true.upstream_request is None


@pytest.mark.build
@pytest.mark.parametrize("filter_path", ["py", "wasm"], indirect=True)
def test_contexts_deleted_without_python_are_forgotten(filter_path):
    from proxywasm.testing import Host

    host = Host.load(filter_path)
    for _ in range(7):  # Plain ones are deleted in C, Hooked ones through on_delete
        host.http_request(REQUEST, upstream=UPSTREAM)
    host.clear_logs()
    host.tick()
    assert "live contexts: 1" in host.log_messages()  # the root alone


@pytest.mark.build
@pytest.mark.parametrize("filter_path", ["py", "wasm"], indirect=True)
def test_context_creation_failures_and_fallbacks(filter_path):
    from proxywasm.testing import Host

    host = Host.load(filter_path)
    for _ in range(19):
        assert host.http_request(REQUEST, upstream=UPSTREAM).headers.get("x-set") == "s"
    failed = host.http_request(REQUEST, upstream=UPSTREAM)     # stream 20: create raised
    assert failed.status == 200 and "x-set" not in failed.headers
    assert any("context creation" in m and "no context for stream 20" in m
               for m in host.log_messages())
    default = host.http_request(REQUEST, upstream=UPSTREAM)    # stream 21: HttpContext
    assert default.status == 200 and "x-set" not in default.headers
    assert host.http_request(REQUEST, upstream=UPSTREAM).headers.get("x-set") == "s"


@pytest.mark.build
def test_a_default_callback_costs_no_python_call(filter_wasm):
    """Fuel (wasm instructions) per callback: Plain's defaults are answered in C, Hooked's
    overrides go through Python."""
    from proxywasm.testing import Host

    limit = 10**12
    host = Host.load(filter_wasm, fuel=limit)
    wasm = host.module
    invoke = wasm._invoke
    spent: dict[str, int] = {}

    def counting_invoke(name, *args):
        try:
            return invoke(name, *args)
        finally:
            spent[name] = limit - wasm.store.get_fuel()

    wasm._invoke = counting_invoke
    host.http_request(REQUEST, upstream=UPSTREAM)   # Hooked
    hooked = dict(spent)
    host.http_request(REQUEST, upstream=UPSTREAM)   # Plain
    plain = dict(spent)
    for name in ("proxy_on_log", "proxy_on_done", "proxy_on_response_body"):
        assert plain[name] < 300 < 1000 < hooked[name], (name, plain[name], hooked[name])
    # a delete in C still frees the context (~1,700); through the dispatcher it cost ~3,700
    assert plain["proxy_on_delete"] < 2500 < 5000 < hooked["proxy_on_delete"]
    # what both classes override still runs Python
    assert plain["proxy_on_request_headers"] > 1000 and hooked["proxy_on_request_headers"] > 1000


@pytest.mark.build
def test_the_first_context_of_a_class_costs_what_later_ones_do(filter_wasm):
    """Which callbacks a class leaves at their default is worked out when the filter registers
    its root (inside the snapshot), not by the first context of each class in every VM, where
    it cost ~100,000 wasm instructions (getattr's AttributeErrors) per class."""
    from proxywasm.testing import Host

    limit = 10**12
    host = Host.load(filter_wasm, fuel=limit)
    wasm = host.module
    invoke = wasm._invoke
    creations: list[int] = []

    def counting_invoke(name, *args):
        try:
            return invoke(name, *args)
        finally:
            if name == "proxy_on_context_create":
                creations.append(limit - wasm.store.get_fuel())

    wasm._invoke = counting_invoke
    for _ in range(4):   # Hooked, Plain, Hooked, Plain
        host.http_request(REQUEST, upstream=UPSTREAM)
    first_hooked, first_plain, later_hooked, later_plain = creations
    # the first request of a VM still warms CPython's caches (~30,000), but no class pays more
    assert first_hooked < later_hooked + 50_000 and first_plain < later_plain + 50_000, creations
