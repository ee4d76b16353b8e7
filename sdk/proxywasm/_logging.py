"""Python `logging` ends in `proxy_log`: a handler on the root logger."""

from __future__ import annotations

import logging

from . import _host
from .abi import LogLevel


def to_proxy_level(levelno: int) -> LogLevel:
    if levelno >= logging.CRITICAL:
        return LogLevel.CRITICAL
    if levelno >= logging.ERROR:
        return LogLevel.ERROR
    if levelno >= logging.WARNING:
        return LogLevel.WARN
    if levelno >= logging.INFO:
        return LogLevel.INFO
    if levelno >= logging.DEBUG:
        return LogLevel.DEBUG
    return LogLevel.TRACE


class ProxyLogHandler(logging.Handler):
    """Sends each record to the host's log at the matching Proxy-Wasm level."""

    def emit(self, record: logging.LogRecord) -> None:
        if not _host.forward_logging or _host.raw is None:
            return
        try:
            message = self.format(record)
            _host.raw.log(int(to_proxy_level(record.levelno)), message.encode("utf-8", "replace"))
        except Exception:  # logging must never break a callback
            pass


_handler = ProxyLogHandler()
_handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))


def install() -> None:
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)
    if _host.IN_MODULE:
        root.setLevel(logging.DEBUG)  # the host's own log level does the filtering
