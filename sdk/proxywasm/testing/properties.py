"""The property hostcalls: Envoy's attributes, the plugin's and the user's properties, and the
filter state a filter sets."""

from __future__ import annotations

import struct
from typing import Optional

from ..abi import serialize_map
from .foreign_functions import FilterStateObject
from .http_stream import HttpStream, _map_get
from .records import NOT_FOUND, OK, SERIALIZATION_FAILURE
from .tcp_connection import TcpConnection


class PropertiesMixin:
    """The Emulator's get_property and set_property, and the attributes they read."""

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
