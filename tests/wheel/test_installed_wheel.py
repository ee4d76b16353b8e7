"""The built wheel, installed into a fresh venv, used from outside the repository.

Everything else in the suite runs against the editable install, where a file the wheel forgot
is still found in the checkout. Here the wheel is built from a copy of the checkout that is
deleted before anything runs, installed non-editable (dependencies from PyPI) into a new venv,
and the installed `proxywasm` is run from an empty directory outside the repository: a missing
template, toolchain file, demo filter or dependency, or a path computed from a checkout, fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from proxywasm_build.scaffold import scaffold_project
from proxywasm_build.transpile import generate_skeleton

pytestmark = pytest.mark.wheel

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Installed:
    """A fresh venv holding only the wheel and its dependencies."""

    venv: Path
    env: dict[str, str]

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def run(self, *args: str | Path, cwd: Path, check: bool = True,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run a program of the venv (`proxywasm`, `python`, `envoy`) in `cwd`."""
        program, *rest = args
        completed = subprocess.run([str(self.bin / str(program)), *map(str, rest)], cwd=cwd,
                                   env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and completed.returncode != 0:
            pytest.fail(f"{' '.join(map(str, args))} exited {completed.returncode}\n"
                        f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}")
        return completed


def _setup_step(*command: str | Path) -> None:
    """One step of making the venv; its output is shown only when it fails."""
    completed = subprocess.run(list(map(str, command)), capture_output=True, text=True)
    if completed.returncode != 0:
        pytest.fail(f"{' '.join(map(str, command))} exited {completed.returncode}\n"
                    f"{completed.stdout}{completed.stderr}")


def _checkout_files() -> list[Path]:
    """What a build of the checkout sees: tracked and new files, not what .gitignore hides."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout.decode()
    return [Path(name) for name in listed.split("\0") if name and (REPO / name).is_file()]


def _build_wheel(scratch: Path) -> Path:
    # A copy, so no stale build/ or egg-info of the checkout leaks in, and deleted afterwards,
    # so nothing the wheel installs can point back at the tree it was built from.
    source = scratch / "source"
    for relative in _checkout_files():
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / relative, source / relative)
    dist = scratch / "dist"
    _setup_step(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", source, "-w", dist)
    shutil.rmtree(source)
    (wheel,) = dist.glob("*.whl")
    return wheel


def _clean_environment() -> dict[str, str]:
    """The caller's environment without the repository's .venv: the venv is used without being
    activated (`venv/bin/proxywasm ...`), so the command must find its own tools (envoy, zig)
    without PATH; system tools (npm, node) stay on PATH."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    repo_venv_bin = (REPO / ".venv" / "bin").resolve()
    env["PATH"] = os.pathsep.join(entry for entry in env.get("PATH", "").split(os.pathsep)
                                  if entry and Path(entry).resolve() != repo_venv_bin)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel built once for this module and installed into a fresh venv."""
    scratch = tmp_path_factory.mktemp("wheel")
    assert not scratch.resolve().is_relative_to(REPO), "the venv must live outside the repository"
    wheel = _build_wheel(scratch)
    venv = scratch / "venv"
    # No pip inside: the caller's pip installs into it (--python), which saves seeding one.
    _setup_step(sys.executable, "-m", "venv", "--without-pip", venv)
    _setup_step(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q", wheel)
    return Installed(venv, _clean_environment())


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory outside the repository where the installed command is run."""
    directory = tmp_path_factory.mktemp("outside")
    assert not directory.resolve().is_relative_to(REPO)
    return directory


def _files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


def test_no_installed_file_resolves_into_the_repository(installed: Installed, outside: Path) -> None:
    probe = r"""
import json, proxywasm, proxywasm_build, proxywasm_build.resources as r
from importlib.metadata import distribution
dist = distribution("proxywasm-python")
print(json.dumps({
    "resources": [str(r.templates_dir()), str(r.toolchains_dir()), str(r.demo_filter())],
    "packages": [proxywasm.__file__, proxywasm_build.__file__],
    "files": [str(f.locate()) for f in dist.files],
    "direct_url": dist.read_text("direct_url.json"),
}))
"""
    found = json.loads(installed.run("python", "-c", probe, cwd=outside).stdout)
    site_packages = next((installed.venv / "lib").glob("python3*/site-packages")).resolve()
    for path in [*found["resources"], *found["packages"]]:
        assert Path(path).resolve().is_relative_to(site_packages), path
    assert Path(found["resources"][2]).is_file()
    for path in found["files"]:
        resolved = Path(path).resolve()
        assert not resolved.is_relative_to(REPO), f"{path} resolves into the repository"
        assert resolved.is_relative_to(installed.venv.resolve()), path
    # An editable install records its source folder here; a wheel install records none.
    assert found["direct_url"] is None or '"editable": true' not in found["direct_url"]


def test_python_dash_m_runs_the_command_line(installed: Installed, outside: Path) -> None:
    shown = installed.run("python", "-m", "proxywasm_build", "--help", cwd=outside).stdout
    for name in ("init", "build", "test", "deploy", "demo", "skeleton"):
        assert re.search(rf"^\s+{name}\s", shown, re.MULTILINE), name


# language -> (`proxywasm init` options, files the project must hold besides the checkout's list)
INIT_CASES = {
    "python": ((), {"filter.py", "tests/test_filter.py", "config.json", "README.md", ".gitignore"}),
    "assemblyscript": ((), {"package.json", "assembly/index.ts", "assembly/proxywasm/abi.ts",
                            "assembly/proxywasm/index.ts", "assembly/proxywasm/exports.ts",
                            "tests/test_filter.py", "config.json", "README.md"}),
    "rust": (("--no-deps",), {"Cargo.toml", "src/lib.rs", "src/proxy_wasm/abi.rs",
                              "src/proxy_wasm/mod.rs", "src/proxy_wasm/hostcalls.rs",
                              "tests/test_filter.py", "config.json", "README.md"}),
}


@pytest.fixture(scope="module")
def python_project(installed: Installed, outside: Path) -> Path:
    """`proxywasm init python-filter` by the installed command (the name is fixed so the built
    module's cache entry is reused from run to run)."""
    installed.run("proxywasm", "init", "python-filter", "--lang", "python", cwd=outside)
    return outside / "python-filter"


@pytest.mark.parametrize("language", INIT_CASES)
def test_init_writes_the_whole_project(installed: Installed, outside: Path, python_project: Path,
                                       tmp_path: Path, language: str) -> None:
    options, required = INIT_CASES[language]
    project = python_project if language == "python" else outside / f"{language}-filter"
    if language != "python":
        installed.run("proxywasm", "init", project.name, "--lang", language, *options, cwd=outside)
    reference = scaffold_project(tmp_path / project.name, language, no_deps="--no-deps" in options)
    written = _files_under(project)
    assert required <= written
    assert written == _files_under(reference)


def test_test_runs_the_scaffold_tests_in_the_emulator_and_wasmtime(installed: Installed, outside: Path,
                                                                   python_project: Path) -> None:
    ran = installed.run("proxywasm", "test", python_project.name, "--hosts", "python,wasm", "-vv",
                        cwd=outside)
    assert "warning" not in ran.stdout.lower(), ran.stdout
    assert re.search(r"\[python\] PASSED", ran.stdout) and re.search(r"\[wasm\] PASSED", ran.stdout)
    assert re.search(r"\b\d+ passed in\b", ran.stdout), ran.stdout


@pytest.fixture(scope="module")
def built_module(installed: Installed, outside: Path, python_project: Path) -> Path:
    built = installed.run("proxywasm", "build", python_project / "filter.py", "-o", "filter.wasm", cwd=outside)
    # The MicroPython runtime's port, patches and frozen stdlib are package data too.
    assert built.stdout.startswith("micropython: "), built.stdout
    return outside / "filter.wasm"


def test_build_validate_inspect(installed: Installed, outside: Path, built_module: Path) -> None:
    assert built_module.read_bytes()[:4] == b"\0asm"
    installed.run("proxywasm", "validate", built_module.name, cwd=outside)
    shown = json.loads(installed.run("proxywasm", "inspect", built_module.name, "--json", cwd=outside).stdout)
    assert shown["abi_version"] == "0.2.1"
    assert shown["python"]["runtime"] == "micropython"


def test_build_for_cpython_from_the_wheel(installed: Installed, outside: Path, python_project: Path) -> None:
    built = installed.run("proxywasm", "build", python_project / "filter.py", "-o", "cpython.wasm",
                          "--runtime", "cpython", cwd=outside)
    assert built.stdout.startswith("cpython: asked for with --runtime cpython"), built.stdout
    shown = json.loads(installed.run("proxywasm", "inspect", "cpython.wasm", "--json", cwd=outside).stdout)
    assert shown["python"]["runtime"] == "cpython"


def test_deploy_envoy_writes_config_the_installed_envoy_accepts(installed: Installed, outside: Path,
                                                                built_module: Path) -> None:
    installed.run("proxywasm", "deploy", "envoy", built_module.name, "--out", "envoy.yaml", cwd=outside)
    checked = installed.run("envoy", "--mode", "validate", "-c", "envoy.yaml", cwd=outside, timeout=120)
    assert "OK" in checked.stdout + checked.stderr


@pytest.mark.parametrize("language", ["rust", "assemblyscript"])
def test_skeleton_writes_the_whole_project(installed: Installed, outside: Path, python_project: Path,
                                           tmp_path: Path, language: str) -> None:
    target = outside / f"skeleton-{language}"
    installed.run("proxywasm", "skeleton", python_project / "filter.py", "--lang", language, "-o", target,
                  cwd=outside)
    reference = generate_skeleton(python_project / "filter.py", language, tmp_path / target.name)
    written = _files_under(target)
    assert {"README.md", "tests/test_parity.py", "python/filter.py"} <= written
    assert written == _files_under(reference)


def test_demo_builds_and_compares_the_packaged_example(installed: Installed, tmp_path: Path) -> None:
    # Its own empty directory: the demo must write nothing where it is run.
    shown = installed.run("proxywasm", "demo", "--no-envoy", cwd=tmp_path)
    assert "every host agrees" in shown.stdout, shown.stdout
    assert list(tmp_path.iterdir()) == []
