"""What Envoy's listener does to a stream before and around the filters: the downstream
protocol, the headers Envoy adds to every request, and how each protocol frames a body.

Measured in Envoy 1.40 with the listener `proxywasm run`, `deploy envoy` and the envoy test
host generate (`http_connection_manager`, `use_remote_address: false`, plain HTTP):

- HTTP/1.1: the filter sees the pseudo-headers first, as `:authority` (from `host`), `:path`,
  `:method`, `:scheme`, then the client's headers in their order. HTTP/2: the client's order.
- `:scheme`, on HTTP/1.1, is the client's `x-forwarded-proto` if that is `http` or `https`, else
  `http` (the connection is plain). On HTTP/2 it is the client's (`http` when the test gave none).
- `x-forwarded-proto: http` is appended when the client sent none; a client's value is kept.
- `x-request-id` (a UUID4) is appended after it when the client sent none or an empty one; a
  client's value is kept.
- A body's end: on HTTP/1.1 (either direction, content-length or chunked) the end of stream
  comes in its own body call after the data, `(n, false)` then `(0, true)` when the filter let
  the data go on, `(n, true)` with every byte readable when it buffered (PAUSE). On HTTP/2 the
  last DATA frame carries the end: one `(n, true)` call.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Callable, Optional, Union

Pairs = list[tuple[bytes, bytes]]
RequestId = Union[str, Callable[[], str], None]

HTTP1 = "HTTP/1.1"
HTTP2 = "HTTP/2"
PROTOCOLS = (HTTP1, HTTP2)

#: The order Envoy's HTTP/1 codec gives the pseudo-headers of a request.
_HTTP1_PSEUDO_ORDER = (b":authority", b":path", b":method")


def check_protocol(protocol: str, what: str = "protocol") -> str:
    """`protocol` when it is one the emulator speaks; ValueError (one sentence) otherwise."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"{what} must be {' or '.join(repr(p) for p in PROTOCOLS)}, not {protocol!r}")
    return protocol


@dataclass
class Listener:
    """How the emulated listener treats streams (`Host.load` sets it).

    `protocol`: the downstream client's protocol (request body framing, pseudo-header order,
    the `request.protocol` property). `upstream_protocol`: the upstream's (response body
    framing). `request_id`: the `x-request-id` Envoy generates (a string, or a function called
    once per request; None: a fresh UUID4). `envoy_headers=False` gives the filter exactly the
    test's headers: no `:scheme`, `x-forwarded-proto` or `x-request-id` added, no reordering.
    """

    protocol: str = HTTP1
    upstream_protocol: str = HTTP1
    request_id: RequestId = None
    envoy_headers: bool = True

    def next_request_id(self) -> str:
        if self.request_id is None:
            return str(uuid.uuid4())
        return self.request_id() if callable(self.request_id) else str(self.request_id)

    def request_headers(self, pairs: Pairs, protocol: str) -> Pairs:
        """The request headers as the first filter sees them, from what the client sent."""
        if not self.envoy_headers:
            return pairs
        if protocol == HTTP1:
            pairs = _http1_order(pairs)
        else:
            pairs = [p for p in pairs if p[0].startswith(b":")] + [p for p in pairs if not p[0].startswith(b":")]
        forwarded = _get(pairs, b"x-forwarded-proto")
        if _get(pairs, b":scheme") is None:
            # HTTP/1.1 has no :scheme on the wire: Envoy takes x-forwarded-proto's. An HTTP/2
            # client always sends one; the test that gave none speaks plain HTTP.
            scheme = forwarded if protocol == HTTP1 and forwarded in (b"http", b"https") else b"http"
            last_pseudo = max((i for i, (k, _) in enumerate(pairs) if k.startswith(b":")), default=-1)
            pairs.insert(last_pseudo + 1, (b":scheme", scheme))
        if forwarded is None:
            pairs.append((b"x-forwarded-proto", b"http"))
        if not _get(pairs, b"x-request-id"):
            request_id = self.next_request_id().encode()
            pairs = [p for p in pairs if p[0] != b"x-request-id"] + [(b"x-request-id", request_id)]
        return pairs

    def ends_body_apart(self, way: str) -> bool:
        """Whether a body's end of stream comes in its own empty call (HTTP/1.1 framing)."""
        return (self.upstream_protocol if way == "response" else self.protocol) == HTTP1


def upstream_view(pairs: Pairs) -> Pairs:
    """The request headers as an HTTP/1.1 upstream receives them: no `:scheme` on the wire."""
    return [p for p in pairs if p[0] != b":scheme"]


def _get(pairs: Pairs, name: bytes) -> Optional[bytes]:
    return next((v for k, v in pairs if k == name), None)


def _http1_order(pairs: Pairs) -> Pairs:
    """Envoy's HTTP/1 codec: `host` becomes `:authority`; pseudo-headers first, in its order."""
    pseudo = {k: v for k, v in pairs if k.startswith(b":")}
    host = _get(pairs, b"host")
    if b":authority" not in pseudo and host is not None:
        pseudo[b":authority"] = host
    ordered = [(k, pseudo.pop(k)) for k in _HTTP1_PSEUDO_ORDER if k in pseudo]
    ordered += list(pseudo.items())
    return ordered + [(k, v) for k, v in pairs if not k.startswith(b":") and k != b"host"]
