"""Edit-and-reload: rebuild a filter when its sources change and swap it into a running Envoy.

The Envoy (a `LocalEnvoy`) takes its Wasm filter from an ECDS directory (see `ecds`), so a new
module reaches it without a restart: requests in flight finish on the old filter, new ones get
the new filter. A save that does not build, does not validate, or whose module Envoy refuses to
start leaves the last good filter serving, and the report says why (for Envoy's refusal: its
reason and the module's own log lines).

```python
watcher = FilterWatcher(Path("filter.py"), workdir)
envoy = LocalEnvoy(ecds_resource=watcher.start(), upstream=...)
watcher.attach(envoy)
for changes in watchfiles.watch(*watcher.watch_paths(), watch_filter=watcher.watch_filter()):
    print(watcher.swap().message)
```
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from proxywasm_build.envoy import ecds
from proxywasm_build.errors import UserError

#: How long Envoy may take to compile and start a new module (a CPython module under load).
SWAP_TIMEOUT = 180.0


@dataclass(frozen=True)
class SwapReport:
    """One save's outcome: `swapped` when Envoy now serves the new module."""

    swapped: bool
    message: str
    build_seconds: float = 0.0
    swap_seconds: float = 0.0
    release: ecds.FilterRelease | None = None
    unchanged: bool = False


class FilterWatcher:
    """Builds `target` (a .py filter, a project directory or a .wasm) and swaps each new module
    into the attached Envoy through the ECDS directory `workdir/ecds`."""

    def __init__(self, target: Path, workdir: Path, *, runtime: str | None = None, plugin_config: bytes = b"",
                 vm_config: bytes = b"", root_id: str | None = None) -> None:
        self.target = Path(target).resolve()
        self.workdir = Path(workdir)
        self.runtime = runtime
        self.plugin_config = plugin_config
        self.vm_config = vm_config
        self.root_id = root_id or None
        self.directory = ecds.EcdsDirectory(self.workdir / "ecds")
        self.envoy = None
        self._build: Callable[[], Path] = self._builder()

    # -- building ----------------------------------------------------------------------------

    def _builder(self) -> Callable[[], Path]:
        target = self.target
        if not target.exists():
            raise UserError(f"{target} does not exist.")
        if target.suffix == ".wasm":
            return lambda: target
        if target.is_dir():
            from proxywasm_build.languages import build_project, detect_project_language

            language = detect_project_language(target)
            if language in ("assemblyscript", "rust", "go"):
                return lambda: build_project(target, self.workdir / "filter.wasm")
        if target.suffix != ".py" and not target.is_dir():
            raise UserError(f"--watch needs a .py filter, a project directory or a .wasm module, not {target}.")
        from proxywasm_build.hosts import built_module

        # Without wasm-opt: seconds less per save, the same code in a somewhat bigger module.
        return lambda: built_module(target, runtime=self.runtime or "auto", optimize=False)

    def build(self) -> bytes:
        """The module for the sources as they are now (a cached build when nothing changed)."""
        return self._build().read_bytes()

    def watch_paths(self) -> list[Path]:
        """What to watch: a single .py filter's folder (its neighbours may be imported), a
        project directory, or a .wasm module's folder."""
        return [self.target if self.target.is_dir() else self.target.parent]

    def watch_filter(self):
        """Which changes count: Python sources for a Python filter, the module for a .wasm,
        any source for other projects (not their build outputs)."""
        import watchfiles

        if self.target.suffix == ".wasm":
            name = self.target.name
            return lambda change, path: Path(path).name == name
        if self.target.suffix == ".py" or (self.target / "__init__.py").exists() or \
                not self._is_other_language():
            return watchfiles.PythonFilter()
        return watchfiles.DefaultFilter(ignore_dirs=(*watchfiles.DefaultFilter.ignore_dirs, "target", "build"))

    def _is_other_language(self) -> bool:
        from proxywasm_build.languages import detect_project_language

        return detect_project_language(self.target) in ("assemblyscript", "rust", "go")

    # -- the Envoy side ----------------------------------------------------------------------

    def start(self) -> Path:
        """Build the first module and write it as the directory's first release; returns the
        ECDS resource path to give the Envoy (`LocalEnvoy(ecds_resource=...)`)."""
        wasm = self.build()
        ecds.initialize(self.directory, wasm, plugin_config=self.plugin_config, root_id=self.root_id,
                        vm_config=self.vm_config, name=str(self.target), check_start=False)
        return self.directory.resource_path

    def attach(self, envoy) -> None:
        """The running Envoy to swap modules into; raises when it did not start the first one."""
        self.envoy = envoy
        state = ecds.ecds_state(envoy.admin_url, self.directory.name)
        if state.failures:
            records = envoy.log_records()
            reason, logs = _rejection(records)
            raise UserError(f"Envoy could not start {self.target.name}: {reason}{logs}")

    def swap(self) -> SwapReport:
        """Rebuild, validate and swap in. Never raises for the user's code: the report says."""
        current = self.directory.current()
        old = current.short if current else "nothing"
        started = time.monotonic()
        try:
            wasm = self.build()
        except Exception as err:  # whatever the save broke, the last good filter keeps serving
            text = str(err) if isinstance(err, UserError) else f"{type(err).__name__}: {err}"
            return SwapReport(False, f"build failed: {text} (still serving {old})",
                              time.monotonic() - started)
        build_seconds = time.monotonic() - started
        if current is not None and hashlib.sha256(wasm).hexdigest() == current.module_sha256:
            return SwapReport(False, f"the module did not change ({old}); nothing to swap",
                              build_seconds, release=current, unchanged=True)
        try:
            release = ecds.prepare_release(self.directory, wasm, root_id=self.root_id, name=self.target.name)
        except UserError as err:
            return SwapReport(False, f"{err} (still serving {old})", build_seconds)
        return self._swap_in(release, wasm, current, build_seconds)

    def _swap_in(self, release: ecds.FilterRelease, wasm: bytes, current: ecds.FilterRelease | None,
                 build_seconds: float) -> SwapReport:
        assert self.envoy is not None, "attach() the Envoy first"
        url = self.envoy.admin_url
        before = {url: ecds.ecds_state(url, self.directory.name)}
        log_mark = self.envoy.log_size()
        self.directory.store_module(wasm)
        started = time.monotonic()
        self.directory.write(release)
        outcome = ecds.await_release(release, before, name=self.directory.name, timeout=SWAP_TIMEOUT,
                                     started=started)[0]
        swap_seconds = time.monotonic() - started
        old = current.short if current else "nothing"
        if outcome.accepted:
            return SwapReport(True, f"swapped {old} → {release.digest}  (build {build_seconds:.2f} s, "
                              f"swap {swap_seconds:.2f} s)", build_seconds, swap_seconds, release)
        if current is not None:
            self.directory.restore(current, release)
        if not outcome.rejected:
            return SwapReport(False, f"Envoy did not take {release.short} within {SWAP_TIMEOUT:.0f} s "
                              f"(still serving {old})", build_seconds, swap_seconds, release)
        records = self.envoy.log_records(since=log_mark)
        reason, logs = _rejection(records)
        return SwapReport(False, f"Envoy rejected {release.short}: {reason}; still serving {old}{logs}",
                          build_seconds, swap_seconds, release)


def _rejection(records) -> tuple[str, str]:
    """Envoy's reason, and the module's own error (and warning) logs as lines to print after it."""
    from proxywasm_build.envoy.runner import module_messages

    reason = ecds.rejection_reason(records) or "the module did not start"
    logs = [message for level, message in module_messages(records) if level in ("warn", "error", "critical")]
    return reason, "".join(f"\n  module log: {line}" for text in logs for line in text.splitlines())
