"""The same filter in Python (CPython and MicroPython builds), C and AssemblyScript (and no filter),
side by side in Envoy 1.40.

    .venv/bin/python benchmarks/envoy_filters.py --write         # 5 rounds, wrk 10 s, 60 s soaks; docs
    .venv/bin/python benchmarks/envoy_filters.py --soak 60 --soak-variants micropython --variants none,micropython
    .venv/bin/python benchmarks/envoy_filters.py --quick         # < 2 minutes: no soak, 1 worker only
    .venv/bin/python benchmarks/envoy_filters.py --variants python,c --rounds 3   # print only
    .venv/bin/python benchmarks/envoy_filters.py --write --label before  # also keep results/envoy_filters-before.json
    .venv/bin/python benchmarks/envoy_filters.py --write --baseline benchmarks/results/envoy_filters-before.json

The filter (benchmarks/filters/): a request carrying `x-deny` gets a 403 local reply "denied\\n",
every other response gets `x-filter: <language>`. Variants: `python` (deny_python.py built
with `--runtime cpython`, the embedded CPython), `micropython` (the same file built with
`--runtime micropython`), `c` (deny_c.c, zig),
`assemblyscript` (deny_assemblyscript/, our ABI 0.2.1 binding) and `none` (the same listener and
direct response, no wasm filter). Modules are built once per content of their inputs (the
filter, the SDK, the build backend, the toolchain recipes) into the proxywasm cache.

Each round starts every variant fresh, in a random order, as Envoy 1.40 (`--concurrency 1`,
127.0.0.1, direct response) and measures: time to ready (process start until the admin says
LIVE and the listener accepts), RSS after a wrk warm-up, Envoy's CPU time (utime+stime from
/proc/<pid>/stat) per request during a fixed `wrk -t1 -c8` run on the allowed path and one on
the denied path, requests/s, and the RSS of the same variant at `--concurrency 2` after the
same warm-up (the cost of an extra worker). Medians over rounds are printed; with `--write` they
go to the `envoy-filters` section of docs/benchmarks.md with a plot (docs/benchmarks-envoy.png), and every number to
benchmarks/results/envoy_filters.json; the MicroPython runtime's summary at the top of the page
(benchmarks/micropython_summary.py) is redrawn from it. `--soak 60` then runs wrk through each
Python build (`--soak-variants`, default both) for 60 s (both paths), checks every response, and
samples Envoy's RSS every 5 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import docs_section
from typing import Any, Callable, Iterable, Sequence

import yaml

from proxywasm_build.cache import atomic_write, cache_dir, locked
from proxywasm_build.envoy.runner import free_port
from proxywasm_build.envoy.config import envoy_binary

ROOT = Path(__file__).resolve().parent.parent
FILTERS = ROOT / "benchmarks" / "filters"
RESULTS = ROOT / "benchmarks" / "results"
DOCS = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "benchmarks-envoy.png"
START, END = "<!-- envoy-filters:start -->", "<!-- envoy-filters:end -->"

VARIANTS = ("none", "c", "assemblyscript", "python", "micropython")
#: The variants that are the Python filter (compared with C and AssemblyScript, soaked).
PYTHON_BUILDS = ("python", "micropython")
#: With `--python-before REV`, the Python filter as commit REV built it runs in the same rounds.
BEFORE = "python_before"
LABELS = {"none": "no filter", "c": "C (zig)", "assemblyscript": "AssemblyScript",
          "python": "Python (CPython build)", "micropython": "Python (MicroPython build)"}
#: The value of `x-filter` each variant adds to allowed responses (None: no filter).
FILTER_HEADER = {"none": None, "c": "c", "assemblyscript": "assemblyscript", "python": "python",
                 "micropython": "python", BEFORE: "python"}
DIRECT_BODY = "hello from envoy\n"
MB = 1024 * 1024

# Issue 7's targets for the Python filter.
TARGET_SIZE = 2.5 * 1000 * 1000
TARGET_READY_S = 1.0
TARGET_RSS_OVER_NONE = 40 * MB


# --------------------------------------------------------------------------------------------
# Building the modules (cached by the content of everything that shapes them)


def _digest(paths: Iterable[Path]) -> str:
    sha = hashlib.sha256()
    for path in sorted(set(paths)):
        if path.is_file() and "__pycache__" not in path.parts and "node_modules" not in path.parts:
            name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
            sha.update(str(name).encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()[:20]


def _tree(directory: Path, pattern: str = "*") -> list[Path]:
    return [p for p in directory.rglob(pattern) if p.is_file()]


def _cached(name: str, inputs: list[Path], make: Callable[[Path], Path]) -> Path:
    output = cache_dir() / "benchmarks" / f"{name}-{_digest(inputs)}.wasm"
    if output.is_file():
        return output
    with locked(f"bench-{output.stem}"):
        if not output.is_file():
            output.parent.mkdir(parents=True, exist_ok=True)
            started = time.monotonic()
            make(output)
            print(f"built {name} in {time.monotonic() - started:.1f} s -> {output}", file=sys.stderr)
    return output


def _python_build_inputs(source: Path, backend: str, toolchain: str) -> list[Path]:
    """What shapes a Python module: the filter, the SDK, the build backend and its toolchain files."""
    backends = ROOT / "compiler" / "proxywasm_build" / "backends"
    return [source, *_tree(ROOT / "sdk" / "proxywasm", "*.py"), *backends.glob("*.py"),
            *_tree(backends / "common", "*.py"), *_tree(backends / backend, "*.py"),
            *_tree(ROOT / "toolchains" / toolchain)]


def build_python() -> Path:
    """deny_python.py with the embedded CPython (`proxywasm build --runtime cpython`)."""
    from proxywasm_build.backends.cpython import build_python_filter

    source = FILTERS / "deny_python.py"
    return _cached("deny_python", _python_build_inputs(source, "cpython", "python"),
                   lambda out: build_python_filter(source, out))


def build_micropython() -> Path:
    """deny_python.py with MicroPython (`proxywasm build --runtime micropython`)."""
    from proxywasm_build.backends import build_python as build_with_runtime

    source = FILTERS / "deny_python.py"
    inputs = _python_build_inputs(source, "micropython", "micropython")
    return _cached("deny_micropython", inputs,
                   lambda out: build_with_runtime(source, out, runtime="micropython"))


def build_python_at(commit: str, *, snapshot: bool = True) -> Path:
    """deny_python.py built by the SDK and build backend of an earlier `commit` (for "before").

    The commit's sdk/, compiler/ and toolchains/ are extracted with `git archive` into a scratch
    directory and its `build_python_filter` runs there in a child Python.
    """
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{commit}^{{commit}}"],
                         capture_output=True, text=True)
    if sha.returncode != 0:
        sys.exit(f"envoy_filters: {commit!r} is not a commit of this repository")
    source = FILTERS / "deny_python.py"
    kind = "" if snapshot else "-nosnapshot"
    output = cache_dir() / "benchmarks" / f"deny_python{kind}-at-{sha.stdout.strip()[:12]}-{_digest([source])}.wasm"
    if output.is_file():
        return output
    with locked(f"bench-{output.stem}"), tempfile.TemporaryDirectory(prefix="bench-at-") as scratch:
        if output.is_file():
            return output
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", sha.stdout.strip(),
                                  "sdk", "compiler", "toolchains"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", scratch], input=archive.stdout, check=True)
        program = (
            "import sys; from pathlib import Path\n"
            f"sys.path[:0] = [{scratch + '/sdk'!r}, {scratch + '/compiler'!r}]\n"
            "from proxywasm_build.backends.cpython import build_python_filter\n"
            f"build_python_filter(Path({str(source)!r}), Path({str(output)!r})"
            + ("" if snapshot else ", snapshot_module=False") + ")\n"
        )
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", program], check=True, cwd=scratch)
        print(f"built deny_python at {commit} in {time.monotonic() - started:.1f} s -> {output}",
              file=sys.stderr)
    return output


def source_state() -> dict[str, Any]:
    """The commit the modules are built from and the paths that shape them with uncommitted
    changes (other work may be in progress in the same checkout)."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    status = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "sdk", "compiler",
                             "toolchains", "examples", "benchmarks/filters"],
                            capture_output=True, text=True).stdout
    dirty = [line[3:] for line in status.splitlines() if line[:2] != "??"]
    return {"commit": commit, "dirty": dirty}


def source_text(state: dict[str, Any] | None) -> str:
    """'commit X' or 'commit X with uncommitted changes to a, b' for a docs sentence."""
    if not state:
        return "the working tree"
    dirty = state.get("dirty") or []
    return f"commit {state['commit']}" + (f" with uncommitted changes to {', '.join(dirty)}" if dirty else "")


def short_commit(commit: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", f"{commit}^{{commit}}"],
                          capture_output=True, text=True).stdout.strip()


def describe_commit(commit: str) -> str:
    short = short_commit(commit)
    return f"commit {short}" if commit == short else f"commit {commit} = {short}"


def build_c() -> Path:
    from proxywasm_build.languages.c import compile_c_module

    source = FILTERS / "deny_c.c"
    inputs = [source, ROOT / "compiler" / "proxywasm_build" / "languages" / "c.py"]
    return _cached("deny_c", inputs, lambda out: compile_c_module([source], out))


def build_assemblyscript() -> Path:
    from proxywasm_build.languages.assemblyscript import build_assemblyscript_project
    from proxywasm_build.languages.bindings import write_assemblyscript_binding

    project = FILTERS / "deny_assemblyscript"
    inputs = [*_tree(project), *_tree(ROOT / "toolchains" / "assemblyscript"),
              *_tree(ROOT / "compiler" / "proxywasm_build" / "languages", "*.py"),
              ROOT / "sdk" / "proxywasm" / "abi.py"]

    def make(output: Path) -> Path:
        # Build a copy: the binding is copied in by the build, never kept in the repository.
        with tempfile.TemporaryDirectory(prefix="bench-asc-") as scratch:
            copy = Path(scratch) / "deny_assemblyscript"
            shutil.copytree(project, copy, ignore=shutil.ignore_patterns("node_modules", "build"))
            write_assemblyscript_binding(copy)
            return build_assemblyscript_project(copy, output)

    return _cached("deny_assemblyscript", inputs, make)


BUILDERS: dict[str, Callable[[], Path]] = {
    "c": build_c, "assemblyscript": build_assemblyscript, "python": build_python,
    "micropython": build_micropython,
}


def code_section_size(data: bytes) -> int:
    from proxywasm_build.wasm.reader import read_module

    return read_module(data).code_size


# --------------------------------------------------------------------------------------------
# Envoy, started our way (any --concurrency; ready time from process start)


def bootstrap(module: Path | None, listener_port: int, admin_port: int) -> str:
    """The bootstrap every variant shares; `module=None` drops the wasm filter, nothing else.

    Written here rather than through `proxywasm_build.envoy.config.render_bootstrap` so that the benchmark's
    Envoy setup stays fixed while the project's template evolves.
    """
    http_filters: list[dict[str, Any]] = []
    if module is not None:
        http_filters.append({
            "name": "envoy.filters.http.wasm",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                "config": {
                    "name": "bench", "root_id": "",
                    "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                      "value": ""},
                    "vm_config": {"vm_id": "", "runtime": "envoy.wasm.runtime.v8",
                                  "code": {"local": {"filename": str(Path(module).resolve())}}},
                },
            },
        })
    http_filters.append({
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                         "suppress_envoy_headers": True},
    })
    config = {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {"listeners": [{
            "name": "bench",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": listener_port}},
            "filter_chains": [{"filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network."
                             "http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": "bench",
                    "codec_type": "AUTO",
                    "route_config": {"name": "local", "virtual_hosts": [{
                        "name": "all", "domains": ["*"],
                        "routes": [{"match": {"prefix": "/"},
                                    "direct_response": {"status": 200,
                                                        "body": {"inline_string": DIRECT_BODY}}}],
                    }]},
                    "http_filters": http_filters,
                },
            }]}],
        }]},
    }
    return yaml.safe_dump(config, sort_keys=False)


class BenchEnvoy:
    """One Envoy on 127.0.0.1 free ports; `start()` returns the seconds until it was ready."""

    def __init__(self, module: Path | None, concurrency: int = 1, ready_timeout: float = 180.0,
                 config: Callable[[int, int], str] | None = None,
                 extra_args: Sequence[str] = ()) -> None:
        """`config(listener_port, admin_port)`, when given, renders the bootstrap instead of
        `bootstrap(module, ...)` (another filter configuration around the same measurements);
        `extra_args` go on Envoy's command line (e.g. a log level for a component)."""
        self.module = module
        self.config = config
        self.extra_args = list(extra_args)
        #: time.time() when the process was started (log timestamps are wall-clock).
        self.started_wall = 0.0
        self.concurrency = concurrency
        self.ready_timeout = ready_timeout
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-envoy-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = self.admin_port = 0
        #: Envoy's CPU time (all threads) spent until it was ready; steadier than wall time
        #: on a loaded machine.
        self.ready_cpu_s = 0.0

    def start(self) -> float:
        for attempt in range(3):
            self.port, self.admin_port = free_port(), free_port()
            config = self.workdir / "envoy.yaml"
            config.write_text(self.config(self.port, self.admin_port) if self.config
                              else bootstrap(self.module, self.port, self.admin_port))
            command = [envoy_binary(), "-c", str(config), "--concurrency", str(self.concurrency),
                       "--use-dynamic-base-id", "--disable-hot-restart", "--log-level", "warn",
                       *self.extra_args]
            log = open(self.workdir / "envoy.log", "wb")
            started = time.monotonic()
            self.started_wall = time.time()
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
            log.close()
            while self.proc.poll() is None:
                if self._live() and self._accepts():
                    ready = time.monotonic() - started
                    self.ready_cpu_s = self.cpu_seconds()
                    return ready
                if time.monotonic() - started > self.ready_timeout:
                    self.stop()
                    raise RuntimeError(f"Envoy was not ready after {self.ready_timeout:.0f} s")
                time.sleep(0.01)
            self.proc = None
            if "Address already in use" not in self.log() or attempt == 2:
                raise RuntimeError(f"Envoy exited while starting: {self.log()[-1500:]}")
        raise AssertionError("unreachable")

    def _live(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/ready", timeout=1) as r:
                return r.status == 200 and r.read().strip() == b"LIVE"
        except (urllib.error.URLError, OSError):
            return False

    def _accepts(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def log(self) -> str:
        try:
            return (self.workdir / "envoy.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def cpu_seconds(self) -> float:
        """User + system CPU time of the whole Envoy process (all threads) so far."""
        assert self.proc is not None
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()  # fields after the command name, from field 3
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "BenchEnvoy":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def check_behaviour(envoy: BenchEnvoy, variant: str) -> None:
    """Stop the benchmark if the variant does not do what it claims to (both paths)."""
    expected = FILTER_HEADER[variant]

    def get(headers: dict[str, str]) -> tuple[int, str | None, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=10)
        try:
            conn.request("GET", "/", headers=headers)
            response = conn.getresponse()
            return response.status, response.getheader("x-filter"), response.read()
        finally:
            conn.close()

    allowed = get({})
    if allowed != (200, expected, DIRECT_BODY.encode()):
        sys.exit(f"envoy_filters: {variant}: an allowed request got {allowed}, "
                 f"expected (200, {expected!r}, {DIRECT_BODY.encode()!r})")
    denied = get({"x-deny": "1"})
    want = (200, None, DIRECT_BODY.encode()) if variant == "none" else (403, None, b"denied\n")
    if denied != want:
        sys.exit(f"envoy_filters: {variant}: a denied request got {denied}, expected {want}")


# --------------------------------------------------------------------------------------------
# wrk


@dataclass
class WrkRun:
    requests: int
    seconds: float
    requests_per_second: float
    non_2xx: int
    socket_errors: int
    envoy_cpu_seconds: float = 0.0
    output: str = field(default="", repr=False)

    @property
    def cpu_us_per_request(self) -> float:
        return self.envoy_cpu_seconds / max(self.requests, 1) * 1e6


def wrk_command(url: str, seconds: float, connections: int, headers: Sequence[str] = (),
                script: Path | None = None) -> list[str]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s"]
    for header in headers:
        command += ["-H", header]
    if script is not None:
        command += ["-s", str(script)]
    return command + [url]


def parse_wrk(output: str) -> WrkRun:
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s|m)\b", output)
    if total is None:
        raise RuntimeError(f"wrk printed no request count:\n{output}")
    value, unit = float(total.group(2)), total.group(3)
    seconds = value / 1000 if unit == "ms" else value * 60 if unit == "m" else value
    rps = re.search(r"Requests/sec:\s*([\d.]+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return WrkRun(
        requests=int(total.group(1)), seconds=seconds,
        requests_per_second=float(rps.group(1)) if rps else int(total.group(1)) / seconds,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
        output=output,
    )


def run_wrk(envoy: BenchEnvoy, seconds: float, connections: int, headers: Sequence[str] = ()) -> WrkRun:
    """A fixed wrk run; Envoy's CPU time is read just before and just after it."""
    command = wrk_command(envoy.url, seconds, connections, headers)
    cpu = envoy.cpu_seconds()
    proc = subprocess.run(command, capture_output=True, text=True)
    cpu = envoy.cpu_seconds() - cpu
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {proc.stderr.strip() or proc.stdout.strip()}")
    run = parse_wrk(proc.stdout)
    run.envoy_cpu_seconds = cpu
    return run


# --------------------------------------------------------------------------------------------
# One round of one variant


def measure_variant(variant: str, module: Path | None, args: argparse.Namespace) -> dict[str, Any]:
    sample: dict[str, Any] = {}
    with BenchEnvoy(module, concurrency=1) as envoy:
        sample["ready_s"] = envoy.start()
        sample["ready_cpu_s"] = envoy.ready_cpu_s
        check_behaviour(envoy, variant)
        run_wrk(envoy, args.warmup, args.connections)
        sample["rss_bytes"] = envoy.rss_bytes()
        for path, headers in (("allowed", ()), ("denied", ("x-deny: 1",))):
            run = run_wrk(envoy, args.duration, args.connections, headers)
            expected_non_2xx = run.requests if path == "denied" and variant != "none" else 0
            if run.socket_errors or abs(run.non_2xx - expected_non_2xx) > args.connections:
                sys.exit(f"envoy_filters: {variant} {path}: {run.socket_errors} socket errors, "
                         f"{run.non_2xx} non-2xx of {run.requests}\n{run.output}")
            sample[path] = {"requests": run.requests, "seconds": run.seconds,
                            "requests_per_second": run.requests_per_second,
                            "envoy_cpu_seconds": run.envoy_cpu_seconds,
                            "cpu_us_per_request": run.cpu_us_per_request,
                            "non_2xx": run.non_2xx, "socket_errors": run.socket_errors}
    if args.workers:
        with BenchEnvoy(module, concurrency=2) as envoy:
            sample["ready_s_concurrency_2"] = envoy.start()
            run_wrk(envoy, args.warmup, args.connections)
            sample["rss_bytes_concurrency_2"] = envoy.rss_bytes()
    return sample


# --------------------------------------------------------------------------------------------
# Soak through the Python filter

SOAK_LUA = r"""
-- Half the requests carry x-deny; every response is checked. Counters live in the thread's
-- Lua state (globals) and are summed from the main state in done().
local threads = {}
function setup(thread) table.insert(threads, thread) end

n, ok, denied, other, missing_header, bad_body = 0, 0, 0, 0, 0, 0
request = function()
  n = n + 1
  if n % 2 == 0 then
    return wrk.format("GET", "/", {["x-deny"] = "1"})
  end
  return wrk.format("GET", "/")
end
response = function(status, headers, body)
  if status == 200 then
    ok = ok + 1
    if headers["x-filter"] ~= EXPECTED_HEADER then missing_header = missing_header + 1 end
  elseif status == 403 then
    denied = denied + 1
    if body ~= "denied\n" then bad_body = bad_body + 1 end
  else
    other = other + 1
  end
end
done = function(summary, latency, requests)
  local total = {ok = 0, denied = 0, other = 0, missing_header = 0, bad_body = 0}
  for _, thread in ipairs(threads) do
    for key, _ in pairs(total) do total[key] = total[key] + thread:get(key) end
  end
  io.write(string.format("soak-counts ok=%d denied=%d other=%d missing_header=%d bad_body=%d\n",
    total.ok, total.denied, total.other, total.missing_header, total.bad_body))
end
"""


def soak(module: Path, seconds: int, args: argparse.Namespace, every: float = 5.0,
         variant: str = "python") -> dict[str, Any]:
    """wrk through a Python build of the filter for `seconds`; RSS sampled every `every` s after warm-up."""
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as scratch, \
            BenchEnvoy(module, concurrency=1) as envoy:
        script = Path(scratch) / "soak.lua"
        script.write_text(f'EXPECTED_HEADER = "{FILTER_HEADER[variant]}"\n' + SOAK_LUA)
        envoy.start()
        check_behaviour(envoy, variant)
        run_wrk(envoy, max(args.warmup, 5), args.connections)
        command = wrk_command(envoy.url, seconds, args.connections, script=script)
        started = time.monotonic()
        cpu = envoy.cpu_seconds()
        samples = [(0.0, envoy.rss_bytes())]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while proc.poll() is None:
            next_at = started + every * len(samples)
            time.sleep(max(0.0, min(next_at - time.monotonic(), 0.5)))
            if time.monotonic() >= next_at and proc.poll() is None:
                samples.append((round(time.monotonic() - started, 1), envoy.rss_bytes()))
        output, errors = proc.communicate()
        cpu = envoy.cpu_seconds() - cpu
        samples.append((round(time.monotonic() - started, 1), envoy.rss_bytes()))
        if proc.returncode != 0:
            raise RuntimeError(f"wrk failed: {errors.strip()}")
    run = parse_wrk(output)
    counts_line = re.search(r"soak-counts (.*)", output)
    counts = {k: int(v) for k, v in (item.split("=") for item in counts_line.group(1).split())} \
        if counts_line else {}
    rss = [value for _, value in samples]
    return {
        "seconds": seconds, "requests": run.requests, "requests_per_second": run.requests_per_second,
        "socket_errors": run.socket_errors, "non_2xx": run.non_2xx, "statuses": counts,
        "cpu_us_per_request": cpu / max(run.requests, 1) * 1e6,
        "rss_samples": samples, "rss_growth_bytes": rss[-1] - rss[0],
        "rss_max_growth_bytes": max(rss) - rss[0],
    }


# --------------------------------------------------------------------------------------------
# Summaries


def median_of(rounds: list[dict[str, Any]], *keys: str) -> float | None:
    values = []
    for sample in rounds:
        value: Any = sample
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            values.append(value)
    return statistics.median(values) if values else None


def range_of(rounds: list[dict[str, Any]], *keys: str) -> tuple[float, float] | None:
    values = []
    for sample in rounds:
        value: Any = sample
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            values.append(value)
    return (min(values), max(values)) if values else None


def _value(sample: dict[str, Any], keys: Sequence[str]) -> float | None:
    value: Any = sample
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def paired(ours: list[dict[str, Any]], theirs: list[dict[str, Any]], keys: Sequence[str],
           combine: Callable[[float, float], float | None]) -> float | None:
    """Median over rounds of `combine(ours, theirs)` within each round.

    Variants of one round ran minutes apart under the same background load, so a per-round
    difference or ratio is steadier than a difference or ratio of overall medians.
    """
    values = []
    for a, b in zip(ours, theirs):
        x, y = _value(a, keys), _value(b, keys)
        if x is not None and y is not None:
            combined = combine(x, y)
            if combined is not None:
                values.append(combined)
    return statistics.median(values) if values else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b is not None and b > 0 else None


def summarise(results: dict[str, Any]) -> None:
    """Add medians, overheads over `none` and ratios to C and AssemblyScript, in place.

    Sizes and RSS: ratios of medians. Time to ready and CPU per request (the load-sensitive
    ones): medians of per-round differences and ratios.
    """
    variants = results["variants"]
    for name, data in variants.items():
        rounds = data["rounds"]
        data["median"] = {
            "ready_s": median_of(rounds, "ready_s"),
            "ready_cpu_s": median_of(rounds, "ready_cpu_s"),
            "rss_bytes": median_of(rounds, "rss_bytes"),
            "rss_bytes_concurrency_2": median_of(rounds, "rss_bytes_concurrency_2"),
            "extra_worker_rss_bytes": statistics.median(
                [r["rss_bytes_concurrency_2"] - r["rss_bytes"] for r in rounds
                 if "rss_bytes_concurrency_2" in r]) if any(
                "rss_bytes_concurrency_2" in r for r in rounds) else None,
        }
        for path in ("allowed", "denied"):
            data["median"][f"{path}_cpu_us_per_request"] = median_of(rounds, path, "cpu_us_per_request")
            data["median"][f"{path}_requests_per_second"] = median_of(rounds, path, "requests_per_second")
    none = variants.get("none")
    for name, data in variants.items():
        median = data["median"]
        if none is not None:
            median["rss_over_none_bytes"] = median["rss_bytes"] - none["median"]["rss_bytes"]
            median["ready_over_none_s"] = paired(data["rounds"], none["rounds"], ("ready_s",),
                                                 lambda a, b: a - b)
            for path in ("allowed", "denied"):
                median[f"{path}_cpu_us_over_none"] = paired(
                    data["rounds"], none["rounds"], (path, "cpu_us_per_request"), lambda a, b: a - b)
    results["ratios"] = {name: build_ratios(variants, variants[name], none)
                         for name in PYTHON_BUILDS if name in variants}
    results["python_ratios"] = results["ratios"].get("python", {})


def build_ratios(variants: dict[str, Any], ours: dict[str, Any],
                 none: dict[str, Any] | None) -> dict[str, dict[str, float | None]]:
    """One Python build over C and over AssemblyScript: {"c": {metric: ratio}, ...}."""
    ratios: dict[str, dict[str, float | None]] = {}
    for other in ("c", "assemblyscript"):
        if other not in variants:
            continue
        theirs = variants[other]
        entry: dict[str, float | None] = {
            "size": _ratio(ours["size"], theirs["size"]),
            "gzip_size": _ratio(ours["gzip_size"], theirs["gzip_size"]),
            "ready_s": paired(ours["rounds"], theirs["rounds"], ("ready_s",), _ratio),
            "ready_cpu_s": _ratio(ours["median"]["ready_cpu_s"], theirs["median"]["ready_cpu_s"]),
            "rss_over_none": _ratio(ours["median"].get("rss_over_none_bytes"),
                                    theirs["median"].get("rss_over_none_bytes")),
            "extra_worker_rss": _ratio(ours["median"]["extra_worker_rss_bytes"],
                                       theirs["median"]["extra_worker_rss_bytes"]),
        }
        for path in ("allowed", "denied"):
            entry[f"{path}_cpu_us_per_request"] = paired(
                ours["rounds"], theirs["rounds"], (path, "cpu_us_per_request"), _ratio)
            if none is not None:
                def over_none_ratio(i: int, path: str = path) -> float | None:
                    base = _value(none["rounds"][i], (path, "cpu_us_per_request"))
                    a = _value(ours["rounds"][i], (path, "cpu_us_per_request"))
                    b = _value(theirs["rounds"][i], (path, "cpu_us_per_request"))
                    if None in (base, a, b):
                        return None
                    return _ratio(a - base, b - base)
                values = [r for i in range(min(len(ours["rounds"]), len(theirs["rounds"]),
                                               len(none["rounds"])))
                          if (r := over_none_ratio(i)) is not None]
                entry[f"{path}_cpu_us_over_none"] = statistics.median(values) if values else None
        ratios[other] = entry
    return ratios


def machine_info() -> dict[str, Any]:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    envoy_version = subprocess.run([envoy_binary(), "--version"], capture_output=True,
                                   text=True).stdout.strip()
    version = re.search(r"/(\d+\.\d+\.\d+)/", envoy_version)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu_model": cpu_model, "kernel": platform.release(),
            "envoy": version.group(1) if version else envoy_version, "git_commit": commit}


# --------------------------------------------------------------------------------------------
# Reporting


def human_bytes(n: float | None) -> str:
    if n is None:
        return "–"
    sign = "-" if n < 0 else "+" if False else ""
    n = abs(n)
    if n >= MB:
        return f"{sign}{n / MB:.1f} MB"
    if n >= 1024:
        return f"{sign}{n / 1024:.1f} KB"
    return f"{sign}{n:.0f} B"


def signed_mb(n: float | None) -> str:
    return "–" if n is None else f"{n / MB:+.1f} MB"


def seconds_text(s: float | None) -> str:
    if s is None:
        return "–"
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def us_text(u: float | None, signed: bool = False) -> str:
    return "–" if u is None else (f"{u:+.1f} µs" if signed else f"{u:.1f} µs")


def ratio_text(r: float | None) -> str:
    if r is None:
        return "–"
    return f"{r:,.0f}×" if r >= 100 else f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"


def rows(results: dict[str, Any]) -> list[tuple[str, list[str], str | None]]:
    """(metric, one cell per variant, ratio key) for the main table."""
    variants = results["variants"]
    def cells(fn: Callable[[dict[str, Any]], str]) -> list[str]:
        return [fn(variants[name]) for name in variants]
    return [
        ("module size", cells(lambda v: human_bytes(v["size"]) if v["size"] else "–"), "size"),
        ("module size, gzip -9", cells(lambda v: human_bytes(v["gzip_size"]) if v["size"] else "–"),
         "gzip_size"),
        ("code section", cells(lambda v: human_bytes(v["code_size"]) if v["size"] else "–"), None),
        ("Envoy time to ready", cells(lambda v: seconds_text(v["median"]["ready_s"])), "ready_s"),
        ("Envoy CPU time until ready", cells(lambda v: seconds_text(v["median"].get("ready_cpu_s"))),
         "ready_cpu_s"),
        ("Envoy RSS after warm-up", cells(lambda v: human_bytes(v["median"]["rss_bytes"])), None),
        ("RSS over no filter", cells(lambda v: signed_mb(v["median"].get("rss_over_none_bytes"))),
         "rss_over_none"),
        ("extra worker (RSS at --concurrency 2 minus 1)",
         cells(lambda v: signed_mb(v["median"]["extra_worker_rss_bytes"])), "extra_worker_rss"),
        ("Envoy CPU per request, allowed",
         cells(lambda v: us_text(v["median"]["allowed_cpu_us_per_request"])), "allowed_cpu_us_per_request"),
        ("… above no filter", cells(lambda v: us_text(v["median"].get("allowed_cpu_us_over_none"), True)),
         "allowed_cpu_us_over_none"),
        ("Envoy CPU per request, denied (403)",
         cells(lambda v: us_text(v["median"]["denied_cpu_us_per_request"])), "denied_cpu_us_per_request"),
        ("… above no filter", cells(lambda v: us_text(v["median"].get("denied_cpu_us_over_none"), True)),
         "denied_cpu_us_over_none"),
        ("requests/s, allowed",
         cells(lambda v: f"{v['median']['allowed_requests_per_second']:,.0f}"), None),
        ("requests/s, denied",
         cells(lambda v: f"{v['median']['denied_requests_per_second']:,.0f}"), None),
    ]


def label(results: dict[str, Any], variant: str) -> str:
    return results.get("meta", {}).get("labels", {}).get(variant) or LABELS.get(variant, variant)


def before_view(results: dict[str, Any]) -> dict[str, Any] | None:
    """The same run seen with the `--python-before` module as "python" (for before/after)."""
    if BEFORE not in results["variants"]:
        return None
    view = json.loads(json.dumps(results))
    view["variants"]["python"] = view["variants"].pop(BEFORE)
    view["meta"]["python_built_from"] = view["meta"].get("python_before_from", "before")
    summarise(view)
    return view


#: Short names of the Python builds in ratio column headers.
SHORT = {"python": "CPython", "micropython": "MicroPython", "c": "C", "assemblyscript": "AS"}


def markdown_table(results: dict[str, Any]) -> str:
    variants = list(results["variants"])
    ratios = results.get("ratios") or {"python": results.get("python_ratios", {})}
    ratio_columns = [(ours, other) for ours in PYTHON_BUILDS for other in ("c", "assemblyscript")
                     if other in ratios.get(ours, {})]
    header = ["", *(label(results, v) for v in variants),
              *(f"{SHORT[ours]} / {SHORT[other]}" for ours, other in ratio_columns)]
    lines = ["| " + " | ".join(header) + " |",
             "|---|" + "---:|" * (len(header) - 1)]
    for metric, cells, ratio_key in rows(results):
        extra = [ratio_text(ratios[ours][other].get(ratio_key)) if ratio_key else ""
                 for ours, other in ratio_columns]
        lines.append("| " + " | ".join([metric, *cells, *extra]) + " |")
    return "\n".join(lines)


def spread_table(results: dict[str, Any]) -> str:
    variants = results["variants"]
    lines = ["| min – max over rounds | " + " | ".join(label(results, v) for v in variants) + " |",
             "|---|" + "---:|" * len(variants)]
    def span(name: str, fmt: Callable[[float], str], *keys: str) -> str:
        found = range_of(variants[name]["rounds"], *keys)
        return "–" if found is None else f"{fmt(found[0])} – {fmt(found[1])}"
    lines.append("| time to ready | " + " | ".join(span(v, seconds_text, "ready_s") for v in variants) + " |")
    lines.append("| CPU time until ready | " + " | ".join(
        span(v, seconds_text, "ready_cpu_s") for v in variants) + " |")
    lines.append("| RSS after warm-up | " + " | ".join(
        span(v, lambda b: f"{b / MB:.0f} MB", "rss_bytes") for v in variants) + " |")
    for path in ("allowed", "denied"):
        lines.append(f"| CPU per request, {path} | " + " | ".join(
            span(v, lambda u: f"{u:.1f}", path, "cpu_us_per_request") for v in variants) + " µs |")
    return "\n".join(lines)


def python_source(results: dict[str, Any]) -> str:
    """Where the run's Python module came from: 'commit X' or 'working tree at X'."""
    meta = results["meta"]
    built_from = meta.get("python_built_from")
    if built_from and built_from != "working tree":
        return built_from
    return f"working tree at {(meta.get('modules_from') or {}).get('commit') or meta['git_commit']}"


def targets_table(results: dict[str, Any], baseline: dict[str, Any] | None) -> str:
    python = results["variants"].get("python")
    if python is None:
        return ""
    def row_values(res: dict[str, Any] | None) -> dict[str, str] | None:
        if res is None or "python" not in res["variants"]:
            return None
        p = res["variants"]["python"]
        as_median = res["variants"].get("assemblyscript", {}).get("median", {})
        ratio = res.get("python_ratios", {}).get("assemblyscript", {}).get("ready_s")
        cpu_vs_as = None
        if as_median:
            cpu_vs_as = (f"{p['median']['allowed_cpu_us_per_request']:.1f} vs "
                         f"{as_median['allowed_cpu_us_per_request']:.1f} µs allowed, "
                         f"{p['median']['denied_cpu_us_per_request']:.1f} vs "
                         f"{as_median['denied_cpu_us_per_request']:.1f} µs denied")
        return {
            "size": human_bytes(p["size"]),
            "ready": seconds_text(p["median"]["ready_s"]) + (f" ({ratio_text(ratio)} AssemblyScript)" if ratio else ""),
            "ready_cpu": seconds_text(p["median"].get("ready_cpu_s")),
            "rss": signed_mb(p["median"].get("rss_over_none_bytes")),
            "worker": signed_mb(p["median"]["extra_worker_rss_bytes"]),
            "cpu": cpu_vs_as or "–",
        }
    now, before = row_values(results), row_values(baseline)
    m = python["median"]
    as_m = results["variants"].get("assemblyscript", {}).get("median")
    met = {
        "size": python["size"] <= TARGET_SIZE,
        "ready": m["ready_s"] <= TARGET_READY_S,
        "ready_cpu": None,
        "rss": m.get("rss_over_none_bytes") is not None and m["rss_over_none_bytes"] <= TARGET_RSS_OVER_NONE,
        "worker": None,
        "cpu": None if not as_m else (m["allowed_cpu_us_per_request"] <= as_m["allowed_cpu_us_per_request"]
                                      and m["denied_cpu_us_per_request"] <= as_m["denied_cpu_us_per_request"]),
    }
    names = {"size": "module ≤ 2.5 MB raw", "ready": "Envoy time to ready ≤ 1.0 s",
             "ready_cpu": "Envoy CPU time until ready (measured, no target)",
             "rss": "Envoy RSS over no filter ≤ +40 MB (1 worker)",
             "worker": "each extra worker (measured, no target)",
             "cpu": "CPU per request ≤ AssemblyScript's"}
    header = "| issue 7 target | " + (f"before ({python_source(baseline)}) | " if before else "") \
        + f"now ({python_source(results)}) | met |"
    lines = [header, "|---|" + ("---:|" if before else "") + "---:|:---:|"]
    for key, name in names.items():
        verdict = "–" if met[key] is None else ("yes" if met[key] else "**no**")
        lines.append(f"| {name} | " + (f"{before[key]} | " if before else "") + f"{now[key]} | {verdict} |")
    return "\n".join(lines)


def soaks_of(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every soak of a run by variant (runs before `--soak-variants` kept one, of "python")."""
    if results.get("soaks"):
        return results["soaks"]
    return {"python": results["soak"]} if results.get("soak") else {}


def soaks_text(results: dict[str, Any]) -> str:
    return "\n".join(soak_text(s, label(results, name)) for name, s in soaks_of(results).items())


def soak_text(soak_result: dict[str, Any] | None, who: str = "the Python filter") -> str:
    if not soak_result:
        return ""
    s = soak_result
    statuses = s["statuses"]
    samples = ", ".join(f"{value / MB:.1f}" for _, value in s["rss_samples"])
    return (
        f"**Soak, {who}** (`--soak {s['seconds']}`): {s['seconds']} s of `wrk -t1 -c{s['connections']}` "
        f"through it after a warm-up, every other request carrying `x-deny`, every "
        f"response checked by a wrk script: {s['requests']:,} requests ({s['requests_per_second']:,.0f}/s, "
        f"{s['cpu_us_per_request']:.1f} µs Envoy CPU each), {statuses.get('ok', 0):,} × 200 and "
        f"{statuses.get('denied', 0):,} × 403; unexpected: {statuses.get('other', 0)} other statuses, "
        f"{statuses.get('missing_header', 0)} allowed responses without `x-filter`, "
        f"{statuses.get('bad_body', 0)} wrong 403 bodies, {s['socket_errors']} socket errors. "
        f"Envoy RSS every 5 s (MB): {samples}; growth after warm-up "
        f"**{signed_mb(s['rss_growth_bytes'])}** (largest {signed_mb(s['rss_max_growth_bytes'])}).\n"
    )


def section(results: dict[str, Any], baseline: dict[str, Any] | None) -> str:
    meta = results["meta"]
    variants = results["variants"]
    before = ""
    same_run = before_view(results)
    if same_run is not None:
        before = (f"\n**Before / after in the same rounds.** \"{label(results, BEFORE)}\" is the Python "
                  f"filter built by the {same_run['meta']['python_built_from']} (`--python-before`), "
                  "measured interleaved with the others.\n")
        baseline = same_run
    elif baseline is not None:
        before = ("\n**Before / after.** `--baseline` compared this run with "
                  f"`{meta['baseline_path']}` (Python module from the {python_source(baseline)}, "
                  f"measured {baseline['meta']['date']} with `{docs_section.regenerating(baseline['meta']['command'])}`).\n")
    return f"""{START}
## Envoy: the same filter in Python (CPython and MicroPython builds), C and AssemblyScript (issues 3, 7 and 12)

`{docs_section.regenerating(meta['command'])}`

{meta['date']} on {meta['nproc']} CPUs ({meta['cpu_model']}), Envoy {meta['envoy']}, modules built from
{source_text(meta['modules_from']) if meta.get('modules_from') else 'commit ' + meta['git_commit']}; load average {meta['load_start']:.1f} at start and {meta['load_end']:.1f}
at the end (other work shared the machine, hence medians). {meta['rounds']} rounds; each round
starts every variant fresh in a random order: Envoy `--concurrency 1` on 127.0.0.1 with a direct
response, then `wrk -t1 -c{meta['connections']}` for {meta['warmup']} s of warm-up, {meta['duration']} s on the allowed
path and {meta['duration']} s with `x-deny: 1`, and the same Envoy at `--concurrency 2` after the same warm-up.
The filter (benchmarks/filters/): 403 "denied\\n" when `x-deny` is present, otherwise
`x-filter: <language>` on the response; each start checks both paths. The Python modules are
benchmarks/filters/deny_python.py built by `proxywasm build --runtime cpython` (the CPython build,
from the {meta.get('python_built_from', 'working tree')}) and `--runtime micropython` (the MicroPython
build, where measured). CPU is Envoy's utime+stime from /proc per request
(all threads, so it includes Envoy's own HTTP work; "above no filter" is the filter's part).
Time to ready: process start until admin `/ready` says LIVE and the listener accepts; "CPU
time until ready" is Envoy's utime+stime at that moment (less sensitive to the load).

Medians over rounds. Ratio columns: each Python build over C and over AssemblyScript. The time-to-ready
and CPU ratios and the "above no filter" rows are medians of per-round ratios and differences
(the variants of one round share the background load), sizes and RSS are ratios of medians.

{markdown_table(results)}

{spread_table(results)}

{targets_table(results, baseline)}
{before}
{soaks_text(results)}
![module size, time to ready, RSS and CPU per request by variant](benchmarks-envoy.png)

Machine-readable: benchmarks/results/envoy_filters.json (every round). Compare with a later run:
`--baseline benchmarks/results/envoy_filters-<label>.json` (a run with `--label <label>` keeps one).
{END}"""


def write_section(text: str, path: Path = DOCS) -> None:
    """Replace this benchmark's section of docs/benchmarks.md, leaving every other one alone."""
    docs_section.write(START, END, text, path)


def plot(results: dict[str, Any], path: Path = PLOT) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = results["variants"]
    names = list(variants)
    labels = [label(results, n).replace(" (", "\n(") for n in names]
    colours = {"none": "#9e9e9e", "c": "#4c72b0", "assemblyscript": "#55a868", "python": "#dd8452",
               "micropython": "#8172b2",
               BEFORE: "#8c564b"}
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))

    def bars(ax, values, errors=None, *, title, unit, log=False, fmt="{:.0f}"):
        xs = range(len(names))
        ax.bar(xs, [v or 0 for v in values], color=[colours[n] for n in names],
               yerr=errors, capsize=4 if errors else 0)
        ax.set_xticks(list(xs), labels, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(unit)
        if log:
            ax.set_yscale("log")
        for x, v in zip(xs, values):
            if v:
                ax.annotate(fmt.format(v), (x, v), ha="left", va="bottom", fontsize=8,
                            xytext=(6, 2), textcoords="offset points")

    def err(keys: tuple[str, ...], scale: float) -> list[list[float]]:
        low, high = [], []
        for n in names:
            med = median_of(variants[n]["rounds"], *keys)
            span = range_of(variants[n]["rounds"], *keys)
            low.append((med - span[0]) * scale if span else 0)
            high.append((span[1] - med) * scale if span else 0)
        return [low, high]

    with_module = [n for n in names]
    bars(axes[0][0], [variants[n]["size"] / 1024 if variants[n]["size"] else None for n in with_module],
         title="module size (KB, log scale)", unit="KB", log=True, fmt="{:,.1f}")
    bars(axes[0][1], [variants[n]["median"]["ready_s"] * 1000 for n in names], err(("ready_s",), 1000),
         title="Envoy time to ready (ms, log scale; bars: min–max)", unit="ms", log=True)
    ax = axes[1][0]
    width = 0.38
    for offset, key in ((-width / 2, "rss_bytes"), (width / 2, "rss_bytes_concurrency_2")):
        values = [(variants[n]["median"].get(key) or 0) / MB for n in names]
        ax.bar([i + offset for i in range(len(names))], values, width,
               color=[colours[n] for n in names], alpha=1.0 if key == "rss_bytes" else 0.55)
        for i, value in enumerate(values):
            if value:
                ax.annotate(f"{value:.0f}", (i + offset, value), ha="center", va="bottom", fontsize=7,
                            xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(list(range(len(names))), labels, fontsize=8)
    ax.set_title("Envoy RSS after warm-up (MB; solid 1 worker, light 2 workers)", fontsize=10)
    ax.set_ylabel("MB")
    ax = axes[1][1]
    width = 0.38
    for offset, traffic in ((-width / 2, "allowed"), (width / 2, "denied")):
        values = [variants[n]["median"][f"{traffic}_cpu_us_per_request"] for n in names]
        e = err((traffic, "cpu_us_per_request"), 1)
        ax.bar([i + offset for i in range(len(names))], values, width, yerr=e, capsize=3,
               color=[colours[n] for n in names], alpha=1.0 if traffic == "allowed" else 0.55)
        for i, value in enumerate(values):
            ax.annotate(f"{value:.0f}", (i + offset, value), ha="left", va="bottom", fontsize=7,
                        xytext=(3, 1), textcoords="offset points")
    ax.set_xticks(list(range(len(names))), labels, fontsize=8)
    ax.set_title("Envoy CPU per request (µs; solid allowed, light denied)", fontsize=10)
    ax.set_ylabel("µs")
    meta = results["meta"]
    fig.suptitle(f"Same filter, Envoy {meta['envoy']} --concurrency 1: medians of {meta['rounds']} "
                 f"interleaved rounds ({meta['date'][:10]}, commit {meta['git_commit']})", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.tmp{os.getpid()}.png")
    fig.savefig(scratch, dpi=110)
    plt.close(fig)
    os.replace(scratch, path)


def print_summary(results: dict[str, Any]) -> None:
    print(markdown_table(results))
    print()
    print(spread_table(results))
    if soaks_of(results):
        print()
        print(soaks_text(results))


# --------------------------------------------------------------------------------------------


def load_baseline(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    baseline = json.loads(path.read_text())
    summarise(baseline)  # with today's rules (paired ratios), whatever wrote the file
    return baseline


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated subset of {','.join(VARIANTS)}")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 5, quick 2)")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds of each measured wrk run (default 10, quick 2)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds of wrk warm-up (default 2, quick 1)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (-c)")
    parser.add_argument("--soak", type=int, default=None, metavar="SECONDS",
                        help="soak through each Python build for SECONDS (default 60, quick 0 = none)")
    parser.add_argument("--soak-variants", default=",".join(PYTHON_BUILDS), metavar="VARIANTS",
                        help="the variants --soak runs, comma-separated (default: "
                             f"{','.join(PYTHON_BUILDS)}, those measured)")
    parser.add_argument("--workers", action=argparse.BooleanOptionalAction, default=None,
                        help="also start each variant at --concurrency 2 (default yes, quick no)")
    parser.add_argument("--quick", action="store_true",
                        help="2 rounds of 2 s, no soak, no --concurrency 2 starts: under 2 minutes")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random order")
    parser.add_argument("--python-commit", default=None, metavar="REV",
                        help="build the Python variant with the SDK and build backend of commit REV "
                             "(a 'before' run); default: the working tree")
    parser.add_argument("--python-before", default=None, metavar="REV",
                        help="also run the Python filter as commit REV built it, in the same rounds "
                             "(before/after side by side)")
    parser.add_argument("--label", default=None, help="also save results/envoy_filters-LABEL.json")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="an earlier results JSON to show as 'before' in docs/benchmarks.md")
    parser.add_argument("--render", type=Path, default=None, metavar="RESULTS_JSON",
                        help="measure nothing: redraw the plot and the docs section from a results JSON")
    parser.add_argument("--write", action="store_true",
                        help="also write docs/benchmarks.md, the plot and the results JSON (default: print only)")
    args = parser.parse_args(argv)
    args.rounds = (2 if args.quick else 5) if args.rounds is None else args.rounds
    args.duration = (2.0 if args.quick else 10.0) if args.duration is None else args.duration
    args.warmup = (1.0 if args.quick else 2.0) if args.warmup is None else args.warmup
    if args.workers is None:
        args.workers = not args.quick
    if args.soak is None:
        args.soak = 0 if args.quick else 60
    args.variant_list = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in args.variant_list if v not in VARIANTS and v != BEFORE]
    if unknown or not args.variant_list:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    if args.python_before:
        args.variant_list.append(BEFORE)
    args.soak_list = [v.strip() for v in args.soak_variants.split(",")
                      if v.strip() and v.strip() in args.variant_list and v.strip() != "none"]
    if not args.soak_list:
        args.soak = 0
    check_load_args(parser, args)
    return args


def check_load_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """What every script driving Envoy with wrk needs of its arguments and of the machine."""
    if args.rounds < 1 or args.duration < 1 or args.connections < 1:
        parser.error("--rounds, --duration and --connections must be at least 1")
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian: apt-get install wrk)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        results = json.loads(args.render.read_text())
        summarise(results)
        baseline = load_baseline(args.baseline)
        print_summary(results)
        if args.write:
            plot(results)
            write_section(section(results, baseline))
            if args.render.resolve() == (RESULTS / "envoy_filters.json").resolve():
                import micropython_summary

                micropython_summary.write()
        return 0
    command = ".venv/bin/python benchmarks/envoy_filters.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    baseline = load_baseline(args.baseline)
    # Keep the order of VARIANTS in tables, whatever order they were asked in.
    chosen = [v for v in (*VARIANTS, BEFORE) if v in args.variant_list]

    results: dict[str, Any] = {"meta": {}, "variants": {}}
    built_from = source_state()
    if args.python_commit:
        BUILDERS["python"] = lambda: build_python_at(args.python_commit)
    if args.python_before:
        BUILDERS[BEFORE] = lambda: build_python_at(args.python_before)
    for name in chosen:
        module = BUILDERS[name]() if name in BUILDERS else None
        data = module.read_bytes() if module else b""
        results["variants"][name] = {
            "module": str(module) if module else None, "size": len(data),
            "gzip_size": len(gzip.compress(data, 9)) if data else 0,
            "code_size": code_section_size(data) if data else 0, "rounds": [],
        }

    load_start = os.getloadavg()[0]
    started = time.monotonic()
    rng = random.Random(args.seed)
    for index in range(args.rounds):
        order = list(chosen)
        rng.shuffle(order)
        for name in order:
            variant = results["variants"][name]
            module = Path(variant["module"]) if variant["module"] else None
            sample = measure_variant(name, module, args)
            sample["round"] = index + 1
            variant["rounds"].append(sample)
            print(f"round {index + 1}/{args.rounds} {name:>14}: ready {sample['ready_s'] * 1000:7.0f} ms, "
                  f"RSS {sample['rss_bytes'] / MB:6.1f} MB, CPU/request "
                  f"{sample['allowed']['cpu_us_per_request']:5.1f} µs allowed "
                  f"{sample['denied']['cpu_us_per_request']:5.1f} µs denied, "
                  f"{sample['allowed']['requests_per_second']:,.0f} req/s"
                  + (f", {(sample['rss_bytes_concurrency_2'] - sample['rss_bytes']) / MB:+.1f} MB "
                     "2nd worker" if "rss_bytes_concurrency_2" in sample else ""),
                  file=sys.stderr)
    if args.soak:
        results["soaks"] = {}
        for name in args.soak_list:
            print(f"soak: {args.soak} s through {label(results, name)} ...", file=sys.stderr)
            module = Path(results["variants"][name]["module"])
            results["soaks"][name] = soak(module, args.soak, args, variant=name)
            results["soaks"][name]["connections"] = args.connections

    results["meta"] = {
        "command": command, "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        **machine_info(), "load_start": load_start, "load_end": os.getloadavg()[0],
        "rounds": args.rounds, "duration": args.duration, "warmup": args.warmup,
        "connections": args.connections, "wrk": f"wrk -t1 -c{args.connections} -d{args.duration:g}s",
        "seconds": round(time.monotonic() - started, 1),
        "baseline_path": str(args.baseline) if args.baseline else None,
        "python_built_from": describe_commit(args.python_commit) if args.python_commit else "working tree",
        "modules_from": built_from,
        "python_before_from": describe_commit(args.python_before) if args.python_before else None,
        "labels": ({"python": f"Python ({short_commit(args.python_commit) if args.python_commit else 'now'})",
                    BEFORE: f"Python before ({short_commit(args.python_before)})"}
                   if args.python_before else {}),
    }
    summarise(results)
    print_summary(results)
    print(f"\n{results['meta']['seconds']:.0f} s of measurement; load average "
          f"{load_start:.1f} -> {results['meta']['load_end']:.1f}", file=sys.stderr)
    if args.write:
        text = json.dumps(results, indent=1, default=str) + "\n"
        atomic_write(RESULTS / "envoy_filters.json", text.encode())
        if args.label:
            atomic_write(RESULTS / f"envoy_filters-{args.label}.json", text.encode())
        plot(results)
        write_section(section(results, baseline))
        import micropython_summary

        micropython_summary.write()
        print(f"wrote {DOCS.relative_to(ROOT)} (envoy-filters section and the MicroPython summary), "
              f"{PLOT.relative_to(ROOT)}, benchmarks/results/envoy_filters.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
