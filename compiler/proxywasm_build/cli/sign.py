"""`proxywasm keygen | sign | verify`: thin click commands over proxywasm_build.ship.signing."""

from __future__ import annotations

import json
import os
import sys

import click

from proxywasm_build.errors import UserError

plain_http_option = click.option(
    "--plain-http", is_flag=True,
    help="Talk HTTP, not HTTPS, to the registry (a local registry without TLS).",
)
passphrase_env_option = click.option(
    "--passphrase-env", metavar="VAR", default=None,
    help="Read the private key's passphrase from environment variable VAR (cosign's is COSIGN_PASSWORD).",
)


def passphrase_from_env(variable: str) -> bytes:
    """The passphrase held by environment variable `variable` (it may be empty, not unset)."""
    value = os.environ.get(variable)
    if value is None:
        raise UserError(f"--passphrase-env {variable}: the environment variable {variable} is not set.")
    return value.encode()


def _interactive() -> bool:
    return sys.stdin.isatty()


def new_passphrase(passphrase_env: str | None, no_passphrase: bool) -> bytes:
    """The passphrase for a new key: from the environment, empty, or typed twice (as cosign asks)."""
    if passphrase_env and no_passphrase:
        raise UserError("give either --passphrase-env or --no-passphrase, not both.")
    if no_passphrase:
        return b""
    if passphrase_env:
        return passphrase_from_env(passphrase_env)
    if not _interactive():
        raise UserError("no terminal to ask for a passphrase; give --passphrase-env VAR or --no-passphrase.")
    return click.prompt("Enter passphrase for the private key", hide_input=True, confirmation_prompt=True,
                        default="", show_default=False).encode()


@click.command("keygen")
@click.argument("name")
@passphrase_env_option
@click.option("--no-passphrase", is_flag=True, help="Encrypt the private key with an empty passphrase.")
@click.option("--force", is_flag=True, help="Replace NAME.key and NAME.pub if they exist.")
def keygen_command(name: str, passphrase_env: str | None, no_passphrase: bool, force: bool) -> None:
    """Write NAME.key (private, mode 0600) and NAME.pub: an ECDSA P-256 key pair in cosign's format.

    The passphrase is asked for twice on a terminal (Enter twice for none); NAME.key is always
    cosign's encrypted PEM, which cosign and containers/image (skopeo, podman) read too.
    """
    from proxywasm_build.ship import signing

    passphrase = new_passphrase(passphrase_env, no_passphrase)
    pair = signing.write_key_pair(name, passphrase, force=force)
    click.echo(f"private key written to {pair.private_path} (mode 0600)")
    click.echo(f"public key written to {pair.public_path}")
    click.echo(f"fingerprint: {pair.public_key.fingerprint}")


@click.command("sign")
@click.argument("ref")
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False), help="The private key (NAME.key).")
@passphrase_env_option
@click.option("--json", "as_json", is_flag=True, help="Print the signature as JSON.")
@plain_http_option
def sign_command(ref: str, key_path: str, passphrase_env: str | None, as_json: bool, plain_http: bool) -> None:
    """Sign the manifest digest REF points at now; store the signature beside it (cosign's layout)."""
    from proxywasm_build.ship import signing

    if passphrase_env:
        passphrase: bytes | object = passphrase_from_env(passphrase_env)
    elif _interactive():
        passphrase = lambda: click.prompt(f"Enter passphrase for {key_path}", hide_input=True,  # noqa: E731
                                          default="", show_default=False).encode()
    else:
        passphrase = None
    key = signing.load_private_key(key_path, passphrase)  # type: ignore[arg-type]
    result = signing.sign_image(ref, key, plain_http=plain_http)
    if as_json:
        click.echo(json.dumps({
            "reference": str(result.reference), "digest": result.digest,
            "signature": str(result.signature_reference), "identity": result.identity,
            "signatures": result.signatures,
        }, indent=2))
        return
    click.echo(f"signed {result.reference}")
    click.echo(f"signature: {result.signature_reference}")


@click.command("verify")
@click.argument("ref")
@click.option("--key", "key_paths", required=True, multiple=True, type=click.Path(dir_okay=False),
              help="A public key (NAME.pub); repeat to accept a signature by any of them.")
@click.option("--json", "as_json", is_flag=True, help="Print the verification as JSON.")
@plain_http_option
def verify_command(ref: str, key_paths: tuple[str, ...], as_json: bool, plain_http: bool) -> None:
    """Exit 0 only if one of the keys signed the manifest digest REF points at now."""
    from proxywasm_build.ship import signing

    keys = signing.load_public_keys(key_paths)
    verification = signing.require_signed(ref, keys, plain_http=plain_http)
    if as_json:
        click.echo(json.dumps({
            "reference": str(verification.reference), "digest": verification.digest, "signed": True,
            "key": verification.key_name, "fingerprint": verification.fingerprint,
            "identity": verification.identity,
        }, indent=2))
        return
    click.echo(f"verified {verification.reference}: signed by {verification.key_name} ({verification.fingerprint})")
