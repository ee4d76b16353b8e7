"""Generate the C of `_proxywasm_host` and the callback exports from the ABI tables.

The same Python-level contract as the CPython runtime's bridge (backends/cpython/bridge.py, whose
hostcall and callback views this reuses): one function per hostcall named `Hostcall.raw_name`,
int/bytes arguments, the status or (status, *outputs) back; the callbacks that
proxywasm.dispatcher's ANSWERED_IN_C, CALLED_DIRECTLY and CONTEXT_CREATE_FUNCTION name are
answered without the dispatcher where they allow. Nothing here lists a hostcall by hand.
"""

from __future__ import annotations

import jinja2
from proxywasm import abi

from proxywasm_build.backends.cpython.bridge import _callback_view as callback_view
from proxywasm_build.backends.cpython.bridge import _hostcall_view as hostcall_view
from proxywasm_build.resources import toolchains_dir


def dispatched_callbacks(version: abi.AbiVersion = abi.LATEST) -> list[abi.Callback]:
    """The callbacks that call into Python (proxy_on_memory_allocate is malloc, in C)."""
    return [c for c in version.callbacks.values() if c.name != "proxy_on_memory_allocate"]


def generate_host_module(version: abi.AbiVersion = abi.LATEST) -> str:
    """C source of `_proxywasm_host`, the callback exports and the ABI marker for `version`."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(toolchains_dir() / "micropython")),
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    template = env.get_template("host_module.c.j2")
    hostcalls = [hostcall_view(h) for h in version.hostcalls.values()]
    callbacks = [callback_view(c) for c in dispatched_callbacks(version)]
    return template.render(abi=version, hostcalls=hostcalls, callbacks=callbacks)
