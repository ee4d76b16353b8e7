"""HTTP and gRPC callouts: the hostcalls that start them and the test's answers to them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from ..abi import MapType, deserialize_map
from .headers import Headers
from .records import NOT_FOUND, OK, EmulatorError, GrpcCall, HttpCall, _bytes, _pairs_from
from .vm import _LOCAL

if TYPE_CHECKING:
    from .headers import HeadersLike


class CalloutsMixin:
    """The Emulator's callouts: http_call and the gRPC hostcalls, and the answers a test gives."""

    # --- answers (the test's side) ---------------------------------------------------------
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
