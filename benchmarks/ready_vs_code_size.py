"""Envoy time to ready against the size of a module's code section (issue 7).

    .venv/bin/python benchmarks/ready_vs_code_size.py --write     # 8 sizes up to ~8 MB, 5 rounds; docs
    .venv/bin/python benchmarks/ready_vs_code_size.py --quick     # 5 sizes, 2 rounds
    .venv/bin/python benchmarks/ready_vs_code_size.py --no-python --rounds 3   # print only

Stock Envoy 1.40 (proxy-wasm-cpp-host with V8, Liftoff off) compiles a whole module with
TurboFan on the main thread before it goes LIVE, so time to ready should follow the code
section. This measures by how much: a series of C filters (benchmarks/filters/deny_c.c plus N
generated functions, each a distinct chain of integer mixing steps, all reachable through an
exported table so nothing is dropped), compiled with zig, plus the Python filter as
`proxywasm build` writes it (and, with `--python-commit REV`, as an earlier commit built it) as
points to compare with the line. Each round starts every module fresh in a random order
(`--concurrency 1`, 127.0.0.1, direct response; both paths checked); the medians, a least-squares
line (ms per MB of code) and, with `--write`, docs/benchmarks-ready-vs-code.png go to the
`ready-vs-code` section of docs/benchmarks.md and benchmarks/results/ready_vs_code_size.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import docs_section
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from envoy_filters import (FILTERS, MB, BenchEnvoy, _cached, build_python,  # noqa: E402
                           build_python_at, check_behaviour, code_section_size, machine_info,
                           short_commit)

from proxywasm_build.cache import atomic_write, cache_dir  # noqa: E402
from proxywasm_build.wasm.leb128 import read_unsigned  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "benchmarks-ready-vs-code.png"
RESULTS = ROOT / "benchmarks" / "results" / "ready_vs_code_size.json"
START, END = "<!-- ready-vs-code:start -->", "<!-- ready-vs-code:end -->"

FULL_SERIES = (0, 100, 400, 1000, 2000, 4000, 8000)
QUICK_SERIES = (0, 1000, 4000)
STEPS_PER_FUNCTION = 24
#: Same code, few large functions (~50 KB each, like CPython's largest): does V8's cost per
#: byte depend on function size?
LARGE_SERIES = (10, 20, 40)
LARGE_STEPS = 2400



def function_body_sizes(data: bytes) -> list[int]:
    """The size of every function body in the code section."""
    from proxywasm_build.wasm.reader import read_module

    code = next((s for s in read_module(data).sections if s.kind == "code"), None)
    if code is None:
        return []
    count, pos = read_unsigned(data, code.offset)
    sizes = []
    for _ in range(count):
        size, pos = read_unsigned(data, pos)
        sizes.append(size)
        pos += size
    return sizes


def ballast_source(functions: int, steps: int = STEPS_PER_FUNCTION) -> str:
    """C source of `functions` distinct integer-mixing functions behind an exported table."""
    rng = random.Random(functions * 7919 + steps)
    out = ["#include <stdint.h>", ""]
    for index in range(functions):
        body = []
        for _ in range(steps):
            multiplier, addend, shift = rng.getrandbits(32) | 1, rng.getrandbits(32), rng.randint(3, 29)
            body.append(f"  x = x * {multiplier}u + {addend}u; x ^= x >> {shift};")
        out += [f"__attribute__((noinline)) static uint32_t ballast_{index}(uint32_t x) {{",
                *body, "  return x;", "}"]
    entries = ", ".join(f"ballast_{i}" for i in range(functions)) or "0"
    out += ["", f"static uint32_t (*const ballast_table[])(uint32_t) = {{{entries}}};",
            '__attribute__((export_name("ballast_run")))',
            "uint32_t ballast_run(uint32_t index, uint32_t x) {",
            f"  return {'ballast_table[index % ' + str(functions) + '](x)' if functions else 'x'};",
            "}", ""]
    return "\n".join(out)


def build_c_series(functions: int, steps: int = STEPS_PER_FUNCTION) -> Path:
    """deny_c.c plus `functions` generated functions, as one module (cached)."""
    from proxywasm_build.languages.c import compile_c_module

    deny = FILTERS / "deny_c.c"
    source = ballast_source(functions, steps)
    tag = f"{functions}" if steps == STEPS_PER_FUNCTION else f"{functions}x{steps}"
    ballast = cache_dir() / "benchmarks" / "sources" / f"ballast{tag}.c"
    if not ballast.is_file() or ballast.read_text() != source:
        atomic_write(ballast, source.encode())
    inputs = [deny, ballast, ROOT / "compiler" / "proxywasm_build" / "languages" / "c.py"]

    def make(output: Path) -> Path:
        return compile_c_module([deny, ballast], output)

    return _cached(f"deny_c-ballast{tag}", inputs, make)


def fit_line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least squares y = slope * x + intercept."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / var if var else 0.0
    return slope, mean_y - slope * mean_x


def section(results: dict[str, Any]) -> str:
    meta, fit = results["meta"], results["fit"]
    lines = ["| module | code section | module size | functions (largest) | Envoy time to ready (median) | min – max | Envoy CPU until ready | predicted by the small-function line |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for point in results["points"]:
        predicted = (fit["ms_per_mb"] * point["code_size"] / MB + fit["intercept_ms"]) if point["code_size"] else None
        lines.append(
            f"| {point['label']} | {point['code_size'] / 1024:,.0f} KB | {point['size'] / 1024:,.0f} KB | "
            f"{point['functions']:,} ({point.get('largest_function', 0) / 1024:,.1f} KB) | {point['ready_ms']:,.0f} ms | "
            f"{min(point['ready_ms_rounds']):,.0f} – {max(point['ready_ms_rounds']):,.0f} ms | "
            f"{point['ready_cpu_ms']:,.0f} ms | "
            + (f"{predicted:,.0f} ms" if predicted is not None and point["kind"] != "c" else "")
            + " |")
    python_sentences = []
    for point in results["points"]:
        if point["kind"] != "python":
            continue
        predicted = fit["ms_per_mb"] * point["code_size"] / MB + fit["intercept_ms"]
        python_sentences.append(
            f"{point['label']}: {point['code_size'] / MB:.2f} MB of code, ready in "
            f"{point['ready_ms']:,.0f} ms where the C line predicts {predicted:,.0f} ms")
    python_text = ("; ".join(python_sentences) + ".") if python_sentences else ""
    if fit.get("large_ms_per_mb") is not None:
        python_text += (f" The same code in few large functions ({LARGE_STEPS} steps, about "
                        f"{max(p.get('largest_function', 0) for p in results['points'] if p['kind'] == 'c-large') / 1024:.0f} KB each): "
                        f"**{fit['large_ms_per_mb']:,.0f} ms per MB** (intercept {fit['large_intercept_ms']:,.0f} ms).")
    target_mb = (1000 - fit["intercept_ms"]) / fit["ms_per_mb"] if fit["ms_per_mb"] > 0 else None
    python_fit_text = ""
    if fit.get("python_ms_per_mb"):
        python_target = (1000 - fit["python_intercept_ms"]) / fit["python_ms_per_mb"]
        python_fit_text = (
            f"\n\n**CPython's own code is not like the C series.** A line through the Python points "
            f"({len({round(p['code_size'] / MB, 2) for p in results['points'] if p['kind'] == 'python'})} "
            "code sizes: builds that differ in how much of CPython they link): "
            f"**{fit['python_ms_per_mb']:,.0f} ms of time to ready per MB of code** "
            f"(intercept {fit['python_intercept_ms']:,.0f} ms), "
            f"**{fit['python_cpu_ms_per_mb']:,.0f} ms of Envoy CPU per MB** (intercept "
            f"{fit['python_cpu_intercept_ms']:,.0f} ms) — about "
            f"{fit['python_cpu_ms_per_mb'] / max(fit['cpu_ms_per_mb'], 1):.0f}× the C series' cost per byte. "
            "Envoy's debug log puts that time between \"Base Wasm created\" and the first "
            "\"Thread-Local Wasm created\" (the module's compilation); each VM clone and its "
            "`on_vm_start`/`on_configure` take milliseconds, and the module without a snapshot "
            "(same code, less data) needs about the same CPU, so it is compilation of the code, not "
            "the data or the snapshot. Every MB of CPython code removed saves about "
            f"{fit['python_ms_per_mb'] / 1000:.1f} s of Envoy start-up here; if the line held that far, "
            f"the 1.0 s target would need the code section below about {max(python_target, 0):.2f} MB.")

    return f"""{START}
## Envoy time to ready against code-section size (issue 7)

`{docs_section.regenerating(meta['command'])}`

{meta['date']} on {meta['nproc']} CPUs ({meta['cpu_model']}), Envoy {meta['envoy']}, commit
{meta['git_commit']}; load average {meta['load_start']:.1f} at start and {meta['load_end']:.1f}
at the end. {meta['rounds']} rounds, each starting every module fresh in a random order
(`--concurrency 1`, direct response, both filter paths checked after each start). Time to
ready: process start until admin `/ready` says LIVE and the listener accepts. The C series is
benchmarks/filters/deny_c.c plus N generated functions of {STEPS_PER_FUNCTION} integer-mixing
steps each (distinct constants, all reachable from an exported table), compiled by zig `-Os`.
No filter at all: **{results['none_ready_ms']:,.0f} ms**.

{chr(10).join(lines)}

Least-squares line over the C series: **{fit['ms_per_mb']:,.0f} ms per MB of code section**
(intercept {fit['intercept_ms']:,.0f} ms, r² {fit['r2']:.2f}); in Envoy CPU time until ready,
{fit['cpu_ms_per_mb']:,.0f} ms per MB (intercept {fit['cpu_intercept_ms']:,.0f} ms). For code like this
every megabyte costs about that much start-up, on every Envoy start and every new module or
VM configuration. {python_text}
{f"At the C series' slope a module reaches the 1.0 s ready target below about {target_mb:.2f} MB of code." if target_mb else ""}{python_fit_text}

![Envoy time to ready against code-section size](benchmarks-ready-vs-code.png)

Machine-readable: benchmarks/results/ready_vs_code_size.json.
{END}"""


def write_section(text: str, path: Path = DOCS) -> None:
    """Replace this benchmark's section of docs/benchmarks.md, leaving every other one alone."""
    docs_section.write(START, END, text, path)


def plot(results: dict[str, Any], path: Path = PLOT) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fit = results["fit"]
    c_points = [p for p in results["points"] if p["kind"] == "c"]
    py_points = [p for p in results["points"] if p["kind"] == "python"]
    large_points = [p for p in results["points"] if p["kind"] == "c-large"]
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.8))
    largest = max(p["code_size"] for p in results["points"]) / MB
    xs = [0, largest * 1.05]

    def draw(ax, annotate: bool) -> None:
        for points, colour, marker, label in (
                (c_points, "#4c72b0", "o", "C filter + N small functions (~0.5 KB)"),
                (large_points, "#55a868", "^", "C filter + N large functions (~50 KB)"),
                (py_points, "#dd8452", "s", "Python filter (proxywasm build)")):
            for p in points:
                x = p["code_size"] / MB
                low, high = min(p["ready_ms_rounds"]), max(p["ready_ms_rounds"])
                ax.errorbar([x], [p["ready_ms"]], yerr=[[p["ready_ms"] - low], [high - p["ready_ms"]]],
                            fmt=marker, color=colour, capsize=4, label=label if p is points[0] else None)
                if annotate and points is py_points:
                    ax.annotate(p["label"].replace("Python filter ", ""), (x, p["ready_ms"]),
                                xytext=(6, -12), textcoords="offset points", fontsize=7, color=colour)
        for key, intercept, colour, text in (
                ("ms_per_mb", "intercept_ms", "#4c72b0", "small-function fit"),
                ("large_ms_per_mb", "large_intercept_ms", "#55a868", "large-function fit"),
                ("python_ms_per_mb", "python_intercept_ms", "#dd8452", "fit through the Python points")):
            if fit.get(key) is not None:
                ax.plot(xs, [fit[key] * x + fit[intercept] for x in xs], "--", color=colour, alpha=0.6,
                        label=f"{text}: {fit[key]:,.0f} ms per MB")
        ax.axhline(results["none_ready_ms"], color="#9e9e9e", linestyle=":",
                   label=f"no filter: {results['none_ready_ms']:,.0f} ms")
        ax.axhline(1000, color="#c44e52", linestyle="-.", alpha=0.5, label="issue 7 target: 1.0 s")
        ax.set_xlabel("code section (MB)")
        ax.set_ylabel("Envoy time to ready (ms), median; bars min–max")
        ax.grid(alpha=0.3)

    draw(axes[0], annotate=True)
    axes[0].set_title("all modules", fontsize=10)
    axes[0].legend(fontsize=7, loc="upper left")
    draw(axes[1], annotate=False)
    c_max = max([max(p["ready_ms_rounds"]) for p in c_points + large_points] + [1000])
    axes[1].set_ylim(0, c_max * 1.15)
    axes[1].set_title("zoom on the C series", fontsize=10)
    meta = results["meta"]
    fig.suptitle(f"Envoy {meta['envoy']} (V8) time to ready against code-section size, medians of "
                 f"{meta['rounds']} interleaved rounds ({meta['date'][:10]})", fontsize=11)
    fig.tight_layout()
    scratch = path.with_name(f".{path.name}.tmp{os.getpid()}.png")
    fig.savefig(scratch, dpi=110)
    plt.close(fig)
    os.replace(scratch, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", default=None,
                        help=f"comma-separated generated-function counts (default {','.join(map(str, FULL_SERIES))})")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 5, quick 2)")
    parser.add_argument("--quick", action="store_true",
                        help=f"counts {','.join(map(str, QUICK_SERIES))}, 2 rounds")
    parser.add_argument("--no-large", dest="large", action="store_false",
                        help=f"leave out the series of few large functions ({LARGE_STEPS} steps each)")
    parser.add_argument("--no-python", dest="python", action="store_false",
                        help="leave out the Python filter built from the working tree")
    parser.add_argument("--python-commit", action="append", metavar="REV",
                        help="also plot the Python filter as commit REV built it (repeatable)")
    parser.add_argument("--python-no-snapshot", action="append", metavar="REV",
                        help="also plot the Python filter as commit REV builds it with --no-snapshot "
                             "(same code, less data: separates compile from instantiation)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--render", type=Path, default=None, metavar="RESULTS_JSON",
                        help="measure nothing: redraw the plot and the docs section from a results JSON")
    parser.add_argument("--write", action="store_true",
                        help="also write docs/benchmarks.md, the plot and the results JSON (default: print only)")
    args = parser.parse_args(argv)
    if args.render:
        results = json.loads(args.render.read_text())
        if args.write:
            plot(results)
            write_section(section(results))
        print(section(results))
        return 0
    series = [int(n) for n in args.functions.split(",")] if args.functions else \
        list(QUICK_SERIES if args.quick else FULL_SERIES)
    rounds = args.rounds or (2 if args.quick else 5)

    modules: list[dict[str, Any]] = []
    for functions in series:
        modules.append({"label": f"C + {functions:,} functions", "kind": "c", "path": build_c_series(functions)})
    if args.large:
        for functions in (LARGE_SERIES[-1:] if args.quick else LARGE_SERIES):
            modules.append({"label": f"C + {functions:,} large functions", "kind": "c-large",
                            "path": build_c_series(functions, LARGE_STEPS)})
    for commit in args.python_commit or ():
        modules.append({"label": f"Python filter at {short_commit(commit)}", "kind": "python",
                        "path": build_python_at(commit)})
    for commit in args.python_no_snapshot or ():
        modules.append({"label": f"Python filter at {short_commit(commit)}, no snapshot",
                        "kind": "python", "path": build_python_at(commit, snapshot=False)})
    if args.python:
        modules.append({"label": "Python filter (working tree)", "kind": "python", "path": build_python()})
    from proxywasm_build.wasm.reader import read_module

    for module in modules:
        data = module["path"].read_bytes()
        info = read_module(data)
        bodies = function_body_sizes(data)
        module.update(size=len(data), code_size=code_section_size(data),
                      functions=info.defined_functions, largest_function=max(bodies, default=0),
                      bytes_in_functions_over_10kb=sum(b for b in bodies if b > 10_000), ready_ms_rounds=[], ready_cpu_ms_rounds=[])
    none_rounds: list[float] = []

    load_start = os.getloadavg()[0]
    started = time.monotonic()
    rng = random.Random(args.seed)
    for index in range(rounds):
        order = list(range(len(modules))) + [-1]
        rng.shuffle(order)
        for i in order:
            module = modules[i] if i >= 0 else None
            with BenchEnvoy(module["path"] if module else None) as envoy:
                ready = envoy.start() * 1000
                ready_cpu = envoy.ready_cpu_s * 1000
                check_behaviour(envoy, ("python" if module["kind"] == "python" else "c") if module else "none")
            (module["ready_ms_rounds"] if module else none_rounds).append(ready)
            if module:
                module["ready_cpu_ms_rounds"].append(ready_cpu)
            print(f"round {index + 1}/{rounds}: {module['label'] if module else 'no filter':>28}: "
                  f"{(module['code_size'] / 1024 if module else 0):9,.0f} KB code, ready {ready:7,.0f} ms "
                  f"(CPU {ready_cpu:7,.0f} ms)",
                  file=sys.stderr)

    points = []
    for module in modules:
        points.append({key: (str(value) if isinstance(value, Path) else value) for key, value in module.items()}
                      | {"ready_ms": statistics.median(module["ready_ms_rounds"]),
                         "ready_cpu_ms": statistics.median(module["ready_cpu_ms_rounds"])})
    c_line = [(p["code_size"] / MB, p["ready_ms"]) for p in points if p["kind"] == "c"]
    slope, intercept = fit_line(c_line)
    cpu_slope, cpu_intercept = fit_line([(p["code_size"] / MB, p["ready_cpu_ms"])
                                         for p in points if p["kind"] == "c"])
    large = [(p["code_size"] / MB, p["ready_ms"]) for p in points if p["kind"] == "c-large"]
    large_slope, large_intercept = fit_line(large) if len(large) > 1 else (None, None)
    python_cpu = [(p["code_size"] / MB, p["ready_cpu_ms"]) for p in points if p["kind"] == "python"]
    python_wall = [(p["code_size"] / MB, p["ready_ms"]) for p in points if p["kind"] == "python"]
    distinct = len({round(x, 2) for x, _ in python_cpu}) > 1
    python_slope, python_intercept = fit_line(python_wall) if distinct else (None, None)
    python_cpu_slope, python_cpu_intercept = fit_line(python_cpu) if distinct else (None, None)
    mean_y = statistics.fmean(y for _, y in c_line)
    total = sum((y - mean_y) ** 2 for _, y in c_line)
    residual = sum((y - (slope * x + intercept)) ** 2 for x, y in c_line)
    command = ".venv/bin/python benchmarks/ready_vs_code_size.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    results = {
        "meta": {"command": command.strip(), "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 **machine_info(), "load_start": load_start, "load_end": os.getloadavg()[0],
                 "rounds": rounds, "seconds": round(time.monotonic() - started, 1)},
        "none_ready_ms": statistics.median(none_rounds), "none_ready_ms_rounds": none_rounds,
        "points": points,
        "fit": {"ms_per_mb": slope, "intercept_ms": intercept, "r2": 1 - residual / total if total else 1.0,
                "cpu_ms_per_mb": cpu_slope, "cpu_intercept_ms": cpu_intercept,
                "large_ms_per_mb": large_slope, "large_intercept_ms": large_intercept,
                "python_ms_per_mb": python_slope, "python_intercept_ms": python_intercept,
                "python_cpu_ms_per_mb": python_cpu_slope, "python_cpu_intercept_ms": python_cpu_intercept},
    }
    print(section(results))
    if args.write:
        atomic_write(RESULTS, (json.dumps(results, indent=1) + "\n").encode())
        plot(results)
        write_section(section(results))
        print(f"wrote {DOCS.relative_to(ROOT)} (ready-vs-code section), {PLOT.relative_to(ROOT)}, "
              f"{RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
