"""Where the MicroPython build's start-up, memory and per-request cost go (what a missed target takes).

    .venv/bin/python benchmarks/micropython_weight.py --write     # 5 rounds; JSON + docs section
    .venv/bin/python benchmarks/micropython_weight.py --rounds 2  # print only

The benchmark filter (benchmarks/filters/deny_python.py) built with `--runtime micropython`,
beside the CPython build, the AssemblyScript filter and no filter, taken apart four ways:

1. **The module**: code and data, function count, the largest functions by name (the same
   build linked once more without `--strip-all`, so the name section says which C function
   each is; the code is otherwise identical).
2. **Envoy's start-up, phase by phase**, in interleaved rounds: Envoy runs with
   `--component-log-level wasm:debug` and millisecond timestamps; "Base Wasm created" to the
   first "Thread-Local Wasm created" is the module's compilation plus the first VM's start, each
   later "Thread-Local Wasm created" is one more VM (instantiation, `_initialize`, Python's
   start); the RSS after a 2 s `wrk` warm-up is split as micropython_probe.py splits it (file-backed,
   malloc in use, freed but kept by tcmalloc, other anonymous: Wasm memories and compiled code).
3. **What compiling each part costs**: copies of the module with function bodies replaced by
   `unreachable` (all of them; only the largest; all but the largest). Envoy compiles them and
   then fails at `_initialize` and exits; "Base Wasm created" to the failure is the compile.
4. **Wasm instructions per request and per VM start** (wasmtime fuel under the emulated host,
   benchmarks/request_fuel.py's method): which callbacks burn them.

Results are printed; `--write` also writes benchmarks/results/micropython_weight.json and the
`micropython-weight` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import re
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
import envoy_filters as ef  # noqa: E402

from proxywasm_build.cache import atomic_write  # noqa: E402
from proxywasm_build.wasm.reader import read_module  # noqa: E402
from proxywasm_build.wasm.leb128 import encode_unsigned, read_unsigned  # noqa: E402

ROOT = ef.ROOT
RESULTS_JSON = ef.RESULTS / "micropython_weight.json"
START, END = "<!-- micropython-weight:start -->", "<!-- micropython-weight:end -->"
VARIANTS = ("none", "assemblyscript", "micropython", "micropython_heap_256k", "python")
#: The smaller GC heap tried beside the default one (how much of the RSS the heap is).
SMALL_HEAP = 256 * 1024
LOG_ARGS = ("--component-log-level", "wasm:debug", "--log-format", "%Y-%m-%d %T.%f [%t][%n][%l] %v")
FUEL_LIMIT = 10**12


# --------------------------------------------------------------------------------------------
# 1. The module


def named_twin() -> Path:
    """The MicroPython build of the benchmark filter linked without `--strip-all` (same code)."""
    import proxywasm_build.backends.micropython as backend

    output = ef.cache_dir() / "benchmarks" / f"deny_micropython-named-{read_digest()}.wasm"
    if output.is_file():
        return output
    stripped = backend.REACTOR_LINK_FLAGS
    original_cache_dir = backend.cache_dir
    with tempfile.TemporaryDirectory(prefix="bench-named-") as scratch:
        # zig strips in its release modes unless asked for debug information (-g).
        backend.REACTOR_LINK_FLAGS = (*(f for f in stripped if f != "-Wl,--strip-all"), "-g")
        backend.cache_dir = lambda: Path(scratch)  # a fresh link, not the cached stripped one
        try:
            backend.build_micropython_filter(ef.FILTERS / "deny_python.py", output)
        finally:
            backend.REACTOR_LINK_FLAGS = stripped
            backend.cache_dir = original_cache_dir
    return output


def build_small_heap() -> Path:
    """The MicroPython build with a SMALL_HEAP GC heap (`heap_size`) instead of the default."""
    from proxywasm_build.backends.micropython import build_micropython_filter

    source = ef.FILTERS / "deny_python.py"
    inputs = ef._python_build_inputs(source, "micropython", "micropython")
    return ef._cached(f"deny_micropython-heap{SMALL_HEAP // 1024}k", inputs,
                      lambda out: build_micropython_filter(source, out, heap_size=SMALL_HEAP))


def read_digest() -> str:
    source = ef.FILTERS / "deny_python.py"
    return ef._digest(ef._python_build_inputs(source, "micropython", "micropython"))


#: (category, name pattern) in the order tried: what each part of MicroPython's code is for.
CATEGORIES = (
    ("bytecode interpreter loop (mp_execute_bytecode)", r"mp_execute_bytecode$"),
    ("floats, complex and libm (math functions, float formatting and parsing)",
     r"(compiler_rt\.|math|__lgamma|tgamma|^pow$|^exp|^log|^erf|^sin|^cos|^tan|^atan|^asin|^acos|"
     r"^sqrt|^fmod|^frexp|^ldexp|^modf|^floor|^ceil|^trunc|^copysign|^scalbn|float|complex|"
     r"mp_parse_num_decimal|^__(sin|cos|tan|rem_pio2|expo|log))"),
    ("big integers (mpz, int objects)", r"(^mpz_|mp_obj_int|mp_print_mp_int|^int_)"),
    ("str and bytes (methods, formatting, printing)", r"(^str_|mp_obj_str|^bytes_|^uni_|^mp_str_|mp_vprintf|mp_print_|^mp_printf)"),
    ("other builtin types (list, dict, set, tuple, array, type, instances)",
     r"(^list_|^dict_|^set_|^tuple_|^array_|^type_|^mp_obj_|^namedtuple|^deque|^range|^slice|^instance_|^struct_)"),
    ("garbage collector and qstr tables", r"(^gc_|^qstr|^m_)"),
    ("runtime (calls, imports, exceptions, modules)", r"^(mp_|nlr|fun_|bound_meth|gen_|closure|native_|builtin_)"),
    ("port and host glue (callbacks, hostcalls, sha256, logging)", r"(^pw_|^runtime_|start_python|report_exception|sha256|^proxy_|^host_|_proxywasm)"),
)


OTHER = "C library and other (memcpy, malloc, printf, setjmp support)"
_PATTERNS = [(label, re.compile(pattern)) for label, pattern in CATEGORIES]


def category_of(name: str) -> str:
    """The first CATEGORIES label whose pattern matches `name`, else OTHER."""
    return next((label for label, pattern in _PATTERNS if name and pattern.search(name)), OTHER)


def code_by_category(info: Any, names: dict[int, str]) -> dict[str, int]:
    """Code bytes by what the function is for (CATEGORIES; the rest is C library and other)."""
    totals: dict[str, int] = {label: 0 for label, _ in CATEGORIES} | {OTHER: 0}
    for offset, size in enumerate(info.function_body_sizes()):
        totals[category_of(names.get(info.imported_functions + offset, ""))] += size
    return totals


def module_facts(module: Path, named: Path | None) -> dict[str, Any]:
    info = read_module(module.read_bytes())
    sizes = info.function_body_sizes()
    largest = info.largest_functions(12)
    names = module_names(info, named)
    largest = [(index, names.get(index, name), size) for index, name, size in largest]
    memories = info.memories
    return {
        "size": module.stat().st_size, "code": info.code_size, "data": info.section_size("data"),
        "functions": len(sizes), "imported_functions": info.imported_functions,
        "largest": [{"index": i, "name": n, "bytes": b} for i, n, b in largest],
        "by_category": code_by_category(info, names) if names else {},
        "initial_memory_bytes": memories[0].initial_bytes if memories else 0,
    }


# --------------------------------------------------------------------------------------------
# 2. Envoy's start-up phases and RSS

STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) \[\d+\]\[(\w+)\]\[(\w+)\] (.*)$")


def log_events(log: str, started_wall: float) -> list[tuple[float, str]]:
    """(seconds after the process started, message) of the wasm component's lines."""
    events = []
    for line in log.splitlines():
        match = STAMP.match(line)
        if match and match.group(2) == "wasm":
            when = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            events.append((when - started_wall, match.group(4)))
    return events


def phases(events: list[tuple[float, str]], ready_s: float) -> dict[str, Any]:
    base = next((t for t, m in events if m.startswith("Base Wasm created")), None)
    clones = [t for t, m in events if m.startswith("Thread-Local Wasm created")]
    if base is None or not clones:
        return {}
    return {"until_base_s": base, "compile_and_first_vm_s": clones[0] - base,
            "each_next_vm_s": [b - a for a, b in zip(clones, clones[1:])],
            "after_last_vm_s": ready_s - clones[-1], "vms": len(clones)}


def rss_parts(envoy: ef.BenchEnvoy) -> dict[str, int]:
    """Resident memory split four ways (as micropython_probe.py does): file-backed pages (the
    envoy binary, V8 included), malloc in use, freed but kept by tcmalloc, other anonymous."""
    status = {}
    for line in Path(f"/proc/{envoy.proc.pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile", "VmRSS"):
            status[key] = int(value.split()[0]) * 1024
    with urllib.request.urlopen(f"http://127.0.0.1:{envoy.admin_port}/memory", timeout=5) as response:
        memory = {key: int(value) for key, value in json.load(response).items()}
    kept = memory["pageheap_free"] + memory["total_thread_cache"]
    return {"rss": status["VmRSS"], "file": status["RssFile"], "malloc_in_use": memory["allocated"],
            "malloc_kept_free": kept, "other_anon": status["RssAnon"] - memory["allocated"] - kept}


def start_sample(module: Path | None, warmup: float) -> dict[str, Any]:
    with ef.BenchEnvoy(module, extra_args=LOG_ARGS) as envoy:
        ready = envoy.start()
        ef.run_wrk(envoy, warmup, 8)
        sample = {"ready_s": ready, "ready_cpu_s": envoy.ready_cpu_s, **rss_parts(envoy)}
        sample.update(phases(log_events(envoy.log(), envoy.started_wall), ready))
    return sample


# --------------------------------------------------------------------------------------------
# 3. Compile cost of parts of the code


STUB_BODY = b"\x00\x00\x0b"  # no locals; unreachable; end — valid for any signature


def stub_functions(data: bytes, stub: set[int], imported: int) -> bytes:
    """`data` with the bodies of the functions in `stub` (function indices) replaced by STUB_BODY."""
    out = bytearray(data[:8])
    pos = 8
    while pos < len(data):
        kind = data[pos]
        size, body_start = read_unsigned(data, pos + 1)
        end = body_start + size
        if kind != 10:
            out += data[pos:end]
        else:
            count, p = read_unsigned(data, body_start)
            section = bytearray(encode_unsigned(count))
            for i in range(count):
                length, b = read_unsigned(data, p)
                body = STUB_BODY if imported + i in stub else data[b:b + length]
                section += encode_unsigned(len(body)) + body
                p = b + length
            out += bytes([10]) + encode_unsigned(len(section)) + section
        pos = end
    return bytes(out)


def compile_sample(module: Path) -> tuple[float | None, float]:
    """Seconds from "Base Wasm created" to the VM's failure (the stubbed `_initialize` traps),
    and the CPU seconds (all threads) Envoy used from start to exit."""
    with tempfile.TemporaryDirectory(prefix="bench-compile-") as scratch:
        config = Path(scratch) / "envoy.yaml"
        config.write_text(ef.bootstrap(module, ef.free_port(), ef.free_port()))
        log = Path(scratch) / "envoy.log"
        started = time.time()
        with open(log, "wb") as sink:
            proc = subprocess.Popen([ef.envoy_binary(), "-c", str(config), "--concurrency", "1",
                                     "--use-dynamic-base-id", "--disable-hot-restart", "--log-level",
                                     "info", *LOG_ARGS], stdout=sink, stderr=subprocess.STDOUT)
            _, _, usage = os.wait4(proc.pid, 0)
            proc.returncode = 0  # reaped by wait4
        cpu = usage.ru_utime + usage.ru_stime
        output = log.read_text(errors="replace")
    return failure_after_base(output, started), cpu


def failure_after_base(output: str, started: float) -> float | None:
    base = None
    for line in output.splitlines():
        match = STAMP.match(line)
        if not match:
            continue
        when = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp() - started
        if match.group(4).startswith("Base Wasm created"):
            base = when
        elif base is not None and match.group(3) in ("error", "critical"):
            return when - base
    return None


def stub_variants(module: Path, named: Path | None) -> dict[str, Path]:
    """Copies of `module` with some function bodies stubbed, by label. `_initialize` is always
    stubbed, so that every copy fails right after compiling (its time is the compile)."""
    data = module.read_bytes()
    info = read_module(data)
    imported = info.imported_functions
    sizes = info.function_body_sizes()
    defined = set(range(imported, imported + len(sizes)))
    initialize = info.export("_initialize").index
    largest = info.largest_functions(1)[0][0]
    variants = {"whole code (only `_initialize` stubbed)": set(),
                "every body stubbed": defined,
                "largest function stubbed": {largest},
                "all but the largest stubbed": defined - {largest}}
    names = module_names(info, named)
    if names:
        for label in [label for label, _ in CATEGORIES] + [OTHER]:
            variants[f"{label}: stubbed"] = {index for index in defined
                                             if category_of(names.get(index, "")) == label}
    out = ef.cache_dir() / "benchmarks"
    paths = {}
    for label, stub in variants.items():
        digest = hashlib.sha256(data + repr(sorted(stub | {initialize})).encode()).hexdigest()[:16]
        path = out / f"{module.stem}-stubbed-{digest}.wasm"
        if not path.is_file():
            atomic_write(path, stub_functions(data, stub | {initialize}, imported))
        paths[label] = path
    return paths


def module_names(info: Any, named: Path | None) -> dict[int, str]:
    """Function names from the unstripped twin, when its code is the same (else none)."""
    if named is None:
        return {}
    twin = read_module(named.read_bytes())
    return twin.function_names() if twin.function_body_sizes() == info.function_body_sizes() else {}


# --------------------------------------------------------------------------------------------
# 4. Fuel


EMPTY_FILTER = """\
import proxywasm
from proxywasm import HttpContext, RootContext


class Empty(HttpContext):
    pass


class Root(RootContext):
    def create_http_context(self, context_id):
        return Empty(context_id, self)


proxywasm.set_root_context(Root)
"""


def build_empty(runtime: str) -> Path:
    """A filter that overrides no callback: what the SDK costs per request by itself."""
    from proxywasm_build.backends import build_python

    source = ef.cache_dir() / "benchmarks" / "empty_filter" / "empty_filter.py"
    if not source.is_file() or source.read_text() != EMPTY_FILTER:
        source.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(source, EMPTY_FILTER.encode())
    toolchain = "python" if runtime == "cpython" else runtime
    inputs = ef._python_build_inputs(source, runtime, toolchain)
    return ef._cached(f"empty_filter-{runtime}", inputs,
                      lambda out: build_python(source, out, runtime=runtime))


def fuel(module: Path, pairs: int, *, empty: bool = False) -> dict[str, Any]:
    """Instructions per VM start and per request pair; `empty`: the filter does nothing, so
    request_fuel's check of its answers does not apply and the same loop runs unchecked."""
    import request_fuel

    result = unchecked_fuel(module, pairs) if empty else request_fuel.measure(module, pairs)
    result["vm_start"] = start_fuel(module)
    return result


def start_fuel(module: Path) -> int:
    """Instructions of every call `Host.load` makes: `_initialize`, `proxy_on_vm_start`, the
    root context's creation and `proxy_on_configure` (each call gets fresh fuel, so they are
    summed one by one)."""
    from proxywasm.testing import Host
    from proxywasm.testing.wasm import WasmModule

    spent = 0
    invoke = WasmModule._invoke

    def counting_invoke(self: Any, name: str, *args: int) -> Any:
        nonlocal spent
        try:
            return invoke(self, name, *args)
        finally:
            spent += FUEL_LIMIT - self.store.get_fuel()

    WasmModule._invoke = counting_invoke
    try:
        Host.load(module, fuel=FUEL_LIMIT)
    finally:
        WasmModule._invoke = invoke
    return spent


def unchecked_fuel(module: Path, pairs: int, warmup: int = 5) -> dict[str, Any]:
    import collections

    import request_fuel
    from proxywasm.testing import Host

    host = Host.load(module, fuel=FUEL_LIMIT)
    wasm = host.module
    spent: collections.Counter[str] = collections.Counter()
    invoke = wasm._invoke

    def counting_invoke(name: str, *args: int) -> Any:
        try:
            return invoke(name, *args)
        finally:
            spent[name] += FUEL_LIMIT - wasm.store.get_fuel()

    wasm._invoke = counting_invoke
    for counting in (False, True):
        spent.clear()
        for _ in range(pairs if counting else warmup):
            host.http_request(request_fuel.ALLOWED, upstream=(200, {}, b"hello\n"))
            host.http_request(request_fuel.DENIED, upstream=(200, {}, b"hello\n"))
    return {"module": str(module), "per_pair": sum(spent.values()) // pairs,
            "callbacks": {name: {"per_pair": spent[name] // pairs}
                          for name in sorted(spent, key=lambda n: -spent[n])}}


# --------------------------------------------------------------------------------------------


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, rounds in results["starts"].items():
        keys = ("ready_s", "ready_cpu_s", "rss", "file", "malloc_in_use", "malloc_kept_free",
                "other_anon", "until_base_s", "compile_and_first_vm_s", "after_last_vm_s")
        out[name] = {key: median([r.get(key) for r in rounds]) for key in keys}
        out[name]["each_next_vm_s"] = median([v for r in rounds for v in r.get("each_next_vm_s", [])])
    out["compile"] = {label: median(values) for label, values in results["compile"].items()}
    out["compile_cpu"] = {label: median(values) for label, values in results.get("compile_cpu", {}).items()}
    return out


def ms(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:,.0f} ms"


def mb(value: float | None, base: float | None = None) -> str:
    if value is None:
        return "–"
    text = f"{value / ef.MB:.1f}"
    return text + (f" ({(value - base) / ef.MB:+.1f})" if base is not None else "")


def tables(results: dict[str, Any]) -> str:
    s = summarise(results)
    labels = {n: ef.LABELS.get(n, n) for n in VARIANTS}
    labels["micropython_heap_256k"] = f"MicroPython build, {SMALL_HEAP // 1024} KB GC heap"
    names = [n for n in VARIANTS if n in s]
    none = s.get("none", {})
    lines = ["| Envoy start, medians | " + " | ".join(labels[n] for n in names) + " |",
             "|---|" + "---:|" * len(names)]
    for key, text in (("ready_s", "time to ready"), ("ready_cpu_s", "Envoy CPU until ready"),
                      ("until_base_s", "process start → \"Base Wasm created\""),
                      ("compile_and_first_vm_s", "→ first \"Thread-Local Wasm created\" (compile + first VM)"),
                      ("each_next_vm_s", "each further VM (clone, `_initialize`, start)"),
                      ("after_last_vm_s", "last VM → ready")):
        lines.append(f"| {text} | " + " | ".join(ms(s[n].get(key)) for n in names) + " |")
    lines += ["", "| RSS after warm-up, MB (over no filter) | " + " | ".join(labels[n] for n in names) + " |",
              "|---|" + "---:|" * len(names)]
    for key, text in (("rss", "RSS"), ("file", "file-backed (the envoy binary, V8)"),
                      ("malloc_in_use", "malloc, in use"),
                      ("malloc_kept_free", "malloc, freed but kept by tcmalloc"),
                      ("other_anon", "other anonymous (Wasm memories, compiled code)")):
        lines.append(f"| {text} | " + " | ".join(
            mb(s[n].get(key), none.get(key) if n != "none" else None) for n in names) + " |")
    whole = s["compile_cpu"].get("whole code (only `_initialize` stubbed)")
    lines += ["", "| MicroPython module in Envoy, some function bodies stubbed | \"Base Wasm created\" → "
              "failure (wall) | Envoy CPU, start to exit | CPU saved against the whole code |",
              "|---|---:|---:|---:|"]
    for label, value in s["compile"].items():
        cpu = s["compile_cpu"].get(label)
        saved = "" if cpu is None or whole is None else ms(whole - cpu)
        lines.append(f"| {label} | {ms(value)} | {ms(cpu)} | {saved} |")
    return "\n".join(lines)


def facts_text(results: dict[str, Any]) -> str:
    facts = results["module"]
    lines = [f"MicroPython module: {ef.human_bytes(facts['size'])}, of which code "
             f"{ef.human_bytes(facts['code'])} in {facts['functions']:,} functions and data "
             f"{ef.human_bytes(facts['data'])}; initial linear memory "
             f"{ef.human_bytes(facts['initial_memory_bytes'])}.", "",
             "| largest functions (names from the unstripped twin) | body | share of code |",
             "|---|---:|---:|"]
    for item in facts["largest"]:
        lines.append(f"| `{item['name'] or '#' + str(item['index'])}` | {ef.human_bytes(item['bytes'])} | "
                     f"{item['bytes'] / facts['code']:.1%} |")
    if facts.get("by_category"):
        lines += ["", "| code by what it is for (function names) | bytes | share of code |", "|---|---:|---:|"]
        for label, size in sorted(facts["by_category"].items(), key=lambda item: -item[1]):
            lines.append(f"| {label} | {ef.human_bytes(size)} | {size / facts['code']:.1%} |")
    return "\n".join(lines)


def fuel_text(results: dict[str, Any]) -> str:
    fuels = results["fuel"]
    names = [n for n in ("python", "micropython", "python_empty", "micropython_empty", "assemblyscript")
             if n in fuels]
    heads = {**ef.LABELS, "python_empty": "empty filter, CPython build",
             "micropython_empty": "empty filter, MicroPython build"}
    callbacks = sorted({c for n in names for c in fuels[n]["callbacks"]},
                       key=lambda c: -fuels.get("micropython", fuels[names[0]])["callbacks"].get(c, {}).get("per_pair", 0))
    lines = ["| Wasm instructions | " + " | ".join(heads[n] for n in names) + " |",
             "|---|" + "---:|" * len(names),
             "| VM start (instantiate, `_initialize`, `on_vm_start`, `on_configure`) | "
             + " | ".join(f"{fuels[n]['vm_start']:,}" for n in names) + " |",
             "| per request pair (one allowed, one denied), all callbacks | "
             + " | ".join(f"{fuels[n]['per_pair']:,}" for n in names) + " |"]
    for callback in callbacks:
        lines.append(f"| … `{callback}` | " + " | ".join(
            f"{fuels[n]['callbacks'].get(callback, {}).get('per_pair', 0):,.0f}" for n in names) + " |")
    return "\n".join(lines)


def section(results: dict[str, Any]) -> str:
    meta = results["meta"]
    return f"""{START}
## Where the MicroPython build's weight goes (`benchmarks/micropython_weight.py`)

`{docs_section.regenerating(meta['command'])}` — {meta['date']}, modules built from
{ef.source_text(meta.get('modules_from')) if meta.get('modules_from') else 'commit ' + meta['git_commit']}, Envoy
{meta['envoy']} `--concurrency 1`, {meta['rounds']} interleaved rounds, load average
{meta['load_start']:.1f} → {meta['load_end']:.1f}. What the script does: its docstring.

{facts_text(results)}

{tables(results)}

Wasm instructions (wasmtime fuel under the emulated host; deterministic, host work costs nothing),
{results['fuel_pairs']} request pairs after a warm-up:

{fuel_text(results)}

Machine-readable: benchmarks/results/micropython_weight.json.
{END}"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--pairs", type=int, default=200, help="request pairs of the fuel count")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    command = ".venv/bin/python benchmarks/micropython_weight.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    built_from = ef.source_state()
    modules = {"none": None, "assemblyscript": ef.build_assemblyscript(),
               "micropython": ef.build_micropython(), "micropython_heap_256k": build_small_heap(),
               "python": ef.build_python()}
    named = named_twin()
    stubs = stub_variants(modules["micropython"], named)
    results: dict[str, Any] = {"meta": {}, "module": module_facts(modules["micropython"], named),
                               "compile_cpu": {},
                               "starts": {n: [] for n in modules}, "compile": {"unchanged (compiles, then the first VM starts)": []}
                               | {label: [] for label in stubs}}
    load_start = os.getloadavg()[0]
    rng = random.Random(args.seed)
    for index in range(args.rounds):
        jobs = [("start", n) for n in modules] + [("compile", label) for label in stubs]
        rng.shuffle(jobs)
        for kind, name in jobs:
            if kind == "start":
                sample = start_sample(modules[name], args.warmup)
                results["starts"][name].append(sample)
                if name == "micropython":
                    results["compile"]["unchanged (compiles, then the first VM starts)"].append(
                        sample.get("compile_and_first_vm_s"))
                print(f"round {index + 1} {name:>16}: ready {ms(sample['ready_s'])}, compile+VM "
                      f"{ms(sample.get('compile_and_first_vm_s'))}, RSS {mb(sample['rss'])} MB",
                      file=sys.stderr)
            else:
                seconds, cpu = compile_sample(stubs[name])
                results["compile"][name].append(seconds)
                results["compile_cpu"].setdefault(name, []).append(cpu)
                print(f"round {index + 1} {name:>30}: {ms(seconds)}, CPU {ms(cpu)}", file=sys.stderr)
    results["fuel_pairs"] = args.pairs
    results["fuel"] = {n: fuel(modules[n], args.pairs) for n in ("python", "micropython", "assemblyscript")}
    for runtime, name in (("cpython", "python_empty"), ("micropython", "micropython_empty")):
        results["fuel"][name] = fuel(build_empty(runtime), args.pairs, empty=True)
    results["meta"] = {"command": command,
                       "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                       **ef.machine_info(), "load_start": load_start, "load_end": os.getloadavg()[0],
                       "rounds": args.rounds, "modules_from": built_from}
    print(facts_text(results))
    print()
    print(tables(results))
    print()
    print(fuel_text(results))
    if args.write:
        atomic_write(RESULTS_JSON, (json.dumps(results, indent=1, default=str) + "\n").encode())
        docs_section.write(START, END, section(results))
        print(f"wrote {RESULTS_JSON.relative_to(ROOT)} and the micropython-weight section", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
