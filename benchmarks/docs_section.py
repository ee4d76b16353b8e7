"""Each benchmark owns one section of docs/benchmarks.md between its own markers."""

from __future__ import annotations

from pathlib import Path

from proxywasm_build.cache import atomic_write, locked

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def regenerating(command: str) -> str:
    """`command` as the section shows it: the run that rewrites the section, so with `--write`
    (runs recorded before the option existed wrote by default)."""
    return command if " --write" in f"{command} " else f"{command} --write"


def write(start: str, end: str, text: str, path: Path = DOCS) -> None:
    """Replace the text between `start` and `end` (markers included in `text`), or append it;
    every other section is left as it is. Several benchmarks may write at once."""
    with locked("docs-benchmarks-md"):
        current = path.read_text() if path.exists() else "# Benchmarks\n"
        if start in current and end in current:
            before, rest = current.split(start, 1)
            updated = before + text + rest.split(end, 1)[1]
        else:
            updated = current.rstrip("\n") + "\n\n" + text + "\n"
        atomic_write(path, updated.encode())
