"""`proxywasm test [PATH] [pytest args]`: run a filter project's tests with the plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from proxywasm_build.errors import UserError


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("path", required=False, default=".", type=click.Path())
@click.option("--hosts", default=None, help="python,wasm,envoy: hosts to run load_filter tests on "
              "(python plus the entry-point group proxywasm.hosts).")
@click.option("--runtime", type=click.Choice(["auto", "micropython", "cpython"]), default=None,
              help="The runtime the wasm and envoy hosts build the filter with (default: auto, as build).")
@click.pass_context
def command(ctx: click.Context, path: str, hosts: str | None, runtime: str | None) -> int:
    """Run the tests of the filter project at PATH (default: here) with pytest."""
    from proxywasm.testing.pytest_plugin import available_hosts, parse_hosts

    target = Path(path)
    if not target.exists():
        raise UserError(f"{path}: no such file or directory.")
    args = [str(target), "-q", *ctx.args]
    if hosts is not None:
        try:  # before pytest starts: its usage errors come after its own banner and plugins
            if not parse_hosts(hosts):
                raise ValueError(f"no host named in {hosts!r}; the installed hosts are "
                                 f"{', '.join(available_hosts())}.")
        except ValueError as err:
            raise UserError(f"--hosts: {err}") from None
        args.append(f"--proxywasm-hosts={hosts}")
    if runtime is not None:
        args.append(f"--proxywasm-runtime={runtime}")
    # A fresh interpreter: pytest imports (and may rewrite) the SDK and the plugin itself, and
    # the project's own modules (filter.py next to its tests) import as top-level names.
    root = str((target if target.is_dir() else target.parent).resolve())
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    code = subprocess.run([sys.executable, "-m", "pytest", *args], env=env).returncode
    if code == 5:
        raise UserError(f"no tests were found under {path}.", exit_code=5)
    return code
