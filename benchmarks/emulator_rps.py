"""In-process simulated requests per second through the allow_deny example, in the emulator.

    .venv/bin/python benchmarks/emulator_rps.py [--requests 20000] [--rounds 7] [--write]
    .venv/bin/python benchmarks/emulator_rps.py --profile      # where the time goes (cProfile)
    .venv/bin/python benchmarks/emulator_rps.py --wasm     # also the built module, in wasmtime

One `Host` (one emulated Envoy worker) loads examples/allow_deny/filter.py and runs whole
streams with `host.http_request(...)`: request headers through the filter, then either the
403 local reply (with its response path) or the upstream's answer (with the response headers
callback), then on_log / on_done / on_delete. The traffic is a fixed mix, half allowed and
half denied (by header and by path). Each round times `--requests` streams; the table gives
every round and the median; with `--write` the median with its spread is written between the
`emulator-rps` markers of docs/benchmarks.md (only that section is ever rewritten).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import sys
import time
from pathlib import Path

import docs_section

from proxywasm.testing import Host

ROOT = Path(__file__).resolve().parent.parent
FILTER = ROOT / "examples" / "allow_deny" / "filter.py"
DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- emulator-rps:start -->", "<!-- emulator-rps:end -->"
GOAL_RPS = 20_000

CONFIG = {"deny": {"headers": ["x-deny"], "path_prefixes": ["/admin"], "methods": ["DELETE"]}}
UPSTREAM = (200, {"content-type": "text/plain"}, b"hello")
BASE = {":authority": "example.com", "user-agent": "bench/1", "accept": "*/*"}
# (request headers, the status the client must see): half allowed, half denied
MIX = [
    ({**BASE, ":method": "GET", ":path": "/api/items?page=2"}, 200),
    ({**BASE, ":method": "GET", ":path": "/admin/users"}, 403),
    ({**BASE, ":method": "POST", ":path": "/api/orders"}, 200),
    ({**BASE, ":method": "GET", ":path": "/api/items", "x-deny": "1"}, 403),
]


def load_host(path: Path = FILTER) -> Host:
    return Host.load(path, plugin_config=json.dumps(CONFIG).encode())


def check_mix(host: Host) -> None:
    """Fail loudly if the filter does not do what the benchmark claims to measure."""
    for headers, status in MIX:
        response = host.http_request(headers, upstream=UPSTREAM)
        if response.status != status:
            sys.exit(f"emulator_rps: {headers[':method']} {headers[':path']} answered "
                     f"{response.status}, expected {status}")
        if (status == 403) != (response.upstream_request is None):
            sys.exit("emulator_rps: a denied request reached the upstream (or an allowed one did not)")


def run_round(host: Host, requests: int) -> tuple[float, float]:
    """(requests per wall-clock second, requests per CPU second of this process)."""
    mix = [headers for headers, _status in MIX]
    size = len(mix)
    http_request = host.http_request
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(requests):
        http_request(mix[i % size], upstream=UPSTREAM)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return requests / wall, requests / max(cpu, 1e-9)


def profile(host: Host, requests: int, top: int = 25) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    run_round(host, requests)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    by_file: dict[str, float] = {}
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        key = "/".join(Path(filename).parts[-2:]) if filename.startswith("/") else filename
        by_file[key] = by_file.get(key, 0.0) + tottime
    total = sum(by_file.values())
    out.write(f"own time by file over {requests:,} requests ({total / requests * 1e6:.1f} µs "
              f"per request under the profiler):\n")
    for key, seconds in sorted(by_file.items(), key=lambda kv: -kv[1])[:12]:
        out.write(f"  {seconds / total:6.1%}  {key}\n")
    out.write("\n")
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def load_average() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def machine() -> str:
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"{platform.python_implementation()} {platform.python_version()}, "
            f"{platform.machine()}, {os.cpu_count()} CPUs, load average {load_average():.1f} at start")


def table(rounds: list[tuple[float, float]]) -> str:
    lines = ["| round | requests/s (wall clock) | requests/s (CPU time) | µs per request (CPU) |",
             "|---:|---:|---:|---:|"]
    for i, (wall, cpu) in enumerate(rounds, 1):
        lines.append(f"| {i} | {wall:,.0f} | {cpu:,.0f} | {1e6 / cpu:.1f} |")
    wall = statistics.median(r[0] for r in rounds)
    cpu = statistics.median(r[1] for r in rounds)
    lines.append(f"| **median** | **{wall:,.0f}** | **{cpu:,.0f}** | **{1e6 / cpu:.1f}** |")
    return "\n".join(lines)


def summary(rates: list[float]) -> str:
    median = statistics.median(rates)
    spread = (max(rates) - min(rates)) / median * 100
    return (f"median {median:,.0f}/s, best {max(rates):,.0f}/s, rounds "
            f"{min(rates):,.0f}..{max(rates):,.0f} (spread {spread:.0f}% of the median, "
            f"stdev {statistics.pstdev(rates):,.0f})")


def verdict(rate: float) -> str:
    return "meets the goal" if rate >= GOAL_RPS else "misses the goal"


def wasm_paragraph(rounds: list[tuple[float, float]], requests: int) -> str:
    cpu = statistics.median(r[1] for r in rounds)
    wall = statistics.median(r[0] for r in rounds)
    return (f"\nThe same filter built by `proxywasm build` and run by the same emulator in wasmtime "
            f"(`--wasm`, {len(rounds)} rounds of {requests:,}): median **{cpu:,.0f} requests per "
            f"CPU second** ({1e6 / cpu:.0f} µs per request), {wall:,.0f}/s wall clock.\n")


def section(rounds: list[tuple[float, float]], requests: int, info: str, wasm: str = "") -> str:
    walls, cpus = [r[0] for r in rounds], [r[1] for r in rounds]
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    return f"""{START}
## Emulator: simulated requests per second (allow_deny example)

`.venv/bin/python benchmarks/emulator_rps.py{" --wasm" if wasm else ""} --write` — one `Host` runs whole streams in-process with
`host.http_request(...)` through `examples/allow_deny/filter.py` (a `.py` filter, no Wasm):
half the requests allowed (upstream answer + response-headers callback), half denied (403
local reply by header or path prefix). {len(rounds)} rounds of {requests:,} requests, after a
warm-up; {info}.

- wall clock: **{summary(walls)}** — {verdict(wall)} of {GOAL_RPS:,}/s;
- CPU time of the benchmark process: **{summary(cpus)}** ({1e6 / cpu:.1f} µs per request)
  — {verdict(cpu)}.

The wall-clock rate counts the time other processes took the CPU (see the load average); the
CPU-time rate does not, though a busy machine still slows it (shared caches and cores), so on
a loaded machine the best round is the closest to what an idle core does.

{table(rounds)}
{wasm}
`--profile` prints where the time goes (own time by file, then by function).
{END}"""


def write_section(text: str, path: Path = DOCS) -> None:
    """Replace this benchmark's section of docs/benchmarks.md, leaving every other one alone."""
    docs_section.write(START, END, text, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="streams per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2_000, help="streams before timing")
    parser.add_argument("--filter", type=Path, default=FILTER,
                        help="the allow_deny filter to load: the example's .py (default) or a "
                             ".wasm built from it (then docs/benchmarks.md is left alone)")
    parser.add_argument("--wasm", action="store_true",
                        help="also time the module `proxywasm build` makes of the filter "
                             "(in wasmtime; a tenth of the requests per round)")
    parser.add_argument("--write", action="store_true",
                        help="also update docs/benchmarks.md (default: print only)")
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile of one round instead of benchmarking")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.rounds < 1:
        parser.error("--requests and --rounds must be at least 1")

    host = load_host(args.filter)
    check_mix(host)
    if args.profile:
        print(profile(host, args.requests))
        return 0
    info = machine()
    run_round(host, args.warmup)
    rounds = []
    for i in range(args.rounds):
        rounds.append(run_round(host, args.requests))
        host.clear_logs()
        print(f"round {i + 1}/{args.rounds}: {rounds[-1][0]:,.0f} requests/s wall clock, "
              f"{rounds[-1][1]:,.0f} per CPU second", file=sys.stderr)
    info += f" and {load_average():.1f} at the end"
    walls, cpus = [r[0] for r in rounds], [r[1] for r in rounds]
    print(f"{args.filter.name} (allow_deny) through the emulator, {args.requests:,} requests per round; {info}\n")
    print(table(rounds))
    print(f"\nwall clock: {summary(walls)}; {verdict(statistics.median(walls))} "
          f"of {GOAL_RPS:,}/s")
    print(f"CPU time:   {summary(cpus)}; {verdict(statistics.median(cpus))}")
    wasm = ""
    if args.wasm:
        from proxywasm_build.hosts import built_module

        wasm_host = load_host(built_module(args.filter))
        check_mix(wasm_host)
        wasm_requests = max(1, args.requests // 10)
        run_round(wasm_host, max(1, args.warmup // 10))
        wasm_rounds = [run_round(wasm_host, wasm_requests) for _ in range(args.rounds)]
        wasm = wasm_paragraph(wasm_rounds, wasm_requests)
        print(wasm.strip().replace("**", ""))
    if args.write and args.filter == FILTER:
        write_section(section(rounds, args.requests, info, wasm))
        print(f"wrote the emulator-rps section of {DOCS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
