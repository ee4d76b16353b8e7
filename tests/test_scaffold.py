"""`proxywasm init` for python, assemblyscript and rust, and the bindings' generated ABI files.

The slow tests build each scaffold with its real toolchain (npm `assemblyscript`, Debian
`rustc` for wasm32), validate the module and run the scaffold's own tests, which drive the
module in the emulator (wasmtime) and in a real Envoy.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from proxywasm import abi
from proxywasm_build import lang_builds, scaffold
from proxywasm_build.errors import UserError

PROXYWASM = [sys.executable, "-m", "proxywasm_build.cli"]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*PROXYWASM, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def run_project_tests(project: Path, hosts: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PROXYWASM_ENVOY_REUSE": "1"}
    return subprocess.run([*PROXYWASM, "test", str(project), "--hosts", hosts, "-p", "no:cacheprovider"],
                          capture_output=True, text=True, timeout=600, env=env)


# -- rendering --------------------------------------------------------------------------------

@pytest.mark.parametrize("language, expected", [
    ("python", {"filter.py", "config.json", "README.md", ".gitignore", "tests/test_filter.py"}),
    ("assemblyscript", {"assembly/index.ts", "assembly/proxywasm/abi.ts", "assembly/proxywasm/runtime.ts",
                        "assembly/proxywasm/exports.ts", "package.json", "config.json", "README.md",
                        "tests/test_filter.py"}),
    ("rust", {"src/lib.rs", "src/json.rs", "Cargo.toml", "config.json", "README.md", "tests/test_filter.py"}),
])
def test_init_renders_every_file_of_the_language(tmp_path, language, expected):
    project = scaffold.scaffold_project(tmp_path / "demo", language, name="demo")
    files = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}
    assert expected <= files
    assert not any(name.endswith(".j2") for name in files)
    assert not any(p.name.startswith(".demo-") for p in tmp_path.iterdir())  # staging dir renamed away
    text = "\n".join((project / name).read_text() for name in expected)
    assert "{{" not in text.replace("main! {{", "").replace("}}", "") or language == "rust"
    assert "demo_denied_total" in text


def test_rust_crate_and_no_deps_flavours_share_the_filter_code(tmp_path):
    crate = scaffold.scaffold_project(tmp_path / "crate", "rust", name="demo")
    bundled = scaffold.scaffold_project(tmp_path / "bundled", "rust", name="demo", no_deps=True)
    assert 'proxy-wasm = "0.2"' in (crate / "Cargo.toml").read_text()
    assert "proxy-wasm" not in (bundled / "Cargo.toml").read_text().split("[dependencies]")[1].split("[")[0]
    assert not (crate / "src" / "proxy_wasm").exists()
    assert (bundled / "src" / "proxy_wasm" / "abi.rs").is_file()
    code_lines = lambda p: [line for line in (p / "src" / "lib.rs").read_text().splitlines()  # noqa: E731
                            if line.strip() and not line.startswith("//")]
    crate_lines, bundled_lines = code_lines(crate), code_lines(bundled)
    assert [line for line in bundled_lines if line != "mod proxy_wasm;"] == crate_lines


def test_init_refuses_a_non_empty_directory_with_one_sentence(tmp_path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    proc = run_cli("init", str(target), "--lang", "assemblyscript")
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"proxywasm: {target} is not empty; choose a new or empty directory."
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]


def test_init_rejects_no_deps_outside_rust_and_unknown_languages(tmp_path):
    with pytest.raises(UserError, match="only to --lang rust"):
        scaffold.scaffold_project(tmp_path / "x", "python", no_deps=True)
    proc = run_cli("init", str(tmp_path / "y"), "--lang", "cobol")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "cobol" in proc.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_init_python_project_passes_its_own_tests_in_the_emulator(tmp_path):
    proc = run_cli("init", str(tmp_path / "deny"), "--lang", "python")
    assert proc.returncode == 0, proc.stderr
    result = run_project_tests(tmp_path / "deny", "python")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


# -- generated ABI files ----------------------------------------------------------------------

def test_assemblyscript_abi_declares_every_hostcall_with_its_wasm_signature():
    text = lang_builds.render_assemblyscript_abi()
    declared = dict(re.findall(r"export declare function (proxy_\w+)\(([^)]*)\)", text))
    assert set(declared) == set(abi.LATEST.hostcalls)
    for name, hostcall in abi.LATEST.hostcalls.items():
        params = [p.split(": ")[1] for p in declared[name].split(", ") if p]
        wasm = ["i64" if t in ("i64", "u64") else "i32" for t in params]
        assert tuple(wasm) == hostcall.signature.params, name
    assert "export enum MapType {" in text and "  HttpCallResponseHeaders = 6," in text


def test_rust_abi_declares_every_hostcall_with_its_wasm_signature():
    text = lang_builds.render_rust_abi()
    declared = dict(re.findall(r"pub fn (proxy_\w+)\(([^)]*)\)", text))
    assert set(declared) == set(abi.LATEST.hostcalls)
    for name, hostcall in abi.LATEST.hostcalls.items():
        params = [p.split(": ")[1] for p in declared[name].split(", ") if p]
        wasm = ["i64" if t in ("i64", "u64") else "i32" for t in params]
        assert tuple(wasm) == hostcall.signature.params, name
    assert "    Pause = 1," in text and "pub const NO_GRPC_STATUS: i32 = -1;" in text


def test_detect_project_language(tmp_path):
    for language in ("python", "assemblyscript", "rust"):
        project = scaffold.scaffold_project(tmp_path / language, language)
        assert lang_builds.detect_project_language(project) == language
    assert lang_builds.detect_project_language(tmp_path / "missing") is None
    (tmp_path / "empty").mkdir()
    assert lang_builds.detect_project_language(tmp_path / "empty") is None


# -- real toolchains: build, validate, Envoy ---------------------------------------------------

def _build_and_validate(project: Path) -> bytes:
    from proxywasm_build.validate import validate_module

    module = lang_builds.build_project(project)
    data = module.read_bytes()
    report = validate_module(data)
    assert report.ok, report.findings
    assert report.abi_version == "0.2.1"
    assert [f.message for f in report.findings if f.severity == "error"] == []
    return data


@pytest.mark.toolchain
@pytest.mark.envoy
def test_assemblyscript_scaffold_builds_validates_and_works_in_the_emulator_and_envoy(tmp_path):
    project = scaffold.scaffold_project(tmp_path / "as-deny", "assemblyscript")
    data = _build_and_validate(project)
    assert len(data) < 64_000
    result = run_project_tests(project, "python,envoy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 passed" in result.stdout


@pytest.mark.toolchain
@pytest.mark.envoy
def test_rust_no_deps_scaffold_builds_validates_and_works_in_the_emulator_and_envoy(tmp_path):
    if lang_builds.rustc_with_wasm_target() is None:
        pytest.skip("no rustc with the wasm32-unknown-unknown target (apt-get install rustc libstd-rust-dev-wasm32)")
    project = scaffold.scaffold_project(tmp_path / "rs-deny", "rust", no_deps=True)
    _build_and_validate(project)
    result = run_project_tests(project, "python,envoy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 passed" in result.stdout


@pytest.mark.toolchain
def test_a_broken_assemblyscript_filter_is_one_sentence(tmp_path):
    project = scaffold.scaffold_project(tmp_path / "broken", "assemblyscript")
    index = project / "assembly" / "index.ts"
    index.write_text(index.read_text().replace("return Action.Continue;", "return Action.Sideways;", 1))
    with pytest.raises(UserError) as info:
        lang_builds.build_project(project)
    message = str(info.value)
    assert message.startswith("AssemblyScript could not compile") and "\n" not in message
    assert not (project / "build" / "filter.wasm").exists()
