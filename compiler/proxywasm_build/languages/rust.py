"""Build a Rust filter project: `rustc` alone for the bundled binding, `cargo` for the crate."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from proxywasm_build import cache
from proxywasm_build.errors import UserError
from proxywasm_build.languages.bindings import RUST_BINDING_PATH
from proxywasm_build.languages.diagnostics import compile_failure

RUST_TARGET = "wasm32-unknown-unknown"


def rustc_with_wasm_target() -> Path | None:
    """A `rustc` whose sysroot has the wasm32-unknown-unknown standard library, if any.

    Debian's rustc (`apt-get install rustc libstd-rust-dev-wasm32`) has it; a rustup toolchain
    earlier on PATH often lacks the target, so every candidate is checked.
    """
    candidates: list[str] = []
    for name in (os.environ.get("PROXYWASM_RUSTC"), "/usr/bin/rustc", shutil.which("rustc")):
        if name and name not in candidates and Path(name).exists():
            candidates.append(name)
    for rustc in candidates:
        proc = subprocess.run([rustc, "--print", "sysroot"], capture_output=True, text=True)
        if proc.returncode == 0:
            sysroot = Path(proc.stdout.strip())
            if (sysroot / "lib" / "rustlib" / RUST_TARGET / "lib").is_dir():
                return Path(rustc)
    return None


def build_rust_project(directory: Path, output: Path) -> Path:
    """Build a Rust filter project into a Proxy-Wasm module at `output`.

    A project carrying the bundled binding (`src/proxy_wasm/`, from `init --no-deps` or
    `skeleton`) is compiled by `rustc` alone for wasm32-unknown-unknown; a project that depends
    on the `proxy-wasm` crate is built with `cargo`, which needs the crates registry. A failure
    names every error the compiler reported, each with its `file:line:col`, and cargo's causes.
    """
    directory = Path(directory).resolve()
    if not (directory / "Cargo.toml").is_file() or not (directory / "src" / "lib.rs").is_file():
        raise UserError(f"{directory} is not a Rust filter project: Cargo.toml or src/lib.rs is missing.")
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    if (directory / RUST_BINDING_PATH / "mod.rs").is_file():
        return _build_rust_with_rustc(directory, output)
    return _build_rust_with_cargo(directory, output)


def _build_rust_with_rustc(directory: Path, output: Path) -> Path:
    rustc = rustc_with_wasm_target()
    if rustc is None:
        raise UserError("no rustc with the wasm32-unknown-unknown target was found; "
                        "install one (Debian: apt-get install rustc libstd-rust-dev-wasm32).")
    with tempfile.TemporaryDirectory(prefix="proxywasm-rustc-") as scratch:
        built = Path(scratch) / "filter.wasm"
        command = [
            str(rustc), "--edition", "2021", "--crate-type", "cdylib", "--crate-name", "filter",
            "--target", RUST_TARGET, "-C", "opt-level=z", "-C", "panic=abort", "-C", "lto",
            "-C", "strip=symbols", "-C", "codegen-units=1", "--color", "never",
            "src/lib.rs", "-o", str(built),
        ]
        proc = subprocess.run(command, cwd=directory, capture_output=True, text=True)
        if proc.returncode != 0 or not built.is_file():
            raise compile_failure(f"the Rust project {directory} did not compile",
                                  rust_errors(proc.stderr), proc)
        cache.atomic_write(output, built.read_bytes())
    return output


def _build_rust_with_cargo(directory: Path, output: Path) -> Path:
    cargo = shutil.which("cargo")
    if cargo is None:
        raise UserError("cargo is not installed; a project that depends on the proxy-wasm crate "
                        "needs cargo and the crates registry (or create it with --no-deps).")
    proc = subprocess.run(
        [cargo, "build", "--release", "--target", RUST_TARGET, "--color", "never"],
        cwd=directory, capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise compile_failure(f"cargo could not build the Rust project {directory}",
                              rust_errors(proc.stderr), proc)
    artifacts = sorted((directory / "target" / RUST_TARGET / "release").glob("*.wasm"))
    if not artifacts:
        raise UserError(f"cargo built {directory} but produced no .wasm file; is crate-type cdylib?")
    cache.atomic_write(output, artifacts[0].read_bytes())
    return output


# rustc and cargo print an error as a headline at the start of a line, then for a compile error
# `  --> file:line:col`, for anything else `note:` / `help:` lines or cargo's `Caused by:` chain.
_HEADLINE = re.compile(r"^error(\[\w+\])?: (.*)$")
_LOCATION = re.compile(r"^\s*--> (\S+:\d+:\d+)\s*$")
_NOTE = re.compile(r"^\s*(?:= )?(note|help): (.*)$")
# Summaries that repeat the count of the errors above them.
_SUMMARY = re.compile(r"^(aborting due to|could not compile)")


def rust_errors(stderr: str) -> list[str]:
    """Every error, one entry each: `file:line:col: error[E0308]: message`, or the headline followed by
    its notes and causes (indented) when it has no place in the source (a missing target, a registry)."""
    errors: list[dict] = []
    current: dict | None = None  # the error the following lines belong to; None within a warning
    in_causes = False
    for line in stderr.splitlines():
        headline = _HEADLINE.match(line)
        if headline or line.startswith("warning"):
            current, in_causes = None, False
            if headline and not _SUMMARY.match(headline.group(2)):
                current = {"message": f"error{headline.group(1) or ''}: {headline.group(2)}",
                           "location": "", "details": []}
                errors.append(current)
            continue
        if current is None:
            continue
        location, note = _LOCATION.match(line), _NOTE.match(line)
        if location and not current["location"] and not current["details"]:
            current["location"] = location.group(1)
        elif note and not current["location"]:
            current["details"].append(f"{note.group(1)}: {note.group(2)}")
        elif line.strip() == "Caused by:":
            in_causes = True
        elif in_causes and line.strip():
            current["details"].append(f"caused by: {line.strip()}")
    return [_entry(error) for error in errors]


def _entry(error: dict) -> str:
    if error["location"]:
        return f"{error['location']}: {error['message']}"
    return "\n".join([error["message"], *(f"  {detail}" for detail in error["details"])])
