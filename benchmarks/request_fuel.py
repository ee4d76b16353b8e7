"""Wasm instructions per request of the benchmark filter: Python (before/after), MicroPython, AssemblyScript, C.

    .venv/bin/python benchmarks/request_fuel.py                        # working tree vs HEAD, print only
    .venv/bin/python benchmarks/request_fuel.py --python-before f7eb20f --write   # and update the docs

A deterministic stand-in for "Envoy CPU per request": each module runs in wasmtime with fuel
metering (one unit per wasm instruction executed) under the emulated host, and drives the
same traffic as benchmarks/envoy_filters.py: an allowed request (200 from the upstream,
`x-filter` added) and a denied one (`x-deny`: 403 local reply), as a pair. The fuel each
Proxy-Wasm callback burns is summed per callback over `--pairs` pairs after a warm-up;
host-side work (the emulator) costs no fuel, so the numbers are the module's own work.

The modules are the ones benchmarks/envoy_filters.py builds (same functions, same cache):
deny_python.py by the working tree (CPython and MicroPython builds) and, for "before", by commit
`--python-before` (default HEAD); deny_assemblyscript/ and deny_c.c. `--variants` picks some. With `--write` results go to
benchmarks/results/request_fuel.json and the `request-fuel` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any, Callable

import docs_section
import envoy_filters as ef

from proxywasm.testing import Host
from proxywasm_build.cache import atomic_write

RESULTS = ef.RESULTS / "request_fuel.json"
START, END = "<!-- request-fuel:start -->", "<!-- request-fuel:end -->"

ALLOWED = {":method": "GET", ":path": "/", ":authority": "bench"}
DENIED = {**ALLOWED, "x-deny": "1"}
#: Enough fuel for any request; metering needs a limit.
FUEL_LIMIT = 10**12

VARIANTS = ("python_before", "python", "micropython", "assemblyscript", "c")
LABELS = {"python_before": "Python before", "python": "Python", "micropython": "MicroPython",
          "assemblyscript": "AssemblyScript", "c": "C (zig)"}


def measure(module: Path, pairs: int, warmup: int = 5) -> dict[str, Any]:
    """Fuel per (allowed + denied) pair, in total and per callback, for one module."""
    host = Host.load(module, fuel=FUEL_LIMIT)
    wasm = host.module
    fuel: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()
    invoke: Callable[..., Any] = wasm._invoke

    def counting_invoke(name: str, *args: int) -> Any:
        try:
            return invoke(name, *args)
        finally:
            fuel[name] += FUEL_LIMIT - wasm.store.get_fuel()
            calls[name] += 1

    wasm._invoke = counting_invoke  # this module only: _invoke refills the fuel on each call
    for counting in (False, True):
        if counting:
            fuel.clear()
            calls.clear()
        for _ in range(pairs if counting else warmup):
            allowed = host.http_request(ALLOWED, upstream=(200, {}, b"hello\n"))
            denied = host.http_request(DENIED, upstream=(200, {}, b"hello\n"))
            if allowed.status != 200 or allowed.headers.get("x-filter") is None or denied.status != 403:
                sys.exit(f"request_fuel: {module.name} misbehaves: allowed -> {allowed.status} "
                         f"x-filter={allowed.headers.get('x-filter')}, denied -> {denied.status}")
    callbacks = {name: {"per_call": fuel[name] // calls[name], "calls_per_pair": calls[name] / pairs,
                        "per_pair": fuel[name] // pairs}
                 for name in sorted(fuel, key=lambda n: -fuel[n])}
    return {"module": str(module), "size": module.stat().st_size,
            "per_pair": sum(fuel.values()) // pairs, "callbacks": callbacks}


def builders(before: str | None) -> dict[str, Callable[[], Path]]:
    chosen: dict[str, Callable[[], Path]] = {}
    if before:
        chosen["python_before"] = lambda: ef.build_python_at(before)
    chosen["python"] = ef.build_python
    chosen["micropython"] = ef.build_micropython
    chosen["assemblyscript"] = ef.build_assemblyscript
    chosen["c"] = ef.build_c
    return chosen


def _ratio(value: float) -> str:
    return f"{value:.1f}" if value >= 0.1 else f"{value:.3f}"


def _number(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def markdown(results: dict[str, Any]) -> str:
    variants = [v for v in VARIANTS if v in results["variants"]]
    meta = results["meta"]
    heads = [LABELS[v] + (f" ({meta['python_before_from']})" if v == "python_before" else "")
             for v in variants]
    names: list[str] = []
    for variant in variants:
        for name in results["variants"][variant]["callbacks"]:
            if name not in names:
                names.append(name)

    def cell(variant: str, name: str) -> str:
        callback = results["variants"][variant]["callbacks"].get(name)
        return "–" if callback is None else f"{callback['per_call']:,} ×{callback['calls_per_pair']:g}"

    lines = [
        START,
        "## Wasm instructions per request (`benchmarks/request_fuel.py`)",
        "",
        f"{meta['date']}, commit {meta['git_commit']}{' + working tree' if meta['dirty'] else ''}, "
        f"wasmtime fuel (one unit per wasm instruction executed), {meta['pairs']} pairs after a warm-up. "
        "A pair is one allowed request (upstream 200, `x-filter` added) and one denied one "
        "(403 local reply); the emulator's own work costs no fuel. Deterministic: the same modules "
        "give the same numbers, so this is the measure of the filter's CPU per request that does "
        "not wander with the machine (Envoy's CPU per request: the envoy-filters section).",
        "",
        "| per pair | " + " | ".join(heads) + " |",
        "|---|" + "---:|" * len(variants),
        "| **total** | " + " | ".join(f"**{_number(results['variants'][v]['per_pair'])}**"
                                     for v in variants) + " |",
    ]
    if "assemblyscript" in variants:
        base = results["variants"]["assemblyscript"]["per_pair"]
        lines.append("| × AssemblyScript | " + " | ".join(
            _ratio(results['variants'][v]['per_pair'] / base) for v in variants) + " |")
    lines += ["", "Per callback: instructions per call × calls per pair.", "",
              "| callback | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(variants)]
    for name in names:
        lines.append(f"| `{name}` | " + " | ".join(cell(v, name) for v in variants) + " |")
    lines += ["", "Where the Python filter's instructions went: in the C bridge, a callback the "
              "filter's class leaves at its default is answered without Python "
              "(`proxywasm.dispatcher.ANSWERED_IN_C`), an overridden one goes straight to the "
              "context's method (`CALLED_DIRECTLY`) and an HTTP stream's context is created "
              "without the dispatcher frame (`CONTEXT_CREATE_FUNCTION`); in the SDK, enum "
              "values are plain ints, header names and values reach the C hostcalls as str "
              "(`_host.raw_takes_str`) and the per-request header methods call the raw "
              "interface in place. What is left is CPython's own cost per call: a Python call "
              "is ~1,000 instructions, creating the context object ~4,500. The MicroPython build "
              "answers the same callbacks the same way (its reactor.c); what is left there is "
              "MicroPython's own cost per operation: a Python call ~1,500 instructions, loading a "
              "method ~1,000-1,500, a builtin call ~700, creating the context object ~7,000.", "",
              f"`{docs_section.regenerating(_command(meta))}`; machine-readable: "
              "benchmarks/results/request_fuel.json.", END]
    return "\n".join(lines)


def _command(meta: dict[str, Any]) -> str:
    """The command that measured `meta`'s run (recorded since it had --write; rebuilt before)."""
    if "command" in meta:
        return meta["command"]
    before = (meta.get("python_before_from") or "").removeprefix("commit ")
    return (".venv/bin/python benchmarks/request_fuel.py"
            + (f" --python-before {before}" if before else "") + f" --pairs {meta['pairs']}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python-before", default="HEAD", metavar="REV",
                        help="also measure deny_python.py as commit REV builds it (default HEAD; "
                             "'' for none)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated subset of " + ", ".join(VARIANTS) + " (default: all)")
    parser.add_argument("--pairs", type=int, default=100, help="measured request pairs (default 100)")
    parser.add_argument("--render", type=Path, default=None, metavar="RESULTS_JSON",
                        help="print (with --write: rewrite) the section from an earlier results JSON")
    parser.add_argument("--write", action="store_true",
                        help="also write the results JSON and the docs/benchmarks.md section (default: print only)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        text = markdown(json.loads(args.render.read_text()))
        print(text)
        if args.write:
            docs_section.write(START, END, text)
        return 0
    variants: dict[str, Any] = {}
    wanted = set(args.variants.split(","))
    for variant, build in builders(args.python_before or None).items():
        if variant not in wanted:
            continue
        variants[variant] = measure(build(), args.pairs)
        print(f"{LABELS[variant]:16s} {variants[variant]['per_pair']:>10,} per pair", file=sys.stderr)
    dirty = bool(ef.subprocess.run(["git", "-C", str(ef.ROOT), "status", "--porcelain", "--",
                                    "sdk", "compiler", "toolchains"],
                                   capture_output=True, text=True).stdout.strip())
    results = {
        "meta": {"command": " ".join([".venv/bin/python benchmarks/request_fuel.py",
                                      *(sys.argv[1:] if argv is None else argv)]),
                 "date": dt.date.today().isoformat(), "pairs": args.pairs, "dirty": dirty,
                 "git_commit": ef.short_commit("HEAD"),
                 "python_before_from": (ef.describe_commit(args.python_before)
                                        if args.python_before else None)},
        "variants": variants,
    }
    text = markdown(results)
    print(text)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(RESULTS, (json.dumps(results, indent=2) + "\n").encode())
        docs_section.write(START, END, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
