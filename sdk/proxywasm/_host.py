"""The one narrow seam between the SDK and its host: the raw-hostcall interface.

Inside a compiled module `raw` is the builtin C extension `_proxywasm_host` (generated from
`proxywasm.abi`); under the emulator `proxywasm.testing` installs its own implementation.
See docs/architecture.md for the calling convention.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing imports re: annotations only, never at run time
if TYPE_CHECKING:
    from typing import Any

try:  # inside a Proxy-Wasm module
    import _proxywasm_host as raw  # type: ignore[import-not-found]

    IN_MODULE = True
except ImportError:  # imported by CPython on a developer machine
    raw: Any = None  # type: ignore[no-redef]
    IN_MODULE = False


def install(implementation: Any) -> None:
    """Point the SDK at a host implementation (used by the emulator)."""
    global raw
    raw = implementation

#: Whether `raw`'s bytes arguments also take a str (as its UTF-8 encoding): true for the
#: module's C functions, so per-request methods skip encoding in Python; the emulator's
#: implementation takes bytes only.
raw_takes_str: bool = IN_MODULE

#: Python `logging` records reach `proxy_log` only while this is true: always inside a
#: module; under the emulator, only while it runs the filter's code.
forward_logging: bool = IN_MODULE
