"""One HTTP stream through the filter chain: Envoy's decoder and encoder filter iteration, each
filter's view of both directions, local replies and resets; and the header-map helpers with
Envoy's semantics that it and the header-map hostcalls use."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Optional, Union

from ..abi import NO_GRPC_STATUS, MapType
from .headers import Headers
from .listener import upstream_view
from .records import CONTINUE, EmulatorError, HttpResponse, UpstreamRequest, _encode_property, _pairs_from
from .stream_views import StreamViews
from .vm import _ContextInfo

if TYPE_CHECKING:
    from .emulator import Emulator
    from .foreign_functions import FilterStateObject
    from .headers import HeadersLike
    from .records import CallbackAction, Pairs
    from .vm import Plugin


# ---------------------------------------------------------------------------
# Header maps with Envoy's semantics (lower-cased keys, replace keeps the first slot)

def _map_get(pairs: Pairs, key: bytes) -> Optional[bytes]:
    for k, v in pairs:
        if k == key:
            return v
    return None


def _map_replace(pairs: Pairs, key: bytes, value: bytes) -> None:
    for i, (k, _) in enumerate(pairs):
        if k == key:
            pairs[i] = (key, value)
            pairs[i + 1:] = [p for p in pairs[i + 1:] if p[0] != key]
            return
    pairs.append((key, value))


def _map_remove(pairs: Pairs, key: bytes) -> None:
    pairs[:] = [p for p in pairs if p[0] != key]


def _is_grpc_request(headers: Optional[Pairs]) -> bool:
    """Envoy's Grpc::Common::isGrpcRequestHeaders, as Envoy 1.40 answers (measured): the
    content-type is exactly `application/grpc` or `application/grpc+<subtype>` (no parameters,
    case-sensitive), whatever the method."""
    content_type = _map_get(headers or [], b"content-type")
    return content_type is not None and (content_type == b"application/grpc"
                                         or content_type.startswith(b"application/grpc+"))


#: A body the filter no longer holds: Envoy reads it as empty and refuses writes.
_NO_BODY = bytearray()


def _held_body(d: "_Direction") -> bytearray:
    return d.buffer if d.body_held or d.buffering else _NO_BODY


def _logged_map(stream: "HttpStream", map_type: int) -> Optional[Pairs]:
    """What on_log reads: the stream's request headers, response headers and response
    trailers as they ended; never the request trailers (Envoy 1.40)."""
    if map_type == MapType.HTTP_REQUEST_HEADERS:
        return stream.request_headers
    if map_type == MapType.HTTP_RESPONSE_HEADERS:
        return stream.response_headers
    if map_type == MapType.HTTP_RESPONSE_TRAILERS:
        return stream.response_trailers
    return None


class _Direction:
    """One filter's view of one direction (request or response) of a stream.

    `*_held` say which of this direction's headers, body and trailers the filter can still
    reach, as Envoy's wasm Context keeps them: from their callback until the callback returns
    CONTINUE (or, for the request's, until the filter calls continue_stream). `buffering`:
    the last body callback returned PAUSE, so the body buffered at this filter stays reachable.
    """

    __slots__ = ("headers_arrived", "headers_eos", "headers_passed", "buffer", "eos", "eos_passed",
                 "trailers_arrived", "trailers_passed", "stopped", "stopped_all",
                 "headers_held", "body_held", "trailers_held", "buffering")

    def __init__(self) -> None:
        self.headers_arrived = self.headers_eos = self.headers_passed = False
        self.buffer = bytearray()
        self.eos = self.eos_passed = False
        self.trailers_arrived = self.trailers_passed = False
        self.stopped = self.stopped_all = False
        self.headers_held = self.body_held = self.trailers_held = self.buffering = False

    def let_go(self) -> None:
        self.headers_held = self.body_held = self.trailers_held = False


class _FilterState:
    __slots__ = ("context_id", "plugin", "req", "resp", "last_end_of_stream")

    def __init__(self, context_id: int, plugin: "Plugin") -> None:
        self.context_id = context_id
        self.plugin = plugin
        self.req = _Direction()
        self.resp = _Direction()
        # Envoy's Context keeps one end_of_stream for both directions: the last headers or
        # body callback's. A body callback with it set may create the trailers by writing them.
        self.last_end_of_stream = False


class _Way(NamedTuple):
    """One direction of an HTTP stream: where it goes and which callbacks it calls."""

    name: str
    step: int
    on_headers: str
    on_body: str
    on_trailers: str

    def end(self, n: int) -> int:
        return n if self.step > 0 else -1

    def state(self, f: "_FilterState") -> "_Direction":
        return f.req if self.step > 0 else f.resp

    def headers(self, stream: "HttpStream") -> Optional[Pairs]:
        return stream.request_headers if self.step > 0 else stream.response_headers

    def trailers(self, stream: "HttpStream") -> Optional[Pairs]:
        return stream.request_trailers if self.step > 0 else stream.response_trailers


_REQUEST = _Way("request", +1, "proxy_on_request_headers", "proxy_on_request_body",
                "proxy_on_request_trailers")
_RESPONSE = _Way("response", -1, "proxy_on_response_headers", "proxy_on_response_body",
                 "proxy_on_response_trailers")


class HttpStream(StreamViews):
    """One HTTP stream through the filter chain, driven step by step.

    Send the downstream request with `send_request_headers/body/trailers`, then the upstream's
    answer with `send_response_headers/body/trailers`. Inspect `upstream_request`, `response`,
    `request_paused_at`/`response_paused_at`. `complete()` ends the stream (on_log, on_done,
    on_delete). `Host.http_request` does all of this for a whole request.
    """

    def __init__(self, emulator: "Emulator", plugins: Optional[list["Plugin"]] = None) -> None:
        self._em = emulator
        self.filters: list[_FilterState] = []
        self.actions: list[CallbackAction] = []
        self.request_headers: Optional[Pairs] = None
        self.request_trailers: Optional[Pairs] = None
        self.response_headers: Optional[Pairs] = None
        self.response_trailers: Optional[Pairs] = None
        self.properties: dict[str, bytes] = {}  # what the test set for this stream
        self.filter_state: dict[bytes, FilterStateObject] = {}  # Envoy's, per stream
        self.upstream_headers: Optional[Pairs] = None
        self.upstream_body = bytearray()
        self.upstream_trailers: Optional[Pairs] = None
        self.upstream_complete = False
        self.downstream_headers: Optional[Pairs] = None
        self.downstream_body = bytearray()
        self.downstream_trailers: Optional[Pairs] = None
        self.downstream_complete = False
        self.request_aborted = False
        self.local_reply = False
        self.local_reply_details = b""
        self.reset = False
        self.finished = False
        self.logging = False  # on_log is running: Envoy hands it the stream's final headers
        self.connection_id = emulator._next_connection_id()
        self.protocol = emulator.listener.protocol
        # False: each body step is exactly one callback call (a driven context's), no HTTP/1.1
        # end-of-stream call of its own
        self.framing = True
        for plugin in (emulator.plugins if plugins is None else plugins):
            ctx_id = emulator._new_context_id(plugin.vm)
            emulator.contexts[ctx_id] = _ContextInfo("http", plugin, self, len(self.filters))
            self.filters.append(_FilterState(ctx_id, plugin))
            emulator._call("proxy_on_context_create", ctx_id, plugin.context_id)

    # --- public step API -----------------------------------------------------------------
    def set_property(self, path: Union[str, list[str]], value: Union[bytes, str, int, bool]) -> None:
        """Give this stream a property (as `Host.set_property`, for this stream only)."""
        self.properties[path if isinstance(path, str) else ".".join(path)] = _encode_property(value)

    def send_request_headers(self, headers: HeadersLike, end_of_stream: bool = False) -> None:
        if self.request_headers is not None:
            raise EmulatorError("request headers were already sent on this stream")
        self.request_headers = self._em.listener.request_headers(_pairs_from(headers), self.protocol)
        self._req_arrive(0, "headers", eos=end_of_stream)
        self._em._after_operation()

    def send_request_body(self, data: bytes, end_of_stream: bool = False) -> None:
        self._need(self.request_headers is not None, "send request headers before the body")
        if not self.request_aborted:
            self._body_arrives(_REQUEST, bytes(data), end_of_stream)
        self._em._after_operation()

    def send_request_trailers(self, trailers: HeadersLike) -> None:
        self._need(self.request_headers is not None, "send request headers before trailers")
        self.request_trailers = _pairs_from(trailers)
        if not self.request_aborted:
            self._req_arrive(0, "trailers", eos=True)
        self._em._after_operation()

    def send_response_headers(self, headers: HeadersLike, end_of_stream: bool = False) -> None:
        if self.request_aborted or self.finished:
            return
        pairs = _pairs_from(headers)
        if not any(k == b":status" for k, _ in pairs):
            raise EmulatorError("upstream response headers need a ':status'")
        self.response_headers = pairs
        self._resp_arrive(len(self.filters) - 1, "headers", eos=end_of_stream)
        self._em._after_operation()

    def send_response_body(self, data: bytes, end_of_stream: bool = False) -> None:
        if self.request_aborted or self.finished:
            return
        self._body_arrives(_RESPONSE, bytes(data), end_of_stream)
        self._em._after_operation()

    def send_response_trailers(self, trailers: HeadersLike) -> None:
        if self.request_aborted or self.finished:
            return
        self.response_trailers = _pairs_from(trailers)
        self._resp_arrive(len(self.filters) - 1, "trailers", eos=True)
        self._em._after_operation()

    def complete(self) -> None:
        """End the stream as Envoy does: on_log, then on_done and on_delete for each filter."""
        if self.finished:
            return
        self.finished = True
        em = self._em
        self.logging = True
        try:
            for f in self.filters:
                em._call("proxy_on_log", f.context_id)
        finally:
            self.logging = False
        for f in self.filters:
            em._call("proxy_on_done", f.context_id)
        for f in self.filters:
            em._call("proxy_on_delete", f.context_id)
            em.contexts.pop(f.context_id, None)
        em._after_operation()

    @property
    def request_paused_at(self) -> Optional[int]:
        """Index of the filter holding the request, or None."""
        for i, f in enumerate(self.filters):
            if f.req.stopped:
                return i
        return None

    @property
    def response_paused_at(self) -> Optional[int]:
        for i, f in enumerate(self.filters):
            if f.resp.stopped:
                return i
        return None

    @property
    def upstream_request(self) -> Optional[UpstreamRequest]:
        if self.upstream_headers is None:
            return None
        return UpstreamRequest(Headers.from_bytes_pairs(upstream_view(self.upstream_headers)),
                               bytes(self.upstream_body),
                               Headers.from_bytes_pairs(self.upstream_trailers or []))

    @property
    def response(self) -> HttpResponse:
        """What the client has received so far."""
        headers = self.downstream_headers or []
        status = _map_get(headers, b":status")
        return HttpResponse(
            status=int(status) if status else None,
            headers=Headers.from_bytes_pairs([p for p in headers if p[0] != b":status"]),
            body=bytes(self.downstream_body),
            trailers=Headers.from_bytes_pairs(self.downstream_trailers or []),
            upstream_request=self.upstream_request,
            local_reply=self.local_reply,
            reset=self.reset,
        )

    # --- the request path (decoder filters, in order) ------------------------------------
    def _need(self, cond: bool, message: str) -> None:
        if not cond:
            raise EmulatorError(message)

    # Both directions share one model of Envoy's filter iteration. PAUSE from a headers
    # callback is StopAllIteration (Envoy 1.40's wasm filter, measured): body data and trailers
    # wait at that filter WITHOUT callbacks until it resumes, and then go through this filter's
    # own body/trailers callbacks first. PAUSE from a body callback is StopIterationAndBuffer:
    # data keeps arriving, each call sees everything buffered so far.
    def _req_arrive(self, j: int, kind: str, data: bytes = b"", eos: bool = False) -> None:
        self._arrive(_REQUEST, j, kind, data, eos)

    def _resp_arrive(self, k: int, kind: str, data: bytes = b"", eos: bool = False) -> None:
        self._arrive(_RESPONSE, k, kind, data, eos)

    def _req_flush(self, j: int) -> None:
        self._resume(_REQUEST, j)

    def _resp_flush(self, k: int) -> None:
        self._resume(_RESPONSE, k)

    def _body_arrives(self, way: "_Way", data: bytes, eos: bool) -> None:
        """Body data from the client or the upstream. On HTTP/1.1 the end of stream comes in
        its own empty call after the data, as Envoy's HTTP/1 codec delivers it."""
        first = 0 if way is _REQUEST else len(self.filters) - 1
        if eos and data and self.framing and self._em.listener.ends_body_apart(way.name):
            self._arrive(way, first, "data", data, False)
            data = b""
            if self._closed_for(way):
                return
        self._arrive(way, first, "data", data, eos)

    def _closed_for(self, way: "_Way") -> bool:
        return self.finished or (way is _REQUEST and self.request_aborted)

    def _arrive(self, way: "_Way", i: int, kind: str, data: bytes = b"", eos: bool = False) -> None:
        request = way is _REQUEST
        if self.finished or (request and self.request_aborted):
            return
        if request and i == len(self.filters):
            self._upstream_receive(kind, data, eos)
            return
        if not request and i < 0:
            self._downstream_receive(kind, data, eos)
            return
        f = self.filters[i]
        d = f.req if request else f.resp
        if kind == "headers":
            d.headers_arrived = True
            d.headers_eos = d.eos = eos
            action = self._filter_callback(way, f, "headers", eos)
            held_all = True
        elif d.stopped_all:
            if kind == "data":
                d.buffer += data
                d.eos = eos
            else:
                d.trailers_arrived = d.eos = True
            return
        elif kind == "data":
            d.buffer += data
            d.eos = eos
            action = self._filter_callback(way, f, "data", eos)
            held_all = False
        else:
            d.trailers_arrived = d.eos = True
            action = self._filter_callback(way, f, "trailers")
            held_all = False
        if not self._closed_for(way) and not (way is _RESPONSE and self.downstream_complete):
            if action == CONTINUE:
                self._pass_on(way, i)
            else:
                d.stopped = True
                d.stopped_all = held_all
        self._em._run_deferred()

    def _filter_callback(self, way: "_Way", f: _FilterState, kind: str, eos: bool = False) -> int:
        """Call filter f's headers, body or trailers callback of `way`; what it hands the filter
        stays reachable after the callback only when the callback did not return CONTINUE."""
        d = way.state(f)
        em = self._em
        if kind == "headers":
            d.headers_held = True
            f.last_end_of_stream = eos
            action = em._call(way.on_headers, f.context_id, len(way.headers(self) or ()), int(eos))
            d.headers_held = d.headers_held and action != CONTINUE
        elif kind == "data":
            d.body_held = True
            f.last_end_of_stream = eos
            action = em._call(way.on_body, f.context_id, len(d.buffer), int(eos))
            d.buffering = action != CONTINUE
            d.body_held = d.body_held and action != CONTINUE
        else:
            d.trailers_held = True
            action = em._call(way.on_trailers, f.context_id, len(way.trailers(self) or ()))
            d.trailers_held = d.trailers_held and action != CONTINUE
        return action

    def _resume(self, way: "_Way", i: int) -> None:
        """`continue_stream` from filter i: what it held goes on (after its own callbacks, when
        the headers callback had stopped everything)."""
        f = self.filters[i]
        d = way.state(f)
        if not d.stopped or self._closed_for(way):
            return
        d.stopped = False
        if d.stopped_all:
            d.stopped_all = False
            self._pass_headers(way, i)
            if d.buffer or (d.eos and not d.eos_passed and not d.trailers_arrived and not d.headers_eos):
                end = d.eos and not d.trailers_arrived
                action = self._filter_callback(way, f, "data", end)
                if self._closed_for(way):
                    return
                if action != CONTINUE:
                    d.stopped = True
                    return
            if d.trailers_arrived and not d.trailers_passed:
                action = self._filter_callback(way, f, "trailers")
                if self._closed_for(way):
                    return
                if action != CONTINUE:
                    d.stopped = True
                    return
        self._pass_on(way, i)

    def _pass_headers(self, way: "_Way", i: int) -> None:
        d = way.state(self.filters[i])
        if d.headers_arrived and not d.headers_passed:
            d.headers_passed = True
            if d.headers_eos:
                d.eos_passed = True
            self._arrive(way, i + way.step, "headers", eos=d.headers_eos)

    def _pass_on(self, way: "_Way", i: int) -> None:
        """Filter i continues: headers, buffered body and trailers go to the next filter."""
        d = way.state(self.filters[i])
        d.stopped = False
        self._pass_headers(way, i)
        if d.buffer or (d.eos and not d.eos_passed and not d.trailers_arrived):
            data = bytes(d.buffer)
            d.buffer.clear()
            end = d.eos and not d.trailers_arrived
            if end:
                d.eos_passed = True
            self._arrive(way, i + way.step, "data", data, end)
        if d.trailers_arrived and not d.trailers_passed:
            d.trailers_passed = d.eos_passed = True
            self._arrive(way, i + way.step, "trailers", eos=True)

    def _upstream_receive(self, kind: str, data: bytes, eos: bool) -> None:
        if kind == "headers":
            self.upstream_headers = list(self.request_headers or [])
        elif kind == "data":
            self.upstream_body += data
        else:
            self.upstream_trailers = list(self.request_trailers or [])
        if eos:
            self.upstream_complete = True

    def _downstream_receive(self, kind: str, data: bytes, eos: bool) -> None:
        if self.downstream_complete:
            return
        if kind == "headers":
            self.downstream_headers = list(self.response_headers or [])
        elif kind == "data":
            self.downstream_body += data
        else:
            self.downstream_trailers = list(self.response_trailers or [])
        if eos:
            self.downstream_complete = True
            self.complete()

    # --- local replies and resets ---------------------------------------------------------
    def _send_local_reply(self, index: int, status_code: int, details: bytes, body: bytes,
                          headers: Pairs, grpc_status: int) -> None:
        if self.finished or self.downstream_complete:
            return
        if self.downstream_headers is not None:
            # Envoy cannot replace a response already on its way: it resets the stream.
            self._reset()
            return
        # A reply sent while a response (the upstream's or an earlier local reply) is being
        # encoded replaces it without running the encoder filters again, as Envoy does.
        in_response_path = self.response_headers is not None
        self.request_aborted = True
        self.local_reply = True
        self.local_reply_details = details
        for f in self.filters:
            f.req.stopped = False
        pairs: Pairs = [(b":status", str(status_code).encode())]
        pairs += [(k.lower(), v) for k, v in headers]
        if grpc_status != NO_GRPC_STATUS and grpc_status >= 0 and _is_grpc_request(self.request_headers):
            pairs = [(b":status", b"200"), (b"content-type", b"application/grpc")]
            pairs += [(k.lower(), v) for k, v in headers]
            pairs.append((b"grpc-status", str(grpc_status).encode()))
            if body:
                pairs.append((b"grpc-message", body))
            pairs.append((b"content-length", b"0"))
            body = b""
        elif body and _map_get(pairs, b"content-type") is None:
            pairs.append((b"content-type", b"text/plain"))
        if body:
            pairs.append((b"content-length", str(len(body)).encode()))
        self.response_headers = pairs
        self.response_trailers = None
        if in_response_path:
            # A reply sent while encoding replaces the response without running the encoder
            # filters again (Envoy guards against local-reply loops the same way).
            self.downstream_headers = list(pairs)
            self.downstream_body = bytearray(body)
            self.downstream_complete = True
            self.complete()
            return
        for f in self.filters:
            f.resp = _Direction()
        last = len(self.filters) - 1
        self._resp_arrive(last, "headers", eos=not body)
        if body and not self.finished:
            self._resp_arrive(last, "data", body, True)

    def _reset(self) -> None:
        if self.finished:
            return
        self.reset = True
        self.request_aborted = True
        for f in self.filters:
            f.req.stopped = False
            f.resp.stopped = False
        self.complete()
