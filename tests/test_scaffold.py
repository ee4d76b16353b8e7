"""`proxywasm init` for python, assemblyscript and rust, and the bindings' generated ABI files.

The slow tests build each scaffold with its real toolchain (npm `assemblyscript`, Debian
`rustc` for wasm32), validate the module and run the scaffold's own tests, which drive the
module in the emulator (wasmtime) and in a real Envoy.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from proxywasm import abi
from proxywasm_build import scaffold
from proxywasm_build.errors import UserError
from proxywasm_build.languages import build_project, detect_project_language
from proxywasm_build.languages.bindings import render_assemblyscript_abi, render_rust_abi
from proxywasm_build.languages.rust import rustc_with_wasm_target

PROXYWASM = [sys.executable, "-m", "proxywasm_build"]


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
    text = render_assemblyscript_abi()
    declared = dict(re.findall(r"export declare function (proxy_\w+)\(([^)]*)\)", text))
    assert set(declared) == set(abi.LATEST.hostcalls)
    for name, hostcall in abi.LATEST.hostcalls.items():
        params = [p.split(": ")[1] for p in declared[name].split(", ") if p]
        wasm = ["i64" if t in ("i64", "u64") else "i32" for t in params]
        assert tuple(wasm) == hostcall.signature.params, name
    assert "export enum MapType {" in text and "  HttpCallResponseHeaders = 6," in text


def test_rust_abi_declares_every_hostcall_with_its_wasm_signature():
    text = render_rust_abi()
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
        assert detect_project_language(project) == language
    assert detect_project_language(tmp_path / "missing") is None
    (tmp_path / "empty").mkdir()
    assert detect_project_language(tmp_path / "empty") is None


# -- real toolchains: build, validate, Envoy ---------------------------------------------------

def _check_configuration_parsing(module: Path) -> None:
    """The binding's JSON reader: escapes, nested values skipped, bad JSON rejects the plugin."""
    from proxywasm.testing import Host
    from proxywasm.testing.emulator import PluginStartError

    config = b'{"nested": {"a": [1, "}"]}, "header": "x-\\u0041b", "n": -1.5e3, "t": true}'
    host = Host.load(module, plugin_config=config)
    request = {":method": "GET", ":path": "/", ":authority": "example.com"}
    assert host.http_request({**request, "x-ab": "1"}).status == 403
    assert host.http_request({**request, "x-deny": "1"}).status == 200
    with pytest.raises(PluginStartError):
        Host.load(module, plugin_config=b'{"header": ')


def _build_and_validate(project: Path) -> bytes:
    from proxywasm_build.wasm.validate import validate_module

    module = build_project(project)
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
    _check_configuration_parsing(project / "build" / "filter.wasm")
    assert len(data) < 64_000
    result = run_project_tests(project, "python,envoy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 passed" in result.stdout


@pytest.mark.toolchain
@pytest.mark.envoy
def test_rust_no_deps_scaffold_builds_validates_and_works_in_the_emulator_and_envoy(tmp_path):
    if rustc_with_wasm_target() is None:
        pytest.skip("no rustc with the wasm32-unknown-unknown target (apt-get install rustc libstd-rust-dev-wasm32)")
    project = scaffold.scaffold_project(tmp_path / "rs-deny", "rust", no_deps=True)
    _build_and_validate(project)
    _check_configuration_parsing(project / "build" / "filter.wasm")
    result = run_project_tests(project, "python,envoy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 passed" in result.stdout


def _break(source: Path, replacements: list[tuple[str, str, str]]) -> list[str]:
    """Apply each (old, new, culprit) once; return the `line:col` where each culprit now stands."""
    text = source.read_text()
    for old, new, _ in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    source.write_text(text)
    places = []
    for _, new, culprit in replacements:
        offset = text.index(new) + new.index(culprit)
        line = text.count("\n", 0, offset) + 1
        places.append(f"{line}:{offset - (text.rfind(chr(10), 0, offset) + 1) + 1}")
    return places


@pytest.mark.toolchain
def test_a_broken_assemblyscript_filter_reports_every_error_with_its_place(tmp_path):
    project = scaffold.scaffold_project(tmp_path / "broken", "assemblyscript")
    places = _break(project / "assembly" / "index.ts", [
        ("return Action.Continue;", "return Action.Sideways;", "Sideways"),
        ("return Action.Continue;", "const bad: string = 5; return Action.Continue;", "5;"),
    ])
    assert places[0].split(":")[0] != places[1].split(":")[0]  # two different lines
    proc = run_cli("build", str(project))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == f"proxywasm: the AssemblyScript project {project} did not compile: 2 errors."
    assert lines[1].startswith(f"assembly/index.ts:{places[0]}: error TS2339: ") and "Sideways" in lines[1]
    assert lines[2].startswith(f"assembly/index.ts:{places[1]}: error TS2322: ")
    assert len(lines) == 3
    assert not (project / "build" / "filter.wasm").exists()


@pytest.mark.toolchain
def test_a_broken_rust_filter_reports_every_error_with_its_place(tmp_path):
    if rustc_with_wasm_target() is None:
        pytest.skip("no rustc with the wasm32-unknown-unknown target")
    project = scaffold.scaffold_project(tmp_path / "broken", "rust", no_deps=True)
    places = _break(project / "src" / "lib.rs", [
        ("Action::Continue", "Action::Sideways", "Sideways"),
        ("Action::Continue", "Action::Backwards", "Backwards"),
    ])
    with pytest.raises(UserError) as info:
        build_project(project)
    lines = str(info.value).splitlines()
    assert lines[0] == f"the Rust project {project} did not compile: 2 errors."
    assert lines[1].startswith(f"src/lib.rs:{places[0]}: error[E0599]: ") and "Sideways" in lines[1]
    assert lines[2].startswith(f"src/lib.rs:{places[1]}: error[E0599]: ") and "Backwards" in lines[2]
    assert not (project / "build" / "filter.wasm").exists()


@pytest.mark.toolchain
def test_a_failed_cargo_build_says_why(tmp_path):
    if shutil.which("cargo") is None:
        pytest.skip("no cargo")
    project = scaffold.scaffold_project(tmp_path / "crate", "rust")
    manifest = project / "Cargo.toml"
    # A dependency cargo cannot load, offline and the same everywhere: its path does not exist.
    manifest.write_text(manifest.read_text().replace('proxy-wasm = "0.2"', 'proxy-wasm = { path = "../nowhere" }'))
    proc = run_cli("build", str(project))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == f"proxywasm: cargo could not build the Rust project {project}: 1 error."
    assert lines[1].startswith("error: failed to get `proxy-wasm` as a dependency")
    assert any(line.startswith("  caused by: ") and "nowhere" in line and "Cargo.toml" in line for line in lines[2:])


# -- the bindings beyond the scaffold: callouts, resume, body writes --------------------------

AUTH_FILTER_AS = '''
import { Action, HttpContext, RootContext, header, logInfo, registerRootContext } from "./proxywasm";
export * from "./proxywasm/exports";

class Root extends RootContext {
  createHttpContext(contextId: u32): HttpContext | null { return new Auth(contextId); }
}

class Auth extends HttpContext {
  onHttpRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    const token = this.getHttpRequestHeader("authorization");
    const callId = this.dispatchHttpCall("auth", [header(":method", "GET"), header(":path", "/check"),
      header(":authority", "auth"), header("x-token", token !== null ? token : "")], null, [], 5000);
    if (callId < 0) {
      this.sendHttpResponse(500, [], String.UTF8.encode("callout refused\\n"));
    }
    return Action.Pause;
  }

  onHttpCallResponse(callId: u32, numHeaders: u32, bodySize: u32, numTrailers: u32): void {
    const status = this.getHttpCallResponseHeader(":status");
    if (status !== null && status == "200") {
      const user = this.getHttpCallResponseBody(0, bodySize);
      this.setHttpRequestHeader("x-user", user !== null ? String.UTF8.decode(user) : "");
      this.removeHttpRequestHeader("authorization");
      logInfo("auth: allowed");
      this.resumeHttpRequest();
    } else {
      this.sendHttpResponse(403, [header("x-auth", "denied")], String.UTF8.encode("forbidden\\n"));
    }
  }

  onHttpResponseBody(bodySize: u32, endOfStream: bool): Action {
    if (!endOfStream) return Action.Pause;
    const body = this.getHttpResponseBody(0, bodySize);
    const text = body !== null ? String.UTF8.decode(body) : "";
    this.setHttpResponseBody(0, bodySize, String.UTF8.encode(text.toUpperCase()));
    return Action.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new Root(contextId));
'''

AUTH_FILTER_RUST = '''
mod proxy_wasm;

use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::*;
use proxy_wasm::types::*;

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root) });
}}

struct Root;
impl Context for Root {}
impl RootContext for Root {
    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Auth))
    }
}

struct Auth;
impl Context for Auth {
    fn on_http_call_response(&mut self, _token: u32, _headers: usize, body_size: usize, _trailers: usize) {
        if self.get_http_call_response_header(":status").as_deref() == Some("200") {
            let user = self.get_http_call_response_body(0, body_size).unwrap_or_default();
            self.set_http_request_header("x-user", Some(&String::from_utf8_lossy(&user)));
            self.remove_http_request_header("authorization");
            let _ = hostcalls::log(LogLevel::Info, "auth: allowed");
            self.resume_http_request();
        } else {
            self.send_http_response(403, vec![("x-auth", "denied")], Some(b"forbidden\\n"));
        }
    }
}
impl HttpContext for Auth {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        let token = self.get_http_request_header("authorization").unwrap_or_default();
        let headers = vec![(":method", "GET"), (":path", "/check"), (":authority", "auth"), ("x-token", token.as_str())];
        if self.dispatch_http_call("auth", headers, None, vec![], Duration::from_secs(5)).is_err() {
            self.send_http_response(500, vec![], Some(b"callout refused\\n"));
        }
        Action::Pause
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        let body = self.get_http_response_body(0, body_size).unwrap_or_default();
        self.set_http_response_body(0, body_size, String::from_utf8_lossy(&body).to_uppercase().as_bytes());
        Action::Continue
    }
}
'''


def _auth_project(tmp_path: Path, language: str) -> Path:
    project = scaffold.scaffold_project(tmp_path / f"auth-{language}", language, no_deps=language == "rust")
    if language == "assemblyscript":
        (project / "assembly" / "index.ts").write_text(AUTH_FILTER_AS)
    else:
        (project / "src" / "lib.rs").write_text(AUTH_FILTER_RUST)
    return project


def _check_auth(host) -> None:
    request = {":method": "GET", ":path": "/", ":authority": "example.com"}
    allowed = host.http_request({**request, "authorization": "good"}, upstream=(200, {}, b"hello"))
    assert allowed.status == 200 and allowed.body == b"HELLO"
    assert allowed.upstream_request.headers.get("x-user") == "alice"
    assert "authorization" not in allowed.upstream_request.headers
    denied = host.http_request({**request, "authorization": "bad"}, upstream=(200, {}, b"hello"))
    # As in Envoy, the local reply also runs through the response path (and is upper-cased).
    assert denied.status == 403 and denied.body == b"FORBIDDEN\n" and denied.upstream_request is None
    assert denied.headers["x-auth"] == "denied"


@pytest.mark.toolchain
@pytest.mark.envoy
@pytest.mark.parametrize("language", ["assemblyscript", "rust"])
def test_bindings_do_callouts_resume_and_body_writes_in_the_emulator_and_envoy(tmp_path, language):
    if language == "rust" and rustc_with_wasm_target() is None:
        pytest.skip("no rustc with the wasm32-unknown-unknown target")
    from proxywasm.testing import Host
    from proxywasm_build.envoy.host import EnvoyHost

    module = build_project(_auth_project(tmp_path, language))
    answer = lambda call: (200, {}, b"alice") if call.headers.get("x-token") == "good" else (401, {}, b"")  # noqa: E731
    host = Host.load(module, clusters=["auth"])
    host.on_http_call("auth", answer)
    _check_auth(host)
    assert any(record.message == "auth: allowed" for record in host.logs)

    with EnvoyHost.load(module, callouts=("auth",)) as envoy:
        envoy.on_http_call("auth", answer)  # the same responder, answered by a real server
        _check_auth(envoy)
