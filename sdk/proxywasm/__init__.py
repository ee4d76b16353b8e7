"""proxywasm: write Envoy and Istio Proxy-Wasm filters in Python.

Subclass `RootContext` and `HttpContext` (or `StreamContext` for TCP), override the `on_*`
callbacks you need, and register the root with `proxywasm.set_root_context(Root)`.
Module-level code must not call the host: do host work in `on_vm_start` / `on_configure`.
"""

from __future__ import annotations

from . import _logging, hostcalls, properties
from ._budget import CallbackBudgetExceeded, set_callback_budget
from .abi import (
    Action,
    BufferType,
    GrpcStatus,
    LogLevel,
    MapType,
    MetricType,
    PeerType,
    Status,
    StreamType,
)
from .context import Context, HttpContext, RootContext, StreamContext
from .dispatcher import set_http_context, set_root_context, set_stream_context
from .hostcalls import (
    CasMismatch,
    HostError,
    call_foreign_function,
    define_metric,
    get_current_time_nanoseconds,
    get_log_level,
    get_metric,
    get_property,
    increment_metric,
    record_metric,
    set_property,
)

__version__ = "0.1.0"

__all__ = [
    "Action", "BufferType", "CallbackBudgetExceeded", "CasMismatch", "Context", "GrpcStatus",
    "HostError", "HttpContext", "LogLevel", "MapType", "MetricType", "PeerType", "RootContext",
    "Status", "StreamContext", "StreamType", "call_foreign_function", "define_metric",
    "get_current_time_nanoseconds", "get_log_level", "get_metric", "get_property", "hostcalls",
    "increment_metric", "log", "log_critical", "log_debug", "log_error", "log_info", "log_trace",
    "log_warn", "properties", "record_metric", "set_callback_budget", "set_http_context",
    "set_property", "set_root_context", "set_stream_context", "Counter", "Gauge", "Histogram",
]


def log(level: LogLevel, message: str) -> None:
    """Write to the host's log (Envoy: the `wasm` component)."""
    hostcalls.log(level, message)


def log_trace(message: str) -> None:
    hostcalls.log(LogLevel.TRACE, message)


def log_debug(message: str) -> None:
    hostcalls.log(LogLevel.DEBUG, message)


def log_info(message: str) -> None:
    hostcalls.log(LogLevel.INFO, message)


def log_warn(message: str) -> None:
    hostcalls.log(LogLevel.WARN, message)


def log_error(message: str) -> None:
    hostcalls.log(LogLevel.ERROR, message)


def log_critical(message: str) -> None:
    hostcalls.log(LogLevel.CRITICAL, message)


class _Metric:
    metric_type: MetricType

    def __init__(self, name: str) -> None:
        """Define the metric now: call from `on_vm_start`/`on_configure`, not at import."""
        self.name = name
        self.id = hostcalls.define_metric(self.metric_type, name)

    def value(self) -> int:
        return hostcalls.get_metric(self.id)


class Counter(_Metric):
    """A monotonically increasing counter (Envoy stat `wasmcustom.<name>`)."""

    metric_type = MetricType.COUNTER

    def increment(self, offset: int = 1) -> None:
        hostcalls.increment_metric(self.id, offset)


class Gauge(_Metric):
    metric_type = MetricType.GAUGE

    def set(self, value: int) -> None:
        hostcalls.record_metric(self.id, value)

    def increment(self, offset: int = 1) -> None:
        hostcalls.increment_metric(self.id, offset)


class Histogram(_Metric):
    metric_type = MetricType.HISTOGRAM

    def record(self, value: int) -> None:
        hostcalls.record_metric(self.id, value)


