"""Fuzz `validate_module` with 10,000 random and mutated modules; print the outcome histogram.

    .venv/bin/python benchmarks/fuzz_validate.py [--cases 10000] [--seed 1]

Every case must end in a report (valid, or invalid with one-line findings) or a
`NotWasmError` sentence; anything else is counted as a crash and makes the exit code 1.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
import traceback
from collections import Counter

import wasmtime

from proxywasm import abi
from proxywasm_build.wasm.inspect import describe_module
from proxywasm_build.wasm.validate import validate_module
from proxywasm_build.wasm.reader import NotWasmError

SEED_WAT = r"""
(module
  (type $cb (func (param i32 i32 i32) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_record_metric" (func (param i32 i64) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (table 2 funcref)
  (global $heap (mut i32) (i32.const 4096))
  (func (export "_initialize"))
  (func (export "proxy_abi_version_0_2_1"))
  (func $alloc (export "malloc") (param i32) (result i32) (global.get $heap))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func $headers (export "proxy_on_request_headers") (type $cb)
    (drop (call $log (i32.const 2) (i32.const 0) (i32.const 5))) (i32.const 0))
  (elem (i32.const 0) $alloc $headers)
  (data (i32.const 0) "hello")
  (@custom "proxywasm-python" "{\"abi\": \"0.2.1\", \"python\": \"3.11.8\"}")
)
"""


GC_WAT = r"""(module
  (rec (type $s (struct (field i32) (field (mut i8)))) (type $a (sub (array (ref null $s)))))
  (type $f (sub final (func (param (ref $s)) (result i32))))
  (import "env" "t" (tag (param i32)))
  (func (export "mk") (result (ref $s)) i32.const 1 i32.const 2 struct.new $s)
  (func (export "use") (type $f) i32.const 0)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "g") (param anyref i31ref (ref null func) (ref extern))))"""


def mutate(rng: random.Random, data: bytes, *, in_place: bool = False) -> bytes:
    """Random edits; `in_place` only rewrites bytes after the header, keeping the length."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        if len(out) <= 8:
            break
        at = rng.randrange(8, len(out)) if in_place else rng.randrange(len(out))
        kind = rng.choice([0, 4]) if in_place else rng.randrange(5)
        if kind == 0:
            out[at] = rng.randrange(256)
        elif kind == 1:
            out.insert(at, rng.randrange(256))
        elif kind == 2:
            del out[at:at + rng.randint(1, 16)]
        elif kind == 3:
            del out[max(at, 8):]
        else:
            out[at] ^= 1 << rng.randrange(8)
    return bytes(out)


def generated(rng: random.Random) -> bytes:
    """A valid module exporting and importing random Proxy-Wasm-ish names and signatures."""
    names = sorted({*abi.MARKERS, *abi.START_EXPORTS, *abi.EXTRA_HOST_KNOWN_CALLBACKS,
                    *(c for v in abi.ABI_VERSIONS.values() for c in v.callbacks)})
    hostcalls = sorted({("env", h) for v in abi.ABI_VERSIONS.values() for h in v.hostcalls}
                       | {("wasi_snapshot_preview1", w) for w in abi.ENVOY_WASI_FUNCTIONS})
    parts = ["(module"]
    for module, name in rng.sample(hostcalls, rng.randint(0, 5)):
        params = " ".join(rng.choice(["i32", "i32", "i64"]) for _ in range(rng.randint(0, 9)))
        parts.append(f'(import "{module}" "{name}" (func (param {params}) (result i32)))')
    for name in rng.sample(names, rng.randint(0, 8)):
        params = " ".join(["i32"] * rng.randint(0, 5))
        result = rng.random() < 0.5
        parts.append(f'(func (export "{name}") (param {params}) {"(result i32) i32.const 0" if result else ""})')
    return wasmtime.wat2wasm("\n".join(parts).replace("(param )", "") + ")")


def _perturbed(rng: random.Random, params: tuple[str, ...]) -> tuple[str, ...]:
    """The same parameter list with one parameter added, dropped or retyped."""
    params = list(params)
    choice = rng.randrange(3)
    if choice == 0 or not params:
        params.insert(rng.randint(0, len(params)), "i32")
    elif choice == 1:
        params.pop(rng.randrange(len(params)))
    else:
        at = rng.randrange(len(params))
        params[at] = "i64" if params[at] == "i32" else "i32"
    return tuple(params)


def _type(params: tuple[str, ...], results: tuple[str, ...]) -> str:
    param = f"(param {' '.join(params)})" if params else ""
    result = f"(result {' '.join(results)})" if results else ""
    return f"{param} {result}"


def _func(params: tuple[str, ...], results: tuple[str, ...], body_result: int = 0) -> str:
    """A function type and a body returning `body_result` in each result."""
    body = " ".join(f"{r}.const {body_result}" for r in results)
    return f"{_type(params, results)} {body}"


def plausible_module(rng: random.Random) -> bytes:
    """A valid module that looks like a Proxy-Wasm filter, with a few random faults: right or
    wrong marker, allocator, start function, callback and import signatures, unknown imports,
    globals, memory. Used to compare validate's verdict with what the real Envoy does."""
    version = rng.choice(list(abi.ABI_VERSIONS.values()))
    others = [v for v in abi.ABI_VERSIONS.values() if v is not version]
    parts = ["(module"]
    for _ in range(rng.randint(0, 6)):
        roll = rng.random()
        if roll < 0.55:
            module, name = "env", rng.choice(sorted(version.hostcalls))
            sig = version.hostcalls[name].signature
        elif roll < 0.8:
            module = rng.choice(abi.WASI_MODULES)
            name = rng.choice(sorted(abi.ENVOY_WASI_FUNCTIONS))
            sig = abi.ENVOY_WASI_FUNCTIONS[name]
        elif roll < 0.9:
            module, name = "env", rng.choice(sorted({h for v in others for h in v.hostcalls}))
            sig = next(v.hostcalls[name] for v in others if name in v.hostcalls).signature
        else:
            module, name = "env", rng.choice(["proxy_nope", "pthread_equal"])
            sig = abi.Signature(("i32", "i32"), ("i32",))
        params = sig.params if rng.random() < 0.85 else _perturbed(rng, sig.params)
        parts.append(f'(import "{module}" "{name}" (func {_type(params, sig.results)}))')
    if rng.random() < 0.03:
        parts.append('(import "env" "__stack_pointer" (global (mut i32)))')
    pages = 16385 if rng.random() < 0.03 else 2
    parts.append(f'(memory (export "memory") {pages})' if rng.random() < 0.93 else f"(memory {pages})")
    if rng.random() < 0.1:  # a data segment that fits, or (half the time) ends past the memory
        parts.append(f'(data (i32.const {pages * 65536 - rng.choice([16, 4])}) "0123456789")')
    roll = rng.random()
    markers = ([version.marker] if roll < 0.9 else [] if roll < 0.94 else
               [version.marker, others[0].marker] if roll < 0.97 else ["proxy_abi_version_0_3_0"])
    for marker in markers:
        parts.append(f'(func (export "{marker}"))')
    roll = rng.random()
    if roll < 0.9:
        allocator = rng.choice(["malloc", "proxy_on_memory_allocate"])
        params = ("i32",) if rng.random() < 0.9 else _perturbed(rng, ("i32",))
        parts.append(f'(func (export "{allocator}") {_func(params, ("i32",), 1024)})')
    roll = rng.random()
    start = "_initialize" if roll < 0.8 else "_start" if roll < 0.9 else None
    if start:
        params = () if rng.random() < 0.95 else ("i32",)
        parts.append(f'(func (export "{start}") {_func(params, ())})')
    for name in rng.sample(sorted(version.callbacks), rng.randint(0, 6)):
        if name == "proxy_on_memory_allocate":
            continue
        sig = version.callbacks[name].signature
        params = sig.params if rng.random() < 0.9 else _perturbed(rng, sig.params)
        parts.append(f'(func (export "{name}") {_func(params, sig.results, 1)})')
    return wasmtime.wat2wasm("\n".join(parts) + ")")


#: Findings whose consequence in Envoy comes at run time or is stricter than Envoy's loader.
NOT_LOAD_ERRORS = {"memory-not-exported", "abi-marker-multiple", "abi-version-mismatch"}


def envoy_agreement(rng: random.Random, count: int) -> Counter[str]:
    """Load `count` plausible modules in the real Envoy; count where its verdict and error
    agree with validate's prediction."""
    import tempfile
    from pathlib import Path

    from proxywasm_build.envoy.runner import EnvoyError, LocalEnvoy

    outcomes: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(count):
            data = plausible_module(rng)
            path = Path(tmp) / f"m{index}.wasm"
            path.write_bytes(data)
            report = validate_module(data)
            load_errors = [f for f in report.errors if f.code not in NOT_LOAD_ERRORS]
            envoy = LocalEnvoy(module=path, start=False, ready_timeout=60)
            try:
                envoy.start()
                envoy_error = None
            except EnvoyError:
                envoy_error = "\n".join(m for level, _, logger, m in envoy.log_records()
                                        if logger in ("wasm", "backtrace") and level in ("error", "critical"))
            finally:
                envoy.stop()
            if envoy_error is None:
                verdict = "agree: loads" if not load_errors else f"DISAGREE: Envoy loaded it, validate: {load_errors[0].code}"
            elif not load_errors:
                verdict = f"DISAGREE: validate passed it, Envoy: {envoy_error.splitlines()[0][:120]}"
            elif any(f.envoy_error and f.envoy_error in envoy_error for f in load_errors):
                verdict = f"agree: refused ({next(f.code for f in load_errors if f.envoy_error and f.envoy_error in envoy_error)})"
            else:
                verdict = f"DISAGREE on the reason: Envoy: {envoy_error.splitlines()[0][:120]}"
            outcomes[verdict] += 1
    return outcomes


def classify(data: bytes) -> str:
    try:
        report = validate_module(data)
    except NotWasmError as err:
        text = str(err)
        assert text and "\n" not in text
        key = re.sub(r"(?<!\\)\d+", "N", text.split(":")[0].split("(")[0].strip())
        return f"not wasm (exit 2): {key[:70]}"
    for finding in report.findings:
        assert finding.message and "\n" not in finding.message
    describe_module(report.module)
    if report.ok:
        return "valid (exit 0)"
    return f"invalid (exit 1): {report.errors[0].code}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--envoy", type=int, default=0, metavar="N",
                        help="also load N plausible modules in the real Envoy and compare verdicts")
    args = parser.parse_args()
    if args.envoy:
        agreement = envoy_agreement(random.Random(args.seed), args.envoy)
        print(f"Envoy 1.40 vs validate on {args.envoy} plausible modules:")
        for outcome, count in sorted(agreement.items(), key=lambda kv: -kv[1]):
            print(f"{count:7d}  {outcome}")
        if any(k.startswith("DISAGREE") for k in agreement):
            return 1
    rng = random.Random(args.seed)
    seed_modules = [wasmtime.wat2wasm(SEED_WAT), wasmtime.wat2wasm(GC_WAT)]
    outcomes: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    crashes = 0
    started = time.perf_counter()
    for _ in range(args.cases):
        source = rng.choices(["random", "random-with-header", "mutated", "mutated-in-place", "generated"],
                             [1, 1, 3, 3, 2])[0]
        if source == "random":
            data = rng.randbytes(rng.randint(0, 512))
        elif source == "random-with-header":
            data = b"\0asm\x01\0\0\0" + rng.randbytes(rng.randint(0, 512))
        elif source == "mutated":
            data = mutate(rng, rng.choice(seed_modules))
        elif source == "mutated-in-place":
            data = mutate(rng, rng.choice(seed_modules), in_place=True)
        else:
            data = generated(rng)
        sources[source] += 1
        try:
            outcomes[classify(data)] += 1
        except Exception:  # the point of the exercise: count and show what escaped
            crashes += 1
            outcomes["CRASH"] += 1
            if crashes <= 3:
                traceback.print_exc()
    elapsed = time.perf_counter() - started
    print(f"{args.cases} cases in {elapsed:.1f} s ({1000 * elapsed / args.cases:.2f} ms each); "
          f"sources: {dict(sources)}")
    for outcome, count in sorted(outcomes.items(), key=lambda kv: -kv[1]):
        print(f"{count:7d}  {outcome}")
    print(f"crashes (tracebacks): {crashes}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
