"""The callback budget: how long one callback may run before the runtime stops it.

Inside a compiled module a callback (one `on_*` method, with everything it calls) that runs past
its budget gets `CallbackBudgetExceeded` raised inside it, and fails as any exception does: an
HTTP stream gets the 500 local reply (or continues when `fail_open`), with the traceback in the
host's log naming the callback and the budget. The worker then serves the next request. A filter
that catches the exception and keeps running for one more budget fails its VM (a trap).

The budget is, first found: `PROXYWASM_CALLBACK_BUDGET_MS` in the VM's environment (Envoy:
`vm_config.environment_variables` of the plugin; Istio: `vmConfig.env`), what the
filter's code set with `set_callback_budget`, else the runtime's default: 100 ms on MicroPython,
none on CPython (whose check costs ~26% more instructions per request: docs/reliability.md).
0 turns it off. The emulator's in-process host runs a `.py` filter without a budget.
"""

from __future__ import annotations

try:  # MicroPython module: the VM hook counts jumps and reads the clock
    from _proxywasm_runtime import (  # type: ignore[import-not-found]
        CallbackBudgetExceeded,
        set_callback_budget_us as _set_budget_us,
    )
except ImportError:
    try:  # CPython module: a pending call checks the clock
        from _proxywasm_host import (  # type: ignore[import-not-found]
            CallbackBudgetExceeded,
            set_callback_budget_us as _set_budget_us,
        )
    except ImportError:  # the emulator, or an older module
        _set_budget_us = None

        class CallbackBudgetExceeded(BaseException):  # type: ignore[no-redef]
            """Raised inside a callback that ran past its budget. A BaseException, as
            KeyboardInterrupt is, so that `except Exception` in a filter does not swallow it."""


def set_callback_budget(milliseconds: float | None) -> None:
    """Let each callback of this filter run `milliseconds` (wall time) before
    `CallbackBudgetExceeded` is raised in it; None or 0: no budget. Call it at import, beside
    `set_root_context`. `PROXYWASM_CALLBACK_BUDGET_MS` in the VM's environment wins over it."""
    if milliseconds is None:
        milliseconds = 0
    if not isinstance(milliseconds, (int, float)) or isinstance(milliseconds, bool) or not 0 <= milliseconds <= 2_000_000:
        raise ValueError(f"set_callback_budget({milliseconds!r}): the budget is a number of "
                         "milliseconds from 0 to 2000000 (or None for no budget)")
    if _set_budget_us is not None:
        _set_budget_us(int(milliseconds * 1000))
