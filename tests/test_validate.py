"""`proxywasm validate`: the right sentence and exit code for good, bad and unreadable modules,
and the prediction checked against the real Envoy 1.40."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime

from proxywasm import abi
from proxywasm_build.envoy.runner import EnvoyError, LocalEnvoy
from proxywasm_build.wasm.validate import ENVOY_WASI_FAILURES, ValidationReport, validate_module
from proxywasm_build.wasm.reader import NotWasmError, read_module
from proxywasm_build.languages.c import compile_c_module

C_MODULES = Path(__file__).parent / "c_modules"
PROXYWASM = str(Path(sys.executable).parent / "proxywasm")
GOOD, NO_MARKER, WRONG_SIGNATURE, UNKNOWN_HOSTCALL = (
    "header_filter", "no_abi_marker", "wrong_callback_signature", "unknown_hostcall")


@pytest.fixture(scope="session")
def c_modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The C test modules, compiled with zig once per session."""
    out = tmp_path_factory.mktemp("c_modules")
    return {name: compile_c_module([C_MODULES / f"{name}.c"], out / f"{name}.wasm")
            for name in (GOOD, NO_MARKER, WRONG_SIGNATURE, UNKNOWN_HOSTCALL)}


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROXYWASM, *map(str, args)], capture_output=True, text=True, timeout=60)


def assert_no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout


# ---------------------------------------------------------------------------------------
# The CLI: sentence and exit code for each kind of module


@pytest.mark.parametrize("name, exit_code, sentence", [
    (GOOD, 0, "header_filter.wasm: valid for Envoy 1.40 (ABI 0.2.1; 0 errors, 0 warnings)"),
    (NO_MARKER, 1, "error: no_abi_marker.wasm exports no proxy_abi_version_* function: it was not "
                   "built for Proxy-Wasm, or for a pre-0.1 ABI"),
    (WRONG_SIGNATURE, 1, "error: wrong_callback_signature.wasm exports proxy_on_request_headers as "
                         "(i32, i32) -> (i32) but ABI 0.2.1 needs (i32, i32, i32) -> (i32): it has "
                         "the ABI 0.1.0 signature"),
    (UNKNOWN_HOSTCALL, 1, "error: unknown_hostcall.wasm imports env.proxy_get_configuration, which "
                          "only ABI 0.1.0 hosts provide but the module declares 0.2.1: read it with "
                          "proxy_get_buffer_bytes(PLUGIN_CONFIGURATION"),
])
def test_cli_verdict_for_c_modules(c_modules: dict[str, Path], name: str, exit_code: int,
                                   sentence: str) -> None:
    proc = run_cli("validate", c_modules[name])
    assert proc.returncode == exit_code, proc.stderr
    assert sentence in proc.stdout
    assert_no_traceback(proc)
    if exit_code:
        assert proc.stderr.strip() == f"proxywasm: {c_modules[name]} will not load in Envoy 1.40: 1 error."
        findings = [line for line in proc.stdout.splitlines() if line.startswith("error:")]
        assert len(findings) == 1  # one line per finding, and only the one wrong thing


@pytest.mark.parametrize("make, reason", [
    (lambda good: good[: len(good) // 2], "it is truncated: the "),
    (lambda good: good[:6], "it is truncated inside the 8-byte WebAssembly header"),
    (lambda good: os.urandom(4096).replace(b"\0asm", b""), "it does not start with the WebAssembly magic bytes"),
    (lambda good: b"", "the file is empty"),
    (lambda good: b'(module (func (export "proxy_abi_version_0_2_1")))', "it is WebAssembly text (.wat)"),
    (lambda good: b"\0asm\x0d\0\x01\0", "it is a WebAssembly component, not a core module"),
])
def test_cli_unreadable_bytes_exit_2(c_modules: dict[str, Path], tmp_path: Path, make, reason: str) -> None:
    path = tmp_path / "bad.wasm"
    path.write_bytes(make(c_modules[GOOD].read_bytes()))
    for command in ("validate", "inspect"):
        proc = run_cli(command, path)
        assert proc.returncode == 2
        assert proc.stderr.startswith(f"proxywasm: {path} is not a usable WebAssembly module: {reason}")
        assert len(proc.stderr.strip().splitlines()) == 1
        assert_no_traceback(proc)


def test_cli_missing_file_and_bad_options(tmp_path: Path, c_modules: dict[str, Path]) -> None:
    proc = run_cli("validate", tmp_path / "nope.wasm")
    assert (proc.returncode, proc.stderr.strip()) == (2, f"proxywasm: {tmp_path / 'nope.wasm'} does not exist.")
    proc = run_cli("validate", c_modules[GOOD], "--envoy", "latest")
    assert proc.returncode == 2 and "is not a version like 1.40" in proc.stderr
    proc = run_cli("validate", c_modules[GOOD], "--abi", "0.3.0")
    assert proc.returncode == 2 and "0.3.0" in proc.stderr
    assert_no_traceback(proc)


def test_cli_json_report(c_modules: dict[str, Path]) -> None:
    proc = run_cli("validate", c_modules[WRONG_SIGNATURE], "--json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["ok"] is False and report["abi_version"] == "0.2.1" and report["errors"] == 1
    (finding,) = report["findings"]
    assert finding["code"] == "callback-signature"
    assert finding["envoy_error"] == ("Bad function signature for: proxy_on_request_headers, want: "
                                      "i32 i32 i32 -> i32, but the module exports: i32 i32 -> i32")
    good = json.loads(run_cli("validate", c_modules[GOOD], "--json").stdout)
    assert good == {"module": str(c_modules[GOOD]), "readable": True, "ok": True, "abi_version": "0.2.1",
                    "envoy": "1.40", "errors": 0, "warnings": 0, "findings": []}


def test_abi_option_checks_against_the_requested_version(c_modules: dict[str, Path]) -> None:
    proc = run_cli("validate", c_modules[GOOD], "--abi", "0.1.0")
    assert proc.returncode == 1
    assert "declares ABI 0.2.1 but --abi 0.1.0 was asked for" in proc.stdout
    # Without a marker the other checks use the requested ABI: 0.1.0 wants two parameters.
    report = validate_module(c_modules[NO_MARKER].read_bytes(), abi="0.1.0")
    assert report.abi_version is None
    assert {f.code for f in report.errors} == {"abi-marker-missing", "callback-signature"}


# ---------------------------------------------------------------------------------------
# Rules, one probe module each, and what the real Envoy 1.40 says about the same module

def probe_module(imports: str = "", exports: str = "", *, marker: str = "proxy_abi_version_0_2_1",
                 allocator: bool = True, start: str = "_initialize", memory_pages: int = 2) -> bytes:
    parts = ["(module", imports, f'(memory (export "memory") {memory_pages})']
    if start:
        parts.append(f'(func (export "{start}"))')
    if marker:
        parts.append(f'(func (export "{marker}"))')
    if allocator:
        parts.append('(func (export "proxy_on_memory_allocate") (param i32) (result i32) i32.const 1024)')
    parts += ['(func (export "proxy_on_context_create") (param i32 i32))', exports, ")"]
    return wasmtime.wat2wasm("\n".join(parts))


def wasi_import(name: str, params: int, i64_at: tuple[int, ...] = (), module: str = "wasi_snapshot_preview1") -> str:
    types = " ".join("i64" if i in i64_at else "i32" for i in range(params))
    return f'(import "{module}" "{name}" (func (param {types}) (result i32)))'


# name -> (module bytes, the error codes validate reports)
PROBES: dict[str, tuple[bytes, set[str]]] = {
    "minimal": (probe_module(), set()),
    "no allocator": (probe_module(allocator=False), {"allocator-missing"}),
    "malloc with a wrong signature": (
        probe_module(exports='(func (export "malloc") (param i32 i32) (result i32) i32.const 0)'),
        {"allocator-signature"}),
    "unknown ABI marker": (probe_module(marker="proxy_abi_version_0_3_0"), {"abi-marker-unknown"}),
    "marker exported as a global": (
        probe_module(marker="", exports='(global (export "proxy_abi_version_0_2_1") i32 (i32.const 0))'),
        {"abi-marker-not-function"}),
    "global import": (probe_module(imports='(import "env" "table_base" (global i32))'), {"import-global"}),
    "WASI path_link with seven parameters": (probe_module(imports=wasi_import("path_link", 7)),
                                             {"import-signature"}),
    "WASI path_symlink with five parameters": (
        probe_module(imports=wasi_import("path_symlink", 5, module="wasi_unstable")), {"import-signature"}),
    "WASI path_link as Envoy declares it": (probe_module(imports=wasi_import("path_link", 6)), set()),
    "WASI proc_raise": (probe_module(imports=wasi_import("proc_raise", 1)), {"import-unknown"}),
    "hostcall with a wrong signature": (
        probe_module(imports='(import "env" "proxy_log" (func (param i32 i32) (result i32)))'),
        {"import-signature"}),
    "hostcall from another module": (
        probe_module(imports='(import "proxy" "proxy_log" (func (param i32 i32 i32) (result i32)))'),
        {"import-unknown"}),
    "0.2.1 hostcall in a 0.2.0 module": (
        probe_module(imports='(import "env" "proxy_get_log_level" (func (param i32) (result i32)))',
                     marker="proxy_abi_version_0_2_0"),
        {"import-unknown"}),
    "_start with a parameter": (
        probe_module(start="", exports='(func (export "_start") (param i32))'), {"start-signature"}),
    "extra host callback with a wrong signature": (
        probe_module(exports='(func (export "proxy_on_request_metadata") (param i32))'),
        {"callback-signature"}),
    "no memory export, and a hostcall": (
        wasmtime.wat2wasm('(module (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))'
                          '(memory 1) (func (export "_initialize")) (func (export "proxy_abi_version_0_2_1"))'
                          '(func (export "malloc") (param i32) (result i32) i32.const 64)'
                          '(func (export "proxy_on_vm_start") (param i32 i32) (result i32)'
                          '  (drop (call $log (i32.const 2) (i32.const 0) (i32.const 1))) i32.const 1))'),
        {"memory-not-exported"}),
    "memory exported under another name": (
        probe_module(imports='(import "env" "proxy_log" (func (param i32 i32 i32) (result i32)))'
                     ).replace(b"\x06memory", b"\x06memorx"),
        set()),
    "callback exported as a global": (
        probe_module(exports='(global (export "proxy_on_request_headers") i32 (i32.const 0))'), set()),
    "initial memory over 1 GiB": (
        probe_module(memory_pages=16385),
        {"memory-too-large"}),
    "initial memory of exactly 1 GiB": (
        probe_module(memory_pages=16384),
        set()),
    "a whole ABI 0.1.0 module": (
        probe_module(imports='(import "env" "proxy_get_configuration" (func (param i32 i32) (result i32)))'
                             '(import "env" "proxy_continue_request" (func (result i32)))',
                     exports='(func (export "proxy_on_request_headers") (param i32 i32) (result i32) i32.const 0)',
                     marker="proxy_abi_version_0_1_0"),
        set()),
    "a whole ABI 0.2.0 module": (
        probe_module(imports='(import "env" "proxy_continue_stream" (func (param i32) (result i32)))',
                     exports='(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) i32.const 0)'
                             '(func (export "proxy_on_foreign_function") (param i32 i32 i32))',
                     marker="proxy_abi_version_0_2_0"),
        set()),
    "unknown marker next to a known one": (
        probe_module(exports='(func (export "proxy_abi_version_0_3_0"))'
                             '(global (export "proxy_abi_version_0_1_0") i32 (i32.const 0))'),
        set()),
    "data segment past the initial memory": (
        probe_module(exports='(data (i32.const 131070) "0123456789")'), {"data-out-of-bounds"}),
    "data segment that just fits": (probe_module(exports='(data (i32.const 131062) "0123456789")'), set()),
    "element segment past the table": (
        probe_module(exports='(table 2 funcref) (elem (i32.const 1) 0 0)'), {"element-out-of-bounds"}),
    "harmless start function": (probe_module(exports='(func $s nop) (start $s)'), set()),
    "every WASI function with Envoy's signatures": (
        probe_module(imports="".join(
            f'(import "wasi_snapshot_preview1" "{n}" (func (param {" ".join(s.params)}) '
            f'(result {" ".join(s.results)})))'.replace("(param )", "").replace("(result )", "")
            for n, s in abi.ENVOY_WASI_FUNCTIONS.items())),
        set()),
}


@pytest.mark.parametrize("name", list(PROBES))
def test_rule_findings(name: str) -> None:
    data, codes = PROBES[name]
    report = validate_module(data)
    assert {f.code for f in report.errors} == codes
    assert report.ok == (not codes)
    for finding in report.findings:
        assert "\n" not in finding.message and finding.message


@pytest.mark.envoy
def test_start_function_calling_the_host_crashes_envoy(tmp_path: Path) -> None:
    """What the start-function warning says, measured: Envoy 1.40 dies of a segfault."""
    data = probe_module(imports='(import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))',
                        exports='(func $s (drop (call $log (i32.const 2) (i32.const 0) (i32.const 1))))'
                                '(start $s)')
    report = validate_module(data)
    assert report.ok and [f.code for f in report.warnings] == ["start-function"]
    path = tmp_path / "start.wasm"
    path.write_bytes(data)
    assert "Caught Segmentation fault" in (envoy_load_error(path) or "")


def test_warnings_do_not_fail() -> None:
    cases = {
        "start-missing": probe_module(start=""),
        "wasi-command": probe_module(start="_start", imports=wasi_import("fd_write", 4)),
        "callback-unknown": probe_module(exports='(func (export "proxy_on_requets_headers") (param i32 i32 i32) (result i32) i32.const 0)'),
        "wasi-stub": probe_module(imports=wasi_import("path_open", 9, i64_at=(5, 6))),
    }
    for code, data in cases.items():
        report = validate_module(data)
        assert report.ok and [f.code for f in report.warnings] == [code]
    assert validate_module(probe_module(start="_start")).findings == []  # no WASI: an init hook
    two = validate_module(probe_module(exports='(func (export "proxy_abi_version_0_1_0"))'))
    assert [f.code for f in two.errors] == ["abi-marker-multiple"] and two.abi_version == "0.2.1"


def envoy_load_error(module: Path) -> str | None:
    """None when Envoy 1.40 loads the module and is ready, else its wasm load error lines."""
    envoy = LocalEnvoy(module=module, start=False, ready_timeout=180)
    try:
        envoy.start()
    except EnvoyError:
        return "\n".join(m for level, _, logger, m in envoy.log_records()
                         if logger in ("wasm", "backtrace") and level in ("error", "critical"))
    finally:
        envoy.stop()
    return None


def assert_envoy_agrees(report: ValidationReport, envoy_error: str | None) -> None:
    """Envoy loads exactly the modules validate passes, and logs the error it predicted."""
    predicted = [f.envoy_error for f in report.errors if f.envoy_error]
    if report.ok:
        assert envoy_error is None, envoy_error
    else:
        assert envoy_error is not None, "validate said invalid but Envoy loaded it"
        assert any(p in envoy_error for p in predicted), (predicted, envoy_error)


@pytest.mark.envoy
def test_envoy_agrees_with_validate_on_c_modules(c_modules: dict[str, Path]) -> None:
    for name in (NO_MARKER, WRONG_SIGNATURE, UNKNOWN_HOSTCALL, GOOD):
        report = validate_module(c_modules[name].read_bytes())
        assert report.ok == (name == GOOD)
        assert_envoy_agrees(report, envoy_load_error(c_modules[name]))


@pytest.mark.envoy
def test_envoy_agrees_with_validate_on_rule_probes(tmp_path: Path) -> None:
    for name, (data, codes) in PROBES.items():
        if name == "minimal":
            continue
        path = tmp_path / (name.replace(" ", "_") + ".wasm")
        path.write_bytes(data)
        try:
            assert_envoy_agrees(validate_module(data), envoy_load_error(path))
        except AssertionError as err:
            raise AssertionError(f"{name}: {err}") from None


@pytest.mark.envoy
def test_envoy_wasi_behaviour_matches_the_tables(tmp_path: Path) -> None:
    """Each WASI function Envoy registers either succeeds (ENVOY_WASI_WORKING) or fails with
    the errno validate names (ENVOY_WASI_FAILURES): measured by calling every one in Envoy."""
    probe = compile_c_module([C_MODULES / "wasi_probe.c"], tmp_path / "wasi_probe.wasm")
    with LocalEnvoy(module=probe) as envoy:
        results = dict(m.split(" rc=") for _, m in envoy.wasm_logs() if m.startswith("PROBE "))
    results = {label[len("PROBE "):]: int(rc) for label, rc in results.items()}
    measured = {name: rc for name, rc in results.items() if "(" not in name}
    assert set(measured) == set(abi.ENVOY_WASI_FUNCTIONS) - {"proc_exit"}
    assert {n for n, rc in measured.items() if rc == 0} == set(abi.ENVOY_WASI_WORKING) - {"proc_exit"}
    assert {n: rc for n, rc in measured.items() if rc} == ENVOY_WASI_FAILURES
    assert results["fd_write(2)"] == 0 and results["fd_write(5)"] == 8  # EBADF beyond stdout/stderr
    assert results["clock_time_get(monotonic)"] == 0 and results["clock_time_get(process)"] == 58
    assert results["random_get(70000)"] == 28  # EINVAL above 64 KiB


# ---------------------------------------------------------------------------------------
# The good C module is a working filter in Envoy


def request(envoy: LocalEnvoy, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=10)
    try:
        connection.request("GET", "/", headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.mark.envoy
def test_good_c_filter_serves_in_envoy(c_modules: dict[str, Path]) -> None:
    with LocalEnvoy(module=c_modules[GOOD]) as envoy:
        status, headers, body = request(envoy, {"x-deny": "1"})
        assert (status, body) == (403, b"denied\n")
        status, headers, body = request(envoy, {})
        assert status == 200 and headers.get("x-filter") == "c"
        assert ("info", "c filter: denying requests with header x-deny") in envoy.wasm_logs()
        assert ("info", "c filter: denied a request") in envoy.wasm_logs()


@pytest.mark.envoy
def test_good_c_filter_reads_plugin_configuration(c_modules: dict[str, Path]) -> None:
    with LocalEnvoy(module=c_modules[GOOD], plugin_config=b"x-block") as envoy:
        assert request(envoy, {"x-deny": "1"})[0] == 200
        assert request(envoy, {"x-block": "yes"})[:3:2] == (403, b"denied\n")
        assert ("info", "c filter: denying requests with header x-block") in envoy.wasm_logs()


@pytest.mark.envoy
def test_good_c_filter_behaves_the_same_in_wasmtime_and_envoy(c_modules: dict[str, Path]) -> None:
    from proxywasm_build.hosts import envoy_host, wasm_host

    requests = [({"x-deny": "1"}, (200, {}, b"never sent")), ({}, (200, {"content-type": "text/plain"}, b"hello")),
                ({"x-block": "1"}, (200, {}, b"up"))]
    seen = {}
    for name, factory in (("wasm", wasm_host), ("envoy", envoy_host)):
        host = factory(c_modules[GOOD], plugin_config=b"x-deny")
        try:
            seen[name] = []
            for headers, upstream in requests:
                r = host.http_request({":method": "GET", ":path": "/", ":authority": "example.com",
                                       **headers}, upstream=upstream)
                seen[name].append((r.status, r.body, r.headers.get("x-filter"),
                                   r.upstream_request is None))
        finally:
            host.close()
    # Envoy runs the response path on the filter's own local reply too, so the 403 has x-filter.
    assert seen["wasm"] == seen["envoy"] == [(403, b"denied\n", "c", True), (200, b"hello", "c", False),
                                             (200, b"up", "c", False)]


def test_reader_reports_signatures_and_sections(c_modules: dict[str, Path]) -> None:
    info = read_module(c_modules[GOOD].read_bytes())
    exports = info.function_exports()
    assert exports["proxy_on_request_headers"] == abi.LATEST.callbacks["proxy_on_request_headers"].signature
    assert {i.qualified_name for i in info.imports} == {
        "env.proxy_log", "env.proxy_get_buffer_bytes", "env.proxy_get_header_map_value",
        "env.proxy_add_header_map_value", "env.proxy_send_local_response"}
    for imp in info.imports:
        assert imp.signature == abi.LATEST.hostcalls[imp.name].signature
    assert sum(s.size for s in info.sections) < info.size and info.code_size > 0
    with pytest.raises(NotWasmError):
        read_module(c_modules[GOOD].read_bytes()[:-1])


def test_docs_list_every_finding_code() -> None:
    """docs/validate.md documents each check validate can report."""
    import re

    source = (Path(__file__).parents[1] / "compiler/proxywasm_build/wasm/validate.py").read_text()
    codes = set(re.findall(r'self\.(?:error|warning)\(\s*"([a-z-]+)"', source))
    codes |= set(re.findall(r'"([a-z]+-signature)"', source))
    docs = (Path(__file__).parents[1] / "docs/validate.md").read_text()
    assert len(codes) > 20
    assert {code for code in codes if f"`{code}`" not in docs} == set()


PYTHON_FILTER = '''
import json
import proxywasm
from proxywasm import Action, HttpContext, RootContext


class Deny(HttpContext):
    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        if self.get_http_request_header("x-deny") is not None:
            self.send_http_response(403, [], b"denied\\n")
            return Action.PAUSE
        return Action.CONTINUE


class Root(RootContext):
    def create_http_context(self, context_id: int) -> HttpContext:
        return Deny(context_id, self)


proxywasm.set_root_context(Root)
'''


@pytest.mark.build
@pytest.mark.envoy
@pytest.mark.parametrize("runtime, version", [("cpython", "3.11.8"), ("micropython", "1.19.0")])
def test_python_built_module_validates_and_loads_in_envoy(tmp_path: Path, runtime: str, version: str) -> None:
    from proxywasm_build.hosts import built_module

    source = tmp_path / "deny.py"
    source.write_text(PYTHON_FILTER)
    module = built_module(source, runtime=runtime)  # `proxywasm build`, cached by source digest
    proc = run_cli("validate", module, "--json")
    assert proc.returncode == 0, proc.stdout
    report = json.loads(proc.stdout)
    assert report["abi_version"] == "0.2.1"
    assert {f["code"] for f in report["findings"]} <= {"code-size"}  # our modules are big
    described = json.loads(run_cli("inspect", module, "--json").stdout)
    assert described["python"]["runtime"] == runtime and described["python"][runtime if runtime != "cpython"
                                                                                else "python"] == version
    assert "deny" in described["python"]["frozen_modules"]
    assert_envoy_agrees(validate_module(module.read_bytes()), envoy_load_error(module))


def test_other_envoy_versions_get_a_warning() -> None:
    data = probe_module()
    assert [f.code for f in validate_module(data, envoy="1.40.0").findings] == []
    report = validate_module(data, envoy="v1.39.1")
    assert report.ok and report.envoy == "1.39"
    assert [f.message for f in report.warnings] == [
        "checked against Envoy 1.40's host functions: Envoy 1.39 was not verified and may provide "
        "different ones"]


@pytest.mark.envoy
def test_envoy_agrees_with_validate_on_random_plausible_modules() -> None:
    """Random filter-like modules with random faults: validate's verdict and predicted error
    match the real Envoy's (benchmarks/fuzz_validate.py --envoy N runs more)."""
    import importlib.util
    import random

    path = Path(__file__).parents[1] / "benchmarks" / "fuzz_validate.py"
    spec = importlib.util.spec_from_file_location("fuzz_validate", path)
    fuzz = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fuzz)
    outcomes = fuzz.envoy_agreement(random.Random(2026), 12)
    assert sum(outcomes.values()) == 12
    assert not [k for k in outcomes if k.startswith("DISAGREE")], outcomes
    assert outcomes["agree: loads"] and sum(n for k, n in outcomes.items() if "refused" in k)


@pytest.mark.toolchain
def test_a_c_filter_that_does_not_compile_reports_every_error_with_its_place(tmp_path: Path) -> None:
    from proxywasm_build.errors import UserError
    from proxywasm_build.languages.c import compile_c_module

    source = tmp_path / "broken.c"
    source.write_text("int first(void) { return missing_one; }\n\nint second(void) { return missing_two; }\n")
    with pytest.raises(UserError) as raised:
        compile_c_module([source], tmp_path / "out.wasm")
    lines = str(raised.value).splitlines()
    assert lines[0] == "zig could not compile broken.c: 2 errors."
    assert "broken.c:1:26: error: use of undeclared identifier 'missing_one'" in lines[1]
    assert "broken.c:3:27: error: use of undeclared identifier 'missing_two'" in lines[2]
    assert not (tmp_path / "out.wasm").exists()
