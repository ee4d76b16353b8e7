"""The "wasm" and "envoy" test hosts: the same test API as `proxywasm.testing.Host`, other engines.

- `wasm_host(path, **kw)`: builds a `.py` filter (cached by content hash), then loads the
  module with `proxywasm.testing.Host.load`, i.e. the emulator driving the compiled module in
  wasmtime.
- `envoy_host(path, **kw)`: the compiled module in a real Envoy (`proxywasm_build.envoy.host`).

Both are registered as entry points in the group `proxywasm.hosts` so the SDK's pytest plugin
finds them without importing this package.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from proxywasm_build import cache
from proxywasm_build.errors import UserError
from proxywasm_build.resources import toolchains_dir


# -- building .py filters, cached --------------------------------------------------------------

def _source_digest(source: Path, runtime: str) -> str:
    digest = hashlib.sha256(runtime.encode() + b"\0")
    # A single file may import its neighbours, so they count too.
    folder = source if source.is_dir() else source.parent
    pattern = "*" if source.is_dir() else "*.py"
    files = sorted(p for p in (folder.rglob(pattern) if source.is_dir() else folder.glob(pattern))
                   if p.is_file() and "__pycache__" not in p.parts)
    # The module also depends on the SDK and on how it is built (bridge, freezer, recipes).
    sdk_root = Path(__import__("proxywasm").__file__).parent
    sdk_files = sorted(p for p in sdk_root.rglob("*.py") if "testing" not in p.relative_to(sdk_root).parts)
    build_root = Path(__file__).parent / "backends"
    toolchains = (toolchains_dir() / "python", toolchains_dir() / "micropython")
    build_files = sorted(p for root in (build_root, *toolchains) if root.is_dir() for p in root.rglob("*")
                         if p.is_file() and "__pycache__" not in p.parts)
    for path in files + sdk_files + build_files:
        digest.update(str(path.name).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


def test_runtime() -> str:
    """The runtime test hosts build `.py` filters with: `PROXYWASM_RUNTIME` (set by the pytest
    option `--proxywasm-runtime`), else `auto`, as `proxywasm build` picks."""
    return os.environ.get("PROXYWASM_RUNTIME", "").strip() or "auto"


def built_module(path: Path | str, runtime: str | None = None, *, optimize: bool = True) -> Path:
    """A `.wasm` for `path`: itself when it is one, else the cached build of the `.py` filter
    or package directory with `runtime` (default `test_runtime()`; rebuilt when the filter,
    the SDK or the build changes). `optimize=False` skips the optional wasm-opt pass a backend
    runs by default (MicroPython's): the same code in a bigger module, built in a fraction of
    the time, for edit-and-reload."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist.")
    if path.suffix == ".wasm":
        return path
    if path.suffix != ".py" and not path.is_dir():
        raise UserError(f"{path} is neither a .py filter, a package directory nor a .wasm module.")
    from proxywasm_build.backends import build_python

    runtime = runtime or test_runtime()
    flavour = "" if optimize else "unoptimized-"
    output = cache.cache_dir() / "built-filters" / f"{path.stem}-{runtime}-{flavour}{_source_digest(path, runtime)}.wasm"
    if output.exists():
        return output
    with cache.locked(f"build-{output.stem}"):
        if not output.exists():
            tmp = output.with_name(f".{output.name}.building")
            options = {} if optimize else {"optimize": False}
            built = Path(build_python(path, tmp, runtime=runtime, **options))
            output.parent.mkdir(parents=True, exist_ok=True)
            built.replace(output)
    return output


# -- entry-point factories (group "proxywasm.hosts") -----------------------------------------

def wasm_host(path: Path | str, **kwargs: Any):
    """The emulator driving the compiled module in wasmtime (builds a `.py` filter first)."""
    from proxywasm.testing import Host

    host = Host.load(built_module(path), **kwargs)
    host.prepare_module = built_module  # add_plugin("other.py") loads that filter's build too
    return host


def envoy_host(path: Path | str, **kwargs: Any):
    """The compiled module in a real local Envoy (builds a `.py` filter first)."""
    from proxywasm_build.envoy.host import EnvoyHost

    return EnvoyHost.load(path, **kwargs)
