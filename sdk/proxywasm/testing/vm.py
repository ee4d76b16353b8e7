"""VMs, the plugins loaded in them and the contexts they number, as Envoy keeps them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Optional


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


class _ContextInfo(NamedTuple):
    kind: str  # "root" | "http" | "tcp"
    plugin: Plugin
    stream: Any  # HttpStream | TcpConnection | None
    index: int
