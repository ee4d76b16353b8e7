"""`--json` on `proxywasm build`, `push` and `pull`: one JSON object on stdout describing what
was written; a failure is still one sentence on stderr, exit 1, and nothing on stdout."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from proxywasm_build import scaffold
from proxywasm_build.languages.rust import rustc_with_wasm_target
from proxywasm_build.ship import oci
from proxywasm_build.wasm.inspect import describe_module
from proxywasm_build.wasm.reader import read_module

from registry import LocalRegistry

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxywasm_build", *args],
                          capture_output=True, text=True, timeout=600)


def assert_one_sentence_and_no_json(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("proxywasm: ") and fragment in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr


# -- build -----------------------------------------------------------------------------------


def test_build_json_describes_the_module_and_what_was_frozen(tmp_path: Path) -> None:
    out = tmp_path / "allow_deny.wasm"
    proc = cli("build", str(ROOT / "examples" / "allow_deny" / "filter.py"), "-o", str(out), "--json",
               "--runtime", "cpython")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["module"] == str(out) and summary["size"] == out.stat().st_size
    assert summary["runtime"] == "cpython"
    assert summary["runtime_reason"] == "cpython: asked for with --runtime cpython"
    assert proc.stderr.splitlines()[0] == summary["runtime_reason"]  # the line goes to stderr with --json
    assert 0 < summary["seconds"] < 600
    embedded = describe_module(read_module(out.read_bytes()))["python"]
    assert summary["frozen_modules"] == len(embedded["frozen_modules"])
    assert summary["left_out_modules"] == embedded["left_out_modules"] and "typing" in summary["left_out_modules"]
    assert "left out" not in proc.stderr  # the list is in the JSON, not repeated as a note


def test_build_json_of_an_auto_build_names_micropython_and_why(tmp_path: Path) -> None:
    out = tmp_path / "json_body.wasm"
    proc = cli("build", str(ROOT / "examples" / "json_body" / "filter.py"), "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["runtime"] == "micropython"
    assert summary["runtime_reason"] == "micropython: every import is provided (json)"
    embedded = describe_module(read_module(out.read_bytes()))["python"]
    assert embedded["runtime"] == "micropython" and summary["frozen_modules"] == len(embedded["frozen_modules"])


def test_build_json_of_a_rust_project_gives_what_is_known(tmp_path: Path) -> None:
    if rustc_with_wasm_target() is None:
        pytest.skip("no rustc with the wasm32-unknown-unknown target (apt-get install rustc libstd-rust-dev-wasm32)")
    project = scaffold.scaffold_project(tmp_path / "rs-deny", "rust", no_deps=True)
    proc = cli("build", str(project), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    module = Path(summary["module"])
    assert module.is_file() and summary["size"] == module.stat().st_size
    assert summary["language"] == "rust" and summary["runtime"] is None and summary["seconds"] > 0


def test_build_json_error_is_one_sentence_on_stderr(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import proxywasm\ndef broken(:\n")
    assert_one_sentence_and_no_json(cli("build", str(bad), "--json"), "syntax error")


# -- push / pull against a real registry -------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROXYWASM_AUTH_FILE", str(tmp_path / "auth" / "config.json"))
    monkeypatch.setenv("PROXYWASM_CACHE", str(tmp_path / "cache"))


@pytest.mark.registry
@pytest.mark.parametrize("layout", oci.LAYOUTS)
def test_push_json_gives_reference_digests_size_and_layout(registry: LocalRegistry, module_path: Path,
                                                           layout: str) -> None:
    ref = f"{registry.host}/json/push:{layout}"
    proc = cli("push", str(module_path), ref, "--layout", layout, "--plain-http", "--json")
    assert proc.returncode == 0, proc.stderr
    pushed = json.loads(proc.stdout)
    assert pushed["reference"] == ref and pushed["layout"] == layout
    assert pushed["module_digest"] == "sha256:" + hashlib.sha256(module_path.read_bytes()).hexdigest()
    assert pushed["abi"] == ["0.2.1"]
    fetched = oci.fetch(ref, plain_http=True)
    assert pushed["digest"] == fetched.digest  # the digest the registry serves the manifest under
    blob_sizes = sum(layer["size"] for layer in fetched.manifest["layers"]) + fetched.manifest["config"]["size"]
    manifest_bytes = len(json.dumps(fetched.manifest, separators=(",", ":")).encode())
    assert pushed["size"] >= blob_sizes and pushed["size"] - blob_sizes <= 2 * manifest_bytes


@pytest.mark.registry
def test_pull_json_gives_the_written_path_digests_and_size(registry: LocalRegistry, module_path: Path,
                                                           tmp_path: Path) -> None:
    ref = f"{registry.host}/json/pull:v1"
    pushed = json.loads(cli("push", str(module_path), ref, "--plain-http", "--json").stdout)
    out = tmp_path / "pulled.wasm"
    proc = cli("pull", ref, "-o", str(out), "--plain-http", "--json")
    assert proc.returncode == 0, proc.stderr
    pulled = json.loads(proc.stdout)
    assert pulled["module"] == str(out) and out.read_bytes() == module_path.read_bytes()
    assert pulled["digest"] == pushed["digest"] and pulled["module_digest"] == pushed["module_digest"]
    assert pulled["size"] == module_path.stat().st_size and pulled["layout"] == "compat"
    assert pulled["reference"] == ref


@pytest.mark.registry
def test_pull_json_error_is_one_sentence_on_stderr(registry: LocalRegistry, tmp_path: Path) -> None:
    out = tmp_path / "never.wasm"
    proc = cli("pull", f"{registry.host}/json/missing:v1", "-o", str(out), "--plain-http", "--json")
    assert_one_sentence_and_no_json(proc, "json/missing")
    assert not out.exists()


@pytest.mark.registry
def test_push_json_error_is_one_sentence_on_stderr(registry: LocalRegistry, tmp_path: Path) -> None:
    proc = cli("push", str(tmp_path / "absent.wasm"), f"{registry.host}/json/x:v1", "--plain-http", "--json")
    assert_one_sentence_and_no_json(proc, "absent.wasm")
