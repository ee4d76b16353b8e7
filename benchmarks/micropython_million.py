"""One million requests through a MicroPython filter that allocates on every request, in Envoy 1.40.

    .venv/bin/python benchmarks/micropython_million.py                 # print only
    .venv/bin/python benchmarks/micropython_million.py --write         # also docs/benchmarks.md
    .venv/bin/python benchmarks/micropython_million.py --requests 200000   # a shorter run

benchmarks/filters/alloc_python.py (a dict of the request headers, a JSON document of it and a
list of 32 strings per request, nothing kept) is built with `--runtime micropython` and run in
Envoy (`--concurrency 1`, 127.0.0.1, direct response) under `wrk -t1 -c16` until at least
`--requests` requests were answered. Every response must be a 200 carrying `x-alloc` with the
same length (a Lua check counts the others); Envoy's RSS is sampled every 5 s; Envoy's log must
hold no MemoryError and no traceback. The run passes when there are 0 failed requests and the
RSS after the run is within `--rss-slack` MB of the RSS after the warm-up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import docs_section  # noqa: E402
from envoy_filters import BenchEnvoy, parse_wrk, wrk_command  # noqa: E402

from proxywasm_build.backends import build_python  # noqa: E402
from proxywasm_build.cache import cache_dir  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FILTER = ROOT / "benchmarks" / "filters" / "alloc_python.py"
RESULTS = ROOT / "benchmarks" / "results" / "micropython_million.json"
START, END = "<!-- micropython-million:start -->", "<!-- micropython-million:end -->"
MB = 1024 * 1024

CHECK_LUA = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
ok, bad, size = 0, 0, nil
response = function(status, headers, body)
  local got = headers["x-alloc"]
  if status == 200 and got ~= nil and (size == nil or got == size) then
    ok = ok + 1
    size = got
  else
    bad = bad + 1
  end
end
done = function(summary, latency, requests)
  local total_ok, total_bad = 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_bad = total_bad + thread:get("bad")
  end
  io.write(string.format("million-counts ok=%d bad=%d\n", total_ok, total_bad))
end
"""


def run(requests: int, connections: int, every: float = 5.0) -> dict:
    module = build_python(FILTER, cache_dir() / "benchmarks" / "alloc_micropython.wasm", runtime="micropython")
    with tempfile.TemporaryDirectory(prefix="bench-million-") as scratch, BenchEnvoy(module) as envoy:
        script = Path(scratch) / "check.lua"
        script.write_text(CHECK_LUA)
        envoy.start()
        warm = subprocess.run(wrk_command(envoy.url, 5, connections), capture_output=True, text=True)
        warm_requests = parse_wrk(warm.stdout).requests
        rate = warm_requests / 5
        seconds = max(10.0, requests / max(rate, 1.0) * 1.15)
        samples = [(0.0, envoy.rss_bytes())]
        total = {"requests": 0, "ok": 0, "bad": 0, "socket_errors": 0, "non_2xx": 0}
        started = time.monotonic()
        while total["requests"] < requests:
            proc = subprocess.Popen(wrk_command(envoy.url, seconds, connections, script=script),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            while proc.poll() is None:
                time.sleep(0.5)
                if time.monotonic() - started >= every * len(samples):
                    samples.append((round(time.monotonic() - started, 1), envoy.rss_bytes()))
            output, errors = proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"wrk failed: {errors.strip()}")
            one = parse_wrk(output)
            counts = dict(item.split("=") for item in re.search(r"million-counts (.*)", output).group(1).split())
            total["requests"] += one.requests
            total["ok"] += int(counts["ok"])
            total["bad"] += int(counts["bad"])
            total["socket_errors"] += one.socket_errors
            total["non_2xx"] += one.non_2xx
            seconds = max(10.0, (requests - total["requests"]) / max(rate, 1.0) * 1.15)
        samples.append((round(time.monotonic() - started, 1), envoy.rss_bytes()))
        log = envoy.log()
    rss = [value for _, value in samples]
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                 capture_output=True, text=True).stdout.strip(),
        "module_bytes": module.stat().st_size, "connections": connections,
        "seconds": round(time.monotonic() - started, 1), **total,
        "memory_errors": log.count("MemoryError"), "tracebacks": log.count("Traceback"),
        "rss_after_warmup_mb": rss[0] / MB, "rss_end_mb": rss[-1] / MB, "rss_max_mb": max(rss) / MB,
        "rss_samples": samples,
    }


def section(result: dict) -> str:
    growth = result["rss_end_mb"] - result["rss_after_warmup_mb"]
    return "\n".join([
        START,
        "## One million requests through a MicroPython filter that allocates on every request",
        "",
        f"`.venv/bin/python benchmarks/micropython_million.py --write` — {result['date']}, commit "
        f"{result['commit']}; benchmarks/filters/alloc_python.py built with `--runtime micropython` "
        f"({result['module_bytes'] / 1000:.0f} KB), Envoy 1.40 `--concurrency 1`, `wrk -t1 -c{result['connections']}`, "
        "every response checked (200 with the same `x-alloc`).",
        "",
        "| requests | failed (wrong answer, non-2xx, socket errors) | MemoryError / tracebacks in Envoy's log | "
        "RSS after warm-up | RSS at the end | RSS max | seconds |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {result['requests']:,} | {result['bad']} / {result['non_2xx']} / {result['socket_errors']} | "
        f"{result['memory_errors']} / {result['tracebacks']} | {result['rss_after_warmup_mb']:.1f} MB | "
        f"{result['rss_end_mb']:.1f} MB ({growth:+.1f}) | {result['rss_max_mb']:.1f} MB | {result['seconds']:.0f} |",
        "",
        "The GC runs only between callbacks (no Python frame is active then, so a conservative scan "
        "of linear memory sees every root), once a quarter of the heap was allocated since the last "
        "collection: the heap's live part stays the SDK's and the filter's objects, and RSS stays "
        "where the warm-up left it.",
        END,
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rss-slack", type=float, default=2.0, help="MB of RSS growth still counted flat")
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks.md and the results JSON")
    args = parser.parse_args(argv)
    result = run(args.requests, args.connections)
    flat = result["rss_end_mb"] - result["rss_after_warmup_mb"] <= args.rss_slack
    passed = flat and result["bad"] == result["non_2xx"] == result["socket_errors"] == 0 \
        and result["memory_errors"] == 0
    print(json.dumps({k: v for k, v in result.items() if k != "rss_samples"}, indent=2))
    print("PASS" if passed else "FAIL")
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        docs_section.write(START, END, section(result))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
