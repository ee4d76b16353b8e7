"""An exhausted interpreter fails its VM, and Envoy's FAIL_RELOAD (the default failure policy)
gives a fresh one: a leaking filter serves again without an Envoy restart, on both runtimes.

In the emulator (in-process and wasmtime) a MemoryError that reaches the SDK is a VM failure
too: the call raises `ModuleTrap`."""

from __future__ import annotations

import http.client
import time
from pathlib import Path

import pytest

from proxywasm.testing import Host, ModuleTrap
from proxywasm_build.envoy.runner import LocalEnvoy
from proxywasm_build.hosts import built_module

LEAKING = Path(__file__).parent / "data" / "leaking_filter.py"
OUT_OF_MEMORY = {":method": "GET", ":path": "/", ":authority": "test", "x-out-of-memory": "1"}
#: CPython's module may grow to 1 GiB; this makes 100 KiB per request run out within ~100 requests.
CPYTHON_MEMORY = 16 << 20


def leaking_module(runtime: str, tmp_path: Path) -> Path:
    module = built_module(LEAKING, runtime=runtime)
    if runtime == "micropython":
        return module  # its GC heap is 1 MiB
    from proxywasm_build.wasm.memory_limit import with_memory_maximum

    limited = tmp_path / "leaking-16mib.wasm"
    limited.write_bytes(with_memory_maximum(module.read_bytes(), CPYTHON_MEMORY))
    return limited


def get(envoy: LocalEnvoy) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=10)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def until_failure(envoy: LocalEnvoy, limit: int = 400) -> list[tuple[int, bytes]]:
    """Requests until the first one that does not get the filter's 200 (that one included)."""
    answers = []
    while len(answers) < limit:
        answers.append(get(envoy))
        if answers[-1][0] != 200:
            return answers
    raise AssertionError(f"the filter never ran out of memory in {limit} requests")


def until_served(envoy: LocalEnvoy, timeout: float = 15.0) -> list[tuple[int, bytes]]:
    """Requests every 50 ms until one gets the filter's 200 again (that one included): Envoy
    reloads the failed VM after its jittered backoff (base 1 s) and answers 503 meanwhile."""
    answers = [get(envoy)]
    deadline = time.monotonic() + timeout
    while answers[-1][0] != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
        answers.append(get(envoy))
    return answers


@pytest.mark.build
@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_a_leaking_filter_serves_again_without_an_envoy_restart(tmp_path, runtime):
    module = leaking_module(runtime, tmp_path)
    with LocalEnvoy(module=module, plugin_config=b'{"kib": 100}') as envoy:
        pid = envoy.pid
        for _ in range(3):
            answers = until_failure(envoy)
            assert answers[-1][0] == 503, answers[-1]  # the request whose callback trapped
            waiting = until_served(envoy)
            assert waiting[-1] == (200, b"held 1\n")   # a fresh VM
            assert {status for status, _ in waiting[:-1]} <= {503}
        assert envoy.pid == pid and envoy.running
        messages = [message for level, message in envoy.wasm_logs() if level == "error"]
    assert sum("failing the VM" in message for message in messages) == 3


@pytest.mark.build
@pytest.mark.parametrize("policy, after", [("fail-closed", 503), ("fail-open", 200)])
def test_the_other_failure_policies_fail_closed_or_open_for_good(policy, after):
    module = built_module(LEAKING, runtime="micropython")
    with LocalEnvoy(module=module, failure_policy=policy, direct_response=(200, "past the filter\n")) as envoy:
        conn = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=10)
        conn.request("GET", "/", headers={"x-out-of-memory": "1"})
        assert conn.getresponse().status == 503
        conn.close()
        later = [get(envoy) for _ in range(3)]
    assert all(status == after for status, _ in later), later
    if policy == "fail-open":
        assert later[0][1] == b"past the filter\n"


@pytest.mark.parametrize("target", ["python", "micropython", "cpython"])
def test_the_emulator_fails_the_vm_on_a_memory_error(target):
    path = LEAKING if target == "python" else built_module(LEAKING, runtime=target)
    host = Host.load(path)
    assert host.http_request({":method": "GET", ":path": "/", ":authority": "test"}).status == 200
    with pytest.raises(ModuleTrap):
        host.http_request(OUT_OF_MEMORY)
