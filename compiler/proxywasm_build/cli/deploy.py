"""`proxywasm deploy envoy|istio`: print or write the config that deploys a module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from proxywasm_build.cli.envoy_options import envoy_options, render_arguments
from proxywasm_build.envoy.config import DEFAULT_FAILURE_POLICY, DEFAULT_RELOAD_BACKOFF
from proxywasm_build.errors import UserError
from proxywasm_build.outputs import output_file_option_check, write_output
from proxywasm_build.ship import deploy

out_option = click.option("--out", default=None, type=click.Path(dir_okay=False), callback=output_file_option_check,
                          help="Write to FILE (in an existing directory) instead of stdout.")
port_range = click.IntRange(1, 65535)
verify_key_option = click.option(
    "--verify-key", "verify_keys", multiple=True, type=click.Path(dir_okay=False), metavar="NAME.pub",
    help="Refuse the image unless one of these public keys signed it (repeatable); nothing is written then.",
)


def _emit(text: str, out: str | None) -> None:
    if out:
        write_output(Path(out), text.encode())
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=not text.endswith("\n"))


@click.group("deploy")
def command() -> None:
    """Print or write Envoy or Istio config that deploys a module."""


@command.command("envoy")
@click.argument("module_or_ref")
@click.option("--config", "plugin_config", default=None, metavar="JSON|@FILE",
              help="Plugin configuration: JSON, or @FILE to read it from FILE.")
@out_option
@click.option("--snippet", is_flag=True, help="Only the http_filters entry (and the code cluster, if remote).")
@click.option("--code", type=click.Choice(deploy.CODE_CHOICES), default=None,
              help="local: filename; remote: http_uri + sha256 (default: local for files and compat images, "
                   "remote for wasme images).")
@click.option("--remote-url", default=None, help="URL Envoy fetches the module from (remote code).")
@click.option("--root-id", default=None, help="Root id (default: from the module or image).")
@click.option("--port", default=10000, show_default=True, type=port_range, help="Listener port.")
@click.option("--admin-port", default=9901, show_default=True, type=port_range, help="Admin port.")
@click.option("--upstream", default=None, metavar="URL",
              help="http://HOST:PORT (or HOST:PORT) to forward to (default: a direct 200 response).")
@click.option("--plain-http", is_flag=True, help="The registry talks HTTP, not HTTPS.")
@click.option("--ecds", "ecds_dir", default=None, metavar="DIR", type=click.Path(file_okay=False),
              help="Take the filter from the ECDS directory DIR (created with MODULE|REF as its first "
                   "version), so `proxywasm rollout` changes it in running Envoys; see docs/rollout.md.")
@verify_key_option
@envoy_options
def envoy_command(module_or_ref: str, plugin_config: str | None, out: str | None, snippet: bool,
                  code: str | None, remote_url: str | None, root_id: str | None, port: int, admin_port: int,
                  upstream: str | None, plain_http: bool, ecds_dir: str | None, verify_keys: tuple[str, ...],
                  **envoy_settings: Any) -> None:
    """An Envoy bootstrap running MODULE.wasm or an image REF (local or remote code)."""
    limits = [name for name, key in (("--buffer-limit", "buffer_limit"), ("--max-request-headers-kb",
              "max_request_headers_kb"), ("--max-headers", "max_headers_count")) if envoy_settings.get(key)]
    if snippet and limits:
        raise UserError(f"{limits[0]} sets the listener or connection manager, which --snippet leaves out; "
                        "drop --snippet, or set the limit in your own listener.")
    config_text = deploy.read_config_option(plugin_config)
    deploy.parse_json_config(config_text)
    upstream_address = deploy.parse_upstream(upstream) if upstream else None
    if ecds_dir is not None:
        if snippet or code == "remote" or remote_url:
            raise UserError("--ecds writes the module into DIR and names the local file: Envoy 1.40 does "
                            "not fetch remote code given through ECDS (see docs/rollout.md), so --snippet, "
                            "--code remote and --remote-url do not apply.")
        settings = render_arguments(**envoy_settings)
        if (settings["failure_policy"], settings["reload_backoff"]) != (DEFAULT_FAILURE_POLICY, DEFAULT_RELOAD_BACKOFF):
            raise UserError("with --ecds the filter's configuration lives in DIR, which does not carry "
                            "--failure-policy or --reload-backoff yet; leave them at their defaults.")
        text = deploy.envoy_ecds_bootstrap(ecds_dir, module_or_ref, plugin_config=config_text, root_id=root_id,
                                           listener_port=port, admin_port=admin_port, upstream=upstream_address,
                                           plain_http=plain_http, verify_keys=verify_keys, **settings)
        _emit(text, out)
        return
    source = deploy.resolve_code_source(module_or_ref, code=code, remote_url=remote_url, plain_http=plain_http,
                                        verify_keys=verify_keys)
    text = deploy.envoy_bootstrap(source, plugin_config=config_text or "", root_id=root_id,
                                  listener_port=port, admin_port=admin_port, upstream=upstream_address,
                                  **render_arguments(**envoy_settings))
    _emit(deploy.envoy_snippet(text) if snippet else text, out)


@command.command("istio")
@click.argument("ref")
@click.option("--name", required=True, help="metadata.name of the WasmPlugin.")
@click.option("--namespace", default=None, help="metadata.namespace.")
@click.option("--selector", multiple=True, help="Workload label KEY=VALUE (repeatable).")
@click.option("--phase", type=click.Choice(deploy.PHASES), default=None, help="Where in the filter chain.")
@click.option("--priority", type=int, default=None, help="Order within the phase.")
@click.option("--config", "plugin_config", default=None, metavar="JSON|@FILE",
              help="pluginConfig: a JSON object, or @FILE to read it from FILE.")
@click.option("--fail-strategy", type=click.Choice(deploy.FAIL_STRATEGIES), default=None,
              help="When the VM fails: FAIL_RELOAD (default) starts a fresh VM (fail closed meanwhile), "
                   "FAIL_CLOSE fails every request, FAIL_OPEN skips the filter.")
@click.option("--failure-policy", type=click.Choice(list(deploy.ISTIO_FAIL_STRATEGY)), default=None,
              help="The same as --fail-strategy, in the names run and deploy envoy take.")
@click.option("--pull-policy", type=click.Choice(deploy.PULL_POLICIES), default=None)
@click.option("--pull-secret", default=None, help="imagePullSecret name.")
@click.option("--env", multiple=True, help="VM environment K=V, or K to take it from the host (repeatable).")
@click.option("--root-id", default=None, help="pluginName (the root id; default: from the image).")
@click.option("--type", "plugin_type", type=click.Choice(deploy.PLUGIN_TYPES), default="HTTP", show_default=True)
@out_option
@click.option("--plain-http", is_flag=True, help="The registry talks HTTP, not HTTPS.")
@verify_key_option
def istio_command(ref: str, name: str, namespace: str | None, selector: tuple[str, ...], phase: str | None,
                  priority: int | None, plugin_config: str | None, fail_strategy: str | None,
                  pull_policy: str | None, pull_secret: str | None, env: tuple[str, ...], root_id: str | None,
                  plugin_type: str, out: str | None, plain_http: bool, verify_keys: tuple[str, ...],
                  failure_policy: str | None) -> None:
    """An Istio WasmPlugin for image REF, its sha256 pinned from the registry."""
    if failure_policy is not None:
        chosen = deploy.ISTIO_FAIL_STRATEGY[failure_policy]
        if fail_strategy not in (None, chosen):
            raise UserError(f"--failure-policy {failure_policy} and --fail-strategy {fail_strategy} disagree; give one.")
        fail_strategy = chosen
    text = deploy.istio_wasmplugin(
        ref, name=name, namespace=namespace, selectors=selector, phase=phase, priority=priority,
        plugin_config=deploy.read_config_option(plugin_config),
        fail_strategy=fail_strategy or deploy.DEFAULT_FAIL_STRATEGY, pull_policy=pull_policy,
        pull_secret=pull_secret, env=env, root_id=root_id, plugin_type=plugin_type, plain_http=plain_http,
        verify_keys=verify_keys,
    )
    _emit(text, out)
