"""Issue 7's levers on the weight of a Python filter, each measured side by side in one run.

    .venv/bin/python benchmarks/weight_levers.py --write          # 3 rounds, the default levers; docs
    .venv/bin/python benchmarks/weight_levers.py --rounds 5 --optimize --write   # + wasm-opt -Oz (minutes)
    .venv/bin/python benchmarks/weight_levers.py                  # print, leave docs alone

Every variant is benchmarks/filters/deny_python.py built by `build_python_filter` with one
option changed: `full interpreter` is the default before this issue's compiler lever (CPython's
parser and compiler linked), `default` is what `proxywasm build` writes today, the others add
one lever on top of the default. `no filter` is the same Envoy without the wasm filter.
Each round starts every variant fresh, in a random order (Envoy 1.40 `--concurrency 1`,
127.0.0.1, direct response, the bootstrap of benchmarks/envoy_filters.py), checks both filter
paths, sends 50 more requests, and reads: time to ready (process start until LIVE and the
listener accepts), Envoy CPU time until ready, RSS. With `--write`, medians over rounds go to the
`weight-levers` section of docs/benchmarks.md with a chart (docs/benchmarks-weight-levers.png);
every number to benchmarks/results/weight_levers.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import docs_section
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from envoy_filters import (FILTERS, BenchEnvoy, build_c, check_behaviour, machine_info,  # noqa: E402
                           TARGET_READY_S, TARGET_RSS_OVER_NONE, TARGET_SIZE)

from proxywasm_build.wasm.metadata_section import custom_section  # noqa: E402
from proxywasm_build.backends.cpython import build_python_filter  # noqa: E402
from proxywasm_build.cache import atomic_write  # noqa: E402
from proxywasm_build.wasm.reader import read_module  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "benchmarks-weight-levers.png"
RESULTS = ROOT / "benchmarks" / "results" / "weight_levers.json"
START, END = "<!-- weight-levers:start -->", "<!-- weight-levers:end -->"
MB = 1024 * 1024

#: variant -> (label, build options). `default` is `proxywasm build` as it is.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "full": ("before: full interpreter (parser + compiler linked)", {"compiler": True, "all_accelerators": True}),
    "no_compiler": ("no parser/compiler", {"all_accelerators": True}),
    "default": ("default: no parser/compiler, no `_datetime`", {}),
    "no_names": ("default + no name section", {"keep_names": False}),
}
#: The C filter, and the same with 5 MB of custom section: what module bytes alone cost in RSS.
PROBES = {"c": ("C filter (zig)", 0), "c_pad5": ("C filter + 5 MB custom section", 5_000_000)}
OPTIONAL = {"optimize": ("default + wasm-opt -Oz", {"optimize": True})}


def build_variant(options: dict[str, Any], output: Path) -> tuple[Path, dict[str, Any]]:
    report: dict[str, Any] = {}
    started = time.perf_counter()
    build_python_filter(FILTERS / "deny_python.py", output, report=report, **options)
    report["build_seconds"] = round(time.perf_counter() - started, 2)
    return output, report


def static_facts(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    info = read_module(data)
    memory = info.memories[0] if info.memories else None
    initial_pages = getattr(memory, "initial", None) if memory is not None else None
    if initial_pages is None and memory is not None and isinstance(memory, (tuple, list)):
        initial_pages = memory[0]
    return {
        "size": len(data),
        "gzip": len(gzip.compress(data, 9)),
        "code": info.code_size,
        "data": info.section_size("data") if callable(getattr(info, "section_size", None)) else None,
        "names": len(info.custom_section("name") or b"") if callable(getattr(info, "custom_section", None)) else None,
        "initial_pages": initial_pages,
        "vm_start_ms": vm_start_ms(path),
    }


def vm_start_ms(path: Path, starts: int = 30) -> float | None:
    """Median ms to start one VM in wasmtime, the module compiled once: instantiate,
    `_initialize` if exported, `proxy_on_context_create(1, 0)`, `proxy_on_vm_start(1, 0)`;
    every `env` hostcall answers 0 (OK). None for modules without `proxy_on_vm_start`."""
    import wasmtime

    engine = wasmtime.Engine()
    module = wasmtime.Module.from_file(engine, str(path))
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    for imp in module.imports:
        if imp.module == "env" and isinstance(imp.type, wasmtime.FuncType):
            returns = len(imp.type.results)
            linker.define_func("env", imp.name, imp.type, lambda *args, _r=returns: 0 if _r else None)
    times = []
    for _ in range(starts):
        store = wasmtime.Store(engine)
        store.set_wasi(wasmtime.WasiConfig())
        started = time.perf_counter()
        exports = linker.instantiate(store, module).exports(store)
        if "proxy_on_vm_start" not in exports:
            return None
        if "_initialize" in exports:
            exports["_initialize"](store)
        exports["proxy_on_context_create"](store, 1, 0)
        exports["proxy_on_vm_start"](store, 1, 0)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def requests_after_start(envoy: BenchEnvoy, count: int = 50) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=10)
    try:
        for i in range(count):
            conn.request("GET", "/", headers={"x-deny": "1"} if i % 2 else {})
            conn.getresponse().read()
    finally:
        conn.close()


def build_probe(padding: int, output: Path) -> Path:
    import random as _random

    filler = _random.Random(7).randbytes(padding)   # incompressible, reproducible
    output.write_bytes(build_c().read_bytes() + (custom_section("padding", filler) if padding else b""))
    return output


def measure(module: Path | None, variant: str) -> dict[str, Any]:
    with BenchEnvoy(module) as envoy:
        ready = envoy.start()
        check_behaviour(envoy, "none" if module is None else ("c" if variant in PROBES else "python"))
        requests_after_start(envoy)
        return {"ready_s": ready, "ready_cpu_s": envoy.ready_cpu_s, "rss": envoy.rss_bytes()}


def median(samples: list[dict[str, Any]], key: str) -> float:
    return statistics.median(s[key] for s in samples)


def vm_start_text(ms: float | None) -> str:
    return "–" if ms is None else f"{ms:.2f} ms"


def section(results: dict[str, Any]) -> str:
    m = results["machine"]
    rows = results["variants"]
    none_rss = results["none"]["rss_median"]
    full = rows["full"]
    out = [START, "## Weight levers for a Python filter (issue 7)", "",
           f"`{docs_section.regenerating(results['command'])}`", "",
           f"{results['date']} on {m['nproc']} CPUs ({m['cpu_model']}), Envoy {m['envoy']}, commit "
           f"{m['git_commit']}; load average {results['load'][0]:.1f} at start and "
           f"{results['load'][1]:.1f} at the end. {results['rounds']} rounds; each starts every "
           "variant fresh in a random order (`--concurrency 1`, direct response, both filter paths "
           "checked, 50 more requests, then RSS). The filter is benchmarks/filters/deny_python.py "
           "built by `build_python_filter`: the first row is the build before this issue's levers "
           "(parser and compiler linked, every accelerator), then one lever at a time, then options "
           "on top of the default that are not the default. The two C rows are the probe of what "
           "module bytes alone cost: the C filter, and the same module with 5 MB of custom section "
           "that nothing reads. Medians over rounds (ready-time spread: the JSON and the chart). "
           "VM start: median of 30 starts in wasmtime, the module compiled once (`vm_start_ms`)."
           + (f" {results['note']}" if results.get("note") else ""), "",
           "| build | module | gzip | code | data | name section | ready (median, min) | ready / before (per round) | CPU until ready | RSS | RSS over no filter | VM start in wasmtime |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def paired_ratio(row: dict[str, Any]) -> str:
        # samples are in round order, so index i of two variants shares round i's load
        pairs = [a["ready_s"] / b["ready_s"] for a, b in zip(row["samples"], full["samples"])]
        faster = sum(1 for r in pairs if r < 1)
        return f"{statistics.median(pairs):.2f}× ({faster}/{len(pairs)} faster)"


    def size(n: float | None) -> str:
        n = n or 0
        return f"{n / 1e6:.2f} MB" if n >= 100_000 else f"{n / 1e3:.1f} KB"

    for name, row in rows.items():
        s = row["static"]
        out.append(
            f"| {row['label']} | {size(s['size'])} | {size(s['gzip'])} | "
            f"{size(s['code'])} | {size(s['data'])} | {(s['names'] or 0) / 1e3:.0f} KB | "
            f"{row['ready_median']:.2f} s, {min(x['ready_s'] for x in row['samples']):.2f} s | "
            f"{paired_ratio(row)} | {row['ready_cpu_median']:.2f} s | "
            f"{row['rss_median'] / MB:.0f} MB | +{(row['rss_median'] - none_rss) / MB:.0f} MB | "
            f"{vm_start_text(s.get('vm_start_ms'))} |")
    out.append(f"| no filter | – | – | – | – | – | {results['none']['ready_median']:.2f} s | – | "
               f"{results['none']['ready_cpu_median']:.2f} s | {none_rss / MB:.0f} MB | – | – |")
    d = rows["default"]
    rss_over = d["rss_median"] - none_rss

    def verdict(value: float, target: float) -> str:
        return "yes" if value <= target else f"**no** ({value / target:.1f}× the target)"

    out += ["", "| issue 7 target | full interpreter | default now | met |", "|---|---:|---:|:---:|",
            f"| module ≤ 2.5 MB raw | {full['static']['size'] / 1e6:.2f} MB | "
            f"{d['static']['size'] / 1e6:.2f} MB | {verdict(d['static']['size'], TARGET_SIZE)} |",
            f"| Envoy ready ≤ 1.0 s | {full['ready_median']:.2f} s | {d['ready_median']:.2f} s | "
            f"{verdict(d['ready_median'], TARGET_READY_S)} |",
            f"| RSS ≤ +40 MB over no filter | +{(full['rss_median'] - none_rss) / MB:.0f} MB | "
            f"+{rss_over / MB:.0f} MB | {verdict(rss_over, TARGET_RSS_OVER_NONE)} |",
            f"| Python start per VM ≤ 1 ms (wasmtime) | {vm_start_text(full['static'].get('vm_start_ms'))} | "
            f"{vm_start_text(d['static'].get('vm_start_ms'))} | "
            f"{verdict(d['static']['vm_start_ms'], 1.0) if d['static'].get('vm_start_ms') is not None else '–'} |",
            ""]
    if "c" in rows and "c_pad5" in rows:
        pad_cost = (rows["c_pad5"]["rss_median"] - rows["c"]["rss_median"]) / MB
        out += [f"**Reading.** The default takes {1 - d['static']['code'] / full['static']['code']:.0%} of the "
                f"code out and Envoy's CPU time until ready fell by "
                f"{1 - d['ready_cpu_median'] / full['ready_cpu_median']:.0%}; wall-clock ready times on "
                "this shared machine spread widely, so the per-round ratio column compares variants "
                "that ran under the same load. RSS over no filter fell from "
                f"+{(full['rss_median'] - none_rss) / MB:.0f} to +{(d['rss_median'] - none_rss) / MB:.0f} MB. "
                f"Module bytes alone are expensive: 5 MB that nothing reads cost {pad_cost:+.0f} MB of "
                "RSS (the C probe rows), so the data section counts as much as the code; the "
                "rest is V8's compilation and the Python VMs' linear memory (docs/build.md, "
                "\"Memory\"). Per-VM start in wasmtime, CPU per request and the extra-worker cost are "
                "in docs/build.md and the envoy-filters section above.", ""]
    out += ["![module size, code, ready time and RSS per lever](benchmarks-weight-levers.png)", "",
            "Machine-readable: benchmarks/results/weight_levers.json (every round). What each lever "
            "is and why: docs/build.md.", END]
    return "\n".join(out)


def write_section(text: str, path: Path = DOCS) -> None:
    """Replace this benchmark's section of docs/benchmarks.md, leaving every other one alone."""
    docs_section.write(START, END, text, path)


def plot(results: dict[str, Any], path: Path = PLOT) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["variants"]
    labels = [name.replace("_", " ") for name in rows]
    none_rss = results["none"]["rss_median"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    x = range(len(rows))
    sizes = [r["static"]["size"] / 1e6 for r in rows.values()]
    code = [r["static"]["code"] / 1e6 for r in rows.values()]
    axes[0].bar([i - 0.2 for i in x], sizes, width=0.4, label="module")
    axes[0].bar([i + 0.2 for i in x], code, width=0.4, label="code section")
    axes[0].axhline(TARGET_SIZE / 1e6, color="red", linestyle="--", label="target 2.5 MB")
    axes[0].set_ylabel("MB")
    axes[0].legend(fontsize=8)
    axes[0].set_title("size")
    for ax, key, title, unit, scale, target in (
            (axes[1], "ready", "Envoy time to ready", "s", 1.0, TARGET_READY_S),
            (axes[2], "rss", "Envoy RSS over no filter", "MB", 1 / MB, TARGET_RSS_OVER_NONE / MB)):
        values = [[(s[key + "_s"] if key == "ready" else s["rss"] - none_rss) * scale for s in r["samples"]]
                  for r in rows.values()]
        ax.boxplot(values, tick_labels=labels, showfliers=True)
        ax.axhline(target, color="red", linestyle="--", label=f"target {target:g} {unit}")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.legend(fontsize=8)
    axes[0].set_xticks(list(x))
    axes[0].set_xticklabels(labels)
    for ax in axes:
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    fig.suptitle(f"deny_python.py, Envoy {results['machine']['envoy']} --concurrency 1, "
                 f"median of {results['rounds']} rounds")
    fig.tight_layout()
    with tempfile.NamedTemporaryFile(suffix=".png", delete=False, dir=path.parent) as tmp:
        fig.savefig(tmp.name, dpi=110)
    os.replace(tmp.name, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--optimize", action="store_true", help="add the wasm-opt -Oz variant (minutes)")
    parser.add_argument("--write", action="store_true",
                        help="also write docs/benchmarks.md, the chart and the results JSON (default: print only)")
    parser.add_argument("--from-json", type=Path, help="the section and chart from a results file (written with --write)")
    args = parser.parse_args(argv)
    if args.from_json:
        results = json.loads(args.from_json.read_text())
        print(section(results))
        if args.write:
            write_section(section(results))
            plot(results)
        return 0
    command = ".venv/bin/python benchmarks/weight_levers.py" + (f" --rounds {args.rounds}" if args.rounds != 3 else "") \
        + (" --optimize" if args.optimize else "")
    variants = dict(VARIANTS, **(OPTIONAL if args.optimize else {}))

    load_start = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="weight-levers-"))
    modules: dict[str, Path] = {}
    rows: dict[str, Any] = {}
    for name, (label, options) in variants.items():
        path, report = build_variant(options, workdir / f"{name}.wasm")
        modules[name] = path
        rows[name] = {"label": label, "options": options, "build": report,
                      "static": static_facts(path), "samples": []}
        print(f"built {name}: {rows[name]['static']['size'] / 1e6:.2f} MB, code "
              f"{rows[name]['static']['code'] / 1e6:.2f} MB, compiler linked: {report.get('compiler')}",
              file=sys.stderr)
    for name, (label, padding) in PROBES.items():
        path = build_probe(padding, workdir / f"{name}.wasm")
        modules[name] = path
        rows[name] = {"label": label, "options": {"padding": padding}, "build": {},
                      "static": static_facts(path), "samples": []}
    none_samples: list[dict[str, Any]] = []
    for round_no in range(args.rounds):
        order: list[str | None] = [*rows, None]
        random.shuffle(order)
        for name in order:
            sample = measure(modules[name] if name else None, name or "none")
            (rows[name]["samples"] if name else none_samples).append(sample)
            print(f"round {round_no + 1}: {name or 'no filter'}: ready {sample['ready_s']:.2f} s, "
                  f"RSS {sample['rss'] / MB:.0f} MB", file=sys.stderr)
    for row in rows.values():
        row["ready_median"] = median(row["samples"], "ready_s")
        row["ready_cpu_median"] = median(row["samples"], "ready_cpu_s")
        row["rss_median"] = median(row["samples"], "rss")
    results = {
        "command": command, "rounds": args.rounds, "machine": machine_info(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load": [load_start, os.getloadavg()[0]], "variants": rows,
        "none": {"samples": none_samples, "ready_median": median(none_samples, "ready_s"),
                 "ready_cpu_median": median(none_samples, "ready_cpu_s"),
                 "rss_median": median(none_samples, "rss")},
    }
    text = section(results)
    print(text)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(RESULTS, json.dumps(results, indent=1, default=str).encode())
        write_section(text)
        plot(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
