"""One whole HTTP/1.1 exchange through Envoy, as `EnvoyHost.http_request` makes it: the request
written from a test's headers and body, the response read back with its trailers."""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from typing import Any

from proxywasm_build.envoy.config import LOCAL_REPLY_MARKER
from proxywasm_build.envoy.results import (REQUEST_DEFAULTS, HeadersArg, as_bytes, comparable_headers,
                                           header_pairs, make_headers, testing_module)

@dataclass(frozen=True)
class OutgoingRequest:
    """One HTTP/1.1 request as `EnvoyHost.http_request` sends it."""

    method: str
    target: str
    authority: str                      # sent as Host
    headers: list[tuple[str, str]]      # without pseudo-headers
    payload: bytes
    trailers: list[tuple[str, str]] | None   # not None: the body is sent chunked
    sent_names: list[str]               # every header name the test gave (kept when compared)
    chunks: tuple[bytes, ...] = ()      # the body as the test split it (HTTP/2: one DATA frame each)
    scheme: str = "http"                # HTTP/2's :scheme (HTTP/1.1 has none on the wire)


def outgoing_request(headers: HeadersArg, body: bytes | str | list,
                      trailers: HeadersArg | None) -> OutgoingRequest:
    pairs = header_pairs(headers)
    pseudo = {k.lower(): v for k, v in pairs if k.startswith(":")}
    regular = [(k, v) for k, v in pairs if not k.startswith(":")]
    authority = pseudo.get(":authority") or next((v for k, v in regular if k.lower() == "host"),
                                                 REQUEST_DEFAULTS[":authority"])
    chunks = tuple(as_bytes(c) for c in body) if isinstance(body, list) else (as_bytes(body),)
    payload = b"".join(chunks)
    return OutgoingRequest(
        method=pseudo.get(":method", REQUEST_DEFAULTS[":method"]),
        target=pseudo.get(":path", REQUEST_DEFAULTS[":path"]),
        authority=authority, headers=regular, payload=payload,
        trailers=header_pairs(trailers) if trailers is not None else None,
        sent_names=[k for k, _ in pairs],
        chunks=tuple(c for c in chunks if c), scheme=pseudo.get(":scheme", "http"),
    )


def send_request(conn: http.client.HTTPConnection, request: OutgoingRequest) -> None:
    conn.putrequest(request.method, request.target, skip_host=True, skip_accept_encoding=True)
    conn.putheader("host", request.authority)
    for name, value in request.headers:
        if name.lower() not in ("host", "content-length", "transfer-encoding"):
            conn.putheader(name, value)
    payload = request.payload
    if request.trailers is not None:
        conn.putheader("transfer-encoding", "chunked")
        conn.endheaders()
        if payload:
            conn.send(b"%x\r\n%s\r\n" % (len(payload), payload))
        conn.send(b"0\r\n" + b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in request.trailers)
                  + b"\r\n")
    else:
        if payload or request.method.upper() in ("POST", "PUT", "PATCH"):
            conn.putheader("content-length", str(len(payload)))
        conn.endheaders(payload or None)


@dataclass(frozen=True)
class ReceivedResponse:
    """What came back from Envoy, before the comparison with the emulator's results."""

    status: int | None                  # None: reset before any response
    headers: list[tuple[str, str]]
    body: bytes
    trailers: list[tuple[str, str]]
    reset: bool


def read_response(conn: http.client.HTTPConnection) -> ReceivedResponse:
    try:
        resp = conn.getresponse()
    except http.client.RemoteDisconnected:  # Envoy reset the stream before any response
        return ReceivedResponse(None, [], b"", [], reset=True)
    status, headers = resp.status, resp.getheaders()
    reset, body = False, b""
    try:
        body = resp.read()
    except http.client.IncompleteRead as cut:  # reset after the headers
        reset, body = True, cut.partial
    except ConnectionResetError:
        reset = True
    return ReceivedResponse(status, headers, body, resp.trailers, reset)


def http_response(received: ReceivedResponse, answered_names: list[str], upstream_request: Any):
    """`received` as a `proxywasm.testing.HttpResponse`, with Envoy's own differences removed."""
    local_reply = any(name.lower() == LOCAL_REPLY_MARKER for name, _ in received.headers)
    headers = [(k, v) for k, v in received.headers if k.lower() != LOCAL_REPLY_MARKER]
    return testing_module().HttpResponse(
        received.status, make_headers(comparable_headers(headers, sent=answered_names)), received.body,
        make_headers(received.trailers), upstream_request, local_reply=local_reply, reset=received.reset,
    )


class TrailerKeepingResponse(http.client.HTTPResponse):
    """`http.client` reads and discards chunked trailers; this keeps them in `.trailers`."""

    trailers: list[tuple[str, str]]

    def begin(self) -> None:
        self.trailers = []
        super().begin()

    def _read_and_discard_trailer(self) -> None:
        while True:
            line = self.fp.readline(http.client._MAXLINE + 1)
            if not line or line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            self.trailers.append((name.strip().lower(), value.strip()))

