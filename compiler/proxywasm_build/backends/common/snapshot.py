"""Snapshot a module with wizer after CPython has started and the filter has been imported.

The module's `wizer.initialize` export starts Python and imports the filter; wizer saves the
resulting memory and globals as the new module's data, so each Envoy VM starts warm. During
the snapshot the `env.proxy_*` hostcalls are stubs (module-level code must not call the host);
each answers UNIMPLEMENTED.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from proxywasm import abi

from proxywasm_build.backends.common.left_out_parts import raise_build_failure
from proxywasm_build.backends.common.toolchain import WasiTools

INIT_FUNC = "wizer.initialize"


def hostcall_stubs_wat(version: abi.AbiVersion = abi.LATEST) -> str:
    """A WAT module exporting every hostcall of `version` as a stub answering UNIMPLEMENTED."""
    funcs = []
    for h in version.hostcalls.values():
        params = " ".join(h.signature.params)
        param = f" (param {params})" if params else ""
        if h.returns_status:
            body = f" (result i32) i32.const {int(abi.Status.UNIMPLEMENTED)}"
        else:
            body = ""
        funcs.append(f'  (func (export "{h.name}"){param}{body})')
    return "(module\n" + "\n".join(funcs) + "\n)\n"


def snapshot(toolchain: WasiTools, module: Path, output: Path, *,
             left_out_part_signs: tuple[str, ...] = ()) -> Path:
    """Run wizer on `module`; a Python error during start-up or import becomes a UserError, a
    `LeftOutPartNeeded` when its explanation shows one of `left_out_part_signs`."""
    with tempfile.TemporaryDirectory() as tmp:
        wat = Path(tmp) / "env.wat"
        wat.write_text(hostcall_stubs_wat())
        stubs = Path(tmp) / "env.wasm"
        subprocess.run([str(toolchain.wasm_tools), "parse", str(wat), "-o", str(stubs)],
                       check=True, capture_output=True)
        proc = subprocess.run(
            [str(toolchain.wizer), str(module), "-o", str(output), "--init-func", INIT_FUNC,
             "--allow-wasi", "--inherit-stdio", "true", "--inherit-env", "false",
             "--wasm-bulk-memory", "true", "--preload", f"env={stubs}"],
            capture_output=True, text=True,
        )
    if proc.returncode != 0:
        raise_build_failure(_explain_failure(proc.stdout + proc.stderr), left_out_part_signs)
    return output


def _explain_failure(output: str) -> str:
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    # A Python traceback printed by the module: its last line names the error.
    for i, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last):"):
            tail = lines[-1]
            where = next((l.strip() for l in reversed(lines[i:]) if l.strip().startswith("File ")), "")
            where = f" ({where})" if where else ""
            for later in lines[i + 1:]:
                if not later.startswith(" ") and later != lines[i]:
                    tail = later
                    break
            return f"importing the filter inside the module failed: {tail}{where}."
    proxywasm_lines = [l for l in lines if l.startswith("proxywasm:")]
    if proxywasm_lines:
        return f"starting Python inside the module failed: {proxywasm_lines[0][len('proxywasm:'):].strip()}."
    return f"snapshotting the module with wizer failed: {lines[-1] if lines else 'no output'}."
