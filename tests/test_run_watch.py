"""`proxywasm run FILTER.py --watch` in a real Envoy: an edit reaches the same Envoy process with
no failed request; a save that does not build, or whose module does not start, keeps the last
good filter serving and says why."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from pathlib import Path

import pytest

from rollout_load import RunWatch, SteadyLoad

pytestmark = [pytest.mark.envoy, pytest.mark.build]

FILTER = Path(__file__).parent / "rollout_filters" / "versioned.py"


def envoy_uptime(run: RunWatch) -> int:
    """Seconds since the Envoy behind `run` started (admin /server_info), whatever restarted."""
    with urllib.request.urlopen(f"http://127.0.0.1:{run.admin_port}/server_info", timeout=10) as response:
        return int(json.loads(response.read())["uptime_all_epochs"].rstrip("s"))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.fixture
def watched(tmp_path: Path):
    filter_path = tmp_path / "filter.py"
    filter_path.write_text(FILTER.read_text())
    run = RunWatch(filter_path, runtime="micropython")
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
        uptime_before, edited = envoy_uptime(run), time.monotonic()
        edit(filter_path, 'VERSION = "one"', 'VERSION = "two"')
        line = run.wait_for(r"swapped|not swapped", timeout=180)
        assert re.match(r"swapped sha256:\w{12} → sha256:\w{64}  \(build \d+\.\d\d s, swap \d+\.\d\d s\)$", line), line
        load.wait_all_serve("two", timeout=10)
        time.sleep(0.3)
    assert load.result.failed == 0, load.result.errors[:5]
    assert set(load.result.versions) == {"one", "two"}
    # The same Envoy process serves "two": it is alive and its uptime ran on through the swap.
    os.kill(run.pid, 0)
    assert envoy_uptime(run) >= uptime_before + int(time.monotonic() - edited) - 1
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


def test_the_watch_build_skips_wasm_opt_and_answers_the_same(tmp_path: Path) -> None:
    """What --watch swaps in is MicroPython's build without binaryen's wasm-opt (seconds less per
    save): it validates for Envoy 1.40, says so in its metadata, and answers as the optimized
    build does."""
    from proxywasm.testing import Host

    from proxywasm_build.envoy.watch import FilterWatcher
    from proxywasm_build.hosts import built_module
    from proxywasm_build.wasm.reader import read_module
    from proxywasm_build.wasm.validate import python_metadata, validate_module

    filter_path = tmp_path / "filter.py"
    filter_path.write_text(FILTER.read_text().replace('VERSION = "one"', 'VERSION = "quick"'))
    quick = FilterWatcher(filter_path, tmp_path / "watch", runtime="micropython").build()
    optimized = built_module(filter_path, runtime="micropython").read_bytes()
    assert python_metadata(read_module(quick))["optimized"] is False
    assert len(quick) > len(optimized)
    report = validate_module(quick, abi="0.2.1", envoy="1.40")
    assert report.ok, [f.message for f in report.findings]
    answers = []
    for wasm in (quick, optimized):
        module = tmp_path / f"{len(wasm)}.wasm"
        module.write_bytes(wasm)
        response = Host.load(module).http_request({":method": "GET", ":path": "/", ":authority": "x"})
        answers.append((response.status, response.headers.get("x-filter-version"), response.body))
    assert answers[0] == answers[1] == (200, "quick", b"version quick\n")
