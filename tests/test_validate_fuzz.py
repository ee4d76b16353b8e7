"""Fuzz `validate`: random and mutated modules never give a traceback, only a verdict or a
one-sentence "not usable" error (benchmarks/fuzz_validate.py runs 10,000 of these)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxywasm import abi
from proxywasm_build.wasm.inspect import describe_module
from proxywasm_build.wasm.validate import validate_module
from proxywasm_build.wasm.reader import NotWasmError

PROXYWASM = str(Path(sys.executable).parent / "proxywasm")

# A seed with every section kind, so mutations land in each parser path.
SEED = wasmtime.wat2wasm(r"""
(module
  (type $cb (func (param i32 i32 i32) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_record_metric" (func (param i32 i64) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32)))
  (import "env" "memory_base" (memory 1))
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
  (@custom "name" "")
)
""")
# GC types and tags: wasmtime's own type reflection aborts the process on these.
GC_SEED = wasmtime.wat2wasm(r"""(module
  (rec (type $s (struct (field i32) (field (mut i8)))) (type $a (sub (array (ref null $s)))))
  (type $f (sub final (func (param (ref $s)) (result i32))))
  (import "env" "t" (tag (param i32)))
  (func (export "mk") (result (ref $s)) i32.const 1 i32.const 2 struct.new $s)
  (func (export "use") (type $f) i32.const 0)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "g") (param anyref i31ref (ref null func) (ref extern))))""")
SEEDS = [SEED, GC_SEED, wasmtime.wat2wasm('(module (func (export "proxy_abi_version_0_1_0")))')]


def mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """Apply (kind, position, value) edits: overwrite (anywhere, or after the header keeping
    section sizes plausible), insert, delete a run, or truncate."""
    out = bytearray(data)
    for kind, position, value in edits:
        if len(out) <= 8:
            break
        at = position % len(out)
        if kind == 0:
            out[at] = value
        elif kind == 4:
            out[8 + position % (len(out) - 8)] = value
        elif kind == 1:
            out.insert(at, value)
        elif kind == 2:
            del out[at:at + 1 + value % 16]
        else:
            del out[max(at, 8):]
    return bytes(out)


edits = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 1 << 20), st.integers(0, 255)),
                 min_size=1, max_size=6)
mutated_modules = st.builds(mutate, st.sampled_from(SEEDS), edits)
random_modules = st.one_of(
    st.binary(max_size=512),
    st.binary(max_size=512).map(lambda b: b"\0asm\x01\0\0\0" + b),
)


def _generated(exports: list[tuple[str, int, int]], imports: list[tuple[str, str, int, bool]]) -> bytes:
    parts = ["(module"]
    for module, name, params, i64 in imports:
        types = " ".join(["i64" if i64 else "i32"] * params)
        parts.append(f'(import "{module}" "{name}" (func (param {types}) (result i32)))'.replace("(param )", ""))
    for index, (name, params, results) in enumerate(exports):
        sig = f'(param {" ".join(["i32"] * params)}) (result {" ".join(["i32"] * results)})'
        parts.append(f'(func (export "{name}") {sig.replace("(param )", "").replace("(result )", "")} '
                     f'{"i32.const 0 " * results})')
    return wasmtime.wat2wasm("\n".join(parts) + ")")


_names = sorted({*abi.MARKERS, *abi.START_EXPORTS, *abi.EXTRA_HOST_KNOWN_CALLBACKS,
                 *(c for v in abi.ABI_VERSIONS.values() for c in v.callbacks), "proxy_on_nothing"})
_hostcalls = sorted({("env", h) for v in abi.ABI_VERSIONS.values() for h in v.hostcalls}
                    | {("wasi_snapshot_preview1", w) for w in abi.ENVOY_WASI_FUNCTIONS}
                    | {("wasi_unstable", "proc_raise"), ("env", "proxy_nope"), ("other", "f")})
generated_modules = st.builds(
    _generated,
    st.lists(st.tuples(st.sampled_from(_names), st.integers(0, 5), st.integers(0, 1)),
             max_size=8, unique_by=lambda e: e[0]),
    st.lists(st.tuples(st.sampled_from(_hostcalls).map(lambda t: t[0]),
                       st.sampled_from(_hostcalls).map(lambda t: t[1]),
                       st.integers(0, 9), st.booleans()), max_size=6),
)


def check_outcome(data: bytes) -> None:
    """Either a report whose findings are single non-empty lines, or NotWasmError's sentence."""
    try:
        report = validate_module(data)
    except NotWasmError as err:
        message = str(err)
        assert message and "\n" not in message
        return
    for finding in report.findings:
        assert finding.severity in ("error", "warning")
        assert finding.message and "\n" not in finding.message
    assert report.ok == (not report.errors)
    assert report.module is not None
    describe_module(report.module)  # inspect never fails on what validate read


FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(random_modules)
def test_random_bytes(data: bytes) -> None:
    check_outcome(data)


@FUZZ
@given(mutated_modules)
def test_mutated_modules(data: bytes) -> None:
    check_outcome(data)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(generated_modules)
def test_generated_modules(data: bytes) -> None:
    check_outcome(data)


@pytest.mark.parametrize("edit_seed", range(6))
def test_cli_on_mutated_modules(tmp_path: Path, edit_seed: int) -> None:
    """A handful through the real command: exit 0, 1 or 2, never a traceback."""
    import random

    rng = random.Random(edit_seed)
    data = mutate(SEED, [(rng.randrange(4), rng.randrange(1 << 20), rng.randrange(256))
                         for _ in range(1 + edit_seed % 3)])
    path = tmp_path / "m.wasm"
    path.write_bytes(data)
    proc = subprocess.run([PROXYWASM, "validate", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode in (0, 1, 2)
    assert "Traceback" not in proc.stderr + proc.stdout
    if proc.returncode:
        assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("proxywasm: ")


def test_names_with_control_characters_stay_on_one_line() -> None:
    """Found by the fuzzer: a mutated name byte became a newline inside a finding."""
    data = wasmtime.wat2wasm('(module (func (export "proxy_on_x\\0a\\1b[31m") (param i32)))')
    report = validate_module(data)
    messages = [f.message for f in report.findings]
    assert any("proxy_on_x\\n\\x1b[31m" in m for m in messages)
    assert all("\n" not in m and "\x1b" not in m for m in messages)


def test_gc_types_and_tags_are_read() -> None:
    """Regression: reading these through wasmtime's type API aborted the whole process."""
    report = validate_module(GC_SEED)
    assert report.module is not None
    signatures = {e.name: str(e.signature) for e in report.module.exports}
    assert signatures["use"] == "((ref 0)) -> (i32)"
    assert signatures["g"] == "(anyref, i31ref, funcref, (ref extern)) -> ()"
    assert [i.kind for i in report.module.imports] == ["tag"]
