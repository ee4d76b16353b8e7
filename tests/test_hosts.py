"""The Envoy host and the wasm host: same stream API as the emulator, real engines underneath."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import wasmtime

from proxywasm_build.errors import UserError
from proxywasm_build.envoy.host import EnvoyHost
from proxywasm_build.envoy.results import comparable_headers

from test_envoy_runner import MINIMAL_WAT


def test_comparable_headers_drops_only_what_the_emulator_cannot_have():
    pairs = [("Date", "x"), ("server", "envoy"), ("content-length", "3"), ("connection", "close"),
             ("x-envoy-upstream-service-time", "1"), ("x-request-id", "abc"), ("X-Filter", "yes"),
             ("transfer-encoding", "chunked"), ("content-type", "text/plain")]
    # the emulator adds x-request-id and x-forwarded-proto as Envoy does: they stay
    assert comparable_headers(pairs) == [("server", "envoy"), ("x-request-id", "abc"), ("x-filter", "yes"),
                                         ("content-type", "text/plain")]
    assert ("content-length", "3") in comparable_headers(pairs, sent=["Content-Length"])
    assert ("x-request-id", "mine") in comparable_headers([("x-request-id", "mine")], sent=["X-Request-Id"])


@pytest.fixture(scope="module")
def minimal_module(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("wat") / "minimal.wasm"
    path.write_bytes(wasmtime.wat2wasm(MINIMAL_WAT))
    return path


@pytest.fixture(scope="module")
def envoy_minimal(minimal_module):
    emulator()
    with EnvoyHost.load(minimal_module, plugin_config=b"{}") as host:
        yield host


def emulator():
    """`proxywasm.testing` once the emulator is there (skip before)."""
    testing = pytest.importorskip("proxywasm.testing")
    if not hasattr(testing, "HttpResponse"):
        pytest.skip("proxywasm.testing has no emulator yet")
    return testing


REQUEST = {":method": "GET", ":path": "/a?b=1", ":authority": "example.com"}


@pytest.mark.envoy
def test_envoy_host_local_reply_never_reaches_upstream(envoy_minimal):
    r = envoy_minimal.http_request(REQUEST, upstream=(200, {}, b"unused"))
    assert r.status == 418 and r.body == b"hello from wat\n"
    assert r.headers.get("content-type") == "text/plain" and ":status" not in r.headers
    assert r.headers.get("date") is None and r.headers.get("server") is None  # PASS_THROUGH
    assert r.upstream_request is None
    assert r.local_reply is True and "x-proxywasm-local-reply" not in r.headers


@pytest.mark.envoy
def test_envoy_host_forwards_and_records_the_upstream_request(envoy_minimal):
    r = envoy_minimal.http_request({**REQUEST, ":method": "POST", "x-pass": "1"}, body=b"payload",
                                   upstream=(201, {"x-up": "1", "content-type": "text/plain"}, b"made"))
    assert (r.status, r.body, r.headers.get("x-up")) == (201, b"made", "1")
    assert r.local_reply is False
    up = r.upstream_request
    assert up is not None and up.body == b"payload"
    assert up.headers.get(":method") == "POST" and up.headers.get(":path") == "/a?b=1"
    assert up.headers.get(":authority") == "example.com"
    assert up.headers.get("x-wat") == "1" and up.headers.get("x-forwarded-proto") == "http"
    assert len(up.headers.get("x-request-id")) == 36  # Envoy's UUID4, as the upstream got it
    assert [(rec.level.name, rec.message) for rec in envoy_minimal.logs] == [("INFO", "configured")]


@pytest.mark.envoy
def test_envoy_host_carries_trailers_both_ways(envoy_minimal):
    r = envoy_minimal.http_request({**REQUEST, ":method": "POST", "x-pass": "1"}, body=b"abc",
                                   trailers={"x-req-trailer": "1"},
                                   upstream=(200, {"content-type": "text/plain"}, b"ok", {"grpc-status": "0"}))
    assert r.body == b"ok" and r.trailers.get("grpc-status") == "0"
    assert r.upstream_request.body == b"abc"
    assert r.upstream_request.trailers.get("x-req-trailer") == "1"


def test_envoy_host_refuses_properties_envoy_cannot_set(minimal_module):
    with pytest.raises(UserError, match="cannot set the property"):
        EnvoyHost.load(minimal_module, properties={"request.path": "/x"})


@pytest.mark.envoy
def test_emulator_and_envoy_agree_on_a_compiled_module(minimal_module, envoy_minimal):
    testing = emulator()
    emulated = testing.Host.load(minimal_module, plugin_config=b"{}")
    for request in (REQUEST, {**REQUEST, "x-pass": "1"}):
        upstream = (200, {"content-type": "text/plain", "x-up": "1"}, b"hello")
        a, b = emulated.http_request(request, upstream=upstream), envoy_minimal.http_request(request, upstream=upstream)
        assert (a.status, a.body) == (b.status, b.body)
        assert {k: v for k, v in comparable_headers(a.headers.items())} == \
            {k: v for k, v in comparable_headers(b.headers.items())}
        assert (a.upstream_request is None) == (b.upstream_request is None)
        if a.upstream_request is not None:
            assert a.upstream_request.headers.get("x-wat") == b.upstream_request.headers.get("x-wat") == "1"


PYTHON_FILTER = textwrap.dedent('''
    import json
    import proxywasm
    from proxywasm import Action, HttpContext, RootContext

    class Deny(HttpContext):
        def on_http_request_headers(self, num_headers, end_of_stream):
            if self.get_http_request_header(self.root.header) is not None:
                self.send_http_response(403, [("x-denied-by", "python")], b"denied\\n")
                return Action.PAUSE
            return Action.CONTINUE

        def on_http_response_headers(self, num_headers, end_of_stream):
            self.set_http_response_header("x-python", "yes")
            return Action.CONTINUE

    class Root(RootContext):
        def on_configure(self, plugin_configuration_size):
            config = json.loads(self.get_plugin_configuration() or b"{}")
            self.header = config.get("header", "x-deny")
            return True

        def create_http_context(self, context_id):
            return Deny(context_id, self)

    proxywasm.set_root_context(Root)
''')


@pytest.mark.envoy
@pytest.mark.build
def test_python_filter_in_envoy_matches_the_emulator(tmp_path):
    testing = emulator()
    pytest.importorskip("proxywasm_build.backends.cpython")
    source = tmp_path / "deny.py"
    source.write_text(PYTHON_FILTER)
    config = b'{"header": "x-deny"}'
    emulated = testing.Host.load(source, plugin_config=config)
    with EnvoyHost.load(source, plugin_config=config) as envoy:
        for extra in ({"x-deny": "1"}, {}):
            request = {**REQUEST, **extra}
            upstream = (200, {"content-type": "text/plain"}, b"hello")
            a, b = emulated.http_request(request, upstream=upstream), envoy.http_request(request, upstream=upstream)
            assert (a.status, a.body) == (b.status, b.body)
            assert a.headers.get("x-denied-by") == b.headers.get("x-denied-by")
            assert a.headers.get("x-python") == b.headers.get("x-python")
            assert (a.upstream_request is None) == (b.upstream_request is None)


@pytest.mark.envoy
def test_reused_envoy_host_is_handed_over_with_fresh_logs_and_upstream(minimal_module):
    emulator()
    first = EnvoyHost.load(minimal_module, reuse=True)
    first.http_request({**REQUEST, "x-pass": "1"})
    pid = first.envoy.pid
    first.close()
    second = EnvoyHost.load(minimal_module, reuse=True)
    try:
        assert second is first and second.envoy.pid == pid
        assert second.upstream.requests == []
        assert [r.message for r in second.logs] == ["configured"]
        other = EnvoyHost.load(minimal_module, reuse=True, plugin_config=b"other")
        assert other.envoy.pid != pid
        other._shutdown()
    finally:
        second._shutdown()


@pytest.mark.envoy
def test_envoy_host_clear_logs_forgets_the_start_up_messages(minimal_module):
    emulator()
    host = EnvoyHost.load(minimal_module)
    try:
        assert [r.message for r in host.logs] == ["configured"]
        host.clear_logs()
        assert host.logs == [] and host.log_messages() == []
    finally:
        host.close()


@pytest.fixture(scope="module")
def callout_module(tmp_path_factory) -> Path:
    from proxywasm_build.languages.c import compile_c_module

    source = Path(__file__).with_name("envoy_callout_filter.c")
    return compile_c_module([source], tmp_path_factory.mktemp("c") / "callout.wasm")


@pytest.mark.envoy
def test_callouts_reach_a_recording_cluster_in_envoy_as_in_the_emulator(callout_module):
    testing = emulator()
    emulated = testing.Host.load(callout_module, clusters=["auth"])
    with EnvoyHost.load(callout_module, clusters=["auth"]) as envoy:
        seen_paths = []

        def check(call):
            seen_paths.append(call.headers.get(":path"))
            assert call.upstream == "auth" and call.timeout_ms == 5000
            assert "x-envoy-internal" not in call.headers
            return (200, {}, b"alice") if call.headers.get(":authority") == "auth" else (401, {}, b"")

        for responder in ((200, {}, b"alice"), (403, {"x-why": "no"}, b"nope"), check):
            emulated.on_http_call("auth", responder)
            envoy.on_http_call("auth", responder)
            a = emulated.http_request(REQUEST, upstream=(200, {}, b"up"))
            b = envoy.http_request(REQUEST, upstream=(200, {}, b"up"))
            assert (a.status, a.body, a.local_reply) == (b.status, b.body, b.local_reply)
            assert (a.upstream_request is None) == (b.upstream_request is None)
            if a.upstream_request is not None:
                assert a.upstream_request.headers.get("x-auth") == b.upstream_request.headers.get("x-auth") == "alice"
        assert seen_paths == ["/check", "/check"]
        (callout,) = envoy.callout_servers["auth"].requests
        assert (callout.method, callout.path) == ("GET", "/check")


@pytest.mark.envoy
def test_envoy_turns_a_dropped_callout_into_a_503_response(callout_module):
    emulator()
    with EnvoyHost.load(callout_module, clusters=["auth"]) as envoy:
        envoy.on_http_call("auth", None)
        r = envoy.http_request(REQUEST)
        # Envoy answered the callout itself with a 503, so the filter took its non-200 branch.
        assert (r.status, r.body) == (403, b"denied\n")
        assert "proxy_on_http_call_response(1, " in envoy.envoy.logs()


@pytest.mark.envoy
def test_tcp_connections_through_envoy_match_the_emulator(tmp_path):
    from proxywasm_build.languages.c import compile_c_module

    testing = emulator()
    module = compile_c_module([Path(__file__).with_name("envoy_tcp_filter.c")], tmp_path / "tcp.wasm")
    emulated = testing.Host.load(module)
    with EnvoyHost.load(module, tcp=True) as envoy:
        for host in (emulated, envoy):
            connection = host.tcp_connection()
            connection.send_downstream(b"ping\n")
            connection.send_upstream(b"pong!\n")
            assert (bytes(connection.to_upstream), bytes(connection.to_downstream)) == (b"ping\n", b"pong!\n")
            connection.close()
            assert connection.closed and connection.closed_by == "downstream"
        assert {k: v for k, v in envoy.metrics.items() if k.startswith("tcp_")} == \
            {k: v for k, v in emulated.metrics.items() if k.startswith("tcp_")} == {"tcp_rx": 5, "tcp_tx": 6}


@pytest.mark.envoy
def test_a_refused_configuration_is_the_emulators_plugin_start_error(tmp_path):
    testing = emulator()
    refusing = MINIMAL_WAT.replace(
        "(drop (call $log (i32.const 2) (i32.const 64) (i32.const 10)))\n    (i32.const 1))",
        "(drop (call $log (i32.const 4) (i32.const 64) (i32.const 10)))\n    (i32.const 0))")
    assert refusing != MINIMAL_WAT
    module = tmp_path / "refusing.wasm"
    module.write_bytes(wasmtime.wat2wasm(refusing))
    for load in (testing.Host.load, EnvoyHost.load):
        with pytest.raises(testing.PluginStartError, match="last error log: configured"):
            load(module)


@pytest.mark.envoy
def test_a_step_by_step_stream_with_a_held_callout_in_envoy(callout_module):
    emulator()
    with EnvoyHost.load(callout_module, clusters=["auth"]) as envoy:
        stream = envoy.http_stream()
        stream.send_request_headers({**REQUEST, ":method": "POST"})
        stream.send_request_body(b'{"item": 1}', end_of_stream=True)
        assert stream.upstream_request is None  # Envoy holds headers and body while paused
        assert stream.request_paused_at == 0
        (call,) = envoy.pending_http_calls
        assert (call.upstream, call.headers.get(":path"), call.timeout_ms) == ("auth", "/check", 5000)
        envoy.respond_http_call(call, 200, {"x-auth-user": "bob"}, b"bob")
        assert envoy.pending_http_calls == []
        up = stream.upstream_request
        assert up.headers.get("x-auth") == "bob" and up.body == b'{"item": 1}'
        assert stream.request_paused_at is None and stream.response_paused_at is None
        assert stream.response.status is None
        stream.send_response_headers({":status": "200", "x-up": "1"})
        stream.send_response_body(b"part one, ")
        assert stream.response.status == 200 and stream.response.body == b"part one, "
        stream.send_response_body(b"part two", end_of_stream=True)
        final = stream.response
        assert (final.body, final.headers.get("x-up"), final.local_reply) == (b"part one, part two", "1", False)
        stream.complete()


@pytest.mark.envoy
def test_a_local_reply_after_the_response_headers_is_a_reset_in_both(tmp_path):
    from proxywasm_build.languages.c import compile_c_module

    testing = emulator()
    module = compile_c_module([Path(__file__).with_name("envoy_late_reply_filter.c")], tmp_path / "late.wasm")
    upstream = (200, {"content-type": "text/plain"}, b"upstream body")
    a = testing.Host.load(module).http_request(REQUEST, upstream=upstream)
    with EnvoyHost.load(module) as envoy:
        b = envoy.http_request(REQUEST, upstream=upstream)
    assert (a.status, a.reset) == (b.status, b.reset) == (200, True)
    assert b.body == b""


@pytest.mark.envoy
def test_a_second_plugin_joins_the_chain_in_envoy(minimal_module):
    emulator()
    with EnvoyHost.load(minimal_module) as envoy:
        envoy.add_plugin(root_id="second", plugin_config=b"{}")
        r = envoy.http_request({**REQUEST, "x-pass": "1"})
        # Both filters add their header: the upstream sees it twice.
        assert r.upstream_request.headers.get_all("x-wat") == ["1", "1"]
        assert [rec.message for rec in envoy.logs] == ["configured", "configured"]
        assert envoy.envoy.config_yaml.count("name: envoy.filters.http.wasm") == 2


@pytest.mark.envoy
def test_pseudo_headers_the_test_never_sent_are_not_invented(envoy_minimal):
    testing = emulator()
    emulated = testing.Host.load(envoy_minimal.module, request_id="r1")
    a = emulated.http_request({"x-pass": "1"})
    b = envoy_minimal.http_request({"x-pass": "1", "x-forwarded-proto": "http", "x-request-id": "r1"})
    assert a.upstream_request.headers == b.upstream_request.headers == {
        "x-pass": "1", "x-forwarded-proto": "http", "x-request-id": "r1", "x-wat": "1"}


@pytest.mark.envoy
def test_a_held_response_body_shows_as_paused_until_its_end(tmp_path):
    from proxywasm_build.languages.c import compile_c_module

    emulator()
    module = compile_c_module([Path(__file__).with_name("envoy_late_reply_filter.c")], tmp_path / "late.wasm")
    with EnvoyHost.load(module) as envoy:
        stream = envoy.http_stream()
        stream.send_request_headers(REQUEST, end_of_stream=True)
        assert stream.request_paused_at is None and stream.upstream_request is not None
        stream.send_response_headers({":status": "200"})
        stream.send_response_body(b"held by the filter")
        assert stream.response.status == 200 and stream.response.body == b""
        assert stream.response_paused_at == 0
        stream.complete()


@pytest.mark.envoy
def test_the_reuse_pool_keeps_only_a_few_idle_envoys(minimal_module, monkeypatch):
    emulator()
    monkeypatch.setenv("PROXYWASM_ENVOY_POOL", "1")
    first = EnvoyHost.load(minimal_module, reuse=True, plugin_config=b"one")
    second = EnvoyHost.load(minimal_module, reuse=True, plugin_config=b"two")
    first.close()
    second.close()  # the pool holds one idle Envoy: the older one stops
    try:
        assert not first.envoy.running and second.envoy.running
        assert EnvoyHost.load(minimal_module, reuse=True, plugin_config=b"two") is second
    finally:
        second._shutdown()


def test_proxywasm_test_refuses_an_unknown_host_before_pytest_starts(tmp_path):
    import subprocess
    import sys

    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    proxywasm = Path(sys.executable).with_name("proxywasm")
    proc = subprocess.run([str(proxywasm), "test", str(tmp_path), "--hosts", "python,nope"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stdout == ""  # pytest never started: no banner, no summary
    assert proc.stderr.strip().splitlines() == [
        "proxywasm: --hosts: unknown host 'nope'; the installed hosts are python, envoy, wasm."]
