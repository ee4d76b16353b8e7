"""`proxywasm hub`: a thin click command over proxywasm_build.hub."""

from __future__ import annotations

import click

from proxywasm_build.cli.oci import plain_http_option


@click.command("hub")
@click.option("--registry", required=True, metavar="HOST:PORT", help="The registry to browse, like 127.0.0.1:5000.")
@plain_http_option
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True,
              help="Port the hub listens on (127.0.0.1 only).")
@click.option("--key", "keys", multiple=True, type=click.Path(dir_okay=False), metavar="NAME.pub",
              help="A public key to verify signatures with (repeatable); the page says which key signed an image.")
def command(registry: str, plain_http: bool, port: int, keys: tuple[str, ...]) -> None:
    """Browse a registry's module images in a local web app.

    Lists repositories and tags; an image's page shows its layout, ABI, runtime, size, root
    ids, digest, whether it is valid for Envoy and signed, and config that deploys it. Logins
    stored by `proxywasm login` (or docker's) are used.
    """
    from proxywasm_build.hub.app import serve
    from proxywasm_build.hub.registry import Hub

    hub = Hub(registry, plain_http=plain_http, keys=keys)
    hub.check()  # one sentence now, not an error page later, when the registry is unreachable
    click.echo(f"proxywasm hub for {registry}: http://127.0.0.1:{port}/ (Ctrl-C stops it)")
    serve(hub, port=port)
