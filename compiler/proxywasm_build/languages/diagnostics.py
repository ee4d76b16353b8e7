"""A failed compile as one leading sentence followed by every error the compiler reported."""

from __future__ import annotations

import re
import subprocess

from proxywasm_build.errors import UserError

# Shown when the compiler's output held no error line we could read.
_TAIL_LINES = 20


def compile_failure(sentence: str, errors: list[str], proc: subprocess.CompletedProcess) -> UserError:
    """`<sentence>: N errors.` then the errors, one a line; the output's tail when none was found."""
    if errors:
        count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
        return UserError("\n".join([f"{sentence}: {count}.", *errors]))
    output = [line for line in f"{proc.stderr or ''}\n{proc.stdout or ''}".splitlines() if line.strip()]
    detail = output[-_TAIL_LINES:] or ["(no output)"]
    return UserError("\n".join([f"{sentence} (exit status {proc.returncode}):", *detail]))


_LOCATED = re.compile(r"^\S+:\d+:\d+: ")


def located_errors(output: str, *, marker: str = "") -> list[str]:
    """Every `file:line:col: ...` line of a compiler's output (that contains `marker`, if given)."""
    return [line.strip() for line in output.splitlines()
            if _LOCATED.match(line.strip()) and marker in line]
