"""`proxywasm build [PATH] [-o OUT.wasm]`: a Python filter (or a Rust / AssemblyScript project)
becomes one Proxy-Wasm module."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from proxywasm_build.outputs import output_file_option_check


class ByteSize(click.ParamType):
    """A size in bytes: 1048576, 512K, 2M (powers of 1024)."""

    name = "bytes"
    _UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}

    def convert(self, value, param, ctx):  # noqa: ANN001 - click's signature
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().removesuffix("B").removesuffix("I")
        number, unit = (text[:-1], text[-1]) if text[-1:] in self._UNITS else (text, "")
        try:
            size = int(float(number) * self._UNITS[unit])
        except ValueError:
            self.fail(f"{value!r} is not a size in bytes (e.g. 1048576, 512K, 2M)", param, ctx)
        if size <= 0:
            self.fail(f"{value!r} is not a positive size", param, ctx)
        return size


@click.command("build")
@click.argument("path", required=False, default=".", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), callback=output_file_option_check,
              help="Where to write the module (default: next to the filter).")
@click.option("--fetch-toolchain", is_flag=True,
              help="Only fetch the pinned toolchains (CPython for wasm32-wasi, MicroPython's sources, zig's libc, "
                   "wizer) into the cache and build the MicroPython core.")
@click.option("--no-snapshot", is_flag=True,
              help="Skip the wizer snapshot: Python starts at the first callback instead (slower VM start).")
@click.option("--optimize", is_flag=True,
              help="Also run binaryen's wasm-opt -Oz (minutes, cached): ~17% less code, faster Envoy start.")
@click.option("--runtime", type=click.Choice(["auto", "micropython", "cpython"]), default="auto",
              show_default=True,
              help="The Python the module embeds: micropython (light: about AssemblyScript's weight), "
                   "cpython (any pure-Python filter), or auto: micropython when the filter's imports fit it.")
@click.option("--heap-size", type=ByteSize(), default=None, metavar="BYTES",
              help="MicroPython's GC heap (e.g. 2M; default: sized from the filter).")
@click.option("--json", "as_json", is_flag=True, help="Print what was built as JSON.")
def command(path: Path, output: Path | None, fetch_toolchain: bool, no_snapshot: bool,
            optimize: bool, runtime: str, heap_size: int | None, as_json: bool) -> None:
    """Build PATH (a filter .py, a filter directory, or a Rust/AssemblyScript project)."""
    from proxywasm_build.backends.cpython import fetch_toolchain as fetch
    from proxywasm_build.build import build

    if fetch_toolchain:
        from proxywasm_build.backends import micropython

        toolchain = fetch()
        click.echo(f"toolchain ready in {toolchain.python_root.parent}")
        click.echo(f"micropython runtime ready in {micropython.fetch_toolchain()}")
        return
    report: dict = {}
    started = time.perf_counter()
    written = build(path, output, snapshot_module=not no_snapshot, optimize=optimize, report=report,
                    runtime=runtime, heap_size=heap_size, announce=lambda line: click.echo(line, err=as_json))
    if as_json:
        click.echo(json.dumps(build_summary(path, written, report, time.perf_counter() - started), indent=2))
        return
    size = written.stat().st_size
    details = ""
    if report:
        details = (f", {report['frozen_modules']} modules frozen, "
                   f"{report['seconds']['total']:.1f} s")
    shown = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} KB"
    click.echo(f"wrote {written} ({shown}{details})")
    left_out = report.get("left_out_modules") if report else None
    if left_out:
        click.echo(f"left out, as the stdlib imports them only inside functions (import one in the filter "
                   f"to keep it): {', '.join(left_out)}", err=True)


def build_summary(source: Path, written: Path, report: dict, seconds: float) -> dict:
    """What `--json` prints: the module and, for a Python filter, what its backend reported."""
    summary = {"module": str(written), "size": written.stat().st_size}
    if report:  # a Python filter: the backend filled the report
        summary.update(runtime=report.get("runtime", "cpython"), runtime_reason=report.get("runtime_reason"),
                       seconds=report["seconds"]["total"], frozen_modules=report["frozen_modules"],
                       left_out_modules=report.get("left_out_modules", []))
    else:
        from proxywasm_build.languages import detect_project_language

        summary.update(language=detect_project_language(source), runtime=None, seconds=round(seconds, 3))
    return summary
