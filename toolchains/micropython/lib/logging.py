"""`logging` for the MicroPython runtime: loggers whose records go to the proxy's log.

A record reaches the host as `proxy_log(level, "name: message")` at the Proxy-Wasm level the
CPython runtime uses (DEBUG -> debug, INFO -> info, WARNING -> warn, ERROR -> error,
CRITICAL -> critical, below DEBUG -> trace). In a module the root level is DEBUG: the proxy's own
log level does the filtering. Handlers added with `addHandler` get the records too.
Left out: configuration (dictConfig/fileConfig), filters, LoggerAdapter, file handlers.
"""

import sys

try:
    import _proxywasm_host as _host
except ImportError:  # the dev interpreter or CPython: records are printed
    _host = None
try:
    from _proxywasm_runtime import time_ns as _time_ns
except ImportError:  # CPython running the shims (tests)
    from time import time_ns as _time_ns

__all__ = ["getLogger", "basicConfig", "debug", "info", "warning", "warn", "error", "exception",
           "critical", "log", "Logger", "Handler", "StreamHandler", "NullHandler", "Formatter",
           "LogRecord", "CRITICAL", "FATAL", "ERROR", "WARNING", "WARN", "INFO", "DEBUG", "NOTSET"]

#: The host does the forwarding; the SDK need not attach a handler of its own.
FORWARDS_TO_HOST = True

CRITICAL = FATAL = 50
ERROR = 40
WARNING = WARN = 30
INFO = 20
DEBUG = 10
NOTSET = 0

_LEVEL_NAMES = {CRITICAL: "CRITICAL", ERROR: "ERROR", WARNING: "WARNING", INFO: "INFO",
                DEBUG: "DEBUG", NOTSET: "NOTSET"}
_NAME_LEVELS = {"CRITICAL": CRITICAL, "FATAL": FATAL, "ERROR": ERROR, "WARNING": WARNING,
                "WARN": WARNING, "INFO": INFO, "DEBUG": DEBUG, "NOTSET": NOTSET}


def getLevelName(level):
    if isinstance(level, str):
        return _NAME_LEVELS.get(level, "Level %s" % level)
    return _LEVEL_NAMES.get(level, "Level %s" % level)


def addLevelName(level, name):
    _LEVEL_NAMES[level] = name
    _NAME_LEVELS[name] = level


def _check_level(level):
    if isinstance(level, str):
        if level not in _NAME_LEVELS:
            raise ValueError("Unknown level: %r" % level)
        return _NAME_LEVELS[level]
    return level


def to_proxy_level(levelno):
    """The Proxy-Wasm log level (trace 0 ... critical 5) for a logging level."""
    if levelno >= CRITICAL:
        return 5
    if levelno >= ERROR:
        return 4
    if levelno >= WARNING:
        return 3
    if levelno >= INFO:
        return 2
    if levelno >= DEBUG:
        return 1
    return 0


def _traceback_text(exc):
    """The traceback of `exc` as CPython's logging shows it (MicroPython: the runtime's C)."""
    try:
        from _proxywasm_runtime import format_exception
    except ImportError:  # CPython running the shims (tests)
        import traceback

        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip("\n")
    return format_exception(exc).rstrip("\n")


class LogRecord:
    """What a logging call produced: name, levelno, levelname, msg, args, exc_info."""

    def __init__(self, name, level, pathname, lineno, msg, args, exc_info, func=None, sinfo=None):
        self.name = name
        self.pathname = pathname
        self.lineno = lineno
        self.funcName = func
        self.levelno = level
        self.levelname = getLevelName(level)
        self.msg = msg
        if args and len(args) == 1 and isinstance(args[0], dict) and args[0]:
            args = args[0]
        self.args = args
        self.exc_info = exc_info
        self.exc_text = None
        self.created = _time_ns() / 1e9

    def getMessage(self):
        msg = str(self.msg)
        if self.args:
            msg = msg % self.args
        return msg


class Formatter:
    """%-style formats over the record's name, levelname, levelno, msg, args, message and created
    (no asctime, filename or lineno: the proxy's log stamps the time and place itself)."""

    def __init__(self, fmt=None, datefmt=None, style="%"):
        self._fmt = fmt or "%(message)s"

    def formatException(self, exc):
        return _traceback_text(exc)

    def format(self, record):
        record.message = record.getMessage()
        text = self._fmt % record.__dict__  # name, levelname, levelno, msg, args, message, created
        if record.exc_info:
            text = text + "\n" + self.formatException(record.exc_info)
        return text


class Handler:
    """Subclass and override `emit(record)`; `format(record)` uses the handler's formatter."""

    def __init__(self, level=NOTSET):
        self.level = _check_level(level)
        self.formatter = None

    def setLevel(self, level):
        self.level = _check_level(level)

    def setFormatter(self, formatter):
        self.formatter = formatter

    def format(self, record):
        return (self.formatter or _DEFAULT_FORMATTER).format(record)

    def handle(self, record):
        if record.levelno >= self.level:
            self.emit(record)

    def emit(self, record):
        raise NotImplementedError("emit must be implemented by Handler subclasses")

    def flush(self):
        pass

    def close(self):
        pass


class NullHandler(Handler):
    def emit(self, record):
        pass


class StreamHandler(Handler):
    """Writes formatted records to a stream (print() when none is given)."""

    def __init__(self, stream=None):
        Handler.__init__(self)
        self.stream = stream

    def emit(self, record):
        try:
            text = self.format(record)
            if self.stream is None:
                print(text)
            else:
                self.stream.write(text + "\n")
        except Exception:  # CPython's handleError: a bad record must not break the call
            pass


_DEFAULT_FORMATTER = Formatter("%(levelname)s:%(name)s:%(message)s")
_HOST_FORMATTER = Formatter("%(name)s: %(message)s")


def _to_host(record):
    text = _HOST_FORMATTER.format(record)
    if _host is not None:
        try:
            _host.log(to_proxy_level(record.levelno), text.encode())
        except Exception:  # logging must never break a callback
            pass
    else:
        print(_DEFAULT_FORMATTER.format(record))


class Logger:
    """A named logger: debug/info/warning/error/exception/critical with %-args."""

    def __init__(self, name, level=NOTSET):
        self.name = name
        self.level = _check_level(level)
        self.parent = None
        self.handlers = []
        self.propagate = True
        self.disabled = False

    def setLevel(self, level):
        self.level = _check_level(level)

    def getEffectiveLevel(self):
        logger = self
        while logger is not None:
            if logger.level:
                return logger.level
            logger = logger.parent
        return NOTSET

    def isEnabledFor(self, level):
        return not self.disabled and level >= self.getEffectiveLevel()

    def addHandler(self, handler):
        if handler not in self.handlers:
            self.handlers.append(handler)

    def removeHandler(self, handler):
        if handler in self.handlers:
            self.handlers.remove(handler)

    def hasHandlers(self):
        return True

    def getChild(self, suffix):
        return getLogger(suffix if self is root else self.name + "." + suffix)

    def log(self, level, msg, *args, exc_info=None, **kwargs):
        if not isinstance(level, int):
            raise TypeError("level must be an integer")
        if self.isEnabledFor(level):
            self._log(level, msg, args, exc_info)

    def _log(self, level, msg, args, exc_info):
        if exc_info is True or (exc_info is not None and not isinstance(exc_info, BaseException)):
            exc_info = sys.exc_info()[1]
        record = LogRecord(self.name, level, "", 0, msg, args, exc_info or None)
        _to_host(record)
        logger = self
        while logger is not None:
            for handler in logger.handlers:
                handler.handle(record)
            if not logger.propagate:
                break
            logger = logger.parent

    def debug(self, msg, *args, exc_info=None, **kwargs):
        if self.isEnabledFor(DEBUG):
            self._log(DEBUG, msg, args, exc_info)

    def info(self, msg, *args, exc_info=None, **kwargs):
        if self.isEnabledFor(INFO):
            self._log(INFO, msg, args, exc_info)

    def warning(self, msg, *args, exc_info=None, **kwargs):
        if self.isEnabledFor(WARNING):
            self._log(WARNING, msg, args, exc_info)

    warn = warning

    def error(self, msg, *args, exc_info=None, **kwargs):
        if self.isEnabledFor(ERROR):
            self._log(ERROR, msg, args, exc_info)

    def exception(self, msg, *args, exc_info=True, **kwargs):
        if self.isEnabledFor(ERROR):
            self._log(ERROR, msg, args, exc_info)

    def critical(self, msg, *args, exc_info=None, **kwargs):
        if self.isEnabledFor(CRITICAL):
            self._log(CRITICAL, msg, args, exc_info)

    fatal = critical


root = Logger("root", DEBUG if _host is not None else WARNING)
_loggers = {}


def getLogger(name=None):
    """The logger called `name` (the root logger for None), created once."""
    if not name or name == "root":
        return root
    logger = _loggers.get(name)
    if logger is None:
        logger = Logger(name)
        cut = name.rfind(".")
        logger.parent = getLogger(name[:cut]) if cut > 0 else root
        _loggers[name] = logger
    return logger


def basicConfig(**kwargs):
    """Sets the root level when given `level`; the rest does nothing (records go to the host)."""
    if "level" in kwargs:
        root.setLevel(kwargs["level"])


def disable(level=CRITICAL):
    root.disabled = level >= CRITICAL


def debug(msg, *args, **kwargs):
    root.debug(msg, *args, **kwargs)


def info(msg, *args, **kwargs):
    root.info(msg, *args, **kwargs)


def warning(msg, *args, **kwargs):
    root.warning(msg, *args, **kwargs)


warn = warning


def error(msg, *args, **kwargs):
    root.error(msg, *args, **kwargs)


def exception(msg, *args, exc_info=True, **kwargs):
    root.error(msg, *args, exc_info=exc_info, **kwargs)


def critical(msg, *args, **kwargs):
    root.critical(msg, *args, **kwargs)


fatal = critical


def log(level, msg, *args, **kwargs):
    root.log(level, msg, *args, **kwargs)
