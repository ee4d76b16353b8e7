"""`Host`: the public face of the emulated Envoy, for `.py` filters and `.wasm` modules alike."""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import logging
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, Union

from .. import _host, dispatcher
from ..abi import LogLevel, MetricType, PeerType
from .clock import builtins_importing, emulated_time
from .emulator import (
    Emulator,
    EmulatorError,
    FilterLoadError,
    GrpcCall,
    HttpCall,
    HttpResponse,
    HttpStream,
    LogRecord,
    Plugin,
    TcpConnection,
    UpstreamRequest,
    VM,
    _encode_property,
)
from .drive import HttpContextDriver, TcpContextDriver, choose_plugin
from .headers import Headers, HeadersLike
from .listener import HTTP1, Listener, RequestId, check_protocol
from .metrics import MetricValues
from .sandbox import FilterRefused, RefusingHost, check_sources, filter_files, registration_refusal

Body = Union[bytes, str, Sequence[bytes], None]
Upstream = Union[tuple, Callable[[UpstreamRequest], tuple], None]

_module_counter = itertools.count(1)
#: How many ticks `http_request` lets pass for a stream only a tick can resume.
_MOST_TICKS_WAITED = 1000


def _as_bytes(value: Union[bytes, str, None]) -> bytes:
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else bytes(value)


class PythonModule:
    """A `.py` filter imported into this process, with its own SDK state (VM)."""

    def __init__(self, path: Path, emulator: Emulator) -> None:
        self.path = path
        self.emulator = emulator
        self.vm = dispatcher.VM()
        self._functions: dict[str, Callable[..., Any]] = {}
        self.module = self._import()

    def _import(self) -> Any:
        path = self.path
        if path.is_dir():
            init, single = path / "__init__.py", path / "filter.py"
            if single.exists():  # as `proxywasm build DIR` does: filter.py first
                target, search_dir, is_package = single, path, False
            elif init.exists():
                target, search_dir, is_package = init, path.parent, True
            else:
                raise FilterLoadError(f"{path} is a directory with neither __init__.py nor filter.py")
        else:
            target, search_dir, is_package = path, path.parent, False
        search_dir = search_dir.resolve()  # a relative entry would follow later chdir()s
        # what `proxywasm build` refuses, refused here first, with the same sentence
        check_sources(filter_files(path), search_dir)
        if str(search_dir) not in sys.path:
            sys.path.insert(0, str(search_dir))
        name = path.name if is_package else f"_proxywasm_filter_{next(_module_counter)}_{target.stem}"
        spec = importlib.util.spec_from_file_location(
            name, target, submodule_search_locations=[str(path)] if is_package else None)
        if spec is None or spec.loader is None:
            raise FilterLoadError(f"cannot import {target}")
        module = importlib.util.module_from_spec(spec)
        # the filter's `import time` reads the emulated clock, as a compiled module's does
        module.__builtins__ = builtins_importing(emulated_time(self.emulator))
        sys.modules[name] = module
        em = self.emulator
        previous_vm = dispatcher.current_vm()
        dispatcher.activate(self.vm)
        _host.install(RefusingHost())  # Envoy refuses every hostcall during _initialize
        _host.forward_logging = True
        em.initializing = True
        try:
            spec.loader.exec_module(module)
        except SyntaxError as err:
            where = f"{err.filename or target}:{err.lineno}"
            raise FilterLoadError(f"{where}: syntax error: {err.msg}") from None
        except FilterLoadError:
            raise
        except BaseException as err:  # the filter's import failed: say where
            refusal = registration_refusal(err)
            if refusal:
                raise FilterRefused(refusal) from None
            frames = [f for f in traceback.extract_tb(err.__traceback__)
                      if not f.filename.startswith(str(Path(__file__).parent.parent))]
            where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
            raise FilterLoadError(
                f"importing {target} raised {type(err).__name__}: {err}{where}") from None
        finally:
            em.initializing = False
            _host.forward_logging = False
            _host.install(em)
            dispatcher.activate(previous_vm)
        if self.vm.root_factory is None:
            raise FilterLoadError(
                f"{target} never calls proxywasm.set_root_context(...); register your RootContext "
                f"subclass at module level")
        return module

    def call(self, name: str, context_id: int, *args: int) -> Optional[int]:
        fn = self._functions.get(name)
        if fn is None:
            fn = self._functions[name] = getattr(dispatcher, name)
        dispatcher._vm = self.vm
        _host.raw = self.emulator
        _host.forward_logging = True
        try:
            return fn(context_id, *args)
        except MemoryError as exhausted:
            raise _vm_failure(self.path, name, exhausted) from None
        finally:
            _host.forward_logging = False


def _vm_failure(path: Path, callback: str, exhausted: MemoryError) -> Exception:
    """What a compiled module does when the filter runs out of memory: the dispatcher lets the
    MemoryError escape and the module traps, so the VM fails (Envoy's FAIL_RELOAD policy then
    starts a fresh one). Here that is a `ModuleTrap` from the call, as on the wasm host."""
    from .wasm import ModuleTrap

    return ModuleTrap(f"{path}: {callback} failed the VM: the filter ran out of memory "
                      f"(MemoryError: {exhausted}); Envoy fails the VM and, with the failure "
                      f"policy fail-reload, starts a fresh one")


class Host:
    """An emulated Envoy with one filter loaded: the same API for `.py` and `.wasm`.

    >>> host = Host.load("filter.py", plugin_config=b'{"header": "x-deny"}')
    >>> r = host.http_request({":method": "GET", ":path": "/", ":authority": "a", "x-deny": "1"})
    >>> r.status
    403
    """

    def __init__(self, emulator: Emulator, module: Any, path: Path) -> None:
        self.emulator = emulator
        self.module = module
        self.path = path
        #: How `add_plugin` turns a path into the module it loads; a host that runs compiled
        #: modules (the "wasm" test host) sets it to build `.py` filters.
        self.prepare_module: Callable[[Path], Path] = lambda source: source
        self._module_limits: dict[str, Any] = {}

    # --- loading ----------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Union[str, Path], *, plugin_config: Union[bytes, str] = b"",
             vm_config: Union[bytes, str] = b"", properties: Optional[dict] = None,
             root_id: str = "", vm_id: str = "", strict: bool = False,
             log_level: LogLevel = LogLevel.TRACE, clusters: Iterable[str] = (),
             fuel: Optional[int] = None, max_memory_bytes: Optional[int] = None,
             protocol: str = HTTP1, upstream_protocol: str = HTTP1, request_id: RequestId = None,
             envoy_headers: bool = True) -> "Host":
        """Load a `.py` filter (imported in-process) or any `.wasm` Proxy-Wasm module (wasmtime),
        start its VM and configure one plugin.

        `strict=True` turns hostcalls Envoy would refuse, and unknown properties, into a
        `StrictModeError`. `clusters` names the upstream clusters callouts may target.
        `fuel` and `max_memory_bytes` limit a `.wasm` module.

        The listener, as Envoy's: `protocol` is the client's, "HTTP/1.1" (default) or "HTTP/2"
        (body framing, header order, `request.protocol`); `upstream_protocol` the upstream's
        (response body framing). Envoy adds `:scheme`, `x-forwarded-proto` and `x-request-id`
        to each request the client sent without them; `request_id` fixes the generated id (a
        string, or a function called per request), `envoy_headers=False` adds none of them.
        """
        path = Path(path)
        listener = _listener(protocol, upstream_protocol, request_id, envoy_headers)
        emulator = Emulator(vm_config=_as_bytes(vm_config), vm_id=vm_id, properties=properties,
                            strict=strict, log_level=log_level)
        emulator.listener = listener
        emulator.clusters.update(clusters)
        limits = {"fuel": fuel, "max_memory_bytes": max_memory_bytes}
        vm = emulator.vms[0]
        vm.code = _code_identity(path)
        module = _start_module(path, emulator, vm, limits)
        host = cls(emulator, module, path)
        host._module_limits = limits
        emulator.start_plugin(root_id=root_id, plugin_config=_as_bytes(plugin_config), vm=vm)
        return host

    def add_plugin(self, path: Union[str, Path, None] = None, *, vm_id: Optional[str] = None,
                   root_id: str = "", plugin_config: Union[bytes, str] = b"", name: str = "",
                   vm_config: Union[bytes, str, None] = None) -> Plugin:
        """Configure another plugin; it joins the filter chain after the existing ones, as a
        second `envoy.filters.http.wasm` entry would.

        As in Envoy, the plugin runs in an existing VM when its `vm_id`, VM configuration and
        module all match that VM's (left out, they are the first plugin's), else in a VM of
        its own: a fresh import of a `.py` filter (its module globals are its own) or a new
        wasmtime instance, with its own context ids. Shared data and queues are the Envoy's:
        VMs with the same `vm_id` share shared data; any VM reaches another's queue with
        `resolve_shared_queue(vm_id, name)`.
        """
        first = self.emulator.vms[0]
        source = self.path if path is None else self.prepare_module(Path(path))
        vm, is_new = self.emulator.vm_for(
            first.vm_id if vm_id is None else vm_id,
            first.vm_config if vm_config is None else _as_bytes(vm_config),
            _code_identity(source))
        if is_new:
            try:
                _start_module(source, self.emulator, vm, self._module_limits)
            except BaseException:
                self.emulator.vms.remove(vm)  # nothing half-made stays behind
                raise
        return self.emulator.start_plugin(root_id=root_id, plugin_config=_as_bytes(plugin_config),
                                          name=name, vm=vm)

    @property
    def plugins(self) -> list[Plugin]:
        return list(self.emulator.plugins)

    def close(self) -> None:
        """Shut the plugins down: on_done and on_delete for each root context."""
        self.emulator.shutdown()

    # --- HTTP ----------------------------------------------------------------------------------
    def http_stream(self) -> HttpStream:
        """A new stream to drive step by step (see `HttpStream`)."""
        stream = HttpStream(self.emulator)
        self.emulator._after_operation()
        return stream

    def http_request(self, headers: HeadersLike, body: Body = b"", *, trailers: HeadersLike = None,
                     upstream: Upstream = (200, {}, b""),
                     response_chunks: Optional[int] = None) -> HttpResponse:
        """Drive one whole HTTP stream through the filter chain as Envoy would and return what
        the downstream client saw.

        `body` is bytes or a list of chunks (each one `on_http_request_body` call; on HTTP/1.1
        the end of stream then comes in a call of its own, as Envoy makes it).
        `upstream` is `(status, headers, body[, trailers])`, or a function of the
        `UpstreamRequest` returning one; its body is delivered in `response_chunks` chunks.
        Pending callouts with a responder (`on_http_call`, `on_grpc_call`) are answered as
        soon as they are made. A stream that only a tick can resume (paused, nothing pending)
        waits for it as in Envoy: the emulated clock moves to each next tick until it resumes.
        """
        em = self.emulator
        stream = HttpStream(em)
        chunks = _chunks(body)
        trailer_pairs = None if trailers is None else Headers(trailers)
        stream.send_request_headers(headers, end_of_stream=not chunks and trailer_pairs is None)
        em.settle()
        for i, chunk in enumerate(chunks):
            if stream.request_aborted or stream.finished:
                break
            last = i == len(chunks) - 1
            stream.send_request_body(chunk, end_of_stream=last and trailer_pairs is None)
            em.settle()
        if trailer_pairs is not None and not stream.request_aborted and not stream.finished:
            stream.send_request_trailers(trailer_pairs)
            em.settle()
        if not stream.finished and stream.downstream_headers is None:
            self._wait_for_ticks(lambda: stream.upstream_complete or stream.finished
                                 or stream.downstream_headers is not None)
        if not stream.finished and stream.downstream_headers is None:
            if not stream.upstream_complete:
                raise EmulatorError(_paused_message(stream, em, "request"))
            answer = upstream(stream.upstream_request) if callable(upstream) else upstream
            status, resp_headers, resp_body, *rest = answer
            resp_trailers = rest[0] if rest else None
            pairs = [(":status", str(status))] + list(Headers(resp_headers).items())
            body_chunks = _split(_as_bytes(resp_body), response_chunks)
            stream.send_response_headers(pairs, end_of_stream=not body_chunks and resp_trailers is None)
            em.settle()
            for i, chunk in enumerate(body_chunks):
                last = i == len(body_chunks) - 1
                stream.send_response_body(chunk, end_of_stream=last and resp_trailers is None)
                em.settle()
            if resp_trailers is not None:
                stream.send_response_trailers(resp_trailers)
                em.settle()
        self._wait_for_ticks(lambda: stream.finished)
        if not stream.finished:
            raise EmulatorError(_paused_message(stream, em, "response"))
        return stream.response

    def _wait_for_ticks(self, moved_on: Callable[[], bool]) -> None:
        """Only a tick can resume a paused stream when no callout is pending: let the emulated
        clock run to each next tick, as Envoy's real one does, until the stream moves on."""
        em = self.emulator
        for _ in range(_MOST_TICKS_WAITED):
            if moved_on() or em.http_calls or em.grpc_calls or not em.next_tick():
                return

    def http_context(self, plugin: Union[Plugin, int, None] = None) -> HttpContextDriver:
        """A new HTTP context of one plugin (default: the first) to drive one callback at a
        time: `call_on_request_headers(headers, end_of_stream=False)` returns the `Action`
        the filter returned (see `HttpContextDriver`). No other plugin takes part."""
        driver = HttpContextDriver(self.emulator, choose_plugin(self.emulator, plugin))
        self.emulator._after_operation()
        return driver

    # --- TCP -------------------------------------------------------------------------------
    def tcp_connection(self) -> TcpConnection:
        """Open a TCP connection through the plugins (network filters)."""
        return TcpConnection(self.emulator)

    def tcp_context(self, plugin: Union[Plugin, int, None] = None) -> TcpContextDriver:
        """Open a TCP connection through one plugin (default: the first) to drive one
        callback at a time: `call_on_downstream_data(data)` returns the filter's `Action`."""
        return TcpContextDriver(self.emulator, choose_plugin(self.emulator, plugin))

    # --- logs, metrics, time -----------------------------------------------------------------
    @property
    def logs(self) -> list[LogRecord]:
        """Every VM's log records; each names its `vm_id` and its context id in that VM."""
        return self.emulator.logs

    def log_messages(self, min_level: LogLevel = LogLevel.TRACE, vm_id: Optional[str] = None) -> list[str]:
        """The messages at `min_level` or above, of the VMs with `vm_id` if given."""
        return [r.message for r in self.emulator.logs
                if r.level >= min_level and (vm_id is None or r.vm_id == vm_id)]

    def clear_logs(self) -> None:
        self.emulator.logs.clear()

    @property
    def log_level(self) -> LogLevel:
        return self.emulator.log_level

    @log_level.setter
    def log_level(self, level: LogLevel) -> None:
        self.emulator.log_level = LogLevel(level)

    @property
    def metrics(self) -> MetricValues:
        """Counter and gauge values by the filter's names (histograms: their last recorded
        value). A lookup by the name Envoy's /stats shows (`"wasmcustom." + name`) works too;
        `host.metrics.envoy_names` is the whole mapping by those names."""
        out = {}
        for metric_type, name, value, *samples in self.emulator.metrics.values():
            out[name] = samples[-1] if metric_type == MetricType.HISTOGRAM and samples else value
        return MetricValues(out.items())

    def histogram(self, name: str) -> list[int]:
        for metric_type, metric_name, _value, *samples in self.emulator.metrics.values():
            if metric_name == name and metric_type == MetricType.HISTOGRAM:
                return list(samples)
        raise KeyError(name)

    def tick(self) -> None:
        """Call `on_tick` on every plugin that set a tick period (the clock stays put)."""
        self.emulator.tick()

    @property
    def tick_period_ms(self) -> int:
        """The tick period the (first) plugin set, in milliseconds; 0 when it set none.
        Each plugin's is `host.plugins[i].tick_period_ms`."""
        return self.emulator.plugins[0].tick_period_ms if self.emulator.plugins else 0

    def advance(self, seconds: float) -> None:
        """Move the emulated clock forward, firing ticks as their periods elapse."""
        self.emulator.advance(seconds)

    @property
    def now_ns(self) -> int:
        return self.emulator.now_ns

    # --- callouts --------------------------------------------------------------------------
    def on_http_call(self, cluster: str, responder: Union[tuple, Callable[[HttpCall], Any], None]) -> None:
        """Answer HTTP callouts to `cluster` automatically: `(status, headers, body[, trailers])`,
        a function of the `HttpCall` returning one, or None (the call fails)."""
        self.emulator.http_responders[cluster] = responder
        self.emulator.settle()
        self.emulator._after_operation()

    def add_cluster(self, *names: str) -> None:
        """Declare clusters callouts may target without answering them automatically."""
        self.emulator.clusters.update(names)

    @property
    def pending_http_calls(self) -> list[HttpCall]:
        return list(self.emulator.http_calls.values())

    def respond_http_call(self, call: Union[HttpCall, int], status: int = 200,
                          headers: HeadersLike = None, body: Union[bytes, str] = b"",
                          trailers: HeadersLike = None) -> None:
        token = call.token if isinstance(call, HttpCall) else call
        self.emulator.respond_http_call(token, status, headers, _as_bytes(body), trailers)
        self.emulator.settle()

    def fail_http_call(self, call: Union[HttpCall, int]) -> None:
        token = call.token if isinstance(call, HttpCall) else call
        self.emulator.fail_http_call(token)
        self.emulator.settle()

    def on_grpc_call(self, cluster: str, service: str, method: str,
                     responder: Union[bytes, tuple, Callable[[GrpcCall], Any], None]) -> None:
        """Answer unary gRPC calls automatically: the response message bytes, a tuple
        `(message, status, status_message)`, a function of the `GrpcCall`, or None (UNAVAILABLE)."""
        self.emulator.grpc_responders[(cluster, service, method)] = responder
        self.emulator.settle()
        self.emulator._after_operation()

    @property
    def pending_grpc_calls(self) -> list[GrpcCall]:
        return list(self.emulator.grpc_calls.values())

    def respond_grpc_call(self, call: Union[GrpcCall, int], message: bytes = b"", status: int = 0,
                          status_message: Union[bytes, str] = b"") -> None:
        token = call.token if isinstance(call, GrpcCall) else call
        self.emulator.respond_grpc_call(token, message, status, _as_bytes(status_message))
        self.emulator.settle()

    def grpc_stream_event(self, call: Union[GrpcCall, int], **events: Any) -> None:
        """Deliver events on an open gRPC stream: `initial_metadata=`, `message=`,
        `trailing_metadata=`, `close_status=` (with `close_message=`)."""
        token = call.token if isinstance(call, GrpcCall) else call
        self.emulator.grpc_stream_event(token, **events)

    # --- shared data, queues, foreign functions ---------------------------------------------
    @property
    def shared_data(self) -> dict[str, bytes]:
        """The shared data the first plugin's VM sees (see `shared_data_for`)."""
        return self.shared_data_for(self.emulator.vms[0].vm_id)

    def shared_data_for(self, vm_id: str) -> dict[str, bytes]:
        """The shared data of the VMs with this `vm_id`: Envoy keeps one set per `vm_id`."""
        return {key.decode("utf-8", "replace"): value
                for (owner, key), (value, _cas) in self.emulator.shared_data.items() if owner == vm_id}

    def set_shared_data(self, key: str, value: Union[bytes, str], vm_id: Optional[str] = None) -> None:
        """Store shared data as a VM with `vm_id` (default: the first plugin's) would."""
        owner = self.emulator.vms[0].vm_id if vm_id is None else vm_id
        self.emulator.store_shared_data(owner, key.encode(), _as_bytes(value))

    def queue(self, name: str, vm_id: Optional[str] = None) -> list[bytes]:
        """The items waiting in the shared queue `name` registered by a VM with `vm_id`
        (default: the first plugin's)."""
        return list(self.emulator.queues[self._queue_id(name, vm_id)])

    def enqueue(self, name: str, value: Union[bytes, str], vm_id: Optional[str] = None) -> None:
        """Put an item on a shared queue from outside, as another VM would; the owner
        gets `on_queue_ready`."""
        self.emulator.enqueue_shared_queue(self._queue_id(name, vm_id), _as_bytes(value))
        self.emulator._after_operation()

    def _queue_id(self, name: str, vm_id: Optional[str]) -> int:
        owner = self.emulator.vms[0].vm_id if vm_id is None else vm_id
        queue_id = self.emulator.queue_names.get((owner, name.encode()))
        if queue_id is None:
            raise KeyError(f"no shared queue {name!r} was registered by a VM with vm_id {owner!r}")
        return queue_id

    def register_foreign_function(self, name: str, fn: Callable[[bytes], Optional[bytes]]) -> None:
        """Make `call_foreign_function(name, args)` in the filter call `fn(args)`."""
        self.emulator.foreign_functions[name.encode()] = fn

    def call_foreign_function(self, function_id: int, arguments: Union[bytes, str] = b"",
                              plugin: Optional[Plugin] = None) -> None:
        """Call the plugin's `on_foreign_function(function_id, size)` as the host would."""
        self.emulator.call_plugin_foreign_function(plugin or self.emulator.plugins[0], function_id,
                                                   _as_bytes(arguments))

    # --- properties -----------------------------------------------------------------------
    def set_property(self, path: Union[str, Sequence[str]], value: Union[bytes, str, int, bool]) -> None:
        """Give the emulated Envoy a property from now on, for every context and stream:
        `get_property(path)` in the filter answers `value` (str and bytes as they are, int as
        Envoy's 8-byte little-endian, bool as one byte). `path` is "a.b" or ["a", "b"].
        For one stream only, use `HttpStream.set_property`. Emulator only: a running Envoy
        takes no properties from outside."""
        self.emulator.user_properties[_dotted(path)] = _encode_property(value)

    @property
    def strict(self) -> bool:
        return self.emulator.strict

    @strict.setter
    def strict(self, value: bool) -> None:
        self.emulator.strict = value


def _dotted(path: Union[str, Sequence[str]]) -> str:
    return path if isinstance(path, str) else ".".join(path)


def _code_identity(path: Path) -> tuple[str, str]:
    """What tells two modules apart, as Envoy compares code when it decides whether plugins
    share a VM: a `.wasm` by its bytes, a `.py` filter by where it is."""
    if path.suffix == ".wasm" and path.is_file():
        return "wasm", hashlib.sha256(path.read_bytes()).hexdigest()
    return "python", str(path.resolve())


def _start_module(path: Path, emulator: Emulator, vm: VM, limits: dict[str, Any]) -> Any:
    """Load `path` as `vm`'s module and run its start-up code (logs count as that VM's)."""
    if not path.exists():
        raise FilterLoadError(f"{path}: no such file")
    module: Any
    with emulator.starting(vm):
        if path.suffix == ".wasm":
            from .wasm import WasmModule

            module = WasmModule.from_file(path, emulator, **limits)
        elif path.suffix == ".py" or path.is_dir():
            _ensure_root_logger_passes_debug()
            module = PythonModule(path, emulator)
        else:
            raise FilterLoadError(f"{path}: expected a .py filter, a filter package directory or a .wasm module")
        vm.module = module
        if hasattr(module, "start"):
            module.start()
    return module


def _listener(protocol: str, upstream_protocol: str, request_id: RequestId,
              envoy_headers: bool) -> Listener:
    try:
        check_protocol(protocol)
        check_protocol(upstream_protocol, "upstream_protocol")
    except ValueError as err:
        raise EmulatorError(str(err)) from None
    return Listener(protocol, upstream_protocol, request_id, bool(envoy_headers))


def _chunks(body: Body) -> list[bytes]:
    if body is None:
        return []
    if isinstance(body, (bytes, bytearray, str)):
        data = _as_bytes(body)
        return [data] if data else []
    return [_as_bytes(c) for c in body]


def _split(data: bytes, parts: Optional[int]) -> list[bytes]:
    if not data:
        return []
    if not parts or parts <= 1:
        return [data]
    size = max(1, -(-len(data) // parts))
    return [data[i:i + size] for i in range(0, len(data), size)]


def _paused_message(stream: HttpStream, em: Emulator, direction: str) -> str:
    index = stream.request_paused_at if direction == "request" else stream.response_paused_at
    where = f"plugin {stream.filters[index].plugin.name!r}" if index is not None else "a filter"
    pending = ""
    if not em.http_calls and not em.grpc_calls:
        ticking = [p for p in em.plugins if p.tick_period_ms > 0]
        pending = (f"; {_MOST_TICKS_WAITED} ticks did not resume it" if ticking else
                   "; no tick is scheduled either (no plugin set a tick period)")
    elif em.http_calls:
        clusters = sorted({c.upstream for c in em.http_calls.values()})
        pending = (f"; HTTP callouts to {', '.join(clusters)} are pending: answer them with "
                   f"host.on_http_call(...) or host.respond_http_call(...)")
    elif em.grpc_calls:
        pending = "; gRPC calls are pending: answer them with host.on_grpc_call(...)"
    return (f"the {direction} is paused at {where} and nothing pending can resume it{pending}; "
            f"use host.http_stream() to drive a stream step by step")


def _ensure_root_logger_passes_debug() -> None:
    # The filter's `logging` records reach proxy_log through the root logger.
    root = logging.getLogger()
    if root.level > logging.DEBUG or root.level == logging.NOTSET:
        root.setLevel(logging.DEBUG)
