"""Build an AssemblyScript filter project with the pinned `asc` from npm."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from proxywasm_build import cache
from proxywasm_build.errors import UserError
from proxywasm_build.languages.bindings import ASSEMBLYSCRIPT_BINDING_PATH, ASSEMBLYSCRIPT_VERSION
from proxywasm_build.languages.diagnostics import compile_failure


def assemblyscript_compiler() -> Path:
    """The pinned `asc`, installed from npm into the cache on first use."""
    prefix = cache.npm_package("assemblyscript", ASSEMBLYSCRIPT_VERSION)
    return prefix / "node_modules" / ".bin" / "asc"


def build_assemblyscript_project(directory: Path, output: Path) -> Path:
    """Compile `directory/assembly/index.ts` into a Proxy-Wasm 0.2.1 reactor at `output`.

    Runs the pinned AssemblyScript (npm `assemblyscript@0.28.20`, cached) with the incremental
    GC, `_initialize` as the exported start function and an abort handler that logs through
    `proxy_log` (Envoy has no `env.abort`). A compile error names every error asc reported,
    each with its `file:line:col`.
    """
    directory = Path(directory).resolve()
    entry = directory / "assembly" / "index.ts"
    if not entry.is_file():
        raise UserError(f"{directory} is not an AssemblyScript filter project: assembly/index.ts is missing.")
    if not (directory / ASSEMBLYSCRIPT_BINDING_PATH / "exports.ts").is_file():
        raise UserError(f"{directory} has no Proxy-Wasm binding in assembly/proxywasm/; "
                        "create the project with `proxywasm init --lang assemblyscript`.")
    asc = assemblyscript_compiler()
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="proxywasm-asc-") as scratch:
        built = Path(scratch) / "filter.wasm"
        command = [
            str(asc), "assembly/index.ts", "-o", str(built),
            "-O", "--shrinkLevel", "1", "--noAssert",
            "--runtime", "incremental",
            "--exportStart", "_initialize",
            "--use", "abort=assembly/proxywasm/runtime/abortHandler",
        ]
        proc = subprocess.run(command, cwd=directory, capture_output=True, text=True)
        if proc.returncode != 0 or not built.is_file():
            raise compile_failure(f"the AssemblyScript project {directory} did not compile",
                                  assemblyscript_errors(proc.stderr + "\n" + proc.stdout), proc)
        cache.atomic_write(output, built.read_bytes())
    return output


# asc prints each diagnostic as a headline, the source excerpt, then where it is:
#   ERROR TS2339: Property 'Sideways' does not exist on type 'assembly/proxywasm/abi/Action'.
#       :
#    42 │ return Action.Sideways;
#       │               ~~~~~~~~
#       └─ in assembly/index.ts(42,19)
_HEADLINE = re.compile(r"^(ERROR|FATAL|WARNING|INFO|PEDANTIC)(?: (\w+))?: (.*)$")
_LOCATION = re.compile(r"└─ in (.+)\((\d+),(\d+)\)\s*$")


def assemblyscript_errors(output: str) -> list[str]:
    """asc's errors, one line each: `file:line:col: error TS2339: message` (no location: as printed)."""
    diagnostics: list[dict] = []
    for line in re.sub(r"\x1b\[[0-9;]*m", "", output).splitlines():
        headline = _HEADLINE.match(line.strip())
        if headline:
            severity, code, message = headline.groups()
            diagnostics.append({"error": severity in ("ERROR", "FATAL"), "location": "",
                                "message": f"error{' ' + code if code else ''}: {message}"})
            continue
        location = _LOCATION.search(line)
        if location and diagnostics and not diagnostics[-1]["location"]:
            diagnostics[-1]["location"] = ":".join(location.groups())
    return [f"{d['location']}: {d['message']}" if d["location"] else d["message"]
            for d in diagnostics if d["error"]]
