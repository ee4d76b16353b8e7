"""Ship Proxy-Wasm modules as OCI images: push, pull, tag, list and log in.

Two image layouts (docs/ship.md shows them byte by byte):

- ``compat`` (default; what Istio pulls): an OCI image whose single (last) layer is a
  reproducible tar+gzip holding ``plugin.wasm`` and ``runtime-config.json``, with the manifest
  annotation ``module.wasm.image/variant=compat``.
- ``wasme``: the Wasm artifact layout, config ``application/vnd.module.wasm.config.v1+json``
  (``type``, ``abiVersions``, ``config.rootIds``) and one layer
  ``application/vnd.module.wasm.content.layer.v1+wasm`` holding the module itself.

Registry traffic goes through PyPI ``oras`` (its `Registry` client, blob upload, tag listing
and auth backends); we add digest checks on everything we read, one-sentence errors, basic
auth challenges (distribution's htpasswd) next to oras's bearer tokens, and no retry loops.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import logging
import os
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from proxywasm_build.wasm.metadata_section import METADATA_SECTION
from proxywasm_build.cache import atomic_write, cache_dir
from proxywasm_build.outputs import check_output_file, write_output
from proxywasm_build.errors import UserError

# -- media types and annotations -------------------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LAYER_TAR_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
WASM_CONFIG = "application/vnd.module.wasm.config.v1+json"
WASM_LAYER = "application/vnd.module.wasm.content.layer.v1+wasm"

VARIANT_ANNOTATION = "module.wasm.image/variant"
TITLE_ANNOTATION = "org.opencontainers.image.title"
ABI_ANNOTATION = "io.proxywasm.abi-versions"
ROOT_IDS_ANNOTATION = "io.proxywasm.root-ids"
MODULE_DIGEST_ANNOTATION = "io.proxywasm.module.digest"

LAYOUTS = ("compat", "wasme")
PLUGIN_FILE = "plugin.wasm"
RUNTIME_CONFIG_FILE = "runtime-config.json"
#: Istio's fetcher refuses modules above 256 MB; so do we, for any blob we read.
MAX_BLOB_BYTES = 256 * 1024 * 1024

_ACCEPT = ", ".join((OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_LIST))
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")
#: Tags cosign keeps signatures, attestations and SBOMs under; not images of their own.
_ATTACHMENT_TAG = re.compile(r"^sha256-[0-9a-f]{64}\.(sig|att|sbom)$")

logging.getLogger("oras.logger").setLevel(logging.CRITICAL)  # we report errors ourselves


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


# -- what a module says about itself ---------------------------------------------------------


@dataclass(frozen=True)
class ModuleMetadata:
    """ABI versions and root ids of a module, as written into an image's runtime config."""

    abi_versions: list[str]
    root_ids: list[str]


def module_metadata(wasm: bytes, root_id: str | None = None, *, name: str = "the module") -> ModuleMetadata:
    """Read the ABI version(s) and root id(s) from the module itself.

    The ABI comes from the `proxy_abi_version_*` export; root ids from `--root-id`, else from
    the `proxywasm-python` custom section our builds carry (`root_ids` / `root_id`).
    """
    from proxywasm import abi

    from proxywasm_build.wasm.reader import NotWasmError, read_module

    try:
        info = read_module(wasm)
    except NotWasmError as err:
        raise UserError(f"{name} is not a WebAssembly module: {err}.") from None
    versions = sorted(abi.MARKERS[e.name] for e in info.exports if e.name in abi.MARKERS)
    if not versions:
        raise UserError(f"{name} exports no proxy_abi_version_* marker, so it is not a Proxy-Wasm module.")
    root_ids: list[str] = []
    if root_id is not None:
        root_ids = [root_id]
    else:
        section = info.custom_section(METADATA_SECTION)
        if section:
            try:
                meta = json.loads(section)
            except ValueError:
                meta = {}
            found = meta.get("root_ids", meta.get("root_id")) if isinstance(meta, dict) else None
            if isinstance(found, str):
                root_ids = [found]
            elif isinstance(found, list):
                root_ids = [str(r) for r in found]
    return ModuleMetadata(abi_versions=versions, root_ids=root_ids)


def runtime_config(meta: ModuleMetadata) -> dict[str, Any]:
    """The Wasm image runtime config: `{"type", "abiVersions", "config": {"rootIds"}}`."""
    return {
        "type": "envoy_proxy",
        "abiVersions": [f"proxy_abi_version_{v.replace('.', '_')}" for v in meta.abi_versions],
        "config": {"rootIds": list(meta.root_ids)},
    }


def _abi_from_runtime_config(config: dict[str, Any]) -> list[str]:
    out = []
    for item in config.get("abiVersions") or []:
        text = str(item)
        match = re.fullmatch(r"proxy_abi_version_(\d+)_(\d+)_(\d+)", text)
        out.append(".".join(match.groups()) if match else text)
    return out


# -- building an image (pure, reproducible) --------------------------------------------------


@dataclass
class ImageBlobs:
    """Everything a push uploads: the blobs by digest and the manifest bytes."""

    manifest: bytes
    blobs: dict[str, bytes]
    layout: str

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)


def _descriptor(media_type: str, data: bytes, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    desc: dict[str, Any] = {"mediaType": media_type, "digest": sha256_digest(data), "size": len(data)}
    if annotations:
        desc["annotations"] = annotations
    return desc


def _plugin_tar(wasm: bytes, runtime_config_json: bytes) -> bytes:
    """A reproducible tar: fixed order, mtime 0, uid/gid 0, mode 0644."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in ((PLUGIN_FILE, wasm), (RUNTIME_CONFIG_FILE, runtime_config_json)):
            member = tarfile.TarInfo(name)
            member.size = len(data)
            member.mode = 0o644
            member.mtime = 0
            tar.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def build_image(wasm: bytes, meta: ModuleMetadata, layout: str = "compat") -> ImageBlobs:
    """Lay a module out as an image; the same module and metadata always give the same digest."""
    if layout not in LAYOUTS:
        raise UserError(f"unknown layout {layout!r}; use compat or wasme.")
    runtime = _canonical_json(runtime_config(meta))
    annotations = {
        ABI_ANNOTATION: ",".join(meta.abi_versions),
        ROOT_IDS_ANNOTATION: ",".join(meta.root_ids),
        MODULE_DIGEST_ANNOTATION: sha256_digest(wasm),
    }
    if layout == "compat":
        tar = _plugin_tar(wasm, runtime)
        layer = gzip.compress(tar, compresslevel=6, mtime=0)  # 9 is 7x slower for 1% less
        config = _canonical_json({
            "architecture": "wasm",
            "os": "wasip1",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar)]},
        })
        layer_desc = _descriptor(OCI_LAYER_TAR_GZIP, layer)
        config_desc = _descriptor(OCI_CONFIG, config)
        annotations[VARIANT_ANNOTATION] = "compat"
    else:
        layer, config = wasm, runtime
        layer_desc = _descriptor(WASM_LAYER, layer, {TITLE_ANNOTATION: PLUGIN_FILE})
        config_desc = _descriptor(WASM_CONFIG, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_desc,
        "layers": [layer_desc],
        "annotations": annotations,
    }
    return ImageBlobs(
        manifest=_canonical_json(manifest),
        blobs={config_desc["digest"]: config, layer_desc["digest"]: layer},
        layout=layout,
    )


# -- references ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """`registry/repository[:tag][@sha256:...]`; the tag defaults to `latest`."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str, *, allow_bare: bool = False) -> "Reference":
        original = text
        text = text.strip()
        if text.startswith("oci://"):
            text = text[len("oci://"):]
        digest = None
        if "@" in text:
            text, digest = text.split("@", 1)
            if not _SHA256.match(digest):
                raise UserError(f"{original!r} has a malformed digest; expected @sha256: and 64 hex digits.")
        slash = text.find("/")
        if slash <= 0:
            raise UserError(f"{original!r} is not an image reference; write REGISTRY/REPOSITORY[:TAG], "
                            "for example 127.0.0.1:5000/filters/deny:v1.")
        registry, rest = text[:slash], text[slash + 1:]
        if not ("." in registry or ":" in registry or registry == "localhost"):
            raise UserError(f"{original!r} does not start with a registry host; write REGISTRY/REPOSITORY[:TAG], "
                            "for example 127.0.0.1:5000/filters/deny:v1 or ghcr.io/me/deny:v1.")
        tag = None
        colon = rest.rfind(":")
        if colon != -1:
            rest, tag = rest[:colon], rest[colon + 1:]
            if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}", tag):
                raise UserError(f"{original!r} has an invalid tag {tag!r}.")
        if not rest or not re.fullmatch(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*", rest):
            raise UserError(f"{original!r} has an invalid repository name {rest!r} "
                            "(lowercase letters, digits, . _ - and /).")
        if tag is None and digest is None and not allow_bare:
            tag = "latest"
        return cls(registry, rest, tag, digest)

    @property
    def target(self) -> str:
        """What goes after `/manifests/`: the digest if pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def with_tag(self, tag: str) -> "Reference":
        return Reference(self.registry, self.repository, tag, None)

    def with_digest(self, digest: str) -> "Reference":
        return Reference(self.registry, self.repository, None, digest)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def oras_name(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag or 'latest'}"


# -- credentials -----------------------------------------------------------------------------


def credentials_file() -> Path:
    """Where logins are kept, in Docker's config.json format (mode 0600).

    `$PROXYWASM_AUTH_FILE`, else `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`;
    so a `docker login` is honoured and ours is honoured by docker/oras/crane.
    """
    explicit = os.environ.get("PROXYWASM_AUTH_FILE")
    if explicit:
        return Path(explicit)
    docker_config = os.environ.get("DOCKER_CONFIG")
    if docker_config:
        return Path(docker_config) / "config.json"
    return Path.home() / ".docker" / "config.json"


def _read_credentials(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        raise UserError(f"the credentials file {path} is not readable JSON.") from None
    return data if isinstance(data, dict) else {}


def _write_private(path: Path, data: bytes) -> None:
    """Like cache.atomic_write, but the file is created 0600 before any secret is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _stored_basic_auth(registry: str) -> str | None:
    auths = _read_credentials(credentials_file()).get("auths") or {}
    for host in (registry, registry.replace("localhost", "127.0.0.1"), registry.replace("127.0.0.1", "localhost"),
                 f"https://{registry}", f"http://{registry}"):
        entry = auths.get(host)
        if isinstance(entry, dict) and entry.get("auth"):
            return str(entry["auth"])
    return None


# -- the registry client (oras underneath) ---------------------------------------------------


def registry_client(registry: str, *, plain_http: bool = False) -> Any:
    """An oras `Registry` for one registry, with stored credentials loaded."""
    from proxywasm_build.ship.registry_client import RegistryClient  # imports oras: only when needed

    return RegistryClient(registry, plain_http)


def _registry_reason(response: Any) -> str:
    try:
        errors = response.json().get("errors") or []
        if errors and isinstance(errors[0], dict):
            code = errors[0].get("code", "")
            message = errors[0].get("message", "")
            return f"{code} {message}".strip() or f"HTTP {response.status_code}"
    except Exception:
        pass
    return f"HTTP {response.status_code}"


def _registry_error_code(response: Any) -> str:
    try:
        errors = response.json().get("errors") or []
        return str(errors[0].get("code", "")) if errors else ""
    except Exception:
        return ""


# -- push ------------------------------------------------------------------------------------


@dataclass
class PushResult:
    reference: Reference
    digest: str
    layout: str
    size: int
    module_digest: str
    metadata: ModuleMetadata


def push(module: Path | str, ref: str, *, layout: str = "compat", root_id: str | None = None,
         plain_http: bool = False) -> PushResult:
    """Push a module as an image; return its manifest digest (which a WasmPlugin pins)."""
    module = Path(module)
    if not module.is_file():
        raise UserError(f"{module} does not exist or is not a file.")
    wasm = module.read_bytes()
    meta = module_metadata(wasm, root_id, name=str(module))
    image = build_image(wasm, meta, layout)
    reference = Reference.parse(ref)
    if reference.digest:
        raise UserError("push needs a tag, not a digest; the digest is computed from the image.")
    client = registry_client(reference.registry, plain_http=plain_http)
    for digest, blob in image.blobs.items():
        client.put_bytes(reference, blob, digest)
    url = f"{client.prefix}://{reference.registry}/v2/{reference.repository}/manifests/{reference.tag}"
    response = client.do_request(url, "PUT", data=image.manifest, headers={"Content-Type": OCI_MANIFEST})
    if response.status_code not in (200, 201, 202):
        raise UserError(f"registry {reference.registry} refused the manifest: {_registry_reason(response)}.")
    returned = response.headers.get("Docker-Content-Digest")
    if returned and returned != image.digest:
        raise UserError(f"registry {reference.registry} stored the manifest under {returned}, "
                        f"not its digest {image.digest}.")
    size = len(image.manifest) + sum(len(b) for b in image.blobs.values())
    return PushResult(reference, image.digest, layout, size, sha256_digest(wasm), meta)


# -- pull ------------------------------------------------------------------------------------


@dataclass
class PulledModule:
    """A module read from a registry with every digest checked."""

    reference: Reference
    digest: str  # manifest digest
    layout: str  # "compat" | "wasme" | "docker"
    wasm: bytes
    metadata: ModuleMetadata
    manifest: dict[str, Any] = field(repr=False)

    @property
    def module_sha256(self) -> str:
        return hashlib.sha256(self.wasm).hexdigest()


def checked_manifest(ref: Reference, response: Any) -> tuple[bytes, dict[str, Any], str]:
    """A served manifest's (bytes, json, digest), refused when its bytes are not the digest
    asked for or served, or not JSON."""
    body = response.content
    digest = sha256_digest(body)
    expected = ref.digest or response.headers.get("Docker-Content-Digest")
    if expected and expected != digest:
        raise UserError(f"the manifest of {ref} does not match its digest {expected} (got {digest}); refusing it.")
    try:
        manifest = json.loads(body)
    except ValueError:
        raise UserError(f"the manifest of {ref} is not JSON.") from None
    return body, (manifest if isinstance(manifest, dict) else {}), digest


def _get_manifest(client: Any, ref: Reference, *, follow_index: bool = True) -> tuple[bytes, dict[str, Any], str]:
    """GET the manifest, check its digest, follow a one-entry index; return (bytes, json, digest)."""
    url = f"{client.prefix}://{ref.registry}/v2/{ref.repository}/manifests/{ref.target}"
    response = client.do_request(url, "GET", headers={"Accept": _ACCEPT})
    if response.status_code == 404:
        code = _registry_error_code(response)
        if code == "NAME_UNKNOWN":
            raise UserError(f"repository {ref.registry}/{ref.repository} does not exist.")
        what = f"digest {ref.digest}" if ref.digest else f"tag {ref.tag!r}"
        raise UserError(f"{ref.registry}/{ref.repository} has no {what}.")
    if response.status_code != 200:
        raise UserError(f"registry {ref.registry} refused the manifest for {ref}: {_registry_reason(response)}.")
    body, manifest, digest = checked_manifest(ref, response)
    media_type = manifest.get("mediaType") or response.headers.get("Content-Type", "")
    if not follow_index:
        return body, manifest, digest
    if media_type in (OCI_INDEX, DOCKER_MANIFEST_LIST) or "manifests" in manifest:
        entries = manifest.get("manifests") or []
        if len(entries) != 1:
            raise UserError(f"{ref} is a multi-platform index with {len(entries)} images, not one Wasm image.")
        return _get_manifest(client, ref.with_digest(entries[0]["digest"]))
    return body, manifest, digest


def _get_blob(client: Any, ref: Reference, descriptor: dict[str, Any]) -> bytes:
    digest = str(descriptor.get("digest", ""))
    if not _SHA256.match(digest):
        raise UserError(f"{ref} names a blob with an unsupported digest {digest!r}.")
    size = int(descriptor.get("size", -1))
    if size > MAX_BLOB_BYTES:
        raise UserError(f"{ref} has a {size}-byte blob, above the {MAX_BLOB_BYTES}-byte limit.")
    response = client.get_blob(client.get_container(ref.oras_name), digest, stream=True)
    if response.status_code != 200:
        raise UserError(f"registry {ref.registry} could not serve blob {digest[:19]}… of {ref}: "
                        f"{_registry_reason(response)}.")
    hasher = hashlib.sha256()
    chunks = []
    total = 0
    for chunk in response.iter_content(chunk_size=1 << 16):
        total += len(chunk)
        if total > MAX_BLOB_BYTES:
            raise UserError(f"blob {digest[:19]}… of {ref} is larger than {MAX_BLOB_BYTES} bytes.")
        hasher.update(chunk)
        chunks.append(chunk)
    actual = "sha256:" + hasher.hexdigest()
    if actual != digest:
        raise UserError(f"blob {digest} of {ref} is corrupt or tampered with (its content hashes to {actual}); "
                        "nothing was written.")
    if size >= 0 and total != size:
        raise UserError(f"blob {digest[:19]}… of {ref} has {total} bytes where the manifest says {size}.")
    return b"".join(chunks)


def _unpack_plugin_layer(ref: Reference, layer: bytes, diff_ids: list[str] | None) -> tuple[bytes, dict[str, Any]]:
    try:
        tar_bytes = gzip.decompress(layer)
    except (OSError, EOFError):
        raise UserError(f"the last layer of {ref} is not gzip data.") from None
    if diff_ids:
        if sha256_digest(tar_bytes) != diff_ids[-1]:
            raise UserError(f"the last layer of {ref} does not match the image config's diff_id; refusing it.")
    wasm = None
    runtime: dict[str, Any] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
            for member in tar.getmembers():
                name = member.name.lstrip("./")
                if not member.isfile():
                    continue
                if name == PLUGIN_FILE:
                    wasm = tar.extractfile(member).read()  # type: ignore[union-attr]
                elif name == RUNTIME_CONFIG_FILE:
                    try:
                        runtime = json.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
                    except ValueError:
                        runtime = {}
    except tarfile.TarError:
        raise UserError(f"the last layer of {ref} is not a tar archive.") from None
    if wasm is None:
        raise UserError(f"{ref} is not a Wasm module image: its last layer has no {PLUGIN_FILE}.")
    return wasm, runtime


def _verified(reference: Reference, verify_keys: Sequence[Any], plain_http: bool) -> Reference:
    """`reference` pinned to the digest it names now, once one of `verify_keys` (public key files
    or signing.PublicKey) is found to have signed it; otherwise one sentence."""
    from proxywasm_build.ship import signing

    keys = signing.load_public_keys(verify_keys)
    return signing.require_signed(reference, keys, plain_http=plain_http).reference


def fetch(ref: str | Reference, *, plain_http: bool = False, verify_keys: Sequence[Any] = ()) -> PulledModule:
    """Read a module image of either layout into memory, verifying every digest; write nothing.

    With `verify_keys`, the image must first be signed by one of them (cosign's layout), and what
    is read is the manifest digest that signature covers.
    """
    reference = ref if isinstance(ref, Reference) else Reference.parse(ref)
    if verify_keys:
        reference = _verified(reference, verify_keys, plain_http)
    client = registry_client(reference.registry, plain_http=plain_http)
    _, manifest, digest = _get_manifest(client, reference)
    config_desc = manifest.get("config") or {}
    layers = manifest.get("layers") or []
    if not layers:
        raise UserError(f"{reference} is not a Wasm module image: it has no layers.")
    config_bytes = _get_blob(client, reference, config_desc) if config_desc.get("digest") else b"{}"
    try:
        config = json.loads(config_bytes or b"{}")
    except ValueError:
        config = {}
    wasm_layers = [d for d in layers if d.get("mediaType") == WASM_LAYER]
    runtime: dict[str, Any]
    if config_desc.get("mediaType") == WASM_CONFIG or wasm_layers:
        if len(wasm_layers) != 1:
            raise UserError(f"{reference} has {len(wasm_layers)} Wasm content layers; expected exactly one.")
        wasm = _get_blob(client, reference, wasm_layers[0])
        runtime, layout = config if isinstance(config, dict) else {}, "wasme"
    elif layers[-1].get("mediaType") in (OCI_LAYER_TAR_GZIP, DOCKER_LAYER_TAR_GZIP):
        blob = _get_blob(client, reference, layers[-1])
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") if isinstance(config, dict) else None
        if diff_ids and len(diff_ids) != len(layers):
            diff_ids = None
        wasm, runtime = _unpack_plugin_layer(reference, blob, diff_ids)
        annotated = (manifest.get("annotations") or {}).get(VARIANT_ANNOTATION)
        layout = "compat" if annotated == "compat" or layers[-1]["mediaType"] == OCI_LAYER_TAR_GZIP else "docker"
    else:
        kinds = ", ".join(sorted({str(d.get("mediaType")) for d in layers}))
        raise UserError(f"{reference} is not a Wasm module image (its layers are {kinds}).")
    try:
        meta = module_metadata(wasm, name=f"the module in {reference}")
    except UserError:
        raise UserError(f"{reference} is not a Wasm module image: its {PLUGIN_FILE} is not a Proxy-Wasm module.") from None
    root_ids = ((runtime.get("config") or {}).get("rootIds") if isinstance(runtime, dict) else None) or meta.root_ids
    meta = ModuleMetadata(meta.abi_versions, [str(r) for r in root_ids])
    return PulledModule(reference, digest, layout, wasm, meta, manifest)


def pull(ref: str, output: Path | str | None = None, *, plain_http: bool = False,
         verify_keys: Sequence[Any] = ()) -> tuple[Path, PulledModule]:
    """Pull a module to `output` (default `<repository name>.wasm`), written only once verified
    (every digest, and with `verify_keys` the signature too).

    The output location is checked before anything is fetched; its directory must exist.
    """
    reference = Reference.parse(ref)
    path = Path(output) if output else Path(reference.repository.rsplit("/", 1)[-1] + ".wasm")
    check_output_file(path)
    pulled = fetch(reference, plain_http=plain_http, verify_keys=verify_keys)
    write_output(path, pulled.wasm)
    return path, pulled


def pull_to_cache(ref: str, *, plain_http: bool = False, verify_keys: Sequence[Any] = ()) -> Path:
    """Pull into the cache (content-addressed by manifest digest) and return the module's path.

    This is what `proxywasm run REF` calls when its argument is not an existing file. A
    digest-pinned reference already in the cache is returned without asking the registry
    (with `verify_keys`, only once the registry shows a signature by one of them).
    """
    reference = Reference.parse(ref)
    if verify_keys:
        reference = _verified(reference, verify_keys, plain_http)
    root = cache_dir() / "oci"
    if reference.digest:
        cached = root / reference.digest.split(":", 1)[1] / PLUGIN_FILE
        if cached.is_file() and sha256_digest(cached.read_bytes()) == _cached_module_digest(cached):
            return cached
    pulled = fetch(reference, plain_http=plain_http)
    target = root / pulled.digest.split(":", 1)[1] / PLUGIN_FILE
    atomic_write(target, pulled.wasm)
    atomic_write(target.with_name("module.sha256"), sha256_digest(pulled.wasm).encode())
    return target


def _cached_module_digest(path: Path) -> str | None:
    stamp = path.with_name("module.sha256")
    return stamp.read_text().strip() if stamp.is_file() else None


# -- tag / images / login --------------------------------------------------------------------


def tag(source: str, destination: str, *, plain_http: bool = False) -> tuple[Reference, str]:
    """Give an image another tag. `destination` is a bare tag (same repository) or a reference;
    across repositories or registries the blobs are copied (each digest checked on the way)."""
    src = Reference.parse(source)
    if re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}", destination):
        dst = src.with_tag(destination)
    else:
        dst = Reference.parse(destination)
        if dst.digest:
            raise UserError("the destination must be a tag, not a digest.")
    client = registry_client(src.registry, plain_http=plain_http)
    body, manifest, digest = _get_manifest(client, src)
    target_client = client if dst.registry == src.registry else registry_client(dst.registry, plain_http=plain_http)
    if (dst.registry, dst.repository) != (src.registry, src.repository):
        for desc in [manifest.get("config") or {}, *(manifest.get("layers") or [])]:
            if desc.get("digest"):
                target_client.put_bytes(dst, _get_blob(client, src, desc), desc["digest"])
    media_type = manifest.get("mediaType") or OCI_MANIFEST
    url = f"{target_client.prefix}://{dst.registry}/v2/{dst.repository}/manifests/{dst.tag}"
    response = target_client.do_request(url, "PUT", data=body, headers={"Content-Type": media_type})
    if response.status_code not in (200, 201, 202):
        raise UserError(f"registry {dst.registry} refused the tag {dst.tag}: {_registry_reason(response)}.")
    return dst, digest


@dataclass
class ImageSummary:
    tag: str
    digest: str
    size: int
    layout: str
    abi_versions: list[str]


def list_images(repository: str, *, plain_http: bool = False) -> list[ImageSummary]:
    """Tags of a repository with manifest digest, total size (manifest + blobs), layout and ABI.

    cosign's attachment tags (`sha256-HEX.sig` and the like) are left out: they are not images.
    """
    ref = Reference.parse(repository, allow_bare=True)
    client = registry_client(ref.registry, plain_http=plain_http)
    try:
        tags = sorted(client.get_tags(client.get_container(ref.oras_name)))  # follows Link pagination
    except ValueError as err:
        if "Not Found" in str(err):
            raise UserError(f"repository {ref.registry}/{ref.repository} does not exist.") from None
        raise UserError(f"registry {ref.registry} refused to list {ref.repository} ({err}).") from None
    summaries = []
    for name in (t for t in tags if not _ATTACHMENT_TAG.match(t)):
        body, manifest, digest = _get_manifest(client, ref.with_tag(name))
        descriptors = [manifest.get("config") or {}, *(manifest.get("layers") or [])]
        size = len(body) + sum(int(d.get("size", 0)) for d in descriptors)
        annotations = manifest.get("annotations") or {}
        config_type = (manifest.get("config") or {}).get("mediaType")
        if config_type == WASM_CONFIG:
            layout = "wasme"
        elif annotations.get(VARIANT_ANNOTATION) == "compat":
            layout = "compat"
        else:
            layout = "other"
        abi_text = annotations.get(ABI_ANNOTATION)
        if abi_text is not None:
            abi_versions = [v for v in abi_text.split(",") if v]
        elif layout == "wasme":
            config = json.loads(_get_blob(client, ref.with_tag(name), manifest["config"]) or b"{}")
            abi_versions = _abi_from_runtime_config(config)
        else:
            abi_versions = []
        summaries.append(ImageSummary(name, digest, size, layout, abi_versions))
    return summaries


def login(registry: str, username: str, password: str, *, plain_http: bool = False) -> Path:
    """Check the credentials against the registry, then store them; return the file's path.

    Nothing is stored when the registry rejects them. The password is never printed.
    """
    if "/" in registry.replace("https://", "").replace("http://", ""):
        raise UserError(f"{registry!r} is a reference; give only the registry host, like 127.0.0.1:5000.")
    registry = registry.replace("https://", "").replace("http://", "")
    if not username or not password:
        raise UserError("both a username and a password are needed.")
    basic = base64.b64encode(f"{username}:{password}".encode()).decode()
    client = registry_client(registry, plain_http=plain_http)
    client.auth._basic_auth = basic
    url = f"{client.prefix}://{registry}/v2/"
    try:
        response = client.do_request(url, "GET")
    except UserError as err:
        if "rejected" in str(err) or "requires a login" in str(err):
            raise UserError(f"registry {registry} rejected the username or password for {username!r}.") from None
        raise
    if response.status_code != 200:
        raise UserError(f"registry {registry} answered {response.status_code} to the login check.")
    path = credentials_file()
    data = _read_credentials(path)
    data.setdefault("auths", {})[registry] = {"auth": basic}
    _write_private(path, (json.dumps(data, indent=2) + "\n").encode())
    return path


