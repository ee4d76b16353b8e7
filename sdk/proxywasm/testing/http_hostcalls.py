"""The hostcalls on an HTTP stream's data: buffers, header maps and stream control."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from ..abi import BufferType, MapType, PeerType, StreamType, deserialize_map, serialize_map
from .http_stream import _NO_BODY, HttpStream, _held_body, _logged_map, _map_get, _map_remove, _map_replace
from .records import BAD_ARGUMENT, NOT_FOUND, OK, _enum_name
from .tcp_connection import TcpConnection

if TYPE_CHECKING:
    from .http_stream import _Direction, _FilterState
    from .records import Pairs


class HttpHostcallsMixin:
    """The Emulator's buffer, header-map and stream-control hostcalls."""

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
