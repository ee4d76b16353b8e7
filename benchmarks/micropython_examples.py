"""Every example filter built for both runtimes, in Envoy 1.40, beside the AssemblyScript filter.

    .venv/bin/python benchmarks/micropython_examples.py --write        # 5 rounds; JSON + docs summary
    .venv/bin/python benchmarks/micropython_examples.py --quick        # 2 rounds of 2 s, MicroPython only
    .venv/bin/python benchmarks/micropython_examples.py --runtimes micropython --rounds 3   # print only

Each example (examples/*/filter.py) is built with `proxywasm build --runtime micropython` and,
unless `--runtimes` leaves it out, `--runtime cpython` (cached by the content of the filter,
the SDK and the backend). Each round starts, in a random order, Envoy 1.40 (`--concurrency 1`,
127.0.0.1, a direct response) with no filter (HTTP and TCP listeners), with the AssemblyScript
benchmark filter (benchmarks/filters/deny_assemblyscript, the reference of the targets) and
with each example module under its plugin configuration (the ones its tests use; `http_auth`'s
authorisation cluster is Envoy's own admin, whose `/ready` answers 200). It checks that the
example does its job in Envoy (a denial, a rewritten header, an authorised request, a rate-limit
header, a TCP connection counted), then measures time to ready, Envoy's CPU until ready, RSS after
a warm-up and, for the HTTP examples, Envoy's CPU per request during `wrk -t1 -c8`.

Targets (issue 12, for the MicroPython build): module <= 300 KB, time to ready <= 2x the
AssemblyScript filter's, RSS over no filter <= 1.5x its, CPU per request over no filter <= its.
The AssemblyScript filter is the deny filter, so an example doing more work per request (JSON,
a callout) has a harder CPU target than a like-for-like comparison would give it.

Results are printed; `--write` also writes benchmarks/results/micropython_examples.json and
redraws the MicroPython summary at the top of docs/benchmarks.md (micropython_summary.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import envoy_filters as ef  # noqa: E402

from proxywasm_build.cache import atomic_write  # noqa: E402
from proxywasm_build.envoy.config import render_bootstrap  # noqa: E402
from proxywasm_build.errors import UserError  # noqa: E402

ROOT = ef.ROOT
EXAMPLES_DIR = ROOT / "examples"
RESULTS_JSON = ef.RESULTS / "micropython_examples.json"
RUNTIMES = ("micropython", "cpython")
#: The reference variants every round also starts: no filter (HTTP with a direct response, HTTP
#: through an upstream, TCP) and the AssemblyScript filter.
REFERENCES = ("none", "none_upstream", "none_tcp", "assemblyscript")
#: What the upstream listener (in the same Envoy) answers a filter that needs an upstream.
UPSTREAM_BODY = '{"id": 7, "internal_id": "a1", "name": "alice"}'

DIRECT_BODY = "hello from envoy\n"


@dataclass(frozen=True)
class Example:
    """How an example runs in the benchmark: its plugin configuration and one request shape."""

    config: dict[str, Any]
    tcp: bool = False
    #: Forward to an upstream (a second listener of the same Envoy answering `UPSTREAM_BODY`
    #: as JSON) rather than answer with a direct response: a body filter needs one.
    upstream: bool = False
    #: wrk request headers (and a POST body with `body`) of the measured run.
    headers: tuple[str, ...] = ()
    body: bytes | None = None
    #: `cluster name -> "admin"`: clusters pointing at Envoy's own admin listener.
    admin_clusters: tuple[str, ...] = ()
    check: Callable[["ef.BenchEnvoy"], str | None] = field(default=lambda envoy: None)


def _get(envoy: "ef.BenchEnvoy", headers: dict[str, str] | None = None, method: str = "GET",
         body: bytes | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=10)
    conn.request(method, "/", body=body, headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def _expect(condition: bool, what: str) -> str | None:
    return None if condition else what


def check_allow_deny(envoy: "ef.BenchEnvoy") -> str | None:
    return (_expect(_get(envoy).status == 200, "an allowed request was not 200")
            or _expect(_get(envoy, {"x-deny": "1"}).status == 403, "x-deny was not 403"))


def check_header_rewrite(envoy: "ef.BenchEnvoy") -> str | None:
    response = _get(envoy, {"x-internal-token": "secret"})
    return _expect(response.status == 200 and response.getheader("x-frame-options") == "DENY",
                   f"no x-frame-options: DENY on the response ({response.status})")


def check_http_auth(envoy: "ef.BenchEnvoy") -> str | None:
    return _expect(_get(envoy, {"authorization": "Bearer good"}).status == 200,
                   "a request authorised by the admin's /ready was not 200")


JSON_BODY = b'{"user": "alice", "password": "hunter2", "items": [1, 2]}'


def check_json_body(envoy: "ef.BenchEnvoy") -> str | None:
    conn = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=10)
    conn.request("POST", "/", body=JSON_BODY, headers={"content-type": "application/json"})
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    bad = _get(envoy, {"content-type": "application/json"}, "POST", b"not json")
    return (_expect(response.status == 200 and body.get("served_by") == "python"
                    and "internal_id" not in body, f"a JSON POST got {response.status} {body}")
            or _expect(bad.status == 400, f"a POST of invalid JSON got {bad.status}, not 400"))


def check_rate_limit(envoy: "ef.BenchEnvoy") -> str | None:
    response = _get(envoy)
    return _expect(response.status == 200 and response.getheader("x-ratelimit-remaining") is not None,
                   f"no x-ratelimit-remaining on a 200 ({response.status})")


def check_tcp_metrics(envoy: "ef.BenchEnvoy") -> str | None:
    with socket.create_connection(("127.0.0.1", envoy.port), timeout=10) as conn:
        conn.sendall(b"ping\n")
        received = b""
        while chunk := conn.recv(4096):
            received += chunk
    if received != DIRECT_BODY.encode():
        return f"the TCP listener answered {received!r}"
    # The readiness probe opened a connection too, so count sent bytes rather than connections.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        stats = dict(line.split(": ", 1) for line in
                     admin_text(envoy, "/stats?filter=tcp_metrics").splitlines() if ": " in line)
        if int(stats.get("wasmcustom.tcp_metrics.bytes_sent", "0")) >= len(DIRECT_BODY):
            return None
        time.sleep(0.1)
    return "Envoy's stats show no bytes counted by tcp_metrics"


def admin_text(envoy: "ef.BenchEnvoy", path: str) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{envoy.admin_port}{path}", timeout=5) as response:
        return response.read().decode()


#: The reference filter (benchmarks/filters/deny_assemblyscript): `x-deny` gets a 403.
ASSEMBLYSCRIPT = Example(config={}, check=check_allow_deny)

#: The configurations of examples/*/test_filter.py, adapted so every measured request passes.
EXAMPLES: dict[str, Example] = {
    "allow_deny": Example(config={}, check=check_allow_deny),
    "header_rewrite": Example(
        config={"request": {"remove": ["X-Internal-Token"], "set": {"x-forwarded-proto": "https"},
                            "add": {"x-tag": "from-filter", "x-trace": ["1", "2"]}},
                "response": {"remove": ["server", "x-powered-by"], "add": {"x-frame-options": "DENY"},
                             "set": {"content-type": "text/html"}}},
        headers=("x-internal-token: secret",), check=check_header_rewrite),
    "http_auth": Example(
        config={"cluster": "auth", "authority": "auth.internal", "path": "/ready",
                "timeout_seconds": 1, "forward_headers": ["authorization"],
                "copy_headers": ["x-auth-user"]},
        headers=("authorization: Bearer good",), admin_clusters=("auth",), check=check_http_auth),
    "json_body": Example(
        config={"request": {"set": {"source": "edge"}, "remove": ["password"]},
                "response": {"set": {"served_by": "python"}, "remove": ["internal_id"]},
                "max_bytes": 4096},
        headers=("content-type: application/json",), body=JSON_BODY, upstream=True,
        check=check_json_body),
    "rate_limit": Example(
        config={"capacity": 1_000_000_000, "refill": 1_000_000_000, "period_seconds": 1},
        check=check_rate_limit),
    "tcp_metrics": Example(config={"prefix": "tcp_metrics."}, tcp=True, check=check_tcp_metrics),
}


# --------------------------------------------------------------------------------------------
# Modules


def build_example(name: str, runtime: str) -> Path:
    from proxywasm_build.backends import build_python

    source = EXAMPLES_DIR / name / "filter.py"
    toolchain = "python" if runtime == "cpython" else runtime
    inputs = ef._python_build_inputs(source, runtime, toolchain)
    return ef._cached(f"example-{name}-{runtime}", inputs,
                      lambda out: build_python(source, out, runtime=runtime))


def bootstrap_for(variant: str, module: Path | None) -> Callable[[int, int], str]:
    """The bootstrap of one variant: an example with its configuration, or a reference."""
    if variant == "assemblyscript":
        return lambda port, admin: render_example(Example(config={}), module, port, admin)
    if variant == "none":
        return lambda port, admin: without_wasm(render_example(Example(config={}), Path("/dev/null"),
                                                               port, admin))
    if variant == "none_tcp":
        return lambda port, admin: without_wasm(render_example(Example(config={}, tcp=True),
                                                               Path("/dev/null"), port, admin))
    if variant == "none_upstream":
        return lambda port, admin: without_wasm(render_example(Example(config={}, upstream=True),
                                                               Path("/dev/null"), port, admin))
    example = EXAMPLES[variant.split("/")[0]]
    return lambda port, admin: render_example(example, module, port, admin)


def render_example(example: Example, module: Path | None, port: int, admin: int) -> str:
    import yaml

    upstream_port = ef.free_port() if example.upstream else 0
    text = render_bootstrap(
        module=module, plugin_config=json.dumps(example.config), listener_port=port,
        admin_port=admin, tcp=example.tcp, direct_response=(200, DIRECT_BODY),
        upstream=("127.0.0.1", upstream_port) if example.upstream else None,
        clusters={name: ("127.0.0.1", admin) for name in example.admin_clusters})
    if not example.upstream:
        return text
    config = yaml.safe_load(text)
    config["static_resources"]["listeners"].append(upstream_listener(upstream_port))
    return yaml.safe_dump(config, sort_keys=False)


def upstream_listener(port: int) -> dict[str, Any]:
    """A listener answering every request with `UPSTREAM_BODY` as application/json."""
    hcm = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
    return {
        "name": "upstream_json",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": hcm, "stat_prefix": "upstream_json",
                "route_config": {"name": "json", "virtual_hosts": [{
                    "name": "json", "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "direct_response": {
                        "status": 200, "body": {"inline_string": UPSTREAM_BODY}}}],
                    "response_headers_to_add": [{
                        "header": {"key": "content-type", "value": "application/json"},
                        "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}],
                }]},
                "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
            },
        }]}],
    }


def without_wasm(text: str) -> str:
    """The same bootstrap with its wasm filters taken out (a no-filter reference)."""
    import yaml

    config = yaml.safe_load(text)
    for listener in config["static_resources"]["listeners"]:
        for chain in listener["filter_chains"]:
            chain["filters"] = [f for f in chain["filters"] if f["name"] != "envoy.filters.network.wasm"]
            for f in chain["filters"]:
                http_filters = f.get("typed_config", {}).get("http_filters")
                if http_filters is not None:
                    http_filters[:] = [h for h in http_filters if h["name"] != "envoy.filters.http.wasm"]
    return yaml.safe_dump(config, sort_keys=False)


# --------------------------------------------------------------------------------------------
# Measuring


def is_tcp(variant: str) -> bool:
    return variant == "none_tcp" or (variant not in REFERENCES and EXAMPLES[variant.split("/")[0]].tcp)


def baseline_of(variant: str) -> str:
    """The no-filter variant an example's overheads are measured against (same listeners)."""
    if variant in REFERENCES:
        return "none"
    example = EXAMPLES[variant.split("/")[0]]
    return "none_tcp" if example.tcp else "none_upstream" if example.upstream else "none"


def wrk_script(example: Example | None, scratch: Path) -> Path | None:
    if example is None or example.body is None:
        return None
    script = scratch / "post.lua"
    script.write_text(f'wrk.method = "POST"\nwrk.body = {json.dumps(example.body.decode())}\n')
    return script


def run_wrk(envoy: "ef.BenchEnvoy", seconds: float, connections: int, example: Example | None,
            scratch: Path) -> "ef.WrkRun":
    import subprocess

    command = ef.wrk_command(envoy.url, seconds, connections, example.headers if example else (),
                             wrk_script(example, scratch))
    cpu = envoy.cpu_seconds()
    proc = subprocess.run(command, capture_output=True, text=True)
    cpu = envoy.cpu_seconds() - cpu
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {proc.stderr.strip() or proc.stdout.strip()}")
    run = ef.parse_wrk(proc.stdout)
    run.envoy_cpu_seconds = cpu
    return run


def tcp_warm_up(envoy: "ef.BenchEnvoy", connections: int = 50) -> None:
    for _ in range(connections):
        with socket.create_connection(("127.0.0.1", envoy.port), timeout=10) as conn:
            conn.sendall(b"ping\n")
            while conn.recv(4096):
                pass


def measure(variant: str, module: Path | None, args: argparse.Namespace) -> dict[str, Any]:
    example = None if variant in REFERENCES else EXAMPLES[variant.split("/")[0]]
    checked = ASSEMBLYSCRIPT if variant == "assemblyscript" else example
    sample: dict[str, Any] = {}
    with ef.BenchEnvoy(module, config=bootstrap_for(variant, module)) as envoy, \
            tempfile.TemporaryDirectory(prefix="bench-examples-") as scratch:
        sample["ready_s"] = envoy.start()
        sample["ready_cpu_s"] = envoy.ready_cpu_s
        if checked is not None:
            problem = checked.check(envoy)
            if problem:
                sys.exit(f"micropython_examples: {variant}: {problem}\n{envoy.log()[-2000:]}")
        if is_tcp(variant):
            tcp_warm_up(envoy)
            sample["rss_bytes"] = envoy.rss_bytes()
            return sample
        run_wrk(envoy, args.warmup, args.connections, example, Path(scratch))
        sample["rss_bytes"] = envoy.rss_bytes()
        run = run_wrk(envoy, args.duration, args.connections, example, Path(scratch))
        if run.socket_errors or run.non_2xx > args.connections:
            sys.exit(f"micropython_examples: {variant}: {run.socket_errors} socket errors, "
                     f"{run.non_2xx} non-2xx of {run.requests}\n{run.output}")
        sample.update(requests=run.requests, requests_per_second=run.requests_per_second,
                      cpu_us_per_request=run.cpu_us_per_request)
    return sample


# --------------------------------------------------------------------------------------------
# Summaries


def _paired(ours: list[dict[str, Any]], theirs: list[dict[str, Any]], key: str,
            combine: Callable[[float, float], float | None]) -> float | None:
    return ef.paired(ours, theirs, (key,), combine)


def summarise(results: dict[str, Any]) -> None:
    """Medians, overheads over the matching no-filter listener and ratios to AssemblyScript."""
    variants = results["variants"]
    reference = variants.get("assemblyscript")
    for name, data in variants.items():
        rounds = data["rounds"]
        median = data["median"] = {key: ef.median_of(rounds, key) for key in
                                   ("ready_s", "ready_cpu_s", "rss_bytes", "cpu_us_per_request",
                                    "requests_per_second")}
        none = variants.get(baseline_of(name))
        if none is not None and not name.startswith("none"):
            median["rss_over_none_bytes"] = _paired(rounds, none["rounds"], "rss_bytes",
                                                    lambda a, b: a - b)
            median["cpu_us_over_none"] = _paired(rounds, none["rounds"], "cpu_us_per_request",
                                                 lambda a, b: a - b)
            median["ready_over_none_s"] = _paired(rounds, none["rounds"], "ready_s", lambda a, b: a - b)
        if reference is not None and name not in REFERENCES:
            median["ready_over_assemblyscript"] = _paired(rounds, reference["rounds"], "ready_s",
                                                          ef._ratio)
    if reference is not None:
        as_over = reference["median"].get("rss_over_none_bytes")
        for name, data in variants.items():
            if name not in REFERENCES:
                data["median"]["rss_over_none_over_assemblyscript"] = ef._ratio(
                    data["median"].get("rss_over_none_bytes"), as_over)


def table(results: dict[str, Any]) -> str:
    variants = results["variants"]
    lines = ["| variant | module | time to ready | CPU until ready | RSS | RSS over no filter | "
             "CPU/request | over no filter | req/s |", "|---|" + "---:|" * 8]
    for name, data in variants.items():
        m = data["median"]
        lines.append(
            f"| {name} | {ef.human_bytes(data['size']) if data['size'] else '–'} | "
            f"{ef.seconds_text(m['ready_s'])}"
            + (f" ({m['ready_over_assemblyscript']:.2f}× AS)" if m.get("ready_over_assemblyscript") else "")
            + f" | {ef.seconds_text(m['ready_cpu_s'])} | {ef.human_bytes(m['rss_bytes'])} | "
            f"{ef.signed_mb(m.get('rss_over_none_bytes'))} | {ef.us_text(m['cpu_us_per_request'])} | "
            f"{ef.us_text(m.get('cpu_us_over_none'), True)} | "
            + (f"{m['requests_per_second']:,.0f}" if m["requests_per_second"] else "–") + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", default=",".join(EXAMPLES),
                        help=f"comma-separated subset of {','.join(EXAMPLES)}")
    parser.add_argument("--runtimes", default=None,
                        help="comma-separated runtimes to build each example with "
                             "(default micropython,cpython; quick: micropython)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 5, quick 2)")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds of each measured wrk run (default 5, quick 2)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds of wrk warm-up (default 1)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (-c)")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 s, MicroPython builds only")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random order")
    parser.add_argument("--write", action="store_true",
                        help="also write the results JSON and the summary in docs/benchmarks.md")
    args = parser.parse_args(argv)
    args.rounds = (2 if args.quick else 5) if args.rounds is None else args.rounds
    args.duration = (2.0 if args.quick else 5.0) if args.duration is None else args.duration
    args.warmup = 1.0 if args.warmup is None else args.warmup
    runtimes = args.runtimes or ("micropython" if args.quick else ",".join(RUNTIMES))
    args.runtime_list = [r.strip() for r in runtimes.split(",") if r.strip()]
    args.example_list = [e.strip() for e in args.examples.split(",") if e.strip()]
    unknown = [r for r in args.runtime_list if r not in RUNTIMES] + \
        [e for e in args.example_list if e not in EXAMPLES]
    if unknown or not args.runtime_list or not args.example_list:
        parser.error(f"unknown examples or runtimes: {unknown}")
    ef.check_load_args(parser, args)
    return args


def build_all(args: argparse.Namespace,
              failures: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every module of the run by variant; builds that fail go to `failures` instead."""
    variants: dict[str, dict[str, Any]] = {"none": {"module": None}, "none_upstream": {"module": None},
                                           "none_tcp": {"module": None},
                                           "assemblyscript": {"module": ef.build_assemblyscript()}}
    for name in args.example_list:
        for runtime in args.runtime_list:
            try:
                module = build_example(name, runtime)
            except UserError as err:
                # Recorded and left out of the rounds: the table says why it is missing.
                print(f"{name} --runtime {runtime}: not built: {err}", file=sys.stderr)
                failures[f"{name}/{runtime}"] = {"example": name, "runtime": runtime,
                                                 "build_error": str(err)}
                continue
            variants[f"{name}/{runtime}"] = {"module": module, "example": name, "runtime": runtime}
    for data in variants.values():
        module = data["module"]
        payload = module.read_bytes() if module else b""
        data.update(module=str(module) if module else None, size=len(payload),
                    code_size=ef.code_section_size(payload) if payload else 0, rounds=[])
    return variants


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = ".venv/bin/python benchmarks/micropython_examples.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    failures: dict[str, dict[str, Any]] = {}
    built_from = ef.source_state()
    results: dict[str, Any] = {"meta": {}, "variants": build_all(args, failures),
                               "build_failures": failures}
    load_start = os.getloadavg()[0]
    started = time.monotonic()
    rng = random.Random(args.seed)
    for index in range(args.rounds):
        order = list(results["variants"])
        rng.shuffle(order)
        for name in order:
            data = results["variants"][name]
            sample = measure(name, Path(data["module"]) if data["module"] else None, args)
            sample["round"] = index + 1
            data["rounds"].append(sample)
            print(f"round {index + 1}/{args.rounds} {name:>26}: ready {sample['ready_s'] * 1000:6.0f} ms, "
                  f"RSS {sample['rss_bytes'] / ef.MB:6.1f} MB"
                  + (f", {sample['cpu_us_per_request']:5.1f} µs/request" if "cpu_us_per_request" in sample
                     else ""), file=sys.stderr)
    results["meta"] = {
        "command": command, "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        **ef.machine_info(), "load_start": load_start, "load_end": os.getloadavg()[0],
        "rounds": args.rounds, "duration": args.duration, "warmup": args.warmup,
        "connections": args.connections, "seconds": round(time.monotonic() - started, 1),
        "configs": {name: EXAMPLES[name].config for name in args.example_list},
        "modules_from": built_from,
    }
    summarise(results)
    print(table(results))
    for name, failure in failures.items():
        print(f"| {name} | not built: {failure['build_error']} |")
    print(f"\n{results['meta']['seconds']:.0f} s of measurement; load average "
          f"{load_start:.1f} -> {results['meta']['load_end']:.1f}", file=sys.stderr)
    if args.write:
        import micropython_summary

        atomic_write(RESULTS_JSON, (json.dumps(results, indent=1, default=str) + "\n").encode())
        micropython_summary.write()
        print(f"wrote {RESULTS_JSON.relative_to(ROOT)} and the MicroPython summary in docs/benchmarks.md",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
