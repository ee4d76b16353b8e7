"""The whole author API makes the same hostcalls on MicroPython as on CPython.

A filter that touches every part of the API (configuration, ticks, headers, bodies, trailers,
local and gRPC replies, pause/resume, HTTP callouts, gRPC calls and streams, shared data and
queues, metrics, properties, foreign functions, TCP) runs its callbacks through the dispatcher
against a host that records every raw hostcall and answers from a table. Both interpreters must
record the same calls with the same arguments and print the same values.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from proxywasm_build.backends.micropython.interpreter import run_micropython

SDK_DIR = Path(__file__).resolve().parents[1] / "sdk"

FILTER = '''\
import proxywasm
from proxywasm import (Action, BufferType, GrpcStatus, HttpContext, LogLevel, MapType, MetricType,
                       PeerType, RootContext, StreamContext, StreamType)


def show(*values):
    print("value", *values)


class Root(RootContext):
    def on_vm_start(self, vm_configuration_size):
        show("vm config", self.get_vm_configuration())
        return True

    def on_configure(self, plugin_configuration_size):
        show("plugin config", self.get_plugin_configuration())
        self.set_tick_period(0.5)
        self.set_tick_period_milliseconds(250)
        self.hits = proxywasm.Counter("hits")
        self.sizes = proxywasm.Histogram("sizes")
        show("metric", self.hits.value(), self.define_metric(MetricType.GAUGE, "g"))
        self.queue = self.register_shared_queue("q")
        show("queues", self.queue, self.resolve_shared_queue("vm", "q"))
        show("log level", int(proxywasm.get_log_level()), proxywasm.get_log_level().name)
        return True

    def on_tick(self):
        self.token = self.dispatch_http_call("auth", [(":path", "/check"), (b"x-b", b"1")],
                                             body="ping", trailers={"t": "1"}, timeout=1.5)
        show("callout token", self.token)

    def on_http_call_response(self, token_id, num_headers, body_size, num_trailers):
        show("callout", token_id, self.get_http_call_response_headers(),
             self.get_http_call_response_header(":status"), self.get_http_call_response_body(),
             self.get_http_call_response_trailers())

    def on_queue_ready(self, queue_id):
        show("queue", queue_id, self.dequeue_shared_queue(queue_id))
        self.enqueue_shared_queue(queue_id, "back")

    def on_foreign_function(self, function_id, arguments_size):
        show("foreign", function_id, self.get_foreign_function_arguments(),
             self.call_foreign_function("compress", b"data"))


class Http(HttpContext):
    def on_http_request_headers(self, num_headers, end_of_stream):
        show("headers", self.get_http_request_headers(), self.get_http_request_headers_bytes())
        self.set_http_request_headers([("a", "1"), ("b", "2")])
        self.set_http_request_header("x-none", None)
        self.root.hits.increment(2)
        self.root.sizes.record(512)
        self.increment_metric(self.root.hits.id, 3)
        self.record_metric(1, 7)
        show("props", self.get_property("request.path"), self.get_property_str(["a", "b"]),
             self.get_property_bool("connection.mtls"), proxywasm.properties.plugin_name())
        self.set_property("filter_state.x", "v")
        value, cas = self.get_shared_data("k")
        self.set_shared_data("k", b"v2", cas)
        show("shared", value, cas, self.get_current_time_nanoseconds(), self.get_current_time())
        return Action.PAUSE

    def on_http_request_body(self, body_size, end_of_stream):
        show("body", self.get_http_request_body(), self.get_http_request_body(2, 3))
        self.set_http_request_body(0, body_size, "new body")
        if not end_of_stream:
            return Action.PAUSE
        self.resume_http_request()
        return Action.CONTINUE

    def on_http_request_trailers(self, num_trailers):
        show("trailers", self.get_http_request_trailers(), self.get_http_request_trailer("t"))
        self.set_http_request_trailers({"t": "2"})
        self.add_http_request_trailer("u", "3")
        self.remove_http_request_trailer("t")
        self.set_http_request_trailer("v", None)
        return Action.CONTINUE

    def on_http_response_headers(self, num_headers, end_of_stream):
        self.add_http_response_header("x-served-by", "python")
        self.set_http_response_header("server", "edge")
        self.remove_http_response_header("x-internal")
        show("response", self.get_http_response_header("content-type"),
             self.get_http_response_headers())
        self.token = self.dispatch_grpc_call("grpc", "pkg.Svc", "Check", [("k", "v")], b"msg", 2)
        self.stream = self.open_grpc_stream("grpc", "pkg.Svc", "Watch")
        self.send_grpc_stream_message(self.stream, b"m1")
        self.send_grpc_stream_message(self.stream, "m2", end_of_stream=True)
        return 1

    def on_http_response_body(self, body_size, end_of_stream):
        show("response body", self.get_http_response_body())
        self.set_http_response_body(0, body_size, b"")
        self.send_grpc_response(GrpcStatus.PERMISSION_DENIED, "nope", [("grpc-x", "1")])
        self.send_http_response(418, [("x", "y")], "teapot", details="brewing")
        return Action.PAUSE

    def on_grpc_call_response(self, token_id, status_code, response_size):
        show("grpc call", token_id, status_code, self.get_grpc_call_response_body(),
             self.get_grpc_status())

    def on_grpc_stream_initial_metadata(self, token_id, num_elements):
        show("grpc initial", token_id, self.get_grpc_stream_initial_metadata())

    def on_grpc_stream_message(self, token_id, message_size):
        show("grpc message", token_id, self.get_grpc_stream_message())

    def on_grpc_stream_trailing_metadata(self, token_id, num_elements):
        show("grpc trailing", token_id, self.get_grpc_stream_trailing_metadata())

    def on_grpc_stream_close(self, token_id, status_code):
        show("grpc close", token_id, status_code)
        self.cancel_grpc_call(token_id)
        self.close_grpc_stream(token_id)
        self.cancel_grpc_stream(token_id)

    def on_http_response_trailers(self, num_trailers):
        self.resume_http_response()
        self.reset_http_response()
        self.reset_http_request()
        return Action.CONTINUE

    def on_log(self):
        show("log", self.context_id)

    def on_done(self):
        self.done()
        return False


class Tcp(StreamContext):
    def on_new_connection(self):
        return Action.CONTINUE

    def on_downstream_data(self, data_size, end_of_stream):
        show("downstream", self.get_downstream_data())
        self.set_downstream_data(0, data_size, b"DOWN")
        self.resume_downstream()
        return Action.CONTINUE

    def on_upstream_data(self, data_size, end_of_stream):
        show("upstream", self.get_upstream_data(0, 2))
        self.set_upstream_data(0, data_size, "UP")
        self.resume_upstream()
        raise RuntimeError("tcp failure")

    def on_downstream_close(self, peer_type):
        show("downstream close", peer_type.name, peer_type == PeerType.REMOTE)
        self.close_upstream()
        self.close_downstream()

    def on_upstream_close(self, peer_type):
        show("upstream close", repr(peer_type))


proxywasm.set_root_context(Root)
proxywasm.set_http_context(Http)
proxywasm.set_stream_context(Tcp)
'''

SCENARIO = r'''
from proxywasm import _host, dispatcher
from proxywasm.abi import serialize_map

MAP = serialize_map([(b":status", b"200"), (b"content-type", b"text/plain")])
ANSWERS = {
    "get_buffer_bytes": (0, b"buffer-bytes"),
    "get_buffer_status": (0, 12, 0),
    "get_header_map_pairs": (0, MAP),
    "get_header_map_value": (0, b"value"),
    "get_header_map_size": (0, 2),
    "http_call": (0, 77),
    "grpc_call": (0, 88),
    "grpc_stream": (0, 99),
    "get_shared_data": (0, b"v1", 5),
    "register_shared_queue": (0, 3),
    "resolve_shared_queue": (0, 4),
    "dequeue_shared_queue": (0, b"item"),
    "get_status": (0, 14, b"unavailable"),
    "call_foreign_function": (0, b"result"),
    "get_current_time_nanoseconds": (0, 1700000000123456789),
    "get_log_level": (0, 1),
    "get_property": (0, b"\x01"),
    "define_metric": (0, 1),
    "get_metric": (0, 42),
}


def plain(value):
    """Enum members as the ints they are, so both interpreters print the same."""
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return value


class RecordingHost:
    def __getattr__(self, name):
        def hostcall(*args):
            print("call", name, tuple(plain(a) for a in args))
            return ANSWERS.get(name, 0)
        return hostcall


_host.install(RecordingHost())
import filter  # registers the contexts

d = dispatcher
steps = [
    ("context root", lambda: d.proxy_on_context_create(1, 0)),
    ("vm start", lambda: d.proxy_on_vm_start(1, 10)),
    ("configure", lambda: d.proxy_on_configure(1, 12)),
    ("tick", lambda: d.proxy_on_tick(1)),
    ("callout", lambda: d.proxy_on_http_call_response(1, 77, 2, 5, 0)),
    ("queue", lambda: d.proxy_on_queue_ready(1, 3)),
    ("foreign", lambda: d.proxy_on_foreign_function(1, 9, 4)),
    ("context http", lambda: d.proxy_on_context_create(2, 1)),
    ("request headers", lambda: d.proxy_on_request_headers(2, 2, 0)),
    ("request body", lambda: d.proxy_on_request_body(2, 12, 0)),
    ("request body end", lambda: d.proxy_on_request_body(2, 12, 1)),
    ("request trailers", lambda: d.proxy_on_request_trailers(2, 1)),
    ("response headers", lambda: d.proxy_on_response_headers(2, 2, 0)),
    ("grpc initial", lambda: d.proxy_on_grpc_receive_initial_metadata(2, 99, 1)),
    ("grpc message", lambda: d.proxy_on_grpc_receive(2, 99, 4)),
    ("grpc call", lambda: d.proxy_on_grpc_receive(2, 88, 6)),
    ("grpc trailing", lambda: d.proxy_on_grpc_receive_trailing_metadata(2, 99, 1)),
    ("grpc close", lambda: d.proxy_on_grpc_close(2, 99, 0)),
    ("response body", lambda: d.proxy_on_response_body(2, 12, 1)),
    ("response trailers", lambda: d.proxy_on_response_trailers(2, 0)),
    ("log", lambda: d.proxy_on_log(2)),
    ("done", lambda: d.proxy_on_done(2)),
    ("delete", lambda: d.proxy_on_delete(2)),
    ("context tcp root", lambda: d.proxy_on_context_create(3, 0)),
    ("tcp root", lambda: setattr(d.current_vm().contexts[3], "context_type", "stream")),
    ("context tcp", lambda: d.proxy_on_context_create(4, 3)),
    ("new connection", lambda: d.proxy_on_new_connection(4)),
    ("downstream", lambda: d.proxy_on_downstream_data(4, 4, 0)),
    ("upstream", lambda: d.proxy_on_upstream_data(4, 2, 0)),
    ("downstream close", lambda: d.proxy_on_downstream_connection_close(4, 2)),
    ("upstream close", lambda: d.proxy_on_upstream_connection_close(4, 1)),
    ("unknown context", lambda: d.proxy_on_request_headers(42, 0, 0)),
]
for name, step in steps:
    print("step", name)
    print("result", plain(step()))
'''


def _run(tmp_path: Path, micropython: bool) -> str:
    (tmp_path / "filter.py").write_text(FILTER)
    if micropython:
        result = run_micropython(SCENARIO, paths=[SDK_DIR, tmp_path])
    else:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SDK_DIR), str(tmp_path)]))
        result = subprocess.run([sys.executable, "-c", SCENARIO], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _without_tracebacks(stdout: str) -> list[str]:
    """The recorded lines, a logged traceback cut to its first line (the formats differ)."""
    return [line.split("\\n", 1)[0] for line in stdout.splitlines()]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return (_run(tmp_path_factory.mktemp("mp"), micropython=True),
            _run(tmp_path_factory.mktemp("cp"), micropython=False))


def test_every_api_call_makes_the_same_hostcalls_on_both_interpreters(outputs):
    micropython, cpython = outputs
    assert _without_tracebacks(micropython) == _without_tracebacks(cpython)


def test_the_recording_covers_the_api(outputs):
    micropython = outputs[0]
    for expected in (
        "call http_call (b'auth', ",
        "value callout 77 [(':status', '200'), ('content-type', 'text/plain')] value b'buffer-bytes'",
        "call set_shared_data (b'k', b'v2', 5)",
        "call grpc_send (99, b'm2', 1)",
        "call send_local_response (200, b'', b'nope', ",
        "call send_local_response (418, b'brewing', b'teapot', ",
        "value downstream close REMOTE True",
        "value upstream close <PeerType.LOCAL: 1>",
        "value log level 1 DEBUG",
        "call close_stream (2,)",  # the TCP failure closes the downstream
    ):
        assert expected in micropython, expected
    assert "python exception in on_upstream_data (context 4):" in micropython
    assert "RuntimeError: tcp failure" in micropython
