"""Real Envoy: the bootstrap renderer, the LocalEnvoy runner and the recording upstream."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest
import wasmtime

from proxywasm_build.envoy.runner import EnvoyError, LocalEnvoy
from proxywasm_build.envoy.config import render_bootstrap, validate_bootstrap
from proxywasm_build.errors import UserError

pytestmark = pytest.mark.envoy

# A minimal Proxy-Wasm 0.2.1 module: logs on configure, answers every request with a 418
# local reply, or (when the request has an `x-pass` header) lets it through and adds
# `x-wat: 1` to the request it forwards.
MINIMAL_WAT = r"""
(module
  (import "env" "proxy_send_local_response"
    (func $send (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value"
    (func $get_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value"
    (func $add_header (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 17)
  (global $heap (mut i32) (i32.const 65536))
  (data (i32.const 16) "hello from wat\n")
  (data (i32.const 64) "configured")
  (data (i32.const 80) "x-pass")
  (data (i32.const 96) "x-wat")
  (data (i32.const 112) "1")
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "_initialize"))
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap
      (i32.and (i32.add (i32.add (global.get $heap) (local.get $n)) (i32.const 7)) (i32.const -8)))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $log (i32.const 2) (i32.const 64) (i32.const 10)))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    ;; header map 0 = request headers; return pointers at 200/204
    (if (i32.eqz (call $get_header (i32.const 0) (i32.const 80) (i32.const 6) (i32.const 200) (i32.const 204)))
      (then
        (drop (call $add_header (i32.const 0) (i32.const 96) (i32.const 5) (i32.const 112) (i32.const 1)))
        (return (i32.const 0))))
    (drop (call $send (i32.const 418) (i32.const 0) (i32.const 0) (i32.const 16) (i32.const 15)
                      (i32.const 0) (i32.const 0) (i32.const -1)))
    (i32.const 1))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_delete") (param i32)))
"""


@pytest.fixture(scope="module")
def minimal_module(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("wat") / "minimal.wasm"
    path.write_bytes(wasmtime.wat2wasm(MINIMAL_WAT))
    return path


@pytest.fixture(scope="module")
def unmarked_module(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("wat") / "unmarked.wasm"
    path.write_bytes(wasmtime.wat2wasm(MINIMAL_WAT.replace('(func (export "proxy_abi_version_0_2_1"))', "")))
    return path


def get(envoy: LocalEnvoy, path: str = "/", headers: dict[str, str] | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_rendered_configs_pass_envoy_validate(minimal_module):
    http_direct = render_bootstrap(module=minimal_module, listener_port=10000, admin_port=10001,
                                   plugin_config='{"a": "b"}', clusters={"auth": ("127.0.0.1", 9)},
                                   mark_local_replies=True)
    tcp_binary_config = render_bootstrap(module=minimal_module, listener_port=10000, admin_port=10001,
                                         tcp=True, upstream=("127.0.0.1", 9), vm_config=b"\xff\x00")
    remote = render_bootstrap(remote=("https://example.com/f.wasm", "ab" * 32),
                              listener_port=10000, admin_port=10001, upstream=("localhost", 80))
    for config in (http_direct, tcp_binary_config, remote):
        validate_bootstrap(config)
    assert "envoy.filters.network.wasm" in tcp_binary_config
    assert "proxywasm_module_source" in remote


def test_render_rejects_both_or_neither_code_source(minimal_module):
    with pytest.raises(UserError):
        render_bootstrap(listener_port=1, admin_port=2)
    with pytest.raises(UserError):
        render_bootstrap(module=minimal_module, remote=("http://x/y", "0" * 64), listener_port=1, admin_port=2)


def test_minimal_module_answers_local_reply_and_logs(minimal_module):
    with LocalEnvoy(module=minimal_module, plugin_config=b"{}") as envoy:
        assert envoy.running and envoy.pid
        assert 0 < envoy.time_to_ready < 60
        status, headers, body = get(envoy)
        assert (status, body) == (418, b"hello from wat\n")
        assert ("info", "configured") in envoy.wasm_logs()
        assert envoy.wasm_logs(worker_only=True) == [("info", "configured")]
        assert envoy.stats()["http.proxywasm_http.downstream_rq_4xx"] == 1
        assert envoy.rss_bytes() > 10 * 1024 * 1024
        pid = envoy.pid
    assert not envoy.running
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert "configured" in envoy.logs()  # kept after stop


def test_request_passes_to_recording_upstream_and_callout_cluster_exists(minimal_module):
    from proxywasm_build.envoy.upstream import RecordingUpstream

    with RecordingUpstream() as upstream, RecordingUpstream() as auth:
        upstream.respond(201, {"x-up": "yes"}, b"from upstream")
        with LocalEnvoy(module=minimal_module, upstream=upstream.address,
                        clusters={"auth": auth.address}) as envoy:
            status, headers, body = get(envoy, "/p?q=1", {"x-pass": "1", "x-custom": "kept"})
            assert (status, headers["x-up"], body) == (201, "yes", b"from upstream")
            (seen,) = upstream.requests
            assert seen.method == "GET" and seen.path == "/p?q=1"
            assert seen.headers["x-wat"] == "1" and seen.headers["x-custom"] == "kept"
            assert "cluster.auth.membership_total" in envoy.stats()
            assert auth.requests == []


def test_module_without_abi_marker_gives_envoys_reason(unmarked_module):
    with pytest.raises(EnvoyError, match="Missing or unknown Proxy-Wasm ABI version"):
        LocalEnvoy(module=unmarked_module)


def test_corrupt_module_gives_envoys_reason(tmp_path):
    junk = tmp_path / "junk.wasm"
    junk.write_bytes(b"\0asm\x01\0\0\0garbage")
    with pytest.raises(EnvoyError, match="Failed to parse corrupted Wasm module"):
        LocalEnvoy(module=junk)


def _wait_or_kill(proc, timeout: float = 20) -> None:
    """Wait for `proxywasm run` to stop; if it does not, kill it and its Envoy (own session)
    before failing, so a broken Ctrl-C leaves nothing running."""
    import os
    import signal
    import subprocess

    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid_line in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                       text=True).stdout.split():
            os.killpg(int(pid_line), signal.SIGKILL)
        proc.kill()
        proc.wait()
        raise


@pytest.mark.parametrize("sigint_at_start", ["default", "ignored"])
def test_proxywasm_run_serves_until_ctrl_c(minimal_module, sigint_at_start):
    # "ignored": how a script's background job (`proxywasm run ... &`) starts; Python then
    # installs no Ctrl-C handler of its own, so `run` must.
    import os
    import signal
    import subprocess
    import sys
    import time

    from proxywasm_build.envoy.runner import free_port

    port = free_port()
    proxywasm = Path(sys.executable).with_name("proxywasm")
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_at_start == "ignored" else None
    proc = subprocess.Popen([str(proxywasm), "run", str(minimal_module), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ignore)
    try:
        first_line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in first_line
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/", headers={"x-pass": "1"})
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b"hello from upstream\n")
        conn.close()
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        _wait_or_kill(proc)
        out, err = proc.stdout.read(), proc.stderr.read()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "stopped." in err
    assert "[info] configured" in out
    with pytest.raises(ConnectionRefusedError):
        socket_probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        socket_probe.request("GET", "/")


def test_proxywasm_run_reports_envoys_reason_in_one_sentence(unmarked_module):
    import subprocess
    import sys

    proxywasm = Path(sys.executable).with_name("proxywasm")
    proc = subprocess.run([str(proxywasm), "run", str(unmarked_module), "--port", "0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == \
        "proxywasm: Envoy exited while starting: Wasm VM failed Missing or unknown Proxy-Wasm ABI version"


@pytest.mark.registry
def test_proxywasm_run_pulls_a_reference_from_a_registry(minimal_module, tmp_path):
    import signal
    import subprocess
    import sys

    from registry import LocalRegistry, require_registry

    from proxywasm_build.ship import oci
    from proxywasm_build.envoy.runner import free_port

    require_registry()
    with LocalRegistry(tmp_path / "registry") as registry:
        ref = f"{registry.host}/filters/minimal:v1"
        oci.push(minimal_module, ref, plain_http=True)
        port = free_port()
        proxywasm = Path(sys.executable).with_name("proxywasm")
        env = {**__import__("os").environ, "PROXYWASM_CACHE": str(tmp_path / "cache")}
        proc = subprocess.Popen([str(proxywasm), "run", ref, "--plain-http", "--port", str(port)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert f"http://127.0.0.1:{port}" in proc.stdout.readline()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/")
            resp = conn.getresponse()
            assert (resp.status, resp.read()) == (418, b"hello from wat\n")
            conn.close()
        finally:
            proc.send_signal(signal.SIGINT)
            _wait_or_kill(proc)
        assert proc.returncode == 0
        assert any((tmp_path / "cache" / "oci").rglob("*.wasm"))


REFUSING_FILTERS = {
    "on_configure returns False": ("""
import proxywasm


class Root(proxywasm.RootContext):
    def on_configure(self, plugin_configuration_size: int) -> bool:
        proxywasm.log_error("bad config: x")
        return False


proxywasm.set_root_context(Root)
""", "Failed to configure base Wasm plugin (the module's last error log: bad config: x)."),
    "on_vm_start raises": ("""
import proxywasm


class Root(proxywasm.RootContext):
    def on_vm_start(self, vm_configuration_size: int) -> bool:
        raise ValueError("no vm config")


proxywasm.set_root_context(Root)
""", "Failed to start base Wasm (the module's last error log: ValueError: no vm config)."),
    "on_configure explains in several lines": ("""
import proxywasm


class Root(proxywasm.RootContext):
    def on_configure(self, plugin_configuration_size: int) -> bool:
        proxywasm.log_error("bad config: 'limit' must be a number")
        proxywasm.log_error("bad config: 'path' is missing")
        return False


proxywasm.set_root_context(Root)
""", "Failed to configure base Wasm plugin (the module's last error log: bad config: 'limit' must be "
     "a number | bad config: 'path' is missing)."),
    "on_configure explains at warning level": ("""
import proxywasm


class Root(proxywasm.RootContext):
    def on_configure(self, plugin_configuration_size: int) -> bool:
        proxywasm.log_warn("no configuration given; refusing to start")
        return False


proxywasm.set_root_context(Root)
""", "Failed to configure base Wasm plugin (the module's last warning: no configuration given; "
     "refusing to start)."),
}


@pytest.mark.build
@pytest.mark.parametrize("case", list(REFUSING_FILTERS))
def test_proxywasm_run_shows_the_filters_own_error_when_it_refuses_to_start(tmp_path, case):
    import subprocess
    import sys

    from proxywasm_build.hosts import built_module

    source_text, reason = REFUSING_FILTERS[case]
    source = tmp_path / "refusing.py"
    source.write_text(source_text)
    built_module(source)  # cached: `run` below finds it
    proxywasm = Path(sys.executable).with_name("proxywasm")
    proc = subprocess.run([str(proxywasm), "run", str(source), "--port", "0"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"proxywasm: Envoy exited while starting: Wasm VM failed {reason}")


@pytest.mark.parametrize("option", ["--port", "--admin-port"])
def test_proxywasm_run_names_a_port_in_use(minimal_module, option):
    import socket
    import subprocess
    import sys

    proxywasm = Path(sys.executable).with_name("proxywasm")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["--port", str(port)] if option == "--port" else ["--port", "0", "--admin-port", str(port)]
        proc = subprocess.run([str(proxywasm), "run", str(minimal_module), *args],
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"proxywasm: port {port} on 127.0.0.1 is in use; pick another with {option}."]


def test_local_envoy_names_an_admin_port_in_use(minimal_module):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EnvoyError) as raised:
            LocalEnvoy(module=minimal_module, admin_port=port)
    assert str(raised.value) == f"Envoy could not listen on 127.0.0.1:{port}: the port is in use."


def test_proxywasm_run_builds_a_py_filter_with_the_runtime_asked_for(tmp_path: Path):
    import signal
    import subprocess
    import sys

    from proxywasm_build.envoy.runner import free_port

    proxywasm = Path(sys.executable).with_name("proxywasm")
    needs_re = tmp_path / "needs_re.py"
    needs_re.write_text("import re\nimport proxywasm\nproxywasm.set_http_context(lambda c, r: None)\n")
    refused = subprocess.run([str(proxywasm), "run", str(needs_re), "--runtime", "micropython"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1].startswith(
        "proxywasm: needs_re.py:1 imports `re`, which the micropython runtime lacks")

    port = free_port()
    deny = Path(__file__).resolve().parents[1] / "benchmarks" / "filters" / "deny_python.py"
    proc = subprocess.Popen([str(proxywasm), "run", str(deny), "--port", str(port), "--runtime", "micropython"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert f"http://127.0.0.1:{port}" in proc.stdout.readline()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/", headers={"x-deny": "1"})
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (403, b"denied\n")
        conn.close()
    finally:
        proc.send_signal(signal.SIGINT)
        _wait_or_kill(proc)
        proc.stdout.read()
        proc.stderr.read()
