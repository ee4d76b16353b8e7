"""`proxywasm deploy envoy|istio` against a real registry, a real Envoy and Istio's CRD schema."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import pytest
import yaml

from proxywasm_build.ship import deploy
from proxywasm_build.ship import oci
from proxywasm_build.envoy.config import REMOTE_CODE_CLUSTER, UPSTREAM_CLUSTER, validate_bootstrap

from registry import LOCAL_REPLY_WAT, LocalRegistry, free_port, module_variant

pytestmark = pytest.mark.registry

#: The user's cache, where toolchains and filter builds live (tests get their own for pulls).
USER_CACHE = os.environ.get("PROXYWASM_CACHE")
SCHEMA = json.loads((Path(__file__).parent / "data" / "wasmplugin.schema.json").read_text())


@pytest.fixture(scope="module")
def images(registry: LocalRegistry, module_path: Path) -> dict[str, oci.PushResult]:
    return {
        layout: oci.push(module_path, f"{registry.host}/deploy/reply:{layout}", layout=layout,
                         root_id="reply_root", plain_http=True)
        for layout in oci.LAYOUTS
    }


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROXYWASM_AUTH_FILE", str(tmp_path / "auth.json"))
    monkeypatch.setenv("PROXYWASM_CACHE", str(tmp_path / "cache"))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxywasm_build", *args], capture_output=True,
                          text=True, timeout=120)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def run_bootstrap(config_yaml: str, logs: list[str] | None = None) -> tuple[int, bytes]:
    """Run a bootstrap in Envoy and GET / once. Ports from free_port() can be taken by another
    process's outgoing connection before Envoy binds them, so a failed start gets fresh ports."""
    from proxywasm_build.envoy.runner import EnvoyError, LocalEnvoy

    for attempt in range(3):
        try:
            envoy = LocalEnvoy(config_yaml)
        except EnvoyError:
            if attempt == 2:
                raise
            config_yaml = fresh_ports(config_yaml, *_ports(config_yaml))
            continue
        with envoy:
            answer = get(envoy.url + "/")
            if logs is not None:
                logs.append(envoy.logs())
            return answer
    raise AssertionError("unreachable")


def _ports(config_yaml: str) -> tuple[int, int]:
    config = yaml.safe_load(config_yaml)
    admin = config["admin"]["address"]["socket_address"]["port_value"]
    listener = config["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"]
    return listener, admin


def fresh_ports(text: str, listener: int = 10000, admin: int = 9901) -> str:
    """Move a config's listener and admin ports (the CLI writes 10000/9901) to free ones."""
    return text.replace(f"port_value: {listener}\n", f"port_value: {free_port()}\n").replace(
        f"port_value: {admin}\n", f"port_value: {free_port()}\n")


# -- Envoy ------------------------------------------------------------------------------------


@pytest.mark.envoy
def test_envoy_bootstrap_for_a_local_module_is_valid(module_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "envoy.yaml"
    proc = cli("deploy", "envoy", str(module_path), "--config", '{"header": "x-deny"}', "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load(out.read_text())
    wasm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"][
        "http_filters"][0]["typed_config"]["config"]
    assert wasm["vm_config"]["code"]["local"]["filename"] == str(module_path.resolve())
    assert json.loads(wasm["configuration"]["value"]) == {"header": "x-deny"}
    validate_bootstrap(out.read_text())


@pytest.mark.envoy
def test_envoy_fetches_a_wasme_image_from_the_registry_and_checks_its_sha256(
        registry: LocalRegistry, images: dict, module_path: Path) -> None:
    ref = f"{registry.host}/deploy/reply:wasme"
    proc = cli("deploy", "envoy", ref, "--plain-http")
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load(proc.stdout)
    wasm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"][
        "http_filters"][0]["typed_config"]["config"]
    remote = wasm["vm_config"]["code"]["remote"]
    assert remote["sha256"] == images["wasme"].module_digest.split(":")[1]
    assert remote["http_uri"]["uri"].startswith(f"http://{registry.host}/v2/deploy/reply/blobs/sha256:")
    assert wasm["root_id"] == "reply_root"
    assert run_bootstrap(fresh_ports(proc.stdout)) == (418, b"hello from wat\n")

    # A sha256 that does not match what the registry serves: Envoy refuses the module and,
    # failing closed, answers 503 instead of running it.
    wrong = fresh_ports(proc.stdout).replace(remote["sha256"], "0" * 64)
    logs: list[str] = []
    assert run_bootstrap(wrong, logs)[0] == 503
    assert "failed to load" in logs[0]


@pytest.mark.envoy
def test_envoy_bootstrap_for_a_compat_image_uses_the_verified_pull(registry: LocalRegistry, images: dict,
                                                                  module_path: Path) -> None:
    source = deploy.resolve_code_source(f"{registry.host}/deploy/reply:compat", plain_http=True)
    assert source.local_path is not None and source.local_path.read_bytes() == module_path.read_bytes()
    text = deploy.envoy_bootstrap(source, listener_port=free_port(), admin_port=free_port())
    assert run_bootstrap(text) == (418, b"hello from wat\n")


def test_snippet_is_the_filter_entry_of_the_full_bootstrap(registry: LocalRegistry, images: dict) -> None:
    ref = f"{registry.host}/deploy/reply:wasme"
    full = yaml.safe_load(cli("deploy", "envoy", ref, "--plain-http").stdout)
    snippet = yaml.safe_load(cli("deploy", "envoy", ref, "--plain-http", "--snippet").stdout)
    hcm = full["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    assert snippet["http_filters"] == [hcm["http_filters"][0]]
    assert snippet["clusters"] == [c for c in full["static_resources"]["clusters"]
                                   if c["name"] == REMOTE_CODE_CLUSTER]


def test_envoy_remote_code_for_a_local_file_needs_a_url(module_path: Path) -> None:
    proc = cli("deploy", "envoy", str(module_path), "--code", "remote")
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and "--remote-url" in proc.stderr
    with_url = cli("deploy", "envoy", str(module_path), "--remote-url", "https://example.com/reply.wasm")
    assert with_url.returncode == 0, with_url.stderr
    assert "https://example.com/reply.wasm" in with_url.stdout


def pass_through_module(path: Path) -> Path:
    """LOCAL_REPLY_WAT with the local reply taken out: every request goes on to the upstream."""
    import wasmtime

    start = LOCAL_REPLY_WAT.index('(func (export "proxy_on_request_headers")')
    end = LOCAL_REPLY_WAT.index('(func (export "proxy_on_done")')
    wat = LOCAL_REPLY_WAT[:start] + \
        '(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))\n  ' + \
        LOCAL_REPLY_WAT[end:]
    path.write_bytes(wasmtime.wat2wasm(wat))
    return path


@pytest.mark.envoy
def test_envoy_upstream_url_is_where_envoy_forwards(tmp_path: Path) -> None:
    from proxywasm_build.envoy.upstream import RecordingUpstream

    module = pass_through_module(tmp_path / "pass.wasm")
    out = tmp_path / "envoy.yaml"
    with RecordingUpstream() as upstream:
        upstream.respond(200, {"content-type": "text/plain"}, b"from the upstream\n")
        host, port = upstream.address
        proc = cli("deploy", "envoy", str(module), "--upstream", f"http://{host}:{port}", "--out", str(out))
        assert proc.returncode == 0, proc.stderr
        text = out.read_text()
        validate_bootstrap(text)  # the installed Envoy accepts it (`envoy --mode validate`)
        config = yaml.safe_load(text)
        (cluster,) = [c for c in config["static_resources"]["clusters"] if c["name"] == UPSTREAM_CLUSTER]
        endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        socket_address = endpoint["address"]["socket_address"]
        assert (socket_address["address"], socket_address["port_value"]) == (host, port)
        assert run_bootstrap(fresh_ports(text)) == (200, b"from the upstream\n")
        assert [r.path for r in upstream.requests] == ["/"]


def test_envoy_config_from_a_file(module_path: Path, tmp_path: Path) -> None:
    config_file = tmp_path / "plugin.json"
    config_file.write_text('{"header": "x-from-file"}\n')
    proc = cli("deploy", "envoy", str(module_path), "--config", f"@{config_file}")
    assert proc.returncode == 0, proc.stderr
    wasm = yaml.safe_load(proc.stdout)["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0][
        "typed_config"]["http_filters"][0]["typed_config"]["config"]
    assert wasm["configuration"]["value"] == config_file.read_text()


def test_upstream_and_port_mistakes_are_one_sentence(module_path: Path, tmp_path: Path) -> None:
    cases = [
        (("deploy", "envoy", str(module_path), "--upstream", "http://127.0.0.1:70000"), "port from 1 to 65535"),
        (("deploy", "envoy", str(module_path), "--upstream", "127.0.0.1:0"), "port from 1 to 65535"),
        (("deploy", "envoy", str(module_path), "--upstream", "https://127.0.0.1:8443"), "http://HOST:PORT"),
        (("deploy", "envoy", str(module_path), "--port", "70000"), "1<=x<=65535"),
        (("deploy", "envoy", str(module_path), "--admin-port", "0"), "1<=x<=65535"),
        (("deploy", "envoy", str(module_path), "--config", f"@{tmp_path / 'none.json'}"),
         "cannot read the configuration file"),
        (("deploy", "envoy", str(module_path), "--config", "{oops"), "not valid JSON"),
        # run parses its addresses before starting anything, with the same parser as deploy
        (("run", str(module_path), "--upstream", "http://127.0.0.1:0"), "port from 1 to 65535"),
        (("run", str(module_path), "--cluster", "auth=127.0.0.1:99999"), "port from 1 to 65535"),
    ]
    for args, fragment in cases:
        proc = cli(*args)
        assert proc.returncode != 0, args
        assert proc.stderr.count("\n") == 1 and fragment in proc.stderr and "Traceback" not in proc.stderr, \
            (args, proc.stderr)


# -- Istio ------------------------------------------------------------------------------------


def test_istio_wasmplugin_is_pinned_and_matches_the_crd_schema(registry: LocalRegistry, images: dict) -> None:
    ref = f"{registry.host}/deploy/reply:compat"
    proc = cli("deploy", "istio", ref, "--name", "reply", "--namespace", "shop", "--selector", "app=web",
               "--selector", "tier=front", "--phase", "AUTHZ", "--priority", "10", "--config", '{"header": "x"}',
               "--fail-strategy", "FAIL_OPEN", "--pull-policy", "Always", "--pull-secret", "regcred",
               "--env", "MODE=strict", "--env", "POD_NAME", "--plain-http")
    assert proc.returncode == 0, proc.stderr
    document = yaml.safe_load(proc.stdout)
    jsonschema.validate(document, SCHEMA)
    spec = document["spec"]
    assert spec["url"] == f"oci://{ref}"
    assert spec["sha256"] == images["compat"].digest.split(":")[1]
    assert spec["selector"]["matchLabels"] == {"app": "web", "tier": "front"}
    assert spec["pluginName"] == "reply_root"
    assert spec["pluginConfig"] == {"header": "x"}
    assert spec["vmConfig"]["env"] == [{"name": "MODE", "value": "strict"}, {"name": "POD_NAME", "valueFrom": "HOST"}]
    assert (spec["phase"], spec["priority"], spec["failStrategy"]) == ("AUTHZ", 10, "FAIL_OPEN")


def test_istio_fails_reload_by_default_and_takes_the_failure_policy_by_either_name(
        registry: LocalRegistry, images: dict) -> None:
    ref = f"{registry.host}/deploy/reply:compat"
    strategies = []
    for extra in ((), ("--failure-policy", "fail-closed"), ("--fail-strategy", "FAIL_OPEN")):
        proc = cli("deploy", "istio", ref, "--name", "reply", "--plain-http", *extra)
        assert proc.returncode == 0, proc.stderr
        document = yaml.safe_load(proc.stdout)
        jsonschema.validate(document, SCHEMA)
        strategies.append(document["spec"]["failStrategy"])
    assert strategies == ["FAIL_RELOAD", "FAIL_CLOSE", "FAIL_OPEN"]
    proc = cli("deploy", "istio", ref, "--name", "reply", "--plain-http", "--failure-policy", "fail-open",
               "--fail-strategy", "FAIL_CLOSE")
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("proxywasm: --failure-policy fail-open and --fail-strategy FAIL_CLOSE "
                                   "disagree; give one.")


@pytest.mark.envoy
def test_envoy_bootstrap_with_a_failure_policy_and_limits_is_valid(module_path: Path) -> None:
    proc = cli("deploy", "envoy", str(module_path), "--failure-policy", "fail-open", "--buffer-limit", "4M",
               "--max-request-headers-kb", "96", "--max-headers", "600")
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load(proc.stdout)
    listener = config["static_resources"]["listeners"][0]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    assert listener["per_connection_buffer_limit_bytes"] == 4 << 20
    assert (manager["max_request_headers_kb"], manager["common_http_protocol_options"]) == (
        96, {"max_headers_count": 600})
    assert manager["http_filters"][0]["typed_config"]["config"]["failure_policy"] == "FAIL_OPEN"
    validate_bootstrap(proc.stdout)
    snippet = cli("deploy", "envoy", str(module_path), "--snippet", "--max-headers", "600")
    assert snippet.returncode == 1 and "--snippet leaves out" in snippet.stderr


def test_the_schema_check_has_teeth(registry: LocalRegistry, images: dict) -> None:
    text = deploy.istio_wasmplugin(f"{registry.host}/deploy/reply:wasme", name="reply", plain_http=True)
    good = yaml.safe_load(text)
    jsonschema.validate(good, SCHEMA)
    for path, value in ((("spec", "sha256"), "sha256:" + "a" * 64), (("spec", "phase"), "EARLY"),
                        (("spec", "url"), "ftp://host/x"), (("apiVersion",), "extensions.istio.io/v1")):
        broken = json.loads(json.dumps(good))
        target = broken
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)


def test_istio_errors_are_one_sentence(registry: LocalRegistry, images: dict, module_path: Path) -> None:
    cases = [
        (("deploy", "istio", f"{registry.host}/deploy/reply:nope", "--name", "x", "--plain-http"), "no tag"),
        (("deploy", "istio", f"{registry.host}/deploy/reply:wasme", "--name", "x", "--config", "{oops",
          "--plain-http"), "not valid JSON"),
        (("deploy", "istio", f"{registry.host}/deploy/reply:wasme", "--name", "x", "--config", "[1]",
          "--plain-http"), "JSON object"),
        (("deploy", "istio", str(module_path), "--name", "x"), "push the module first"),
    ]
    for args, fragment in cases:
        proc = cli(*args)
        assert proc.returncode != 0
        assert proc.stderr.count("\n") == 1 and fragment in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_istio_config_from_a_file(registry: LocalRegistry, images: dict, tmp_path: Path) -> None:
    config_file = tmp_path / "plugin.json"
    config_file.write_text('{"header": "x-from-file"}')
    proc = cli("deploy", "istio", f"{registry.host}/deploy/reply:wasme", "--name", "x",
               "--config", f"@{config_file}", "--plain-http")
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout)["spec"]["pluginConfig"] == {"header": "x-from-file"}


# -- the whole path: push, then `proxywasm run REF` -------------------------------------------


@pytest.mark.envoy
def test_run_pulls_a_reference_and_serves_it(registry: LocalRegistry, module_path: Path, tmp_path: Path) -> None:
    ref = f"{registry.host}/deploy/run:v1"
    oci.push(module_variant(module_path, "run", tmp_path), ref, plain_http=True)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "proxywasm_build", "run", ref, "--plain-http",
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=os.environ.copy())
    try:
        deadline = time.monotonic() + 60
        answer = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                answer = get(f"http://127.0.0.1:{port}/")
                break
            except OSError:
                time.sleep(0.1)
        assert answer == (418, b"hello from wat\n"), proc.stdout.read() if proc.poll() is not None else answer
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# -- a real CPython filter, from build to a pinned WasmPlugin ----------------------------------


@pytest.mark.build
@pytest.mark.envoy
def test_a_built_python_filter_goes_from_build_to_push_pull_run_and_wasmplugin(
        registry: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from proxywasm_build.envoy.runner import LocalEnvoy
    from proxywasm_build.hosts import built_module

    example = Path(__file__).resolve().parents[1] / "examples" / "allow_deny" / "filter.py"
    if not example.is_file():
        pytest.skip("examples/allow_deny is not there")
    with monkeypatch.context() as env:  # build in the shared cache (toolchains, the examples' builds)
        if USER_CACHE is None:
            env.delenv("PROXYWASM_CACHE")
        else:
            env.setenv("PROXYWASM_CACHE", USER_CACHE)
        module = built_module(example)
    ref = f"{registry.host}/python/allow-deny:v1"
    pushed = oci.push(module, ref, plain_http=True)
    assert pushed.metadata.abi_versions == ["0.2.1"]

    cached = oci.pull_to_cache(ref, plain_http=True)
    assert cached.read_bytes() == module.read_bytes()
    with LocalEnvoy(module=cached) as envoy:
        request = urllib.request.Request(envoy.url + "/", headers={"x-deny": "1"})
        try:
            urllib.request.urlopen(request, timeout=30)
            denied = 200
        except urllib.error.HTTPError as err:
            denied = err.code
        allowed, _ = get(envoy.url + "/")
    assert (denied, allowed) == (403, 200)

    document = yaml.safe_load(deploy.istio_wasmplugin(ref, name="allow-deny", plain_http=True))
    jsonschema.validate(document, SCHEMA)
    assert document["spec"]["sha256"] == pushed.digest.split(":")[1]
