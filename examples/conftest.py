"""Run the examples' tests against their compiled modules: `PROXYWASM_EXAMPLES=wasm`.

By default `Host.load(".../filter.py")` imports each filter in-process. With the environment
variable `PROXYWASM_EXAMPLES=wasm`, every example filter is built with `proxywasm build` (cached
in `~/.cache/proxywasm/built-filters`, rebuilt when the filter or the SDK changes) and the same
tests load the `.wasm`, which the emulator runs in wasmtime:

    PROXYWASM_EXAMPLES=wasm .venv/bin/python -m pytest examples -q
"""

import os
from pathlib import Path

import pytest
from proxywasm.testing import Host

EXAMPLES = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _examples_as_modules(monkeypatch):
    mode = os.environ.get("PROXYWASM_EXAMPLES", "python")
    if mode == "python":
        return
    if mode != "wasm":
        raise pytest.UsageError(f"PROXYWASM_EXAMPLES={mode!r}: use 'python' or 'wasm'")
    from proxywasm_build.hosts import built_module

    real_load = Host.load.__func__

    def load_built(cls, path, *args, **kwargs):
        path = Path(path).resolve()
        if path.name == "filter.py" and path.parent.parent == EXAMPLES:
            path = built_module(path)
        return real_load(cls, path, *args, **kwargs)

    monkeypatch.setattr(Host, "load", classmethod(load_built))
