"""The author API: RootContext, HttpContext and StreamContext (proxy-wasm-rust-sdk's traits).

Subclass these and override the `on_*` callbacks you need; every callback has a default that
lets traffic through. Methods that reach the host are thin wrappers over `proxywasm.hostcalls`
(the per-request header methods and `send_http_response` inline theirs: inside a module each
Python call costs ~1,000 wasm instructions). A compiled module never calls into Python for a
callback your class leaves at its default (see `proxywasm.dispatcher.ANSWERED_IN_C`).
"""

from __future__ import annotations

import struct
TYPE_CHECKING = False  # typing imports re: annotations only, never at run time
if TYPE_CHECKING:
    from typing import Optional, Sequence

from . import _host
from . import hostcalls as hc
from .abi import (_MICROPYTHON, NO_GRPC_STATUS, Action, BufferType, GrpcStatus, MapType,
                  MetricType, PeerType, StreamType)

if TYPE_CHECKING:  # datetime costs the module snapshot heap; accept any .total_seconds()
    from datetime import timedelta

    from .hostcalls import HeaderPairs, Text

_U32_MAX = 0xFFFFFFFF

# The enum values the methods pass, as plain ints: inside a module an IntEnum class attribute
# costs ~1,600 wasm instructions per lookup, a module global ~50.
_BUFFER_DOWNSTREAM_DATA = int(BufferType.DOWNSTREAM_DATA)
_BUFFER_FOREIGN_FUNCTION_ARGUMENTS = int(BufferType.FOREIGN_FUNCTION_ARGUMENTS)
_BUFFER_GRPC_CALL_MESSAGE = int(BufferType.GRPC_CALL_MESSAGE)
_BUFFER_HTTP_CALL_RESPONSE_BODY = int(BufferType.HTTP_CALL_RESPONSE_BODY)
_BUFFER_HTTP_REQUEST_BODY = int(BufferType.HTTP_REQUEST_BODY)
_BUFFER_HTTP_RESPONSE_BODY = int(BufferType.HTTP_RESPONSE_BODY)
_BUFFER_PLUGIN_CONFIGURATION = int(BufferType.PLUGIN_CONFIGURATION)
_BUFFER_UPSTREAM_DATA = int(BufferType.UPSTREAM_DATA)
_BUFFER_VM_CONFIGURATION = int(BufferType.VM_CONFIGURATION)
_MAP_GRPC_CALL_INITIAL_METADATA = int(MapType.GRPC_CALL_INITIAL_METADATA)
_MAP_GRPC_CALL_TRAILING_METADATA = int(MapType.GRPC_CALL_TRAILING_METADATA)
_MAP_HTTP_CALL_RESPONSE_HEADERS = int(MapType.HTTP_CALL_RESPONSE_HEADERS)
_MAP_HTTP_CALL_RESPONSE_TRAILERS = int(MapType.HTTP_CALL_RESPONSE_TRAILERS)
_MAP_HTTP_REQUEST_HEADERS = int(MapType.HTTP_REQUEST_HEADERS)
_MAP_HTTP_REQUEST_TRAILERS = int(MapType.HTTP_REQUEST_TRAILERS)
_MAP_HTTP_RESPONSE_HEADERS = int(MapType.HTTP_RESPONSE_HEADERS)
_MAP_HTTP_RESPONSE_TRAILERS = int(MapType.HTTP_RESPONSE_TRAILERS)
_STREAM_DOWNSTREAM = int(StreamType.DOWNSTREAM)
_STREAM_HTTP_REQUEST = int(StreamType.HTTP_REQUEST)
_STREAM_HTTP_RESPONSE = int(StreamType.HTTP_RESPONSE)
_STREAM_UPSTREAM = int(StreamType.UPSTREAM)


class Context:
    """Base of every context: what any context may do (Rust SDK's `Context` trait)."""

    #: Whether HttpContext/StreamContext.__init__ must call super().__init__: only when a class
    #: between them and Context in the MRO defines its own __init__ (else they set
    #: `context_id` themselves: a super() call costs a compiled filter ~1,500 wasm
    #: instructions per stream).
    _cooperative_init = False

    def __init__(self, context_id: int) -> None:
        self.context_id = context_id

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        mro = cls.__mro__
        for owner in (globals().get("HttpContext"), globals().get("StreamContext")):
            if owner is not None and owner in mro:
                between = mro[mro.index(owner) + 1:mro.index(Context)]
                cls._cooperative_init = any("__init__" in vars(klass) for klass in between)

    # --- time, properties ---------------------------------------------------------------
    def get_current_time_nanoseconds(self) -> int:
        return hc.get_current_time_nanoseconds()

    def get_current_time(self) -> float:
        """Wall-clock time in seconds since the epoch, as the host sees it."""
        return hc.get_current_time_nanoseconds() / 1e9

    def get_property(self, path: Text | Sequence[Text]) -> bytes | None:
        """A host property as raw bytes; `path` is "a.b.c" or a list of segments."""
        return hc.get_property(path)

    def get_property_str(self, path: Text | Sequence[Text]) -> str | None:
        value = hc.get_property(path)
        return None if value is None else hc.text(value)

    def get_property_int(self, path: Text | Sequence[Text]) -> int | None:
        """Integer properties (ports, sizes, codes) arrive as 8-byte little-endian values."""
        value = hc.get_property(path)
        if value is None:
            return None
        if len(value) == 8:
            return struct.unpack("<q", value)[0]
        return int(value.decode() or 0)

    def get_property_bool(self, path: Text | Sequence[Text]) -> bool | None:
        value = hc.get_property(path)
        return None if value is None else value not in (b"", b"\0", b"false")

    def set_property(self, path: Text | Sequence[Text], value: Text | None) -> None:
        hc.set_property(path, value)

    # --- shared data and queues ---------------------------------------------------------
    def get_shared_data(self, key: Text) -> tuple[bytes | None, int | None]:
        return hc.get_shared_data(key)

    def set_shared_data(self, key: Text, value: Text | None, cas: int | None = None) -> None:
        hc.set_shared_data(key, value, cas)

    def register_shared_queue(self, name: Text) -> int:
        return hc.register_shared_queue(name)

    def resolve_shared_queue(self, vm_id: Text, name: Text) -> int | None:
        return hc.resolve_shared_queue(vm_id, name)

    def enqueue_shared_queue(self, queue_id: int, value: Text | None) -> None:
        hc.enqueue_shared_queue(queue_id, value)

    def dequeue_shared_queue(self, queue_id: int) -> bytes | None:
        return hc.dequeue_shared_queue(queue_id)

    # --- metrics ------------------------------------------------------------------------
    def define_metric(self, metric_type: MetricType, name: Text) -> int:
        return hc.define_metric(metric_type, name)

    def increment_metric(self, metric_id: int, offset: int = 1) -> None:
        hc.increment_metric(metric_id, offset)

    def record_metric(self, metric_id: int, value: int) -> None:
        hc.record_metric(metric_id, value)

    def get_metric(self, metric_id: int) -> int:
        return hc.get_metric(metric_id)

    # --- HTTP callouts ------------------------------------------------------------------
    def dispatch_http_call(self, upstream: Text, headers: HeaderPairs, body: Text | None = None,
                           trailers: HeaderPairs = (), timeout: float | timedelta = 1.0) -> int:
        """Send an HTTP request to cluster `upstream`; the answer arrives in
        `on_http_call_response` of this context. Returns the call's token."""
        from . import dispatcher

        token = hc.dispatch_http_call(upstream, headers, body, trailers, _millis(timeout))
        dispatcher.register_callout(token, self.context_id)
        return token

    def on_http_call_response(self, token_id: int, num_headers: int, body_size: int,
                              num_trailers: int) -> None:
        """The answer (or failure: no `:status` header) to `dispatch_http_call`."""

    def get_http_call_response_headers(self) -> list[tuple[str, str]]:
        return hc.get_map(_MAP_HTTP_CALL_RESPONSE_HEADERS)

    def get_http_call_response_headers_bytes(self) -> list[tuple[bytes, bytes]]:
        return hc.get_map_bytes(_MAP_HTTP_CALL_RESPONSE_HEADERS)

    def get_http_call_response_header(self, name: Text) -> str | None:
        return hc.get_map_value(_MAP_HTTP_CALL_RESPONSE_HEADERS, name)

    def get_http_call_response_body(self, start: int = 0, max_size: int = _U32_MAX) -> bytes | None:
        return hc.get_buffer(_BUFFER_HTTP_CALL_RESPONSE_BODY, start, max_size)

    def get_http_call_response_trailers(self) -> list[tuple[str, str]]:
        return hc.get_map(_MAP_HTTP_CALL_RESPONSE_TRAILERS)

    # --- gRPC ---------------------------------------------------------------------------
    def dispatch_grpc_call(self, upstream: Text, service: Text, method: Text,
                           initial_metadata: HeaderPairs = (), message: Text | None = None,
                           timeout: float | timedelta = 1.0) -> int:
        """Unary gRPC call; the answer arrives in `on_grpc_call_response`."""
        from . import dispatcher

        token = hc.dispatch_grpc_call(upstream, service, method, initial_metadata, message,
                                      _millis(timeout))
        dispatcher.register_grpc_call(token, self.context_id)
        return token

    def on_grpc_call_response(self, token_id: int, status_code: int, response_size: int) -> None:
        """A unary gRPC call finished: status 0 with a message, or an error status."""

    def get_grpc_call_response_body(self, start: int = 0, max_size: int = _U32_MAX) -> bytes | None:
        return hc.get_buffer(_BUFFER_GRPC_CALL_MESSAGE, start, max_size)

    def cancel_grpc_call(self, token_id: int) -> None:
        hc.cancel_grpc(token_id)

    def open_grpc_stream(self, upstream: Text, service: Text, method: Text,
                         initial_metadata: HeaderPairs = ()) -> int:
        from . import dispatcher

        token = hc.open_grpc_stream(upstream, service, method, initial_metadata)
        dispatcher.register_grpc_stream(token, self.context_id)
        return token

    def send_grpc_stream_message(self, token_id: int, message: Text | None,
                                 end_of_stream: bool = False) -> None:
        hc.send_grpc_stream_message(token_id, message, end_of_stream)

    def cancel_grpc_stream(self, token_id: int) -> None:
        hc.cancel_grpc(token_id)

    def close_grpc_stream(self, token_id: int) -> None:
        hc.close_grpc(token_id)

    def on_grpc_stream_initial_metadata(self, token_id: int, num_elements: int) -> None:
        pass

    def on_grpc_stream_message(self, token_id: int, message_size: int) -> None:
        pass

    def on_grpc_stream_trailing_metadata(self, token_id: int, num_elements: int) -> None:
        pass

    def on_grpc_stream_close(self, token_id: int, status_code: int) -> None:
        pass

    def get_grpc_stream_initial_metadata(self) -> list[tuple[str, str]]:
        return hc.get_map(_MAP_GRPC_CALL_INITIAL_METADATA)

    def get_grpc_stream_trailing_metadata(self) -> list[tuple[str, str]]:
        return hc.get_map(_MAP_GRPC_CALL_TRAILING_METADATA)

    def get_grpc_stream_message(self, start: int = 0, max_size: int = _U32_MAX) -> bytes | None:
        return hc.get_buffer(_BUFFER_GRPC_CALL_MESSAGE, start, max_size)

    def get_grpc_status(self) -> tuple[int, str]:
        code, message = hc.get_status()
        return code, hc.text(message)

    # --- foreign functions, lifecycle ---------------------------------------------------
    def call_foreign_function(self, name: Text, arguments: Text | None = None) -> bytes | None:
        return hc.call_foreign_function(name, arguments)

    def on_done(self) -> bool:
        """The host is done with this context. Return False to finish later with `done()`."""
        return True

    def done(self) -> None:
        hc.done()

    def on_delete(self) -> None:
        """The context is gone; release what it holds."""


class RootContext(Context):
    """One per plugin: configuration, ticks, queues, and the factory of stream contexts.

    Set `fail_open = True` on the class to let a stream continue when its Python code
    raises, instead of the default 500 local reply.
    """

    fail_open: bool = False

    def on_vm_start(self, vm_configuration_size: int) -> bool:
        return True

    def on_configure(self, plugin_configuration_size: int) -> bool:
        return True

    def get_vm_configuration(self) -> bytes | None:
        return hc.get_buffer(_BUFFER_VM_CONFIGURATION)

    def get_plugin_configuration(self) -> bytes | None:
        return hc.get_buffer(_BUFFER_PLUGIN_CONFIGURATION)

    def set_tick_period(self, period: float | timedelta) -> None:
        """Call `on_tick` every `period` seconds (a float or timedelta); 0 stops the ticks."""
        hc.set_tick_period_milliseconds(_millis(period))

    def set_tick_period_milliseconds(self, milliseconds: int) -> None:
        hc.set_tick_period_milliseconds(milliseconds)

    def on_tick(self) -> None:
        pass

    def on_queue_ready(self, queue_id: int) -> None:
        pass

    def on_foreign_function(self, function_id: int, arguments_size: int) -> None:
        pass

    def get_foreign_function_arguments(self) -> bytes | None:
        return hc.get_buffer(_BUFFER_FOREIGN_FUNCTION_ARGUMENTS)

    def on_log(self) -> None:
        pass

    def create_http_context(self, context_id: int) -> Optional["HttpContext"]:
        """Make the context for one HTTP stream; None uses `set_http_context`'s factory."""
        return None

    def create_stream_context(self, context_id: int) -> Optional["StreamContext"]:
        """Make the context for one TCP connection; None uses `set_stream_context`'s factory."""
        return None


# The per-request header methods of both directions, made once per map type: they call the raw
# interface in place (hc.get_map_value and friends would be one more Python call, ~1,000 wasm
# instructions per header in a compiled filter, and so would encoding a str that the C raw
# functions take as UTF-8 themselves).

# Inside a module the raw functions are fixed C builtins that take str as UTF-8. A MicroPython
# module implements the request/response header get/add/set methods in C itself
# (`header_method_<op>_<map type>`: no Python frame, no tuple, no `bytes.decode` call; its rare
# answers go through `_header_value` and `_raise_host_error` below). Elsewhere in a module the
# methods bind the raw functions once (a closure variable instead of `_host.raw.X` and the
# `raw_takes_str` test). Under the emulator `_host.raw` is installed later and may change: the
# methods look it up per call.
_FIXED_RAW = _host.raw if _host.IN_MODULE else None


_RAW_SEND_LOCAL_RESPONSE = getattr(_FIXED_RAW, "send_local_response", None)
_EMPTY_MAP = hc._EMPTY_MAP
_NO_HEADERS = ()  # the default `headers` of send_http_response: the one empty tuple


def _header_getter(map_type: int, direction: str):
    doc = f"The {direction} header `name` (None when absent)."
    in_c = getattr(_FIXED_RAW, f"header_method_get_{map_type}", None)
    if in_c is not None:  # a MicroPython module's C method: no Python frame per call
        return in_c
    raw_get_str = getattr(_FIXED_RAW, "get_header_map_value_str", None)
    if raw_get_str is not None:
        tuple_type = tuple

        def get_str(self, name: Text) -> str | None:
            value = raw_get_str(map_type, name)
            if value.__class__ is not tuple_type:  # str, or None when absent
                return value
            return _header_value(value)

        return _named(get_str, f"get_http_{direction}_header", doc)

    if _FIXED_RAW is not None:
        raw_get = _FIXED_RAW.get_header_map_value

        def get_fixed(self, name: Text) -> str | None:
            status, value = raw_get(map_type, name)
            if status == 0:
                try:  # strict first: cheaper, the same text when it succeeds
                    return value.decode()
                except UnicodeError:
                    return hc.text(value)
            if status == 1:  # NOT_FOUND
                return None
            raise hc.HostError("get_header_map_value", status)

        return _named(get_fixed, f"get_http_{direction}_header", doc)

    def get(self, name: Text) -> str | None:
        if not _host.raw_takes_str:
            name = hc._b(name)
        status, value = _host.raw.get_header_map_value(map_type, name)
        return _header_value((status, value)) if status else hc.text(value)

    return _named(get, f"get_http_{direction}_header", doc)


def _header_value(answer: tuple) -> str | None:
    """A (status, value) answer of get_header_map_value(_str) that is not valid UTF-8 text:
    invalid UTF-8, absent, or a host error."""
    status, value = answer
    if status == 0:
        return hc.text(value)
    if status == 1:  # NOT_FOUND
        return None
    raise hc.HostError("get_header_map_value", status)


def _raise_host_error(call: str, status: int) -> None:
    """The C header methods' error (they raise what the Python ones would)."""
    raise hc.HostError(call, status)


def _header_setter(map_type: int, direction: str):
    doc = f"Replace a {direction} header; None removes it."
    in_c = getattr(_FIXED_RAW, f"header_method_set_{map_type}", None)
    if in_c is not None:
        return in_c
    if _FIXED_RAW is not None:
        raw_replace = _FIXED_RAW.replace_header_map_value

        def set_fixed(self, name: Text, value: Text | None) -> None:
            if value is None:
                hc.remove_map_value(map_type, name)
                return
            status = raw_replace(map_type, name, value)
            if status:
                raise hc.HostError("replace_header_map_value", status)

        return _named(set_fixed, f"set_http_{direction}_header", doc)

    def set_header(self, name: Text, value: Text | None) -> None:
        if value is None:
            hc.remove_map_value(map_type, name)
            return
        if not _host.raw_takes_str:
            name, value = hc._b(name), hc._b(value)
        status = _host.raw.replace_header_map_value(map_type, name, value)
        if status:
            raise hc.HostError("replace_header_map_value", status)

    return _named(set_header, f"set_http_{direction}_header", doc)


def _header_adder(map_type: int, direction: str):
    doc = f"Add a {direction} header (another value if present)."
    in_c = getattr(_FIXED_RAW, f"header_method_add_{map_type}", None)
    if in_c is not None:
        return in_c
    if _FIXED_RAW is not None:
        raw_add = _FIXED_RAW.add_header_map_value

        def add_fixed(self, name: Text, value: Text) -> None:
            status = raw_add(map_type, name, value)
            if status:
                raise hc.HostError("add_header_map_value", status)

        return _named(add_fixed, f"add_http_{direction}_header", doc)

    def add(self, name: Text, value: Text) -> None:
        if not _host.raw_takes_str:
            name, value = hc._b(name), hc._b(value)
        status = _host.raw.add_header_map_value(map_type, name, value)
        if status:
            raise hc.HostError("add_header_map_value", status)

    return _named(add, f"add_http_{direction}_header", doc)


def _buffer_getter(buffer_type: int):
    """A MicroPython module's C version of a per-request body/data getter, else None."""
    return getattr(_FIXED_RAW, f"buffer_method_get_{buffer_type}", None)


def _named(method, name: str, doc: str):
    if not _MICROPYTHON:  # MicroPython's functions take no attributes
        method.__name__, method.__qualname__, method.__doc__ = name, f"HttpContext.{name}", doc
    return method


class HttpContext(Context):
    """One HTTP stream (request and response) passing through the plugin."""

    #: None inherits the root context's choice.
    fail_open: "Optional[bool]" = None

    if _MICROPYTHON:

        def __init__(self, context_id: int, root: RootContext | None = None) -> None:
            if self.__class__ in _plain_inits:  # the fast path: one dict lookup
                self.context_id = context_id
            else:
                _cooperative_init(self, context_id, HttpContext)
            self.root = root

        # a MicroPython module's C version of the above: one Python frame less per stream
        __init__ = getattr(_FIXED_RAW, "http_context_init", None) or __init__

    else:

        def __init__(self, context_id: int, root: RootContext | None = None) -> None:
            if self._cooperative_init:
                super().__init__(context_id)
            else:
                self.context_id = context_id
            self.root = root

    # --- callbacks ----------------------------------------------------------------------
    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        return Action.CONTINUE

    def on_http_request_body(self, body_size: int, end_of_stream: bool) -> Action:
        return Action.CONTINUE

    def on_http_request_trailers(self, num_trailers: int) -> Action:
        return Action.CONTINUE

    def on_http_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        return Action.CONTINUE

    def on_http_response_body(self, body_size: int, end_of_stream: bool) -> Action:
        return Action.CONTINUE

    def on_http_response_trailers(self, num_trailers: int) -> Action:
        return Action.CONTINUE

    def on_log(self) -> None:
        pass

    # --- request ------------------------------------------------------------------------
    def get_http_request_headers(self) -> list[tuple[str, str]]:
        return hc.get_map(_MAP_HTTP_REQUEST_HEADERS)

    def get_http_request_headers_bytes(self) -> list[tuple[bytes, bytes]]:
        return hc.get_map_bytes(_MAP_HTTP_REQUEST_HEADERS)

    def set_http_request_headers(self, headers: HeaderPairs) -> None:
        hc.set_map(_MAP_HTTP_REQUEST_HEADERS, headers)

    set_http_request_headers_bytes = set_http_request_headers

    get_http_request_header = _header_getter(_MAP_HTTP_REQUEST_HEADERS, "request")

    def get_http_request_header_bytes(self, name: Text) -> bytes | None:
        return hc.get_map_value_bytes(_MAP_HTTP_REQUEST_HEADERS, name)

    set_http_request_header = _header_setter(_MAP_HTTP_REQUEST_HEADERS, "request")

    set_http_request_header_bytes = set_http_request_header

    add_http_request_header = _header_adder(_MAP_HTTP_REQUEST_HEADERS, "request")

    add_http_request_header_bytes = add_http_request_header

    def remove_http_request_header(self, name: Text) -> None:
        hc.remove_map_value(_MAP_HTTP_REQUEST_HEADERS, name)

    def get_http_request_body(self, start: int = 0, max_size: int = _U32_MAX) -> bytes | None:
        return hc.get_buffer(_BUFFER_HTTP_REQUEST_BODY, start, max_size)

    if _MICROPYTHON:
        get_http_request_body = _buffer_getter(_BUFFER_HTTP_REQUEST_BODY) or get_http_request_body

    def set_http_request_body(self, start: int, size: int, value: Text) -> None:
        hc.set_buffer(_BUFFER_HTTP_REQUEST_BODY, start, size, value)

    def get_http_request_trailers(self) -> list[tuple[str, str]]:
        return hc.get_map(_MAP_HTTP_REQUEST_TRAILERS)

    def get_http_request_trailers_bytes(self) -> list[tuple[bytes, bytes]]:
        return hc.get_map_bytes(_MAP_HTTP_REQUEST_TRAILERS)

    def set_http_request_trailers(self, trailers: HeaderPairs) -> None:
        hc.set_map(_MAP_HTTP_REQUEST_TRAILERS, trailers)

    def get_http_request_trailer(self, name: Text) -> str | None:
        return hc.get_map_value(_MAP_HTTP_REQUEST_TRAILERS, name)

    def set_http_request_trailer(self, name: Text, value: Text | None) -> None:
        hc.set_map_value(_MAP_HTTP_REQUEST_TRAILERS, name, value)

    def add_http_request_trailer(self, name: Text, value: Text) -> None:
        hc.add_map_value(_MAP_HTTP_REQUEST_TRAILERS, name, value)

    def remove_http_request_trailer(self, name: Text) -> None:
        hc.remove_map_value(_MAP_HTTP_REQUEST_TRAILERS, name)

    def resume_http_request(self) -> None:
        hc.continue_stream(_STREAM_HTTP_REQUEST)

    def reset_http_request(self) -> None:
        hc.close_stream(_STREAM_HTTP_REQUEST)

    # --- response -----------------------------------------------------------------------
    def get_http_response_headers(self) -> list[tuple[str, str]]:
        return hc.get_map(_MAP_HTTP_RESPONSE_HEADERS)

    def get_http_response_headers_bytes(self) -> list[tuple[bytes, bytes]]:
        return hc.get_map_bytes(_MAP_HTTP_RESPONSE_HEADERS)

    def set_http_response_headers(self, headers: HeaderPairs) -> None:
        hc.set_map(_MAP_HTTP_RESPONSE_HEADERS, headers)

    set_http_response_headers_bytes = set_http_response_headers

    get_http_response_header = _header_getter(_MAP_HTTP_RESPONSE_HEADERS, "response")

    def get_http_response_header_bytes(self, name: Text) -> bytes | None:
        return hc.get_map_value_bytes(_MAP_HTTP_RESPONSE_HEADERS, name)

    set_http_response_header = _header_setter(_MAP_HTTP_RESPONSE_HEADERS, "response")

    set_http_response_header_bytes = set_http_response_header

    add_http_response_header = _header_adder(_MAP_HTTP_RESPONSE_HEADERS, "response")

    add_http_response_header_bytes = add_http_response_header

    def remove_http_response_header(self, name: Text) -> None:
        hc.remove_map_value(_MAP_HTTP_RESPONSE_HEADERS, name)

    def get_http_response_body(self, start: int = 0, max_size: int = _U32_MAX) -> bytes | None:
        return hc.get_buffer(_BUFFER_HTTP_RESPONSE_BODY, start, max_size)

    if _MICROPYTHON:
        get_http_response_body = _buffer_getter(_BUFFER_HTTP_RESPONSE_BODY) or get_http_response_body

    def set_http_response_body(self, start: int, size: int, value: Text) -> None:
        hc.set_buffer(_BUFFER_HTTP_RESPONSE_BODY, start, size, value)

    def get_http_response_trailers(self) -> list[tuple[str, str]]:
        return hc.get_map(_MAP_HTTP_RESPONSE_TRAILERS)

    def get_http_response_trailers_bytes(self) -> list[tuple[bytes, bytes]]:
        return hc.get_map_bytes(_MAP_HTTP_RESPONSE_TRAILERS)

    def set_http_response_trailers(self, trailers: HeaderPairs) -> None:
        hc.set_map(_MAP_HTTP_RESPONSE_TRAILERS, trailers)

    def get_http_response_trailer(self, name: Text) -> str | None:
        return hc.get_map_value(_MAP_HTTP_RESPONSE_TRAILERS, name)

    def set_http_response_trailer(self, name: Text, value: Text | None) -> None:
        hc.set_map_value(_MAP_HTTP_RESPONSE_TRAILERS, name, value)

    def add_http_response_trailer(self, name: Text, value: Text) -> None:
        hc.add_map_value(_MAP_HTTP_RESPONSE_TRAILERS, name, value)

    def remove_http_response_trailer(self, name: Text) -> None:
        hc.remove_map_value(_MAP_HTTP_RESPONSE_TRAILERS, name)

    def resume_http_response(self) -> None:
        hc.continue_stream(_STREAM_HTTP_RESPONSE)

    def reset_http_response(self) -> None:
        hc.close_stream(_STREAM_HTTP_RESPONSE)

    # --- local replies ------------------------------------------------------------------
    def send_http_response(self, status_code: int, headers: HeaderPairs = (),
                           body: Text | None = None, details: Text = b"") -> None:
        """Answer the client directly; the upstream is never contacted. Return
        `Action.PAUSE` from the callback that calls this."""
        if (headers is _NO_HEADERS and status_code.__class__ is int and body.__class__ is bytes
                and not details):
            # the common local reply, without the call into hc.send_local_response (anything
            # else, an empty list of headers or a bytes subclass too, takes that general path)
            status = (_RAW_SEND_LOCAL_RESPONSE or _host.raw.send_local_response)(
                status_code, b"", body, _EMPTY_MAP, NO_GRPC_STATUS)
            if status:
                raise hc.HostError("send_local_response", status)
            return
        hc.send_local_response(status_code, headers, body, details)

    if _MICROPYTHON:  # a MicroPython module answers the common local reply in C, else calls this
        _send_http_response = send_http_response
        send_http_response = getattr(_FIXED_RAW, "send_http_response_method", None) or send_http_response

    def send_grpc_response(self, grpc_status: GrpcStatus | int, message: Text | None = None,
                           metadata: HeaderPairs = ()) -> None:
        """Answer a gRPC client directly with a status (HTTP 200 + grpc-status)."""
        hc.send_local_response(200, metadata, message, b"", int(grpc_status))


class StreamContext(Context):
    """One TCP connection passing through a network-filter plugin."""

    fail_open: "Optional[bool]" = None

    if _MICROPYTHON:

        def __init__(self, context_id: int, root: RootContext | None = None) -> None:
            if self.__class__ in _plain_inits:  # the fast path: one dict lookup
                self.context_id = context_id
            else:
                _cooperative_init(self, context_id, StreamContext)
            self.root = root

        # a MicroPython module's C version of the above: one Python frame less per stream
        __init__ = getattr(_FIXED_RAW, "stream_context_init", None) or __init__

    else:

        def __init__(self, context_id: int, root: RootContext | None = None) -> None:
            if self._cooperative_init:
                super().__init__(context_id)
            else:
                self.context_id = context_id
            self.root = root

    def on_new_connection(self) -> Action:
        return Action.CONTINUE

    def on_downstream_data(self, data_size: int, end_of_stream: bool) -> Action:
        return Action.CONTINUE

    def on_downstream_close(self, peer_type: PeerType) -> None:
        pass

    def on_upstream_data(self, data_size: int, end_of_stream: bool) -> Action:
        return Action.CONTINUE

    def on_upstream_close(self, peer_type: PeerType) -> None:
        pass

    def on_log(self) -> None:
        pass

    def get_downstream_data(self, start: int = 0, max_size: int = _U32_MAX) -> bytes | None:
        return hc.get_buffer(_BUFFER_DOWNSTREAM_DATA, start, max_size)

    if _MICROPYTHON:
        get_downstream_data = _buffer_getter(_BUFFER_DOWNSTREAM_DATA) or get_downstream_data

    def set_downstream_data(self, start: int, size: int, value: Text) -> None:
        hc.set_buffer(_BUFFER_DOWNSTREAM_DATA, start, size, value)

    def get_upstream_data(self, start: int = 0, max_size: int = _U32_MAX) -> bytes | None:
        return hc.get_buffer(_BUFFER_UPSTREAM_DATA, start, max_size)

    if _MICROPYTHON:
        get_upstream_data = _buffer_getter(_BUFFER_UPSTREAM_DATA) or get_upstream_data

    def set_upstream_data(self, start: int, size: int, value: Text) -> None:
        hc.set_buffer(_BUFFER_UPSTREAM_DATA, start, size, value)

    def resume_downstream(self) -> None:
        hc.continue_stream(_STREAM_DOWNSTREAM)

    def resume_upstream(self) -> None:
        hc.continue_stream(_STREAM_UPSTREAM)

    def close_downstream(self) -> None:
        hc.close_stream(_STREAM_DOWNSTREAM)

    def close_upstream(self) -> None:
        hc.close_stream(_STREAM_UPSTREAM)


# MicroPython calls no __init_subclass__, and its super() follows the bases of the class that
# defines the method rather than the instance's MRO: HttpContext/StreamContext.__init__ work out
# per class, on first use, the __init__ that super().__init__ would reach on CPython. The classes
# with none (nearly all) land in `_plain_inits`, so their streams pay one dict lookup for it.
_plain_inits: dict = {}
_next_inits: dict = {}


def _cooperative_init(context: Context, context_id: int, owner: type) -> None:
    """`owner.__init__`'s slow path: the class's first instance, or a class whose MRO has an
    __init__ between `owner` and Context (called as super().__init__ would)."""
    cls = context.__class__
    init = _next_inits[cls] if cls in _next_inits else _next_init(cls, owner)
    if init is None:
        _plain_inits[cls] = True
        context.context_id = context_id
    else:
        _next_inits[cls] = init
        init(context, context_id)


def _next_init(cls: type, owner: type):
    """The __init__ that follows `owner` in `cls`'s MRO before Context's, else None."""
    mro = _mro(cls)
    for klass in mro[mro.index(owner) + 1:mro.index(Context)]:
        if "__init__" in klass.__dict__:
            return klass.__dict__["__init__"]
    return None


def _mro(cls: type) -> list:
    """C3 linearization from `__bases__` (MicroPython has no `__mro__`)."""
    sequences = [_mro(base) for base in cls.__bases__ if base is not object]
    sequences.append([base for base in cls.__bases__ if base is not object])
    out = [cls]
    while True:
        sequences = [seq for seq in sequences if seq]
        if not sequences:
            return out
        for seq in sequences:
            head = seq[0]
            if not any(head in other[1:] for other in sequences):
                break
        else:
            raise TypeError(f"no consistent method resolution order for {cls.__name__}")
        out.append(head)
        sequences = [seq[1:] if seq[0] is head else seq for seq in sequences]


def _millis(value: float | timedelta) -> int:
    total_seconds = getattr(value, "total_seconds", None)
    if total_seconds is not None:
        return int(total_seconds() * 1000)
    return int(value * 1000)
