"""`proxywasm push | pull | tag | images | login`: thin click commands over proxywasm_build.ship.oci."""

from __future__ import annotations

import json
import sys

import click

from proxywasm_build.ship import oci
from proxywasm_build.errors import UserError

plain_http_option = click.option(
    "--plain-http", is_flag=True,
    help="Talk HTTP, not HTTPS, to the registry (a local registry without TLS).",
)
verify_key_option = click.option(
    "--verify-key", "verify_keys", multiple=True, type=click.Path(dir_okay=False), metavar="NAME.pub",
    help="Refuse the image unless one of these public keys signed it (repeatable; see `proxywasm verify`).",
)


@click.command("push")
@click.argument("module", type=click.Path(dir_okay=False))
@click.argument("ref")
@click.option("--layout", type=click.Choice(oci.LAYOUTS), default="compat", show_default=True,
              help="compat: tar+gzip layer with plugin.wasm (what Istio pulls); wasme: Wasm artifact layout.")
@click.option("--root-id", default=None, help="Root id to record (default: read from the module).")
@click.option("--json", "as_json", is_flag=True, help="Print the pushed image as JSON.")
@plain_http_option
def push_command(module: str, ref: str, layout: str, root_id: str | None, as_json: bool,
                 plain_http: bool) -> None:
    """Push MODULE.wasm to REF (REGISTRY/REPOSITORY:TAG)."""
    result = oci.push(module, ref, layout=layout, root_id=root_id, plain_http=plain_http)
    if as_json:
        click.echo(json.dumps({
            "reference": str(result.reference), "digest": result.digest,
            "module_digest": result.module_digest, "size": result.size, "layout": result.layout,
            "abi": result.metadata.abi_versions,
        }, indent=2))
        return
    click.echo(f"pushed {result.reference} ({result.layout}, ABI {', '.join(result.metadata.abi_versions)})")
    click.echo(f"digest: {result.digest}")


@click.command("pull")
@click.argument("ref")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Where to write the module (default: REPOSITORY-NAME.wasm).")
@click.option("--json", "as_json", is_flag=True, help="Print the pulled module as JSON.")
@verify_key_option
@plain_http_option
def pull_command(ref: str, output: str | None, as_json: bool, verify_keys: tuple[str, ...], plain_http: bool) -> None:
    """Pull a module image (compat or wasme layout), checking every digest (and the signature
    with --verify-key); nothing is written unless all of it holds."""
    path, pulled = oci.pull(ref, output, plain_http=plain_http, verify_keys=verify_keys)
    if as_json:
        click.echo(json.dumps({
            "module": str(path), "reference": str(pulled.reference), "digest": pulled.digest,
            "module_digest": f"sha256:{pulled.module_sha256}", "size": len(pulled.wasm),
            "layout": pulled.layout, "abi": pulled.metadata.abi_versions,
        }, indent=2))
        return
    click.echo(f"pulled {pulled.reference} ({pulled.layout}) -> {path}")
    click.echo(f"digest: {pulled.digest}")
    click.echo(f"module sha256: {pulled.module_sha256}")


@click.command("tag")
@click.argument("source")
@click.argument("destination")
@plain_http_option
def tag_command(source: str, destination: str, plain_http: bool) -> None:
    """Tag SOURCE as DESTINATION (a tag in the same repository, or a full reference)."""
    dst, digest = oci.tag(source, destination, plain_http=plain_http)
    click.echo(f"tagged {dst} -> {digest}")


@click.command("images")
@click.argument("repository")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@plain_http_option
def images_command(repository: str, as_json: bool, plain_http: bool) -> None:
    """List a repository's tags with digest, size, layout and ABI version."""
    images = oci.list_images(repository, plain_http=plain_http)
    if as_json:
        click.echo(json.dumps([
            {"tag": i.tag, "digest": i.digest, "size": i.size, "layout": i.layout, "abi": i.abi_versions}
            for i in images
        ], indent=2))
        return
    rows = [("TAG", "DIGEST", "SIZE", "LAYOUT", "ABI")]
    rows += [(i.tag, i.digest, str(i.size), i.layout, ",".join(i.abi_versions) or "-") for i in images]
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@click.command("login")
@click.argument("registry")
@click.option("-u", "--username", default=None, help="User name (prompted when missing).")
@click.option("-p", "--password", default=None, help="Password (prefer --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@plain_http_option
def login_command(registry: str, username: str | None, password: str | None, password_stdin: bool,
                  plain_http: bool) -> None:
    """Check and store credentials for REGISTRY (Docker config.json format, mode 0600)."""
    if password_stdin:
        if password is not None:
            raise UserError("give either --password or --password-stdin, not both.")
        password = sys.stdin.readline().rstrip("\r\n")
    if username is None:
        username = click.prompt("Username")
    if password is None:
        password = click.prompt("Password", hide_input=True)
    path = oci.login(registry, username, password, plain_http=plain_http)
    click.echo(f"login succeeded; credentials for {registry} stored in {path}")
