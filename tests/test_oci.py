"""OCI shipping against a real registry (Debian docker-registry on 127.0.0.1, temp storage)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

import pytest

from proxywasm_build.ship import oci
from proxywasm_build.errors import UserError

from registry import LocalRegistry, module_variant

pytestmark = pytest.mark.registry


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory):
    with LocalRegistry(tmp_path_factory.mktemp("auth-registry"), users={"alice": "correct horse"}) as reg:
        yield reg


@pytest.fixture(autouse=True)
def isolated_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "auth" / "config.json"
    monkeypatch.setenv("PROXYWASM_AUTH_FILE", str(path))
    monkeypatch.setenv("PROXYWASM_CACHE", str(tmp_path / "cache"))
    return path


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real command line, in a subprocess (env inherited: credentials file, cache)."""
    return subprocess.run([sys.executable, "-m", "proxywasm_build", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def assert_one_sentence(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("proxywasm: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def raw_manifest(registry: LocalRegistry, repository: str, reference: str) -> tuple[bytes, dict]:
    request = urllib.request.Request(
        f"http://{registry.host}/v2/{repository}/manifests/{reference}",
        headers={"Accept": oci.OCI_MANIFEST},
    )
    with urllib.request.urlopen(request) as response:
        body = response.read()
    return body, json.loads(body)


def raw_blob(registry: LocalRegistry, repository: str, digest: str) -> bytes:
    with urllib.request.urlopen(f"http://{registry.host}/v2/{repository}/blobs/{digest}") as response:
        return response.read()


# -- layouts ----------------------------------------------------------------------------------


def test_compat_layout_is_what_istio_pulls(registry: LocalRegistry, module_path: Path) -> None:
    wasm = module_path.read_bytes()
    result = oci.push(module_path, f"{registry.host}/filters/reply:compat", plain_http=True,
                      root_id="reply_root")
    body, manifest = raw_manifest(registry, "filters/reply", "compat")
    assert "sha256:" + hashlib.sha256(body).hexdigest() == result.digest
    assert manifest["mediaType"] == oci.OCI_MANIFEST
    assert manifest["annotations"]["module.wasm.image/variant"] == "compat"
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    last = manifest["layers"][-1]
    assert last["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    layer = raw_blob(registry, "filters/reply", last["digest"])
    tar_bytes = gzip.decompress(layer)
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        assert sorted(tar.getnames()) == ["plugin.wasm", "runtime-config.json"]
        assert tar.extractfile("plugin.wasm").read() == wasm
        runtime = json.loads(tar.extractfile("runtime-config.json").read())
    assert runtime == {"type": "envoy_proxy", "abiVersions": ["proxy_abi_version_0_2_1"],
                       "config": {"rootIds": ["reply_root"]}}
    config = json.loads(raw_blob(registry, "filters/reply", manifest["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(tar_bytes).hexdigest()]


def test_wasme_layout_carries_the_module_and_its_runtime_config(registry: LocalRegistry, module_path: Path) -> None:
    oci.push(module_path, f"{registry.host}/filters/reply:wasme", layout="wasme", plain_http=True,
             root_id="reply_root")
    _, manifest = raw_manifest(registry, "filters/reply", "wasme")
    assert manifest["config"]["mediaType"] == "application/vnd.module.wasm.config.v1+json"
    assert [d["mediaType"] for d in manifest["layers"]] == ["application/vnd.module.wasm.content.layer.v1+wasm"]
    config = json.loads(raw_blob(registry, "filters/reply", manifest["config"]["digest"]))
    assert config["type"] == "envoy_proxy"
    assert config["abiVersions"] == ["proxy_abi_version_0_2_1"]
    assert config["config"]["rootIds"] == ["reply_root"]
    assert raw_blob(registry, "filters/reply", manifest["layers"][0]["digest"]) == module_path.read_bytes()


def test_the_same_module_always_gives_the_same_image(module_path: Path) -> None:
    wasm = module_path.read_bytes()
    meta = oci.module_metadata(wasm)
    for layout in oci.LAYOUTS:
        assert oci.build_image(wasm, meta, layout).digest == oci.build_image(wasm, meta, layout).digest
    assert oci.build_image(wasm, meta, "compat").digest != oci.build_image(wasm, meta, "wasme").digest


# -- push / pull / tag / images through the CLI -----------------------------------------------


@pytest.mark.parametrize("layout", oci.LAYOUTS)
def test_push_then_pull_gives_the_same_bytes(registry: LocalRegistry, module_path: Path, tmp_path: Path,
                                             layout: str) -> None:
    ref = f"{registry.host}/roundtrip/{layout}:v1"
    pushed = cli("push", str(module_path), ref, "--layout", layout, "--plain-http")
    assert pushed.returncode == 0, pushed.stderr
    digest = pushed.stdout.split("digest: ")[1].strip()
    out = tmp_path / "pulled.wasm"
    pulled = cli("pull", ref, "-o", str(out), "--plain-http")
    assert pulled.returncode == 0, pulled.stderr
    assert out.read_bytes() == module_path.read_bytes()
    assert f"digest: {digest}" in pulled.stdout
    assert hashlib.sha256(out.read_bytes()).hexdigest() in pulled.stdout
    assert f"({layout})" in pulled.stdout


def test_tag_and_images_list_digest_size_and_abi(registry: LocalRegistry, module_path: Path) -> None:
    repo = f"{registry.host}/listing/reply"
    compat = oci.push(module_path, f"{repo}:v1", plain_http=True)
    wasme = oci.push(module_path, f"{repo}:w1", layout="wasme", plain_http=True)
    tagged = cli("tag", f"{repo}:v1", "stable", "--plain-http")
    assert tagged.returncode == 0, tagged.stderr
    listed = cli("images", repo, "--json", "--plain-http")
    assert listed.returncode == 0, listed.stderr
    images = {i["tag"]: i for i in json.loads(listed.stdout)}
    assert set(images) == {"v1", "w1", "stable"}
    assert images["stable"]["digest"] == images["v1"]["digest"] == compat.digest
    assert images["w1"]["digest"] == wasme.digest
    assert images["v1"]["layout"] == "compat" and images["w1"]["layout"] == "wasme"
    assert all(i["abi"] == ["0.2.1"] for i in images.values())
    assert images["v1"]["size"] == compat.size and images["w1"]["size"] == wasme.size
    table = cli("images", repo, "--plain-http")
    assert compat.digest in table.stdout and "0.2.1" in table.stdout


def test_tag_into_another_repository_copies_the_blobs(registry: LocalRegistry, module_path: Path,
                                                     tmp_path: Path) -> None:
    source = oci.push(module_path, f"{registry.host}/copy/source:v1", plain_http=True)
    destination, digest = oci.tag(f"{registry.host}/copy/source:v1", f"{registry.host}/copy/target:v2",
                                  plain_http=True)
    assert digest == source.digest
    path, pulled = oci.pull(str(destination), tmp_path / "copy.wasm", plain_http=True)
    assert pulled.digest == source.digest and path.read_bytes() == module_path.read_bytes()


# -- digests are checked ----------------------------------------------------------------------


@pytest.mark.parametrize("layout", oci.LAYOUTS)
def test_a_tampered_blob_is_refused_and_nothing_is_written(registry: LocalRegistry, module_path: Path,
                                                           tmp_path: Path, layout: str) -> None:
    ref = f"{registry.host}/tamper/{layout}:v1"
    oci.push(module_variant(module_path, f"tamper-{layout}", tmp_path), ref, layout=layout, plain_http=True)
    _, manifest = raw_manifest(registry, f"tamper/{layout}", "v1")
    blob = registry.blob_path(manifest["layers"][-1]["digest"])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    out = tmp_path / "never.wasm"
    proc = cli("pull", ref, "-o", str(out), "--plain-http")
    assert_one_sentence(proc, "tampered", "nothing was written")
    assert not out.exists()
    assert list(tmp_path.glob(".never.wasm*")) == []


def test_a_tampered_manifest_is_refused(registry: LocalRegistry, module_path: Path, tmp_path: Path) -> None:
    ref = f"{registry.host}/tamper/manifest:v1"
    result = oci.push(module_variant(module_path, "tamper-manifest", tmp_path), ref, plain_http=True)
    stored = registry.blob_path(result.digest)
    stored.write_bytes(stored.read_bytes().replace(b'"schemaVersion":2', b'"schemaVersion":2 '))
    with pytest.raises(UserError, match="does not match its digest"):
        oci.fetch(ref, plain_http=True)


# -- the pulled module runs -------------------------------------------------------------------


@pytest.mark.envoy
def test_the_pulled_module_runs_in_envoy(registry: LocalRegistry, module_path: Path) -> None:
    from proxywasm_build.envoy.runner import LocalEnvoy

    ref = f"{registry.host}/run/reply:v1"
    oci.push(module_path, ref, plain_http=True)
    cached = oci.pull_to_cache(ref, plain_http=True)
    assert cached.read_bytes() == module_path.read_bytes()
    with LocalEnvoy(module=cached) as envoy:
        with pytest.raises(urllib.error.HTTPError) as reply:
            urllib.request.urlopen(envoy.url + "/", timeout=10)
    assert reply.value.code == 418 and reply.value.read() == b"hello from wat\n"


# -- auth -------------------------------------------------------------------------------------


def test_login_then_push_with_basic_auth(auth_registry: LocalRegistry, module_path: Path,
                                         isolated_credentials: Path, tmp_path: Path) -> None:
    ref = f"{auth_registry.host}/private/reply:v1"
    before = cli("push", str(module_path), ref, "--plain-http")
    assert_one_sentence(before, "requires a login", f"proxywasm login {auth_registry.host}")

    wrong = cli("login", auth_registry.host, "-u", "alice", "--password-stdin", "--plain-http",
                stdin="not the password\n")
    assert_one_sentence(wrong, "rejected the username or password")
    assert not isolated_credentials.exists()

    good = cli("login", auth_registry.host, "-u", "alice", "--password-stdin", "--plain-http",
               stdin="correct horse\n")
    assert good.returncode == 0, good.stderr
    assert "correct horse" not in good.stdout + good.stderr
    assert stat.S_IMODE(os.stat(isolated_credentials).st_mode) == 0o600
    stored = json.loads(isolated_credentials.read_text())
    assert auth_registry.host in stored["auths"]

    pushed = cli("push", str(module_path), ref, "--layout", "wasme", "--plain-http")
    assert pushed.returncode == 0, pushed.stderr
    path, pulled = oci.pull(ref, tmp_path / "private.wasm", plain_http=True)
    assert path.read_bytes() == module_path.read_bytes()

    # Credentials that went stale (password changed elsewhere): one sentence, nothing written.
    stored["auths"][auth_registry.host]["auth"] = base64.b64encode(b"alice:old password").decode()
    isolated_credentials.write_text(json.dumps(stored))
    stale = cli("pull", ref, "-o", str(tmp_path / "stale.wasm"), "--plain-http")
    assert_one_sentence(stale, "rejected the stored credentials")
    assert not (tmp_path / "stale.wasm").exists()


def test_docker_credential_helpers_are_honoured(auth_registry: LocalRegistry, module_path: Path, tmp_path: Path,
                                               isolated_credentials: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `credHelpers` entry (as `docker login` leaves with a helper) is used via oras's machinery."""
    helper_dir = tmp_path / "bin"
    helper_dir.mkdir()
    helper = helper_dir / "docker-credential-proxywasmtest"
    helper.write_text('#!/bin/sh\nread host\nprintf \'{"ServerURL":"%s","Username":"alice","Secret":"correct horse"}\' "$host"\n')
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper_dir}{os.pathsep}{os.environ['PATH']}")
    isolated_credentials.parent.mkdir(parents=True, exist_ok=True)
    isolated_credentials.write_text(json.dumps({"credHelpers": {auth_registry.host: "proxywasmtest"}}))
    pushed = cli("push", str(module_path), f"{auth_registry.host}/helper/reply:v1", "--plain-http")
    assert pushed.returncode == 0, pushed.stderr


# -- one clear sentence for each mistake ------------------------------------------------------


def test_unreachable_registry(module_path: Path) -> None:
    from registry import free_port

    host = f"127.0.0.1:{free_port()}"
    assert_one_sentence(cli("pull", f"{host}/nobody/home:v1", "--plain-http"), "cannot reach the registry", host)
    assert_one_sentence(cli("push", str(module_path), f"{host}/nobody/home:v1", "--plain-http"),
                        "cannot reach the registry")


def test_missing_tag(registry: LocalRegistry, module_path: Path) -> None:
    oci.push(module_path, f"{registry.host}/missing/reply:v1", plain_http=True)
    assert_one_sentence(cli("pull", f"{registry.host}/missing/reply:v404", "--plain-http"), "no tag 'v404'")
    assert_one_sentence(cli("images", f"{registry.host}/missing/nobody", "--plain-http"), "does not exist")


def test_https_to_a_plain_http_registry_suggests_the_flag(registry: LocalRegistry) -> None:
    assert_one_sentence(cli("pull", f"{registry.host}/missing/reply:v1"), "--plain-http")


def test_non_wasm_image(registry: LocalRegistry, tmp_path: Path) -> None:
    """An ordinary artifact pushed by oras itself (a text file) is not taken for a module."""
    import oras.provider

    note = tmp_path / "notes.txt"
    note.write_text("not a module\n")
    client = oras.provider.Registry(hostname=registry.host, insecure=True)
    client.push(target=f"{registry.host}/other/notes:v1", files=[str(note)], disable_path_validation=True,
                quiet=True)
    proc = cli("pull", f"{registry.host}/other/notes:v1", "-o", str(tmp_path / "x.wasm"), "--plain-http")
    assert_one_sentence(proc, "is not a Wasm module image")
    assert not (tmp_path / "x.wasm").exists()


def test_an_image_whose_plugin_is_not_wasm(registry: LocalRegistry, tmp_path: Path) -> None:
    """A compat-shaped image with garbage as plugin.wasm is refused too."""
    meta = oci.ModuleMetadata(["0.2.1"], [])
    image = oci.build_image(b"\0asm\x01\0\0\0" + b"garbage", meta, "wasme")
    ref = oci.Reference.parse(f"{registry.host}/other/garbage:v1")
    client = oci.registry_client(registry.host, plain_http=True)
    for digest, blob in image.blobs.items():
        client.put_bytes(ref, blob, digest)
    client.do_request(f"http://{registry.host}/v2/other/garbage/manifests/v1", "PUT", data=image.manifest,
                      headers={"Content-Type": oci.OCI_MANIFEST})
    assert_one_sentence(cli("pull", str(ref), "--plain-http"), "not a Proxy-Wasm module")


def test_pushing_something_that_is_not_a_module(registry: LocalRegistry, tmp_path: Path) -> None:
    text = tmp_path / "filter.wasm"
    text.write_text("(module)")
    assert_one_sentence(cli("push", str(text), f"{registry.host}/x/y:v1", "--plain-http"),
                        "is not a WebAssembly module")


def test_bad_references_are_one_sentence() -> None:
    for bad in ("justaname", "127.0.0.1:5000/UPPER:v1", "127.0.0.1:5000/x@sha256:abc"):
        with pytest.raises(UserError):
            oci.Reference.parse(bad)
    ref = oci.Reference.parse("oci://ghcr.io/me/filters/deny")
    assert (ref.registry, ref.repository, ref.tag) == ("ghcr.io", "me/filters/deny", "latest")


def test_oras_is_imported_only_when_a_registry_is_talked_to():
    # oras and requests take a noticeable share of a short command's start-up: the module
    # behind push/pull/deploy and the validate command must not import them.
    code = ("import sys; import proxywasm_build.ship.oci as oci; from proxywasm_build.cli import validate; "
            "before = 'oras' in sys.modules; oci.registry_client('127.0.0.1:1', plain_http=True); "
            "print(before, 'oras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


@pytest.mark.build
def test_a_micropython_module_keeps_its_runtime_through_push_and_pull(registry: LocalRegistry,
                                                                     tmp_path: Path) -> None:
    from proxywasm_build.hosts import built_module
    from proxywasm_build.wasm.reader import read_module
    from proxywasm_build.wasm.validate import python_metadata

    deny = Path(__file__).resolve().parents[1] / "benchmarks" / "filters" / "deny_python.py"
    module = built_module(deny, runtime="micropython")
    ref = f"{registry.host}/runtimes/deny:micropython"
    assert cli("push", str(module), ref, "--plain-http").returncode == 0
    out = tmp_path / "pulled.wasm"
    pulled = cli("pull", ref, "-o", str(out), "--plain-http")
    assert pulled.returncode == 0, pulled.stderr
    metadata = python_metadata(read_module(out.read_bytes()))
    assert metadata["runtime"] == "micropython" and metadata["micropython"] == "1.19.0"
    shown = cli("inspect", str(out))
    assert "Runtime micropython 1.19.0" in shown.stdout
