"""proxywasm.testing: an emulated Envoy to unit-test filters in milliseconds.

`Host.load("filter.py")` imports a Python filter in-process; `Host.load("filter.wasm")` runs any
Proxy-Wasm module in wasmtime. Both drive the same emulated host (docs/emulator.md).
"""

from .drive import HttpContextDriver, TcpContextDriver
from .emulator import (
    CallbackAction,
    EmulatorError,
    FilterLoadError,
    GrpcCall,
    HttpCall,
    HttpResponse,
    HttpStream,
    LogRecord,
    Plugin,
    PluginStartError,
    StrictModeError,
    TcpConnection,
    UpstreamRequest,
)
from .headers import Headers
from .host import Host
from .sandbox import FilterRefused

__all__ = [
    "CallbackAction", "HttpContextDriver", "TcpContextDriver",
    "EmulatorError", "FilterLoadError", "FilterRefused", "GrpcCall", "Headers", "Host", "HttpCall", "HttpResponse",
    "HttpStream", "LogRecord", "Plugin", "PluginStartError", "StrictModeError", "TcpConnection",
    "UpstreamRequest", "ModuleTrap",
]


def __getattr__(name: str):
    if name == "ModuleTrap":
        from .wasm import ModuleTrap

        return ModuleTrap
    raise AttributeError(name)
