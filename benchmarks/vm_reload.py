"""A leaking filter in real Envoy: exhaust the interpreter, let Envoy reload the VM, five times.

    .venv/bin/python benchmarks/vm_reload.py            # both runtimes, print only
    .venv/bin/python benchmarks/vm_reload.py --write    # and update docs/reliability.md

The filter is tests/data/leaking_filter.py: it keeps `--kib` KiB (default 100) per request and
answers "held N" itself. MicroPython runs it in its GC heap (`--micropython-heap`, default
4 MiB); CPython's linear memory is capped at `--cpython-memory` (default 64 MiB; the module
may grow to 1 GiB otherwise, the same path, only slower). Envoy runs with the default failure
policy (FAIL_RELOAD, backoff base 1 s). One client sends requests back to back (a new
connection each); for each of `--cycles` cycles the script counts the filter's 200s until the
first failure, then the failed requests and the time until a request that needs memory gets a
200 from a fresh VM again. Envoy's RSS is read from /proc after each cycle.
Results: benchmarks/results/vm_reload.json and the `vm-reload` section of docs/reliability.md.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import http.client
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import docs_section

from proxywasm_build.backends import build_python
from proxywasm_build.cache import atomic_write
from proxywasm_build.envoy.runner import LocalEnvoy
from proxywasm_build.wasm.memory_limit import with_memory_maximum

ROOT = Path(__file__).resolve().parent.parent
LEAKING = ROOT / "tests" / "data" / "leaking_filter.py"
RESULTS = ROOT / "benchmarks" / "results" / "vm_reload.json"
DOCS = ROOT / "docs" / "reliability.md"
START, END = "<!-- vm-reload:start -->", "<!-- vm-reload:end -->"
MIB = 1 << 20


def build(runtime: str, workdir: Path, heap: int, memory: int) -> Path:
    output = workdir / f"leaking-{runtime}.wasm"
    if runtime == "micropython":
        return Path(build_python(LEAKING, output, runtime=runtime, heap_size=heap))
    built = Path(build_python(LEAKING, output, runtime=runtime))
    built.write_bytes(with_memory_maximum(built.read_bytes(), memory))
    return built


def request(port: int) -> int | str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError as err:
        return type(err).__name__
    finally:
        conn.close()


def cycle(envoy: LocalEnvoy, limit: int = 100_000) -> dict[str, Any]:
    """Requests until the first failure, then until the filter answers 200 again."""
    served = 0
    started = time.monotonic()
    while (status := request(envoy.port)) == 200:
        served += 1
        if served > limit:
            raise SystemExit(f"the filter did not run out of memory in {limit} requests")
    exhausted_after = time.monotonic() - started
    failed_at = time.monotonic()
    failures = collections.Counter([str(status)])
    while (status := request(envoy.port)) != 200:
        failures[str(status)] += 1
    return {"served": served, "time_to_exhaust_s": round(exhausted_after, 3),
            "failed": sum(failures.values()), "failure_statuses": dict(failures),
            "recovery_s": round(time.monotonic() - failed_at, 3), "rss_mib": round(envoy.rss_bytes() / MIB, 1)}


def measure(runtime: str, module: Path, kib: int, cycles: int, backoff: float) -> dict[str, Any]:
    with LocalEnvoy(module=module, plugin_config=json.dumps({"kib": kib}).encode(), reload_backoff=backoff) as envoy:
        request(envoy.port)  # the worker's VM is made at the first request
        rss_start = round(envoy.rss_bytes() / MIB, 1)
        runs = [cycle(envoy) for _ in range(cycles)]
        traps = sum("failing the VM" in message for _, message in envoy.wasm_logs())
        pid_kept = envoy.running
    return {"runtime": runtime, "rss_start_mib": rss_start, "cycles": runs, "vm_failures_logged": traps,
            "same_envoy_process": pid_kept}


def _options(meta: dict[str, Any]) -> str:
    """The non-default options of the run, as the command line gave them."""
    backoff = meta.get("reload_backoff_s", 1.0)
    return f" --reload-backoff {backoff:g}" if backoff != 1.0 else ""


def render(data: dict[str, Any]) -> str:
    meta = data["meta"]
    lines = [START,
             f"Measured {meta['date']} on {meta['machine']}, Envoy 1.40, failure policy FAIL_RELOAD "
             f"(backoff base {meta['reload_backoff_s']:g} s), {meta['kib']} KiB kept per request, one client sending back to back. "
             f"Reproduce: `.venv/bin/python benchmarks/vm_reload.py{_options(meta)} --write`; "
             f"machine-readable: benchmarks/results/vm_reload.json.",
             "",
             "| runtime | memory | cycle | 200s until exhausted | failed requests (statuses) | "
             "time to a fresh VM | Envoy RSS after |",
             "|---|---|---|---|---|---|---|"]
    for run in data["runs"]:
        memory = meta["memory"][run["runtime"]]
        for index, one in enumerate(run["cycles"], 1):
            statuses = ", ".join(f"{count}×{status}" for status, count in one["failure_statuses"].items())
            lines.append(f"| {run['runtime']} | {memory} | {index} | {one['served']} | {one['failed']} ({statuses}) "
                         f"| {one['recovery_s']:.2f} s | {one['rss_mib']:.0f} MiB |")
    lines.append("")
    for run in data["runs"]:
        lines.append(f"- {run['runtime']}: RSS {run['rss_start_mib']:.0f} MiB after the first request, "
                     f"{run['cycles'][-1]['rss_mib']:.0f} MiB after {len(run['cycles'])} exhaust/reload cycles; "
                     f"{run['vm_failures_logged']} VM failures logged; the same Envoy process throughout: "
                     f"{'yes' if run['same_envoy_process'] else 'NO'}.")
    lines.append(END)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtimes", default="micropython,cpython")
    parser.add_argument("--kib", type=int, default=100, help="KiB the filter keeps per request")
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--micropython-heap", type=int, default=4 * MIB, metavar="BYTES")
    parser.add_argument("--cpython-memory", type=int, default=64 * MIB, metavar="BYTES")
    parser.add_argument("--reload-backoff", type=float, default=1.0, metavar="SECONDS",
                        help="the reload backoff's base interval (Envoy's default: 1 s)")
    parser.add_argument("--write", action="store_true", help="also write the results JSON and the docs section")
    args = parser.parse_args(argv)
    runtimes = args.runtimes.split(",")
    memory = {"micropython": f"GC heap {args.micropython_heap // MIB} MiB",
              "cpython": f"memory max {args.cpython_memory // MIB} MiB"}
    runs = []
    with tempfile.TemporaryDirectory(prefix="vm-reload-") as tmp:
        for runtime in runtimes:
            module = build(runtime, Path(tmp), args.micropython_heap, args.cpython_memory)
            runs.append(measure(runtime, module, args.kib, args.cycles, args.reload_backoff))
            print(json.dumps(runs[-1]), file=sys.stderr)
    data = {"meta": {"date": dt.date.today().isoformat(), "machine": f"{platform.machine()}, {platform.system()}",
                     "kib": args.kib, "memory": memory, "reload_backoff_s": args.reload_backoff}, "runs": runs}
    text = render(data)
    print(text)
    if args.write:
        atomic_write(RESULTS, (json.dumps(data, indent=2) + "\n").encode())
        docs_section.write(START, END, text, path=DOCS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
