"""One TCP connection through the network filter chain (Envoy's TCP filter)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Union

from ..abi import PeerType
from .http_stream import _FilterState
from .records import CONTINUE, _encode_property
from .vm import _ContextInfo

if TYPE_CHECKING:
    from .emulator import Emulator
    from .foreign_functions import FilterStateObject
    from .records import CallbackAction
    from .vm import Plugin


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
