"""Format an exception the way `traceback.format_exception` does, without importing it.

The stdlib's `traceback` pulls in linecache, tokenize, re, textwrap and more: inside a
compiled filter those modules would be frozen into every module only to print an error.
This keeps the same layout (chained causes and contexts, "File ..., line N, in name", the
final "Type: message" line). Source lines are shown when `linecache` is already imported
(the emulator's in-process filters) and, in a compiled module, for the filter's own files: the
build freezes their lines beside the bytecode (`_proxywasm_sources`, read only here).

On MicroPython (no `__traceback__`, no chained exceptions) the text is what
`sys.print_exception` writes: the same "Traceback (most recent call last):", "File ..., line N,
in name" and "Type: message" lines, with the filter's source lines added.
"""

from __future__ import annotations

import sys

_MICROPYTHON = sys.implementation.name == "micropython"

_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def format_exception(exc: BaseException) -> str:
    """The text `traceback.format_exception(exc)` would join to, chains included."""
    if _MICROPYTHON:
        return _micropython_format(exc)
    chain = []
    seen = set()
    current: BaseException | None = exc
    link = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, _CONTEXT
        else:
            current = None
    parts = []
    for current, link in reversed(chain):
        parts.append(_format_one(current))
        parts.append(link)
    return "".join(parts)


def format_exc() -> str:
    """`traceback.format_exc()` for the exception being handled (on MicroPython only when the
    port has `sys.exc_info`: the dispatcher passes its exceptions to `format_exception`)."""
    exc_info = getattr(sys, "exc_info", None)
    exc = exc_info()[1] if exc_info is not None else None
    return format_exception(exc) if exc is not None else "NoneType: None\n"


def _source_line(filename: str, lineno: int) -> str:
    """Line `lineno` of the filter's own `filename`, stripped, from the table the build froze
    beside the bytecode; "" when it is not the filter's file or there is no table."""
    try:
        from _proxywasm_sources import SOURCES  # type: ignore[import-not-found]
    except ImportError:
        return ""
    text = SOURCES.get(filename)
    if text is None or lineno < 1:
        return ""
    lines = text.split("\n")
    return lines[lineno - 1] if lineno <= len(lines) else ""


def _with_source_lines(text: str) -> str:
    """MicroPython's traceback text with the source line under each `File "...", line N` line
    that names one of the filter's own files."""
    out = []
    for line in text.split("\n"):
        out.append(line)
        end = line.find('", line ') if line.startswith('  File "') else -1
        if end > 0:
            number = line[end + 8:].split(",", 1)[0]
            source = _source_line(line[8:end], int(number)) if number.isdigit() else ""
            if source:
                out.append("    " + source)
    return "\n".join(out)


def _micropython_format(exc: BaseException) -> str:
    """MicroPython's own traceback text (what `sys.print_exception` prints), as a string: from
    the runtime's C helper, else through a StringIO where the port has `sys.stdout` (without it
    print_exception ignores the stream and prints); the last line alone as a last resort."""
    try:
        from _proxywasm_runtime import format_exception as runtime_format
    except ImportError:
        runtime_format = None
    if runtime_format is not None:
        return _with_source_lines(runtime_format(exc))
    if hasattr(sys, "stdout"):
        import io

        buffer = io.StringIO()
        sys.print_exception(exc, buffer)  # type: ignore[attr-defined]
        return buffer.getvalue()
    return _exception_line(exc)


def _format_one(exc: BaseException) -> str:
    lines = []
    tb = exc.__traceback__
    if tb is not None:
        lines.append("Traceback (most recent call last):\n")
    linecache = sys.modules.get("linecache")
    while tb is not None:
        code = tb.tb_frame.f_code
        lineno = tb.tb_lineno
        lines.append(f'  File "{code.co_filename}", line {lineno}, in {code.co_name}\n')
        source = linecache.getline(code.co_filename, lineno).strip() if linecache is not None else ""
        source = source or _source_line(code.co_filename, lineno)
        if source:
            lines.append(f"    {source}\n")
        tb = tb.tb_next
    lines.append(_exception_line(exc))
    return "".join(lines)


def _exception_line(exc: BaseException) -> str:
    cls = type(exc)
    name = getattr(cls, "__qualname__", cls.__name__)
    module = getattr(cls, "__module__", "builtins")
    if module not in ("builtins", "__main__"):
        name = f"{module}.{name}"
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the error itself
        message = "<exception str() failed>"
    return f"{name}: {message}\n" if message else f"{name}\n"
