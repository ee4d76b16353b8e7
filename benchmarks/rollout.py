"""Changing the filter of running Envoys: `proxywasm rollout` to a fleet sharing one ECDS directory,
and `proxywasm run --watch` for one author, both under steady load, in Envoy 1.40.

    .venv/bin/python benchmarks/rollout.py                     # both runtimes, 3 Envoys, 20 rollouts; print
    .venv/bin/python benchmarks/rollout.py --write             # and write docs/benchmarks.md's section
    .venv/bin/python benchmarks/rollout.py --quick             # 4 rollouts, 1 edit, MicroPython only
    .venv/bin/python benchmarks/rollout.py --render benchmarks/results/rollout.json   # re-print the section
    .venv/bin/python benchmarks/rollout.py --rss-swaps 80 --runtimes micropython --write  # RSS over many swaps

The filter is tests/rollout_filters/versioned.py (every request answered by the filter itself with
`version <VERSION>`), built with each runtime as two versions differing in one line.

Fleet: three Envoys (`--concurrency 1`, 127.0.0.1) take the filter from one ECDS directory made
with `proxywasm_build.envoy.ecds` (what `deploy envoy --ecds` and `rollout` call). Two client
threads per Envoy (one keep-alive connection, one new connection per request) send requests
throughout; a request fails when it raises or is not a 200 naming a version. Then 20 rollouts
alternate the two versions, each as `proxywasm rollout MODULE --ecds DIR --admin ...` runs it
(validate, start the module once in a throwaway Envoy, write by rename, wait for every admin to
confirm). Measured per rollout: the command's duration, and the time from the rename to the
moment all three Envoys' latest answers name the new version (seen by the clients). RSS of each
Envoy after warm-up before the first rollout and 3 s after the last, with what its allocator
(tcmalloc, admin `/memory`) says is allocated and what it holds mapped at both points, and the
live Wasm VMs (`wasm.envoy.wasm.runtime.v8.active`).

Watch: `proxywasm run FILTER.py --watch` (the real command, a subprocess) with a client thread;
each edit changes the VERSION line to a value never built before (so the build is real, not a
cache hit) and the time is taken from the file write to the first answer naming the new
version. The watcher's own build and swap times are read from its output line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the load generator and `run --watch` driver the tests use

import docs_section  # noqa: E402
from rollout_load import RunWatch, SteadyLoad  # noqa: E402

from proxywasm_build.envoy import ecds  # noqa: E402
from proxywasm_build.envoy.runner import LocalEnvoy  # noqa: E402
from proxywasm_build.hosts import built_module  # noqa: E402

FILTER = ROOT / "tests" / "rollout_filters" / "versioned.py"
START, END = "<!-- rollout:start -->", "<!-- rollout:end -->"
RESULTS = ROOT / "benchmarks" / "results" / "rollout.json"
V8_ACTIVE = "wasm.envoy.wasm.runtime.v8.active"


def heap_mb(envoy: LocalEnvoy) -> dict[str, float]:
    """tcmalloc's view (admin /memory), MB: `allocated` is live objects, `physical` what the
    heap holds in memory: live objects, free pages kept mapped (`free`) and the per-thread
    caches of freed objects (`thread_caches`)."""
    memory = json.loads(envoy.admin("/memory"))
    fields = {"allocated": "allocated", "physical": "total_physical_bytes", "free": "pageheap_free",
              "thread_caches": "total_thread_cache"}
    return {name: round(int(memory[key]) / 2**20, 1) for name, key in fields.items()}


def filter_version(workdir: Path, version: str) -> Path:
    """The filter with `VERSION = "<version>"`, alone in its folder (its neighbours count in the build)."""
    folder = workdir / f"filter-{version}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "filter.py"
    path.write_text(FILTER.read_text().replace('VERSION = "one"', f'VERSION = "{version}"'))
    return path


def build(workdir: Path, version: str, runtime: str) -> tuple[bytes, float]:
    started = time.monotonic()
    wasm = built_module(filter_version(workdir, version), runtime=runtime).read_bytes()
    return wasm, time.monotonic() - started


def fleet(runtime: str, envoys: int, rollouts: int, workdir: Path) -> dict:
    versions = {name: build(workdir, f"{runtime}-{name}", runtime)[0] for name in ("a", "b")}
    directory = ecds.EcdsDirectory(workdir / f"ecds-{runtime}")
    ecds.initialize(directory, versions["a"])
    running = [LocalEnvoy(ecds_resource=directory.resource_path, ready_timeout=240) for _ in range(envoys)]
    try:
        return _fleet_rollouts(runtime, versions, directory, running, rollouts)
    finally:
        for envoy in running:
            envoy.stop()


def _fleet_rollouts(runtime: str, versions: dict[str, bytes], directory: ecds.EcdsDirectory,
                    running: list[LocalEnvoy], rollouts: int) -> dict:
    admins = [envoy.admin_url for envoy in running]
    with SteadyLoad([envoy.port for envoy in running]) as load:
        load.wait_all_serve(f"{runtime}-a", timeout=120)
        time.sleep(2.0)
        rss_before = [envoy.rss_bytes() for envoy in running]
        heap_before = [heap_mb(envoy) for envoy in running]
        vms_before = [envoy.stats().get(V8_ACTIVE, 0) for envoy in running]
        command_seconds, serving_seconds, trajectory = [], [], []
        for index in range(rollouts):
            name = "b" if index % 2 == 0 else "a"
            started = time.monotonic()
            result = ecds.rollout(directory, versions[name], admin_urls=admins, timeout=240)
            command_seconds.append(time.monotonic() - started)
            assert all(o.accepted for o in result.outcomes), [o.describe(result.release) for o in result.outcomes]
            load.wait_all_serve(f"{runtime}-{name}", timeout=120, since=started)
            serving_seconds.append(time.monotonic() - result.written_at)
            trajectory.append(round(statistics.mean(e.rss_bytes() for e in running) / 2**20, 1))
            print(f"  {runtime} rollout {index + 1}/{rollouts}: {result.change()} command "
                  f"{command_seconds[-1]:.2f} s, rename → all serving {serving_seconds[-1]:.2f} s", flush=True)
        time.sleep(3.0)
        rss_after = [envoy.rss_bytes() for envoy in running]
        heap_after = [heap_mb(envoy) for envoy in running]
        vms_after = [envoy.stats().get(V8_ACTIVE, 0) for envoy in running]
    result = load.result
    return {
        "runtime": runtime, "envoys": len(running), "rollouts": rollouts, "module_bytes": len(versions["a"]),
        "requests": result.sent, "failed": result.failed, "errors": result.errors[:5],
        "command_s": {"median": statistics.median(command_seconds), "max": max(command_seconds)},
        "all_serving_s": {"median": statistics.median(serving_seconds), "max": max(serving_seconds)},
        "rss_mb_before": [round(b / 2**20, 1) for b in rss_before],
        "rss_mb_after": [round(b / 2**20, 1) for b in rss_after],
        "heap_mb_before": heap_before, "heap_mb_after": heap_after,
        "v8_vms_before": vms_before, "v8_vms_after": vms_after,
        "rss_mb_mean_after_each_rollout": trajectory,
    }


def watch(runtime: str, edits: int, workdir: Path) -> dict:
    path = filter_version(workdir / f"watch-{runtime}", "start")
    built_module(path, runtime=runtime, optimize=False)  # the first build (as --watch makes it) is not measured
    run = RunWatch(path, runtime=runtime)
    save_to_answer, build_s, swap_s = [], [], []
    try:
        run.wait_for(r"^serving sha256:", timeout=600)
        with SteadyLoad([run.port]) as load:
            load.wait_all_serve("start", timeout=60)
            for index in range(edits):
                version = f"w{time.time_ns()}"  # never built before: a real rebuild
                text = path.read_text()
                saved = time.monotonic()
                path.write_text(re.sub(r'VERSION = "[^"]*"', f'VERSION = "{version}"', text))
                line = run.wait_for(r"swapped", timeout=600)
                assert line.startswith("swapped"), line
                save_to_answer.append(load.wait_all_serve(version, timeout=60, since=saved))
                times = re.search(r"build (\d+\.\d+) s, swap (\d+\.\d+) s", line)
                build_s.append(float(times.group(1)))
                swap_s.append(float(times.group(2)))
                print(f"  {runtime} watch edit {index + 1}/{edits}: save → new answer "
                      f"{save_to_answer[-1]:.2f} s ({line})", flush=True)
        result = load.result
    finally:
        run.stop()
    return {
        "runtime": runtime, "edits": edits, "requests": result.sent, "failed": result.failed,
        "save_to_answer_s": {"median": statistics.median(save_to_answer), "max": max(save_to_answer)},
        "build_s": {"median": statistics.median(build_s), "max": max(build_s)},
        "swap_s": {"median": statistics.median(swap_s), "max": max(swap_s)},
    }


def rss_series(runtime: str, swaps: int, workdir: Path) -> dict:
    """One Envoy, no load, `swaps` rollouts alternating the two versions (no start check): its RSS
    every 10 swaps, to tell a per-swap leak from memory kept once after the first swaps."""
    versions = {name: build(workdir, f"{runtime}-{name}", runtime)[0] for name in ("a", "b")}
    directory = ecds.EcdsDirectory(workdir / f"ecds-rss-{runtime}")
    ecds.initialize(directory, versions["a"], check_start=False)
    with LocalEnvoy(ecds_resource=directory.resource_path, ready_timeout=240) as envoy:
        time.sleep(2.0)
        series = [round(envoy.rss_bytes() / 2**20, 1)]
        heap = [heap_mb(envoy)]
        for index in range(swaps):
            result = ecds.rollout(directory, versions["b" if index % 2 == 0 else "a"], admin_urls=[envoy.admin_url],
                                  check_start=False, timeout=240)
            assert result.outcomes[0].accepted
            if index % 10 == 9:
                time.sleep(1.0)
                series.append(round(envoy.rss_bytes() / 2**20, 1))
                heap.append(heap_mb(envoy))
                print(f"  {runtime} RSS after {index + 1} swaps: {series[-1]} MB (heap {heap[-1]})", flush=True)
        vms = envoy.stats().get(V8_ACTIVE, 0)
    return {"runtime": runtime, "swaps": swaps, "rss_mb_every_10": series, "heap_mb_every_10": heap,
            "v8_vms_after": vms}


def section(results: dict, command: str) -> str:
    rows, trajectories = [], []
    for f in results["fleet"]:
        rss = ", ".join(f"{b:.0f} → {a:.0f}" for b, a in zip(f["rss_mb_before"], f["rss_mb_after"]))
        vms = ", ".join(f"{b} → {a}" for b, a in zip(f["v8_vms_before"], f["v8_vms_after"]))
        heap = ", ".join(f"{b['allocated']:.0f} / {b['physical']:.0f} → {a['allocated']:.0f} / {a['physical']:.0f}"
                         for b, a in zip(f.get("heap_mb_before", []), f.get("heap_mb_after", []))) or "-"
        path = f.get("rss_mb_mean_after_each_rollout", [])
        if path:
            trajectories.append(f"- {f['runtime']}: " + ", ".join(f"{mb:.0f}" for mb in path))
        rows.append(f"| {f['runtime']} ({f['module_bytes'] // 1024} KB) | {f['requests']} | {f['failed']} | "
                    f"{f['command_s']['median']:.2f} / {f['command_s']['max']:.2f} | "
                    f"{f['all_serving_s']['median']:.2f} / {f['all_serving_s']['max']:.2f} | {rss} | {heap} | {vms} |")
    watch_rows = [f"| {w['runtime']} | {w['edits']} | {w['requests']} | {w['failed']} | "
                  f"{w['save_to_answer_s']['median']:.1f} / {w['save_to_answer_s']['max']:.1f} | "
                  f"{w['build_s']['median']:.1f} | {w['swap_s']['median']:.2f} |" for w in results["watch"]]
    first = results["fleet"][0] if results["fleet"] else {"envoys": 0, "rollouts": 0}
    return "\n".join([
        START,
        "## Changing the filter of running Envoys: `rollout` and `run --watch` (benchmarks/rollout.py)",
        "",
        f"Measured {results['date']} on {results['machine']}; reproduce with "
        f"`{docs_section.regenerating(command)}`.",
        "",
        f"{first['envoys']} Envoys share one ECDS directory under steady load (2 client threads each);"
        f" {first['rollouts']} rollouts alternate two versions of a one-line-different filter. "
        "*command*: `rollout` as it runs (validate, start once in a throwaway Envoy, rename, wait for every "
        "admin); *rename → all serving*: until the latest answer of every Envoy names the new version. "
        "RSS, tcmalloc's allocated / physical heap (admin `/memory`: live objects / what the heap "
        "holds in memory) and live V8 VMs per Envoy after warm-up → 3 s after the last rollout.",
        "",
        "| runtime (module) | requests | failed | command s (median / max) | rename → all serving s "
        "(median / max) | RSS MB per Envoy | heap MB allocated / physical per Envoy | live V8 VMs per Envoy |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Mean RSS of the Envoys (MB) after each rollout, in order:",
        "",
        *trajectories,
        "",
        "`run --watch`: a one-line edit (the VERSION string, a value never built before, so the build is "
        "real) saved while a client sends requests; *save → new answer* until the first answer names it.",
        "",
        "| runtime | edits | requests | failed | save → new answer s (median / max) | build s (median) | "
        "swap s (median) |",
        "|---|---|---|---|---|---|---|",
        *watch_rows,
        *_rss_lines(results.get("rss_series", [])),
        END,
    ])


def _rss_lines(series: list[dict]) -> list[str]:
    if not series:
        return []
    lines = ["", "One Envoy without load through many swaps (`--rss-swaps`): RSS (MB) at the start and every "
             "10 swaps; live V8 VMs at the end."]
    return lines + ["", *(f"- {s['runtime']}, {s['swaps']} swaps: " + ", ".join(f"{mb:.0f}" for mb in s["rss_mb_every_10"])
                          + _heap_series(s) + f"; live V8 VMs {s['v8_vms_after']}" for s in series)]


def _heap_series(series: dict) -> str:
    heap = series.get("heap_mb_every_10")
    if not heap:
        return ""
    parts = [("tcmalloc allocated", "allocated"), ("heap physical", "physical"),
             ("of which free pages", "free"), ("thread caches", "thread_caches")]
    return "".join(f"; {label} " + ", ".join(f"{h[key]:.0f}" for h in heap) for label, key in parts
                   if all(key in h for h in heap))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runtimes", default="micropython,cpython")
    parser.add_argument("--envoys", type=int, default=3)
    parser.add_argument("--rollouts", type=int, default=20)
    parser.add_argument("--edits", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="4 rollouts, 1 edit, MicroPython only")
    parser.add_argument("--rss-swaps", type=int, default=0, metavar="N",
                        help="only this: one Envoy through N swaps per runtime, its RSS every 10 (added to "
                             "the stored results with --write)")
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks.md and the results JSON")
    parser.add_argument("--render", type=Path, default=None, metavar="RESULTS.json",
                        help="print (with --write: write) the section from stored results; measure nothing")
    args = parser.parse_args()
    if args.render is not None:
        results = json.loads(args.render.read_text())
        text = section(results, results.get("command", "python benchmarks/rollout.py"))
        print(text)
        if args.write:
            docs_section.write(START, END, text)
            print(f"wrote {docs_section.DOCS}")
        return
    if args.quick:
        args.runtimes, args.rollouts, args.edits = "micropython", 4, 1
    runtimes = [r for r in args.runtimes.split(",") if r]
    if args.rss_swaps:
        return _rss_only(runtimes, args)
    results: dict = {"date": dt.date.today().isoformat(), "machine": _machine(), "fleet": [], "watch": []}
    with tempfile.TemporaryDirectory(prefix="proxywasm-bench-rollout-") as tmp:
        for runtime in runtimes:
            results["fleet"].append(fleet(runtime, args.envoys, args.rollouts, Path(tmp)))
            print(json.dumps(results["fleet"][-1]), flush=True)
            results["watch"].append(watch(runtime, args.edits, Path(tmp)))
            print(json.dumps(results["watch"][-1]), flush=True)
    results["command"] = ("python benchmarks/rollout.py " + " ".join(sys.argv[1:])).strip()
    text = section(results, results["command"])
    print(text)
    if args.write:
        docs_section.write(START, END, text)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {docs_section.DOCS} and {RESULTS}")


def _rss_only(runtimes: list[str], args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="proxywasm-bench-rollout-") as tmp:
        series = [rss_series(runtime, args.rss_swaps, Path(tmp)) for runtime in runtimes]
    print(json.dumps(series))
    if args.write:
        results = json.loads(RESULTS.read_text())
        results["rss_series"] = series
        results["rss_command"] = ("python benchmarks/rollout.py " + " ".join(sys.argv[1:])).strip()
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        docs_section.write(START, END, section(results, results["command"]))
        print(f"wrote {docs_section.DOCS} and {RESULTS}")


def _machine() -> str:
    import os

    load = os.getloadavg()[0]
    return f"{os.cpu_count()} cores shared with other work (load average {load:.1f} at the start)"


if __name__ == "__main__":
    main()
