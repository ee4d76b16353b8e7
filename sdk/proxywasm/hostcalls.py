"""Typed hostcalls: Python values in, Python values out, `HostError` for unexpected statuses.

Every function here goes through `proxywasm._host.raw`, the raw-hostcall interface. Context
methods are thin sugar over these functions, except the per-request header methods and
`send_http_response`, which call the raw interface in place (one Python call less per use).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing imports re: annotations only, never at run time
if TYPE_CHECKING:
    from typing import Iterable, Sequence, Union

from . import _host
from .abi import (
    _MICROPYTHON,
    NO_GRPC_STATUS,
    BufferType,
    LogLevel,
    MapType,
    MetricType,
    Status,
    StreamType,
    deserialize_map,
    member_name,
    serialize_map,
)

if TYPE_CHECKING:
    Text = Union[str, bytes]
    HeaderPairs = Iterable[tuple[Text, Text]]


# Plain ints for the hot paths: inside a module, `Status.OK` (an IntEnum class attribute) costs
# ~1,600 wasm instructions per lookup, a module global ~50.
_OK = int(Status.OK)
_NOT_FOUND = int(Status.NOT_FOUND)
_EMPTY = int(Status.EMPTY)
_CAS_MISMATCH = int(Status.CAS_MISMATCH)
_EMPTY_MAP = serialize_map([])


class HostError(Exception):
    """A hostcall returned a status the SDK did not expect."""

    def __init__(self, call: str, status: int) -> None:
        try:
            name = member_name(Status, status)
        except ValueError:
            name = str(status)
        super().__init__(f"{call} failed: {name}")
        self.call = call
        self.status = status


class CasMismatch(HostError):
    """`set_shared_data` lost a compare-and-swap race: read again and retry."""


def _b(value: Text) -> bytes:
    if isinstance(value, str):
        return value.encode()
    return value if isinstance(value, bytes) else bytes(value)


def _check(call: str, status: int) -> None:
    if status != 0:
        raise HostError(call, status)


def _pairs(pairs: HeaderPairs) -> bytes:
    if not pairs and isinstance(pairs, (tuple, list, dict)):
        return _EMPTY_MAP
    if isinstance(pairs, dict):
        pairs = pairs.items()
    return serialize_map([(_b(k), _b(v)) for k, v in pairs])


if _MICROPYTHON:
    # MicroPython's bytes.decode ignores `errors` and raises UnicodeError on invalid UTF-8.

    def text(data: bytes) -> str:
        """`data` as UTF-8, invalid bytes as U+FFFD (`data.decode("utf-8", "replace")`)."""
        try:
            return data.decode()
        except UnicodeError:
            return _decode_replacing(data)

    def _str_pairs(pairs: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
        return [(text(k), text(v)) for k, v in pairs]

else:

    def text(data: bytes) -> str:
        """`data` as UTF-8, invalid bytes as U+FFFD (`data.decode("utf-8", "replace")`)."""
        return data.decode("utf-8", "replace")

    def _str_pairs(pairs: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
        return [(k.decode("utf-8", "replace"), v.decode("utf-8", "replace")) for k, v in pairs]


def _decode_replacing(data: bytes) -> str:
    """CPython's "replace" decoding: each maximal invalid subpart becomes one U+FFFD."""
    out = []
    size = len(data)
    start = i = 0
    while i < size:
        lead = data[i]
        if lead < 0x80:
            i += 1
            continue
        need, low, high = 0, 0x80, 0xBF
        if 0xC2 <= lead <= 0xDF:
            need = 1
        elif 0xE0 <= lead <= 0xEF:
            need = 2
            low = 0xA0 if lead == 0xE0 else 0x80  # no overlong forms
            high = 0x9F if lead == 0xED else 0xBF  # no surrogates
        elif 0xF0 <= lead <= 0xF4:
            need = 3
            low = 0x90 if lead == 0xF0 else 0x80
            high = 0x8F if lead == 0xF4 else 0xBF  # nothing above U+10FFFF
        taken = 0
        while taken < need and i + 1 + taken < size:
            byte = data[i + 1 + taken]
            if not (low <= byte <= high if taken == 0 else 0x80 <= byte <= 0xBF):
                break
            taken += 1
        if need and taken == need:
            i += 1 + need
            continue
        out.append(data[start:i].decode())
        out.append("\ufffd")
        i += 1 + taken
        start = i
    out.append(data[start:].decode())
    return "".join(out)


# --- logging, time, ticks -------------------------------------------------------------

def log(level: int, message: Text) -> None:
    _host.raw.log(int(level), _b(message))


def get_log_level() -> LogLevel:
    status, level = _host.raw.get_log_level()
    _check("get_log_level", status)
    return LogLevel(level)


def get_current_time_nanoseconds() -> int:
    status, value = _host.raw.get_current_time_nanoseconds()
    _check("get_current_time_nanoseconds", status)
    return value


def set_tick_period_milliseconds(milliseconds: int) -> None:
    _check("set_tick_period_milliseconds", _host.raw.set_tick_period_milliseconds(int(milliseconds)))


def set_effective_context(context_id: int) -> None:
    _check("set_effective_context", _host.raw.set_effective_context(context_id))


def done() -> None:
    _check("done", _host.raw.done())


# --- buffers ----------------------------------------------------------------------------

def get_buffer(buffer_type: BufferType, start: int = 0, max_size: int = 0xFFFFFFFF) -> bytes | None:
    """Bytes of a host buffer, or None when the buffer does not exist or is empty."""
    status, data = _host.raw.get_buffer_bytes(buffer_type, start, max_size)
    if status == _OK:
        return data if data else None
    if status == _NOT_FOUND or status == _EMPTY:
        return None
    raise HostError("get_buffer_bytes", status)


def get_buffer_size(buffer_type: BufferType) -> int:
    status, size, _flags = _host.raw.get_buffer_status(int(buffer_type))
    if status == _NOT_FOUND or status == _EMPTY:
        return 0
    _check("get_buffer_status", status)
    return size


def set_buffer(buffer_type: BufferType, start: int, size: int, value: Text) -> None:
    """Replace `size` bytes at `start` with `value` (start=0, size=len(old) replaces all)."""
    if not _host.raw_takes_str:  # else the C raw functions take str as UTF-8
        value = _b(value)
    status = _host.raw.set_buffer_bytes(buffer_type, start, size, value)
    if status:
        raise HostError("set_buffer_bytes", status)


# --- header maps ------------------------------------------------------------------------

def get_map_bytes(map_type: MapType) -> list[tuple[bytes, bytes]]:
    status, data = _host.raw.get_header_map_pairs(int(map_type))
    if status == _NOT_FOUND:
        return []
    _check("get_header_map_pairs", status)
    return deserialize_map(data or b"")


def get_map(map_type: MapType) -> list[tuple[str, str]]:
    return _str_pairs(get_map_bytes(map_type))


def set_map(map_type: MapType, pairs: HeaderPairs) -> None:
    _check("set_header_map_pairs", _host.raw.set_header_map_pairs(int(map_type), _pairs(pairs)))


def get_map_size(map_type: MapType) -> int:
    status, size = _host.raw.get_header_map_size(int(map_type))
    _check("get_header_map_size", status)
    return size


# The per-request functions below pass str straight to the module's C raw functions, which
# take it as UTF-8 (`_host.raw_takes_str`): inside a module encoding in Python costs ~1,000
# wasm instructions per argument. The emulator gets bytes.

def get_map_value_bytes(map_type: MapType, key: Text) -> bytes | None:
    if not _host.raw_takes_str:  # else the C raw functions take str as UTF-8
        key = _b(key)
    status, value = _host.raw.get_header_map_value(map_type, key)
    if status == _OK:
        return value
    if status == _NOT_FOUND:
        return None
    raise HostError("get_header_map_value", status)


def get_map_value(map_type: MapType, key: Text) -> str | None:
    if not _host.raw_takes_str:  # else the C raw functions take str as UTF-8
        key = _b(key)
    status, value = _host.raw.get_header_map_value(map_type, key)
    if status == _OK:
        try:  # strict first: ~800 wasm instructions cheaper, the same text when it succeeds
            return value.decode()
        except UnicodeError:  # MicroPython has no UnicodeDecodeError
            return text(value)
    if status == _NOT_FOUND:
        return None
    raise HostError("get_header_map_value", status)


def set_map_value(map_type: MapType, key: Text, value: Text | None) -> None:
    """Replace a header's value; None removes it."""
    if value is None:
        remove_map_value(map_type, key)
        return
    if not _host.raw_takes_str:  # else the C raw functions take str as UTF-8
        key, value = _b(key), _b(value)
    status = _host.raw.replace_header_map_value(map_type, key, value)
    if status:
        raise HostError("replace_header_map_value", status)


def add_map_value(map_type: MapType, key: Text, value: Text) -> None:
    if not _host.raw_takes_str:  # else the C raw functions take str as UTF-8
        key, value = _b(key), _b(value)
    status = _host.raw.add_header_map_value(map_type, key, value)
    if status:
        raise HostError("add_header_map_value", status)


def remove_map_value(map_type: MapType, key: Text) -> None:
    if not _host.raw_takes_str:  # else the C raw functions take str as UTF-8
        key = _b(key)
    status = _host.raw.remove_header_map_value(map_type, key)
    if status != _OK and status != _NOT_FOUND:
        raise HostError("remove_header_map_value", status)


# --- stream control ---------------------------------------------------------------------

def continue_stream(stream_type: StreamType) -> None:
    status = _host.raw.continue_stream(stream_type)
    if status:
        raise HostError("continue_stream", status)


def close_stream(stream_type: StreamType) -> None:
    _check("close_stream", _host.raw.close_stream(int(stream_type)))


def send_local_response(status_code: int, headers: HeaderPairs = (), body: Text | None = None,
                        details: Text = b"", grpc_status: int = NO_GRPC_STATUS) -> None:
    if type(status_code) is not int:
        status_code = int(status_code)
    if type(grpc_status) is not int:
        grpc_status = int(grpc_status)
    if not isinstance(body, bytes):
        body = _b(body or b"")
    if not isinstance(details, bytes):
        details = _b(details)
    headers = _EMPTY_MAP if headers == () else _pairs(headers)
    status = _host.raw.send_local_response(status_code, details, body, headers, grpc_status)
    if status:
        raise HostError("send_local_response", status)


def get_status() -> tuple[int, bytes]:
    status, code, message = _host.raw.get_status()
    _check("get_status", status)
    return code, message or b""


# --- callouts ---------------------------------------------------------------------------

def dispatch_http_call(upstream: Text, headers: HeaderPairs, body: Text | None = None,
                       trailers: HeaderPairs = (), timeout_milliseconds: int = 1000) -> int:
    status, call_id = _host.raw.http_call(_b(upstream), _pairs(headers), _b(body or b""),
                                          _pairs(trailers), int(timeout_milliseconds))
    _check("http_call", status)
    return call_id


def dispatch_grpc_call(upstream: Text, service: Text, method: Text,
                       initial_metadata: HeaderPairs = (), message: Text | None = None,
                       timeout_milliseconds: int = 1000) -> int:
    status, call_id = _host.raw.grpc_call(_b(upstream), _b(service), _b(method),
                                          _pairs(initial_metadata), _b(message or b""),
                                          int(timeout_milliseconds))
    _check("grpc_call", status)
    return call_id


def open_grpc_stream(upstream: Text, service: Text, method: Text,
                     initial_metadata: HeaderPairs = ()) -> int:
    status, stream_id = _host.raw.grpc_stream(_b(upstream), _b(service), _b(method),
                                              _pairs(initial_metadata))
    _check("grpc_stream", status)
    return stream_id


def send_grpc_stream_message(stream_id: int, message: Text | None, end_of_stream: bool = False) -> None:
    _check("grpc_send", _host.raw.grpc_send(stream_id, _b(message or b""), int(end_of_stream)))


def cancel_grpc(call_id: int) -> None:
    _check("grpc_cancel", _host.raw.grpc_cancel(call_id))


def close_grpc(call_id: int) -> None:
    _check("grpc_close", _host.raw.grpc_close(call_id))


# --- shared data and queues -------------------------------------------------------------

def get_shared_data(key: Text) -> tuple[bytes | None, int | None]:
    """(value, cas) for a key, or (None, None) when it does not exist."""
    status, value, cas = _host.raw.get_shared_data(_b(key))
    if status == _NOT_FOUND:
        return None, None
    _check("get_shared_data", status)
    return value, cas


def set_shared_data(key: Text, value: Text | None, cas: int | None = None) -> None:
    """Store a value; with `cas`, only if nobody wrote since that cas (else `CasMismatch`)."""
    status = _host.raw.set_shared_data(_b(key), _b(value or b""), int(cas or 0))
    if status == _CAS_MISMATCH:
        raise CasMismatch("set_shared_data", status)
    _check("set_shared_data", status)


def register_shared_queue(name: Text) -> int:
    status, queue_id = _host.raw.register_shared_queue(_b(name))
    _check("register_shared_queue", status)
    return queue_id


def resolve_shared_queue(vm_id: Text, name: Text) -> int | None:
    status, queue_id = _host.raw.resolve_shared_queue(_b(vm_id), _b(name))
    if status == _NOT_FOUND:
        return None
    _check("resolve_shared_queue", status)
    return queue_id


def enqueue_shared_queue(queue_id: int, value: Text | None) -> None:
    _check("enqueue_shared_queue", _host.raw.enqueue_shared_queue(queue_id, _b(value or b"")))


def dequeue_shared_queue(queue_id: int) -> bytes | None:
    status, value = _host.raw.dequeue_shared_queue(queue_id)
    if status == _EMPTY:
        return None
    _check("dequeue_shared_queue", status)
    return value or b""


# --- metrics ----------------------------------------------------------------------------

def define_metric(metric_type: MetricType, name: Text) -> int:
    status, metric_id = _host.raw.define_metric(int(metric_type), _b(name))
    _check("define_metric", status)
    return metric_id


def increment_metric(metric_id: int, offset: int = 1) -> None:
    _check("increment_metric", _host.raw.increment_metric(metric_id, int(offset)))


def record_metric(metric_id: int, value: int) -> None:
    _check("record_metric", _host.raw.record_metric(metric_id, int(value)))


def get_metric(metric_id: int) -> int:
    status, value = _host.raw.get_metric(metric_id)
    _check("get_metric", status)
    return value


# --- properties and foreign functions ---------------------------------------------------

def _path(path: Text | Sequence[Text]) -> bytes:
    """A property path: "request.path", ["request", "path"] or pre-joined bytes."""
    if isinstance(path, bytes):
        return path
    if isinstance(path, str):
        parts: Sequence[Text] = path.split(".")
    else:
        parts = path
    return b"\0".join(_b(p) for p in parts)


def get_property(path: Text | Sequence[Text]) -> bytes | None:
    status, value = _host.raw.get_property(_path(path))
    if status == _OK:
        return value if value is not None else b""
    if status == _NOT_FOUND:
        return None
    raise HostError("get_property", status)


def set_property(path: Text | Sequence[Text], value: Text | None) -> None:
    _check("set_property", _host.raw.set_property(_path(path), _b(value or b"")))


def call_foreign_function(name: Text, arguments: Text | None = None) -> bytes | None:
    status, results = _host.raw.call_foreign_function(_b(name), _b(arguments or b""))
    if status == _NOT_FOUND and results is None:
        raise HostError(f"call_foreign_function({text(_b(name))})", status)
    _check("call_foreign_function", status)
    return results
