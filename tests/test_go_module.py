"""A Proxy-Wasm module written in Go (tests/go_module, no SDK) validates, runs under the emulator
and in real Envoy, and answers the same in both."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxywasm import abi
from proxywasm.testing import Host
from proxywasm_build.errors import UserError
from proxywasm_build.languages.go import build_go_module
from proxywasm_build.wasm.validate import validate_module
from proxywasm_build.wasm.reader import read_module

GO_MODULE = Path(__file__).parent / "go_module"
REQUEST = {":method": "GET", ":path": "/", ":authority": "example.com"}
UPSTREAM = (200, {"content-type": "text/plain"}, b"hello")


@pytest.fixture(scope="module")
def go_filter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_go_module(GO_MODULE, tmp_path_factory.mktemp("go") / "go_filter.wasm")


def comparable(response) -> tuple:
    from proxywasm_build.envoy.results import comparable_headers
    headers = dict(comparable_headers(response.headers.items()))
    return response.status, response.body, headers.get("x-filter"), response.upstream_request is None


@pytest.mark.toolchain
def test_go_module_is_a_valid_reactor_whose_wasi_imports_envoy_serves(go_filter: Path) -> None:
    data = go_filter.read_bytes()
    info = read_module(data)
    exports = {e.name for e in info.exports}
    assert {"_initialize", "malloc", "proxy_on_memory_allocate", "proxy_abi_version_0_2_1"} <= exports
    wasi = {i.name for i in info.imports if i.module in abi.WASI_MODULES}
    assert "clock_time_get" in wasi and wasi <= abi.ENVOY_WASI_WORKING
    report = validate_module(data)
    assert report.ok and report.abi_version == "0.2.1"
    # The Go runtime is about 1.2 MB of code: the only finding is the V8 compile-time warning.
    assert [f.code for f in report.findings] == ["code-size"]


@pytest.mark.toolchain
@pytest.mark.parametrize("plugin_config, deny_header", [(b"", "x-deny"), (b"x-block", "x-block")])
def test_go_module_in_the_emulator(go_filter: Path, plugin_config: bytes, deny_header: str) -> None:
    from proxywasm.testing import Host
    host = Host.load(go_filter, plugin_config=plugin_config)
    denied = host.http_request({**REQUEST, deny_header: "1"}, upstream=UPSTREAM)
    assert (denied.status, denied.body, denied.upstream_request) == (403, b"denied\n", None)
    assert denied.headers.get("x-filter") == "go"
    passed = host.http_request(REQUEST, upstream=UPSTREAM)
    assert (passed.status, passed.body, passed.headers.get("x-filter")) == (200, b"hello", "go")
    assert passed.upstream_request is not None
    assert [r.message for r in host.logs] == [f"go filter: denying requests with header {deny_header}",
                                              "go filter: denied a request"]


@pytest.mark.toolchain
@pytest.mark.envoy
def test_go_module_answers_the_same_in_envoy_and_the_emulator(go_filter: Path) -> None:
    from proxywasm.testing import Host
    from proxywasm_build.envoy.host import EnvoyHost
    # A configured header makes the host call back into Go (malloc) in the middle of a hostcall.
    emulated = Host.load(go_filter, plugin_config=b"x-block")
    with EnvoyHost.load(go_filter, plugin_config=b"x-block") as envoy:
        for request in ({**REQUEST, "x-block": "1"}, {**REQUEST, "x-deny": "1"}):
            in_envoy = envoy.http_request(request, upstream=UPSTREAM)
            assert comparable(in_envoy) == comparable(emulated.http_request(request, upstream=UPSTREAM))
        assert comparable(in_envoy) == (200, b"hello", "go", False)
        assert "go filter: denied a request" in [r.message for r in envoy.logs]


def test_go_build_mistakes_are_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is not a Go module: it has no go.mod"):
        build_go_module(tmp_path, tmp_path / "out.wasm")


@pytest.mark.toolchain
def test_go_compile_errors_are_all_reported_with_their_place(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module broken\n\ngo 1.24\n")
    (tmp_path / "main.go").write_text("package main\n\nfunc main() { undefinedName() }\n\n"
                                      "func other() int { return otherName }\n")
    with pytest.raises(UserError) as raised:
        build_go_module(tmp_path, tmp_path / "out.wasm")
    lines = str(raised.value).splitlines()
    assert lines[0] == f"go could not build {tmp_path.name}: 2 errors."
    assert lines[1].endswith("main.go:3:15: undefined: undefinedName")
    assert lines[2].endswith("main.go:5:27: undefined: otherName")
    assert not (tmp_path / "out.wasm").exists()


@pytest.mark.toolchain
def test_proxywasm_build_builds_a_go_project_directory(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    project = tmp_path / "gofilter"
    shutil.copytree(Path(__file__).parent / "go_module", project)
    done = subprocess.run([sys.executable, "-m", "proxywasm_build", "build", str(project)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    module = project / "build" / "filter.wasm"
    assert module.read_bytes()[:4] == b"\0asm"
    host = Host.load(module)
    assert host.http_request({":method": "GET", ":path": "/", ":authority": "a", "x-deny": "1"}).status == 403
