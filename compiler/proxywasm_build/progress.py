"""Progress of the long steps (toolchain fetches, wasm-opt): a spinner on a terminal, plain
lines elsewhere, because a CI log keeps no spinner and shows nothing until the step ends.

    with step("Optimizing with wasm-opt -Oz"):
        ...

On a terminal: a rich spinner while the step runs. Otherwise two lines,
`proxywasm: Optimizing with wasm-opt -Oz ...` and `proxywasm: Optimizing with wasm-opt -Oz: done in 3.2 s`.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import Iterator, TextIO


def interactive(stream: TextIO | None = None) -> bool:
    """True when `stream` (default: stderr) is a terminal a spinner can redraw (not TERM=dumb)."""
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


@contextmanager
def step(description: str, *, stream: TextIO | None = None) -> Iterator[None]:
    """Show that `description` is running until the block ends (on stderr unless `stream`)."""
    stream = stream if stream is not None else sys.stderr
    if interactive(stream):
        from rich.console import Console

        with Console(file=stream).status(f"{description}..."):
            yield
        return
    print(f"proxywasm: {description} ...", file=stream, flush=True)
    started = time.perf_counter()
    yield
    print(f"proxywasm: {description}: done in {time.perf_counter() - started:.1f} s", file=stream, flush=True)
