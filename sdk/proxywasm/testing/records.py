"""What the emulator hands to tests and takes from them: its errors, log records, callback
actions, requests, responses and callouts; the hostcall status codes it answers with; and the
helpers that turn test values into bytes and header pairs."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional, Union

from ..abi import Action, Status
from .headers import Headers

if TYPE_CHECKING:
    from ..abi import LogLevel
    from .headers import HeadersLike


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


def _enum_name(enum: Any, value: int) -> str:
    try:
        return enum(value).name
    except ValueError:
        return str(value)
