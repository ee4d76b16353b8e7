"""`deploy envoy --ecds` and `rollout` against real Envoys: a swap under load with no failed
request, refusals that write nothing, Envoy's own rejection undone, rollbacks."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from proxywasm_build.envoy.ecds import EcdsDirectory
from proxywasm_build.envoy.runner import EnvoyError, LocalEnvoy, free_port

from rollout_load import SteadyLoad
from rollout_modules import version_module

pytestmark = pytest.mark.envoy


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxywasm_build", *args], capture_output=True,
                          text=True, timeout=timeout)


def answer(envoy: LocalEnvoy) -> str:
    with urllib.request.urlopen(envoy.url + "/", timeout=10) as response:
        return response.read().decode().strip().removeprefix("version ")


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("modules")
    return {
        "a": version_module(folder / "a.wasm", "a"),
        "b": version_module(folder / "b.wasm", "b"),
        "refuses": version_module(folder / "refuses.wasm", "refuses", start="refuse"),
        "traps": version_module(folder / "traps.wasm", "traps", start="trap"),
        "no-abi": version_module(folder / "no-abi.wasm", "no-abi", start="no-abi"),
    }


def start_envoy(ecds_dir: Path, module: Path) -> LocalEnvoy:
    """`deploy envoy MODULE --ecds DIR` as a user runs it, then that bootstrap in Envoy (fresh
    ports when one was taken meanwhile)."""
    for attempt in range(3):
        port, admin_port = free_port(), free_port()
        proc = cli("deploy", "envoy", str(module), "--ecds", str(ecds_dir), "--port", str(port),
                   "--admin-port", str(admin_port))
        assert proc.returncode == 0, proc.stderr
        try:
            return LocalEnvoy(proc.stdout)
        except EnvoyError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@pytest.fixture
def fleet(tmp_path: Path, modules: dict[str, Path]):
    """Two Envoys sharing one ECDS directory that serves version a."""
    ecds_dir = tmp_path / "ecds"
    envoys = [start_envoy(ecds_dir, modules["a"]) for _ in range(2)]
    try:
        yield ecds_dir, envoys
    finally:
        for envoy in envoys:
            envoy.stop()


def rollout(ecds_dir: Path, *args: str, envoys: list[LocalEnvoy] = ()) -> subprocess.CompletedProcess[str]:
    admins = [arg for envoy in envoys for arg in ("--admin", envoy.admin_url)]
    return cli("rollout", *args, "--ecds", str(ecds_dir), *admins)


def test_swaps_under_load_fail_no_request(fleet, modules: dict[str, Path]) -> None:
    ecds_dir, envoys = fleet
    pids = [envoy.pid for envoy in envoys]
    with SteadyLoad([envoy.port for envoy in envoys]) as load:
        load.wait_all_serve("a", timeout=10)
        for version in ("b", "a", "b"):
            proc = rollout(ecds_dir, str(modules[version]), envoys=envoys)
            assert proc.returncode == 0, proc.stderr
            assert "→" in proc.stdout and proc.stdout.count("serving") == 2, proc.stdout
            load.wait_all_serve(version, timeout=30)
        time.sleep(0.3)
    result = load.result
    assert result.failed == 0, result.errors[:5]
    assert result.sent > 50 and set(result.versions) == {"a", "b"}
    assert [envoy.pid for envoy in envoys] == pids and all(envoy.running for envoy in envoys)


def test_invalid_module_is_refused_with_the_validators_sentence(fleet, modules: dict[str, Path]) -> None:
    ecds_dir, envoys = fleet
    before = snapshot(ecds_dir)
    proc = rollout(ecds_dir, str(modules["no-abi"]), envoys=envoys)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"proxywasm: {modules['no-abi']} will not load in Envoy 1.40: exports no proxy_abi_version_* function: "
        "it was not built for Proxy-Wasm, or for a pre-0.1 ABI; export proxy_abi_version_0_2_1 (an empty function)."]
    assert snapshot(ecds_dir) == before
    assert [answer(envoy) for envoy in envoys] == ["a", "a"]


@pytest.mark.parametrize("module, said", [
    ("refuses", "Wasm VM failed Failed to configure base Wasm plugin; the module's last error log: "
                "version refuses refuses its configuration"),
    ("traps", "Function: proxy_on_vm_start failed: Uncaught RuntimeError: unreachable"),
])
def test_module_that_does_not_start_is_refused_before_anything_is_written(fleet, modules, module, said) -> None:
    ecds_dir, envoys = fleet
    before = snapshot(ecds_dir)
    proc = rollout(ecds_dir, str(modules[module]), envoys=envoys)
    assert proc.returncode == 1
    assert said in proc.stderr and "nothing was changed" in proc.stderr, proc.stderr
    assert snapshot(ecds_dir) == before
    assert [answer(envoy) for envoy in envoys] == ["a", "a"]


def test_a_rejection_by_envoy_puts_the_previous_version_back(fleet, modules: dict[str, Path]) -> None:
    """Without the start check the refusing module reaches the Envoys: they reject it (config_fail),
    keep serving a, and the directory is put back to a so a new Envoy starts with a too."""
    ecds_dir, envoys = fleet
    resource_before = (ecds_dir / "filter.yaml").read_bytes()
    history_before = sorted(p.name for p in (ecds_dir / "history").iterdir())
    proc = rollout(ecds_dir, str(modules["refuses"]), "--no-start-check", envoys=envoys)
    assert proc.returncode == 1
    assert proc.stdout.count("rejected sha256:") == 2, proc.stdout
    assert "serves sha256:" in proc.stderr and "again" in proc.stderr
    assert (ecds_dir / "filter.yaml").read_bytes() == resource_before
    assert sorted(p.name for p in (ecds_dir / "history").iterdir()) == history_before
    assert [answer(envoy) for envoy in envoys] == ["a", "a"]
    for envoy in envoys:
        assert any("Filesystem config update rejected: Unable to create Wasm plugin proxywasm" in m
                   for _, _, _, m in envoy.log_records())
        assert ("error", "version refuses refuses its configuration") in envoy.wasm_logs()


def test_rollback_returns_to_the_previous_version_and_back(fleet, modules: dict[str, Path]) -> None:
    ecds_dir, envoys = fleet
    assert rollout(ecds_dir, str(modules["b"]), envoys=envoys).returncode == 0
    assert [answer(envoy) for envoy in envoys] == ["b", "b"]
    proc = rollout(ecds_dir, "--rollback", envoys=envoys)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("rolled back sha256:") and "(r3)" in proc.stdout
    assert [answer(envoy) for envoy in envoys] == ["a", "a"]
    assert rollout(ecds_dir, "--rollback", envoys=envoys).returncode == 0
    assert [answer(envoy) for envoy in envoys] == ["b", "b"]
    assert EcdsDirectory(ecds_dir).current().revision == 4


def test_rollback_needs_an_earlier_version(tmp_path: Path, modules: dict[str, Path]) -> None:
    ecds_dir = tmp_path / "ecds"
    assert cli("deploy", "envoy", str(modules["a"]), "--ecds", str(ecds_dir)).returncode == 0
    proc = rollout(ecds_dir, "--rollback")
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"proxywasm: {ecds_dir} has no earlier version to roll back to."
    proc = rollout(tmp_path / "nowhere", str(modules["b"]))
    assert "is not an ECDS directory yet" in proc.stderr


def test_deploy_refuses_to_replace_what_a_directory_serves(tmp_path: Path, modules: dict[str, Path]) -> None:
    ecds_dir = tmp_path / "ecds"
    assert cli("deploy", "envoy", str(modules["a"]), "--ecds", str(ecds_dir)).returncode == 0
    before = snapshot(ecds_dir)
    assert cli("deploy", "envoy", str(modules["a"]), "--ecds", str(ecds_dir)).returncode == 0
    proc = cli("deploy", "envoy", str(modules["b"]), "--ecds", str(ecds_dir))
    assert proc.returncode == 1 and "change it with `proxywasm rollout" in proc.stderr
    assert snapshot(ecds_dir) == before
    proc = cli("deploy", "envoy", str(modules["b"]), "--ecds", str(tmp_path / "other"), "--code", "remote")
    assert proc.returncode == 1 and "does not fetch remote code given through ECDS" in proc.stderr
    assert not (tmp_path / "other").exists()


@pytest.mark.registry
def test_an_image_is_pulled_checked_and_stored_by_digest(fleet, modules: dict[str, Path], registry,
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As Istio's agent does: the image is pulled (every digest checked), its module stored under
    DIR/modules by sha256, and the resource names that local file."""
    from proxywasm_build.ship import oci

    monkeypatch.setenv("PROXYWASM_AUTH_FILE", str(tmp_path / "auth.json"))
    ecds_dir, envoys = fleet
    ref = f"{registry.host}/rollout/versioned:b"
    oci.push(modules["b"], ref, layout="wasme", plain_http=True)
    proc = rollout(ecds_dir, ref, "--plain-http", envoys=envoys)
    assert proc.returncode == 0, proc.stderr
    assert [answer(envoy) for envoy in envoys] == ["b", "b"]
    current = EcdsDirectory(ecds_dir).current()
    assert current.module == ecds_dir.resolve() / "modules" / f"sha256-{current.module_sha256}.wasm"
    assert current.module.read_bytes() == modules["b"].read_bytes()


def test_a_request_in_flight_finishes_on_the_old_filter(tmp_path: Path) -> None:
    """A request waiting on a slow upstream while the filter changes gets its response headers
    from the filter that started it; the next request gets the new one."""
    import threading

    from proxywasm_build.envoy.upstream import RecordingUpstream

    old = version_module(tmp_path / "old.wasm", "old", local_reply=False)
    new = version_module(tmp_path / "new.wasm", "new", local_reply=False)
    arrived = threading.Event()

    def slow(request):
        if request.path == "/slow":
            arrived.set()
            time.sleep(2.0)
        return 200, {"content-type": "text/plain"}, b"upstream"

    ecds_dir = tmp_path / "ecds"
    with RecordingUpstream(handler=slow) as upstream:
        proc = cli("deploy", "envoy", str(old), "--ecds", str(ecds_dir), "--port", str(free_port()),
                   "--admin-port", str(free_port()), "--upstream", upstream.url)
        assert proc.returncode == 0, proc.stderr
        with LocalEnvoy(proc.stdout) as envoy:
            in_flight: dict[str, str] = {}

            def slow_request() -> None:
                with urllib.request.urlopen(envoy.url + "/slow", timeout=30) as response:
                    in_flight["version"] = response.headers["x-version"]

            client = threading.Thread(target=slow_request)
            client.start()
            assert arrived.wait(10)
            assert rollout(ecds_dir, str(new), envoys=[envoy]).returncode == 0
            with urllib.request.urlopen(envoy.url + "/fast", timeout=10) as response:
                assert response.headers["x-version"] == "new"
            client.join(30)
    assert in_flight == {"version": "old"}


def test_a_refused_first_module_leaves_no_directory(tmp_path: Path, modules: dict[str, Path]) -> None:
    proc = cli("deploy", "envoy", str(modules["refuses"]), "--ecds", str(tmp_path / "ecds"))
    assert proc.returncode == 1 and "Envoy cannot start" in proc.stderr and "nothing was changed" in proc.stderr
    assert not (tmp_path / "ecds").exists()


def test_a_deployed_envoy_hands_freed_heap_back_to_the_system(tmp_path: Path, modules: dict[str, Path]) -> None:
    """Loading a module allocates and frees heap that tcmalloc would keep mapped: the --ecds
    bootstrap has Envoy release free pages in the background (its /memory then shows unmapped
    pages; a bootstrap without the allocator manager shows none here)."""
    import json

    ecds_dir = tmp_path / "ecds"
    with start_envoy(ecds_dir, modules["a"]) as envoy:
        dump = json.loads(envoy.admin("/config_dump"))["configs"]
        bootstrap = next(c["bootstrap"] for c in dump if c["@type"].endswith("BootstrapConfigDump"))
        assert int(bootstrap["memory_allocator_manager"]["bytes_to_release"]) > 0
        for version in ("b", "a"):
            assert rollout(ecds_dir, str(modules[version]), envoys=[envoy]).returncode == 0
        deadline = time.monotonic() + 10
        while int(json.loads(envoy.admin("/memory"))["pageheap_unmapped"]) == 0:
            assert time.monotonic() < deadline, envoy.admin("/memory")
            time.sleep(0.5)
