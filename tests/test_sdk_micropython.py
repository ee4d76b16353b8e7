"""The SDK under the real MicroPython 1.19 (the dev interpreter) and under CPython, one source.

A filter module and a small fake `_proxywasm_host` written in Python (installed with
`proxywasm._host.install`) run the dispatcher's callbacks as a compiled module's C exports
would: the same scenario script runs in both interpreters and must print the same lines.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from proxywasm_build.backends.micropython.interpreter import run_micropython

SDK_DIR = Path(__file__).resolve().parents[1] / "sdk"

FILTER = '''\
import sys

import proxywasm
from proxywasm import Action, Context, Counter, Gauge, HttpContext, RootContext


class Root(RootContext):
    def on_configure(self, plugin_configuration_size):
        self.requests = Counter("requests")
        self.in_flight = Gauge("in_flight")
        return True

    def create_http_context(self, context_id):
        return Http(context_id, self)


class Tagged(Context):
    """A base between HttpContext and Context: its __init__ must run (cooperative init)."""

    def __init__(self, context_id):
        super().__init__(context_id)
        self.tag = "tagged"


class Http(HttpContext, Tagged):
    def on_http_request_headers(self, num_headers, end_of_stream):
        path = self.get_http_request_header(":path")
        self.root.requests.increment()
        if path == "/boom":
            raise ValueError("boom at " + path)
        if path == "/exit":
            sys.exit(3)
        if path == "/deny":
            self.send_http_response(403, body=b"denied\\n")
            return Action.PAUSE
        self.set_http_request_header("x-path-seen", path)
        self.add_http_request_header("x-added", "1")
        self.remove_http_request_header("host")
        return Action.CONTINUE


proxywasm.set_root_context(Root)
'''

#: The line of FILTER that raises: the traceback must name it.
BOOM_LINE = FILTER.splitlines().index('            raise ValueError("boom at " + path)') + 1

SCENARIO = r'''
import struct
import sys

import proxywasm
from proxywasm import Action, LogLevel, MapType, PeerType, Status, _host, dispatcher, properties
from proxywasm.abi import deserialize_map, member_name, serialize_map


class FakeHost:
    """The raw-hostcall interface: bytes in, (status, value) out."""

    def __init__(self):
        self.headers = []
        self.logs = []
        self.replies = []
        self.metrics = {}
        self.properties = {b"request\0path": b"/from-property",
                           b"source\0port": struct.pack("<q", 8080)}

    def log(self, level, message):
        self.logs.append((level, message))
        return 0

    def get_header_map_value(self, map_type, key):
        for name, value in self.headers:
            if name == key:
                return 0, value
        return 1, None

    def get_header_map_pairs(self, map_type):
        return 0, serialize_map(self.headers)

    def replace_header_map_value(self, map_type, key, value):
        self.remove_header_map_value(map_type, key)
        self.headers.append((key, value))
        return 0

    def add_header_map_value(self, map_type, key, value):
        self.headers.append((key, value))
        return 0

    def remove_header_map_value(self, map_type, key):
        self.headers = [(name, value) for name, value in self.headers if name != key]
        return 0

    def send_local_response(self, status_code, details, body, headers, grpc_status):
        self.replies.append((status_code, details, body, deserialize_map(headers), grpc_status))
        return 0

    def get_property(self, path):
        value = self.properties.get(path)
        return (0, value) if value is not None else (1, None)

    def define_metric(self, metric_type, name):
        self.metrics[name] = [metric_type, 0]
        return 0, len(self.metrics)

    def _metric(self, metric_id):
        return list(self.metrics.values())[metric_id - 1]

    def increment_metric(self, metric_id, offset):
        self._metric(metric_id)[1] += offset
        return 0

    def record_metric(self, metric_id, value):
        self._metric(metric_id)[1] = value
        return 0

    def get_metric(self, metric_id):
        return 0, self._metric(metric_id)[1]


host = FakeHost()
_host.install(host)
import filter  # registers its root context


def out(*values):
    print(*values)


# enums: plain ints where it counts, looked up by value, named
out("enums", Action.CONTINUE == 0, Action.PAUSE + 1, int(Action(1)), int(PeerType(2)),
    {Action.PAUSE: "p"}[1], int(LogLevel.WARN) * 2, member_name(Status, 8),
    member_name(MapType, 0))
peer = PeerType(2)
out("member", peer == PeerType.REMOTE, peer.name.lower(), peer.value, repr(peer), str(peer),
    f"{peer}", peer + 1, 1 + peer, {2: "two"}[peer], Status(1).name, int(LogLevel(3)))
for enum, value in ((Action, 7), (PeerType, -1)):
    try:
        enum(value)
        out("no error for", value)
    except ValueError as error:
        out("ValueError", error)

# plugin start
dispatcher.proxy_on_context_create(1, 0)
out("vm_start", dispatcher.proxy_on_vm_start(1, 0), "configure", dispatcher.proxy_on_configure(1, 0))
root = dispatcher.current_vm().contexts[1]


def request(context_id, path, extra=()):
    host.headers = [(b":path", path), (b"host", b"example.com")] + list(extra)
    host.replies = []
    host.logs = []
    dispatcher.proxy_on_context_create(context_id, 1)
    action = dispatcher.proxy_on_request_headers(context_id, len(host.headers), 1)
    dispatcher.proxy_on_done(context_id)
    dispatcher.proxy_on_delete(context_id)
    return int(action)


# headers read and changed
out("continue", request(2, b"/hello"), host.headers)
ctx = None
dispatcher.proxy_on_context_create(3, 1)
ctx = dispatcher.current_vm().contexts[3]
out("init", ctx.context_id, ctx.tag, ctx.root is root)
host.headers = [(b"x-bin", b"a\xffb\xe2\x82"), (b"x-ok", "\u00e9".encode())]
out("utf8", ctx.get_http_request_header("x-bin").encode(),
    [(name, value.encode()) for name, value in ctx.get_http_request_headers()])
out("absent", ctx.get_http_request_header("nope"))

# a local reply
out("deny", request(4, b"/deny"), host.replies)

# an exception: logged with its traceback, a 500
out("boom", request(5, b"/boom"), host.replies, [level for level, _ in host.logs])
for level, message in host.logs:
    print("BOOM-LOG-START")
    print(message.decode())
    print("BOOM-LOG-END")

# sys.exit() in a callback is caught the same way
out("exit", request(6, b"/exit"), [reply[0] for reply in host.replies], len(host.logs))

# fail open: the stream continues, the error is still logged
root.fail_open = True
out("fail_open", request(7, b"/boom"), host.replies, len(host.logs))
root.fail_open = False

# properties and metrics
out("properties", properties.request_path(), properties.source_port(),
    ctx.get_property_int("source.port"), properties.request_host())
out("metrics", root.requests.value(), sorted(host.metrics.items()))
root.in_flight.set(5)
out("gauge", root.in_flight.value())
'''


def _write_filter(tmp_path: Path) -> Path:
    (tmp_path / "filter.py").write_text(FILTER)
    return tmp_path


def _on_micropython(tmp_path: Path) -> str:
    result = run_micropython(SCENARIO, paths=[SDK_DIR, _write_filter(tmp_path)])
    assert result.returncode == 0, result.stderr
    return result.stdout


def _on_cpython(tmp_path: Path) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SDK_DIR), str(_write_filter(tmp_path))]),
               PYTHONIOENCODING="utf-8")
    result = subprocess.run([sys.executable, "-c", SCENARIO], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _lines(stdout: str) -> dict[str, str]:
    return {line.split(" ", 1)[0]: line for line in stdout.splitlines() if " " in line}


def _boom_log(stdout: str) -> str:
    return stdout.split("BOOM-LOG-START\n", 1)[1].split("BOOM-LOG-END", 1)[0]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return (_on_micropython(tmp_path_factory.mktemp("mp")),
            _on_cpython(tmp_path_factory.mktemp("cp")))


def test_enums_are_ints_looked_up_by_value_on_micropython(outputs):
    micropython, _ = outputs
    lines = _lines(micropython)
    assert lines["enums"] == "enums True 2 1 2 p 6 CAS_MISMATCH HTTP_REQUEST_HEADERS"
    assert lines["member"] == "member True remote 2 <PeerType.REMOTE: 2> 2 2 3 3 two NOT_FOUND 3"
    assert "ValueError 7 is not a valid Action" in micropython
    assert "ValueError -1 is not a valid PeerType" in micropython


def test_request_headers_are_read_and_changed_on_micropython(outputs):
    lines = _lines(outputs[0])
    assert lines["continue"] == ("continue 0 [(b':path', b'/hello'), (b'x-path-seen', b'/hello'), "
                                 "(b'x-added', b'1')]")
    assert lines["init"] == "init 3 tagged True"  # the base's __init__ ran (cooperative)
    assert lines["utf8"] == ("utf8 b'a\\xef\\xbf\\xbdb\\xef\\xbf\\xbd' [('x-bin', "
                             "b'a\\xef\\xbf\\xbdb\\xef\\xbf\\xbd'), ('x-ok', b'\\xc3\\xa9')]")
    assert lines["absent"] == "absent None"


def test_a_local_reply_pauses_the_stream_on_micropython(outputs):
    assert _lines(outputs[0])["deny"] == "deny 1 [(403, b'', b'denied\\n', [], -1)]"


def test_an_exception_is_a_500_with_a_traceback_naming_file_and_line_on_micropython(outputs):
    micropython = outputs[0]
    lines = _lines(micropython)
    assert lines["boom"] == ("boom 1 [(500, b'python_exception', b'internal filter error\\n', [], -1)] "
                             "[4]")
    log = _boom_log(micropython)
    assert log.startswith("python exception in on_http_request_headers (context 5):\n"
                          "Traceback (most recent call last):\n")
    assert re.search(rf'File "[^"]*filter\.py", line {BOOM_LINE}, in on_http_request_headers\n', log)
    assert log.rstrip("\n").endswith("ValueError: boom at /boom")
    assert lines["exit"] == "exit 1 [500] 1"
    assert lines["fail_open"] == "fail_open 0 [] 1"


def test_properties_and_metrics_on_micropython(outputs):
    lines = _lines(outputs[0])
    assert lines["properties"] == "properties /from-property 8080 8080 None"
    assert lines["metrics"] == "metrics 5 [(b'in_flight', [1, 0]), (b'requests', [0, 5])]"
    assert lines["gauge"] == "gauge 5"


def test_micropython_and_cpython_print_the_same(outputs):
    micropython, cpython = outputs
    strip = lambda text: text.split("BOOM-LOG-START")[0] + text.split("BOOM-LOG-END")[-1]
    assert strip(micropython) == strip(cpython)
    # the traceback's frame line and last line read the same in both
    for log in (_boom_log(micropython), _boom_log(cpython)):
        assert re.search(rf'filter\.py", line {BOOM_LINE}, in on_http_request_headers\n', log)
        assert "ValueError: boom at /boom" in log


def test_replacement_decoding_matches_cpythons_for_any_bytes():
    """MicroPython's bytes.decode has no errors="replace": the SDK's own decoder must give
    exactly CPython's text (one U+FFFD per maximal invalid subpart)."""
    import random

    from proxywasm.hostcalls import _decode_replacing

    pieces = [b"a", "é".encode(), "€".encode(), "😀".encode(), b"\xe2\x82", b"\xf0\x9f", b"\xed\xa0\x80",
              b"\xe0\x80\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xff", b"\x80", b"\xf5"]
    rng = random.Random(12)
    for _ in range(5000):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        if rng.random() < 0.5:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 12)))
        assert _decode_replacing(data) == data.decode("utf-8", "replace"), data
