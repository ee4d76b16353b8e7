"""Step-by-step streams through a real Envoy, with the emulator's `HttpStream` and
`TcpConnection` APIs: each step writes on one side and waits until the network is quiet."""

from __future__ import annotations

import select
import socket
import time
from typing import TYPE_CHECKING, Any

from proxywasm_build.envoy.config import LOCAL_REPLY_MARKER
from proxywasm_build.envoy.results import (REQUEST_DEFAULTS, HeadersArg, as_bytes, comparable_headers,
                                           header_pairs, make_headers, testing_module, upstream_request_of)
from proxywasm_build.errors import UserError
from proxywasm_build.envoy.views import EnvoyStreamViews

if TYPE_CHECKING:
    from proxywasm_build.envoy.host import EnvoyHost

class EnvoyHttpStream(EnvoyStreamViews):
    """One real HTTP/1.1 stream through Envoy, driven step by step like the emulator's
    `HttpStream`: `send_request_headers/body/trailers` write as the client,
    `send_response_headers/body/trailers` answer as the upstream; `upstream_request` and
    `response` show what each side has received so far. After each step the host waits until
    the network is quiet. Envoy does not say where a filter paused: `request_paused_at` and
    `response_paused_at` are inferred from what each side received (0 or None, one plugin only).
    """

    def __init__(self, host: EnvoyHost) -> None:
        self._host = host
        host.upstream.clear()
        host.upstream.handler = None
        host.upstream.hold = True
        self._client = socket.create_connection(("127.0.0.1", host.envoy.port), timeout=5)
        self._received = bytearray()
        self._chunked = False
        self._sent_names: list[str] = []
        self._answered_names: list[str] = []
        self._closed = False
        self._request_sent: tuple[bool, int] | None = None  # (ended, body bytes) from the client
        self._response_ended = False
        self._response_body_sent = 0

    def _read_available(self) -> None:
        while not self._closed:
            ready, _, _ = select.select([self._client], [], [], 0)
            if not ready:
                return
            try:
                data = self._client.recv(65536)
            except OSError:
                data = b""
            if not data:
                self._closed = True
                return
            self._received += data

    def _send(self, data: bytes) -> None:
        self._client.sendall(data)
        self._host._settle([self])

    def send_request_headers(self, headers: HeadersArg, end_of_stream: bool = False) -> None:
        pairs = self._host.listener.client_headers(header_pairs(headers))
        pseudo = {k.lower(): v for k, v in pairs if k.startswith(":")}
        regular = [(k, v) for k, v in pairs if not k.startswith(":") and k.lower() not in ("host", "transfer-encoding")]
        self._sent_names = [k for k, _ in pairs]
        method = pseudo.get(":method", REQUEST_DEFAULTS[":method"])
        authority = pseudo.get(":authority") or next((v for k, v in pairs if k.lower() == "host"),
                                                     REQUEST_DEFAULTS[":authority"])
        has_length = any(k.lower() == "content-length" for k, _ in regular)
        lines = [f"{method} {pseudo.get(':path', REQUEST_DEFAULTS[':path'])} HTTP/1.1", f"host: {authority}"]
        lines += [f"{k}: {v}" for k, v in regular]
        if end_of_stream and not has_length and method.upper() in ("POST", "PUT", "PATCH"):
            lines.append("content-length: 0")
        elif not end_of_stream and not has_length:
            self._chunked = True
            lines.append("transfer-encoding: chunked")
        self._request_sent = (end_of_stream, 0)
        self._send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def send_request_body(self, data: bytes, end_of_stream: bool = False) -> None:
        data = as_bytes(data)
        self._request_sent = (end_of_stream, (self._request_sent or (False, 0))[1] + len(data))
        out = (b"%x\r\n%s\r\n" % (len(data), data) if data else b"") if self._chunked else data
        if end_of_stream and self._chunked:
            out += b"0\r\n\r\n"
        self._send(out)

    def send_request_trailers(self, trailers: HeadersArg) -> None:
        lines = "".join(f"{k}: {v}\r\n" for k, v in header_pairs(trailers))
        self._request_sent = (True, (self._request_sent or (False, 0))[1])
        self._send(b"0\r\n" + lines.encode("latin-1") + b"\r\n")

    def _exchange(self):
        live = self._host.upstream.live
        return live[0] if live else None

    @property
    def upstream_request(self):
        exchange = self._exchange()
        return None if exchange is None else upstream_request_of(exchange, self._sent_names)

    def _upstream_exchange(self):
        exchange = self._exchange()
        if exchange is None:
            raise UserError("the request has not reached the upstream, so it cannot answer yet.")
        return exchange

    def send_response_headers(self, headers: HeadersArg, end_of_stream: bool = False) -> None:
        pairs = header_pairs(headers)
        status = int(next((v for k, v in pairs if k == ":status"), 200))
        self._answered_names = [k for k, _ in pairs if not k.startswith(":")]
        self._upstream_exchange().send_headers(status, pairs, end_of_stream)
        self._response_ended = end_of_stream
        self._host._settle([self])

    def send_response_body(self, data: bytes, end_of_stream: bool = False) -> None:
        self._upstream_exchange().send_body(as_bytes(data), end_of_stream)
        self._response_body_sent += len(data)
        self._response_ended = end_of_stream
        self._host._settle([self])

    def send_response_trailers(self, trailers: HeadersArg) -> None:
        self._upstream_exchange().send_trailers(header_pairs(trailers))
        self._response_ended = True
        self._host._settle([self])

    @property
    def response(self):
        """What the client has received so far (`status` None before the response headers)."""
        self._read_available()
        status, raw_headers, body, trailers, _ = parse_http_response(bytes(self._received))
        testing = testing_module()
        local_reply = any(k.lower() == LOCAL_REPLY_MARKER for k, _ in raw_headers)
        raw_headers = [(k, v) for k, v in raw_headers if k.lower() != LOCAL_REPLY_MARKER]
        upstream_request = self.upstream_request
        return testing.HttpResponse(status, make_headers(comparable_headers(raw_headers, sent=self._answered_names)),
                                    body, make_headers(trailers), upstream_request, local_reply=local_reply)

    @property
    def finished(self) -> bool:
        return self._closed

    def complete(self) -> None:
        """End the stream: close the client connection and the upstream's."""
        exchange = self._exchange()
        if exchange is not None:
            exchange.fail()
        self._client.close()
        self._closed = True
        self._host.upstream.hold = False

    # Envoy does not say where a stream stopped. With one plugin in the chain it can only be
    # that plugin (index 0), so these answer from what each side has received after settling.

    def _single_plugin(self) -> None:
        if self._host._envoy_kwargs.get("extra_plugins"):
            raise NotImplementedError("with several plugins Envoy does not say which one paused")

    @property
    def request_paused_at(self) -> int | None:
        """0 when the request (as far as the client sent it) has not all reached the upstream."""
        self._single_plugin()
        if self._request_sent is None or self.response.status is not None:
            return None
        exchange = self._exchange()
        if exchange is None:
            return 0
        ended, body = self._request_sent
        if len(exchange.body) < body or (ended and not exchange.request_complete):
            return 0
        return None

    @property
    def response_paused_at(self) -> int | None:
        """0 when the upstream's answer (as far as it was sent) has not all reached the client
        (a filter that shortens a body it streams through looks paused until the end)."""
        self._single_plugin()
        exchange = self._exchange()
        if exchange is None or not exchange.answered:
            return None
        status, _, body, _, complete = parse_http_response(bytes(self._received))
        if status is None or (not complete and (self._response_ended or len(body) < self._response_body_sent)):
            return 0
        return None


def parse_http_response(data: bytes) -> tuple:
    """(status, headers, body, trailers, complete) from the bytes of a (maybe partial) HTTP/1.1
    response."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return None, [], b"", [], False
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    names = dict(headers)
    if "chunked" not in names.get("transfer-encoding", ""):
        length = names.get("content-length")
        if length and length.isdigit():
            return status, headers, rest[: int(length)], [], len(rest) >= int(length)
        return status, headers, rest, [], False
    body, trailers, pos = bytearray(), [], 0
    while True:
        end = rest.find(b"\r\n", pos)
        if end < 0:
            return status, headers, bytes(body), trailers, False
        size = int(rest[pos:end].split(b";")[0] or b"0", 16)
        if size == 0:
            tail = rest[end + 2:]
            for line in tail.decode("latin-1").split("\r\n"):
                if not line:
                    break
                name, _, value = line.partition(":")
                trailers.append((name.strip().lower(), value.strip()))
            return status, headers, bytes(body), trailers, tail.endswith(b"\r\n") and (
                tail == b"\r\n" or tail.endswith(b"\r\n\r\n"))
        body += rest[end + 2:end + 2 + size]
        pos = end + 2 + size + 2
        if pos > len(rest):
            return status, headers, bytes(body), trailers, False


class EnvoyTcpConnection:
    """One real TCP connection through Envoy, with the emulator's `TcpConnection` API.

    `send_downstream(data)` writes as the client, `send_upstream(data)` as the upstream
    server; `to_upstream` / `to_downstream` collect what came out of Envoy on each side.
    A real network has no "done" signal, so each step waits until the bytes stop coming
    (`quiet` seconds after the last one, at most `patience` seconds when none come).
    """

    quiet = 0.05
    patience = 0.5

    def __init__(self, host: EnvoyHost) -> None:
        self._host = host
        self.to_upstream = bytearray()
        self.to_downstream = bytearray()
        self.closed = False
        self.closed_by: str | None = None
        self._client = socket.create_connection(("127.0.0.1", host.envoy.port), timeout=5)
        self._upstream: socket.socket | None = None
        self._upstream_socket(wait=2.0)

    def _upstream_socket(self, wait: float) -> socket.socket | None:
        if self._upstream is None and self._host.tcp_upstream is not None:
            self._upstream = self._host.tcp_upstream.accept(wait)
        return self._upstream

    def _collect(self, sock: socket.socket | None, into: bytearray, patience: float | None = None) -> bool:
        """Read what `sock` receives until it goes quiet; True when the peer closed."""
        if sock is None:
            return False
        deadline = time.monotonic() + (self.patience if patience is None else patience)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ready, _, _ = select.select([sock], [], [], remaining)
            if not ready:
                return False
            try:
                data = sock.recv(65536)
            except OSError:
                return True
            if not data:
                return True
            into += data
            deadline = time.monotonic() + self.quiet

    def send_downstream(self, data: bytes, end_of_stream: bool = False) -> None:
        self._client.sendall(bytes(data))
        if end_of_stream:
            self._client.shutdown(socket.SHUT_WR)
        self._collect(self._upstream_socket(wait=2.0), self.to_upstream)

    def send_upstream(self, data: bytes, end_of_stream: bool = False) -> None:
        upstream = self._upstream_socket(wait=5.0)
        if upstream is None:
            raise UserError("Envoy never connected to the upstream (did the filter pause the connection?).")
        upstream.sendall(bytes(data))
        if end_of_stream:
            upstream.shutdown(socket.SHUT_WR)
        self._collect(self._client, self.to_downstream)

    def close(self, peer: Any = None, side: str = "downstream") -> None:
        """Close from `side` ("downstream" or "upstream"), then wait until Envoy has closed
        the other side, so the module's close callbacks have run."""
        if self.closed:
            return
        first, other, into = (self._client, self._upstream, self.to_upstream) if side == "downstream" \
            else (self._upstream, self._client, self.to_downstream)
        if first is not None:
            first.close()
        if other is not None:
            self._collect(other, into, patience=5.0)
            other.close()
        time.sleep(self.quiet)
        self.closed, self.closed_by = True, side

