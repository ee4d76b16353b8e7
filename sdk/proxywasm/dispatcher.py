"""Host -> SDK: one function per ABI callback, routing to the author's contexts.

A compiled module's C exports call these functions with the callback's integer arguments;
the emulator calls them directly for a `.py` filter. Nothing raised by author code escapes:
it is logged with its traceback through `proxy_log`, and an HTTP stream fails closed with a
500 local reply unless the context (or its root) is `fail_open`. The one exception is
MemoryError: an exhausted interpreter cannot be trusted to serve on, so it escapes and the
module traps (the host fails the VM; Envoy's FAIL_RELOAD policy replaces it).

In a compiled module (CPython's bridge, MicroPython's reactor) the C side skips this module
where it can say what it would do: a callback whose method a context's class does not override
is answered in C (ANSWERED_IN_C), and an overridden HTTP/TCP callback goes straight to the
context's method (CALLED_DIRECTLY), with the same conversions and failure handling as the
functions here.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing imports re: annotations only, never at run time
if TYPE_CHECKING:
    from typing import Callable, Optional

import sys

from . import _logging, _traceback
from ._budget import CallbackBudgetExceeded
from . import hostcalls as hc
from .abi import _MICROPYTHON, Action, LogLevel, PeerType, StreamType
from .context import Context, HttpContext, RootContext, StreamContext

if TYPE_CHECKING:
    RootFactory = Callable[[int], RootContext]
    HttpFactory = Callable[[int, RootContext], HttpContext]
    StreamFactory = Callable[[int, RootContext], StreamContext]

#: What a callback may raise without escaping into the host: sys.exit() and a spent budget included.
_CAUGHT = (Exception, SystemExit, CallbackBudgetExceeded)

#: The type of an action a callback returns as it is (anything else goes through int()): Action
#: on CPython, where the members are Actions; int on MicroPython, where `Action.CONTINUE` is one.
_ACTION = int if _MICROPYTHON else Action

FAIL_CLOSED_STATUS = 500
FAIL_CLOSED_BODY = b"internal filter error\n"


class VM:
    """Everything the SDK remembers inside one VM: factories, live contexts, pending calls."""

    def __init__(self) -> None:
        self.root_factory: Optional[RootFactory] = None
        self.http_factory: Optional[HttpFactory] = None
        self.stream_factory: Optional[StreamFactory] = None
        self.contexts: dict[int, Context] = {}
        self.callouts: dict[int, int] = {}
        self.grpc_calls: dict[int, int] = {}
        self.grpc_streams: dict[int, int] = {}
        #: root context id -> (the root, whether its children are TCP stream contexts), filled
        #: when the root's first child is created
        self.roots: dict[int, tuple[RootContext, bool]] = {}


_vm = VM()
_modules = sys.modules


def current_vm() -> VM:
    return _vm


def activate(vm: VM) -> None:
    """Make `vm` the one callbacks go to (the emulator keeps one per loaded filter)."""
    global _vm
    _vm = vm


# --- registration (author API) --------------------------------------------------------

def set_root_context(factory: RootFactory) -> None:
    """Register the plugin's root context: `factory(context_id)` is called per plugin."""
    if not callable(factory):  # fail at registration, not at the first plugin start
        raise TypeError(f"proxywasm.set_root_context({factory!r}) needs a RootContext subclass "
                        "or a callable that returns one")
    _vm.root_factory = factory
    _logging.install_if_used()
    _work_out_masks_of_defined_classes()


def set_http_context(factory: HttpFactory) -> None:
    """Register `factory(context_id, root)` for HTTP streams (used when the root's
    `create_http_context` returns None)."""
    _vm.http_factory = factory
    _logging.install_if_used()
    _work_out_masks_of_defined_classes()


def set_stream_context(factory: StreamFactory) -> None:
    """Register `factory(context_id, root)` for TCP connections."""
    _vm.stream_factory = factory
    _logging.install_if_used()
    _work_out_masks_of_defined_classes()


def register_callout(token: int, context_id: int) -> None:
    _vm.callouts[token] = context_id


def register_grpc_call(token: int, context_id: int) -> None:
    _vm.grpc_calls[token] = context_id


def register_grpc_stream(token: int, context_id: int) -> None:
    _vm.grpc_streams[token] = context_id


# --- failure handling -------------------------------------------------------------------

def _log_exception(where: str, context_id: int, exc: BaseException | None = None) -> None:
    """Log the exception being handled (MicroPython may lack sys.exc_info: pass it as `exc`).

    A MemoryError is raised again instead: the interpreter is exhausted (a leak fills it
    request after request), so it escapes the dispatcher and the module traps. The host sees
    the VM fail and applies its failure policy (Envoy's FAIL_RELOAD starts a fresh VM).
    """
    if _is_exhausted(exc):
        raise exc if exc is not None else _handled_exception()
    text = _traceback.format_exc() if exc is None else _traceback.format_exception(exc)
    try:
        hc.log(LogLevel.ERROR, f"python exception in {where} (context {context_id}):\n{text}")
    except _CAUGHT:  # the host refused even the log line: nothing more we can do
        pass


def _handled_exception() -> BaseException | None:
    exc_info = getattr(sys, "exc_info", None)
    return exc_info()[1] if exc_info is not None else None


def _is_exhausted(exc: BaseException | None) -> bool:
    return isinstance(exc if exc is not None else _handled_exception(), MemoryError)


def _is_fail_open(ctx: Context | None) -> bool:
    if ctx is None:
        return False
    own = getattr(ctx, "fail_open", None)
    if own is not None:
        return bool(own)
    root = getattr(ctx, "root", None)
    return bool(getattr(root, "fail_open", False))


def _fail_http(ctx: Context | None, where: str, context_id: int,
               exc: BaseException | None = None) -> int:
    _log_exception(where, context_id, exc)
    if _is_fail_open(ctx):
        return Action.CONTINUE
    try:
        hc.send_local_response(FAIL_CLOSED_STATUS, [], FAIL_CLOSED_BODY, b"python_exception")
    except _CAUGHT as reply_exc:
        _log_exception(f"{where} (sending the 500 reply)", context_id, reply_exc)
    return Action.PAUSE


def _fail_tcp(ctx: Context | None, where: str, context_id: int,
              exc: BaseException | None = None) -> int:
    _log_exception(where, context_id, exc)
    if _is_fail_open(ctx):
        return Action.CONTINUE
    try:
        hc.close_stream(StreamType.DOWNSTREAM)
    except _CAUGHT:
        pass
    return Action.PAUSE


def _resume_or_fail(ctx: Context | None, where: str, context_id: int,
                    exc: BaseException | None = None) -> None:
    """An async callback (callout answer, tick) of a paused stream raised."""
    if isinstance(ctx, HttpContext):
        action = _fail_http(ctx, where, context_id, exc)
        if action == Action.CONTINUE:
            try:
                hc.continue_stream(StreamType.HTTP_REQUEST)
            except _CAUGHT:
                pass
    else:
        _log_exception(where, context_id, exc)


# --- lifecycle --------------------------------------------------------------------------

def _wants_stream_contexts(root: RootContext) -> bool:
    kind = getattr(root, "context_type", None)
    if kind is not None:
        return kind == "stream"
    cls = type(root)
    overrides_stream = cls.create_stream_context is not RootContext.create_stream_context
    overrides_http = cls.create_http_context is not RootContext.create_http_context
    if overrides_stream and not overrides_http:
        return True
    return _vm.stream_factory is not None and _vm.http_factory is None and not overrides_http


def proxy_on_context_create(context_id: int, parent_context_id: int) -> None:
    vm = _vm
    if not _logging._installed and "logging" in _modules:  # the filter started using logging
        _logging.install_if_used()
    try:
        if parent_context_id == 0:
            factory = vm.root_factory or RootContext
            vm.roots.pop(context_id, None)
            vm.contexts[context_id] = factory(context_id)
            return
        known = vm.roots.get(parent_context_id)
        if known is None:
            root = vm.contexts.get(parent_context_id)
            if not isinstance(root, RootContext):
                hc.log(LogLevel.ERROR, f"context {context_id} created under unknown root {parent_context_id}")
                return
            known = vm.roots[parent_context_id] = (root, _wants_stream_contexts(root))
        root, wants_stream = known
        if wants_stream:
            ctx = root.create_stream_context(context_id)
            if ctx is None:
                ctx = (vm.stream_factory or StreamContext)(context_id, root)
        else:
            ctx = root.create_http_context(context_id)
            if ctx is None:
                ctx = (vm.http_factory or HttpContext)(context_id, root)
        vm.contexts[context_id] = ctx
    except _CAUGHT as exc:
        _log_exception("context creation", context_id, exc)


def proxy_on_vm_start(root_context_id: int, vm_configuration_size: int) -> int:
    root = _vm.contexts.get(root_context_id)
    if not isinstance(root, RootContext):
        return 1
    try:
        return int(bool(root.on_vm_start(vm_configuration_size)))
    except _CAUGHT as exc:
        _log_exception("on_vm_start", root_context_id, exc)
        return 0


def proxy_on_configure(root_context_id: int, plugin_configuration_size: int) -> int:
    root = _vm.contexts.get(root_context_id)
    if not isinstance(root, RootContext):
        return 1
    try:
        return int(bool(root.on_configure(plugin_configuration_size)))
    except _CAUGHT as exc:
        _log_exception("on_configure", root_context_id, exc)
        return 0


def proxy_on_tick(root_context_id: int) -> None:
    root = _vm.contexts.get(root_context_id)
    if root is None:
        return
    try:
        root.on_tick()  # type: ignore[attr-defined]
    except _CAUGHT as exc:
        _log_exception("on_tick", root_context_id, exc)


def proxy_on_queue_ready(root_context_id: int, queue_id: int) -> None:
    root = _vm.contexts.get(root_context_id)
    if root is None:
        return
    try:
        root.on_queue_ready(queue_id)  # type: ignore[attr-defined]
    except _CAUGHT as exc:
        _log_exception("on_queue_ready", root_context_id, exc)


def proxy_on_foreign_function(root_context_id: int, function_id: int, arguments_size: int) -> None:
    root = _vm.contexts.get(root_context_id)
    if root is None:
        return
    try:
        root.on_foreign_function(function_id, arguments_size)  # type: ignore[attr-defined]
    except _CAUGHT as exc:
        _log_exception("on_foreign_function", root_context_id, exc)


def proxy_on_done(context_id: int) -> int:
    ctx = _vm.contexts.get(context_id)
    if ctx is None:
        return 1
    try:
        done = ctx.on_done()
        return 1 if done is True else int(bool(done))
    except _CAUGHT as exc:
        _log_exception("on_done", context_id, exc)
        return 1


def proxy_on_log(context_id: int) -> None:
    ctx = _vm.contexts.get(context_id)
    if ctx is None:
        return
    try:
        ctx.on_log()  # type: ignore[attr-defined]
    except _CAUGHT as exc:
        _log_exception("on_log", context_id, exc)


def proxy_on_delete(context_id: int) -> None:
    _vm.roots.pop(context_id, None)
    ctx = _vm.contexts.pop(context_id, None)
    if ctx is None:
        return
    try:
        ctx.on_delete()
    except _CAUGHT as exc:
        _log_exception("on_delete", context_id, exc)


# --- HTTP -------------------------------------------------------------------------------

def proxy_on_request_headers(context_id: int, num_headers: int, end_of_stream: int) -> int:
    ctx = _vm.contexts.get(context_id)
    if ctx is None:
        return Action.CONTINUE
    try:
        action = ctx.on_http_request_headers(num_headers, end_of_stream != 0)  # type: ignore[attr-defined]
        return action if type(action) is _ACTION else int(action)
    except _CAUGHT as exc:
        return _fail_http(ctx, "on_http_request_headers", context_id, exc)


def proxy_on_request_body(context_id: int, body_size: int, end_of_stream: int) -> int:
    ctx = _vm.contexts.get(context_id)
    if ctx is None:
        return Action.CONTINUE
    try:
        action = ctx.on_http_request_body(body_size, end_of_stream != 0)  # type: ignore[attr-defined]
        return action if type(action) is _ACTION else int(action)
    except _CAUGHT as exc:
        return _fail_http(ctx, "on_http_request_body", context_id, exc)


def proxy_on_request_trailers(context_id: int, num_trailers: int) -> int:
    ctx = _vm.contexts.get(context_id)
    if ctx is None:
        return Action.CONTINUE
    try:
        action = ctx.on_http_request_trailers(num_trailers)  # type: ignore[attr-defined]
        return action if type(action) is _ACTION else int(action)
    except _CAUGHT as exc:
        return _fail_http(ctx, "on_http_request_trailers", context_id, exc)


def proxy_on_response_headers(context_id: int, num_headers: int, end_of_stream: int) -> int:
    ctx = _vm.contexts.get(context_id)
    if ctx is None:
        return Action.CONTINUE
    try:
        action = ctx.on_http_response_headers(num_headers, end_of_stream != 0)  # type: ignore[attr-defined]
        return action if type(action) is _ACTION else int(action)
    except _CAUGHT as exc:
        return _fail_http(ctx, "on_http_response_headers", context_id, exc)


def proxy_on_response_body(context_id: int, body_size: int, end_of_stream: int) -> int:
    ctx = _vm.contexts.get(context_id)
    if ctx is None:
        return Action.CONTINUE
    try:
        action = ctx.on_http_response_body(body_size, end_of_stream != 0)  # type: ignore[attr-defined]
        return action if type(action) is _ACTION else int(action)
    except _CAUGHT as exc:
        return _fail_http(ctx, "on_http_response_body", context_id, exc)


def proxy_on_response_trailers(context_id: int, num_trailers: int) -> int:
    ctx = _vm.contexts.get(context_id)
    if ctx is None:
        return Action.CONTINUE
    try:
        action = ctx.on_http_response_trailers(num_trailers)  # type: ignore[attr-defined]
        return action if type(action) is _ACTION else int(action)
    except _CAUGHT as exc:
        return _fail_http(ctx, "on_http_response_trailers", context_id, exc)


def proxy_on_http_call_response(context_id: int, call_id: int, num_headers: int, body_size: int,
                                num_trailers: int) -> None:
    target = _vm.callouts.pop(call_id, context_id)
    ctx = _vm.contexts.get(target)
    if ctx is None:
        return
    try:
        if target != context_id:
            hc.set_effective_context(target)
        ctx.on_http_call_response(call_id, num_headers, body_size, num_trailers)
    except _CAUGHT as exc:
        _resume_or_fail(ctx, "on_http_call_response", target, exc)


# --- gRPC -------------------------------------------------------------------------------

def _grpc_target(call_id: int, context_id: int, table: dict[int, int], pop: bool) -> Context | None:
    target = table.pop(call_id, None) if pop else table.get(call_id)
    if target is None:
        return None
    ctx = _vm.contexts.get(target)
    if ctx is not None and target != context_id:
        hc.set_effective_context(target)
    return ctx


def proxy_on_grpc_receive_initial_metadata(context_id: int, call_id: int, num_elements: int) -> None:
    try:
        ctx = _grpc_target(call_id, context_id, _vm.grpc_streams, pop=False)
        if ctx is not None:
            ctx.on_grpc_stream_initial_metadata(call_id, num_elements)
    except _CAUGHT as exc:
        _log_exception("on_grpc_stream_initial_metadata", context_id, exc)


def proxy_on_grpc_receive(context_id: int, call_id: int, message_size: int) -> None:
    ctx: Context | None = None
    try:
        if call_id in _vm.grpc_calls:
            ctx = _grpc_target(call_id, context_id, _vm.grpc_calls, pop=True)
            if ctx is not None:
                ctx.on_grpc_call_response(call_id, 0, message_size)
        else:
            ctx = _grpc_target(call_id, context_id, _vm.grpc_streams, pop=False)
            if ctx is not None:
                ctx.on_grpc_stream_message(call_id, message_size)
    except _CAUGHT as exc:
        _resume_or_fail(ctx, "on_grpc_receive", context_id, exc)


def proxy_on_grpc_receive_trailing_metadata(context_id: int, call_id: int, num_elements: int) -> None:
    try:
        ctx = _grpc_target(call_id, context_id, _vm.grpc_streams, pop=False)
        if ctx is not None:
            ctx.on_grpc_stream_trailing_metadata(call_id, num_elements)
    except _CAUGHT as exc:
        _log_exception("on_grpc_stream_trailing_metadata", context_id, exc)


def proxy_on_grpc_close(context_id: int, call_id: int, status_code: int) -> None:
    ctx: Context | None = None
    try:
        if call_id in _vm.grpc_calls:
            ctx = _grpc_target(call_id, context_id, _vm.grpc_calls, pop=True)
            if ctx is not None:
                ctx.on_grpc_call_response(call_id, status_code, 0)
        else:
            ctx = _grpc_target(call_id, context_id, _vm.grpc_streams, pop=True)
            if ctx is not None:
                ctx.on_grpc_stream_close(call_id, status_code)
    except _CAUGHT as exc:
        _resume_or_fail(ctx, "on_grpc_close", context_id, exc)


# --- TCP --------------------------------------------------------------------------------

def proxy_on_new_connection(context_id: int) -> int:
    ctx = _vm.contexts.get(context_id)
    if ctx is None:
        return Action.CONTINUE
    try:
        action = ctx.on_new_connection()  # type: ignore[attr-defined]
        return action if type(action) is _ACTION else int(action)
    except _CAUGHT as exc:
        return _fail_tcp(ctx, "on_new_connection", context_id, exc)


def proxy_on_downstream_data(context_id: int, data_size: int, end_of_stream: int) -> int:
    ctx = _vm.contexts.get(context_id)
    if ctx is None:
        return Action.CONTINUE
    try:
        action = ctx.on_downstream_data(data_size, end_of_stream != 0)  # type: ignore[attr-defined]
        return action if type(action) is _ACTION else int(action)
    except _CAUGHT as exc:
        return _fail_tcp(ctx, "on_downstream_data", context_id, exc)


def proxy_on_upstream_data(context_id: int, data_size: int, end_of_stream: int) -> int:
    ctx = _vm.contexts.get(context_id)
    if ctx is None:
        return Action.CONTINUE
    try:
        action = ctx.on_upstream_data(data_size, end_of_stream != 0)  # type: ignore[attr-defined]
        return action if type(action) is _ACTION else int(action)
    except _CAUGHT as exc:
        return _fail_tcp(ctx, "on_upstream_data", context_id, exc)


def proxy_on_downstream_connection_close(context_id: int, peer_type: int) -> None:
    ctx = _vm.contexts.get(context_id)
    if ctx is None:
        return
    try:
        ctx.on_downstream_close(PeerType(peer_type))  # type: ignore[attr-defined]
    except _CAUGHT as exc:
        _log_exception("on_downstream_close", context_id, exc)


def proxy_on_upstream_connection_close(context_id: int, peer_type: int) -> None:
    ctx = _vm.contexts.get(context_id)
    if ctx is None:
        return
    try:
        ctx.on_upstream_close(PeerType(peer_type))  # type: ignore[attr-defined]
    except _CAUGHT as exc:
        _log_exception("on_upstream_close", context_id, exc)


# --- callbacks a compiled module answers in C ------------------------------------------
#
# Calling into Python costs thousands of wasm instructions even for a callback that does
# nothing. For these callbacks, a context whose class keeps the SDK's default method gets the
# default answer straight from the C bridge (bridge.c, generated from this table); its
# proxy_on_delete drops it from `_vm.contexts` and `_vm.roots` in C, as proxy_on_delete
# below would. Decided from the context's class when the context is created (a method
# assigned on an instance is not seen), and only while the dispatcher's own function still
# serves the callback (the bridge checks that the module's globals did not change).

#: (ABI callback, context method, the int the default method makes the callback return
#: (None: the callback returns nothing)). Bit i of a mask is entry i.
ANSWERED_IN_C: tuple[tuple[str, str, Optional[int]], ...] = (
    ("proxy_on_request_headers", "on_http_request_headers", int(Action.CONTINUE)),
    ("proxy_on_request_body", "on_http_request_body", int(Action.CONTINUE)),
    ("proxy_on_request_trailers", "on_http_request_trailers", int(Action.CONTINUE)),
    ("proxy_on_response_headers", "on_http_response_headers", int(Action.CONTINUE)),
    ("proxy_on_response_body", "on_http_response_body", int(Action.CONTINUE)),
    ("proxy_on_response_trailers", "on_http_response_trailers", int(Action.CONTINUE)),
    ("proxy_on_log", "on_log", None),
    ("proxy_on_done", "on_done", 1),
    ("proxy_on_delete", "on_delete", None),
    ("proxy_on_new_connection", "on_new_connection", int(Action.CONTINUE)),
    ("proxy_on_downstream_data", "on_downstream_data", int(Action.CONTINUE)),
    ("proxy_on_upstream_data", "on_upstream_data", int(Action.CONTINUE)),
)

#: The dispatcher functions the bridge may stand in for, in ANSWERED_IN_C order: the bridge
#: answers a callback in C only while the module's global of that name is still this object.
ANSWERED_IN_C_FUNCTIONS = tuple(globals()[name] for name, _method, _default in ANSWERED_IN_C)

#: The bridge also creates an HTTP stream's context itself once its root is in `_vm.roots`
#: (and logging needs no handler installed): root.create_http_context(context_id), else the
#: registered factory or HttpContext, stored in `_vm.contexts`, an exception logged by
#: `_log_exception("context creation", ...)`, exactly as proxy_on_context_create does, while
#: the module's proxy_on_context_create is still this function.
CONTEXT_CREATE_FUNCTION = proxy_on_context_create

#: Callbacks the bridge hands straight to the context's method, with no dispatcher frame in
#: between, for a context whose class overrides it: (ABI callback, context method, what handles
#: an exception it raises: _fail_http or _fail_tcp). Like the functions above, the method gets
#: `end_of_stream` as a bool and its result becomes an int as `int()` would make it.
CALLED_DIRECTLY: tuple[tuple[str, str, str], ...] = (
    ("proxy_on_request_headers", "on_http_request_headers", "_fail_http"),
    ("proxy_on_request_body", "on_http_request_body", "_fail_http"),
    ("proxy_on_request_trailers", "on_http_request_trailers", "_fail_http"),
    ("proxy_on_response_headers", "on_http_response_headers", "_fail_http"),
    ("proxy_on_response_body", "on_http_response_body", "_fail_http"),
    ("proxy_on_response_trailers", "on_http_response_trailers", "_fail_http"),
    ("proxy_on_new_connection", "on_new_connection", "_fail_tcp"),
    ("proxy_on_downstream_data", "on_downstream_data", "_fail_tcp"),
    ("proxy_on_upstream_data", "on_upstream_data", "_fail_tcp"),
)


def _sdk_defaults(method: str) -> tuple[object, ...]:
    """The SDK classes' own functions for `method` (what `getattr(cls, method)` gives a class
    that keeps the default: the function itself, on CPython and MicroPython alike)."""
    found: list[object] = []
    for cls in (Context, RootContext, HttpContext, StreamContext):
        function = getattr(cls, method, None)
        if function is not None and function not in found:
            found.append(function)
    return tuple(found)


_SDK_DEFAULT_METHODS = tuple(_sdk_defaults(method) for _name, method, _default in ANSWERED_IN_C)

_masks_by_class: dict[type, int] = {}


def _answered_in_c_mask(ctx: object) -> int:
    """Bit i set: the class of `ctx` keeps the SDK default of ANSWERED_IN_C[i]'s method.
    The bridge asks once per class, after the first context of that class is created."""
    return _mask_of_class(type(ctx))


def _mask_of_class(cls: type) -> int:
    mask = _masks_by_class.get(cls)
    if mask is None:
        mask = 0
        for bit, defaults in enumerate(_SDK_DEFAULT_METHODS):
            if getattr(cls, ANSWERED_IN_C[bit][1], None) in defaults:
                mask |= 1 << bit
        _masks_by_class[cls] = mask
    return mask


def _work_out_masks_of_defined_classes() -> None:
    """Masks of every context class defined so far. Registration runs at the filter's import,
    which a compiled module snapshots, so a VM does not pay ~100,000 wasm instructions per
    class (getattr's AttributeErrors for the methods a root class lacks) at its first
    contexts. A MicroPython module has no snapshot (and MicroPython no `__subclasses__`): its
    bridge asks per class, at the class's first context."""
    if _MICROPYTHON:
        return
    todo = [Context]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        _mask_of_class(cls)
