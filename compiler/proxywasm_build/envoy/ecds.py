"""Change the Wasm filter of running Envoys through ECDS (Extension Config Discovery) from a directory.

Every Envoy's bootstrap configures its HTTP Wasm filter with `config_discovery`: the filter's
configuration is an ECDS resource in a file Envoy watches. Writing a new resource swaps the
filter in every Envoy sharing the directory, without a restart: new requests get the new
filter, requests in flight finish on the old one, and the old VMs are freed.

Layout of an ECDS directory (DIR):

    DIR/filter.yaml                 the resource Envoy watches: a DiscoveryResponse holding one
                                    TypedExtensionConfig (the `envoy.filters.http.wasm` config);
                                    only ever replaced by a rename, which Envoy watches for
    DIR/modules/sha256-<hex>.wasm   the modules, content-addressed, never rewritten
    DIR/history/r<N>.yaml           every resource written, in order; the last one is current

What Envoy 1.40 does with a new resource, measured (docs/rollout.md):

- accepted: `extension_config_discovery.http_filter.<name>.config_reload` and `update_success`
  grow and `/config_dump?resource=ecds_filters` shows the new `version_info`;
- a module that does not start (no ABI marker, a trap in `on_vm_start`, `on_configure`
  returning false) is rejected: `config_fail` and `update_rejected` grow, Envoy logs
  "Filesystem config update rejected: Unable to create Wasm plugin <name>" after the module's
  own logs, and the previous filter keeps serving -- but the config dump shows the rejected
  resource (its `version_info` and module) as if it were current, so only `config_fail`
  tells a rejection from an acceptance;
- a resource whose filter configuration equals the current one changes nothing (not even the
  `version_info` in the config dump);
- `remote` code is not usable through ECDS: a module not already in Envoy's remote-code cache
  is never fetched and the filter is skipped (requests bypass it) while the update counts as a
  success; with `nack_on_code_cache_miss` the update is rejected and the same resource is
  never retried. So images are pulled here (digests checked) and stored under DIR/modules,
  as Istio's agent does before it hands Envoy the filter.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import yaml

from proxywasm_build.cache import atomic_write
from proxywasm_build.errors import UserError

#: The resource (and HTTP filter) name the bootstraps ask for.
FILTER_NAME = "proxywasm"
RESOURCE_FILE = "filter.yaml"
MODULES_DIR = "modules"
HISTORY_DIR = "history"
WASM_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
EXTENSION_CONFIG_TYPE_URL = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig"
_STRING_VALUE = "type.googleapis.com/google.protobuf.StringValue"
_BYTES_VALUE = "type.googleapis.com/google.protobuf.BytesValue"
_MODULE_NAME = re.compile(r"^sha256-([0-9a-f]{64})\.wasm$")
_REVISION_NAME = re.compile(r"^r(\d+)\.yaml$")


# -- one version of the filter -------------------------------------------------------------------


@dataclass(frozen=True)
class FilterRelease:
    """What an ECDS resource says: which module, with which configuration, as which revision."""

    module: Path
    module_sha256: str
    plugin_config: bytes = b""
    root_id: str = ""
    vm_config: bytes = b""
    revision: int = 0

    @property
    def digest(self) -> str:
        return f"sha256:{self.module_sha256}"

    @property
    def short(self) -> str:
        """`sha256:<12 hex>`, for humans."""
        return f"sha256:{self.module_sha256[:12]}"

    @property
    def version_info(self) -> str:
        """The DiscoveryResponse version: Envoy shows it in its config dump once it accepted it."""
        return f"r{self.revision}-{self.module_sha256[:12]}"

    def same_filter(self, other: "FilterRelease | None") -> bool:
        """True when Envoy would see no change (same module and configuration)."""
        return other is not None and (self.module_sha256, self.plugin_config, self.root_id, self.vm_config) == (
            other.module_sha256, other.plugin_config, other.root_id, other.vm_config)


def _any_value(data: bytes) -> dict[str, str]:
    try:
        return {"@type": _STRING_VALUE, "value": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"@type": _BYTES_VALUE, "value": base64.b64encode(data).decode()}


def _any_bytes(value: dict[str, Any] | None) -> bytes:
    if not value:
        return b""
    if value.get("@type") == _BYTES_VALUE:
        return base64.b64decode(value.get("value", ""))
    return str(value.get("value", "")).encode()


def wasm_filter_config(release: FilterRelease, *, name: str = FILTER_NAME) -> dict[str, Any]:
    """The `envoy.extensions.filters.http.wasm.v3.Wasm` message for a release (local code)."""
    vm_config: dict[str, Any] = {"vm_id": "", "runtime": "envoy.wasm.runtime.v8",
                                 "code": {"local": {"filename": str(release.module)}}}
    if release.vm_config:
        vm_config["configuration"] = _any_value(release.vm_config)
    from proxywasm_build.envoy.config import DEFAULT_FAILURE_POLICY, DEFAULT_RELOAD_BACKOFF, FAILURE_POLICIES

    # The same failure policy as a static bootstrap's default: a VM that fails while serving
    # (a trap) is replaced by a fresh one after the backoff, failing closed meanwhile.
    return {"config": {"name": name, "root_id": release.root_id,
                       "failure_policy": FAILURE_POLICIES[DEFAULT_FAILURE_POLICY],
                       "reload_config": {"backoff": {"base_interval": f"{DEFAULT_RELOAD_BACKOFF:g}s",
                                                     "max_interval": f"{10 * DEFAULT_RELOAD_BACKOFF:g}s"}},
                       "configuration": _any_value(release.plugin_config), "vm_config": vm_config}}


def resource_document(release: FilterRelease, *, name: str = FILTER_NAME) -> dict[str, Any]:
    """The file Envoy reads: a DiscoveryResponse with one TypedExtensionConfig named `name`."""
    return {
        "version_info": release.version_info,
        "resources": [{"@type": EXTENSION_CONFIG_TYPE_URL, "name": name,
                       "typed_config": {"@type": WASM_TYPE_URL, **wasm_filter_config(release, name=name)}}],
    }


def release_from_document(document: Any, where: str) -> FilterRelease:
    """Read a resource file back; a file this module did not write is one sentence."""
    try:
        resource = document["resources"][0]
        config = resource["typed_config"]["config"]
        filename = Path(config["vm_config"]["code"]["local"]["filename"])
        match = _MODULE_NAME.match(filename.name)
        revision = int(str(document["version_info"]).split("-", 1)[0].lstrip("r"))
    except (KeyError, IndexError, TypeError, ValueError):
        raise UserError(f"{where} is not an ECDS resource written by proxywasm.") from None
    if match is None:
        raise UserError(f"{where} names the module {filename}, which is not in an ECDS modules directory.")
    return FilterRelease(
        module=filename, module_sha256=match.group(1), plugin_config=_any_bytes(config.get("configuration")),
        root_id=str(config.get("root_id", "")), vm_config=_any_bytes(config["vm_config"].get("configuration")),
        revision=revision,
    )


# -- the directory ---------------------------------------------------------------------------------


class EcdsDirectory:
    """An ECDS directory shared by any number of Envoys (see the module docstring)."""

    def __init__(self, path: Path | str, *, name: str = FILTER_NAME) -> None:
        self.path = Path(path).resolve()
        self.name = name

    @property
    def resource_path(self) -> Path:
        return self.path / RESOURCE_FILE

    def exists(self) -> bool:
        return self.resource_path.is_file()

    def require(self) -> None:
        if not self.exists():
            raise UserError(f"{self.path} is not an ECDS directory yet (no {RESOURCE_FILE}); "
                            "create it with `proxywasm deploy envoy MODULE --ecds DIR`.")

    def current(self) -> FilterRelease | None:
        """The release Envoys are told to serve, or None for a new directory."""
        if not self.exists():
            return None
        return self._read(self.resource_path)

    def history(self) -> list[FilterRelease]:
        """Every release written, oldest first."""
        folder = self.path / HISTORY_DIR
        entries = sorted((int(m.group(1)), p) for p in folder.glob("r*.yaml")
                         if (m := _REVISION_NAME.match(p.name))) if folder.is_dir() else []
        return [self._read(path) for _, path in entries]

    def _read(self, path: Path) -> FilterRelease:
        try:
            document = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as err:
            raise UserError(f"cannot read {path}: {err}.") from None
        return release_from_document(document, str(path))

    def store_module(self, wasm: bytes) -> Path:
        """Copy the module in under its sha256 (kept as is when already there)."""
        digest = hashlib.sha256(wasm).hexdigest()
        target = self.path / MODULES_DIR / f"sha256-{digest}.wasm"
        if not target.is_file() or hashlib.sha256(target.read_bytes()).hexdigest() != digest:
            atomic_write(target, wasm)
        return target

    def next_revision(self) -> int:
        history = self.history()
        return (history[-1].revision if history else 0) + 1

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """Held while a rollout or rollback reads and writes the directory: two at once would
        take the same revision number (an advisory lock on DIR/.lock, across processes)."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def write(self, release: FilterRelease) -> None:
        """Record the release in the history, then make it current with one rename."""
        text = yaml.safe_dump(resource_document(release, name=self.name), sort_keys=False).encode()
        atomic_write(self.path / HISTORY_DIR / f"r{release.revision}.yaml", text)
        atomic_write(self.resource_path, text)

    def restore(self, previous: FilterRelease, failed: FilterRelease) -> None:
        """Put `previous` back after Envoy rejected `failed`, and forget `failed`: the directory
        says again what the Envoys serve (Envoy ignores a resource equal to its current one)."""
        text = yaml.safe_dump(resource_document(previous, name=self.name), sort_keys=False).encode()
        atomic_write(self.resource_path, text)
        (self.path / HISTORY_DIR / f"r{failed.revision}.yaml").unlink(missing_ok=True)


# -- preparing a release ---------------------------------------------------------------------------


def read_module_or_image(module_or_ref: str, *, runtime: str | None = None, plain_http: bool = False,
                         verify_keys: Sequence[str] = ()) -> bytes:
    """The module's bytes: a .wasm file, a .py filter or package directory (built, cached), or an
    image reference (pulled, every digest checked; with `verify_keys` only when one of them
    signed it)."""
    path = Path(module_or_ref)
    if path.exists():
        if verify_keys:
            raise UserError("--verify-key checks images in a registry; it does not apply to the local file "
                            f"{module_or_ref}.")
        from proxywasm_build.hosts import built_module

        return built_module(path, runtime=runtime or "auto").read_bytes()
    if module_or_ref.endswith((".wasm", ".py")):
        raise UserError(f"{module_or_ref} does not exist.")
    from proxywasm_build.ship import oci

    return oci.fetch(module_or_ref, plain_http=plain_http, verify_keys=verify_keys).wasm


def check_valid(wasm: bytes, *, name: str = "the module") -> None:
    """The validator's verdict for Envoy 1.40: its first error as one sentence, or nothing."""
    from proxywasm_build.wasm.reader import NotWasmError
    from proxywasm_build.wasm.validate import validate_module

    try:
        report = validate_module(wasm)
    except NotWasmError as err:
        raise UserError(f"{name} is not a usable WebAssembly module: {err}.") from None
    if not report.ok:
        first = report.errors[0].message
        more = f" (and {len(report.errors) - 1} more; see proxywasm validate)" if len(report.errors) > 1 else ""
        raise UserError(f"{name} will not load in Envoy {report.envoy}: {first}{more}.")


def default_root_id(wasm: bytes) -> str:
    """The module's root id when it declares exactly one (our builds do), else ''."""
    from proxywasm_build.ship import oci

    try:
        root_ids = oci.module_metadata(wasm).root_ids
    except UserError:
        return ""
    return root_ids[0] if len(root_ids) == 1 else ""


def prepare_release(directory: EcdsDirectory, wasm: bytes, *, plugin_config: bytes | None = None,
                    root_id: str | None = None, vm_config: bytes | None = None,
                    name: str = "the module") -> FilterRelease:
    """The next release for `wasm`, checked by the validator (nothing written yet except the
    content-addressed module). Options left out keep the current release's values."""
    check_valid(wasm, name=name)
    current = directory.current()
    if root_id is None:
        root_id = default_root_id(wasm) or (current.root_id if current else "")
    return FilterRelease(
        module=directory.path / MODULES_DIR / f"sha256-{hashlib.sha256(wasm).hexdigest()}.wasm",
        module_sha256=hashlib.sha256(wasm).hexdigest(),
        plugin_config=plugin_config if plugin_config is not None else (current.plugin_config if current else b""),
        root_id=root_id,
        vm_config=vm_config if vm_config is not None else (current.vm_config if current else b""),
        revision=directory.next_revision(),
    )


# -- starting a release in a throwaway Envoy ------------------------------------------------------


@dataclass
class StartFailure:
    """Why Envoy could not start the filter: Envoy's sentence and the module's own log lines."""

    reason: str
    module_logs: list[tuple[str, str]] = field(default_factory=list)

    def sentence(self) -> str:
        from proxywasm_build.envoy.runner import last_error_log

        last = last_error_log(self.module_logs)
        said = f"; the module's last error log: {last}" if last else ""
        return f"{self.reason.rstrip('.')}{said}"


def start_check(release: FilterRelease, module_path: Path, *, timeout: float = 180.0) -> StartFailure | None:
    """Start the release as Envoy would (`envoy --mode validate`: compiles the module, starts the
    VM, calls on_vm_start and on_configure) without serving anything. None when it starts."""
    from proxywasm_build.envoy.config import envoy_binary, render_bootstrap
    from proxywasm_build.envoy.runner import LOG_FORMAT, module_messages, parse_log_records

    config = render_bootstrap(module=module_path, plugin_config=release.plugin_config,
                              vm_config=release.vm_config, root_id=release.root_id,
                              listener_port=1, admin_port=2)
    with tempfile.TemporaryDirectory(prefix="proxywasm-start-check-") as tmp:
        path = Path(tmp) / "envoy.yaml"
        path.write_text(config)
        proc = subprocess.run(
            [envoy_binary(), "--mode", "validate", "-c", str(path), "--concurrency", "1",
             "--use-dynamic-base-id", "--log-level", "info", "--component-log-level", "wasm:debug",
             "--log-format", LOG_FORMAT],
            capture_output=True, text=True, timeout=timeout,
        )
    if proc.returncode == 0:
        return None
    records = parse_log_records(proc.stdout + proc.stderr)
    return StartFailure(rejection_reason(records) or "Envoy could not start the module",
                        module_messages(records))


def rejection_reason(records: Sequence[tuple[str, str, str, str]]) -> str:
    """The most telling error of Envoy's log records: the Wasm VM's failure ("Wasm VM failed
    Failed to configure base Wasm plugin") before the generic "Unable to create Wasm plugin"."""
    errors = [message.strip() for level, _, logger, message in records
              if level in ("error", "critical", "warn") and not message.startswith("wasm log")]
    for needle in ("Function: ", "Wasm VM failed", "Unable to create", "rejected"):
        for message in errors:
            if needle in message:
                return message.splitlines()[0]
    return errors[0].splitlines()[0] if errors else ""


# -- what the Envoys say --------------------------------------------------------------------------


@dataclass(frozen=True)
class EcdsState:
    """One Envoy's view of the ECDS filter: the version it serves and how many updates failed."""

    version_info: str
    failures: int


class AdminUnreachable(UserError):
    """An Envoy's admin did not answer (not running, or its main thread busy compiling a module)."""


def ecds_state(admin_url: str, name: str = FILTER_NAME, *, timeout: float = 5.0) -> EcdsState:
    """Read the served version (config dump) and the `config_fail` counter from an admin URL."""
    from proxywasm_build.envoy.runner import admin_get

    try:
        dump = json.loads(admin_get(admin_url, "/config_dump?resource=ecds_filters", timeout=timeout))
        pattern = rf"^extension_config_discovery\..*\.{re.escape(name)}\.config_fail$"
        stats = admin_get(admin_url, "/stats?filter=" + urllib.parse.quote(pattern), timeout=timeout)
    except (OSError, urllib.error.URLError, ValueError) as err:
        raise AdminUnreachable(f"cannot read Envoy's admin at {admin_url}: {err}.") from None
    version = ""
    for config in dump.get("configs", []):
        if config.get("ecds_filter", {}).get("name") == name:
            version = str(config.get("version_info", ""))
    failures = sum(int(value) for line in stats.splitlines()
                   for _, sep, value in [line.partition(": ")] if sep and value.strip().isdigit())
    return EcdsState(version, failures)


@dataclass(frozen=True)
class EnvoyOutcome:
    """What one Envoy did with a release: accepted, rejected, or no answer in time."""

    admin_url: str
    accepted: bool
    rejected: bool
    seconds: float

    def describe(self, release: FilterRelease) -> str:
        if self.accepted:
            return f"{self.admin_url}: serving {release.short} ({self.seconds:.2f} s)"
        if self.rejected:
            return f"{self.admin_url}: rejected {release.short}; still serving the previous filter"
        return f"{self.admin_url}: no answer about {release.short} after {self.seconds:.0f} s"


def await_release(release: FilterRelease, before: dict[str, EcdsState], *, name: str = FILTER_NAME,
                  timeout: float = 120.0, started: float | None = None) -> list[EnvoyOutcome]:
    """Poll each Envoy (admin URL -> its state before the write) until it serves the release
    (its config dump shows the release's version and no update failed) or counts a failed
    update (`config_fail`)."""
    started = time.monotonic() if started is None else started
    pending = dict(before)
    outcomes: dict[str, EnvoyOutcome] = {}
    while pending:
        for url, old in list(pending.items()):
            try:
                state = ecds_state(url, name)
            except AdminUnreachable:
                # Envoy serves its admin on the main thread, which also compiles the new module
                # (seconds for a CPython one): keep asking until the deadline.
                if time.monotonic() - started > timeout:
                    raise
                continue
            # Envoy's config dump shows a rejected resource too: config_fail tells them apart
            # (both change in the same main-thread callback, so no read falls between them).
            rejected = state.failures > old.failures
            if rejected or state.version_info == release.version_info:
                outcomes[url] = EnvoyOutcome(url, not rejected, rejected, time.monotonic() - started)
                del pending[url]
        if pending and time.monotonic() - started > timeout:
            for url in pending:
                outcomes[url] = EnvoyOutcome(url, False, False, time.monotonic() - started)
            break
        if pending:
            time.sleep(0.02)
    return [outcomes[url] for url in before]


# -- rollout and rollback -------------------------------------------------------------------------


@dataclass
class RolloutResult:
    """A rollout's story: what was served before, what is now, and what each Envoy said."""

    previous: FilterRelease | None
    release: FilterRelease
    outcomes: list[EnvoyOutcome] = field(default_factory=list)
    restored: bool = False
    written_at: float = 0.0  # time.monotonic() when the new resource was renamed into place

    def change(self) -> str:
        """`sha256:old → sha256:new (rN)`."""
        old = self.previous.short if self.previous else "nothing"
        return f"{old} → {self.release.short} (r{self.release.revision})"


def rollout(directory: EcdsDirectory, wasm: bytes, *, plugin_config: bytes | None = None,
            root_id: str | None = None, vm_config: bytes | None = None, admin_urls: Iterable[str] = (),
            check_start: bool = True, timeout: float = 120.0, name: str = "the module") -> RolloutResult:
    """Validate `wasm`, start it in a throwaway Envoy, then make it the directory's filter.

    An invalid module or one that does not start is a UserError and nothing is written. With
    `admin_urls`, wait until each Envoy serves the release or rejects it; when one rejects
    it, the previous release is put back (the directory again says what the Envoys serve).
    """
    directory.require()
    with directory.changing():
        release = prepare_release(directory, wasm, plugin_config=plugin_config, root_id=root_id,
                                  vm_config=vm_config, name=name)
        return _apply(directory, release, wasm, admin_urls=admin_urls, check_start=check_start, timeout=timeout)


def rollback(directory: EcdsDirectory, *, admin_urls: Iterable[str] = (), timeout: float = 120.0) -> RolloutResult:
    """Serve the release before the current one again, as a new revision (so a second
    rollback returns to where the first started)."""
    directory.require()
    with directory.changing():
        history = directory.history()
        if len(history) < 2:
            raise UserError(f"{directory.path} has no earlier version to roll back to.")
        target = history[-2]
        wasm = _read_stored_module(target)
        release = FilterRelease(target.module, target.module_sha256, target.plugin_config, target.root_id,
                                target.vm_config, directory.next_revision())
        return _apply(directory, release, wasm, admin_urls=admin_urls, check_start=False, timeout=timeout)


def _read_stored_module(release: FilterRelease) -> bytes:
    try:
        wasm = release.module.read_bytes()
    except OSError:
        raise UserError(f"the module {release.module} of r{release.revision} is gone.") from None
    if hashlib.sha256(wasm).hexdigest() != release.module_sha256:
        raise UserError(f"the module {release.module} does not match its sha256 any more.")
    return wasm


def _apply(directory: EcdsDirectory, release: FilterRelease, wasm: bytes, *, admin_urls: Iterable[str],
           check_start: bool, timeout: float) -> RolloutResult:
    previous = directory.current()
    if release.same_filter(previous):
        raise UserError(f"{directory.path} already serves {release.short} with this configuration.")
    if check_start:
        with tempfile.TemporaryDirectory(prefix="proxywasm-rollout-") as tmp:
            candidate = Path(tmp) / "candidate.wasm"
            candidate.write_bytes(wasm)
            failure = start_check(release, candidate)
        if failure is not None:
            raise UserError(f"Envoy cannot start {release.short}: {failure.sentence()}; nothing was changed.")
    urls = list(admin_urls)
    before = {url: ecds_state(url, directory.name) for url in urls}
    directory.store_module(wasm)
    started = time.monotonic()
    directory.write(release)
    result = RolloutResult(previous, release, written_at=started)
    if urls:
        result.outcomes = await_release(release, before, name=directory.name, timeout=timeout, started=started)
        if previous is not None and any(o.rejected for o in result.outcomes):
            directory.restore(previous, release)
            result.restored = True
    return result


def initialize(directory: EcdsDirectory, wasm: bytes, *, plugin_config: bytes = b"", root_id: str | None = None,
               vm_config: bytes = b"", name: str = "the module", check_start: bool = True) -> FilterRelease:
    """The directory's first release (for `deploy envoy --ecds`): validated, started once in a
    throwaway Envoy (unless `check_start` is false: the caller starts the real one right away),
    written. A directory that already serves this module is left as it is."""
    created = not directory.path.exists()
    try:
        return _initialize(directory, wasm, plugin_config=plugin_config, root_id=root_id, vm_config=vm_config,
                           name=name, check_start=check_start)
    except BaseException:
        if created:  # a refused first module leaves no directory behind
            shutil.rmtree(directory.path, ignore_errors=True)
        raise


def _initialize(directory: EcdsDirectory, wasm: bytes, *, plugin_config: bytes, root_id: str | None,
                vm_config: bytes, name: str, check_start: bool) -> FilterRelease:
    with directory.changing():
        current = directory.current()
        if current is not None:
            if current.module_sha256 != hashlib.sha256(wasm).hexdigest():
                raise UserError(f"{directory.path} already serves {current.short}; change it with "
                                "`proxywasm rollout MODULE --ecds DIR`.")
            return current
        release = prepare_release(directory, wasm, plugin_config=plugin_config, root_id=root_id,
                                  vm_config=vm_config, name=name)
        _apply(directory, release, wasm, admin_urls=(), check_start=check_start, timeout=0)
        return release
