"""Python `logging` ends in `proxy_log`: a handler on the root logger.

`logging` costs a module about 1 MB of snapshot heap, so the SDK never imports it: the handler
is installed as soon as the filter has imported `logging` itself (checked when the filter
registers its contexts and whenever a context is created).

On MicroPython the `logging` module is the runtime's own small one, which sends its records to
`proxy_log` itself: nothing to install.
"""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing imports re: annotations only, never at run time
if TYPE_CHECKING:
    from typing import Any

from . import _host
from .abi import _MICROPYTHON, LogLevel

#: Whether nothing is left to install: on MicroPython from the start (its `logging` forwards
#: records itself), which also spares each context creation the check for `logging`.
_installed = _MICROPYTHON


def to_proxy_level(levelno: int) -> LogLevel:
    if levelno >= 50:
        return LogLevel.CRITICAL
    if levelno >= 40:
        return LogLevel.ERROR
    if levelno >= 30:
        return LogLevel.WARN
    if levelno >= 20:
        return LogLevel.INFO
    if levelno >= 10:
        return LogLevel.DEBUG
    return LogLevel.TRACE


def _make_handler(logging: Any) -> Any:
    class ProxyLogHandler(logging.Handler):
        """Sends each record to the host's log at the matching Proxy-Wasm level."""

        def emit(self, record: Any) -> None:
            if not _host.forward_logging or _host.raw is None:
                return
            try:
                message = self.format(record)
                _host.raw.log(int(to_proxy_level(record.levelno)), message.encode("utf-8", "replace"))
            except Exception:  # logging must never break a callback
                pass

    handler = ProxyLogHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    return handler


def install_if_used() -> None:
    """Attach the handler once the filter's code has imported `logging`."""
    global _installed
    if _installed:
        return
    logging = sys.modules.get("logging")
    if logging is None:
        return
    _installed = True
    root = logging.getLogger()
    root.addHandler(_make_handler(logging))
    if _host.IN_MODULE:
        root.setLevel(logging.DEBUG)  # the host's own log level does the filtering
