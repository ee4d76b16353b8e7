"""`proxywasm demo`: build the example filter and show it working (the README's main job)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from proxywasm_build.errors import UserError


@click.command()
@click.option("--filter", "filter_path", type=click.Path(path_type=Path), default=None,
              help="Filter to show (default: the allow_deny example installed with proxywasm).")
@click.option("--config", default=None, help="Plugin configuration JSON.")
@click.option("--no-envoy", is_flag=True, help="Skip the real Envoy (emulator and wasmtime only).")
@click.option("--runtime", type=click.Choice(["auto", "micropython", "cpython"]), default="auto",
              show_default=True, help="The Python the module embeds (as for build).")
def command(filter_path: Path | None, config: str | None, no_envoy: bool, runtime: str) -> int:
    """Build a filter, validate it, and run the same requests in the emulator, wasmtime and Envoy."""
    from proxywasm_build.demo import DEFAULT_FILTER, run_demo

    parsed = None
    if config is not None:
        try:
            parsed = json.loads(config)
        except json.JSONDecodeError as err:
            raise UserError(f"--config is not valid JSON: {err.msg} at character {err.pos}.") from None
    ok = run_demo(filter_path or DEFAULT_FILTER, parsed, envoy=not no_envoy, runtime=runtime)
    return 0 if ok else 1
