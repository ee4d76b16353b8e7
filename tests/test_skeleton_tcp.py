"""`proxywasm skeleton` for a network (TCP) filter: its parity test drives TCP connections."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from proxywasm_build.transpile import generate_skeleton
from proxywasm_build.transpile.model import read_filter

TCP_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tcp_metrics" / "filter.py"
PROXYWASM = [sys.executable, "-m", "proxywasm_build"]


def _parity_namespace(project: Path) -> dict:
    path = project / "tests" / "test_parity.py"
    namespace: dict = {"__file__": str(path)}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace


def test_a_tcp_filter_is_read_as_one():
    assert read_filter(TCP_EXAMPLE).tcp
    assert not read_filter(TCP_EXAMPLE.parents[1] / "allow_deny" / "filter.py").tcp


def test_the_parity_test_of_a_tcp_filter_sends_its_traffic_through_the_python_filter(tmp_path):
    project = generate_skeleton(TCP_EXAMPLE, "assemblyscript", tmp_path / "port")
    namespace = _parity_namespace(project)
    from proxywasm.testing import Host

    host = Host.load(project / "python" / "filter.py", plugin_config=namespace["CONFIG"])
    answers = [namespace["_answer"](host, case) for case in namespace["CASES"]]
    assert answers[0] == {"to_upstream": b"hello upstream", "to_downstream": b"hello client", "closed": True}
    assert host.metrics["tcp_metrics.connections_total"] == len(answers)


@pytest.mark.toolchain
@pytest.mark.envoy
def test_the_tcp_skeleton_passes_its_own_parity_test(tmp_path):
    project = generate_skeleton(TCP_EXAMPLE, "assemblyscript", tmp_path / "port")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([*PROXYWASM, "test", str(project), "-p", "no:cacheprovider"],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
