"""The dev interpreter: MicroPython 1.19 as the filter runtime has it, plus the compiler, as a
WASI command run in wasmtime, to try code under the real MicroPython.

    run_micropython("import json; print(json.dumps({'a': 1}))", paths=[Path("sdk")])

It has the same patched core and configuration as the filter runtime (dicts keep insertion
order, f-strings take !r/!s), `_proxywasm_runtime`, and imports .py modules from the script's
directory, `paths`, then toolchains/micropython/lib (the stdlib shims, read as files rather than
frozen). It does not collect garbage (see port/command.c); the heap is `heap_mb` MiB.
"""

from __future__ import annotations

import atexit
import functools
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

from proxywasm_build.backends.micropython import cbuild
from proxywasm_build.resources import toolchains_dir

COMMAND_LINK_FLAGS = ("-Wl,--strip-all", "-Wl,-z,stack-size=1048576")


def command_variant() -> cbuild.Variant:
    port = cbuild.port_dir()
    return cbuild.Variant(
        name="command", config_dir=port,
        port_sources=(port / "command.c", port / "runtime_module.c", port / "c_longjmp_tag.s", cbuild.stdio_source()),
        cflags=cbuild.WASM_CFLAGS, defines=("-DPROXYWASM_MP_COMMAND=1",))


def interpreter_path() -> Path:
    """Build (or find in the cache) micropython.wasm, the dev interpreter; return its path."""
    core = cbuild.build_core(command_variant())
    module = core.directory / "micropython.wasm"
    if not module.exists():
        cbuild.link(core, [], module, COMMAND_LINK_FLAGS)
    return module


def lib_dir() -> Path:
    """The stdlib shims for MicroPython (frozen into every filter module)."""
    return toolchains_dir() / "micropython" / "lib"


@functools.lru_cache(maxsize=2)
def _compiled(path: str, mtime: float):
    import wasmtime

    config = wasmtime.Config()
    config.wasm_exceptions = True
    engine = wasmtime.Engine(config)
    return engine, wasmtime.Module.from_file(engine, path)


# wasmtime's objects must go before the interpreter tears its modules down.
atexit.register(_compiled.cache_clear)


def run_micropython(script: str, *, paths: Sequence[Path] = (), args: Sequence[str] = (),
                    heap_mb: int = 256) -> subprocess.CompletedProcess:
    """Run the MicroPython source `script` in the dev interpreter; returns its exit status,
    stdout and stderr (text) as a CompletedProcess. An uncaught exception prints its traceback
    to stderr and exits with 1; sys.exit(n) exits with n. `script` names its file "script.py".
    """
    import wasmtime

    module_path = interpreter_path()
    engine, module = _compiled(str(module_path), module_path.stat().st_mtime)
    search = [Path(p).resolve() for p in paths]
    if lib_dir().is_dir():
        search.append(lib_dir().resolve())
    with tempfile.TemporaryDirectory(prefix="micropython-run-") as scratch:
        work = Path(scratch).resolve()
        (work / "script.py").write_text(script)
        wasi = wasmtime.WasiConfig()
        wasi.argv = ["micropython", "script.py", *args]
        wasi.env = [("MICROPYPATH", ":".join(map(str, search))), ("MICROPY_HEAP_MB", str(heap_mb))]
        wasi.stdout_file = str(work / "stdout")
        wasi.stderr_file = str(work / "stderr")
        wasi.preopen_dir(str(work), ".")   # the script runs as "script.py" in the current directory
        for directory in dict.fromkeys(search):
            if directory.is_dir():
                wasi.preopen_dir(str(directory), str(directory))
        store = wasmtime.Store(engine)
        store.set_wasi(wasi)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        instance = linker.instantiate(store, module)
        returncode = 0
        try:
            instance.exports(store)["_start"](store)
        except wasmtime.ExitTrap as exit_trap:
            returncode = exit_trap.code
        except wasmtime.Trap as trap:
            returncode = 134
            (work / "stderr").open("a").write(f"\nwasm trap: {trap}\n")
        stdout = (work / "stdout").read_text(errors="replace")
        stderr = (work / "stderr").read_text(errors="replace")
    return subprocess.CompletedProcess(["micropython", "script.py", *args], returncode, stdout, stderr)
