"""What the hub shows, read from the registry as lazily as the pages allow.

A list page costs only the paged catalog or tags requests (no manifest, no blob). An image
page costs one manifest GET (a tag can move) plus the signature check; the module itself is
read once per manifest digest and its facts are kept, so a digest is never downloaded twice.
"""

from __future__ import annotations

import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from proxywasm_build.errors import UserError
from proxywasm_build.hub.signatures import SignatureStatus, load_keys, signature_status
from proxywasm_build.ship import deploy, oci
from proxywasm_build.wasm.inspect import module_runtime
from proxywasm_build.wasm.reader import read_module
from proxywasm_build.wasm.validate import SUPPORTED_ENVOY, validate_module

#: Entries asked for per catalog or tags request; the registry's Link header gives the next page.
PAGE_SIZE = 100
#: Where the Envoy snippet of a compat image expects the module (Envoy cannot unpack the image).
ENVOY_MODULE_DIR = Path("/etc/envoy/wasm")


class CatalogUnavailable(UserError):
    """The registry has no catalog API (GHCR and Docker Hub, for instance)."""


@dataclass(frozen=True)
class Finding:
    severity: str
    message: str


@dataclass(frozen=True)
class ModuleFacts:
    """What an image's module says about itself; the same for every tag of one digest."""

    digest: str
    layout: str
    abi_versions: list[str]
    runtime: str | None
    module_size: int
    module_sha256: str
    root_ids: list[str]
    valid: bool
    envoy: str
    findings: list[Finding]
    envoy_snippet: str
    envoy_note: str
    envoy_pull_command: str | None
    wasmplugin: str


@dataclass(frozen=True)
class ImageView:
    """One tag of a repository as its page shows it."""

    registry: str
    repository: str
    tag: str
    facts: ModuleFacts
    signature: SignatureStatus

    @property
    def digest(self) -> str:
        return self.facts.digest

    @property
    def pinned(self) -> str:
        return f"{self.registry}/{self.repository}@{self.digest}"


class Hub:
    """The registry as the hub reads it: its clients (with stored credentials), the given
    public keys, and the facts of every module read so far, by manifest digest."""

    def __init__(self, registry: str, *, plain_http: bool = False, keys: Sequence[Path | str] = ()) -> None:
        if "/" in registry:
            raise UserError(f"--registry {registry!r} must be a registry host like 127.0.0.1:5000, not a reference.")
        self.registry = registry
        self.plain_http = plain_http
        self.keys = load_keys(keys)
        self._clients = threading.local()
        self._facts: dict[str, ModuleFacts] = {}
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """This thread's registry client: pages are served from a thread pool, and a client's
        session and auth state are not meant to be shared between threads."""
        client = getattr(self._clients, "client", None)
        if client is None:
            client = self._clients.client = oci.registry_client(self.registry, plain_http=self.plain_http)
        return client

    @property
    def key_names(self) -> list[str]:
        return [key.name for key in self.keys]

    # -- lists (paged, no manifests) ---------------------------------------------------------

    def check(self) -> None:
        """Ask the registry's API root: unreachable, TLS or login trouble is one sentence now."""
        response = self.client.do_request(f"{self.client.prefix}://{self.registry}/v2/", "GET")
        if response.status_code != 200:
            raise UserError(f"registry {self.registry} answered {response.status_code} at /v2/; "
                            "is it an OCI registry?")

    def repositories(self, query: str = "") -> list[str]:
        """Repository names from the catalog API, those containing `query` (case-insensitive).

        Raises `CatalogUnavailable` when the registry does not list its repositories (many
        hosted ones do not): the pages then open a repository by name.
        """
        names = self._paged(f"/v2/_catalog?n={PAGE_SIZE}", "repositories", "list the repositories",
                            catalog=True)
        return [name for name in names if _matches(name, query)]

    def tags(self, repository: str, query: str = "") -> list[str]:
        """The image tags of `repository` (signature tags left out), those containing `query`."""
        self._check_repository(repository)
        path = f"/v2/{repository}/tags/list?n={PAGE_SIZE}"
        tags = self._paged(path, "tags", f"list the tags of {repository}", repository=repository)
        return sorted(t for t in tags if not oci._ATTACHMENT_TAG.match(t) and _matches(t, query))

    def _paged(self, path: str, key: str, what: str, *, repository: str | None = None,
               catalog: bool = False) -> list[str]:
        return [item for page in self._pages(path, key, what, repository, catalog) for item in page]

    def _pages(self, path: str, key: str, what: str, repository: str | None, catalog: bool) -> Iterator[list[str]]:
        base = f"{self.client.prefix}://{self.registry}"
        url: str | None = base + path
        while url:
            response = self.client.do_request(url, "GET")
            if response.status_code == 404 and repository is not None:
                raise UserError(f"repository {self.registry}/{repository} does not exist.")
            if catalog and response.status_code in (404, 405, 501):
                raise CatalogUnavailable(f"registry {self.registry} does not list its repositories; "
                                         "open one by name.")
            if response.status_code != 200:
                raise UserError(f"registry {self.registry} refused to {what}: {oci._registry_reason(response)}.")
            try:
                yield [str(item) for item in (response.json().get(key) or [])]
            except ValueError:
                raise UserError(f"registry {self.registry} answered the request to {what} with something "
                                "other than JSON.") from None
            following = response.links.get("next", {}).get("url")
            url = urllib.parse.urljoin(base, following) if following else None

    def _check_repository(self, repository: str) -> None:
        oci.Reference.parse(f"{self.registry}/{repository}", allow_bare=True)

    # -- one image ---------------------------------------------------------------------------

    def image(self, repository: str, tag: str) -> ImageView:
        """The image `repository:tag` names now: its module's facts (read once per digest) and
        whether it is signed by the hub's keys (asked every time)."""
        reference = oci.Reference.parse(f"{self.registry}/{repository}:{tag}")
        _, _, digest = oci._get_manifest(self.client, reference)
        facts = self._facts_for(reference, digest)
        signature = signature_status(self.client, reference, digest, self.keys)
        return ImageView(self.registry, repository, tag, facts, signature)

    def _facts_for(self, reference: oci.Reference, digest: str) -> ModuleFacts:
        cached = self._facts.get(digest)
        if cached is not None:
            return cached
        with self._lock:  # two pages asking for one new digest read it once
            if digest not in self._facts:
                pulled = oci.fetch(reference.with_digest(digest), plain_http=self.plain_http)
                self._facts[digest] = module_facts(pulled, plain_http=self.plain_http)
            return self._facts[digest]


def module_facts(pulled: oci.PulledModule, *, plain_http: bool = False) -> ModuleFacts:
    """Facts, validation and deployment config of a module read from the registry."""
    info = read_module(pulled.wasm)
    report = validate_module(pulled.wasm, envoy=SUPPORTED_ENVOY[-1])
    findings = [Finding(f.severity, f.message) for f in report.findings]
    snippet, note, pull_command = _envoy_snippet(pulled, plain_http)
    # a Kubernetes object name: lower-case letters, digits and dashes
    name = pulled.reference.repository.rsplit("/", 1)[-1].replace("_", "-").replace(".", "-")
    return ModuleFacts(
        digest=pulled.digest, layout=pulled.layout, abi_versions=list(pulled.metadata.abi_versions),
        runtime=module_runtime(info), module_size=len(pulled.wasm), module_sha256=pulled.module_sha256,
        root_ids=list(pulled.metadata.root_ids), valid=report.ok, envoy=report.envoy, findings=findings,
        envoy_snippet=snippet, envoy_note=note, envoy_pull_command=pull_command,
        wasmplugin=deploy.render_wasmplugin(pulled, name=name),
    )


def _envoy_snippet(pulled: oci.PulledModule, plain_http: bool) -> tuple[str, str, str | None]:
    """The Envoy filter snippet pinned by the module's sha256, a note on where Envoy gets the
    code, and for a compat image the command that puts the module where the snippet says."""
    if pulled.layout == "wasme":
        source = deploy.code_source_for_image(pulled, plain_http=plain_http)
        note = "Envoy fetches the module from the registry itself (the registry must allow anonymous pulls)."
        pull_command = None
    else:
        local = ENVOY_MODULE_DIR / (pulled.reference.repository.rsplit("/", 1)[-1] + ".wasm")
        source = deploy.code_source_for_image(pulled, local_path=local, plain_http=plain_http)
        pinned = f"{pulled.reference.registry}/{pulled.reference.repository}@{pulled.digest}"
        note = f"Envoy cannot unpack a {pulled.layout} image: put the module where the snippet says first, with"
        pull_command = f"proxywasm pull {pinned} -o {local}" + (" --plain-http" if plain_http else "")
    return deploy.envoy_snippet(deploy.envoy_bootstrap(source)), note, pull_command


def _matches(name: str, query: str) -> bool:
    return query.strip().lower() in name.lower()
