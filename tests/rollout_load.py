"""Steady load against Envoys while their filter changes: count what was sent, what failed and
which version answered (the test modules and filters answer with their version)."""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


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
        """Seconds until every port's latest answer is `version` (measured from `since`)."""
        since = time.monotonic() if since is None else since
        while time.monotonic() - since < timeout:
            with self._lock:
                if all(self.latest.get(port) == version for port in self.ports):
                    return time.monotonic() - since
            time.sleep(0.002)
        raise TimeoutError(f"not every Envoy answered {version!r} within {timeout} s: {self.latest}")
