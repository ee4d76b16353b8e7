"""`proxywasm validate MODULE.wasm`: exit 0 valid, 1 invalid, 2 unreadable or missing."""

from __future__ import annotations

import json
from pathlib import Path

import click

from proxywasm.abi import ABI_VERSIONS

from proxywasm_build.errors import UserError
from proxywasm_build.wasm.validate import ValidationReport, validate_module
from proxywasm_build.wasm.reader import NotWasmError


def read_module_file(path: Path) -> bytes:
    """The file's bytes; a missing or unreadable file is a UserError with exit code 2."""
    if not path.exists():
        raise UserError(f"{path} does not exist.", exit_code=2)
    if path.is_dir():
        raise UserError(f"{path} is a directory, not a WebAssembly module.", exit_code=2)
    try:
        return path.read_bytes()
    except OSError as err:
        raise UserError(f"{path} cannot be read: {err.strerror or err}.", exit_code=2) from None


@click.command("validate")
@click.argument("module", type=click.Path(path_type=Path, dir_okay=True))
@click.option("--abi", "abi_version", type=click.Choice(list(ABI_VERSIONS)), default=None,
              help="Check against this ABI (default: the version the module declares).")
@click.option("--envoy", "envoy_version", default="1.40", show_default=True,
              help="Envoy version whose host functions to check against.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def command(module: Path, abi_version: str | None, envoy_version: str, as_json: bool) -> int:
    """Check MODULE against a Proxy-Wasm ABI and what Envoy provides.

    Each finding is one line: what is wrong and what to do. Exit 0 when Envoy will load the
    module, 1 when it will not, 2 when the file is missing or not WebAssembly.
    """
    data = read_module_file(module)
    try:
        report = validate_module(data, abi=abi_version, envoy=envoy_version)
    except NotWasmError as err:
        if as_json:
            click.echo(json.dumps({"ok": False, "readable": False, "error": str(err)}, indent=2))
        raise UserError(f"{module} is not a usable WebAssembly module: {err}.", exit_code=2) from None
    except ValueError as err:
        raise UserError(f"{err}.", exit_code=2) from None
    if as_json:
        click.echo(json.dumps({"module": str(module), "readable": True, **report.to_dict()}, indent=2))
    else:
        print_report(module, report)
    if not report.ok:
        raise UserError(
            f"{module} will not load in Envoy {report.envoy}: "
            f"{_plural(len(report.errors), 'error')}.", exit_code=1)
    return 0


def print_report(module: Path, report: ValidationReport) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(soft_wrap=True, highlight=False)
    for finding in report.findings:
        style = "bold red" if finding.severity == "error" else "yellow"
        console.print(f"[{style}]{finding.severity}[/]: {escape(module.name)} {escape(finding.message)}")
    abi_text = f"ABI {report.abi_version}" if report.abi_version else "no ABI"
    counts = f"{_plural(len(report.errors), 'error')}, {_plural(len(report.warnings), 'warning')}"
    verdict = "[green]valid[/]" if report.ok else "[bold red]invalid[/]"
    console.print(f"{escape(module.name)}: {verdict} for Envoy {report.envoy} ({abi_text}; {counts})")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
