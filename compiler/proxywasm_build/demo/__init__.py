"""The README's main job: build the allow/deny example, then show it working.

The same requests go to the filter three ways: imported as Python under the emulator, compiled
and run in wasmtime under the emulator, and compiled and run in a real Envoy. A table shows what
a client saw in each; any disagreement makes the demo fail.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from proxywasm_build.cache import cache_dir
from proxywasm_build.errors import UserError
from proxywasm_build.resources import demo_filter

DEFAULT_FILTER = demo_filter()
DEFAULT_CONFIG = {
    "deny": {"headers": ["x-deny"], "path_prefixes": ["/admin"], "methods": ["DELETE"]},
    "response_header": ["x-allow-deny", "allowed"],
}


@dataclass
class Scenario:
    label: str
    headers: dict[str, str]
    body: bytes = b""


SCENARIOS = [
    Scenario("GET /", {":method": "GET", ":path": "/", ":authority": "demo"}),
    Scenario("GET / with x-deny", {":method": "GET", ":path": "/", ":authority": "demo", "x-deny": "1"}),
    Scenario("GET /admin/users", {":method": "GET", ":path": "/admin/users", ":authority": "demo"}),
    Scenario("DELETE /items/7", {":method": "DELETE", ":path": "/items/7", ":authority": "demo"}),
    Scenario("POST /items (body)", {":method": "POST", ":path": "/items", ":authority": "demo",
                                    "content-type": "application/json"}, b'{"name": "x"}'),
]
UPSTREAM = (200, {"content-type": "text/plain"}, b"hello from upstream\n")


def _summary(response: Any) -> str:
    tag = response.headers.get("x-allow-deny") or response.headers.get("x-deny-reason") or "-"
    body = response.body.decode("utf-8", "replace").strip()
    reached = "upstream" if response.upstream_request is not None else "local reply"
    return f"{response.status} {tag} [{reached}] {body[:24]}"


def run_demo(filter_path: Path = DEFAULT_FILTER, config: dict | None = None, *,
             envoy: bool = True, output: Path | None = None, console: Console | None = None,
             runtime: str = "auto") -> bool:
    """Build (with `runtime`: auto, micropython or cpython), validate and compare; return True
    when every host agrees."""
    from proxywasm.testing import EmulatorError, Host

    from proxywasm_build.backends import build_python
    from proxywasm_build.wasm.validate import validate_module

    console = console or Console()
    config_bytes = json.dumps(config or DEFAULT_CONFIG).encode()
    if not filter_path.exists():
        raise UserError(f"{filter_path}: no such filter.")
    output = output or cache_dir() / "demo" / f"{filter_path.parent.name}.wasm"

    shown = "the example allow_deny" if filter_path == DEFAULT_FILTER else filter_path
    console.print(f"[bold]1. build[/] {shown}")
    started = time.monotonic()
    module = build_python(filter_path, output, runtime=runtime,
                          announce=lambda line: console.print(f"   runtime {line}"))
    size = module.stat().st_size
    console.print(f"   wrote {module} ({size / 1e6:.2f} MB) in {time.monotonic() - started:.1f} s")

    report = validate_module(module.read_bytes())
    verdict = "valid" if report.ok else "INVALID"
    console.print(f"[bold]2. validate[/] {verdict} for Envoy 1.40 (ABI {report.abi_version}), "
                  f"{len(report.findings)} findings")
    if not report.ok:
        for finding in report.findings:
            console.print(f"   {finding.severity}: {finding.message}")
        return False

    hosts: list[tuple[str, Callable[[], Any]]] = [
        ("emulator (.py)", lambda: Host.load(filter_path, plugin_config=config_bytes)),
        ("wasmtime (.wasm)", lambda: Host.load(module, plugin_config=config_bytes)),
    ]
    if envoy:
        from proxywasm_build.envoy.host import EnvoyHost

        hosts.append(("Envoy 1.40 (.wasm)", lambda: EnvoyHost.load(module, plugin_config=config_bytes)))

    console.print(f"[bold]3. run[/] {len(SCENARIOS)} requests on {len(hosts)} hosts "
                  f"(config {config_bytes.decode()})")
    results: dict[str, list[str]] = {}
    for name, make in hosts:
        started = time.monotonic()
        try:
            host = make()
        except EmulatorError as err:
            raise UserError(f"{name} could not load the filter: {err}") from None
        try:
            results[name] = [_summary(host.http_request(s.headers, s.body, upstream=UPSTREAM))
                             for s in SCENARIOS]
        finally:
            close = getattr(host, "close", None)
            if close:
                close()
        console.print(f"   {name}: ready and answered in {time.monotonic() - started:.2f} s")

    table = Table(title="what the client saw: status, tag header, where the answer came from, body")
    table.add_column("request")
    for name, _ in hosts:
        table.add_column(name)
    table.add_column("same")
    all_same = True
    for i, scenario in enumerate(SCENARIOS):
        row = [results[name][i] for name, _ in hosts]
        same = len(set(row)) == 1
        all_same &= same
        table.add_row(escape(scenario.label), *map(escape, row), "yes" if same else "[red]NO[/]")
    console.print(table)
    if all_same:
        console.print("[green]every host agrees[/]" + (": the compiled filter behaves in Envoy exactly "
                                                      "as in the emulator" if envoy else ""))
    else:
        console.print("[red]the hosts disagree[/]")
    return all_same
