"""Where toolchains and downloads live: the user's cache directory, pinned and reused."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from proxywasm_build.errors import UserError
from proxywasm_build.outputs import writing
from proxywasm_build.progress import step


def cache_dir() -> Path:
    """`$PROXYWASM_CACHE`, else `$XDG_CACHE_HOME/proxywasm`, else `~/.cache/proxywasm`."""
    env = os.environ.get("PROXYWASM_CACHE")
    if env:
        root = Path(env)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = Path(base) / "proxywasm"
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextmanager
def locked(name: str) -> Iterator[None]:
    """A cross-process lock so two builds never fill the same cache entry at once."""
    lock_path = cache_dir() / f".{name}.lock"
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def npm_package(package: str, version: str) -> Path:
    """Install `package@version` from the npm registry into the cache once; return its prefix.

    The prefix holds `node_modules/.bin/`. A finished install is marked by a stamp file,
    so an interrupted one is redone rather than trusted.
    """
    safe = package.replace("/", "+").replace("@", "")
    prefix = cache_dir() / "npm" / f"{safe}-{version}"
    stamp = prefix / ".installed"
    if stamp.exists():
        return prefix
    npm = shutil.which("npm")
    if npm is None:
        raise UserError("npm is not installed; install Node.js and npm (Debian: apt-get install nodejs npm).")
    with locked(f"npm-{safe}-{version}"):
        if stamp.exists():
            return prefix
        if prefix.exists():
            shutil.rmtree(prefix)
        prefix.mkdir(parents=True)
        (prefix / "package.json").write_text('{"private": true}\n')
        with step(f"Installing {package}@{version} from npm"):
            proc = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--save-exact", f"{package}@{version}"],
                cwd=prefix, capture_output=True, text=True,
            )
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"npm could not install {package}@{version}: {tail}")
        stamp.write_text(f"{package}@{version}\n")
    return prefix


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename: never half-written.

    Missing parent directories are created (cache entries); a user's output goes through
    `outputs.write_output`, which refuses them. Failures are one sentence naming `path`.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with writing(path):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
