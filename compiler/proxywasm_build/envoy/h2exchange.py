"""The client side of the envoy host's listener: which protocol it speaks to Envoy, the request
id it fixes, and one whole HTTP/2 exchange (cleartext, prior knowledge) with the `h2` library."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any

from proxywasm_build.envoy.exchange import OutgoingRequest, ReceivedResponse
from proxywasm_build.errors import UserError

HTTP1 = "HTTP/1.1"
HTTP2 = "HTTP/2"
#: Headers HTTP/2 forbids (RFC 9113 §8.2.2) or carries as pseudo-headers.
_NOT_ON_H2 = frozenset({"host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"})


@dataclass
class ClientListener:
    """The envoy host's client: `protocol` it speaks to Envoy, and the `request_id` it sends
    in Envoy's place (None: Envoy generates one)."""

    protocol: str = HTTP1
    request_id: Any = None

    def client_headers(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The test's headers plus, with a fixed request id, what Envoy would have appended:
        `x-forwarded-proto: http` and `x-request-id` last (Envoy keeps a client's, in place)."""
        if self.request_id is None:
            return pairs
        names = {k.lower(): v for k, v in pairs}
        out = list(pairs)
        if "x-forwarded-proto" not in names:
            out.append(("x-forwarded-proto", "http"))
        if not names.get("x-request-id"):
            value = self.request_id() if callable(self.request_id) else str(self.request_id)
            out = [p for p in out if p[0].lower() != "x-request-id"] + [("x-request-id", value)]
        return out


def h2_headers(request: OutgoingRequest) -> list[tuple[str, str]]:
    """The request's HTTP/2 header block: the pseudo-headers first, in the test's order (those it
    did not give after them), connection headers left out."""
    values = {":method": request.method, ":path": request.target, ":authority": request.authority,
              ":scheme": request.scheme}
    given = [name.lower() for name in request.sent_names if name.lower() in values]
    order = list(dict.fromkeys(given + [name for name in values if name not in given]))
    regular = [(k.lower(), v) for k, v in request.headers if k.lower() not in _NOT_ON_H2]
    return [(name, values[name]) for name in order] + regular


def exchange_over_h2(port: int, request: OutgoingRequest, timeout: float) -> ReceivedResponse:
    """Send `request` on a new HTTP/2 connection to 127.0.0.1:`port`, each body chunk its own
    DATA frame, and read the response. Raises TimeoutError when no answer comes in time."""
    try:
        import h2.config
        import h2.connection
    except ImportError:
        raise UserError("HTTP/2 through Envoy needs the h2 package: "
                        "pip install 'proxywasm-python[test]' (or h2==4.4.1).") from None

    import h2.exceptions

    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    trailers = request.trailers
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        conn.initiate_connection()
        stream_id = conn.get_next_available_stream_id()
        chunks = list(request.chunks)
        try:
            conn.send_headers(stream_id, h2_headers(request), end_stream=not chunks and trailers is None)
            for i, chunk in enumerate(chunks):
                conn.send_data(stream_id, chunk, end_stream=i == len(chunks) - 1 and trailers is None)
            if trailers is not None:
                conn.send_headers(stream_id, trailers, end_stream=True)
        except h2.exceptions.ProtocolError as err:
            raise UserError(f"the request is not valid HTTP/2: {err}.") from None
        sock.sendall(conn.data_to_send())
        return _read_answer(sock, conn, stream_id, time.monotonic() + timeout)


def _read_answer(sock: socket.socket, conn: Any, stream_id: int, deadline: float) -> ReceivedResponse:
    import h2.events

    status, headers, body, trailers = None, [], bytearray(), []
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError
        data = sock.recv(65536)
        if not data:
            return ReceivedResponse(status, headers, bytes(body), trailers, reset=True)
        for event in conn.receive_data(data):
            if getattr(event, "stream_id", stream_id) != stream_id:
                continue
            if isinstance(event, h2.events.ResponseReceived):
                status = int(dict(event.headers)[":status"])
                headers = [(k, v) for k, v in event.headers if not k.startswith(":")]
            elif isinstance(event, h2.events.DataReceived):
                body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
            elif isinstance(event, h2.events.TrailersReceived):
                trailers = list(event.headers)
            elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                reset = isinstance(event, h2.events.StreamReset)
                return ReceivedResponse(status, headers, bytes(body), trailers, reset=reset)
        pending = conn.data_to_send()
        if pending:
            sock.sendall(pending)
