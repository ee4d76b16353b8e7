"""Steady load against Envoys while their filter changes: count what was sent, what failed and
which version answered (the test modules and filters answer with their version); and
`proxywasm run --watch` driven as a user drives it. Shared by tests/ and benchmarks/rollout.py."""

from __future__ import annotations

import http.client
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from proxywasm_build.envoy.runner import free_port


@dataclass
class LoadResult:
    sent: int = 0
    failed: int = 0
    versions: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def _body_version(status: int, headers, body: bytes) -> str:
    """`version X` (what the test modules answer) -> `X`."""
    text = body.decode(errors="replace").strip()
    return text[len("version "):] if text.startswith("version ") else ""


class SteadyLoad:
    """Client threads sending GET / to each port until stopped: one keeps its connection alive
    (streams on an open connection must move to the new filter too), one opens a new connection
    per request. A request fails when it raises, or answers other than 200 with a version."""

    def __init__(self, ports: list[int], *, read_version=None) -> None:
        self.ports = ports
        self.read_version = read_version or _body_version
        self.result = LoadResult()
        self.latest: dict[int, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(port, keep_alive), daemon=True)
                         for port in ports for keep_alive in (True, False)]

    def __enter__(self) -> "SteadyLoad":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> LoadResult:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        return self.result

    def _run(self, port: int, keep_alive: bool) -> None:
        conn: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", "/", headers={} if keep_alive else {"connection": "close"})
                response = conn.getresponse()
                body = response.read()
                version = self.read_version(response.status, response.headers, body)
                ok = response.status == 200 and bool(version)
                self._count(port, ok, version if ok else f"{response.status} {body[:200]!r}")
                if not keep_alive or response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as err:
                self._count(port, False, f"{type(err).__name__}: {err}")
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
        if conn is not None:
            conn.close()

    def _count(self, port: int, ok: bool, what: str) -> None:
        with self._lock:
            self.result.sent += 1
            if ok:
                self.result.versions[what] += 1
                self.latest[port] = what
            else:
                self.result.failed += 1
                self.result.errors.append(what)

    def wait_all_serve(self, version: str, *, timeout: float = 60.0, since: float | None = None) -> float:
        """Seconds from `since` (default: now) until every port's latest answer is `version`;
        TimeoutError when that takes more than `timeout` seconds from now."""
        since = time.monotonic() if since is None else since
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(self.latest.get(port) == version for port in self.ports):
                    return time.monotonic() - since
            time.sleep(0.002)
        raise TimeoutError(f"not every Envoy answered {version!r} within {timeout} s: {self.latest}")


class RunWatch:
    """`proxywasm run FILTER --watch` as a user starts it; its output lines read as they come."""

    def __init__(self, filter_path: Path, *, runtime: str) -> None:
        self.port = free_port()
        self.admin_port = free_port()
        self.pid = 0  # Envoy's, once the "serving" line named it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "proxywasm_build", "run", str(filter_path), "--watch", "--runtime",
             runtime, "--port", str(self.port), "--admin-port", str(self.admin_port)],
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
