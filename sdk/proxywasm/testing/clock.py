"""The emulated clock as a `.py` filter run in-process reads it through `import time`.

A compiled module reads WASI's `clock_time_get`, which Envoy answers with its Proxy-Wasm clock;
the emulator answers it with the emulated one (see `wasm.py`). A `.py` filter imported into this
process would read the machine's clock instead, so the filter's own file gets a `time` module
whose clocks are the emulator's: `time()`, `time_ns()`, `monotonic()`, `perf_counter()` (and
their `_ns` forms), and the calendar functions' "now". Its calendar is UTC, as inside a module.
"""

from __future__ import annotations

import builtins
import calendar
import time as _machine_time
from types import ModuleType
from typing import Any, Callable


def emulated_time(emulator: Any) -> ModuleType:
    """A `time` module whose clocks are `emulator`'s (`now_ns`, `monotonic_ns`)."""
    module = ModuleType("time", __doc__)
    module.__dict__.update((k, v) for k, v in vars(_machine_time).items() if not k.startswith("__"))

    def time_ns() -> int:
        return emulator.now_ns

    def monotonic_ns() -> int:
        return emulator.monotonic_ns

    clocks: dict[str, Callable[..., Any]] = {
        "time_ns": time_ns, "time": lambda: time_ns() / 1e9,
        "monotonic_ns": monotonic_ns, "monotonic": lambda: monotonic_ns() / 1e9,
        "perf_counter_ns": monotonic_ns, "perf_counter": lambda: monotonic_ns() / 1e9,
    }
    module.__dict__.update(clocks)

    def gmtime(secs: Any = None) -> Any:
        return _machine_time.gmtime(time_ns() / 1e9 if secs is None else secs)

    def now_if_none(t: Any) -> Any:
        return gmtime() if t is None else t

    # inside a module the time zone is UTC: localtime is gmtime
    module.__dict__.update({
        "gmtime": gmtime, "localtime": gmtime,
        "mktime": lambda t: float(calendar.timegm(t)),
        "asctime": lambda t=None: _machine_time.asctime(now_if_none(t)),
        "ctime": lambda secs=None: _machine_time.asctime(gmtime(secs)),
        "strftime": lambda fmt, t=None: _machine_time.strftime(fmt, now_if_none(t)),
        "timezone": 0, "altzone": 0, "daylight": 0, "tzname": ("UTC", "UTC"),
    })
    return module


def builtins_importing(time_module: ModuleType) -> dict[str, Any]:
    """Builtins whose `import time` (and `from time import ...`) gives `time_module`."""
    machine_import = builtins.__import__

    def __import__(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (),
                   level: int = 0) -> Any:
        if name == "time" and level == 0:
            return time_module
        return machine_import(name, globals, locals, fromlist, level)

    return {**vars(builtins), "__import__": __import__}
