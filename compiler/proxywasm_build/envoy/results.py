"""What Envoy's answers look like to a test: the emulator's result types, minus what differs.

What naturally differs between Envoy and the emulator (hop-by-hop headers, `date`, HTTP/1.1's
`content-length`) is removed in one place, :func:`comparable_headers`; the helpers below
turn what the network delivered into `proxywasm.testing`'s own types.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Union

HeadersArg = Union[Mapping[str, str], Iterable[tuple[str, str]]]

#: Connection-level headers (RFC 9110 §7.6.1) plus the ones Envoy writes on its own.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer",
                        "transfer-encoding", "upgrade"})


ENVOY_ADDED = frozenset({"date", "content-length"})


def comparable_headers(pairs: Iterable[tuple[str, str]], *, sent: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Header pairs minus what differs between Envoy and the emulator for reasons not the filter's.

    Dropped: hop-by-hop headers (`connection`, `keep-alive`, `transfer-encoding`, ...), `date`
    (Envoy dates every response), `content-length` (HTTP/1.1 needs one for any body; the body
    is compared instead) and every `x-envoy-*` header. The `x-forwarded-proto` and
    `x-request-id` Envoy adds to requests stay: the upstream really gets them, and the emulator
    adds them too. A name listed in `sent` (headers the test itself gave: the request's for the
    upstream request, the upstream answer's for the response) is kept.
    Names are lower-cased, order kept. (`server` passes: the bootstrap tells Envoy to leave it.)
    """
    keep = {name.lower() for name in sent}
    out = []
    for name, value in pairs:
        lower = name.lower()
        if lower not in keep and (lower in HOP_BY_HOP or lower in ENVOY_ADDED or lower.startswith("x-envoy-")):
            continue
        out.append((lower, value))
    return out


def testing_module():
    """`proxywasm.testing`, imported lazily (the SDK does not depend on this package)."""
    import proxywasm.testing as testing

    return testing


def make_headers(pairs: list[tuple[str, str]]):
    return testing_module().Headers(pairs)


def log_record(level: str, message: str, vm_id: str = ""):
    from proxywasm.abi import LogLevel

    return testing_module().LogRecord(LogLevel[level.upper()], message, vm_id=vm_id)


def header_pairs(headers: HeadersArg) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    if hasattr(headers, "items") and not isinstance(headers, (list, tuple)):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


def as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def recorded_pairs(seen) -> list[tuple[str, str]]:
    """A recorded request's headers with pseudo-headers, as Envoy's filters saw them."""
    pairs = [(":method", seen.method), (":path", seen.path), (":authority", seen.headers.get("host", ""))]
    return pairs + [(k.lower(), v) for k, v in seen.headers.items() if k.lower() != "host"]


#: What an HTTP/1.1 request line needs when the test gave no pseudo-header for it.
REQUEST_DEFAULTS = {":method": "GET", ":path": "/", ":authority": "example.com"}


def upstream_request_of(seen, sent_names: Iterable[str]):
    """A recorded request as a `proxywasm.testing.UpstreamRequest`, normalised. A pseudo-header
    the test did not send and that still has the default the request line needed is left out,
    as the emulator never had it."""
    testing = testing_module()
    sent = {name.lower() for name in sent_names}
    pairs = [(k, v) for k, v in recorded_pairs(seen)
             if not (k in REQUEST_DEFAULTS and k not in sent and v == REQUEST_DEFAULTS[k])]
    return testing.UpstreamRequest(
        make_headers(comparable_headers(pairs, sent=sent_names)),
        bytes(seen.body),
        make_headers(seen.trailers),
    )


def normalise_answer(result: Any):
    """(status, headers, body[, trailers]) with str/bytes bodies and any header form; None stays."""
    if result is None:
        return None
    status, headers, body, *rest = result
    trailers = header_pairs(rest[0]) if rest and rest[0] else None
    return (int(status), header_pairs(headers or {}), as_bytes(body or b""), trailers or [])

