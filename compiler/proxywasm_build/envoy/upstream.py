"""A recording HTTP/1.1 upstream on 127.0.0.1 for tests, `proxywasm run` and HTTP callouts.

```python
with RecordingUpstream() as upstream:
    upstream.respond(200, {"content-type": "text/plain"}, b"hello")   # the default answer
    upstream.respond_next(503, {}, b"busy")                           # only the next request
    ... send traffic through Envoy to upstream.address ...
    first = upstream.requests[0]      # .method .path .headers (case-insensitive) .body .trailers
```
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable, Mapping, Union

HeadersLike = Union[Mapping[str, str], Iterable[tuple[str, str]]]
#: (status, headers, body) or (status, headers, body, trailers); trailers make the answer chunked.
Answer = tuple


@dataclass
class RecordedRequest:
    """One request as the upstream received it. `headers` is case-insensitive (`.get`, `[]`,
    `in`, `.items()`, `.get_all`); `trailers` are the chunked-encoding trailers, if any."""

    method: str
    path: str
    headers: Message
    body: bytes
    trailers: list[tuple[str, str]] = field(default_factory=list)
    received_at: float = 0.0


def _pairs(headers: HeadersLike) -> list[tuple[str, str]]:
    items = headers.items() if hasattr(headers, "items") and not isinstance(headers, (list, tuple)) else headers
    return [(str(k), str(v)) for k, v in items]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format: str, *args: object) -> None:  # silence stderr
        pass

    def _read_chunked(self, on_chunk: Callable[[bytes], None]) -> list[tuple[str, str]]:
        """Read a chunked body, handing each chunk to `on_chunk`; return its trailers."""
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                break
            on_chunk(self.rfile.read(size))
            self.rfile.readline()
        trailers = []
        while True:
            line = self.rfile.readline().rstrip(b"\r\n")
            if not line:
                return trailers
            name, _, value = line.decode("latin-1").partition(":")
            trailers.append((name.strip().lower(), value.strip()))

    def _read_body(self) -> tuple[bytes, list[tuple[str, str]]]:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            chunks: list[bytes] = []
            trailers = self._read_chunked(chunks.append)
            return b"".join(chunks), trailers
        length = int(self.headers.get("content-length") or 0)
        return (self.rfile.read(length) if length else b""), []

    def _handle(self) -> None:
        if self.server.owner.hold:
            self._handle_live()
            return
        body, trailers = self._read_body()
        request = RecordedRequest(self.command, self.path, self.headers, body, trailers, time.time())
        try:
            answer = self.server.owner._record_and_answer(request)
        except Exception as err:  # a test's handler failed: say so to the caller, keep serving
            self.server.owner.errors.append(err)
            answer = (500, {"content-type": "text/plain"}, f"upstream handler failed: {err!r}".encode())
        if answer is None:  # fail the request: close without answering
            self.close_connection = True
            return
        status, headers, payload = answer[0], answer[1], bytes(answer[2])
        response_trailers = _pairs(answer[3]) if len(answer) > 3 and answer[3] else []
        self.send_response_only(status)
        given = {name.lower() for name, _ in _pairs(headers)}
        if "date" not in given:
            self.send_header("date", self.date_time_string())
        for name, value in _pairs(headers):
            if name.lower() not in ("content-length", "transfer-encoding"):
                self.send_header(name, value)
        if response_trailers:
            self.send_header("transfer-encoding", "chunked")
            self.send_header("trailer", ", ".join(name for name, _ in response_trailers))
        else:
            self.send_header("content-length", str(len(payload)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if response_trailers:
            if payload:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
            self.wfile.write(b"0\r\n")
            for name, value in response_trailers:
                self.wfile.write(f"{name}: {value}\r\n".encode("latin-1"))
            self.wfile.write(b"\r\n")
        else:
            self.wfile.write(payload)

    def _handle_live(self) -> None:
        """Hold mode: hand the exchange to the test, stream the request body into it as it
        arrives, and keep the connection until the test has answered (or failed) it."""
        exchange = LiveExchange(self)
        self.server.owner._add_live(exchange)
        try:
            if "chunked" in self.headers.get("transfer-encoding", "").lower():
                exchange.trailers.extend(self._read_chunked(exchange._arrive))
            else:
                remaining = int(self.headers.get("content-length") or 0)
                while remaining > 0:
                    data = self.rfile.read1(remaining) if hasattr(self.rfile, "read1") else self.rfile.read(remaining)
                    if not data:
                        break
                    exchange._arrive(data)
                    remaining -= len(data)
        except OSError:
            pass
        exchange.request_complete = True
        exchange._done.wait(timeout=self.server.owner.hold_timeout)
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class LiveExchange:
    """A request held by a `RecordingUpstream` in hold mode, answered piece by piece by the test.

    `method`, `path`, `headers` are there at once; `body` grows as the request body arrives;
    `request_complete` says the whole request (and `trailers`) arrived. Answer with
    `send_headers`, `send_body`, `send_trailers`, or `fail()` to close without answering.
    """

    def __init__(self, handler: "_Handler") -> None:
        self._handler = handler
        self.method = handler.command
        self.path = handler.path
        self.headers = handler.headers
        self.body = bytearray()
        self.trailers: list[tuple[str, str]] = []
        self.request_complete = False
        self.received_at = time.time()
        self.answered = False
        self._chunked = False
        self._done = threading.Event()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def _arrive(self, data: bytes) -> None:
        self.body += data

    def _write(self, data: bytes) -> None:
        try:
            self._handler.wfile.write(data)
            self._handler.wfile.flush()
        except OSError:
            self._done.set()

    def send_headers(self, status: int, headers: HeadersLike | None = None, end_of_stream: bool = False) -> None:
        pairs = [(k, v) for k, v in _pairs(headers or {}) if not k.startswith(":")]
        names = {k.lower() for k, _ in pairs}
        lines = [f"HTTP/1.1 {int(status)} {self._handler.responses.get(int(status), ('',))[0]}"]
        lines += [f"{k}: {v}" for k, v in pairs if k.lower() != "transfer-encoding"]
        if "date" not in names:
            lines.append(f"date: {self._handler.date_time_string()}")
        if end_of_stream:
            if "content-length" not in names:
                lines.append("content-length: 0")
        elif "content-length" not in names:
            self._chunked = True
            lines.append("transfer-encoding: chunked")
        self.answered = True
        self._write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if end_of_stream:
            self._done.set()

    def send_body(self, data: bytes, end_of_stream: bool = False) -> None:
        data = bytes(data)
        if self._chunked:
            if data:
                self._write(b"%x\r\n%s\r\n" % (len(data), data))
            if end_of_stream:
                self._write(b"0\r\n\r\n")
        else:
            self._write(data)
        if end_of_stream:
            self._done.set()

    def send_trailers(self, trailers: HeadersLike) -> None:
        lines = "".join(f"{k}: {v}\r\n" for k, v in _pairs(trailers))
        self._write(b"0\r\n" + lines.encode("latin-1") + b"\r\n" if self._chunked else b"")
        self._done.set()

    def fail(self) -> None:
        """Close the connection without (finishing) an answer."""
        self._done.set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "RecordingUpstream"

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001 - socketserver's signature
        """Envoy resetting an upstream connection (a filter's local reply, a reset stream) is
        expected here, not an error worth a traceback in the test output."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class RecordingUpstream:
    """A threaded HTTP server on 127.0.0.1 (free port) that records requests and answers them.

    The answer is, in order of precedence: the next queued one (`respond_next`), the handler
    (`handler=lambda request: (status, headers, body[, trailers])`), the default (`respond`).
    An answer of None closes the connection without a response (a failed request).
    """

    def __init__(self, status: int = 200, headers: HeadersLike | None = None, body: bytes = b"",
                 *, handler: Callable[[RecordedRequest], Answer] | None = None) -> None:
        self._lock = threading.Lock()
        self._default: Answer = (status, headers if headers is not None else {"content-type": "text/plain"}, body)
        self._queued: deque[Answer] = deque()
        self.handler = handler
        self.requests: list[RecordedRequest] = []
        #: Exceptions raised by `handler` (each answered with a 500).
        self.errors: list[Exception] = []
        #: Hold mode: requests become `LiveExchange`s (in `live`) the test answers itself.
        self.hold = False
        self.hold_timeout = 60.0
        self.live: list[LiveExchange] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="recording-upstream",
                                        daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self._server.server_address[1])

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def respond(self, status: int, headers: HeadersLike | None = None, body: bytes = b"",
                trailers: HeadersLike | None = None) -> None:
        """Answer every later request with this (unless one is queued)."""
        with self._lock:
            self._default = (status, headers or {}, bytes(body), trailers or [])

    def respond_next(self, status: int, headers: HeadersLike | None = None, body: bytes = b"",
                     trailers: HeadersLike | None = None) -> None:
        """Answer the next not-yet-answered request with this, once."""
        with self._lock:
            self._queued.append((status, headers or {}, bytes(body), trailers or []))

    def clear(self) -> None:
        """Forget recorded requests and queued answers; fail held exchanges."""
        with self._lock:
            self.requests.clear()
            self._queued.clear()
            for exchange in self.live:
                exchange.fail()
            self.live.clear()

    def _add_live(self, exchange: LiveExchange) -> None:
        with self._lock:
            self.live.append(exchange)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Wait until `count` requests were recorded; return them (maybe fewer on timeout)."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return list(self.requests)

    def _record_and_answer(self, request: RecordedRequest) -> Answer:
        with self._lock:
            self.requests.append(request)
            if self._queued:
                return self._queued.popleft()
            handler, default = self.handler, self._default
        if handler is not None:
            return handler(request)
        return default

    def close(self) -> None:
        for exchange in list(self.live):
            exchange.fail()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "RecordingUpstream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TcpUpstream:
    """A TCP server on 127.0.0.1 (free port) that hands each accepted connection to the test.

    `accept(timeout)` returns the next connection Envoy opened to it, as a plain socket.
    """

    def __init__(self) -> None:
        import queue
        import socket

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self._accepted: "queue.Queue" = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="tcp-upstream", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closed:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self._accepted.put(connection)

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self._socket.getsockname()[1])

    def accept(self, timeout: float = 5.0):
        """The next connection that reached this server, or None after `timeout` seconds."""
        import queue

        try:
            return self._accepted.get(timeout=timeout)
        except queue.Empty:
            return None

    def clear(self) -> None:
        """Close connections accepted but never taken."""
        import queue

        while True:
            try:
                self._accepted.get_nowait().close()
            except queue.Empty:
                return

    def close(self) -> None:
        import socket

        self._closed = True
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._socket.close()
        self._thread.join(timeout=5)
        self.clear()

    def __enter__(self) -> "TcpUpstream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
