"""Config that deploys a module: an Envoy bootstrap (or its filter snippet) and an Istio WasmPlugin.

Envoy: the bootstrap comes from `proxywasm_build.envoy.config.render_bootstrap`, with the code
either local (`filename`) or remote (`http_uri` + `sha256`, which Envoy checks before loading).
Istio: an `extensions.istio.io/v1alpha1` WasmPlugin whose `url` is `oci://REF` and whose
`sha256` pins the image's manifest digest as read (and verified) from the registry.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

from proxywasm_build.ship import oci
from proxywasm_build.errors import UserError

CODE_CHOICES = ("local", "remote")
PHASES = ("AUTHN", "AUTHZ", "STATS", "UNSPECIFIED_PHASE")
# Istio's WasmPlugin.failStrategy (FAIL_RELOAD: Istio 1.27's API, Envoy's FAIL_RELOAD policy).
FAIL_STRATEGIES = ("FAIL_RELOAD", "FAIL_CLOSE", "FAIL_OPEN")
DEFAULT_FAIL_STRATEGY = "FAIL_RELOAD"
#: `--failure-policy` (as `run` and `deploy envoy` name it) -> Istio's failStrategy
ISTIO_FAIL_STRATEGY = {"fail-reload": "FAIL_RELOAD", "fail-closed": "FAIL_CLOSE", "fail-open": "FAIL_OPEN"}
PULL_POLICIES = ("IfNotPresent", "Always", "UNSPECIFIED_POLICY")
PLUGIN_TYPES = ("HTTP", "NETWORK")
WASM_HTTP_FILTER = "envoy.filters.http.wasm"


def read_config_option(value: str | None) -> bytes:
    """`--config TEXT|@FILE` (and `--vm-config`): the text as given, or FILE's bytes; b"" when not given."""
    if value is None:
        return b""
    if value.startswith("@"):
        try:
            return Path(value[1:]).read_bytes()
        except OSError as err:
            raise UserError(f"cannot read the configuration file {value[1:]}: {err.strerror}.") from None
    return value.encode()


def parse_json_config(text: str | bytes | None, *, require_object: bool = False) -> Any:
    """`--config JSON`: parsed, with one sentence when it is not JSON (or not an object)."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except UnicodeDecodeError:
        raise UserError("--config is not UTF-8 text, so it cannot be JSON.") from None
    except ValueError as err:
        raise UserError(f"--config is not valid JSON ({err.msg} at character {err.pos}).") from None
    if require_object and not isinstance(value, dict):
        raise UserError("--config must be a JSON object for Istio's pluginConfig.")
    return value


@dataclass(frozen=True)
class CodeSource:
    """Where Envoy gets the module: a local path, or an http(s) URL plus the module's sha256."""

    local_path: Path | None = None
    remote_uri: str | None = None
    sha256: str | None = None
    root_ids: tuple[str, ...] = ()


def resolve_code_source(module_or_ref: str, *, code: str | None = None, remote_url: str | None = None,
                        plain_http: bool = False, verify_keys: Sequence[Any] = ()) -> CodeSource:
    """Decide how a bootstrap names the code for a local file or an image reference.

    - a file: local `filename` by default; `--code remote --remote-url URL` serves it from URL,
      pinned by the file's sha256.
    - a reference: the image is pulled (every digest checked). A `wasme` image can be fetched
      by Envoy straight from the registry (its layer is the raw module; anonymous pull needed),
      so it defaults to remote with the blob URL; a `compat` image is a tar+gzip, so it defaults
      to the module unpacked into the cache, or remote with `--remote-url`.
    - `verify_keys`: the image must be signed by one of them (`proxywasm verify`); a local file
      has no signature to check, so that is an error.
    """
    if code is not None and code not in CODE_CHOICES:
        raise UserError(f"--code must be local or remote, not {code!r}.")
    path = Path(module_or_ref)
    if path.is_file() and verify_keys:
        raise UserError(f"--verify-key checks images in a registry; {module_or_ref} is a local file.")
    if path.is_file():
        wasm = path.read_bytes()
        meta = oci.module_metadata(wasm, name=str(path))
        if code == "remote" or (code is None and remote_url):
            if not remote_url:
                raise UserError("--code remote for a local file needs --remote-url URL where Envoy can fetch it.")
            return CodeSource(remote_uri=remote_url, sha256=hashlib.sha256(wasm).hexdigest(),
                              root_ids=tuple(meta.root_ids))
        return CodeSource(local_path=path.resolve(), root_ids=tuple(meta.root_ids))
    if module_or_ref.endswith((".wasm", ".py")):
        raise UserError(f"{module_or_ref} does not exist.")
    pulled = oci.fetch(module_or_ref, plain_http=plain_http, verify_keys=verify_keys)
    return code_source_for_image(pulled, code=code, remote_url=remote_url, plain_http=plain_http)


def code_source_for_image(pulled: oci.PulledModule, *, code: str | None = None, remote_url: str | None = None,
                          plain_http: bool = False, local_path: Path | None = None) -> CodeSource:
    """How a bootstrap names the code of an image already read from the registry (`oci.fetch`).

    Local code is the module unpacked into the cache, or `local_path` when given (where the
    reader will put it: the hub shows config for another machine).
    """
    root_ids = tuple(pulled.metadata.root_ids)
    wants_remote = code == "remote" or (code is None and (remote_url is not None or pulled.layout == "wasme"))
    if wants_remote:
        if remote_url is None:
            if pulled.layout != "wasme":
                raise UserError(f"{pulled.reference} is a {pulled.layout} image (tar+gzip), which Envoy cannot "
                                "fetch as a module; give --remote-url or use --code local.")
            layer = next(d for d in pulled.manifest["layers"] if d.get("mediaType") == oci.WASM_LAYER)
            scheme = "http" if plain_http else "https"
            ref = pulled.reference
            remote_url = f"{scheme}://{ref.registry}/v2/{ref.repository}/blobs/{layer['digest']}"
        return CodeSource(remote_uri=remote_url, sha256=pulled.module_sha256, root_ids=root_ids)
    if local_path is not None:
        return CodeSource(local_path=local_path, root_ids=root_ids)
    cached = oci.pull_to_cache(str(pulled.reference.with_digest(pulled.digest)), plain_http=plain_http)
    return CodeSource(local_path=cached, root_ids=root_ids)


def envoy_bootstrap(source: CodeSource, *, plugin_config: bytes | str = "", root_id: str | None = None,
                    listener_port: int = 10000, admin_port: int = 9901,
                    upstream: tuple[str, int] | None = None, **settings: Any) -> str:
    """A complete Envoy bootstrap YAML for the code source (see envoy_config.render_bootstrap;
    `settings` are its failure policy and limit arguments)."""
    from proxywasm_build.envoy.config import render_bootstrap

    if root_id is None:
        root_id = source.root_ids[0] if len(source.root_ids) == 1 else ""
    code: dict[str, Any]
    if source.local_path is not None:
        code = {"module": source.local_path}
    else:
        code = {"remote": (source.remote_uri, source.sha256)}
    return render_bootstrap(
        **code, plugin_config=plugin_config, root_id=root_id, listener_port=listener_port,
        admin_port=admin_port, upstream=upstream, **settings,
    )


def envoy_ecds_bootstrap(ecds_dir: Path | str, module_or_ref: str, *, plugin_config: bytes = b"",
                         root_id: str | None = None, listener_port: int = 10000, admin_port: int = 9901,
                         upstream: tuple[str, int] | None = None, plain_http: bool = False,
                         verify_keys: Sequence[str] = (), **limits: Any) -> str:
    """A bootstrap whose Wasm filter comes from the ECDS directory (any number of Envoys may
    share it). A new directory gets the module as its first release (validated and started once
    in a throwaway Envoy); a directory already serving it is left as it is. `limits` are
    `render_bootstrap`'s listener and connection-manager settings."""
    from proxywasm_build.envoy import ecds
    from proxywasm_build.envoy.config import render_bootstrap

    directory = ecds.EcdsDirectory(ecds_dir)
    wasm = ecds.read_module_or_image(module_or_ref, plain_http=plain_http, verify_keys=verify_keys)
    ecds.initialize(directory, wasm, plugin_config=plugin_config, root_id=root_id, name=module_or_ref)
    return render_bootstrap(ecds_resource=directory.resource_path, listener_port=listener_port,
                            admin_port=admin_port, upstream=upstream, **limits)


def envoy_snippet(bootstrap_yaml: str) -> str:
    """Only what goes into an existing config: the wasm `http_filters` entry, plus the cluster
    Envoy fetches remote code from (when the code is remote)."""
    from proxywasm_build.envoy.config import REMOTE_CODE_CLUSTER

    config = yaml.safe_load(bootstrap_yaml)
    entries: list[dict[str, Any]] = []
    for listener in config["static_resources"]["listeners"]:
        for chain in listener.get("filter_chains", []):
            for network_filter in chain.get("filters", []):
                typed = network_filter.get("typed_config", {})
                entries += [f for f in typed.get("http_filters", []) if f.get("name") == WASM_HTTP_FILTER]
    if not entries:
        raise UserError("the rendered bootstrap has no wasm HTTP filter to cut a snippet from.")
    snippet: dict[str, Any] = {"http_filters": entries[:1]}
    clusters = [c for c in config["static_resources"].get("clusters", []) if c.get("name") == REMOTE_CODE_CLUSTER]
    if clusters:
        snippet["clusters"] = clusters
    return yaml.safe_dump(snippet, sort_keys=False)


def _key_values(pairs: Sequence[str], option: str) -> list[tuple[str, str | None]]:
    out = []
    for item in pairs:
        key, sep, value = item.partition("=")
        if not key:
            raise UserError(f"{option} {item!r} needs the form KEY=VALUE.")
        out.append((key, value if sep else None))
    return out


def istio_wasmplugin(ref: str, *, name: str, namespace: str | None = None, selectors: Sequence[str] = (),
                     phase: str | None = None, priority: int | None = None, plugin_config: bytes | str | None = None,
                     fail_strategy: str | None = DEFAULT_FAIL_STRATEGY, pull_policy: str | None = None,
                     pull_secret: str | None = None, env: Sequence[str] = (), root_id: str | None = None,
                     plugin_type: str = "HTTP", plain_http: bool = False, verify_keys: Sequence[Any] = ()) -> str:
    """An `extensions.istio.io/v1alpha1` WasmPlugin for an image, its digest pinned.

    The image is read from the registry first (every digest checked, and it must be a Wasm
    module image); `spec.sha256` is its manifest digest, which Istio's fetcher compares.
    `env` items are `K=V` (inline) or `K` (taken from the host). With `verify_keys` the image
    must be signed by one of them, and `spec.sha256` is the digest the signature covers.
    """
    if Path(ref).is_file():
        raise UserError("Istio pulls modules from a registry: push the module first and give its reference.")
    if not name:
        raise UserError("--name is required.")
    check_wasmplugin_options(phase=phase, fail_strategy=fail_strategy, pull_policy=pull_policy,
                             plugin_type=plugin_type, plugin_config=plugin_config)
    pulled = oci.fetch(ref, plain_http=plain_http, verify_keys=verify_keys)
    return render_wasmplugin(pulled, name=name, namespace=namespace, selectors=selectors, phase=phase,
                             priority=priority, plugin_config=plugin_config, fail_strategy=fail_strategy,
                             pull_policy=pull_policy, pull_secret=pull_secret, env=env, root_id=root_id,
                             plugin_type=plugin_type)


def check_wasmplugin_options(*, phase: str | None = None, fail_strategy: str | None = None,
                             pull_policy: str | None = None, plugin_type: str = "HTTP",
                             plugin_config: bytes | str | None = None) -> None:
    """One sentence for a WasmPlugin option out of range, before anything is fetched."""
    for label, value, allowed in (("--phase", phase, PHASES), ("--fail-strategy", fail_strategy, FAIL_STRATEGIES),
                                  ("--pull-policy", pull_policy, PULL_POLICIES), ("--type", plugin_type, PLUGIN_TYPES)):
        if value is not None and value not in allowed:
            raise UserError(f"{label} must be one of {', '.join(allowed)}, not {value!r}.")
    parse_json_config(plugin_config, require_object=True)


def render_wasmplugin(pulled: oci.PulledModule, *, name: str, namespace: str | None = None,
                      selectors: Sequence[str] = (), phase: str | None = None, priority: int | None = None,
                      plugin_config: bytes | str | None = None, fail_strategy: str | None = DEFAULT_FAIL_STRATEGY,
                      pull_policy: str | None = None, pull_secret: str | None = None, env: Sequence[str] = (),
                      root_id: str | None = None, plugin_type: str = "HTTP") -> str:
    """The WasmPlugin YAML for an image already read from the registry (`oci.fetch`).

    `env` items are `K=V` (inline) or `K` (taken from the host).
    """
    if not name:
        raise UserError("--name is required.")
    check_wasmplugin_options(phase=phase, fail_strategy=fail_strategy, pull_policy=pull_policy,
                             plugin_type=plugin_type)
    config = parse_json_config(plugin_config, require_object=True)
    reference = pulled.reference
    url_ref = f"{reference.registry}/{reference.repository}:{reference.tag}" if reference.tag else \
        f"{reference.registry}/{reference.repository}@{pulled.digest}"

    spec: dict[str, Any] = {}
    labels = dict(_key_values(selectors, "--selector"))
    if labels:
        if any(v is None for v in labels.values()):
            raise UserError("--selector needs the form KEY=VALUE.")
        spec["selector"] = {"matchLabels": labels}
    spec["url"] = f"oci://{url_ref}"
    spec["sha256"] = pulled.digest.split(":", 1)[1]
    if pull_policy:
        spec["imagePullPolicy"] = pull_policy
    if pull_secret:
        spec["imagePullSecret"] = pull_secret
    if phase:
        spec["phase"] = phase
    if priority is not None:
        spec["priority"] = int(priority)
    plugin_name = root_id if root_id is not None else (pulled.metadata.root_ids[0]
                                                         if len(pulled.metadata.root_ids) == 1 else None)
    if plugin_name:
        spec["pluginName"] = plugin_name
    if config is not None:
        spec["pluginConfig"] = config
    if fail_strategy:
        spec["failStrategy"] = fail_strategy
    spec["type"] = plugin_type
    env_items = []
    for key, value in _key_values(env, "--env"):
        env_items.append({"name": key, "valueFrom": "HOST"} if value is None else {"name": key, "value": value})
    if env_items:
        spec["vmConfig"] = {"env": env_items}

    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    document = {"apiVersion": "extensions.istio.io/v1alpha1", "kind": "WasmPlugin", "metadata": metadata,
                "spec": spec}
    return yaml.safe_dump(document, sort_keys=False)


def parse_upstream(text: str, option: str = "--upstream") -> tuple[str, int]:
    """`http://HOST:PORT` or `HOST:PORT` (port 80 when left out) as `(host, port)`, as
    `proxywasm run` and `deploy envoy` take it; anything else is one sentence naming `option`."""
    parsed = urllib.parse.urlsplit(text if "://" in text else f"http://{text}")
    if parsed.scheme != "http" or not parsed.hostname or parsed.path not in ("", "/"):
        raise UserError(f"{option} {text!r} must be an http://HOST:PORT address.")
    try:
        port = parsed.port
    except ValueError:  # not a number, or above 65535
        port = 0
    if port is None:
        return parsed.hostname, 80
    if not 1 <= port <= 65535:
        raise UserError(f"{option} {text!r} needs a port from 1 to 65535.")
    return parsed.hostname, port
