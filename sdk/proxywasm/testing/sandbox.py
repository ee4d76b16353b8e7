"""What a Proxy-Wasm module cannot do, refused with one sentence by the emulator and the build alike.

`Host.load("filter.py")` and `proxywasm build` both refuse a filter that

- imports a module the sandbox cannot serve (sockets, threads, processes, ...: `FORBIDDEN_IMPORTS`);
- imports a compiled C extension that CPython for wasm32-wasi does not carry (a third-party
  `.so`, or a host-only stdlib one such as `zlib`): only `WASM_C_MODULES` exist inside a module;
- calls the host while it is imported (a built module's snapshot answers no hostcall, and Envoy
  allows only logging during `_initialize`);
- registers something that cannot make a root context (`proxywasm.set_root_context(42)`).

Each refusal is a `FilterRefused` (a `FilterLoadError`) whose message is the sentence the build
prints. The build reads this module (the SDK never imports `proxywasm_build`): `check_sources`
for the static checks and `check_import` for what only importing the filter shows.
"""

from __future__ import annotations

import ast
import importlib.machinery
import os
import sys
from pathlib import Path
from types import FrameType, TracebackType
from typing import Iterable, Iterator, Optional, Union

from .emulator import FilterLoadError

#: Modules a filter may not import, with the reason: the sandbox has no sockets, threads,
#: processes, native libraries or display. A dotted name is refused by itself (`http.client`),
#: a plain one with its submodules.
FORBIDDEN_IMPORTS: dict[str, str] = {
    "socket": "the sandbox has no sockets; use dispatch_http_call",
    "_socket": "the sandbox has no sockets; use dispatch_http_call",
    "ssl": "the sandbox has no sockets or TLS; use dispatch_http_call",
    "select": "the sandbox has no sockets to wait on",
    "selectors": "the sandbox has no sockets to wait on",
    "threading": "the sandbox has one thread; use set_tick_period and on_tick",
    "_thread": "the sandbox has one thread; use set_tick_period and on_tick",
    "concurrent": "the sandbox has one thread and no processes",
    "subprocess": "the sandbox cannot start processes",
    "multiprocessing": "the sandbox cannot start processes",
    "asyncio": "the sandbox has no event loop; Envoy drives the filter through callbacks",
    "http.server": "the sandbox has no sockets; the filter runs inside Envoy's HTTP server",
    "http.client": "the sandbox has no sockets; use dispatch_http_call",
    "urllib.request": "the sandbox has no sockets; use dispatch_http_call",
    "socketserver": "the sandbox has no sockets",
    "smtplib": "the sandbox has no sockets",
    "ftplib": "the sandbox has no sockets",
    "ctypes": "the sandbox cannot load native libraries",
    "sqlite3": "CPython for wasm32-wasi has no sqlite3",
    "tkinter": "the sandbox has no display",
}

#: The C modules of CPython 3.11 for wasm32-wasi (the builtin table of the libpython the build
#: links, config-3.11-wasm32-wasi/config.c; a build test pins that they agree). Any other C
#: extension cannot go into a module.
WASM_C_MODULES = frozenset({
    "_abc", "_ast", "_asyncio", "_bisect", "_blake2", "_codecs", "_codecs_cn", "_codecs_hk",
    "_codecs_iso2022", "_codecs_jp", "_codecs_kr", "_codecs_tw", "_collections", "_contextvars",
    "_crypt", "_csv", "_datetime", "_decimal", "_elementtree", "_functools", "_heapq", "_imp",
    "_io", "_json", "_locale", "_lsprof", "_md5", "_multibytecodec", "_opcode", "_operator",
    "_pickle", "_queue", "_random", "_sha1", "_sha256", "_sha3", "_sha512", "_signal", "_socket",
    "_sre", "_stat", "_statistics", "_string", "_struct", "_symtable", "_testbuffer", "_testcapi",
    "_testclinic", "_testinternalcapi", "_thread", "_tokenize", "_tracemalloc", "_typing",
    "_warnings", "_weakref", "_xxtestfuzz", "_zoneinfo", "array", "atexit", "audioop", "binascii",
    "builtins", "cmath", "errno", "faulthandler", "gc", "itertools", "marshal", "math", "posix",
    "pyexpat", "select", "sys", "time", "unicodedata", "xxsubtype",
})

_SDK_DIR = Path(__file__).resolve().parent.parent
_TESTING_DIR = Path(__file__).resolve().parent
_NOT_FILTER_FILES = ("conftest.py", "setup.py", "noxfile.py")


class FilterRefused(FilterLoadError):
    """The filter does what a Proxy-Wasm module cannot; `proxywasm build` refuses it with the
    same sentence."""


# -- static checks: the filter's source ----------------------------------------------------------

def imported_names(tree: ast.Module) -> list[tuple[str, int]]:
    """Every module name a source imports (absolute imports, anywhere in it), with its line;
    `from a import b` gives both `a` and `a.b` (b may be a submodule)."""
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.module, node.lineno))
            out += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
    return out


def filter_files(path: Union[str, Path]) -> list[Path]:
    """The filter's own `.py` files: the file itself, or those of a filter directory (tests,
    conftest and setup left out), as the build checks them."""
    path = Path(path)
    if path.is_file():
        return [path]
    return [p for p in sorted(path.rglob("*.py"))
            if "__pycache__" not in p.parts and not p.name.startswith("test_")
            and not p.name.endswith("_test.py") and p.name not in _NOT_FILTER_FILES]


def check_sources(files: Iterable[Path], root: Path) -> None:
    """Refuse an import the sandbox cannot serve, or of a C extension a module cannot carry.

    `root` is the filter's import root (searched before `sys.path`). A file that does not parse
    is skipped: its syntax error is reported where it is compiled.
    """
    search = [str(root), *sys.path]
    for file in files:
        try:
            tree = ast.parse(Path(file).read_bytes(), filename=str(file))
        except (SyntaxError, ValueError, OSError):
            continue
        for name, line in imported_names(tree):
            sentence = _forbidden(name) or _c_extension(name, search)
            if sentence:
                raise FilterRefused(f"{_where(str(file), line)} imports {sentence}.")


def _forbidden(name: str) -> Optional[str]:
    for candidate in (name, name.split(".")[0]):
        if candidate in FORBIDDEN_IMPORTS:
            return f"{candidate}, which a Proxy-Wasm filter cannot use: {FORBIDDEN_IMPORTS[candidate]}"
    return None


def _c_extension(name: str, search: list[str]) -> Optional[str]:
    """Why `name` cannot go into a module when it is a C extension outside `WASM_C_MODULES`."""
    if name in WASM_C_MODULES:
        return None
    if "." not in name and name in sys.builtin_module_names:
        origin = "built into this machine's Python"
    else:
        file = _module_file(name, search)
        if file is None or not file.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            return None
        origin = Path(file).name
    return (f"{name}, a compiled C extension ({origin}) that a Proxy-Wasm module cannot carry: "
            f"CPython for wasm32-wasi has only its own C modules, so use pure Python")


def _module_file(name: str, search: list[str]) -> Optional[str]:
    """Where `name` would be imported from, found without running any package's code."""
    path: Optional[list[str]] = search
    spec = None
    parts = name.split(".")
    for i in range(len(parts)):
        if path is None:
            return None
        try:
            spec = importlib.machinery.PathFinder.find_spec(".".join(parts[:i + 1]), path)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        path = list(spec.submodule_search_locations or []) or None
    return spec.origin if spec is not None else None


# -- dynamic checks: importing the filter ---------------------------------------------------------

class RefusingHost:
    """The raw-hostcall interface while a filter is imported: every hostcall is refused, as a
    built module's snapshot answers them UNIMPLEMENTED (Envoy's `_initialize` allows only
    logging)."""

    def __getattr__(self, raw_name: str):
        if raw_name.startswith("__"):
            raise AttributeError(raw_name)

        def refuse(*args: object) -> int:
            caller = sys._getframe(1)
            raise FilterRefused(hostcall_at_import_sentence(caller, raw_name))

        return refuse


def hostcall_at_import_sentence(frame: FrameType, raw_name: str) -> str:
    """The sentence for a hostcall made from `frame` (innermost first) while the filter imports."""
    api, site = f"proxy_{raw_name}", None
    for current in _outward(frame):
        if _in_sdk(current.f_code.co_filename):
            if not _in_testing(current.f_code.co_filename):
                api = _api_name(current)
            continue
        site = current
        break
    where = _where(site.f_code.co_filename, site.f_lineno) if site else "the filter"
    return (f"{where} calls the host at import time ({api}); a module's import runs where no host "
            f"answers (the build's snapshot, Envoy's _initialize): move it into a callback such as "
            f"on_vm_start or on_configure.")


def registration_refusal(err: BaseException) -> Optional[str]:
    """The sentence for `proxywasm.set_root_context(<not a factory>)`, else None."""
    from .. import dispatcher

    if not isinstance(err, TypeError):
        return None
    frames = list(_traceback_frames(err.__traceback__))
    if not frames or frames[-1][0].f_code is not dispatcher.set_root_context.__code__:
        return None
    site = next(((f, line) for f, line in reversed(frames) if not _in_sdk(f.f_code.co_filename)), None)
    where = _where(site[0].f_code.co_filename, site[1]) if site else "the filter"
    return f"{where}: {err}."


def check_import(path: Union[str, Path]) -> None:
    """Import the filter at `path` in this process as the emulator does and raise
    `FilterRefused` for what only importing shows (hostcalls at import, a bad registration).

    Any other failure of the import is left to whoever runs it for real. This process's
    `sys.path` is left as it was, and the filter's own modules are forgotten (stdlib and
    installed modules it imported stay: dropping them would leave two copies of each).
    """
    from .emulator import Emulator
    from .host import PythonModule

    path = Path(path).resolve()
    root = path.parent
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    try:
        PythonModule(path, Emulator())
    except FilterRefused:
        raise
    except FilterLoadError:
        pass
    finally:
        sys.path[:] = saved_path
        for name in set(sys.modules) - saved_modules:
            if name.startswith("_proxywasm_filter_") or _is_filters_own(sys.modules[name], root):
                del sys.modules[name]


def _is_filters_own(module: object, root: Path) -> bool:
    file = getattr(module, "__file__", None)
    if not file:
        return False
    resolved = Path(file).resolve()
    # a virtualenv inside the project holds installed packages, not the filter's code
    return resolved.is_relative_to(root) and not {"site-packages", "dist-packages"} & set(resolved.parts)


# -- where: file:line as the user knows it --------------------------------------------------------

def _where(filename: str, line: int) -> str:
    path = Path(filename)
    try:
        shown = os.path.relpath(path.resolve(), Path.cwd())
    except ValueError:
        shown = str(path)
    if shown.startswith(".."):
        shown = str(path.resolve())
    return f"{shown}:{line}"


def _outward(frame: Optional[FrameType]) -> Iterator[FrameType]:
    while frame is not None:
        yield frame
        frame = frame.f_back


def _traceback_frames(tb: Optional[TracebackType]) -> Iterator[tuple[FrameType, int]]:
    while tb is not None:
        yield tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next


def _in_sdk(filename: str) -> bool:
    return Path(filename).resolve().is_relative_to(_SDK_DIR)


def _in_testing(filename: str) -> bool:
    return Path(filename).resolve().is_relative_to(_TESTING_DIR)


def _api_name(frame: FrameType) -> str:
    """How the author called into the SDK: `proxywasm.log`, `proxywasm.Counter`, ..."""
    module = frame.f_globals.get("__name__", "proxywasm")
    qualname = frame.f_code.co_qualname
    if qualname.endswith("__init__") and "self" in frame.f_locals:
        return f"proxywasm.{type(frame.f_locals['self']).__name__}"
    return f"{module}.{qualname}"

