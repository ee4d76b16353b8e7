"""`proxywasm run FILTER.py --watch` in a real Envoy: an edit reaches the same Envoy process with
no failed request; a save that does not build, or whose module does not start, keeps the last
good filter serving and says why."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from proxywasm_build.envoy.runner import free_port

from rollout_load import SteadyLoad

pytestmark = [pytest.mark.envoy, pytest.mark.build]

FILTER = Path(__file__).parent / "rollout_filters" / "versioned.py"


class RunWatch:
    """`proxywasm run FILTER --watch` as a user starts it; its output lines read as they come."""

    def __init__(self, filter_path: Path) -> None:
        self.port = free_port()
        self.admin_port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "proxywasm_build", "run", str(filter_path), "--watch", "--runtime",
             "micropython", "--port", str(self.port), "--admin-port", str(self.admin_port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 120.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.proc.poll() is None, f"run --watch exited: {self.seen[-10:]}"
                continue
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r} in {timeout} s: {self.seen[-15:]}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.wait()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.fixture
def watched(tmp_path: Path):
    filter_path = tmp_path / "filter.py"
    filter_path.write_text(FILTER.read_text())
    run = RunWatch(filter_path)
    try:
        line = run.wait_for(r"^serving sha256:", timeout=240)
        run.pid = int(re.search(r"Envoy PID (\d+)", line).group(1))
        yield filter_path, run
    finally:
        assert run.stop() == 0, run.seen[-10:]


def test_an_edit_reaches_the_same_envoy_without_a_failed_request(watched) -> None:
    filter_path, run = watched
    with SteadyLoad([run.port]) as load:
        load.wait_all_serve("one", timeout=10)
        edit(filter_path, 'VERSION = "one"', 'VERSION = "two"')
        line = run.wait_for(r"swapped|not swapped", timeout=180)
        assert re.match(r"swapped sha256:\w{12} → sha256:\w{64}  \(build \d+\.\d\d s, swap \d+\.\d\d s\)$", line), line
        load.wait_all_serve("two", timeout=10)
        time.sleep(0.3)
    assert load.result.failed == 0, load.result.errors[:5]
    assert set(load.result.versions) == {"one", "two"}
    os.kill(run.pid, 0)  # the Envoy that started is the one serving "two"
    assert run.proc.poll() is None


def test_a_broken_save_keeps_the_last_good_filter(watched) -> None:
    filter_path, run = watched
    with SteadyLoad([run.port]) as load:
        load.wait_all_serve("one", timeout=10)
        edit(filter_path, "class Root(RootContext):", "class Root(RootContext)")  # a syntax error
        line = run.wait_for(r"swapped", timeout=180)
        assert line.startswith("not swapped: build failed:") and "still serving sha256:" in line, line
        fixed_but_refusing = FILTER.read_text().replace('VERSION = "one"\nSTARTS = True',
                                                         'VERSION = "three"\nSTARTS = False')
        filter_path.write_text(fixed_but_refusing)
        line = run.wait_for(r"swapped", timeout=180)
        assert line.startswith("not swapped: Envoy rejected sha256:"), line
        assert "Failed to configure base Wasm plugin" in line
        assert run.wait_for(r"module log:") == "  module log: version three refuses to start"
        time.sleep(0.5)
    assert load.result.failed == 0, load.result.errors[:5]
    assert set(load.result.versions) == {"one"}
