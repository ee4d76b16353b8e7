"""MicroPython filter modules (backends/micropython) built from source and run in wasmtime through
proxywasm.testing: the SDK answering requests, print() and tracebacks in the log, the raw
`_proxywasm_host` contract, MicroPython's compile errors as one sentence, metadata, a long run
with a flat heap."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest
import wasmtime

from proxywasm.testing import Host
from proxywasm.testing.emulator import PluginStartError
from proxywasm_build.backends.micropython import available_modules, build_micropython_filter, compile_check
from proxywasm_build.errors import UserError
from proxywasm_build.wasm.metadata_section import METADATA_SECTION

pytestmark = pytest.mark.build

FILTER = '''\
import gc
import sys

import proxywasm
from proxywasm import Action, HttpContext, RootContext


class Echo(HttpContext):
    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        path = self.get_http_request_header(":path") or "/"
        if path == "/boom":
            raise ValueError(f"boom at {path!r}")
        if path == "/raw":
            return self.raw_contract()
        if path == "/gc":
            gc.collect()
        if path == "/big":
            self.garbage = bytearray(4 * 1024 * 1024)   # more than the 1 MiB heap
        # per-request garbage: dicts, strings, a list
        self.garbage = [{"i": i, "text": "x" * 40 + str(i)} for i in range(50)]
        print(f"request {path!r} {len(self.garbage)}")
        print("stderr too", file=sys.stderr)
        self.path = path
        return Action.CONTINUE

    def raw_contract(self) -> Action:
        import _proxywasm_host as host
        found = host.get_header_map_value(0, ":path")
        missing = host.get_header_map_value(0, "x-missing")
        logged = host.log(2, "raw str arg: héllo")
        self.send_http_response(200, [("x-raw", repr([host.ABI_VERSION, found, missing[1] is None or missing[0] == 0, logged]))], b"")
        return Action.PAUSE

    def on_http_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        if getattr(self, "path", None):
            self.set_http_response_header("x-path", self.path)
            self.set_http_response_header("x-heap-used", str(gc.mem_alloc()))
        return Action.CONTINUE


class Root(RootContext):
    def create_http_context(self, context_id: int) -> HttpContext:
        return Echo(context_id, self)


proxywasm.set_root_context(Root)
'''
BOOM_LINE = FILTER.splitlines().index('            raise ValueError(f"boom at {path!r}")') + 1


@pytest.fixture(scope="module")
def echo_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("echo") / "filter.py"
    source.write_text(FILTER)
    return build_micropython_filter(source, source.with_suffix(".wasm"))


def request(host: Host, path: str):
    return host.http_request({":method": "GET", ":path": path, ":authority": "example"})


def test_sdk_filter_answers_requests_and_prints_to_the_log(echo_module: Path):
    host = Host.load(echo_module)
    response = request(host, "/hello")
    assert response.status == 200
    assert response.headers.get("x-path") == "/hello"
    assert "request '/hello' 50" in host.log_messages()
    assert "stderr too" in host.log_messages()


def test_exception_in_a_callback_logs_a_traceback_with_file_and_line(echo_module: Path):
    host = Host.load(echo_module)
    response = request(host, "/boom")
    assert response.status == 500
    errors = "\n".join(host.log_messages(min_level=4))
    assert f'File "filter.py", line {BOOM_LINE}, in on_http_request_headers' in errors
    assert "ValueError: boom at '/boom'" in errors
    assert request(host, "/after").status == 200   # the module keeps serving


def test_memory_error_fails_the_vm_so_envoy_can_reload_it(echo_module: Path):
    from proxywasm.testing import ModuleTrap

    host = Host.load(echo_module)
    with pytest.raises(ModuleTrap):
        request(host, "/big")
    assert "MemoryError" in "\n".join(host.log_messages(min_level=4))
    assert request(Host.load(echo_module), "/small").status == 200   # a fresh VM serves


def test_a_failing_import_is_logged_and_fails_the_vm(tmp_path: Path):
    source = tmp_path / "filter.py"
    source.write_text(textwrap.dedent("""\
        import sys
        import proxywasm
        proxywasm.set_root_context(proxywasm.RootContext)
        if sys.implementation.name == "micropython":
            raise RuntimeError("no filter on this runtime")
    """))
    module = build_micropython_filter(source, tmp_path / "filter.wasm")
    with pytest.raises(PluginStartError, match="RuntimeError: no filter on this runtime"):
        Host.load(module)


def test_raw_host_module_contract(echo_module: Path):
    host = Host.load(echo_module)
    response = request(host, "/raw")
    assert response.headers.get("x-raw") == "['0.2.1', (0, b'/raw'), True, 0]"
    assert "raw str arg: héllo" in host.log_messages()


def test_metadata_and_caching(echo_module: Path, tmp_path: Path):
    data = echo_module.read_bytes()
    marker = METADATA_SECTION.encode()
    metadata = json.loads(data[data.rindex(marker) + len(marker):])
    assert metadata["runtime"] == "micropython"
    assert metadata["micropython"] == "1.19.0"
    assert metadata["filter"] == "filter" and metadata["heap_size"] == 1024 * 1024
    assert {"filter", "proxywasm", "proxywasm.dispatcher"} <= set(metadata["frozen_modules"])
    assert "proxywasm.testing" not in metadata["frozen_modules"]
    started = time.perf_counter()
    again = build_micropython_filter(echo_module.with_suffix(".py"), tmp_path / "again.wasm")
    assert time.perf_counter() - started < 10
    assert again.read_bytes() == data
    assert len(data) < 300 * 1024


def test_heap_size_option(echo_module: Path, tmp_path: Path):
    report: dict = {}
    built = build_micropython_filter(echo_module.with_suffix(".py"), tmp_path / "big.wasm",
                                     heap_size=4 * 1024 * 1024, report=report)
    assert report["heap_size"] == 4 * 1024 * 1024
    assert request(Host.load(built), "/x").status == 200
    with pytest.raises(UserError, match="too small"):
        build_micropython_filter(echo_module.with_suffix(".py"), tmp_path / "tiny.wasm", heap_size=1000)


def test_default_heap_grows_with_the_filter_code(tmp_path: Path):
    source = tmp_path / "filter.py"
    source.write_text(FILTER + "".join(f"\ndef helper_{i}(x):\n    return [x, {i}, 'text {i}']\n"
                                       for i in range(5000)))
    report: dict = {}
    built = build_micropython_filter(source, tmp_path / "big.wasm", report=report)
    assert report["heap_size"] > 1024 * 1024 and report["heap_size"] % (256 * 1024) == 0
    assert request(Host.load(built), "/x").status == 200


def test_micropython_compile_error_is_one_sentence(tmp_path: Path):
    source = tmp_path / "filter.py"
    source.write_text(textwrap.dedent("""\
        import proxywasm
        def kind(x):
            match x:
                case 1:
                    return "one"
        proxywasm.set_root_context(proxywasm.RootContext)
    """))
    with pytest.raises(UserError) as refused:
        build_micropython_filter(source, tmp_path / "filter.wasm")
    assert str(refused.value) == "filter.py:3: MicroPython's compiler rejects this line: invalid syntax."
    assert not (tmp_path / "filter.wasm").exists()
    with pytest.raises(UserError, match=r"^pkg/mod.py:3: MicroPython's compiler rejects this line"):
        compile_check(source, "pkg/mod.py")


def test_available_modules():
    names = available_modules()
    assert {"json", "struct", "ustruct", "collections", "sys", "gc", "math", "_proxywasm_host",
            "_proxywasm_runtime", "proxywasm", "proxywasm.context", "logging", "base64"} <= names
    assert "proxywasm.testing" not in names and "socket" not in names


def test_long_run_keeps_the_heap_flat(echo_module: Path):
    """20,000 requests, each leaving ~10 KB of garbage (200 MB through a 1 MiB heap): collections
    between callbacks keep the heap bounded (no MemoryError, no 500), what survives a collection
    does not grow, and Wasm memory never grows. (One million requests in Envoy:
    benchmarks/micropython_million.py.)"""
    host = Host.load(echo_module)
    memory, store = host.emulator.module.memory, host.emulator.module.store

    def live_after_collection() -> int:
        request(host, "/gc")                 # asks for a collection at the next safe point
        return int(request(host, "/after-gc").headers.get("x-heap-used"))

    first = live_after_collection()
    pages = memory.data_len(store)
    peak = 0
    for i in range(20_000):
        response = request(host, f"/r{i % 7}")
        assert response.status == 200, host.log_messages()[-5:]
        peak = max(peak, int(response.headers.get("x-heap-used")))
        if i % 5_000 == 0:
            host.clear_logs()
    last = live_after_collection()
    assert peak < 1024 * 1024
    assert abs(last - first) < 16 * 1024, (first, last)
    assert memory.data_len(store) == pages


def test_a_filter_file_name_that_is_no_identifier_builds(tmp_path: Path):
    """`deny-v2.py` builds on CPython (its import is by name); MicroPython's frozen C names it too."""
    source = tmp_path / "deny-v2.py"
    source.write_text(FILTER)
    module = build_micropython_filter(source, tmp_path / "deny-v2.wasm")
    assert request(Host.load(module), "/hello").status == 200
