"""mpy-cross, MicroPython's bytecode compiler, built natively from our patched sources with zig.

Filter modules are compiled at build time (the runtime has no compiler), so the compiler that
checks and compiles them has the same patches as the interpreter (f-string conversions).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from pathlib import Path

from proxywasm_build.backends.micropython import cbuild
from proxywasm_build.backends.micropython.sources import patched_source_dir
from proxywasm_build.cache import atomic_write, cache_dir
from proxywasm_build.errors import UserError


#: mpy-cross's own GC heap (its default, 1 MB, is too small for a big module; pages it does not
#: touch cost nothing).
MPY_CROSS_HEAP = "256M"


def _variant() -> cbuild.Variant:
    src = patched_source_dir()
    port = src / "mpy-cross"
    return cbuild.Variant(
        name="mpy-cross", config_dir=port,
        port_sources=(port / "main.c", port / "gccollect.c", src / "shared" / "runtime" / "gchelper_generic.c"),
        cflags=cbuild.NATIVE_CFLAGS, skipped_core=(),
        # the GC register scan and NLR through setjmp: the x86-64 inline asm of both fails under zig cc
        defines=("-DMICROPY_GCREGS_SETJMP=1", "-DMICROPY_NLR_SETJMP=1"))


def mpy_cross() -> Path:
    """The mpy-cross executable (built once, cached)."""
    core = cbuild.build_core(_variant())
    binary = core.directory / "mpy-cross"
    if not binary.exists():
        cbuild.link(core, [], binary, ("-lm",))
    return binary


def compiler_key() -> str:
    """Identifies the compiler (its build's key): part of every cached .mpy's key."""
    return _variant().key()


def _compile_error(name: str, output: str) -> UserError:
    line = re.search(r'File "[^"]*", line (\d+)', output)
    message = re.search(r"^(?:SyntaxError|IndentationError): (.*)$", output, re.MULTILINE)
    if message is None:
        last = (output.strip().splitlines() or ["no output"])[-1]
        return UserError(f"{name}: MicroPython's compiler (mpy-cross) failed: {last}")
    where = f"{name}:{line.group(1)}" if line else name
    return UserError(f"{where}: MicroPython's compiler rejects this line: {message.group(1).strip().rstrip('.')}.")


def compile_to_mpy(source: Path, name: str) -> Path:
    """Compile `source` to .mpy bytecode whose source name is `name` (its path relative to its
    import root, e.g. "filter.py" or "proxywasm/context.py", which tracebacks show and the
    frozen-module table uses). Cached by content; a SyntaxError becomes a UserError."""
    data = Path(source).read_bytes()
    key = hashlib.sha256(compiler_key().encode() + b"\0" + name.encode() + b"\0" + data).hexdigest()[:24]
    output = cache_dir() / "micropython-mpy" / f"{key}.mpy"
    if output.exists():
        return output
    with tempfile.TemporaryDirectory(prefix="mpy-cross-") as scratch:
        target = Path(scratch) / "out.mpy"
        proc = subprocess.run([str(mpy_cross()), "-X", f"heapsize={MPY_CROSS_HEAP}", "-s", name,
                               "-o", str(target), str(source)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise _compile_error(name, proc.stderr + proc.stdout)
        atomic_write(output, target.read_bytes())
    return output


def compile_check(path: Path, name: str) -> None:
    """Raise UserError ("name:LINE: MicroPython's compiler rejects this line: ...") when
    MicroPython cannot compile the file at `path`; `name` is how the message names it."""
    compile_to_mpy(Path(path), name)
