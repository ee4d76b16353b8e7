"""`proxywasm inspect MODULE.wasm`: ABI version, exports, imports, sections, Python metadata."""

from __future__ import annotations

import json
from pathlib import Path

import click

from proxywasm_build.errors import UserError
from proxywasm_build.wasm.inspect import describe_module, human_size as _size
from proxywasm_build.wasm.reader import NotWasmError, read_module
from proxywasm_build.cli.validate import read_module_file


@click.command("inspect")
@click.argument("module", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def command(module: Path, as_json: bool) -> int:
    """Show MODULE's ABI version, exports, imports and section sizes.

    For modules built by proxywasm it also shows the embedded Python version, SDK version
    and frozen modules.
    """
    data = read_module_file(module)
    try:
        info = read_module(data)
    except NotWasmError as err:
        raise UserError(f"{module} is not a usable WebAssembly module: {err}.", exit_code=2) from None
    description = describe_module(info)
    if as_json:
        click.echo(json.dumps({"module": str(module), **description}, indent=2))
    else:
        print_description(module, description)
    return 0


def print_description(module: Path, d: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=140)  # pipes get whole rows, not 80 columns
    abi_text = d["abi_version"] or "none (not a Proxy-Wasm module)"
    console.print(f"[bold]{module.name}[/]: {_size(d['size'])}, Proxy-Wasm ABI {abi_text}, "
                  f"{_size(d['code_size'])} of code in {d['defined_functions']} functions")

    exports = Table(title=f"Exports ({len(d['exports'])})", title_justify="left")
    for column in ("name", "kind", "signature", "role"):
        exports.add_column(column)
    for e in d["exports"]:
        exports.add_row(e["name"], e["kind"], e["signature"] or e["description"], e["role"])
    console.print(exports)

    imports = Table(title=f"Imports ({len(d['imports'])})", title_justify="left")
    for column in ("module", "name", "signature", "in Envoy"):
        imports.add_column(column)
    for i in d["imports"]:
        provider = i["provided_by"]
        style = "red" if provider.startswith("not") else ""
        imports.add_row(i["module"], i["name"], i["signature"] or i["description"],
                        f"[{style}]{provider}[/]" if style else provider)
    console.print(imports)

    sections = Table(title="Sections", title_justify="left")
    sections.add_column("section")
    sections.add_column("size", justify="right")
    sections.add_column("share", justify="right")
    for s in d["sections"]:
        label = s["kind"] if s["kind"] != "custom" else f"custom \"{s['name']}\""
        sections.add_row(label, _size(s["size"]), f"{100 * s['size'] / max(d['size'], 1):.1f}%")
    console.print(sections)

    if d["largest_functions"]:
        functions = Table(title="Largest functions", title_justify="left")
        functions.add_column("function")
        functions.add_column("size", justify="right")
        functions.add_column("share of code", justify="right")
        for f in d["largest_functions"]:
            functions.add_row(f["name"] or f"#{f['index']}", _size(f["size"]),
                              f"{100 * f['size'] / max(d['code_size'], 1):.1f}%")
        console.print(functions)

    python = d.get("python")
    if python:
        frozen = python.get("frozen_modules") or []
        builtin = python.get("builtin_modules") or []
        runtime = python.get("runtime", "cpython")
        version = python.get(runtime, python.get("python", "?"))
        heap = f", GC heap {python['heap_size'] // 1024} KiB" if python.get("heap_size") else ""
        console.print(f"[bold]Runtime[/] {runtime} {version}{heap}, proxywasm SDK "
                      f"{python.get('sdk', '?')}, ABI {python.get('abi', '?')}")
        console.print(f"{len(frozen)} frozen modules: {', '.join(frozen)}", soft_wrap=False)
        if builtin:
            console.print(f"{len(builtin)} builtin modules: {', '.join(builtin)}")
        left_out = python.get("left_out_modules") or []
        if left_out:
            console.print(f"left out (the stdlib imports them only inside functions; import one in the "
                          f"filter to keep it): {', '.join(left_out)}")
