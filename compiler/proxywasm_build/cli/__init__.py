"""The `proxywasm` command: a thin layer of click commands over library functions.

Each subcommand lives in `proxywasm_build/cli/<name>.py` as a click command called
`command`; it is imported only when used, so `proxywasm validate` never pays for OCI code.
"""

from __future__ import annotations

import importlib
import sys

import click

from proxywasm_build.errors import UserError

# name -> (module in proxywasm_build.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init", "Scaffold a filter project (python, assemblyscript or rust)."),
    "build": ("build", "Build a filter or project into one Proxy-Wasm module."),
    "skeleton": ("skeleton", "Translate a Python filter into a Rust or AssemblyScript project."),
    "validate": ("validate", "Check a module against a Proxy-Wasm ABI and what Envoy provides."),
    "inspect": ("inspect", "Show a module's ABI version, exports, imports and sections."),
    "test": ("test", "Run a filter project's tests with the proxywasm pytest plugin."),
    "run": ("run", "Run a filter or module in a real local Envoy."),
    "push": ("oci", "Push a module to an OCI registry."),
    "pull": ("oci", "Pull a module from an OCI registry."),
    "tag": ("oci", "Tag a module image in a registry."),
    "images": ("oci", "List a repository's module images."),
    "login": ("oci", "Store credentials for a registry."),
    "keygen": ("sign", "Write a signing key pair (cosign's format)."),
    "sign": ("sign", "Sign a module image in a registry (cosign's layout)."),
    "verify": ("sign", "Check a module image's signature against public keys."),
    "deploy": ("deploy", "Print or write Envoy or Istio config that deploys a module."),
    "rollout": ("rollout", "Change the filter of running Envoys through their ECDS directory."),
    "demo": ("demo", "Build the example filter and show it working."),
    "hub": ("hub", "Browse a registry's module images in a local web app."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, _ = COMMANDS[name]
        module = importlib.import_module(f"proxywasm_build.cli.{module_name}")
        cmd = getattr(module, f"{name}_command", None) or getattr(module, "command")
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="proxywasm-python", prog_name="proxywasm")
def cli() -> None:
    """Write Envoy and Istio filters in Python."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: user mistakes become one sentence on stderr and a non-zero exit."""
    try:
        rv = cli.main(args=argv, prog_name="proxywasm", standalone_mode=False)
    except UserError as err:
        click.echo(f"proxywasm: {err}", err=True)
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        click.echo("proxywasm: aborted.", err=True)
        sys.exit(130)
    except click.ClickException as err:
        click.echo(f"proxywasm: {err.format_message()}", err=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
