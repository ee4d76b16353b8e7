"""Image signatures in cosign's key-based layout, against a real registry (Debian docker-registry).

Third parties: OpenSSL (keys it makes sign and verify here; it verifies our signatures) and
Debian 13's skopeo 1.18.0 (tests/tools/skopeo.py): its sigstoreSigned policy accepts our signatures,
and it signs with our keys in a way we accept; it also relocates a signed image.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from proxywasm_build.errors import UserError
from proxywasm_build.ship import oci, signing

from registry import LocalRegistry, module_variant
from tools import skopeo as skopeo_tool

pytestmark = pytest.mark.registry

# -- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory):
    with LocalRegistry(tmp_path_factory.mktemp("auth-registry"), users={"alice": "correct horse"}) as reg:
        yield reg


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alice.key (empty passphrase), bob.key (passphrase `bob's secret`) and their .pub files, by `keygen`."""
    directory = tmp_path_factory.mktemp("keys")
    for made in (cli("keygen", "alice", "--no-passphrase", cwd=directory),
                 cli("keygen", "bob", "--passphrase-env", "BOB_PASS", env={"BOB_PASS": "bob's secret"}, cwd=directory)):
        assert made.returncode == 0, made.stderr
    return directory


@pytest.fixture(autouse=True)
def isolated_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "auth" / "config.json"
    monkeypatch.setenv("PROXYWASM_AUTH_FILE", str(path))
    monkeypatch.setenv("PROXYWASM_CACHE", str(tmp_path / "cache"))
    return path


def cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real command line, in a subprocess without a terminal."""
    return subprocess.run([sys.executable, "-m", "proxywasm_build", *args], input=stdin or "",
                          capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}, cwd=cwd)


def assert_one_sentence(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("proxywasm: "), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def push(registry: LocalRegistry, module: Path, tmp_path: Path, repository: str, tag: str = "v1",
         label: str | None = None) -> tuple[str, str]:
    """Push a copy of `module` made unique by `label`; return (reference, manifest digest)."""
    ref = f"{registry.host}/{repository}:{tag}"
    result = oci.push(module_variant(module, label or repository.replace("/", "-"), tmp_path), ref, plain_http=True)
    return ref, result.digest


def sign(ref: str, key: Path, *extra: str, env: dict[str, str] | None = None) -> None:
    proc = cli("sign", ref, "--key", str(key), "--plain-http", *extra, env=env)
    assert proc.returncode == 0, proc.stderr


def get(registry: LocalRegistry, path: str, accept: str = oci.OCI_MANIFEST) -> bytes:
    request = urllib.request.Request(f"http://{registry.host}/v2/{path}", headers={"Accept": accept})
    with urllib.request.urlopen(request) as response:
        return response.read()


def put_manifest(registry: LocalRegistry, repository: str, tag: str, body: bytes) -> None:
    request = urllib.request.Request(f"http://{registry.host}/v2/{repository}/manifests/{tag}", data=body,
                                     method="PUT", headers={"Content-Type": oci.OCI_MANIFEST})
    urllib.request.urlopen(request).close()


def put_blob(registry: LocalRegistry, repository: str, data: bytes) -> str:
    digest = oci.sha256_digest(data)
    start = urllib.request.Request(f"http://{registry.host}/v2/{repository}/blobs/uploads/", method="POST")
    with urllib.request.urlopen(start) as response:
        location = response.headers["Location"]
    separator = "&" if "?" in location else "?"
    url = location if location.startswith("http") else f"http://{registry.host}{location}"
    upload = urllib.request.Request(f"{url}{separator}digest={digest}", data=data, method="PUT",
                                    headers={"Content-Type": "application/octet-stream"})
    urllib.request.urlopen(upload).close()
    return digest


def signature_of(registry: LocalRegistry, repository: str, digest: str) -> tuple[dict, list[bytes]]:
    manifest = json.loads(get(registry, f"{repository}/manifests/{signing.signature_tag(digest)}"))
    payloads = [get(registry, f"{repository}/blobs/{layer['digest']}") for layer in manifest["layers"]]
    return manifest, payloads


def openssl(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, timeout=30)


# -- keygen -----------------------------------------------------------------------------------


def test_keygen_writes_cosigns_encrypted_key_0600_and_a_pem_public_key(tmp_path: Path) -> None:
    proc = cli("keygen", "release", "--no-passphrase", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    private, public = tmp_path / "release.key", tmp_path / "release.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    text = private.read_text()
    assert text.startswith("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n")
    envelope = json.loads(base64.b64decode("".join(text.strip().splitlines()[1:-1])))
    assert envelope["kdf"]["name"] == "scrypt" and envelope["kdf"]["params"] == {"N": 32768, "r": 8, "p": 1}
    assert len(base64.b64decode(envelope["kdf"]["salt"])) == 32
    assert envelope["cipher"]["name"] == "nacl/secretbox" and len(base64.b64decode(envelope["cipher"]["nonce"])) == 24
    key = serialization.load_pem_public_key(public.read_bytes())
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    assert signing.load_private_key(private).public_key().public_numbers() == key.public_numbers()
    assert signing.load_public_key(public).fingerprint in proc.stdout

    before = private.read_bytes()
    again = cli("keygen", "release", "--no-passphrase", cwd=tmp_path)
    assert_one_sentence(again, "release.key already exists", "--force")
    assert private.read_bytes() == before
    assert cli("keygen", "release", "--no-passphrase", "--force", cwd=tmp_path).returncode == 0
    assert private.read_bytes() != before


def test_keygen_passphrases_as_cosign_users_expect(tmp_path: Path) -> None:
    proc = cli("keygen", "guarded", "--passphrase-env", "KEY_PASS", env={"KEY_PASS": "open sesame"}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(UserError, match="protected by a passphrase"):
        signing.load_private_key(tmp_path / "guarded.key")
    with pytest.raises(UserError, match="passphrase does not open"):
        signing.load_private_key(tmp_path / "guarded.key", b"wrong")
    assert signing.load_private_key(tmp_path / "guarded.key", b"open sesame")

    no_terminal = cli("keygen", "asked", cwd=tmp_path)
    assert_one_sentence(no_terminal, "--passphrase-env VAR or --no-passphrase")
    unset = cli("keygen", "asked", "--passphrase-env", "NOT_SET_ANYWHERE", cwd=tmp_path)
    assert_one_sentence(unset, "NOT_SET_ANYWHERE is not set")
    assert not list(tmp_path.glob("asked*"))


#: A key file `cosign generate-key-pair` wrote with an empty passphrase (cosign 2: the SIGSTORE
#: label, scrypt N=65536), from sigstore-rs's test data (tests/data/keys, Apache-2.0).
COSIGN_GENERATED_KEY = """\
-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjo2NTUzNiwiciI6
OCwicCI6MX0sInNhbHQiOiJFY3pJR3Z0bnpFcCsxaEpudERnbGI1UnoxN3gwQVMy
YklvWGRNcDQrU1NJPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJtSVVKbG1OMzNINExvZ0dhaG5MamdmK3R4SmJwci93MCJ9LCJj
aXBoZXJ0ZXh0IjoiM3FtS2FidXRuYm1WT1IvTkZGM2NDaUErTXp1WWQ5L0VERDVI
MVlUSGhQVzZsSzAvdjVqdDZCQzlsME12NGV5am9qZkl0d3B6a2JJOXQrZGx5VXZ3
VUgvMWZjbkFZT2dEdXRLQzkvSkNiOE02SVY2VHpVaDF5c0ZFWDFzeG9xb1FzeUpL
bjM0UVlldFNlaVdDaGtmUHUyZXByQjFEV0pwekdzTGZIakxNVTkzOEdmNk1xM1A0
N0ZSd2syZzY1cFZnSGMwVWV1L1N1OUs0Zmc9PSJ9
-----END ENCRYPTED SIGSTORE PRIVATE KEY-----
"""


def test_a_key_cosign_generated_opens_signs_and_verifies(registry: LocalRegistry, module_path: Path,
                                                         tmp_path: Path) -> None:
    (tmp_path / "cosign.key").write_text(COSIGN_GENERATED_KEY)
    key = signing.load_private_key(tmp_path / "cosign.key")
    assert key.curve.name == "secp256r1"
    (tmp_path / "cosign.pub").write_bytes(signing.public_pem(key))
    ref, _ = push(registry, module_path, tmp_path, "cosign-key/reply")
    sign(ref, tmp_path / "cosign.key")
    proc = cli("verify", ref, "--key", str(tmp_path / "cosign.pub"), "--plain-http")
    assert proc.returncode == 0 and "signed by cosign" in proc.stdout, proc.stderr
    with pytest.raises(UserError, match="passphrase does not open"):
        signing.load_private_key(tmp_path / "cosign.key", b"not empty")


# -- sign: the layout -------------------------------------------------------------------------


def test_sign_stores_cosigns_layout_and_openssl_verifies_the_signature(
        registry: LocalRegistry, module_path: Path, keys: Path, tmp_path: Path) -> None:
    ref, digest = push(registry, module_path, tmp_path, "layout/reply")
    sign(ref, keys / "alice.key")

    manifest, (payload,) = signature_of(registry, "layout/reply", digest)
    assert manifest["mediaType"] == oci.OCI_MANIFEST and manifest["config"]["mediaType"] == oci.OCI_CONFIG
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    assert layer["digest"] == oci.sha256_digest(payload) and layer["size"] == len(payload)
    document = json.loads(payload)
    assert document["critical"] == {
        "identity": {"docker-reference": f"{registry.host}/layout/reply:v1"},
        "image": {"docker-manifest-digest": digest},
        "type": "cosign container image signature",
    }
    config = json.loads(get(registry, f"layout/reply/blobs/{manifest['config']['digest']}"))
    assert config["rootfs"] == {"type": "layers", "diff_ids": [layer["digest"]]}

    signature = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    (tmp_path / "payload").write_bytes(payload)
    (tmp_path / "signature.der").write_bytes(signature)
    checked = openssl("dgst", "-sha256", "-verify", str(keys / "alice.pub"), "-signature",
                      str(tmp_path / "signature.der"), str(tmp_path / "payload"))
    assert checked.returncode == 0 and b"Verified OK" in checked.stdout, checked


def test_our_signature_manifest_is_byte_for_byte_what_cosign_writes() -> None:
    """A signature manifest cosign pushed (from a published HTTP trace of `cosign sign --key`):
    the same layer gives the same config blob and the same manifest digest here."""
    layer = {"mediaType": signing.SIMPLE_SIGNING_LAYER, "size": 250,
             "digest": "sha256:4306feade2f8d7aa22ad654dfd61d0ee66a94f8970fba8d825f45641e9087a78",
             "annotations": {signing.SIGNATURE_ANNOTATION:
                             "MEUCIQDBRZD5sNATW5T+7IFug6L4I9gfaNu77Hvf/p15V1PDTQIgTTIFoW+H8y/ZSSNZD5SdNA0b\n"
                             "ia5Zhsd26RjgvPb6CXU=\n"}}
    manifest, config = signing.signature_manifest([layer])
    assert oci.sha256_digest(config) == "sha256:d748d2b76ebf8a245176858c537a245f62f4cd9271dcad170c107bd399384703"
    assert oci.sha256_digest(manifest) == "sha256:36570d59b0a2ce9a2ae9da089e72b45c4b51c11bf9a45050dd8cd42e4cb638f4"


def test_signing_again_replaces_the_keys_own_signature_and_keeps_others(
        registry: LocalRegistry, module_path: Path, keys: Path, tmp_path: Path) -> None:
    ref, digest = push(registry, module_path, tmp_path, "resign/reply")
    sign(ref, keys / "alice.key")
    sign(ref, keys / "alice.key")
    assert len(signature_of(registry, "resign/reply", digest)[0]["layers"]) == 1
    sign(ref, keys / "bob.key", "--passphrase-env", "BOB_PASS", env={"BOB_PASS": "bob's secret"})
    assert len(signature_of(registry, "resign/reply", digest)[0]["layers"]) == 2
    for name in ("alice", "bob"):
        proc = cli("verify", ref, "--key", str(keys / f"{name}.pub"), "--plain-http")
        assert proc.returncode == 0 and f"signed by {name}" in proc.stdout, proc.stderr
    images = cli("images", f"{registry.host}/resign/reply", "--plain-http", "--json")
    assert [image["tag"] for image in json.loads(images.stdout)] == ["v1"]


def test_sign_refuses_a_wrong_passphrase_and_a_missing_image(registry: LocalRegistry, keys: Path) -> None:
    wrong = cli("sign", f"{registry.host}/nothing/here:v1", "--key", str(keys / "bob.key"), "--plain-http",
                "--passphrase-env", "BOB_PASS", env={"BOB_PASS": "guess"})
    assert_one_sentence(wrong, "passphrase does not open")
    missing = cli("sign", f"{registry.host}/nothing/here:v1", "--key", str(keys / "alice.key"), "--plain-http")
    assert_one_sentence(missing, "has no tag")


# -- verify -----------------------------------------------------------------------------------


def test_verify_exits_0_only_for_a_signature_by_a_given_key(registry: LocalRegistry, module_path: Path,
                                                            keys: Path, tmp_path: Path) -> None:
    ref, digest = push(registry, module_path, tmp_path, "verify/reply")
    alice, bob = str(keys / "alice.pub"), str(keys / "bob.pub")
    assert_one_sentence(cli("verify", ref, "--key", alice, "--plain-http"), "is not signed")
    sign(ref, keys / "alice.key")
    good = cli("verify", ref, "--key", alice, "--plain-http", "--json")
    assert good.returncode == 0, good.stderr
    shown = json.loads(good.stdout)
    assert shown["digest"] == digest and shown["key"] == "alice" and shown["signed"] is True
    assert shown["fingerprint"] == signing.load_public_key(alice).fingerprint
    assert_one_sentence(cli("verify", ref, "--key", bob, "--plain-http"), "none of its 1 signature verifies with bob")
    assert cli("verify", ref, "--key", bob, "--key", alice, "--plain-http").returncode == 0


def test_verify_image_is_a_library_call_a_web_app_can_make_per_digest(registry: LocalRegistry, module_path: Path,
                                                                     keys: Path, tmp_path: Path) -> None:
    ref, digest = push(registry, module_path, tmp_path, "library/reply")
    public = [signing.load_public_key(keys / "alice.pub"), signing.load_public_key(keys / "bob.pub")]
    client = oci.registry_client(registry.host, plain_http=True)
    unsigned = signing.verify_image(client, ref, public)
    assert (unsigned.signed, unsigned.signatures, unsigned.signature_digest) == (False, 0, None)
    sign(ref, keys / "bob.key", "--passphrase-env", "BOB_PASS", env={"BOB_PASS": "bob's secret"})
    signed = signing.verify_digest(client, oci.Reference.parse(ref), digest, public)
    assert signed.signed and signed.key_name == "bob" and signed.fingerprint == public[1].fingerprint
    assert signed.signature_digest and signed.reason.endswith("is signed by bob (" + public[1].fingerprint[:19] + "…).")
    by_other = signing.verify_digest(client, oci.Reference.parse(ref), digest, public[:1])
    assert not by_other.signed and by_other.signatures == 1


# -- refusals: moved tag, foreign payload, tampering; nothing written -------------------------


def refused_everywhere(ref: str, key: Path, tmp_path: Path, *fragments: str) -> None:
    """pull, run and deploy with --verify-key all refuse `ref` and write nothing."""
    out = tmp_path / "never.wasm"
    assert_one_sentence(cli("pull", ref, "-o", str(out), "--verify-key", str(key), "--plain-http"), *fragments)
    run = cli("run", ref, "--verify-key", str(key), "--plain-http", "--port", "0")
    assert run.returncode == 1 and "Traceback" not in run.stderr and "starting Envoy" not in run.stderr, run.stderr
    *progress, sentence = run.stderr.strip().splitlines()
    assert progress == [f"pulling {ref} ..."] and all(f in sentence for f in fragments), run.stderr
    for kind in ("envoy", "istio"):
        config = tmp_path / f"{kind}.yaml"
        extra = ("--name", "filter") if kind == "istio" else ()
        proc = cli("deploy", kind, ref, *extra, "--out", str(config), "--verify-key", str(key), "--plain-http")
        assert_one_sentence(proc, *fragments)
        assert not config.exists()
    assert not out.exists() and not list(tmp_path.glob(".never*"))
    assert not (tmp_path / "cache" / "oci").exists()


def test_a_moved_tag_is_refused_with_nothing_written(registry: LocalRegistry, module_path: Path, keys: Path,
                                                     tmp_path: Path) -> None:
    ref, signed_digest = push(registry, module_path, tmp_path, "moved/reply")
    sign(ref, keys / "alice.key")
    _, new_digest = push(registry, module_path, tmp_path, "moved/reply", label="other-bytes")
    assert new_digest != signed_digest
    fragments = (f"now points at {new_digest}", f"signed when it pointed at {signed_digest}", "moved")
    assert_one_sentence(cli("verify", ref, "--key", str(keys / "alice.pub"), "--plain-http"), *fragments)
    refused_everywhere(ref, keys / "alice.pub", tmp_path, *fragments)


def test_an_unsigned_image_is_refused_with_nothing_written(registry: LocalRegistry, module_path: Path, keys: Path,
                                                           tmp_path: Path) -> None:
    ref, _ = push(registry, module_path, tmp_path, "unsigned/reply")
    refused_everywhere(ref, keys / "alice.pub", tmp_path, "is not signed", "refusing it")


def test_a_payload_naming_another_digest_is_refused(registry: LocalRegistry, module_path: Path, keys: Path,
                                                    tmp_path: Path) -> None:
    signed_ref, signed_digest = push(registry, module_path, tmp_path, "foreign/reply", tag="signed")
    sign(signed_ref, keys / "alice.key")
    other_ref, other_digest = push(registry, module_path, tmp_path, "foreign/reply", tag="other", label="foreign-2")
    # The valid signature of one image, stored as if it were the other's.
    body = get(registry, f"foreign/reply/manifests/{signing.signature_tag(signed_digest)}")
    put_manifest(registry, "foreign/reply", signing.signature_tag(other_digest), body)
    proc = cli("verify", other_ref, "--key", str(keys / "alice.pub"), "--plain-http")
    assert_one_sentence(proc, "is for another image", signed_digest)
    refused_everywhere(other_ref, keys / "alice.pub", tmp_path, "is for another image")


def test_a_tampered_signature_payload_is_refused(registry: LocalRegistry, module_path: Path, keys: Path,
                                                 tmp_path: Path) -> None:
    ref, digest = push(registry, module_path, tmp_path, "tampered-sig/reply")
    sign(ref, keys / "alice.key")
    manifest, (payload,) = signature_of(registry, "tampered-sig/reply", digest)
    stored = registry.blob_path(manifest["layers"][0]["digest"])
    stored.write_bytes(payload.replace(b'"creator":"proxywasm"', b'"creator":"mallory!!"'))
    refused_everywhere(ref, keys / "alice.pub", tmp_path, "none of its 1 signature verifies with alice")


def test_a_signature_made_for_other_payload_bytes_is_refused(registry: LocalRegistry, module_path: Path,
                                                             keys: Path, tmp_path: Path) -> None:
    ref, digest = push(registry, module_path, tmp_path, "swapped/reply")
    sign(ref, keys / "alice.key")
    manifest, _ = signature_of(registry, "swapped/reply", digest)
    # A new payload uploaded under its own digest, keeping alice's old signature annotation.
    forged = signing.simple_signing_payload("evil.example/reply", digest, {"creator": "mallory"})
    layer = dict(manifest["layers"][0], digest=put_blob(registry, "swapped/reply", forged), size=len(forged))
    body, config = signing.signature_manifest([layer])
    put_blob(registry, "swapped/reply", config)
    put_manifest(registry, "swapped/reply", signing.signature_tag(digest), body)
    assert_one_sentence(cli("verify", ref, "--key", str(keys / "alice.pub"), "--plain-http"), "none of its")


def test_a_signed_image_whose_blob_was_tampered_with_is_refused(registry: LocalRegistry, module_path: Path,
                                                                 keys: Path, tmp_path: Path) -> None:
    ref, _ = push(registry, module_path, tmp_path, "tampered-blob/reply")
    sign(ref, keys / "alice.key")
    manifest = json.loads(get(registry, "tampered-blob/reply/manifests/v1"))
    blob = registry.blob_path(manifest["layers"][-1]["digest"])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    out = tmp_path / "never.wasm"
    proc = cli("pull", ref, "-o", str(out), "--verify-key", str(keys / "alice.pub"), "--plain-http")
    assert_one_sentence(proc, "tampered", "nothing was written")
    assert not out.exists()


def test_verify_key_on_a_local_file_is_one_sentence(module_path: Path, keys: Path) -> None:
    proc = cli("deploy", "envoy", str(module_path), "--verify-key", str(keys / "alice.pub"))
    assert_one_sentence(proc, "local file")


# -- accepted: pull, deploy and run's pull --------------------------------------------------


def test_signed_images_are_pulled_and_deployed_pinned_to_the_signed_digest(
        registry: LocalRegistry, module_path: Path, keys: Path, tmp_path: Path) -> None:
    ref, digest = push(registry, module_path, tmp_path, "accepted/reply")
    sign(ref, keys / "alice.key")
    key = str(keys / "alice.pub")
    out = tmp_path / "reply.wasm"
    pulled = cli("pull", ref, "-o", str(out), "--verify-key", key, "--plain-http", "--json")
    assert pulled.returncode == 0, pulled.stderr
    assert json.loads(pulled.stdout)["digest"] == digest and out.exists()
    istio = cli("deploy", "istio", ref, "--name", "reply", "--verify-key", key, "--plain-http")
    assert istio.returncode == 0 and f"sha256: {digest.split(':')[1]}" in istio.stdout, istio.stderr
    envoy = cli("deploy", "envoy", ref, "--verify-key", key, "--plain-http", "--out", str(tmp_path / "envoy.yaml"))
    assert envoy.returncode == 0 and (tmp_path / "envoy.yaml").exists(), envoy.stderr
    cached = oci.pull_to_cache(ref, plain_http=True, verify_keys=[keys / "alice.pub"])
    assert cached.parent.name == digest.split(":")[1]
    pinned = f"{registry.host}/accepted/reply@{digest}"
    assert cli("verify", pinned, "--key", key, "--plain-http").returncode == 0
    sign(pinned, keys / "bob.key", "--passphrase-env", "BOB_PASS", env={"BOB_PASS": "bob's secret"})
    _, payloads = signature_of(registry, "accepted/reply", digest)
    identities = {json.loads(p)["critical"]["identity"]["docker-reference"] for p in payloads}
    assert identities == {f"{registry.host}/accepted/reply:v1", f"{registry.host}/accepted/reply"}


@pytest.mark.envoy
def test_run_serves_a_signed_image_it_verified(registry: LocalRegistry, module_path: Path, keys: Path,
                                              tmp_path: Path) -> None:
    from proxywasm_build.envoy.runner import free_port

    ref, _ = push(registry, module_path, tmp_path, "run-signed/reply")
    sign(ref, keys / "alice.key")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "proxywasm_build", "run", ref, "--plain-http", "--port", str(port),
                             "--verify-key", str(keys / "alice.pub")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        deadline, answer = time.monotonic() + 60, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
            except urllib.error.HTTPError as err:
                answer = (err.code, err.read())
                break
            except OSError:
                time.sleep(0.1)
        assert answer == (418, b"hello from wat\n"), proc.stdout.read() if proc.poll() is not None else answer
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- registry auth ----------------------------------------------------------------------------


def test_signing_and_verifying_with_htpasswd_auth(auth_registry: LocalRegistry, module_path: Path, keys: Path,
                                                  tmp_path: Path) -> None:
    ref = f"{auth_registry.host}/private/reply:v1"
    key = str(keys / "alice.pub")
    assert_one_sentence(cli("sign", ref, "--key", str(keys / "alice.key"), "--plain-http"), "requires a login")
    login = cli("login", auth_registry.host, "-u", "alice", "--password-stdin", "--plain-http", stdin="correct horse\n")
    assert login.returncode == 0, login.stderr
    assert cli("push", str(module_path), ref, "--plain-http").returncode == 0
    assert_one_sentence(cli("verify", ref, "--key", key, "--plain-http"), "is not signed")
    assert cli("sign", ref, "--key", str(keys / "alice.key"), "--plain-http").returncode == 0
    assert cli("verify", ref, "--key", key, "--plain-http").returncode == 0
    out = tmp_path / "reply.wasm"
    assert cli("pull", ref, "-o", str(out), "--verify-key", key, "--plain-http").returncode == 0
    assert out.read_bytes() == module_path.read_bytes()
    assert_one_sentence(cli("verify", ref, "--key", str(keys / "bob.pub"), "--plain-http"), "none of its")


# -- third parties: OpenSSL -------------------------------------------------------------------


def test_keys_openssl_makes_sign_and_verify(registry: LocalRegistry, module_path: Path, tmp_path: Path) -> None:
    plain, protected, public = tmp_path / "ossl.pem", tmp_path / "ossl-protected.pem", tmp_path / "ossl.pub"
    assert openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(plain)).returncode == 0
    assert openssl("pkey", "-in", str(plain), "-pubout", "-out", str(public)).returncode == 0
    assert openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", str(plain), "-out", str(protected),
                   "-passout", "pass:ossl secret").returncode == 0
    ref, digest = push(registry, module_path, tmp_path, "openssl/reply")
    sign(ref, plain)
    sign(ref, protected, "--passphrase-env", "OSSL_PASS", env={"OSSL_PASS": "ossl secret"})  # replaces the first
    assert cli("verify", ref, "--key", str(public), "--plain-http").returncode == 0
    assert len(signature_of(registry, "openssl/reply", digest)[0]["layers"]) == 1


def test_a_signature_openssl_made_over_a_hand_written_payload_verifies(registry: LocalRegistry, module_path: Path,
                                                                      keys: Path, tmp_path: Path) -> None:
    """Another signer, written from cosign's spec in this test (OpenSSL signs, urllib uploads)."""
    key_pem, public = tmp_path / "other.pem", tmp_path / "other.pub"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key_pem))
    openssl("pkey", "-in", str(key_pem), "-pubout", "-out", str(public))
    ref, digest = push(registry, module_path, tmp_path, "handmade/reply")
    payload = json.dumps({"critical": {"identity": {"docker-reference": f"{registry.host}/handmade/reply"},
                                       "image": {"Docker-manifest-digest": digest},
                                       "type": "cosign container image signature"},
                          "optional": None}, indent=1).encode()
    (tmp_path / "payload").write_bytes(payload)
    signed = openssl("dgst", "-sha256", "-sign", str(key_pem), str(tmp_path / "payload"))
    assert signed.returncode == 0
    layer_digest = put_blob(registry, "handmade/reply", payload)
    config = json.dumps({"architecture": "", "os": "", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}).encode()
    config_digest = put_blob(registry, "handmade/reply", config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
        "config": {"mediaType": oci.OCI_CONFIG, "size": len(config), "digest": config_digest},
        "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "size": len(payload),
                    "digest": layer_digest,
                    "annotations": {"dev.cosignproject.cosign/signature": base64.b64encode(signed.stdout).decode()}}],
    }).encode()
    put_manifest(registry, "handmade/reply", "sha256-" + digest.split(":")[1] + ".sig", manifest)
    proc = cli("verify", ref, "--key", str(public), "--plain-http")
    assert proc.returncode == 0 and "signed by other" in proc.stdout, proc.stderr
    assert_one_sentence(cli("verify", ref, "--key", str(keys / "alice.pub"), "--plain-http"), "none of its")


# -- third parties: skopeo --------------------------------------------------------------------


@pytest.fixture(scope="session")
def skopeo_command() -> list[str]:
    """Debian 13's skopeo 1.18.0, which has sigstore (Debian 12's has it compiled out): tests/tools/skopeo.py."""
    try:
        return skopeo_tool.skopeo_command()
    except UserError as err:
        pytest.skip(str(err))


@pytest.fixture
def skopeo(skopeo_command: list[str], registry: LocalRegistry, tmp_path: Path):
    """Run skopeo with a policy of the test's own and a registries.d turning sigstore attachments on."""
    registries_d = tmp_path / "registries.d"
    registries_d.mkdir()
    (registries_d / "local.yaml").write_text(f"docker:\n  {registry.host}:\n    use-sigstore-attachments: true\n")
    environment = skopeo_tool.isolated_environment(tmp_path)

    def run(*args: str, policy: dict) -> subprocess.CompletedProcess[str]:
        (tmp_path / "policy.json").write_text(json.dumps(policy))
        return subprocess.run([*skopeo_command, "--policy", str(tmp_path / "policy.json"),
                               "--registries.d", str(registries_d), *args],
                              capture_output=True, text=True, timeout=120, env=environment)
    return run


ACCEPT_ANYTHING = {"default": [{"type": "insecureAcceptAnything"}]}


def requiring(registry: LocalRegistry, repository: str, key: Path, signed_identity: str | None = None) -> dict:
    """containers-policy.json(5): images from `repository` need a sigstore signature by `key`.

    `signed_identity` None keeps skopeo's default identity rule, matchRepoDigestOrExact.
    """
    requirement: dict = {"type": "sigstoreSigned", "keyPath": str(key)}
    if signed_identity:
        requirement["signedIdentity"] = {"type": signed_identity}
    return {"default": [{"type": "reject"}],
            "transports": {"docker": {f"{registry.host}/{repository}": [requirement]},
                           "dir": {"": [{"type": "insecureAcceptAnything"}]}}}


def test_skopeo_relocates_a_signed_image_and_it_still_verifies(registry: LocalRegistry, module_path: Path,
                                                               keys: Path, tmp_path: Path, skopeo) -> None:
    """What `cosign copy` does, by a third-party client: the image and its .sig tag, digests kept."""
    ref, digest = push(registry, module_path, tmp_path, "relocate/from")
    sign(ref, keys / "alice.key")
    for tag in ("v1", signing.signature_tag(digest)):
        proc = skopeo("copy", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false",
                      f"docker://{registry.host}/relocate/from:{tag}", f"docker://{registry.host}/relocate/to:{tag}",
                      policy=ACCEPT_ANYTHING)
        assert proc.returncode == 0, proc.stderr
    moved = cli("verify", f"{registry.host}/relocate/to:v1", "--key", str(keys / "alice.pub"), "--plain-http")
    assert moved.returncode == 0 and digest in moved.stdout, moved.stderr


def test_skopeo_accepts_our_signatures(registry: LocalRegistry, module_path: Path, keys: Path,
                                       tmp_path: Path, skopeo) -> None:
    """skopeo's sigstoreSigned policy accepts `proxywasm sign`'s signature with our .pub and refuses it
    with another key (and refuses an unsigned image)."""
    ref, digest = push(registry, module_path, tmp_path, "skopeo-checks/reply")
    sign(ref, keys / "alice.key")
    accepted = skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"dir:{tmp_path / 'accepted'}",
                      policy=requiring(registry, "skopeo-checks", keys / "alice.pub"))
    assert accepted.returncode == 0, accepted.stderr
    assert oci.sha256_digest((tmp_path / "accepted" / "manifest.json").read_bytes()) == digest
    refused = skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"dir:{tmp_path / 'refused'}",
                     policy=requiring(registry, "skopeo-checks", keys / "bob.pub"))
    assert refused.returncode != 0 and "signature verification failed" in refused.stderr, refused.stderr
    # The policy is not vacuous: an image nobody signed is refused under it too.
    unsigned, _ = push(registry, module_path, tmp_path, "skopeo-checks/unsigned")
    refused = skopeo("copy", "--src-tls-verify=false", f"docker://{unsigned}", f"dir:{tmp_path / 'unsigned'}",
                     policy=requiring(registry, "skopeo-checks", keys / "alice.pub"))
    assert refused.returncode != 0 and "A signature was required, but no signature exists" in refused.stderr, \
        refused.stderr


def test_skopeo_accepts_a_digest_we_signed(registry: LocalRegistry, module_path: Path, keys: Path,
                                          tmp_path: Path, skopeo) -> None:
    """Signing a digest names just the repository, as cosign does: skopeo accepts that identity only
    under `signedIdentity: matchRepository` (as for cosign's own signatures), not its default rule."""
    _, digest = push(registry, module_path, tmp_path, "skopeo-checks/by-digest")
    pinned = f"{registry.host}/skopeo-checks/by-digest@{digest}"
    sign(pinned, keys / "bob.key", "--passphrase-env", "BOB_PASS", env={"BOB_PASS": "bob's secret"})
    accepted = skopeo("copy", "--src-tls-verify=false", f"docker://{pinned}", f"dir:{tmp_path / 'accepted'}",
                      policy=requiring(registry, "skopeo-checks", keys / "bob.pub", "matchRepository"))
    assert accepted.returncode == 0, accepted.stderr
    by_default = skopeo("copy", "--src-tls-verify=false", f"docker://{pinned}", f"dir:{tmp_path / 'by-default'}",
                        policy=requiring(registry, "skopeo-checks", keys / "bob.pub"))
    assert by_default.returncode != 0 and "is not accepted" in by_default.stderr, by_default.stderr


def test_we_accept_skopeos_signatures_made_with_our_keys(registry: LocalRegistry, module_path: Path, keys: Path,
                                                         tmp_path: Path, skopeo) -> None:
    """skopeo signs with keys `proxywasm keygen` wrote (with and without a passphrase); we verify them."""
    passphrases = {"alice": "", "bob": "bob's secret"}
    for name, passphrase in passphrases.items():
        # One image per key: a .sig tag holds every signature of a digest, whoever made it.
        ref, _ = push(registry, module_path, tmp_path, f"skopeo-signs/{name}", tag="unsigned")
        (tmp_path / f"{name}.pass").write_text(passphrase)
        signed = f"{registry.host}/skopeo-signs/{name}:signed"
        proc = skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                      "--sign-by-sigstore-private-key", str(keys / f"{name}.key"),
                      "--sign-passphrase-file", str(tmp_path / f"{name}.pass"),
                      f"docker://{ref}", f"docker://{signed}", policy=ACCEPT_ANYTHING)
        assert proc.returncode == 0, proc.stderr
        verified = cli("verify", signed, "--key", str(keys / f"{name}.pub"), "--plain-http")
        assert verified.returncode == 0, verified.stderr
        other = "bob" if name == "alice" else "alice"
        assert_one_sentence(cli("verify", signed, "--key", str(keys / f"{other}.pub"), "--plain-http"), "none of its")
