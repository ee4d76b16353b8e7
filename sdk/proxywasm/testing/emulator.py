"""The emulated Envoy: Envoy's Proxy-Wasm semantics, owned once.

`Emulator` implements the raw-hostcall interface (docs/architecture.md) on top of a model of
Envoy's HTTP filter chain, TCP filter, timers, callouts, queues, shared data, metrics,
properties and logs. A loaded filter is reached through a *module adapter*: `PythonModule`
(a `.py` filter imported in-process) or `WasmModule` (any compiled module in wasmtime,
see `wasm.py`); both expose `call(callback_name, *ints)`.

Envoy behaviours reproduced here are listed in docs/emulator.md with what is not emulated.
"""

from __future__ import annotations

import struct
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Optional, Union

from ..abi import (
    NO_GRPC_STATUS,
    Action,
    BufferType,
    LogLevel,
    MapType,
    MetricType,
    PeerType,
    Status,
    StreamType,
    deserialize_map,
    serialize_map,
)
from .foreign_functions import NOT_EMULATED, EnvoyForeignFunctions, FilterStateObject
from .headers import Headers, HeadersLike
from .listener import Listener, upstream_view
from .stream_views import StreamViews

OK = int(Status.OK)
SERIALIZATION_FAILURE = int(Status.SERIALIZATION_FAILURE)
NOT_FOUND = int(Status.NOT_FOUND)
BAD_ARGUMENT = int(Status.BAD_ARGUMENT)
EMPTY = int(Status.EMPTY)
CAS_MISMATCH = int(Status.CAS_MISMATCH)
CONTINUE = int(Action.CONTINUE)

Pairs = list[tuple[bytes, bytes]]


class EmulatorError(Exception):
    """The emulated host cannot do what the test asked; the message says why."""


class FilterLoadError(EmulatorError):
    """A filter or module could not be loaded (missing file, syntax error, no root context...)."""


class PluginStartError(EmulatorError):
    """`on_vm_start` or `on_configure` returned false: Envoy would reject the plugin."""


class StrictModeError(EmulatorError):
    """Strict mode: the filter made a hostcall Envoy would refuse, or read an unknown property."""


class LogRecord(NamedTuple):
    level: LogLevel
    message: str
    context_id: int = 0
    vm_id: str = ""


class CallbackAction(NamedTuple):
    """What one stream callback returned: `("on_http_request_headers", Action.PAUSE, 0)`.

    `filter` is the index of the plugin in the chain (0 for the first or only one)."""

    callback: str
    action: Union[Action, int]
    filter: int = 0


#: The stream callbacks that return an Action, by their Proxy-Wasm export name.
_ACTION_CALLBACKS = {
    "proxy_on_request_headers": "on_http_request_headers",
    "proxy_on_request_body": "on_http_request_body",
    "proxy_on_request_trailers": "on_http_request_trailers",
    "proxy_on_response_headers": "on_http_response_headers",
    "proxy_on_response_body": "on_http_response_body",
    "proxy_on_response_trailers": "on_http_response_trailers",
    "proxy_on_new_connection": "on_new_connection",
    "proxy_on_downstream_data": "on_downstream_data",
    "proxy_on_upstream_data": "on_upstream_data",
}


@dataclass
class UpstreamRequest:
    """What reached the upstream, after every filter ran."""

    headers: Headers
    body: bytes = b""
    trailers: Headers = field(default_factory=Headers)


@dataclass
class HttpResponse:
    """What the downstream client saw."""

    status: Optional[int]
    headers: Headers
    body: bytes
    trailers: Headers
    upstream_request: Optional[UpstreamRequest]
    local_reply: bool = False
    reset: bool = False


@dataclass
class HttpCall:
    """A pending `dispatch_http_call`."""

    token: int
    context_id: int
    upstream: str
    headers: Headers
    body: bytes
    trailers: Headers
    timeout_ms: int


@dataclass
class GrpcCall:
    """A pending gRPC unary call or stream."""

    token: int
    context_id: int
    upstream: str
    service: str
    method: str
    initial_metadata: Headers
    message: bytes
    timeout_ms: int
    is_stream: bool = False
    sent: list[bytes] = field(default_factory=list)
    local_closed: bool = False


HttpResponder = Union[Callable[[HttpCall], Any], tuple, None]
GrpcResponder = Union[Callable[[GrpcCall], Any], tuple, bytes, None]


def _encode_property(value: Any) -> bytes:
    if isinstance(value, bool):
        return b"\x01" if value else b"\x00"
    if isinstance(value, int):
        return struct.pack("<q", value)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise EmulatorError(f"property values must be str, bytes, int or bool, not {type(value).__name__}")


def _pairs_from(headers: HeadersLike) -> Pairs:
    if headers is None:
        return []
    if isinstance(headers, Headers):
        items = headers.items()
    elif isinstance(headers, dict):
        items = headers.items()
    else:
        items = headers
    return [(_bytes(k).lower(), _bytes(v)) for k, v in items]


def _bytes(value: Any) -> bytes:
    kind = type(value)
    if kind is bytes:
        return value
    if kind is str:
        return value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode()


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


# ---------------------------------------------------------------------------
# Plugins, contexts, streams


# Each VM numbers its contexts (and callout tokens) from 1, as Envoy does. The emulator tells
# them apart by putting the VM's index above the 32 bits the module sees: the first VM's ids
# are the module's own, and `id & _LOCAL` is what a module is given.
_VM_SHIFT = 32
_LOCAL = (1 << _VM_SHIFT) - 1
# Callbacks whose first argument after the context id is a context id or a callout token.
_ID_ARGUMENT = frozenset({
    "proxy_on_context_create", "proxy_on_http_call_response", "proxy_on_grpc_receive",
    "proxy_on_grpc_receive_initial_metadata", "proxy_on_grpc_receive_trailing_metadata",
    "proxy_on_grpc_close",
})


class VM:
    """One Wasm VM: its own module instance (globals), context ids and configuration.

    Envoy shares a VM between plugins whose `vm_id`, VM configuration and code all match;
    `code` is what identifies the module (its path or digest)."""

    def __init__(self, index: int, vm_id: str, vm_config: bytes, code: Any = None) -> None:
        self.index = index
        self.vm_id = vm_id
        self.vm_config = vm_config
        self.code = code
        self.module: Any = None
        self._ids = 0

    def new_id(self) -> int:
        self._ids += 1
        return (self.index << _VM_SHIFT) + self._ids

    def matches(self, vm_id: str, vm_config: bytes, code: Any) -> bool:
        return (self.vm_id, self.vm_config, self.code) == (vm_id, vm_config, code)

    def __repr__(self) -> str:
        return f"VM(vm_id={self.vm_id!r}, index={self.index})"


@dataclass
class Plugin:
    """One plugin (root context) loaded in a VM: a filter in the chain."""

    root_id: str
    plugin_config: bytes
    context_id: int
    name: str = "proxywasm"
    tick_period_ms: int = 0
    next_tick_ns: int = 0
    vm: Optional[VM] = field(default=None, repr=False)

    @property
    def vm_id(self) -> str:
        return self.vm.vm_id if self.vm is not None else ""


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


class _ContextInfo(NamedTuple):
    kind: str  # "root" | "http" | "tcp"
    plugin: Plugin
    stream: Any  # HttpStream | TcpConnection | None
    index: int


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


class TcpConnection:
    """One TCP connection through network-filter plugins, driven step by step.

    `send_downstream(data)` is what the client writes (towards the upstream);
    `send_upstream(data)` what the upstream writes back. `to_upstream` / `to_downstream`
    hold the bytes the filters let through.
    """

    def __init__(self, emulator: "Emulator", plugins: Optional[list["Plugin"]] = None) -> None:
        self._em = emulator
        self.filters: list[_FilterState] = []
        self.actions: list[CallbackAction] = []
        self.to_upstream = bytearray()
        self.to_downstream = bytearray()
        self.closed = False
        self.closed_by: Optional[str] = None
        self.properties: dict[str, bytes] = {}  # what the test set for this stream
        self.filter_state: dict[bytes, FilterStateObject] = {}  # Envoy's, per stream
        self.connection_id = emulator._next_connection_id()
        self._down_buffers: list[bytearray] = []
        self._up_buffers: list[bytearray] = []
        self._down_paused: list[bool] = []
        self._up_paused: list[bool] = []
        for plugin in (emulator.plugins if plugins is None else plugins):
            ctx_id = emulator._new_context_id(plugin.vm)
            emulator.contexts[ctx_id] = _ContextInfo("tcp", plugin, self, len(self.filters))
            self.filters.append(_FilterState(ctx_id, plugin))
            self._down_buffers.append(bytearray())
            self._up_buffers.append(bytearray())
            self._down_paused.append(False)
            self._up_paused.append(False)
            emulator._call("proxy_on_context_create", ctx_id, plugin.context_id)
        for i, f in enumerate(self.filters):
            action = emulator._call("proxy_on_new_connection", f.context_id)
            emulator._run_deferred()
            if self.closed:
                break
            if action != CONTINUE:
                self._down_paused[i] = True
        emulator._after_operation()

    def set_property(self, path: Union[str, list[str]], value: Union[bytes, str, int, bool]) -> None:
        """Give this connection a property (as `Host.set_property`, for this connection only)."""
        self.properties[path if isinstance(path, str) else ".".join(path)] = _encode_property(value)

    def send_downstream(self, data: bytes, end_of_stream: bool = False) -> None:
        self._arrive("down", 0, bytes(data), end_of_stream)
        self._em._after_operation()

    def send_upstream(self, data: bytes, end_of_stream: bool = False) -> None:
        self._arrive("up", len(self.filters) - 1, bytes(data), end_of_stream)
        self._em._after_operation()

    def _arrive(self, direction: str, i: int, data: bytes, eos: bool) -> None:
        if self.closed:
            return
        n = len(self.filters)
        if direction == "down" and i == n:
            self.to_upstream += data
            return
        if direction == "up" and i < 0:
            self.to_downstream += data
            return
        buffers = self._down_buffers if direction == "down" else self._up_buffers
        paused = self._down_paused if direction == "down" else self._up_paused
        buffers[i] += data
        f = self.filters[i]
        name = "proxy_on_downstream_data" if direction == "down" else "proxy_on_upstream_data"
        action = self._em._call(name, f.context_id, len(buffers[i]), int(eos))
        if self.closed:
            self._em._run_deferred()
            return
        if action == CONTINUE:
            paused[i] = False
            self._pass(direction, i, eos)
        else:
            paused[i] = True
        self._em._run_deferred()

    def _pass(self, direction: str, i: int, eos: bool = False) -> None:
        buffers = self._down_buffers if direction == "down" else self._up_buffers
        data = bytes(buffers[i])
        buffers[i].clear()
        nxt = i + 1 if direction == "down" else i - 1
        n = len(self.filters)
        if direction == "down" and nxt == n:
            self.to_upstream += data
        elif direction == "up" and nxt < 0:
            self.to_downstream += data
        elif data or eos:
            self._arrive(direction, nxt, data, eos)

    def _resume(self, direction: str, i: int) -> None:
        paused = self._down_paused if direction == "down" else self._up_paused
        if paused[i]:
            paused[i] = False
            self._pass(direction, i)

    def close(self, peer: PeerType = PeerType.LOCAL, side: str = "downstream") -> None:
        """`side` ("downstream" or "upstream") closes its half: as in Envoy 1.40 (measured),
        the filters first get that direction's data callback with 0 bytes and end_of_stream,
        then both close callbacks. Envoy's TCP proxy then closes the connection itself, so
        the reported peer is LOCAL unless the test says otherwise."""
        if self.closed:
            return
        if side == "downstream":
            self._arrive("down", 0, b"", True)
        else:
            self._arrive("up", len(self.filters) - 1, b"", True)
        if not self.closed:
            self._finish(side, peer)
        self._em._after_operation()

    def _finish(self, side: str, peer: PeerType) -> None:
        self.closed = True
        self.closed_by = side
        em = self._em
        for f in self.filters:
            em._call("proxy_on_downstream_connection_close", f.context_id, int(peer))
            em._call("proxy_on_upstream_connection_close", f.context_id, int(peer))
        for f in self.filters:
            em._call("proxy_on_log", f.context_id)
        for f in self.filters:
            em._call("proxy_on_done", f.context_id)
            em._call("proxy_on_delete", f.context_id)
            em.contexts.pop(f.context_id, None)


# ---------------------------------------------------------------------------
# The emulator: host state + the raw-hostcall interface


class Emulator:
    """Envoy's side of the Proxy-Wasm ABI for its VMs and the plugins loaded in them.

    Shared data and queues belong to the Envoy, not to a VM: shared data is keyed by
    `(vm_id, key)` and queues by `(vm_id, name)`, so VMs with one `vm_id` share them."""

    def __init__(self, *, vm_config: bytes = b"", vm_id: str = "", properties: Optional[dict] = None,
                 strict: bool = False, log_level: LogLevel = LogLevel.TRACE) -> None:
        self.vms: list[VM] = [VM(0, vm_id, vm_config)]
        self.user_properties = {k: _encode_property(v) for k, v in (properties or {}).items()}
        self.strict = strict
        self.log_level = LogLevel(log_level)
        self.plugins: list[Plugin] = []
        self.contexts: dict[int, _ContextInfo] = {}
        self.logs: list[LogRecord] = []
        self.current = 0
        self.initializing = False
        self.now_ns = time.time_ns()
        # one clock: the monotonic one moves with now_ns (advance), as both are real in Envoy;
        # it also moves with the real time the module spends inside callbacks, as Envoy's does
        # (a filter timing itself, or the runtime's callback budget, sees time pass)
        self._monotonic_offset = time.monotonic_ns() - self.now_ns
        self._callback_real_ns = 0
        self._callback_started: Optional[int] = None
        self._connection_ids = 0
        self._deferred: deque[Callable[[], None]] = deque()
        self._events: deque[Callable[[], None]] = deque()
        self.violations: list[str] = []
        # configuration buffers are visible only during their callbacks, as in Envoy
        self._vm_config_visible = False
        self._plugin_config_visible: Optional[bytes] = None
        self._call_response: Optional[tuple[Pairs, bytes, Pairs]] = None
        self._grpc_message: Optional[bytes] = None
        self._grpc_metadata: dict[int, Pairs] = {}
        self._grpc_status: tuple[int, bytes] = (0, b"")
        self._foreign_args: Optional[bytes] = None
        # shared state: Envoy-wide, keyed by vm_id as Envoy keys it
        self.shared_data: dict[tuple[str, bytes], tuple[bytes, int]] = {}
        self._last_cas = 0  # one counter for every key of every vm_id (measured)
        self.queues: dict[int, deque[bytes]] = {}
        self.queue_names: dict[tuple[str, bytes], int] = {}
        self.queue_owner: dict[int, int] = {}
        self.metrics: dict[int, list] = {}  # id -> [type, name, value]
        self.metric_ids: dict[tuple[int, bytes], int] = {}
        self.clusters: set[str] = set()
        self.http_calls: dict[int, HttpCall] = {}
        self.http_responders: dict[str, HttpResponder] = {}
        self.grpc_calls: dict[int, GrpcCall] = {}
        self.grpc_responders: dict[tuple[str, str, str], GrpcResponder] = {}
        self.foreign_functions: dict[bytes, Callable[[bytes], Optional[bytes]]] = {}
        self.envoy_functions = EnvoyForeignFunctions(self)
        self.call_count = 0
        self.listener = Listener()

    # --- VMs --------------------------------------------------------------------------------
    @property
    def vm(self) -> VM:
        """The VM of the context being called (the first VM outside any call)."""
        return self.vms[self.current >> _VM_SHIFT]

    @property
    def vm_id(self) -> str:
        return self.vm.vm_id

    @property
    def vm_config(self) -> bytes:
        return self.vm.vm_config

    @property
    def module(self) -> Any:
        """The first VM's module."""
        return self.vms[0].module

    @module.setter
    def module(self, module: Any) -> None:
        self.vms[0].module = module

    def vm_for(self, vm_id: str, vm_config: bytes, code: Any) -> tuple[VM, bool]:
        """The VM Envoy would run a plugin in: an existing one when `vm_id`, VM configuration
        and code all match, else a new one (returned with True)."""
        for vm in self.vms:
            if vm.matches(vm_id, vm_config, code):
                return vm, False
        vm = VM(len(self.vms), vm_id, vm_config, code)
        self.vms.append(vm)
        return vm, True

    def starting(self, vm: VM) -> "_Starting":
        """Run a module's start-up code as `vm`'s (its logs are attributed to it)."""
        return _Starting(self, vm)

    def _from_module(self, local_id: int) -> int:
        """A context id or token the current module passed in, as the emulator knows it."""
        return (self.vm.index << _VM_SHIFT) + local_id

    # --- ids and dispatch -----------------------------------------------------------------
    def _new_context_id(self, vm: Optional[VM] = None) -> int:
        return (vm or self.vm).new_id()

    def _next_connection_id(self) -> int:
        self._connection_ids += 1
        return self._connection_ids

    def _call(self, name: str, context_id: int, *args: int) -> int:
        previous = self.current
        self.current = context_id
        self.call_count += 1
        if args and name in _ID_ARGUMENT:
            args = (args[0] & _LOCAL, *args[1:])
        outermost = self._callback_started is None
        if outermost:
            self._callback_started = time.monotonic_ns()
        try:
            result = self.vm.module.call(name, context_id & _LOCAL, *args)
        finally:
            self.current = previous
            if outermost:
                self._callback_real_ns += time.monotonic_ns() - self._callback_started
                self._callback_started = None
        value = CONTINUE if result is None else int(result)
        if name in _ACTION_CALLBACKS:
            self._record_action(name, context_id, value)
        return value

    def _record_action(self, name: str, context_id: int, value: int) -> None:
        """Keep what a stream callback returned on its stream, for the test to read."""
        info = self.contexts.get(context_id)
        if info is not None and info.stream is not None:
            action = Action(value) if value in (0, 1) else value
            info.stream.actions.append(CallbackAction(_ACTION_CALLBACKS[name], action, info.index))

    def _defer(self, action: Callable[[], None]) -> None:
        """Envoy runs stream changes asked for inside a callback after the VM call returns."""
        self._deferred.append(action)

    def _run_deferred(self) -> None:
        while self._deferred:
            self._deferred.popleft()()

    def _after_operation(self) -> None:
        self._run_deferred()
        while self._events:
            self._events.popleft()()
            self._run_deferred()
        if self.violations:
            message = self.violations[0]
            self.violations.clear()
            raise StrictModeError(message)

    def _violation(self, message: str, status: int = BAD_ARGUMENT) -> int:
        if self.strict:
            self.violations.append(message)
        return status

    def _info(self) -> Optional[_ContextInfo]:
        return self.contexts.get(self.current)

    def _refuse_during_start(self, call: str) -> Optional[int]:
        if self.initializing:
            raise FilterLoadError(
                f"module start-up code called proxy_{call}; Envoy refuses hostcalls other than "
                f"logging while a module initialises: move it into on_vm_start or on_configure")
        return None

    # --- plugin lifecycle -----------------------------------------------------------------
    def start_plugin(self, *, root_id: str = "", plugin_config: bytes = b"", name: str = "",
                     vm: Optional[VM] = None) -> Plugin:
        vm = vm or self.vms[0]
        ctx_id = self._new_context_id(vm)
        plugin = Plugin(root_id=root_id, plugin_config=plugin_config, context_id=ctx_id,
                        name=name or root_id or "proxywasm", vm=vm)
        self.contexts[ctx_id] = _ContextInfo("root", plugin, None, -1)
        self._call("proxy_on_context_create", ctx_id, 0)
        self._vm_config_visible = True
        try:
            ok = self._call("proxy_on_vm_start", ctx_id, len(vm.vm_config))
        finally:
            self._vm_config_visible = False
        if not ok:
            raise PluginStartError(f"on_vm_start of plugin {plugin.name!r} returned false; "
                                   f"Envoy would refuse to start the VM ({self._last_error()})")
        self._plugin_config_visible = plugin_config
        try:
            ok = self._call("proxy_on_configure", ctx_id, len(plugin_config))
        finally:
            self._plugin_config_visible = None
        if not ok:
            raise PluginStartError(f"on_configure of plugin {plugin.name!r} returned false; "
                                   f"Envoy would reject the configuration ({self._last_error()})")
        self.plugins.append(plugin)
        self._after_operation()
        return plugin

    def _last_error(self) -> str:
        """Why the filter refused, in its words, as the Envoy runner says it: its last three
        error records (a traceback by its last line), else its last warnings."""
        for label, level in (("last error log", LogLevel.ERROR), ("last warning", LogLevel.WARN)):
            lines = [r.message.strip().splitlines()[-1] for r in self.logs if r.level >= level and r.message.strip()]
            if lines:
                return f"{label}: " + " | ".join(lines[-3:])
        return "no error was logged"

    def shutdown(self) -> None:
        for plugin in list(self.plugins):
            self._call("proxy_on_done", plugin.context_id)
            self._call("proxy_on_delete", plugin.context_id)
            self.contexts.pop(plugin.context_id, None)
        self.plugins.clear()

    # --- time and async events --------------------------------------------------------------
    def tick(self) -> None:
        for plugin in self.plugins:
            if plugin.tick_period_ms > 0:
                self._fire_tick(plugin)

    def advance(self, seconds: float) -> None:
        target = self.now_ns + int(seconds * 1e9)
        while self.next_tick(target):
            pass
        self.now_ns = target

    def next_tick(self, until_ns: Optional[int] = None) -> bool:
        """Move the clock to the earliest due tick (not past `until_ns`) and fire it; False
        when no plugin has a tick due by then."""
        due = [p for p in self.plugins if p.tick_period_ms > 0
               and (until_ns is None or p.next_tick_ns <= until_ns)]
        if not due:
            return False
        plugin = min(due, key=lambda p: p.next_tick_ns)
        self.now_ns = max(self.now_ns, plugin.next_tick_ns)
        plugin.next_tick_ns += plugin.tick_period_ms * 1_000_000
        self._fire_tick(plugin)
        return True

    def _fire_tick(self, plugin: Plugin) -> None:
        # Envoy answers what on_tick dispatched as it answers any callout: a responder does too
        self._call("proxy_on_tick", plugin.context_id)
        self._after_operation()
        self.settle()

    def settle(self) -> None:
        """Answer every pending callout that has a responder, until nothing changes."""
        progress = True
        while progress:
            progress = False
            for token, call in list(self.http_calls.items()):
                if call.upstream in self.http_responders:
                    responder = self.http_responders[call.upstream]
                    result = responder(call) if callable(responder) else responder
                    if result is None:
                        self.fail_http_call(token)
                    else:
                        self.respond_http_call(token, *result)
                    progress = True
            for token, call in list(self.grpc_calls.items()):
                key = (call.upstream, call.service, call.method)
                if not call.is_stream and key in self.grpc_responders:
                    responder = self.grpc_responders[key]
                    result = responder(call) if callable(responder) else responder
                    if isinstance(result, (bytes, bytearray)):
                        self.respond_grpc_call(token, bytes(result))
                    elif result is None:
                        self.respond_grpc_call(token, status=14, message=b"unavailable")
                    else:
                        self.respond_grpc_call(token, *result)
                    progress = True

    def respond_http_call(self, token: int, status: int = 200, headers: HeadersLike = None,
                          body: bytes = b"", trailers: HeadersLike = None) -> None:
        call = self.http_calls.pop(token, None)
        if call is None:
            raise EmulatorError(f"no pending HTTP call with token {token}")
        if call.context_id not in self.contexts:
            return
        pairs = [(b":status", str(status).encode())] + _pairs_from(headers)
        trailer_pairs = _pairs_from(trailers)
        self._call_response = (pairs, bytes(body), trailer_pairs)
        try:
            self._call("proxy_on_http_call_response", self._callout_context(call), token,
                       len(pairs), len(body), len(trailer_pairs))
        finally:
            self._call_response = None
        self._after_operation()

    def _callout_context(self, call: HttpCall) -> int:
        """Envoy 1.40 delivers callout answers on the plugin's root context, whichever context
        dispatched the call (measured); SDKs switch with set_effective_context."""
        info = self.contexts.get(call.context_id)
        return info.plugin.context_id if info is not None else call.context_id

    def fail_http_call(self, token: int) -> None:
        """The callout failed (reset, timeout, no healthy upstream): Envoy answers with no headers."""
        call = self.http_calls.pop(token, None)
        if call is None:
            raise EmulatorError(f"no pending HTTP call with token {token}")
        if call.context_id not in self.contexts:
            return
        self._call_response = ([], b"", [])
        try:
            self._call("proxy_on_http_call_response", self._callout_context(call), token, 0, 0, 0)
        finally:
            self._call_response = None
        self._after_operation()

    def respond_grpc_call(self, token: int, message: bytes = b"", status: int = 0,
                          status_message: bytes = b"") -> None:
        call = self.grpc_calls.pop(token, None)
        if call is None or call.is_stream:
            raise EmulatorError(f"no pending gRPC call with token {token}")
        if status == 0:
            self._grpc_message = message
            try:
                self._call("proxy_on_grpc_receive", call.context_id, token, len(message))
            finally:
                self._grpc_message = None
        else:
            self._grpc_status = (status, _bytes(status_message))
            self._call("proxy_on_grpc_close", call.context_id, token, status)
            self._grpc_status = (0, b"")
        self._after_operation()

    def grpc_stream_event(self, token: int, *, initial_metadata: HeadersLike = None,
                          message: Optional[bytes] = None, trailing_metadata: HeadersLike = None,
                          close_status: Optional[int] = None, close_message: bytes = b"") -> None:
        call = self.grpc_calls.get(token)
        if call is None or not call.is_stream:
            raise EmulatorError(f"no open gRPC stream with token {token}")
        if initial_metadata is not None:
            pairs = _pairs_from(initial_metadata)
            self._grpc_metadata[int(MapType.GRPC_CALL_INITIAL_METADATA)] = pairs
            self._call("proxy_on_grpc_receive_initial_metadata", call.context_id, token, len(pairs))
        if message is not None:
            self._grpc_message = message
            try:
                self._call("proxy_on_grpc_receive", call.context_id, token, len(message))
            finally:
                self._grpc_message = None
        if trailing_metadata is not None:
            pairs = _pairs_from(trailing_metadata)
            self._grpc_metadata[int(MapType.GRPC_CALL_TRAILING_METADATA)] = pairs
            self._call("proxy_on_grpc_receive_trailing_metadata", call.context_id, token, len(pairs))
        if close_status is not None:
            self.grpc_calls.pop(token, None)
            self._grpc_status = (close_status, close_message)
            self._call("proxy_on_grpc_close", call.context_id, token, close_status)
            self._grpc_status = (0, b"")
        self._after_operation()

    def call_plugin_foreign_function(self, plugin: Plugin, function_id: int, arguments: bytes) -> None:
        self._foreign_args = arguments
        try:
            self._call("proxy_on_foreign_function", plugin.context_id, function_id, len(arguments))
        finally:
            self._foreign_args = None
        self._after_operation()

    # =====================================================================================
    # The raw-hostcall interface (names and conventions: docs/architecture.md)

    def log(self, log_level: int, message: bytes) -> int:
        if log_level >= self.log_level:
            self.logs.append(LogRecord(LogLevel(log_level), message.decode("utf-8", "replace"),
                                       self.current & _LOCAL, self.vm.vm_id))
        return OK

    def get_log_level(self) -> tuple[int, int]:
        return OK, int(self.log_level)

    def get_current_time_nanoseconds(self) -> tuple[int, int]:
        return OK, self.now_ns

    @property
    def monotonic_ns(self) -> int:
        """The emulated monotonic clock: it moves as `now_ns` does (`advance`), plus the real
        time spent inside the module's callbacks (so far, and in the one running now)."""
        running = 0 if self._callback_started is None else time.monotonic_ns() - self._callback_started
        return self.now_ns + self._monotonic_offset + self._callback_real_ns + running

    def clock_time_ns(self, clock_id: int) -> Optional[int]:
        """WASI `clock_time_get` as Envoy answers it: the realtime clock (0) is the Proxy-Wasm
        clock, the monotonic one (1) moves with it, the CPU-time clocks are not supported."""
        if clock_id == 0:
            return self.now_ns
        if clock_id == 1:
            return self.monotonic_ns
        return None

    def set_tick_period_milliseconds(self, tick_period: int) -> int:
        self._refuse_during_start("set_tick_period_milliseconds")
        info = self._info()
        if info is None:
            return self._violation("set_tick_period_milliseconds outside any context")
        info.plugin.tick_period_ms = tick_period
        info.plugin.next_tick_ns = self.now_ns + tick_period * 1_000_000
        return OK

    def set_effective_context(self, context_id: int) -> int:
        self._refuse_during_start("set_effective_context")
        if self._from_module(context_id) not in self.contexts:
            return self._violation(f"set_effective_context({context_id}): no such context")
        self.current = self._from_module(context_id)
        return OK

    def done(self) -> int:
        return OK

    def get_status(self) -> tuple[int, int, Optional[bytes]]:
        code, message = self._grpc_status
        return OK, code, message

    # --- properties -------------------------------------------------------------------------
    def _property(self, path: str) -> Optional[bytes]:
        """A property the test gave (`properties=`, `set_property`) or one Envoy has built in."""
        info = self._info()
        stream = info.stream if info else None
        if stream is not None and path in stream.properties:
            return stream.properties[path]
        if path in self.user_properties:
            return self.user_properties[path]
        plugin = info.plugin if info else (self.plugins[0] if self.plugins else None)
        if plugin is not None:
            if path == "plugin_name":
                return plugin.name.encode()
            if path == "plugin_root_id":
                return plugin.root_id.encode()
        if path == "plugin_vm_id":
            return self.vm.vm_id.encode()
        if isinstance(stream, HttpStream):
            return self._http_property(stream, path)
        if isinstance(stream, TcpConnection):
            if path == "connection.id":
                return struct.pack("<q", stream.connection_id)
            if path in ("source.address", "destination.address", "source.port", "destination.port"):
                return self._address_property(path)
        return None

    def _address_property(self, path: str) -> Optional[bytes]:
        defaults = {"source.address": b"127.0.0.1:40000", "source.port": struct.pack("<q", 40000),
                    "destination.address": b"127.0.0.1:10000",
                    "destination.port": struct.pack("<q", 10000)}
        return defaults.get(path)

    def _http_property(self, stream: HttpStream, path: str) -> Optional[bytes]:
        req = stream.request_headers or []
        if path == "request.path":
            return _map_get(req, b":path")
        if path == "request.url_path":
            value = _map_get(req, b":path")
            return None if value is None else value.split(b"?", 1)[0]
        if path == "request.host":
            return _map_get(req, b":authority")
        if path == "request.method":
            return _map_get(req, b":method")
        if path == "request.scheme":
            return _map_get(req, b":scheme") or b"http"
        if path == "request.id":
            return _map_get(req, b"x-request-id")
        if path == "request.useragent":
            return _map_get(req, b"user-agent")
        if path == "request.referer":
            return _map_get(req, b"referer")
        if path == "request.protocol":
            return stream.protocol.encode()
        if path == "request.headers":
            return serialize_map(req)
        if path == "response.code":
            status = _map_get(stream.response_headers or [], b":status")
            return None if status is None else struct.pack("<q", int(status))
        if path == "response.headers" and stream.response_headers is not None:
            return serialize_map(stream.response_headers)
        if path == "connection.id":
            return struct.pack("<q", stream.connection_id)
        return self._address_property(path)

    def stream_filter_state(self) -> Optional[dict[bytes, FilterStateObject]]:
        """The filter state of the current context's stream; None in a root context."""
        info = self._info()
        return None if info is None or info.stream is None else info.stream.filter_state

    def get_property(self, path: bytes) -> tuple[int, Optional[bytes]]:
        self._refuse_during_start("get_property")
        segments = _property_segments(path)
        dotted = ".".join(s.decode("utf-8", "replace") for s in segments)
        state = self.stream_filter_state()
        first = segments[0].decode("utf-8", "replace") if segments else ""
        if first == "filter_state" and self._property(dotted) is None:
            return self._filter_state_property(state, segments, dotted)
        if state is not None and first and first not in _ENVOY_ATTRIBUTES:
            found = state.get(b"wasm." + segments[0])
            if found is not None:
                return self._set_property_value(found, segments, dotted)
        value = self._property(dotted)
        if value is None:
            return self._violation(_unknown_property(dotted, path, state), NOT_FOUND), None
        return OK, value

    def _set_property_value(self, found: FilterStateObject, segments: list[bytes],
                            dotted: str) -> tuple[int, Optional[bytes]]:
        """A property the filter set: its bytes; a field inside it is not there for bytes and
        strings (Envoy) and not emulated for Protobuf and FlatBuffers."""
        if len(segments) == 1:
            return OK, found.value
        return self._violation(f"get_property({dotted!r}): {segments[0].decode()!r} holds "
                               f"{found.type}; the emulator reads no fields inside it",
                               NOT_FOUND), None

    def _filter_state_property(self, state: Optional[dict[bytes, FilterStateObject]],
                               segments: list[bytes], dotted: str) -> tuple[int, Optional[bytes]]:
        """`["filter_state", key]`: an object of the stream's filter state (a property the filter
        set is there as `wasm.NAME`)."""
        if len(segments) == 1 and state is not None:
            return SERIALIZATION_FAILURE, None  # Envoy cannot serialize the whole map (measured)
        found = state.get(segments[1]) if state is not None and len(segments) == 2 else None
        if found is None:
            return self._violation(f"get_property({dotted!r}): no such filter state object",
                                   NOT_FOUND), None
        return OK, found.value

    def set_property(self, path: bytes, value: bytes) -> int:
        """Envoy keeps what a filter sets in the stream's filter state, under `wasm.` and the
        whole path; `declare_property` in the root context can make it readonly."""
        self._refuse_during_start("set_property")
        shown = ".".join(part.decode("utf-8", "replace") for part in path.split(b"\0"))
        info = self._info()
        if info is None or info.stream is None:
            return self._violation(f"set_property({shown!r}) outside a stream: Envoy keeps "
                                   f"properties in a stream's filter state and answers NotFound",
                                   NOT_FOUND)
        key = b"wasm." + path
        existing = info.stream.filter_state.get(key)
        if existing is None:
            declared = self.envoy_functions.declaration(info.plugin.context_id,
                                                        path.decode("utf-8", "replace"))
            info.stream.filter_state[key] = FilterStateObject(value, declared.readonly, declared.type)
            return OK
        if existing.readonly:
            return self._violation(f"set_property({shown!r}): the property was declared readonly "
                                   f"and is already set (Envoy answers BadArgument)")
        existing.value = value
        return OK

    # --- buffers ----------------------------------------------------------------------------
    def _buffer(self, buffer_type: int) -> Optional[bytearray]:
        info = self._info()
        if buffer_type == BufferType.VM_CONFIGURATION:
            return bytearray(self.vm_config) if self._vm_config_visible else None
        if buffer_type == BufferType.PLUGIN_CONFIGURATION:
            cfg = self._plugin_config_visible
            return None if cfg is None else bytearray(cfg)
        if buffer_type == BufferType.HTTP_CALL_RESPONSE_BODY:
            return None if self._call_response is None else bytearray(self._call_response[1])
        if buffer_type == BufferType.GRPC_CALL_MESSAGE:
            return None if self._grpc_message is None else bytearray(self._grpc_message)
        if buffer_type == BufferType.FOREIGN_FUNCTION_ARGUMENTS:
            return None if self._foreign_args is None else bytearray(self._foreign_args)
        if info is None or info.stream is None:
            return None
        stream = info.stream
        if isinstance(stream, HttpStream):
            f = stream.filters[info.index]
            if buffer_type == BufferType.HTTP_REQUEST_BODY:
                return _held_body(f.req)
            if buffer_type == BufferType.HTTP_RESPONSE_BODY:
                return _held_body(f.resp)
        elif isinstance(stream, TcpConnection):
            if buffer_type == BufferType.DOWNSTREAM_DATA:
                return stream._down_buffers[info.index]
            if buffer_type == BufferType.UPSTREAM_DATA:
                return stream._up_buffers[info.index]
        return None

    def get_buffer_bytes(self, buffer_type: int, start: int, max_size: int) -> tuple[int, Optional[bytes]]:
        self._refuse_during_start("get_buffer_bytes")
        buf = self._buffer(buffer_type)
        if buf is _NO_BODY:
            return OK, b""
        if buf is None:
            return self._violation(f"get_buffer_bytes({_enum_name(BufferType, buffer_type)}): "
                                   f"no such buffer in this callback", NOT_FOUND), None
        if start > len(buf):
            return BAD_ARGUMENT, None
        return OK, bytes(buf[start:start + max_size])

    def get_buffer_status(self, buffer_type: int) -> tuple[int, int, int]:
        self._refuse_during_start("get_buffer_status")
        buf = self._buffer(buffer_type)
        if buf is None:
            return NOT_FOUND, 0, 0
        return OK, len(buf or b""), 0

    def set_buffer_bytes(self, buffer_type: int, start: int, size: int, buffer: bytes) -> int:
        self._refuse_during_start("set_buffer_bytes")
        if buffer_type not in (BufferType.HTTP_REQUEST_BODY, BufferType.HTTP_RESPONSE_BODY,
                               BufferType.DOWNSTREAM_DATA, BufferType.UPSTREAM_DATA):
            return self._violation(f"set_buffer_bytes({_enum_name(BufferType, buffer_type)}): "
                                   f"Envoy only lets filters write body and data buffers")
        buf = self._buffer(buffer_type)
        if buf is None or buf is _NO_BODY:
            return self._violation(f"set_buffer_bytes({_enum_name(BufferType, buffer_type)}): "
                                   f"the filter no longer holds that body (Envoy answers BadArgument "
                                   f"once the body callback returned CONTINUE)")
        # Envoy's Buffer::copyFrom: prepend, replace everything, or append; nothing else.
        if start == 0:
            if size == 0:
                buf[0:0] = buffer
            elif size >= len(buf):
                buf[:] = buffer
            else:
                return self._violation("set_buffer_bytes: Envoy can only prepend (start=0, size=0), "
                                       "replace all (start=0, size>=length) or append (start>=length)")
        elif start >= len(buf):
            buf += buffer
        else:
            return self._violation("set_buffer_bytes: Envoy can only prepend (start=0, size=0), "
                                   "replace all (start=0, size>=length) or append (start>=length)")
        return OK

    # --- header maps ------------------------------------------------------------------------
    def _map(self, map_type: int, write: bool = False) -> Optional[Pairs]:
        """The header map the current context reaches: None when Envoy has none for it now."""
        if map_type == MapType.HTTP_CALL_RESPONSE_HEADERS:
            return None if self._call_response is None else self._call_response[0]
        if map_type == MapType.HTTP_CALL_RESPONSE_TRAILERS:
            return None if self._call_response is None else self._call_response[2]
        if map_type in (MapType.GRPC_CALL_INITIAL_METADATA, MapType.GRPC_CALL_TRAILING_METADATA):
            return self._grpc_metadata.get(map_type)
        info = self._info()
        if info is None or not isinstance(info.stream, HttpStream):
            return None
        stream = info.stream
        if stream.logging and not write:
            return _logged_map(stream, map_type)
        f = stream.filters[info.index]
        if map_type == MapType.HTTP_REQUEST_HEADERS:
            return stream.request_headers if f.req.headers_held else None
        if map_type == MapType.HTTP_RESPONSE_HEADERS:
            return stream.response_headers if f.resp.headers_held else None
        if map_type == MapType.HTTP_REQUEST_TRAILERS:
            return self._trailers(stream, f, f.req, "request_trailers", write)
        if map_type == MapType.HTTP_RESPONSE_TRAILERS:
            return self._trailers(stream, f, f.resp, "response_trailers", write)
        return None

    def _trailers(self, stream: HttpStream, f: _FilterState, d: _Direction, name: str,
                  write: bool) -> Optional[Pairs]:
        if d.trailers_held:
            return getattr(stream, name)
        if write and d.body_held and f.last_end_of_stream:
            # Envoy adds trailers when a filter writes them from the last body callback.
            if getattr(stream, name) is None:
                setattr(stream, name, [])
            d.trailers_held = True
            return getattr(stream, name)
        return None

    def _missing_map(self, call: str, map_type: int) -> int:
        """What Envoy answers for a map the filter cannot reach now: NotFound in on_log (for
        reads), else BadArgument (an SDK raises: the stream fails)."""
        info = self._info()
        if call == "get_header_map_value" and info is not None and \
                isinstance(info.stream, HttpStream) and info.stream.logging:
            return NOT_FOUND
        return self._violation(f"{call}({_enum_name(MapType, map_type)}): the filter cannot reach "
                               f"that header map now (Envoy answers BadArgument: request headers "
                               f"once on_http_request_headers returned CONTINUE or the filter "
                               f"resumed, any map once its callback returned CONTINUE)")

    def get_header_map_pairs(self, map_type: int) -> tuple[int, Optional[bytes]]:
        self._refuse_during_start("get_header_map_pairs")
        pairs = self._map(map_type)
        # Envoy answers a map the filter cannot reach as an empty one.
        return OK, serialize_map(pairs or [])

    def set_header_map_pairs(self, map_type: int, map: bytes) -> int:
        self._refuse_during_start("set_header_map_pairs")
        pairs = self._map(map_type, write=True)
        if pairs is None:
            return self._missing_map("set_header_map_pairs", map_type)
        pairs[:] = [(k.lower(), v) for k, v in deserialize_map(map)]
        return OK

    def get_header_map_size(self, map_type: int) -> tuple[int, int]:
        self._refuse_during_start("get_header_map_size")
        pairs = self._map(map_type, write=True)
        if pairs is None:
            return self._missing_map("get_header_map_size", map_type), 0
        return OK, len(serialize_map(pairs))

    def get_header_map_value(self, map_type: int, key: bytes) -> tuple[int, Optional[bytes]]:
        self._refuse_during_start("get_header_map_value")
        pairs = self._map(map_type)
        if pairs is None:
            return self._missing_map("get_header_map_value", map_type), None
        value = _map_get(pairs, key.lower())
        if value is None:
            return NOT_FOUND, None
        return OK, value

    def add_header_map_value(self, map_type: int, key: bytes, value: bytes) -> int:
        self._refuse_during_start("add_header_map_value")
        pairs = self._map(map_type, write=True)
        if pairs is None:
            return self._missing_map("add_header_map_value", map_type)
        pairs.append((key.lower(), value))
        return OK

    def replace_header_map_value(self, map_type: int, key: bytes, value: bytes) -> int:
        self._refuse_during_start("replace_header_map_value")
        pairs = self._map(map_type, write=True)
        if pairs is None:
            return self._missing_map("replace_header_map_value", map_type)
        _map_replace(pairs, key.lower(), value)
        return OK

    def remove_header_map_value(self, map_type: int, key: bytes) -> int:
        self._refuse_during_start("remove_header_map_value")
        pairs = self._map(map_type, write=True)
        if pairs is None:
            return self._missing_map("remove_header_map_value", map_type)
        _map_remove(pairs, key.lower())
        return OK

    # --- stream control ---------------------------------------------------------------------
    def continue_stream(self, stream_type: int) -> int:
        self._refuse_during_start("continue_stream")
        info = self._info()
        if info is None or info.stream is None:
            return self._violation(f"continue_stream({_enum_name(StreamType, stream_type)}) from a "
                                   f"root context: only stream contexts can resume", NOT_FOUND)
        stream, index = info.stream, info.index
        if isinstance(stream, HttpStream):
            if stream_type in (StreamType.HTTP_REQUEST, StreamType.HTTP_RESPONSE):
                # Envoy 1.40 (measured): resuming either direction lets go of the request's
                # headers, body and trailers at once, even within the resuming callback.
                stream.filters[index].req.let_go()
            if stream_type == StreamType.HTTP_REQUEST:
                self._defer(lambda: stream.filters[index].req.stopped and stream._req_flush(index))
            elif stream_type == StreamType.HTTP_RESPONSE:
                self._defer(lambda: stream.filters[index].resp.stopped and stream._resp_flush(index))
            else:
                return self._violation("continue_stream: an HTTP stream has only "
                                       "HTTP_REQUEST and HTTP_RESPONSE", BAD_ARGUMENT)
        else:
            if stream_type == StreamType.DOWNSTREAM:
                self._defer(lambda: stream._resume("down", index))
            elif stream_type == StreamType.UPSTREAM:
                self._defer(lambda: stream._resume("up", index))
            else:
                return self._violation("continue_stream: a TCP connection has only "
                                       "DOWNSTREAM and UPSTREAM", BAD_ARGUMENT)
        return OK

    def close_stream(self, stream_type: int) -> int:
        self._refuse_during_start("close_stream")
        info = self._info()
        if info is None or info.stream is None:
            return self._violation("close_stream from a root context", NOT_FOUND)
        stream = info.stream
        if isinstance(stream, HttpStream):
            self._defer(stream._reset)
        else:
            side = "downstream" if stream_type == StreamType.DOWNSTREAM else "upstream"
            self._defer(lambda: stream.closed or stream._finish(side, PeerType.LOCAL))
        return OK

    def send_local_response(self, status_code: int, status_code_details: bytes, body: bytes,
                            headers: bytes, grpc_status: int) -> int:
        self._refuse_during_start("send_local_response")
        info = self._info()
        if info is None or not isinstance(info.stream, HttpStream):
            return self._violation("send_local_response outside an HTTP stream", NOT_FOUND)
        stream, index = info.stream, info.index
        pairs = deserialize_map(headers)
        grpc = grpc_status if grpc_status < 0x80000000 else grpc_status - 0x100000000
        self._defer(lambda: stream._send_local_reply(index, status_code, status_code_details,
                                                     body, pairs, grpc))
        return OK

    # --- callouts ---------------------------------------------------------------------------
    def _known_cluster(self, name: str) -> bool:
        return name in self.clusters or name in self.http_responders or any(
            k[0] == name for k in self.grpc_responders)

    def http_call(self, upstream: bytes, headers: bytes, body: bytes, trailers: bytes,
                  timeout_milliseconds: int) -> tuple[int, int]:
        self._refuse_during_start("http_call")
        cluster = upstream.decode("utf-8", "replace")
        if not self._known_cluster(cluster):
            return self._violation(f"dispatch_http_call: unknown cluster {cluster!r} (Envoy answers "
                                   f"BadArgument); declare it with Host.load(clusters=[...]) or "
                                   f"host.on_http_call({cluster!r}, ...)"), 0
        pairs = deserialize_map(headers)
        keys = {k.lower() for k, _ in pairs}
        missing = [h for h in (b":method", b":path", b":authority") if h not in keys]
        if missing:
            return self._violation(f"dispatch_http_call to {cluster!r} lacks "
                                   f"{', '.join(m.decode() for m in missing)} (Envoy answers BadArgument)"), 0
        token = self._new_context_id()
        self.http_calls[token] = HttpCall(token, self.current, cluster, Headers.from_bytes_pairs(pairs),
                                          body, Headers.from_bytes_pairs(deserialize_map(trailers)),
                                          timeout_milliseconds)
        return OK, token & _LOCAL

    def grpc_call(self, service: bytes, service_name: bytes, method_name: bytes,
                  initial_metadata: bytes, message: bytes, timeout_milliseconds: int) -> tuple[int, int]:
        self._refuse_during_start("grpc_call")
        return self._grpc_open(service, service_name, method_name, initial_metadata, message,
                               timeout_milliseconds, False)

    def grpc_stream(self, service: bytes, service_name: bytes, method_name: bytes,
                    initial_metadata: bytes) -> tuple[int, int]:
        self._refuse_during_start("grpc_stream")
        return self._grpc_open(service, service_name, method_name, initial_metadata, b"", 0, True)

    def _grpc_open(self, service: bytes, service_name: bytes, method: bytes, metadata: bytes,
                   message: bytes, timeout: int, is_stream: bool) -> tuple[int, int]:
        cluster = service.decode("utf-8", "replace")
        if not self._known_cluster(cluster):
            return self._violation(f"gRPC call to unknown cluster {cluster!r}; declare it with "
                                   f"Host.load(clusters=[...]) or host.on_grpc_call(...)"), 0
        token = self._new_context_id()
        self.grpc_calls[token] = GrpcCall(token, self.current, cluster, service_name.decode(),
                                          method.decode(), Headers.from_bytes_pairs(deserialize_map(metadata)),
                                          message, timeout, is_stream)
        return OK, token & _LOCAL

    def grpc_send(self, stream_id: int, message: bytes, end_of_stream: int) -> int:
        call = self.grpc_calls.get(self._from_module(stream_id))
        if call is None or not call.is_stream:
            return self._violation(f"grpc_send: no open gRPC stream {stream_id}", NOT_FOUND)
        call.sent.append(message)
        call.local_closed = call.local_closed or bool(end_of_stream)
        return OK

    def grpc_cancel(self, call_id: int) -> int:
        if self.grpc_calls.pop(self._from_module(call_id), None) is None:
            return NOT_FOUND
        return OK

    def grpc_close(self, call_id: int) -> int:
        call = self.grpc_calls.get(self._from_module(call_id))
        if call is None:
            return NOT_FOUND
        if call.is_stream:
            call.local_closed = True
        else:
            self.grpc_calls.pop(call.token, None)
        return OK

    # --- shared data and queues -------------------------------------------------------------
    def get_shared_data(self, key: bytes) -> tuple[int, Optional[bytes], int]:
        self._refuse_during_start("get_shared_data")
        entry = self.shared_data.get((self.vm.vm_id, key))
        if entry is None:
            return NOT_FOUND, None, 0
        return OK, entry[0], entry[1]

    def set_shared_data(self, key: bytes, value: bytes, cas: int) -> int:
        self._refuse_during_start("set_shared_data")
        return self.store_shared_data(self.vm.vm_id, key, value, cas)

    def store_shared_data(self, vm_id: str, key: bytes, value: bytes, cas: int = 0) -> int:
        """Envoy's shared-data write: every write takes the next value of one Envoy-wide cas
        counter, whatever the key or vm_id. A cas is checked only against an existing key: a
        new key is stored whatever cas came with it (measured)."""
        entry = self.shared_data.get((vm_id, key))
        if cas and entry is not None and entry[1] != cas:
            return CAS_MISMATCH
        self._last_cas += 1
        self.shared_data[(vm_id, key)] = (value, self._last_cas)
        return OK

    def register_shared_queue(self, name: bytes) -> tuple[int, int]:
        self._refuse_during_start("register_shared_queue")
        key = (self.vm.vm_id, name)
        queue_id = self.queue_names.get(key)
        if queue_id is None:
            queue_id = len(self.queue_names) + 1
            self.queue_names[key] = queue_id
            self.queues[queue_id] = deque()
        # the last root context to register a name gets its on_queue_ready (measured)
        info = self._info()
        self.queue_owner[queue_id] = info.plugin.context_id if info else self.current
        return OK, queue_id

    def resolve_shared_queue(self, vm_id: bytes, name: bytes) -> tuple[int, int]:
        self._refuse_during_start("resolve_shared_queue")
        queue_id = self.queue_names.get((vm_id.decode(), name))
        if queue_id is None:
            return NOT_FOUND, 0
        return OK, queue_id

    def enqueue_shared_queue(self, queue_id: int, value: bytes) -> int:
        self._refuse_during_start("enqueue_shared_queue")
        if queue_id not in self.queues:
            return self._violation(f"enqueue_shared_queue: no queue {queue_id}", NOT_FOUND)
        self.queues[queue_id].append(value)
        owner = self.queue_owner.get(queue_id)
        if owner is not None:
            self._events.append(lambda: owner in self.contexts and
                                self._call("proxy_on_queue_ready", owner, queue_id))
        return OK

    def dequeue_shared_queue(self, queue_id: int) -> tuple[int, Optional[bytes]]:
        self._refuse_during_start("dequeue_shared_queue")
        queue = self.queues.get(queue_id)
        if queue is None:
            return self._violation(f"dequeue_shared_queue: no queue {queue_id}", NOT_FOUND), None
        if not queue:
            return EMPTY, None
        return OK, queue.popleft()

    # --- metrics ----------------------------------------------------------------------------
    def define_metric(self, metric_type: int, name: bytes) -> tuple[int, int]:
        self._refuse_during_start("define_metric")
        if metric_type not in (0, 1, 2):
            return self._violation(f"define_metric: bad metric type {metric_type}"), 0
        key = (metric_type, name)
        metric_id = self.metric_ids.get(key)
        if metric_id is None:
            metric_id = len(self.metric_ids) + 1
            self.metric_ids[key] = metric_id
            self.metrics[metric_id] = [metric_type, name.decode("utf-8", "replace"), 0]
        return OK, metric_id

    def increment_metric(self, metric_id: int, offset: int) -> int:
        self._refuse_during_start("increment_metric")
        metric = self.metrics.get(metric_id)
        if metric is None:
            return self._violation(f"increment_metric: no metric {metric_id}", NOT_FOUND)
        if metric[0] == MetricType.HISTOGRAM:
            return self._violation(f"increment_metric on histogram {metric[1]!r}: record it instead")
        if metric[0] == MetricType.COUNTER and offset <= 0:  # Envoy 1.40: BadArgument, even for 0
            return self._violation(f"increment_metric: counter {metric[1]!r} takes only positive "
                                   f"increments (Envoy answers BadArgument for {offset})")
        metric[2] += offset
        return OK

    def record_metric(self, metric_id: int, value: int) -> int:
        self._refuse_during_start("record_metric")
        metric = self.metrics.get(metric_id)
        if metric is None:
            return self._violation(f"record_metric: no metric {metric_id}", NOT_FOUND)
        if metric[0] == MetricType.COUNTER:
            metric[2] += value
        elif metric[0] == MetricType.GAUGE:
            metric[2] = value
        else:
            metric.append(value)
        return OK

    def get_metric(self, metric_id: int) -> tuple[int, int]:
        self._refuse_during_start("get_metric")
        metric = self.metrics.get(metric_id)
        if metric is None:
            return self._violation(f"get_metric: no metric {metric_id}", NOT_FOUND), 0
        if metric[0] == MetricType.HISTOGRAM:
            return self._violation(f"get_metric on histogram {metric[1]!r}: Envoy cannot read "
                                   f"histograms back"), 0
        return OK, metric[2]

    # --- foreign functions ------------------------------------------------------------------
    def call_foreign_function(self, function_name: bytes, arguments: bytes) -> tuple[int, Optional[bytes]]:
        """A function the test registered, else Envoy's own of that name."""
        self._refuse_during_start("call_foreign_function")
        fn = self.foreign_functions.get(function_name)
        if fn is not None:
            result = fn(arguments)
            return OK, b"" if result is None else _bytes(result)
        answer = self.envoy_functions.call(function_name, arguments)
        if answer is not None:
            return answer
        name = function_name.decode("utf-8", "replace")
        if function_name in NOT_EMULATED:
            return self._violation(f"call_foreign_function({name!r}): Envoy has it, but "
                                   f"{NOT_EMULATED[function_name]}; register a stand-in with "
                                   f"host.register_foreign_function", NOT_FOUND), None
        return self._violation(f"call_foreign_function({name!r}): Envoy has no such function; "
                               f"register it with host.register_foreign_function", NOT_FOUND), None

    # --- ABI 0.1.0 hostcalls ----------------------------------------------------------------
    def get_configuration(self) -> tuple[int, Optional[bytes]]:
        if self._plugin_config_visible is not None:
            return OK, self._plugin_config_visible
        if self._vm_config_visible:
            return OK, self.vm_config
        return NOT_FOUND, None

    def continue_request(self) -> int:
        return self.continue_stream(StreamType.HTTP_REQUEST)

    def continue_response(self) -> int:
        return self.continue_stream(StreamType.HTTP_RESPONSE)

    def clear_route_cache(self) -> int:
        return OK


# Top-level names Envoy resolves itself before a property the filter set (`wasm.NAME`).
_ENVOY_ATTRIBUTES = frozenset({
    "request", "response", "connection", "upstream", "source", "destination", "metadata",
    "filter_state", "upstream_filter_state", "xds", "plugin_name", "plugin_root_id", "plugin_vm_id",
})


def _property_segments(path: bytes) -> list[bytes]:
    """The segments of a property path as Envoy walks them: split at NUL, a trailing NUL ends it."""
    segments = path.split(b"\0")
    if segments and segments[-1] == b"" and len(segments) > 1:
        segments.pop()
    return segments if path else []


def _unknown_property(dotted: str, path: bytes, state: Optional[dict]) -> str:
    message = f"get_property({dotted!r}): unknown property"
    if state is not None and b"\0" in path and b"wasm." + path in state:
        return (f"{message}: the filter set it with several segments, and Envoy reads a set "
                f"property by its first segment only; set and get it as one segment, "
                f"e.g. [{dotted!r}]")
    return f"{message}; pass it to Host.load(properties=...) if your Envoy has it"


class _Starting:
    """While a module starts, hostcalls (logs) belong to the VM it starts in."""

    def __init__(self, emulator: Emulator, vm: VM) -> None:
        self.emulator, self.vm = emulator, vm

    def __enter__(self) -> None:
        self.previous = self.emulator.current
        self.emulator.current = self.vm.index << _VM_SHIFT

    def __exit__(self, *exc: object) -> None:
        self.emulator.current = self.previous


def _enum_name(enum: Any, value: int) -> str:
    try:
        return enum(value).name
    except ValueError:
        return str(value)
