"""pytest plugin (entry point `pytest11: proxywasm`): fixtures for filter tests.

Fixtures:
- `load_filter(path, **kw)`: load a filter into a host and close it after the test. With
  `--proxywasm-hosts=python,wasm,envoy` (or `PROXYWASM_HOSTS`), each test using it runs once
  per host: `python` imports the `.py` filter in-process, `wasm` builds it and runs the module
  in wasmtime under the same emulator, `envoy` builds it and runs it in a real local Envoy.
  The `wasm` and `envoy` hosts come from the entry-point group `proxywasm.hosts`.
- `proxywasm_host_kind`: the name of the host the current test runs against.
"""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from typing import Any, Callable, Iterator

import pytest

HOST_KINDS = ("python", "wasm", "envoy")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("proxywasm")
    group.addoption(
        "--proxywasm-hosts", default=os.environ.get("PROXYWASM_HOSTS", "python"),
        help="comma-separated hosts to run `load_filter` tests against: python, wasm, envoy "
             "(default: python; env PROXYWASM_HOSTS)")


def _selected_hosts(config: pytest.Config) -> list[str]:
    raw = config.getoption("proxywasm_hosts") or "python"
    hosts = [h.strip() for h in raw.split(",") if h.strip()]
    unknown = [h for h in hosts if h not in HOST_KINDS]
    if unknown:
        raise pytest.UsageError(f"--proxywasm-hosts: unknown host {unknown[0]!r}; choose from "
                                f"{', '.join(HOST_KINDS)}")
    return hosts


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
