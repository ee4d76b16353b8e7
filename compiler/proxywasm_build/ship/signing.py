"""Sign and verify module images the way sigstore's cosign does with a key pair.

The layout (cosign's SIGNATURE_SPEC, key-based signing; docs/ship.md shows it byte by byte):

- The signature of the image whose manifest digest is ``sha256:HEX`` lives in the same
  repository under the tag ``sha256-HEX.sig``: an OCI image manifest with one layer per
  signature, each of media type ``application/vnd.dev.cosign.simplesigning.v1+json``.
- A layer's blob is the *simple signing* payload, JSON naming the signed manifest digest
  (``critical.image.docker-manifest-digest``); its annotation
  ``dev.cosignproject.cosign/signature`` is the base64 ASN.1 ECDSA P-256 signature over the
  SHA-256 of those payload bytes.
- Private keys are cosign's ``ENCRYPTED COSIGN PRIVATE KEY`` PEM (scrypt, then NaCl secretbox,
  over a PKCS#8 key; an empty passphrase still encrypts), which cosign and skopeo read; public
  keys are PKIX ``PUBLIC KEY`` PEM.

A signature covers the manifest digest, and the manifest names every blob by digest, so a
verified digest pins every byte that a later pull (which checks each digest) writes.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from proxywasm_build.errors import UserError
from proxywasm_build.outputs import check_output_file, writing
from proxywasm_build.ship import oci

SIMPLE_SIGNING_LAYER = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIMPLE_SIGNING_TYPE = "cosign container image signature"

#: What cosign (before 2.0) and skopeo read; cosign 2 writes the SIGSTORE label and reads both.
COSIGN_KEY_LABEL = "ENCRYPTED COSIGN PRIVATE KEY"
ENCRYPTED_KEY_LABELS = (COSIGN_KEY_LABEL, "ENCRYPTED SIGSTORE PRIVATE KEY")
#: The scrypt parameters every cosign and containers/image version opens (cosign 2 writes N=65536).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 32768, 8, 1
#: N values read; bounded because N sets scrypt's memory (128 * r * N bytes: 128 MiB at 2**17).
SCRYPT_N_READ = (2**15, 2**16, 2**17)
#: A simple signing payload is a few hundred bytes; refuse anything absurd before reading it.
MAX_PAYLOAD_BYTES = 1 << 20

_ZERO_TIME = "0001-01-01T00:00:00Z"
_SIGNATURE_TAG = re.compile(r"^sha256-[0-9a-f]{64}\.sig$")
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.S)


# -- keys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicKey:
    """A verification key with the name it is shown by (its file's stem, or what the caller gave)."""

    name: str
    key: ec.EllipticCurvePublicKey

    @property
    def fingerprint(self) -> str:
        """`sha256:` and the hex SHA-256 of the key's DER SubjectPublicKeyInfo."""
        return oci.sha256_digest(self.key.public_bytes(serialization.Encoding.DER,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo))

    def verifies(self, payload: bytes, signature: bytes) -> bool:
        try:
            self.key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
            return True
        except InvalidSignature:
            return False


def public_key_from_pem(data: bytes, name: str) -> PublicKey:
    """A PKIX `PUBLIC KEY` PEM (what `keygen`, cosign and openssl write) as a PublicKey."""
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise UserError(f"{name} is not a PEM public key (expected -----BEGIN PUBLIC KEY-----).") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise UserError(f"{name} is not an ECDSA public key; image signatures use ECDSA P-256.")
    return PublicKey(name, key)


def load_public_key(path: Path | str) -> PublicKey:
    """Read a public key file; it is shown by its file name without the suffix."""
    path = Path(path)
    with _reading(path):
        data = path.read_bytes()
    return public_key_from_pem(data, path.stem if path.suffix == ".pub" else path.name)


def load_public_keys(paths: Iterable[PublicKey | Path | str]) -> list[PublicKey]:
    """Key files read (PublicKey objects kept as they are); at least one."""
    keys = [p if isinstance(p, PublicKey) else load_public_key(p) for p in paths]
    if not keys:
        raise UserError("give at least one public key.")
    return keys


def _reading(path: Path) -> Any:
    if not path.exists():
        raise UserError(f"{path} does not exist.")
    return writing(path, "read")


def _scrypt_key(passphrase: bytes, salt: bytes, n: int = SCRYPT_N) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase)


def encrypt_private_key(key: ec.EllipticCurvePrivateKey, passphrase: bytes) -> bytes:
    """cosign's encrypted private key PEM: the PKCS#8 DER sealed with a key scrypt derives."""
    import nacl.secret

    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    salt, nonce = os.urandom(32), os.urandom(nacl.secret.SecretBox.NONCE_SIZE)
    sealed = nacl.secret.SecretBox(_scrypt_key(passphrase, salt)).encrypt(der, nonce).ciphertext
    envelope = {
        "kdf": {"name": "scrypt", "params": {"N": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
                "salt": base64.b64encode(salt).decode()},
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    return _pem(COSIGN_KEY_LABEL, json.dumps(envelope, separators=(",", ":")).encode())


def _pem(label: str, data: bytes) -> bytes:
    body = base64.b64encode(data).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return (f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n").encode()


class WrongPassphrase(UserError):
    """The passphrase does not open the private key."""


def decrypt_private_key(pem: bytes, passphrase: bytes, name: str = "the private key") -> ec.EllipticCurvePrivateKey:
    """Open a private key: cosign's encrypted PEM, or a plain or passphrase-protected PKCS#8/SEC1 PEM."""
    match = _PEM_BLOCK.search(pem)
    if match is None:
        raise UserError(f"{name} is not a PEM private key.")
    label = match.group(1).decode()
    if label in ENCRYPTED_KEY_LABELS:
        key = _open_cosign_envelope(base64.b64decode(match.group(2)), passphrase, name)
    else:
        try:
            key = serialization.load_pem_private_key(pem, password=passphrase or None)
        except TypeError:  # encrypted PKCS#8 without a passphrase, or a passphrase for a plain key
            if passphrase:
                key = serialization.load_pem_private_key(pem, password=None)
            else:
                raise WrongPassphrase(f"{name} is protected by a passphrase.") from None
        except ValueError:
            raise WrongPassphrase(f"the passphrase does not open {name}.") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise UserError(f"{name} is not an ECDSA private key; image signatures use ECDSA P-256.")
    return key


def _open_cosign_envelope(data: bytes, passphrase: bytes, name: str) -> Any:
    import nacl.exceptions
    import nacl.secret

    try:
        envelope = json.loads(data)
        kdf, cipher = envelope["kdf"], envelope["cipher"]
        params = kdf["params"]
        salt = base64.b64decode(kdf["salt"])
        nonce = base64.b64decode(cipher["nonce"])
        sealed = base64.b64decode(envelope["ciphertext"])
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{name} is not a readable cosign private key.") from None
    if kdf.get("name") != "scrypt" or cipher.get("name") != "nacl/secretbox" or params.get("N") not in SCRYPT_N_READ \
            or (params.get("r"), params.get("p")) != (SCRYPT_R, SCRYPT_P):
        raise UserError(f"{name} uses a key encryption cosign does not write (expected scrypt and nacl/secretbox).")
    try:
        der = nacl.secret.SecretBox(_scrypt_key(passphrase, salt, params["N"])).decrypt(sealed, nonce)
    except nacl.exceptions.CryptoError:
        raise WrongPassphrase(f"the passphrase does not open {name}.") from None
    return serialization.load_der_private_key(der, password=None)


def load_private_key(path: Path | str, passphrase: Callable[[], bytes] | bytes | None = None) -> ec.EllipticCurvePrivateKey:
    """Read a private key file. `passphrase` is the passphrase, or a function asked for it only
    when the empty passphrase (what `keygen --no-passphrase` uses) does not open the key."""
    path = Path(path)
    with _reading(path):
        pem = path.read_bytes()
    if isinstance(passphrase, bytes):
        return decrypt_private_key(pem, passphrase, str(path))
    try:
        return decrypt_private_key(pem, b"", str(path))
    except WrongPassphrase:
        if passphrase is None:
            raise WrongPassphrase(f"{path} is protected by a passphrase; give it with --passphrase-env VAR.") from None
    return decrypt_private_key(pem, passphrase(), str(path))


def public_pem(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class KeyPair:
    private_path: Path
    public_path: Path
    public_key: PublicKey


def write_key_pair(name: Path | str, passphrase: bytes, *, force: bool = False) -> KeyPair:
    """Write NAME.key (cosign's encrypted PEM, mode 0600) and NAME.pub for a new ECDSA P-256 key.

    Both locations are checked before either is written; existing files are kept unless `force`.
    """
    base = Path(name)
    if base.suffix in (".key", ".pub"):
        base = base.with_suffix("")
    private_path, public_path = base.with_name(base.name + ".key"), base.with_name(base.name + ".pub")
    for path in (private_path, public_path):
        check_output_file(path)
        if path.exists() and not force:
            raise UserError(f"{path} already exists; choose another NAME or give --force to replace it.")
    key = ec.generate_private_key(ec.SECP256R1())
    encrypted = encrypt_private_key(key, passphrase)
    from proxywasm_build.cache import atomic_write

    old_public = public_path.read_bytes() if public_path.is_file() else None
    atomic_write(public_path, public_pem(key))
    try:
        with writing(private_path):
            oci._write_private(private_path, encrypted)
    except UserError:  # leave the pair as it was: a public key without its private key is of no use
        if old_public is None:
            public_path.unlink(missing_ok=True)
        else:
            atomic_write(public_path, old_public)
        raise
    return KeyPair(private_path, public_path, PublicKey(public_path.stem, key.public_key()))


# -- the signature layout --------------------------------------------------------------------


def signature_tag(digest: str) -> str:
    """The tag cosign stores the signatures of manifest `digest` under: `sha256-HEX.sig`."""
    algorithm, _, hexdigest = digest.partition(":")
    return f"{algorithm}-{hexdigest}.sig"


def is_signature_tag(tag: str) -> bool:
    """Whether `tag` holds signatures (`sha256-HEX.sig`) rather than an image."""
    return bool(_SIGNATURE_TAG.match(tag))


def simple_signing_payload(identity: str, digest: str, optional: dict[str, Any] | None = None) -> bytes:
    """The payload cosign signs: `identity` is the docker reference, `digest` the manifest's."""
    return json.dumps({
        "critical": {
            "identity": {"docker-reference": identity},
            "image": {"docker-manifest-digest": digest},
            "type": SIMPLE_SIGNING_TYPE,
        },
        "optional": optional,
    }, separators=(",", ":")).encode()


def _signed_identity(reference: oci.Reference) -> str:
    """Who the payload says it signs: the tag when signing a tag (as skopeo and the default
    `matchRepoDigestOrExact` policy of containers/image expect), else the repository (as cosign)."""
    repository = f"{reference.registry}/{reference.repository}"
    return f"{repository}:{reference.tag}" if reference.tag and not reference.digest else repository


def _payload_digest(payload: dict[str, Any]) -> str | None:
    """`critical.image.docker-manifest-digest`, its keys matched as Go's JSON decoder does (any case)."""
    critical = _field(payload, "critical")
    image = _field(critical, "image") if isinstance(critical, dict) else None
    value = _field(image, "docker-manifest-digest") if isinstance(image, dict) else None
    return value if isinstance(value, str) else None


def _field(mapping: Any, name: str) -> Any:
    if not isinstance(mapping, dict):
        return None
    for key, value in mapping.items():
        if isinstance(key, str) and key.lower() == name:
            return value
    return None


def _signature_config(layers: Sequence[dict[str, Any]]) -> bytes:
    """The image config cosign writes beside its signature layers: an empty image's, its keys in
    go-containerregistry's order, so the bytes (and digest) are the ones cosign writes."""
    return json.dumps({
        "architecture": "", "created": _ZERO_TIME, "history": [{"created": _ZERO_TIME}], "os": "",
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]}, "config": {},
    }, separators=(",", ":")).encode()


def _layer_descriptor(payload: bytes, signature: bytes) -> dict[str, Any]:
    return {"mediaType": SIMPLE_SIGNING_LAYER, "size": len(payload), "digest": oci.sha256_digest(payload),
            "annotations": {SIGNATURE_ANNOTATION: base64.b64encode(signature).decode()}}


def signature_manifest(layers: Sequence[dict[str, Any]]) -> tuple[bytes, bytes]:
    """The `.sig` manifest over signature layer descriptors, and its config blob; keys in the
    order cosign writes them."""
    config = _signature_config(layers)
    manifest = {
        "schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
        "config": {"mediaType": oci.OCI_CONFIG, "size": len(config), "digest": oci.sha256_digest(config)},
        "layers": list(layers),
    }
    return json.dumps(manifest, separators=(",", ":")).encode(), config


# -- registry access -------------------------------------------------------------------------


def resolve_digest(client: Any, reference: oci.Reference) -> str:
    """The manifest digest `reference` names now: checked against the bytes the registry serves
    (an index's own digest: a signature covers what the tag names, not one of its entries)."""
    _, _, digest = oci._get_manifest(client, reference, follow_index=False)
    return digest


def _signature_manifest(client: Any, reference: oci.Reference, digest: str) -> tuple[dict[str, Any], str] | None:
    """The `sha256-HEX.sig` manifest of `digest` and its own digest, or None when there is none."""
    sig_ref = reference.with_tag(signature_tag(digest))
    url = f"{client.prefix}://{sig_ref.registry}/v2/{sig_ref.repository}/manifests/{sig_ref.tag}"
    response = client.do_request(url, "GET", headers={"Accept": oci._ACCEPT})
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise UserError(f"registry {reference.registry} refused the signature manifest {sig_ref}: "
                        f"{oci._registry_reason(response)}.")
    _, manifest, sig_digest = oci.checked_manifest(sig_ref, response)
    return manifest, sig_digest


@dataclass(frozen=True)
class _SignatureLayer:
    descriptor: dict[str, Any]
    payload: bytes | None  # None: unreadable (missing, corrupt or too large blob)
    signature: bytes | None  # None: no or malformed annotation


def _signature_layers(client: Any, reference: oci.Reference, manifest: dict[str, Any]) -> list[_SignatureLayer]:
    layers = []
    for descriptor in manifest.get("layers") or []:
        if not isinstance(descriptor, dict) or descriptor.get("mediaType") != SIMPLE_SIGNING_LAYER:
            continue
        payload = None
        size = descriptor.get("size")
        if isinstance(size, int) and 0 <= size <= MAX_PAYLOAD_BYTES:
            try:
                payload = oci._get_blob(client, reference, descriptor)
            except UserError:  # a corrupt payload is a signature that does not verify
                payload = None
        text = (descriptor.get("annotations") or {}).get(SIGNATURE_ANNOTATION)
        try:
            # Go's decoder, which cosign verifies with, skips line breaks; some cosign builds wrap.
            signature = base64.b64decode("".join(text.split()), validate=True) if isinstance(text, str) and text \
                else None
        except ValueError:
            signature = None
        layers.append(_SignatureLayer(descriptor, payload, signature))
    return layers


# -- verify ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """What the registry holds about one image's signatures, judged against some keys.

    `signed` is True only when a signature made by one of the keys verifies and its payload
    names `digest`; `key_name`/`fingerprint` then say which key. `reason` is one sentence
    either way. `signature_digest` is the digest of the `.sig` manifest (None when there is
    none): a cache keyed by (`digest`, `signature_digest`, keys) stays right when signatures
    are added.
    """

    reference: oci.Reference
    digest: str
    signed: bool
    reason: str
    key_name: str | None = None
    fingerprint: str | None = None
    signatures: int = 0
    signature_digest: str | None = None
    identity: str | None = None  # the docker-reference the verified payload names


def verify_digest(client: Any, reference: oci.Reference, digest: str, keys: Sequence[PublicKey]) -> Verification:
    """Judge the signatures stored for manifest `digest` of `reference`'s repository.

    Costs one manifest GET (404 when unsigned) plus one small blob GET per signature; the
    image itself is not read. Registry failures (unreachable, login) raise UserError.
    """
    pinned = dataclasses.replace(reference, digest=digest)
    found = _signature_manifest(client, reference, digest)
    if found is None:
        return Verification(pinned, digest, False, f"{_shown(pinned)} is not signed.")
    manifest, sig_digest = found
    layers = _signature_layers(client, reference, manifest)
    result = dict(reference=pinned, digest=digest, signatures=len(layers), signature_digest=sig_digest)
    if not layers:
        return Verification(signed=False, reason=f"{_shown(pinned)} is not signed (its {signature_tag(digest)} "
                                                 "manifest holds no signature).", **result)
    other_digest = None
    for layer in layers:
        if layer.payload is None or layer.signature is None:
            continue
        for key in keys:
            if not key.verifies(layer.payload, layer.signature):
                continue
            try:
                payload = json.loads(layer.payload)
            except ValueError:
                continue
            named = _payload_digest(payload)
            if _field(_field(payload, "critical"), "type") != SIMPLE_SIGNING_TYPE:
                continue
            if named != digest:
                other_digest = named
                continue
            identity = _field(_field(_field(payload, "critical"), "identity"), "docker-reference")
            return Verification(signed=True, key_name=key.name, fingerprint=key.fingerprint,
                                identity=identity if isinstance(identity, str) else None,
                                reason=f"{_shown(pinned)} is signed by {key.name} ({key.fingerprint[:19]}…).",
                                **result)
    names = ", ".join(k.name for k in keys)
    if other_digest is not None:
        reason = (f"the signature of {_shown(pinned)} by {names} is for another image ({other_digest}); "
                  "refusing it.")
    else:
        count = f"{len(layers)} signature{'s' if len(layers) != 1 else ''}"
        reason = f"{_shown(pinned)} is signed, but none of its {count} verifies with {names}."
    return Verification(signed=False, reason=reason, **result)


def verify_image(client: Any, reference: oci.Reference | str, keys: Sequence[PublicKey]) -> Verification:
    """Resolve `reference` to the digest it names now, then `verify_digest` it."""
    ref = reference if isinstance(reference, oci.Reference) else oci.Reference.parse(reference)
    return verify_digest(client, ref, resolve_digest(client, ref), keys)


def _shown(reference: oci.Reference) -> str:
    name = f"{reference.registry}/{reference.repository}"
    if reference.tag:
        name += f":{reference.tag}"
    return f"{name} ({reference.digest[:19]}…)" if reference.digest else name


def _moved_since_signed(client: Any, reference: oci.Reference, keys: Sequence[PublicKey]) -> str | None:
    """The digest a key signed under this very tag, when the tag now names other bytes."""
    if not reference.tag or reference.digest:
        return None
    wanted = _signed_identity(reference)
    try:
        tags = client.get_tags(client.get_container(reference.oras_name))
    except (ValueError, UserError):
        return None
    for tag in sorted(t for t in tags if is_signature_tag(t)):
        old_digest = "sha256:" + tag[len("sha256-"):-len(".sig")]
        found = _signature_manifest(client, reference, old_digest)
        if found is None:
            continue
        for layer in _signature_layers(client, reference, found[0]):
            if layer.payload is None or layer.signature is None:
                continue
            if any(k.verifies(layer.payload, layer.signature) for k in keys):
                try:
                    payload = json.loads(layer.payload)
                except ValueError:
                    continue
                identity = _field(_field(_field(payload, "critical"), "identity"), "docker-reference")
                if identity == wanted and _payload_digest(payload) == old_digest:
                    return old_digest
    return None


def require_signed(reference: oci.Reference | str, keys: Sequence[PublicKey], *,
                   plain_http: bool = False) -> Verification:
    """The verification of the digest `reference` names now, if one of `keys` signed it;
    otherwise one sentence (UserError). Fetch through its `.reference` (pinned to that digest),
    so the bytes read are the ones verified."""
    ref = reference if isinstance(reference, oci.Reference) else oci.Reference.parse(reference)
    client = oci.registry_client(ref.registry, plain_http=plain_http)
    verification = verify_image(client, ref, keys)
    if verification.signed:
        return verification
    if verification.signatures == 0:
        old = _moved_since_signed(client, ref, keys)
        if old is not None:
            raise UserError(f"{ref} now points at {verification.digest}, but it was signed when it pointed at "
                            f"{old}: the tag moved to other bytes since it was signed; refusing it.")
    raise UserError(verification.reason if verification.reason.endswith("refusing it.")
                    else verification.reason[:-1] + "; refusing it.")


# -- sign ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignResult:
    reference: oci.Reference  # pinned to the signed digest
    digest: str
    signature_reference: oci.Reference
    identity: str
    signatures: int  # how many signatures the .sig manifest holds now


def sign_image(reference: oci.Reference | str, key: ec.EllipticCurvePrivateKey, *, plain_http: bool = False,
               creator: str = "proxywasm") -> SignResult:
    """Sign the manifest digest `reference` names now and store the signature in cosign's layout.

    Signatures by other keys already stored for that digest are kept; an earlier signature by
    this same key is replaced, so signing twice does not pile up layers.
    """
    ref = reference if isinstance(reference, oci.Reference) else oci.Reference.parse(reference)
    client = oci.registry_client(ref.registry, plain_http=plain_http)
    digest = resolve_digest(client, ref)
    identity = _signed_identity(ref)
    payload = simple_signing_payload(identity, digest, {"creator": creator, "timestamp": int(time.time())})
    signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    own = PublicKey("signer", key.public_key())
    kept: list[dict[str, Any]] = []
    found = _signature_manifest(client, ref, digest)
    if found is not None:
        for layer in _signature_layers(client, ref, found[0]):
            mine = layer.payload is not None and layer.signature is not None and own.verifies(layer.payload,
                                                                                             layer.signature)
            if not mine:
                kept.append(layer.descriptor)
    layer_desc = _layer_descriptor(payload, signature)
    layers = [*kept, layer_desc]
    manifest, config = signature_manifest(layers)
    sig_ref = ref.with_tag(signature_tag(digest))
    client.put_bytes(sig_ref, payload, layer_desc["digest"])
    client.put_bytes(sig_ref, config, oci.sha256_digest(config))
    url = f"{client.prefix}://{sig_ref.registry}/v2/{sig_ref.repository}/manifests/{sig_ref.tag}"
    response = client.do_request(url, "PUT", data=manifest, headers={"Content-Type": oci.OCI_MANIFEST})
    if response.status_code not in (200, 201, 202):
        raise UserError(f"registry {ref.registry} refused the signature manifest: {oci._registry_reason(response)}.")
    return SignResult(dataclasses.replace(ref, digest=digest), digest, sig_ref, identity, len(layers))
