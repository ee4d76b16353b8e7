"""pytest plugin (entry point `pytest11: proxywasm`): fixtures for filter tests.

Fixtures:
- `load_filter(path, **kw)`: load a filter into a host and close it after the test. With
  `--proxywasm-hosts=python,wasm,envoy` (or `PROXYWASM_HOSTS`), each test using it runs once
  per host: `python` imports the `.py` filter in-process, `wasm` builds it and runs the module
  in wasmtime under the same emulator, `envoy` builds it and runs it in a real local Envoy.
  The `wasm` and `envoy` hosts come from the entry-point group `proxywasm.hosts`.
- `proxywasm_host_kind`: the name of the host the current test runs against.

With exactly one non-python host selected (`--proxywasm-hosts=wasm` or `=envoy`), tests that
call `Host.load("filter.py", ...)` directly run against that host too: the `.py` filter is built
and loaded there instead. Tests marked `@pytest.mark.emulator_only` (they use what only the
emulator has: step-by-step streams, the clock, manual callout answers) are deselected for
`envoy`. Running a suite once per host is how "the same test on three hosts" is checked.
"""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from typing import Any, Callable, Iterator

import pytest

#: The host every install has: the `.py` filter imported in-process.
BUILTIN_HOST = "python"


def available_hosts() -> list[str]:
    """`python` plus every host installed in the entry-point group `proxywasm.hosts`."""
    return [BUILTIN_HOST, *sorted({ep.name for ep in entry_points(group="proxywasm.hosts")} - {BUILTIN_HOST})]


def parse_hosts(value: str) -> list[str]:
    """The host names in a comma-separated `value`; ValueError (one sentence) for an unknown one."""
    hosts = [h.strip() for h in value.split(",") if h.strip()]
    known = available_hosts()
    unknown = [h for h in hosts if h not in known]
    if unknown:
        raise ValueError(f"unknown host {unknown[0]!r}; the installed hosts are {', '.join(known)}.")
    return hosts


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("proxywasm")
    group.addoption(
        "--proxywasm-hosts", default=os.environ.get("PROXYWASM_HOSTS", "python"),
        help="comma-separated hosts to run `load_filter` tests against: python, wasm, envoy "
             "(default: python; env PROXYWASM_HOSTS)")
    group.addoption(
        "--proxywasm-runtime", default=os.environ.get("PROXYWASM_RUNTIME", "auto"),
        choices=("auto", "micropython", "cpython"),
        help="the runtime the wasm and envoy hosts build `.py` filters with (default: auto, as "
             "`proxywasm build`; env PROXYWASM_RUNTIME)")


def pytest_configure(config: pytest.Config) -> None:
    # The build side (proxywasm_build.hosts) reads it where it builds a filter's module.
    os.environ["PROXYWASM_RUNTIME"] = config.getoption("proxywasm_runtime") or "auto"
    config.addinivalue_line("markers", "emulator_only: uses APIs only the emulator has; "
                                       "deselected when the tests run against real Envoy")


def _redirect_host(config: pytest.Config) -> str | None:
    hosts = _selected_hosts(config)
    return hosts[0] if len(hosts) == 1 and hosts[0] != "python" else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _redirect_host(config) != "envoy":
        return
    kept, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker("emulator_only") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(autouse=True)
def _proxywasm_redirect_host_load(request: pytest.FixtureRequest,
                                  monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    kind = _redirect_host(request.config)
    if kind is None or "load_filter" in request.fixturenames:
        yield
        return
    from pathlib import Path

    from .host import Host

    factory = _factory(kind)
    real_load = Host.load.__func__  # type: ignore[attr-defined]
    opened: list[Any] = []

    def load(cls: type, path: Any, *args: Any, **kwargs: Any) -> Any:
        target = Path(path)
        if target.suffix == ".py" or target.is_dir():
            host = factory(target, *args, **kwargs)
            opened.append(host)
            return host
        return real_load(cls, path, *args, **kwargs)

    monkeypatch.setattr(Host, "load", classmethod(load))
    yield
    for host in opened:
        close = getattr(host, "close", None)
        if close is not None:
            close()


def _selected_hosts(config: pytest.Config) -> list[str]:
    try:
        return parse_hosts(config.getoption("proxywasm_hosts") or BUILTIN_HOST) or [BUILTIN_HOST]
    except ValueError as err:
        raise pytest.UsageError(f"--proxywasm-hosts: {err}") from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "load_filter" in metafunc.fixturenames:
        metafunc.parametrize("proxywasm_host_kind", _selected_hosts(metafunc.config), scope="function")


def _factory(kind: str) -> Callable[..., Any]:
    if kind == "python":
        from .host import Host

        return Host.load
    for ep in entry_points(group="proxywasm.hosts"):
        if ep.name == kind:
            return ep.load()
    raise pytest.UsageError(f"no proxywasm host {kind!r} is installed (entry point group "
                            f"proxywasm.hosts); install proxywasm-python with its build tools")


@pytest.fixture
def proxywasm_host_kind() -> str:
    return "python"


@pytest.fixture
def load_filter(proxywasm_host_kind: str) -> Iterator[Callable[..., Any]]:
    """`load_filter(path, plugin_config=..., ...)` -> a host with the `Host` API."""
    factory = _factory(proxywasm_host_kind)
    opened: list[Any] = []

    def load(path: Any, **kwargs: Any) -> Any:
        host = factory(path, **kwargs)
        opened.append(host)
        return host

    yield load
    for host in opened:
        close = getattr(host, "close", None)
        if close is not None:
            close()
