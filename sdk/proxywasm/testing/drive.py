"""Driving one callback of one filter at a time, as the Go SDK's `proxytest` and the Rust
test framework do: `call_on_request_headers(headers)` runs that filter's callback and returns
the `Action` it chose, without a whole request around it.

The callbacks still happen on a real emulated stream (one filter, then the upstream or the
client), so every hostcall answers as Envoy would and what the filter asks for afterwards
(resume, local reply) happens as in Envoy. A call Envoy would never make at that point (a
body after the headers paused everything, a response before the request reached the
upstream, anything after the end) is an `EmulatorError` that says why.
"""

from __future__ import annotations

from typing import Any, Optional, Union

from ..abi import Action, PeerType
from .emulator import CallbackAction, Emulator, EmulatorError, HttpStream, Plugin, TcpConnection
from .headers import HeadersLike
from .stream_views import StreamViews

ActionValue = Union[Action, int]


def _as_bytes(data: Union[bytes, str]) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


def choose_plugin(emulator: Emulator, plugin: Union[Plugin, int, None]) -> Plugin:
    """The plugin a driver runs: the given one, the one at that index, or the first."""
    plugins = emulator.plugins
    if not plugins:
        raise EmulatorError("no plugin is running: the host was closed")
    if isinstance(plugin, Plugin):
        if plugin not in plugins:
            raise EmulatorError(f"plugin {plugin.name!r} is not running in this host")
        return plugin
    index = plugin or 0
    if not 0 <= index < len(plugins):
        raise EmulatorError(f"there is no plugin {index}: this host runs {len(plugins)}")
    return plugins[index]


def _action_since(actions: list[CallbackAction], mark: int, callback: str) -> ActionValue:
    """What the callback returned in the step that started at `mark` (its last call there:
    the one that saw everything delivered in that step)."""
    for record in reversed(actions[mark:]):
        if record.callback == callback:
            return record.action
    raise EmulatorError(f"Envoy did not call {callback} at this point")


class HttpContextDriver(StreamViews):
    """One HTTP context of one plugin, driven one callback at a time.

    >>> ctx = host.http_context()
    >>> ctx.call_on_request_headers({":path": "/", "key": "value"})
    <Action.CONTINUE: 0>
    >>> ctx.current_request_headers["x-added"]
    'by the filter'
    >>> ctx.complete()                      # on_log, on_done, on_delete

    Each `call_on_*` returns what the callback returned. After CONTINUE what the filter let
    through goes on (to the upstream, or to the client) and no other filter runs. Read the
    maps with `current_request_headers` ... `current_response_body`, the returned actions
    with `actions` / `last_action`, a local reply with `local_response`.
    """

    _VIEWS = frozenset({"actions", "filters", "request_headers", "response_headers",
                        "request_trailers", "response_trailers", "upstream_body",
                        "downstream_body", "local_reply", "response", "upstream_request",
                        "finished", "request_paused_at", "response_paused_at"})

    def __init__(self, emulator: Emulator, plugin: Plugin) -> None:
        self.stream = HttpStream(emulator, [plugin])
        self.stream.framing = False  # call_on_request_body(data, True) is one call, as asked
        self.plugin = plugin
        self.context_id = self.stream.filters[0].context_id

    def __getattr__(self, name: str) -> Any:
        if name in HttpContextDriver._VIEWS:
            return getattr(self.stream, name)
        raise AttributeError(name)

    # --- request ---------------------------------------------------------------------------
    def call_on_request_headers(self, headers: HeadersLike,
                                end_of_stream: bool = False) -> ActionValue:
        """`on_http_request_headers(len(headers), end_of_stream)` with these request headers."""
        self._open("the request headers")
        if self.stream.request_headers is not None:
            raise EmulatorError("the request headers were already sent on this context")
        mark = len(self.stream.actions)
        self.stream.send_request_headers(headers, end_of_stream)
        return _action_since(self.stream.actions, mark, "on_http_request_headers")

    def call_on_request_body(self, data: Union[bytes, str],
                             end_of_stream: bool = False) -> ActionValue:
        """`on_http_request_body` with `data` appended to what the filter holds."""
        self._request_open("request body")
        mark = len(self.stream.actions)
        self.stream.send_request_body(_as_bytes(data), end_of_stream)
        return _action_since(self.stream.actions, mark, "on_http_request_body")

    def call_on_request_trailers(self, trailers: HeadersLike) -> ActionValue:
        """`on_http_request_trailers`: the end of the request."""
        self._request_open("request trailers")
        mark = len(self.stream.actions)
        self.stream.send_request_trailers(trailers)
        return _action_since(self.stream.actions, mark, "on_http_request_trailers")

    # --- response --------------------------------------------------------------------------
    def call_on_response_headers(self, headers: HeadersLike,
                                 end_of_stream: bool = False) -> ActionValue:
        """`on_http_response_headers` with the upstream's headers (they need a `:status`)."""
        self._open("response headers")
        stream = self.stream
        if stream.local_reply:
            raise EmulatorError("the filter answered with a local reply: no upstream response "
                                "reaches it any more")
        if stream.upstream_headers is None:
            raise EmulatorError("the request headers have not reached the upstream (the filter "
                                "holds them), so Envoy has no response to give it")
        if stream.response_headers is not None:
            raise EmulatorError("the response headers were already sent on this context")
        mark = len(stream.actions)
        stream.send_response_headers(headers, end_of_stream)
        return _action_since(stream.actions, mark, "on_http_response_headers")

    def call_on_response_body(self, data: Union[bytes, str],
                              end_of_stream: bool = False) -> ActionValue:
        """`on_http_response_body` with `data` appended to what the filter holds."""
        self._response_open("response body")
        mark = len(self.stream.actions)
        self.stream.send_response_body(_as_bytes(data), end_of_stream)
        return _action_since(self.stream.actions, mark, "on_http_response_body")

    def call_on_response_trailers(self, trailers: HeadersLike) -> ActionValue:
        """`on_http_response_trailers`: the end of the response."""
        self._response_open("response trailers")
        mark = len(self.stream.actions)
        self.stream.send_response_trailers(trailers)
        return _action_since(self.stream.actions, mark, "on_http_response_trailers")

    def complete(self) -> None:
        """End the context as Envoy ends a stream: on_log, on_done, on_delete."""
        self.stream.complete()

    # --- what Envoy allows when ------------------------------------------------------------
    def _open(self, what: str) -> None:
        if self.stream.finished:
            raise EmulatorError(f"this context is complete: Envoy delivers no {what} any more")

    def _request_open(self, what: str) -> None:
        self._open(what)
        stream, state = self.stream, self.stream.filters[0].req
        if stream.request_headers is None:
            raise EmulatorError(f"send the request headers (call_on_request_headers) before the {what}")
        if stream.request_aborted:
            raise EmulatorError(f"the filter answered with a local reply: Envoy delivers no "
                                f"{what} to it any more")
        if state.eos:
            raise EmulatorError(f"the request already ended: Envoy delivers no {what} after the "
                                f"end of stream")
        self._not_held(state, "request", what)

    def _response_open(self, what: str) -> None:
        self._open(what)
        state = self.stream.filters[0].resp
        if self.stream.response_headers is None or not state.headers_arrived:
            raise EmulatorError(f"send the response headers (call_on_response_headers) before the {what}")
        if state.eos:
            raise EmulatorError(f"the response already ended: Envoy delivers no {what} after the "
                                f"end of stream")
        self._not_held(state, "response", what)

    @staticmethod
    def _not_held(state: Any, way: str, what: str) -> None:
        if state.stopped_all:
            raise EmulatorError(
                f"the filter paused in on_http_{way}_headers: Envoy holds the {what} without "
                f"calling the filter until it resumes (host.http_stream() shows that whole)")


class TcpContextDriver:
    """One TCP context (network filter) of one plugin, driven one callback at a time.

    Creating it opens the connection, which calls `on_new_connection` (its action is
    `new_connection_action`); `call_on_downstream_data` / `call_on_upstream_data` return what
    those callbacks returned; `close()` ends the connection (close callbacks, on_log,
    on_done, on_delete). `to_upstream` / `to_downstream` hold what the filter let through.
    """

    def __init__(self, emulator: Emulator, plugin: Plugin) -> None:
        self.connection = TcpConnection(emulator, [plugin])
        self.plugin = plugin
        self.context_id = self.connection.filters[0].context_id

    @property
    def actions(self) -> list[CallbackAction]:
        return self.connection.actions

    @property
    def last_action(self) -> Optional[ActionValue]:
        return self.actions[-1].action if self.actions else None

    @property
    def new_connection_action(self) -> Optional[ActionValue]:
        """What `on_new_connection` returned (None if the connection closed before it)."""
        return next((a.action for a in self.actions if a.callback == "on_new_connection"), None)

    @property
    def to_upstream(self) -> bytes:
        return bytes(self.connection.to_upstream)

    @property
    def to_downstream(self) -> bytes:
        return bytes(self.connection.to_downstream)

    @property
    def closed(self) -> bool:
        return self.connection.closed

    def call_on_downstream_data(self, data: Union[bytes, str],
                                end_of_stream: bool = False) -> ActionValue:
        """`on_downstream_data` with what the client wrote (after what the filter holds)."""
        self._open("downstream data")
        mark = len(self.actions)
        self.connection.send_downstream(_as_bytes(data), end_of_stream)
        return _action_since(self.actions, mark, "on_downstream_data")

    def call_on_upstream_data(self, data: Union[bytes, str],
                              end_of_stream: bool = False) -> ActionValue:
        """`on_upstream_data` with what the upstream wrote back."""
        self._open("upstream data")
        mark = len(self.actions)
        self.connection.send_upstream(_as_bytes(data), end_of_stream)
        return _action_since(self.actions, mark, "on_upstream_data")

    def close(self, peer: PeerType = PeerType.LOCAL, side: str = "downstream") -> None:
        """Close from `side`, as `TcpConnection.close` does."""
        self.connection.close(peer, side)

    def _open(self, what: str) -> None:
        if self.connection.closed:
            raise EmulatorError(f"the connection is closed: Envoy delivers no {what} any more")
