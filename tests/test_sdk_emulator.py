"""The author SDK under the emulated Envoy: behaviour a filter author relies on."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from proxywasm import LogLevel
from proxywasm.testing import (
    EmulatorError,
    FilterLoadError,
    Host,
    PluginStartError,
    StrictModeError,
)

DESIGN_FILTER = '''
import json
import proxywasm
from proxywasm import Action, HttpContext, RootContext

class Deny(HttpContext):
    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        if self.get_http_request_header(self.root.header) is not None:
            self.send_http_response(403, [("x-denied-by", "python")], b"denied\\n")
            return Action.PAUSE
        return Action.CONTINUE

    def on_http_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        self.set_http_response_header("x-python", "yes")
        return Action.CONTINUE

class Root(RootContext):
    def on_configure(self, plugin_configuration_size: int) -> bool:
        config = json.loads(self.get_plugin_configuration() or b"{}")
        self.header = config.get("header", "x-deny")
        return True

    def create_http_context(self, context_id: int) -> HttpContext:
        return Deny(context_id, self)

proxywasm.set_root_context(Root)
'''

GET = {":method": "GET", ":path": "/", ":authority": "example.com"}


def write(tmp_path: Path, source: str, name: str = "filter.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def test_design_example_denies_and_tags(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, DESIGN_FILTER), plugin_config=b'{"header": "x-deny"}')
    r = host.http_request({**GET, "x-deny": "1"}, body=b"",
                          upstream=(200, {"content-type": "text/plain"}, b"hello"))
    assert r.status == 403 and r.body == b"denied\n" and r.upstream_request is None
    assert r.headers["x-denied-by"] == "python"
    assert r.headers["X-Python"] == "yes"  # Envoy runs the response path for local replies too
    r = host.http_request(GET, upstream=(200, {"content-type": "text/plain"}, b"hello"))
    assert (r.status, r.body, r.headers["x-python"]) == (200, b"hello", "yes")
    assert r.upstream_request is not None and r.upstream_request.headers[":path"] == "/"


def test_plugin_configuration_changes_behaviour(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, DESIGN_FILTER), plugin_config=b'{"header": "x-block"}')
    assert host.http_request({**GET, "x-deny": "1"}).status == 200
    assert host.http_request({**GET, "x-block": "1"}).status == 403


RECORDER = '''
import proxywasm
from proxywasm import Action, HttpContext, RootContext

class Rec(HttpContext):
    def _rec(self, *item):
        proxywasm.log_info(" ".join(str(i) for i in item))
    def on_http_request_headers(self, n, eos):
        self._rec("req_headers", eos); return Action.CONTINUE
    def on_http_request_body(self, size, eos):
        self._rec("req_body", size, eos)
        return Action.CONTINUE if eos or not self.root.buffer else Action.PAUSE
    def on_http_request_trailers(self, n):
        self._rec("req_trailers", n); return Action.CONTINUE
    def on_http_response_headers(self, n, eos):
        self._rec("resp_headers", eos); return Action.CONTINUE
    def on_http_response_body(self, size, eos):
        self._rec("resp_body", size, eos); return Action.CONTINUE
    def on_http_response_trailers(self, n):
        self._rec("resp_trailers", n); return Action.CONTINUE
    def on_log(self):
        self._rec("log")
    def on_done(self):
        self._rec("done"); return True
    def on_delete(self):
        self._rec("delete")

class Root(RootContext):
    buffer = False
    def on_configure(self, size):
        self.buffer = self.get_plugin_configuration() == b"buffer"
        return True
    def create_http_context(self, context_id):
        return Rec(context_id, self)

proxywasm.set_root_context(Root)
'''


def test_callback_order_and_end_of_stream_flags(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, RECORDER))
    host.http_request({**GET, ":method": "POST"}, body=[b"ab", b"cde"], trailers={"x-t": "1"},
                      upstream=(200, {}, b"xyz", {"grpc-status": "0"}))
    assert host.log_messages() == [
        "req_headers False", "req_body 2 False", "req_body 3 False", "req_trailers 1",
        "resp_headers False", "resp_body 3 False", "resp_trailers 1", "log", "done", "delete"]


def test_headers_only_request_has_end_of_stream_on_headers(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, RECORDER))
    host.http_request(GET, upstream=(204, {}, b""))
    assert host.log_messages()[:2] == ["req_headers True", "resp_headers True"]


def test_pause_buffers_body_until_end_of_stream(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, RECORDER), plugin_config=b"buffer")
    r = host.http_request({**GET, ":method": "POST"}, body=[b"ab", b"cd", b"ef"])
    # each call sees everything held so far; nothing reaches the upstream before the end, which
    # HTTP/1.1 delivers in its own call
    assert [m for m in host.log_messages() if m.startswith("req_body")] == [
        "req_body 2 False", "req_body 4 False", "req_body 6 False", "req_body 6 True"]
    assert r.upstream_request.body == b"abcdef"


def test_step_by_step_stream_holds_paused_data(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, RECORDER), plugin_config=b"buffer")
    stream = host.http_stream()
    stream.send_request_headers({**GET, ":method": "POST"})
    stream.send_request_body(b"12")
    assert stream.request_paused_at == 0
    assert stream.upstream_request.body == b""  # headers went through, the body is held
    stream.send_request_body(b"34", end_of_stream=True)
    assert stream.request_paused_at is None and stream.upstream_request.body == b"1234"
    stream.send_response_headers({":status": "200"}, end_of_stream=True)
    assert stream.finished and stream.response.status == 200


BODY_REWRITE = '''
import json
import proxywasm
from proxywasm import Action, HttpContext, RootContext

class Rewrite(HttpContext):
    def on_http_request_headers(self, n, eos):
        self.remove_http_request_header("content-length")
        return Action.CONTINUE
    def on_http_request_body(self, size, eos):
        if not eos:
            return Action.PAUSE
        data = json.loads(self.get_http_request_body(0, size))
        data["seen"] = True
        self.set_http_request_body(0, size, json.dumps(data, sort_keys=True))
        return Action.CONTINUE

proxywasm.set_root_context(proxywasm.RootContext)
proxywasm.set_http_context(Rewrite)
'''


def test_body_rewrite_with_set_http_context_factory(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, BODY_REWRITE))
    r = host.http_request({**GET, ":method": "POST", "content-length": "8"}, body=[b'{"a":', b"1}"])
    assert r.upstream_request.body == b'{"a": 1, "seen": true}'
    assert "content-length" not in r.upstream_request.headers


RAISES = '''
import proxywasm
from proxywasm import Action, HttpContext, RootContext

class Boom(HttpContext):
    fail_open = None
    def on_http_request_headers(self, n, eos):
        if self.get_http_request_header("x-boom"):
            raise ValueError("kaboom")
        return Action.CONTINUE

class Root(RootContext):
    def on_configure(self, size):
        self.fail_open = self.get_plugin_configuration() == b"open"
        return True
    def create_http_context(self, context_id):
        return Boom(context_id, self)

proxywasm.set_root_context(Root)
'''


def test_exception_fails_closed_with_traceback_and_next_request_works(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, RAISES))
    r = host.http_request({**GET, "x-boom": "1"})
    assert r.status == 500 and r.upstream_request is None
    errors = [rec.message for rec in host.logs if rec.level == LogLevel.ERROR]
    assert any("ValueError: kaboom" in m and "Traceback" in m and "on_http_request_headers" in m
               for m in errors)
    assert host.http_request(GET).status == 200


def test_exception_fails_open_when_the_author_chose_it(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, RAISES), plugin_config=b"open")
    r = host.http_request({**GET, "x-boom": "1"})
    assert r.status == 200 and r.upstream_request is not None
    assert any("kaboom" in rec.message for rec in host.logs)


CALLOUT = '''
import proxywasm
from proxywasm import Action, HttpContext, RootContext

class Auth(HttpContext):
    def on_http_request_headers(self, n, eos):
        self.token = self.dispatch_http_call(
            "auth", [(":method", "GET"), (":path", "/check"), (":authority", "auth"),
                     ("x-user", self.get_http_request_header("x-user") or "")], timeout=0.5)
        return Action.PAUSE
    def on_http_call_response(self, token, num_headers, body_size, num_trailers):
        status = self.get_http_call_response_header(":status")
        if status == "200":
            self.set_http_request_header("x-auth-body", self.get_http_call_response_body(0, body_size))
            self.resume_http_request()
        else:
            self.send_http_response(403 if status else 503, [], b"no")

proxywasm.set_root_context(RootContext)
proxywasm.set_http_context(Auth)
'''


def test_http_callout_holds_request_until_answered(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, CALLOUT), clusters=["auth"])
    stream = host.http_stream()
    stream.send_request_headers({**GET, "x-user": "ann"}, end_of_stream=True)
    [call] = host.pending_http_calls
    assert call.upstream == "auth" and call.headers["x-user"] == "ann" and call.timeout_ms == 500
    assert stream.upstream_request is None
    host.respond_http_call(call, 200, {"a": "b"}, b"ok-ann")
    assert stream.upstream_request.headers["x-auth-body"] == "ok-ann"


def test_http_callout_responders_and_failures(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, CALLOUT))
    host.on_http_call("auth", lambda call: (200 if call.headers["x-user"] == "ann" else 401, {}, b"k"))
    assert host.http_request({**GET, "x-user": "ann"}).status == 200
    assert host.http_request({**GET, "x-user": "bob"}).status == 403
    host.on_http_call("auth", None)
    assert host.http_request({**GET, "x-user": "ann"}).status == 503


def test_paused_request_with_nothing_pending_is_a_clear_error(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, CALLOUT), clusters=["auth"])
    with pytest.raises(EmulatorError, match="paused .* HTTP callouts to auth are pending"):
        host.http_request(GET)


def test_callout_to_unknown_cluster_is_refused_like_envoy(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, CALLOUT))
    r = host.http_request(GET)  # dispatch_http_call raises HostError(BAD_ARGUMENT): fail closed
    assert r.status == 500
    assert any("http_call failed: BAD_ARGUMENT" in rec.message for rec in host.logs)
    strict = Host.load(write(tmp_path, CALLOUT), strict=True)
    with pytest.raises(StrictModeError, match="unknown cluster 'auth'"):
        strict.http_request(GET)


SHARED = '''
import proxywasm
from proxywasm import Action, CasMismatch, HttpContext, RootContext

class Count(HttpContext):
    def on_http_request_headers(self, n, eos):
        while True:
            value, cas = self.get_shared_data("hits")
            try:
                self.set_shared_data("hits", str(int(value or b"0") + 1), cas)
                break
            except CasMismatch:
                continue
        self.enqueue_shared_queue(self.root.queue, self.get_http_request_header(":path"))
        self.root.requests.increment()
        self.root.inflight.set(7)
        self.root.sizes.record(len(self.get_http_request_header(":path")))
        return Action.CONTINUE

class Root(RootContext):
    def on_vm_start(self, size):
        self.queue = self.register_shared_queue("paths")
        self.requests = proxywasm.Counter("requests_total")
        self.inflight = proxywasm.Gauge("inflight")
        self.sizes = proxywasm.Histogram("path_size")
        self.ticks = 0
        self.set_tick_period(2.0)
        return True
    def on_queue_ready(self, queue_id):
        item = self.dequeue_shared_queue(queue_id)
        proxywasm.log_info(f"queued {item.decode()}")
    def on_tick(self):
        self.ticks += 1
        proxywasm.log_info(f"tick {self.ticks} at {self.get_current_time_nanoseconds()}")
    def create_http_context(self, context_id):
        return Count(context_id, self)

proxywasm.set_root_context(Root)
'''


def test_shared_data_queues_metrics_and_ticks(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, SHARED))
    start = host.now_ns
    host.http_request({**GET, ":path": "/a"})
    host.http_request({**GET, ":path": "/bcd"})
    assert host.shared_data["hits"] == b"2"
    assert "queued /a" in host.log_messages() and "queued /bcd" in host.log_messages()
    assert host.metrics["requests_total"] == 2 and host.metrics["inflight"] == 7
    assert host.histogram("path_size") == [2, 4]
    host.advance(5)  # period 2 s: ticks at +2 s and +4 s
    ticks = [m for m in host.log_messages() if m.startswith("tick")]
    assert ticks == [f"tick 1 at {start + 2_000_000_000}", f"tick 2 at {start + 4_000_000_000}"]
    host.tick()
    assert host.log_messages()[-1].startswith("tick 3")


def test_queue_filled_from_outside_wakes_its_owner(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, SHARED))
    host.enqueue("paths", b"/external")
    assert "queued /external" in host.log_messages()
    assert host.queue("paths") == []


PROPS = '''
import logging
import proxywasm
from proxywasm import Action, HttpContext, RootContext

log = logging.getLogger("props")

class P(HttpContext):
    def on_http_request_headers(self, n, eos):
        self.set_http_request_header("x-path", self.get_property_str("request.path"))
        self.set_http_request_header("x-plugin", self.get_property_str(["plugin_name"]))
        self.set_http_request_header("x-port", str(self.get_property_int("source.port")))
        self.set_http_request_header("x-region", self.get_property_str("node.metadata.region") or "none")
        self.set_property(["seen"], b"1")  # Envoy reads a set property by its first segment
        self.set_http_request_header("x-seen", self.get_property_str("seen"))
        self.set_http_request_header("x-ff", self.call_foreign_function("reverse", b"abc").decode())
        log.warning("warned %s", 1)
        return Action.CONTINUE

proxywasm.set_root_context(RootContext)
proxywasm.set_http_context(P)
'''


def test_properties_foreign_functions_and_python_logging(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, PROPS), root_id="my_root",
                     properties={"source.port": 5555, "node.metadata.region": "eu"})
    host.register_foreign_function("reverse", lambda args: args[::-1])
    r = host.http_request({**GET, ":path": "/p?q"})
    h = r.upstream_request.headers
    assert (h["x-path"], h["x-plugin"], h["x-port"], h["x-region"]) == ("/p?q", "my_root", "5555", "eu")
    assert h["x-seen"] == "1" and h["x-ff"] == "cba"
    assert (LogLevel.WARN, "props: warned 1") in [(rec.level, rec.message) for rec in host.logs]


def test_unknown_property_is_none_or_a_strict_failure(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, PROPS))
    host.register_foreign_function("reverse", lambda args: args)
    assert host.http_request(GET).upstream_request.headers["x-region"] == "none"
    strict = Host.load(write(tmp_path, PROPS), strict=True)
    strict.register_foreign_function("reverse", lambda args: args)
    with pytest.raises(StrictModeError, match="node.metadata.region"):
        strict.http_request(GET)


CHAIN = '''
import proxywasm
from proxywasm import Action, HttpContext, RootContext

class Tag(HttpContext):
    def on_http_request_headers(self, n, eos):
        self.add_http_request_header("x-order", self.root.name)
        return Action.CONTINUE
    def on_http_response_headers(self, n, eos):
        self.add_http_response_header("x-order", self.root.name)
        return Action.CONTINUE

class Root(RootContext):
    def on_configure(self, size):
        self.name = self.get_plugin_configuration().decode()
        return True
    def create_http_context(self, context_id):
        return Tag(context_id, self)

proxywasm.set_root_context(Root)
'''


def test_several_plugins_form_a_filter_chain(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, CHAIN), plugin_config=b"first", root_id="a")
    host.add_plugin(plugin_config=b"second", root_id="b")
    r = host.http_request(GET)
    assert r.upstream_request.headers.get_all("x-order") == ["first", "second"]
    assert r.headers.get_all("x-order") == ["second", "first"]  # encoders run in reverse


TCP = '''
import proxywasm
from proxywasm import Action, RootContext, StreamContext

class Conn(StreamContext):
    def on_new_connection(self):
        self.root.connections.increment()
        return Action.CONTINUE
    def on_downstream_data(self, size, eos):
        data = self.get_downstream_data(0, size)
        if b"\\n" not in data:
            return Action.PAUSE
        self.set_downstream_data(0, size, data.upper())
        return Action.CONTINUE
    def on_upstream_data(self, size, eos):
        self.root.bytes_up.increment(size)
        return Action.CONTINUE
    def on_downstream_close(self, peer):
        proxywasm.log_info(f"closed by {peer.name}")

class Root(RootContext):
    def on_vm_start(self, size):
        self.connections = proxywasm.Counter("connections")
        self.bytes_up = proxywasm.Counter("upstream_bytes")
        return True
    def create_stream_context(self, context_id):
        return Conn(context_id, self)

proxywasm.set_root_context(Root)
'''


def test_tcp_stream_context(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, TCP))
    conn = host.tcp_connection()
    conn.send_downstream(b"hel")
    assert conn.to_upstream == b""  # held until a full line arrives
    conn.send_downstream(b"lo\n")
    assert conn.to_upstream == b"HELLO\n"
    conn.send_upstream(b"12345")
    assert conn.to_downstream == b"12345"
    conn.close()
    assert host.metrics == {"connections": 1, "upstream_bytes": 5}
    assert "closed by LOCAL" in host.log_messages()  # Envoy's TCP proxy closes it (measured)


GRPC = '''
import proxywasm
from proxywasm import Action, HttpContext, RootContext

class G(HttpContext):
    def on_http_request_headers(self, n, eos):
        self.dispatch_grpc_call("grpc", "pkg.Svc", "Check", [("k", "v")], b"req", timeout=1)
        return Action.PAUSE
    def on_grpc_call_response(self, token, status, size):
        if status == 0:
            self.set_http_request_header("x-grpc", self.get_grpc_call_response_body(0, size))
            self.resume_http_request()
        else:
            code, message = self.get_grpc_status()
            self.send_http_response(502, [], f"grpc {code} {message}")

proxywasm.set_root_context(RootContext)
proxywasm.set_http_context(G)
'''


def test_grpc_unary_call(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, GRPC))
    host.on_grpc_call("grpc", "pkg.Svc", "Check", lambda call: call.message[::-1])
    assert host.http_request(GET).upstream_request.headers["x-grpc"] == "qer"
    host.on_grpc_call("grpc", "pkg.Svc", "Check", (b"", 7, b"denied"))
    r = host.http_request(GET)
    assert (r.status, r.body) == (502, b"grpc 7 denied")


# --- bad input ----------------------------------------------------------------------------

def test_load_missing_file() -> None:
    with pytest.raises(FilterLoadError, match="nope.py: no such file"):
        Host.load("nope.py")


def test_load_without_set_root_context(tmp_path: Path) -> None:
    path = write(tmp_path, "import proxywasm\n")
    with pytest.raises(FilterLoadError, match="never calls proxywasm.set_root_context"):
        Host.load(path)


def test_load_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "import proxywasm\n\ndef broken(:\n    pass\n")
    with pytest.raises(FilterLoadError, match=r"filter.py:3: syntax error"):
        Host.load(path)


def test_module_level_hostcall_is_refused_like_envoy(tmp_path: Path) -> None:
    path = write(tmp_path, "import proxywasm\nproxywasm.Counter('x')\n"
                           "proxywasm.set_root_context(proxywasm.RootContext)\n")
    with pytest.raises(FilterLoadError, match=r"filter.py:2 calls the host at import time "
                                              r"\(proxywasm.Counter\); a module's import runs where no host "
                                              r"answers \(the build's snapshot, Envoy's _initialize\): move it"):
        Host.load(path)


def test_on_configure_false_rejects_the_plugin(tmp_path: Path) -> None:
    path = write(tmp_path, '''
        import proxywasm
        class Root(proxywasm.RootContext):
            def on_configure(self, size):
                proxywasm.log_error("bad config")
                return False
        proxywasm.set_root_context(Root)
    ''')
    with pytest.raises(PluginStartError, match="on_configure .* returned false.*bad config"):
        Host.load(path)


def test_filter_package_with_several_modules(tmp_path: Path) -> None:
    pkg = tmp_path / "multi"
    pkg.mkdir()
    write(pkg, "def header_value():\n    return 'from-helper'\n", "helpers_multi_pkg.py")
    write(pkg, '''
        import proxywasm
        from proxywasm import Action, HttpContext
        from helpers_multi_pkg import header_value
        class H(HttpContext):
            def on_http_request_headers(self, n, eos):
                self.set_http_request_header("x-helper", header_value())
                return Action.CONTINUE
        proxywasm.set_root_context(proxywasm.RootContext)
        proxywasm.set_http_context(H)
    ''')
    host = Host.load(pkg)
    assert host.http_request(GET).upstream_request.headers["x-helper"] == "from-helper"


def test_proxywasm_test_runs_a_project_and_fails_cleanly(tmp_path: Path) -> None:
    write(tmp_path, DESIGN_FILTER)
    write(tmp_path, '''
        from pathlib import Path
        def test_denies(load_filter):
            host = load_filter(Path(__file__).parent / "filter.py")
            assert host.http_request({":method": "GET", ":path": "/", ":authority": "a",
                                      "x-deny": "1"}).status == 403
    ''', "test_project.py")
    cli = [sys.executable, "-m", "proxywasm_build"]
    ok = subprocess.run([*cli, "test", str(tmp_path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 passed" in ok.stdout
    missing = subprocess.run([*cli, "test", str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().startswith("proxywasm:") and "no such file" in missing.stderr


def test_typed_property_helpers(tmp_path: Path) -> None:
    path = write(tmp_path, '''
        import proxywasm
        from proxywasm import Action, HttpContext, properties
        class P(HttpContext):
            def on_http_request_headers(self, n, eos):
                values = [properties.request_path(), properties.request_method(),
                          properties.source_port(), properties.plugin_root_id(),
                          properties.node_metadata("zone"), properties.upstream_address()]
                self.set_http_request_header("x-props", repr(values))
                return Action.CONTINUE
        proxywasm.set_root_context(proxywasm.RootContext)
        proxywasm.set_http_context(P)
    ''')
    host = Host.load(path, root_id="r1", properties={"node.metadata.zone": "z1", "source.port": 81})
    r = host.http_request({**GET, ":method": "PUT", ":path": "/x"})
    assert r.upstream_request.headers["x-props"] == repr(["/x", "PUT", 81, "r1", "z1", None])


HOLD = '''
import proxywasm
from proxywasm import Action, HttpContext, RootContext

class Hold(HttpContext):
    def on_http_request_headers(self, n, eos):
        self.dispatch_http_call("auth", [(":method", "GET"), (":path", "/"), (":authority", "a")])
        return Action.PAUSE
    def on_http_request_body(self, size, eos):
        proxywasm.log_info(f"body {size} {eos}")
        return Action.CONTINUE
    def on_http_call_response(self, token, num_headers, body_size, num_trailers):
        self.resume_http_request()

proxywasm.set_root_context(RootContext)
proxywasm.set_http_context(Hold)
'''


def test_paused_headers_hold_the_body_without_callbacks_until_resume(tmp_path: Path) -> None:
    # Envoy 1.40 (measured): PAUSE from on_http_request_headers is StopAllIteration.
    host = Host.load(write(tmp_path, HOLD), clusters=["auth"])
    stream = host.http_stream()
    stream.send_request_headers({**GET, ":method": "POST"})
    stream.send_request_body(b"abc")
    stream.send_request_body(b"def", end_of_stream=True)
    assert host.log_messages() == [] and stream.upstream_request is None
    host.respond_http_call(host.pending_http_calls[0], 200)
    assert host.log_messages() == ["body 6 True"]
    assert stream.upstream_request.body == b"abcdef"


def test_sys_exit_in_a_callback_fails_closed_too(tmp_path: Path) -> None:
    path = write(tmp_path, '''
        import sys
        import proxywasm
        from proxywasm import HttpContext
        class Quit(HttpContext):
            def on_http_request_headers(self, n, eos):
                sys.exit(3)
        proxywasm.set_root_context(proxywasm.RootContext)
        proxywasm.set_http_context(Quit)
    ''')
    host = Host.load(path)
    assert host.http_request(GET).status == 500
    assert any("SystemExit: 3" in rec.message for rec in host.logs)


def test_the_sdk_core_stays_light() -> None:
    # Every module the SDK imports is frozen into each compiled filter and lives in its heap.
    code = ("import sys, proxywasm, proxywasm.dispatcher; "
            "print(sorted(m for m in ('dataclasses', 'inspect', 'logging', 'datetime', 'traceback', "
            "'re', 'ast', 'typing', 'enum', 'collections', 'functools', 'warnings') "
            "if m in sys.modules))")
    sdk = str(Path(__file__).resolve().parents[1] / "sdk")  # -S: no site, which imports re itself
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": sdk})
    assert out.stdout.strip() == "[]"
