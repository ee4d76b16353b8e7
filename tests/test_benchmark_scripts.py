"""Benchmark scripts print their results and leave docs/ and benchmarks/results/ alone unless
asked with --write (re-rendering from the stored results keeps this cheap)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
RESULTS = BENCHMARKS / "results"


def snapshot() -> dict[str, str]:
    """A digest of every file a benchmark may write."""
    files = [*(ROOT / "docs").iterdir(), *RESULTS.iterdir()]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.is_file()}


@pytest.mark.parametrize("script,args,printed", [
    ("envoy_filters.py", ["--render", str(RESULTS / "envoy_filters.json")], "Envoy time to ready"),
    ("ready_vs_code_size.py", ["--render", str(RESULTS / "ready_vs_code_size.json")], "ready-vs-code:start"),
    ("micropython_probe.py", ["--render", str(RESULTS / "micropython_probe.json")], "time to ready"),
    ("weight_levers.py", ["--from-json", str(RESULTS / "weight_levers.json")], "weight-levers:start"),
    ("request_fuel.py", ["--render", str(RESULTS / "request_fuel.json")], "request-fuel:start"),
    ("issue7_chart.py", [], "Python"),
    ("micropython_summary.py", [], "after: MicroPython build"),
    ("emulator_rps.py", ["--requests", "200", "--rounds", "1", "--warmup", "20"], "wall clock"),
    ("rollout.py", ["--render", str(RESULTS / "rollout.json")], "rollout:start"),
])
def test_without_write_a_benchmark_prints_and_writes_nothing(script: str, args: list[str], printed: str) -> None:
    before = snapshot()
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert printed in proc.stdout
    assert "wrote" not in proc.stdout + proc.stderr
    assert snapshot() == before


def test_every_script_that_writes_takes_write() -> None:
    """A script touching docs/ or results/ must say so through --write (and no longer --no-write)."""
    for script in BENCHMARKS.glob("*.py"):
        text = script.read_text()
        writes = any(marker in text for marker in ("atomic_write(RESULTS", "docs_section.write", "write_section(",
                                                   "savefig("))
        assert "--no-write" not in text, script.name
        if writes and script.name != "docs_section.py":
            assert '"--write"' in text, f"{script.name} writes docs or results without a --write option"
