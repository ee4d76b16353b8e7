"""What the callback budget costs an ordinary request: wasm instructions and Envoy CPU, before/after.

    .venv/bin/python benchmarks/callback_budget.py                    # working tree vs main, print only
    .venv/bin/python benchmarks/callback_budget.py --before d408537 --rounds 5 --write

The benchmark filter (benchmarks/filters/deny_python.py: an allowed request and a denied one,
403) is built with each runtime by commit `--before` (no budget) and by the working tree: the
MicroPython build with its default budget, the CPython build as it ships (no budget unless asked)
and with `proxywasm.set_callback_budget(100)` added (the pending-call check on). For each module:
wasm instructions per (allowed + denied) pair in wasmtime (benchmarks/request_fuel.py's
measure: deterministic), and Envoy 1.40's CPU time per request under `wrk` for each path
(benchmarks/envoy_filters.py's BenchEnvoy and run_wrk: `--rounds` fresh Envoys per module, in
a random order; the median and the range). With `--write` the table goes to the
`callback-budget` section of docs/reliability.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import docs_section
import envoy_filters as ef
import request_fuel

from proxywasm_build.cache import cache_dir, locked

DOCS = ef.ROOT / "docs" / "reliability.md"
START, END = "<!-- callback-budget:start -->", "<!-- callback-budget:end -->"
SOURCE = ef.FILTERS / "deny_python.py"
BUDGET_ON = "\nproxywasm.set_callback_budget(100)\n"


def extract_commit(commit: str, scratch: str) -> None:
    """`commit`'s sdk/, compiler/ and toolchains/ (and templates/) into `scratch`, laid out as an
    install maps them: its own toolchains, not the editable install's, for a child Python with
    scratch/sdk and scratch/compiler first on sys.path."""
    archive = subprocess.run(["git", "-C", str(ef.ROOT), "archive", "--format=tar", commit,
                              "sdk", "compiler", "toolchains", "templates"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", scratch], input=archive.stdout, check=True)
    for name in ("toolchains", "templates"):
        (Path(scratch) / "compiler" / "proxywasm_build" / name).symlink_to(Path(scratch) / name)


def build_at(commit: str, runtime: str) -> Path:
    """deny_python.py built with `runtime` by the sdk/, compiler/ and toolchains/ of `commit`."""
    sha = subprocess.run(["git", "-C", str(ef.ROOT), "rev-parse", "--verify", f"{commit}^{{commit}}"],
                         capture_output=True, text=True)
    if sha.returncode != 0:
        sys.exit(f"callback_budget: {commit!r} is not a commit of this repository")
    output = cache_dir() / "benchmarks" / f"deny_{runtime}-own-toolchain-at-{sha.stdout.strip()[:12]}-{ef._digest([SOURCE])}.wasm"
    if output.is_file():
        return output
    with locked(f"bench-{output.stem}"), tempfile.TemporaryDirectory(prefix="bench-at-") as scratch:
        if output.is_file():
            return output
        extract_commit(sha.stdout.strip(), scratch)
        output.parent.mkdir(parents=True, exist_ok=True)
        program = (
            "import sys; from pathlib import Path\n"
            f"sys.path[:0] = [{scratch + '/sdk'!r}, {scratch + '/compiler'!r}]\n"
            "from proxywasm_build.backends import build_python\n"
            f"build_python(Path({str(SOURCE)!r}), Path({str(output)!r}), runtime={runtime!r})\n"
        )
        subprocess.run([sys.executable, "-c", program], check=True, cwd=scratch)
    return output


def build_now(runtime: str, budget_on: bool = False) -> Path:
    """deny_python.py (with the budget asked for in code when `budget_on`) by the working tree."""
    from proxywasm_build.backends import build_python

    source = SOURCE
    if budget_on:
        source = cache_dir() / "benchmarks" / "budget-source" / "deny_python.py"
        source.parent.mkdir(parents=True, exist_ok=True)
        text = SOURCE.read_text() + BUDGET_ON
        if not source.is_file() or source.read_text() != text:
            source.write_text(text)
    toolchain = "python" if runtime == "cpython" else "micropython"
    name = f"deny_{runtime}" + ("-budget" if budget_on else "")
    return ef._cached(name, ef._python_build_inputs(source, runtime, toolchain),
                      lambda out: build_python(source, out, runtime=runtime))


def variants(before: str) -> dict[str, tuple[str, Callable[[], Path]]]:
    """label -> (the x-filter value it answers with, how to build it)."""
    return {
        f"CPython at {before}": ("python", lambda: build_at(before, "cpython")),
        "CPython now (no budget unless asked)": ("python", lambda: build_now("cpython")),
        "CPython now, set_callback_budget(100)": ("python", lambda: build_now("cpython", True)),
        f"MicroPython at {before}": ("python", lambda: build_at(before, "micropython")),
        "MicroPython now (100 ms budget)": ("python", lambda: build_now("micropython")),
    }


def envoy_sample(module: Path, seconds: float, connections: int) -> dict[str, float]:
    with ef.BenchEnvoy(module) as envoy:
        envoy.start()
        ef.check_behaviour(envoy, "python")
        ef.run_wrk(envoy, 1.0, connections)
        sample = {}
        for path, headers in (("allowed", ()), ("denied", ("x-deny: 1",))):
            run = ef.run_wrk(envoy, seconds, connections, headers)
            if run.socket_errors:
                sys.exit(f"callback_budget: {run.socket_errors} socket errors\n{run.output}")
            sample[path] = run.cpu_us_per_request
        return sample


def measure(args: argparse.Namespace) -> dict[str, Any]:
    chosen = variants(args.before)
    modules = {label: build() for label, (_, build) in chosen.items()}
    results: dict[str, Any] = {label: {"fuel_per_pair": request_fuel.measure(module, args.pairs)["per_pair"],
                                       "envoy": []}
                               for label, module in modules.items()}
    for label, row in results.items():
        print(f"{label:40s} {row['fuel_per_pair']:>8,} instructions per pair", file=sys.stderr)
    order = list(modules)
    for round_number in range(args.rounds):
        random.shuffle(order)
        for label in order:
            sample = envoy_sample(modules[label], args.duration, args.connections)
            results[label]["envoy"].append(sample)
            print(f"round {round_number + 1} {label:40s} allowed {sample['allowed']:.1f} us, "
                  f"denied {sample['denied']:.1f} us", file=sys.stderr)
    return results


def _cpu_cell(samples: list[dict[str, float]], path: str) -> str:
    if not samples:
        return "–"
    values = [s[path] for s in samples]
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def markdown(results: dict[str, Any], command: str, rounds: int) -> str:
    lines = [START, "| module | wasm instructions per pair | Envoy CPU µs per allowed request | "
             "per denied request |", "|---|---:|---:|---:|"]
    for label, row in results.items():
        lines.append(f"| {label} | {row['fuel_per_pair']:,} | {_cpu_cell(row['envoy'], 'allowed')} | "
                     f"{_cpu_cell(row['envoy'], 'denied')} |")
    lines += ["", f"Envoy CPU: median (range) of {rounds} fresh Envoys per module, `wrk -t1 -c8`, "
              f"{time.strftime('%Y-%m-%d')}. `{docs_section.regenerating(command)}`", END]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", metavar="REV", help="the commit to compare with (default main)")
    parser.add_argument("--pairs", type=int, default=100, help="measured request pairs in wasmtime (default 100)")
    parser.add_argument("--rounds", type=int, default=3, help="fresh Envoys per module (default 3; 0: none)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of wrk per path (default 5)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument("--write", action="store_true", help="also write the docs/reliability.md section")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = measure(args)
    command = " ".join([".venv/bin/python benchmarks/callback_budget.py", *(sys.argv[1:] if argv is None else argv)])
    text = markdown(results, command.replace(" --write", ""), args.rounds)
    print(text)
    if args.write:
        docs_section.write(START, END, text, path=DOCS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
