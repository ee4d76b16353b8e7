"""`proxywasm rollout`: change the filter of every Envoy sharing an ECDS directory, or roll back."""

from __future__ import annotations

import click

from proxywasm_build.cli.deploy import verify_key_option
from proxywasm_build.errors import UserError


@click.command("rollout")
@click.argument("module_or_ref", required=False, metavar="[MODULE|FILTER.py|REF]")
@click.option("--ecds", "ecds_dir", required=True, metavar="DIR", type=click.Path(file_okay=False),
              help="The ECDS directory the Envoys watch (made by `deploy envoy --ecds DIR`).")
@click.option("--rollback", is_flag=True, help="Serve the version before the current one again.")
@click.option("--config", "plugin_config", default=None, metavar="TEXT|@FILE",
              help="Plugin configuration (default: the current version's).")
@click.option("--vm-config", default=None, metavar="TEXT|@FILE", help="VM configuration (default: the current one).")
@click.option("--root-id", default=None, help="Root id (default: the module's own, else the current one).")
@click.option("--admin", "admin_urls", multiple=True, metavar="URL",
              help="An Envoy's admin address (repeatable): wait until it serves the new version or "
                   "rejects it; a rejection puts the previous version back.")
@click.option("--timeout", default=120.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds to wait for each --admin Envoy.")
@click.option("--no-start-check", is_flag=True,
              help="Skip starting the module once in a throwaway Envoy before writing it.")
@click.option("--runtime", type=click.Choice(["auto", "micropython", "cpython"]), default=None,
              help="The Python a .py filter is built with (default: auto).")
@click.option("--plain-http", is_flag=True, help="The registry talks HTTP, not HTTPS.")
@verify_key_option
def command(module_or_ref: str | None, ecds_dir: str, rollback: bool, plugin_config: str | None,
            vm_config: str | None, root_id: str | None, admin_urls: tuple[str, ...], timeout: float,
            no_start_check: bool, runtime: str | None, plain_http: bool, verify_keys: tuple[str, ...]) -> None:
    """Make MODULE (a .wasm, a .py filter, or an image REF) the filter of every Envoy watching
    the ECDS directory, without restarting them; or, with --rollback, the previous version.

    The module is validated for Envoy 1.40 and started once in a throwaway Envoy first: one
    that would not load or start is refused and nothing is written.
    """
    from proxywasm_build.envoy import ecds
    from proxywasm_build.ship.deploy import read_config_option

    directory = ecds.EcdsDirectory(ecds_dir)
    if rollback:
        if module_or_ref or plugin_config is not None or vm_config is not None or root_id is not None \
                or verify_keys:
            raise UserError("--rollback takes no module or configuration: it serves the previous version as it was.")
        result = ecds.rollback(directory, admin_urls=admin_urls, timeout=timeout)
    else:
        if not module_or_ref:
            raise UserError("give the MODULE, FILTER.py or image REF to roll out (or --rollback).")
        wasm = ecds.read_module_or_image(module_or_ref, runtime=runtime, plain_http=plain_http,
                                         verify_keys=verify_keys)
        result = ecds.rollout(
            directory, wasm, admin_urls=admin_urls, timeout=timeout, check_start=not no_start_check,
            plugin_config=read_config_option(plugin_config) if plugin_config is not None else None,
            vm_config=read_config_option(vm_config) if vm_config is not None else None,
            root_id=root_id, name=module_or_ref,
        )
    verb = "rolled back" if rollback else "rolled out"
    click.echo(f"{verb} {result.change()} in {directory.path}")
    for outcome in result.outcomes:
        click.echo(f"  {outcome.describe(result.release)}")
    if result.restored:
        raise UserError(f"an Envoy rejected {result.release.short}; {directory.path} serves "
                        f"{result.previous.short if result.previous else 'the previous version'} again.")
    missing = [o for o in result.outcomes if not o.accepted]
    if missing:
        raise UserError(f"{len(missing)} Envoy(s) did not confirm {result.release.short} in {timeout:g} s.")
