"""The emulated Envoy: Envoy's Proxy-Wasm semantics, owned once.

`Emulator` implements the raw-hostcall interface (docs/architecture.md) on top of a model of
Envoy's HTTP filter chain, TCP filter, timers, callouts, queues, shared data, metrics,
properties and logs. A loaded filter is reached through a *module adapter*: `PythonModule`
(a `.py` filter imported in-process) or `WasmModule` (any compiled module in wasmtime,
see `wasm.py`); both expose `call(callback_name, *ints)`.

The hostcall groups live in their own files and `Emulator` composes them: `properties.py`,
`http_hostcalls.py` (buffers, header maps, stream control), `callouts.py` and `shared_state.py`
(shared data, queues, metrics); the stream and connection it drives are in `http_stream.py` and
`tcp_connection.py`, VMs and plugins in `vm.py`, errors and results in `records.py`. Every name
they define that tests or the hosts use is importable from here too.

Envoy behaviours reproduced here are listed in docs/emulator.md with what is not emulated.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Callable, Optional

from ..abi import Action, LogLevel, StreamType
from .callouts import CalloutsMixin
from .foreign_functions import NOT_EMULATED, EnvoyForeignFunctions
from .http_hostcalls import HttpHostcallsMixin
from .http_stream import HttpStream
from .listener import Listener
from .properties import PropertiesMixin
from .records import (
    BAD_ARGUMENT,
    CAS_MISMATCH,
    CONTINUE,
    EMPTY,
    NOT_FOUND,
    OK,
    SERIALIZATION_FAILURE,
    _ACTION_CALLBACKS,
    CallbackAction,
    EmulatorError,
    FilterLoadError,
    GrpcCall,
    GrpcResponder,
    HttpCall,
    HttpResponder,
    HttpResponse,
    LogRecord,
    Pairs,
    PluginStartError,
    StrictModeError,
    UpstreamRequest,
    _bytes,
    _encode_property,
)
from .shared_state import SharedStateMixin
from .tcp_connection import TcpConnection
from .vm import VM, _ID_ARGUMENT, _LOCAL, _VM_SHIFT, Plugin, _ContextInfo

# ---------------------------------------------------------------------------
# The emulator: host state + the raw-hostcall interface


class Emulator(PropertiesMixin, HttpHostcallsMixin, CalloutsMixin, SharedStateMixin):
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


class _Starting:
    """While a module starts, hostcalls (logs) belong to the VM it starts in."""

    def __init__(self, emulator: Emulator, vm: VM) -> None:
        self.emulator, self.vm = emulator, vm

    def __enter__(self) -> None:
        self.previous = self.emulator.current
        self.emulator.current = self.vm.index << _VM_SHIFT

    def __exit__(self, *exc: object) -> None:
        self.emulator.current = self.previous

