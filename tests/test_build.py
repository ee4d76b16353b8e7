"""The CPython build backend: checks, the generated bridge, the built module in wasmtime."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from proxywasm import abi

from proxywasm_build.backends.common.filter_check import check_filter
from proxywasm_build.backends.common.filter_source import resolve_filter_source
from proxywasm_build.wasm.metadata_section import METADATA_SECTION
from proxywasm_build.backends.common.snapshot import hostcall_stubs_wat
from proxywasm_build.backends.cpython import build_python_filter
from proxywasm_build.backends.cpython.bridge import generate_bridge_source
from proxywasm_build.errors import UserError

# DESIGN.md's example, plus what these tests observe from inside the module: the raw-hostcall
# functions the module offers, and a random draw (to see the re-seed after the snapshot).
DENY_FILTER = textwrap.dedent('''
    import json
    import logging
    import random
    import sys

    import proxywasm
    from proxywasm import Action, HttpContext, RootContext

    class Deny(HttpContext):
        def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
            if self.get_http_request_header("x-boom") is not None:
                raise RuntimeError("kaboom from python")
            if self.get_http_request_header("x-escape") is not None:
                escape_the_dispatcher_once()
            if self.get_http_request_header(self.root.header) is not None:
                self.send_http_response(403, [("x-denied-by", "python")], b"denied\\n")
                return Action.PAUSE
            return Action.CONTINUE

        def on_http_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
            self.set_http_response_header("x-python", "yes")
            return Action.CONTINUE

    def escape_the_dispatcher_once():
        # Probe of the C bridge's last resort: an exception raised by the dispatcher itself.
        import proxywasm.dispatcher as dispatcher
        original, raised = dispatcher.proxy_on_log, []

        def escaping(context_id):
            if not raised:
                raised.append(True)
                raise LookupError("escaped the dispatcher")
            return original(context_id)

        dispatcher.proxy_on_log = escaping

    class Root(RootContext):
        def on_vm_start(self, vm_configuration_size: int) -> bool:
            print("python filter vm started", file=sys.stderr)
            from proxywasm import _host  # inside the module, _host.raw is _proxywasm_host
            names = sorted(n for n in dir(_host.raw) if not n.startswith("_"))
            logging.getLogger("probe").warning("raw=%s", ",".join(names))
            logging.getLogger("probe").warning("random=%r", random.random())
            return True

        def on_configure(self, plugin_configuration_size: int) -> bool:
            config = json.loads(self.get_plugin_configuration() or b"{}")
            self.header = config.get("header", "x-deny")
            return True

        def create_http_context(self, context_id: int) -> HttpContext:
            return Deny(context_id, self)

    proxywasm.set_root_context(Root)
''')


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


# ---------------------------------------------------------------------------------------------
# Without the toolchain: generated sources and build errors


def test_bridge_has_a_raw_function_for_every_hostcall_and_an_export_for_every_callback():
    source = generate_bridge_source(abi.LATEST)
    for hostcall in abi.LATEST.hostcalls.values():
        assert f'{{"{hostcall.raw_name}", ' in source
        assert f'import_name("{hostcall.name}")' in source
    for callback in abi.LATEST.callbacks.values():
        if callback.name != "proxy_on_memory_allocate":  # runtime.c: it is malloc
            assert f'export_name("{callback.name}")' in source
    assert f'export_name("{abi.LATEST.marker}")' in source


def test_snapshot_stubs_cover_every_hostcall_with_its_signature():
    wat = hostcall_stubs_wat()
    for hostcall in abi.LATEST.hostcalls.values():
        params = " ".join(hostcall.signature.params)
        assert f'(export "{hostcall.name}") (param {params})' in wat or not params


def test_cutting_zero_runs_out_of_data_segments_keeps_the_memory_image():
    import wasmtime

    from proxywasm_build.backends.common.datasegments import split_zero_runs

    zero = "\\00"
    payload = "abc" + zero * 40 + "def" + zero * 5 + "gh"
    wat = f'''(module (memory (export "memory") 1)
        (data (i32.const 100) "{payload}")
        (data "passive kept")
        (data (i32.const 4000) "{zero * 30}"))'''
    original = wasmtime.wat2wasm(wat)
    cut = split_zero_runs(original)
    assert len(cut) < len(original)

    def memory(module: bytes) -> bytes:
        store = wasmtime.Store()
        instance = wasmtime.Instance(store, wasmtime.Module(store.engine, module), [])
        mem = instance.exports(store)["memory"]
        return bytes(mem.read(store, 0, mem.data_len(store)))

    assert memory(cut) == memory(original)


def test_a_syntax_error_names_file_and_line(tmp_path):
    bad = write(tmp_path / "bad.py", "import proxywasm\n\ndef broken(:\n    pass\n")
    with pytest.raises(UserError, match=r"bad\.py:3: syntax error"):
        build_python_filter(bad)


@pytest.mark.parametrize("module", ["socket", "threading", "subprocess", "multiprocessing", "asyncio", "ssl"])
def test_an_import_the_sandbox_cannot_run_is_named(tmp_path, module):
    f = write(tmp_path / "f.py", f"import proxywasm\nimport {module}\nproxywasm.set_root_context(proxywasm.RootContext)\n")
    with pytest.raises(UserError, match=rf"f\.py:2 imports {module}, which a Proxy-Wasm filter cannot use"):
        build_python_filter(f)


def test_a_filter_without_set_root_context_is_refused(tmp_path):
    f = write(tmp_path / "f.py", "import proxywasm\n")
    with pytest.raises(UserError, match="never calls proxywasm.set_root_context"):
        build_python_filter(f)
    # An HTTP context factory alone is enough: the SDK supplies a plain root context.
    g = write(tmp_path / "g.py", "import proxywasm\nproxywasm.set_http_context(proxywasm.HttpContext)\n")
    assert check_filter(resolve_filter_source(g)) == {"proxywasm"}


def test_cli_reports_one_sentence_and_no_traceback(tmp_path):
    f = write(tmp_path / "f.py", "import proxywasm\nimport socket\n")
    proc = subprocess.run([sys.executable, "-m", "proxywasm_build", "build", str(f)],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "imports socket" in proc.stderr


def test_which_module_a_directory_names(tmp_path):
    write(tmp_path / "a" / "filter.py", "x = 1\n")
    write(tmp_path / "a" / "helpers.py", "y = 1\n")
    assert resolve_filter_source(tmp_path / "a").module == "filter"
    write(tmp_path / "pkg" / "__init__.py", "x = 1\n")
    found = resolve_filter_source(tmp_path / "pkg")
    assert (found.module, found.root) == ("pkg", tmp_path)
    write(tmp_path / "one" / "mine.py", "x = 1\n")
    write(tmp_path / "one" / "test_mine.py", "x = 1\n")
    assert resolve_filter_source(tmp_path / "one").module == "mine"
    write(tmp_path / "two" / "a.py", "x = 1\n")
    write(tmp_path / "two" / "b.py", "x = 1\n")
    with pytest.raises(UserError, match="several modules"):
        resolve_filter_source(tmp_path / "two")


@pytest.mark.build
def test_annotation_only_imports_are_not_frozen_but_runtime_ones_are(tmp_path):
    # `if TYPE_CHECKING:` blocks never run; freezing what they import (typing, datetime...)
    # cost every module ~0.2 MB before the closure scan learned to skip them.
    from proxywasm_build.backends.cpython.freezer import freeze_closure
    from proxywasm_build.backends.cpython.toolchain import ensure_toolchain

    source = write(tmp_path / "filter.py", textwrap.dedent('''
        import proxywasm
        TYPE_CHECKING = False
        if TYPE_CHECKING:
            import calendar
        else:
            import fnmatch

        def later():
            import colorsys
            return colorsys

        proxywasm.set_root_context(proxywasm.RootContext)
    '''))
    filter_source = resolve_filter_source(source)
    direct_imports = check_filter(filter_source)
    frozen = freeze_closure(filter_source, ensure_toolchain().stdlib_dir, direct_imports)
    names = set(frozen.names())
    assert "calendar" not in names and "datetime" not in names  # the SDK's annotations too
    assert {"fnmatch", "colorsys", "filter"} <= names


@pytest.mark.build
def test_heavy_modules_the_stdlib_imports_only_inside_functions_are_left_out(tmp_path):
    # json -> re -> enum/functools; functools imports typing, enum imports warnings (which
    # imports traceback and linecache) only inside functions. A filter that imports one of them
    # itself keeps it.
    from proxywasm_build.backends.cpython.freezer import freeze_closure
    from proxywasm_build.backends.cpython.toolchain import ensure_toolchain

    stdlib = ensure_toolchain().stdlib_dir
    plain = write(tmp_path / "plain" / "filter.py", textwrap.dedent('''
        import json
        import proxywasm
        proxywasm.set_root_context(proxywasm.RootContext)
    '''))
    source = resolve_filter_source(plain)
    frozen = freeze_closure(source, stdlib, check_filter(source))
    names = set(frozen.names())
    assert {"json", "re", "enum", "functools"} <= names  # json imports re at module level
    assert not names & {"typing", "inspect", "traceback", "linecache", "tokenize", "ast", "warnings"}
    assert {"typing", "traceback", "warnings"} <= set(frozen.left_out)

    wants = write(tmp_path / "wants" / "filter.py", textwrap.dedent('''
        import json
        import proxywasm

        def report(exc):
            import traceback
            return traceback.format_exception(exc)

        proxywasm.set_root_context(proxywasm.RootContext)
    '''))
    source = resolve_filter_source(wants)
    frozen = freeze_closure(source, stdlib, check_filter(source))
    assert {"traceback", "linecache", "tokenize"} <= set(frozen.names())
    assert "traceback" not in frozen.left_out and "typing" in frozen.left_out


def test_exception_text_matches_the_stdlib_traceback_without_importing_it():
    import traceback

    from proxywasm import _traceback

    class Wrapped(Exception):
        pass

    def inner():
        raise ValueError("kaboom")

    def caused():
        try:
            inner()
        except ValueError as err:
            raise Wrapped("wrapped") from err

    def during():
        try:
            caused()
        except Wrapped:
            raise KeyError("k")

    for raiser in (inner, caused, during):
        with pytest.raises(Exception) as info:
            raiser()
        expected = "".join(traceback.format_exception(info.value))
        assert _traceback.format_exception(info.value) == expected
    assert "traceback" not in _traceback.__dict__


# ---------------------------------------------------------------------------------------------
# Built modules (slow the first time: fetches the toolchain)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    directory = tmp_path_factory.mktemp("deny")
    source = write(directory / "filter.py", DENY_FILTER)
    report: dict = {}
    output = build_python_filter(source, directory / "deny.wasm", report=report)
    return output, report


def _module_info(path: Path):
    from proxywasm_build.wasm.reader import read_module

    return read_module(path.read_bytes())


@pytest.mark.build
def test_module_imports_only_hostcalls_and_the_wasi_envoy_implements(built):
    info = _module_info(built[0])
    imports = {(i.module, i.name): i.signature for i in info.imports}
    wasi = {name for module, name in imports if module == "wasi_snapshot_preview1"}
    # environ_*: the callback budget reads PROXYWASM_CALLBACK_BUDGET_MS (start-up sees an empty environment)
    assert wasi <= {"fd_write", "fd_close", "clock_time_get", "clock_res_get", "random_get",
                    "environ_get", "environ_sizes_get"}
    assert {module for module, _ in imports} == {"env", "wasi_snapshot_preview1"}
    for (module, name), signature in imports.items():
        if module == "env":
            assert signature == abi.LATEST.hostcalls[name].signature


@pytest.mark.build
def test_module_exports_every_callback_with_its_abi_signature(built):
    exports = _module_info(built[0]).function_exports()
    for callback in abi.LATEST.callbacks.values():
        assert exports[callback.name] == callback.signature, callback.name
    assert abi.LATEST.marker in exports
    assert exports["malloc"] == abi.START_EXPORTS["malloc"]
    # wizer runs `_initialize` (the C constructors) into the snapshot and drops its export.
    assert exports.get("_initialize", abi.START_EXPORTS["_initialize"]) == abi.START_EXPORTS["_initialize"]
    assert "wizer.initialize" not in exports and "_start" not in exports


@pytest.mark.build
def test_module_carries_metadata_and_only_the_import_closure(built):
    info = _module_info(built[0])
    metadata = json.loads(info.custom_section(METADATA_SECTION))
    assert metadata["abi"] == "0.2.1" and metadata["python"] == "3.11.8"
    assert metadata["sdk"]
    frozen = set(metadata["frozen_modules"])
    assert {"filter", "proxywasm", "proxywasm.dispatcher", "json", "json.decoder", "random"} <= frozen
    assert not any(name.startswith("proxywasm.testing") for name in frozen)
    assert not frozen & {"unittest", "asyncio", "email", "pydoc", "tkinter"}
    assert "_proxywasm_host" in metadata["builtin_modules"]
    # functools imports typing only inside singledispatch: left out, and said so
    assert "typing" in metadata["left_out_modules"] and "typing" not in frozen


@pytest.mark.build
def test_built_module_passes_the_validator(built):
    from proxywasm_build.wasm.validate import validate_module

    report = validate_module(built[0].read_bytes(), abi="0.2.1", envoy="1.40")
    assert report.ok, [f.message for f in report.findings]


@pytest.mark.build
def test_module_runs_the_filter_in_wasmtime(built):
    from proxywasm.testing import Host

    host = Host.load(built[0])
    denied = host.http_request({":method": "GET", ":path": "/", ":authority": "x", "x-deny": "1"},
                               upstream=(200, {}, b"hello"))
    assert denied.status == 403 and denied.body == b"denied\n"
    assert denied.headers.get("x-denied-by") == "python" and denied.upstream_request is None
    allowed = host.http_request({":method": "GET", ":path": "/", ":authority": "x"},
                                upstream=(200, {}, b"hello"))
    assert allowed.status == 200 and allowed.body == b"hello"
    assert allowed.headers.get("x-python") == "yes"


@pytest.mark.build
def test_every_raw_hostcall_is_in_the_module_and_random_is_reseeded(built):
    from proxywasm.testing import Host

    def probe() -> dict[str, str]:
        host = Host.load(built[0])
        out = {}
        for record in host.logs:
            for key in ("raw", "random"):
                if f"{key}=" in record.message:
                    out[key] = record.message.split(f"{key}=", 1)[1]
        return out

    first, second = probe(), probe()
    expected = {h.raw_name for h in abi.LATEST.hostcalls.values()}
    assert expected <= set(first["raw"].split(","))
    # Both VMs start from the same snapshot; without the re-seed they would draw the same number.
    assert first["random"] != second["random"]


@pytest.mark.build
def test_a_raising_callback_logs_a_traceback_and_fails_the_stream_with_500(built):
    from proxywasm.testing import Host

    host = Host.load(built[0])
    failed = host.http_request({":method": "GET", ":path": "/", ":authority": "x", "x-boom": "1"},
                               upstream=(200, {}, b"hello"))
    assert failed.status == 500
    assert any("RuntimeError: kaboom from python" in r.message and "Traceback" in r.message
               for r in host.logs)
    after = host.http_request({":method": "GET", ":path": "/", ":authority": "x"},
                              upstream=(200, {}, b"hello"))
    assert after.status == 200


@pytest.mark.build
def test_the_same_filter_builds_the_same_bytes(built, tmp_path):
    # The snapshot's hash seed, random draws and clock reads come from the filter's content.
    source = write(tmp_path / "filter.py", DENY_FILTER)
    again = build_python_filter(source, tmp_path / "again.wasm")
    assert again.read_bytes() == built[0].read_bytes()


@pytest.mark.build
def test_rebuilding_a_changed_filter_reuses_every_cached_object_but_the_filters(built, tmp_path):
    from proxywasm_build import cache

    objects = cache.cache_dir() / "objects"
    before = {p.name for p in objects.iterdir()}
    source = write(tmp_path / "filter.py", DENY_FILTER.replace("x-python", "x-python-v2"))
    report: dict = {}
    build_python_filter(source, tmp_path / "v2.wasm", report=report)
    new = {p.name for p in objects.iterdir()} - before
    assert {name.split("-")[0] for name in new} <= {"frozen_app", "frozen_table"}
    assert report["seconds"]["compile"] < report["seconds"]["total"]


@pytest.mark.build
def test_a_package_filter_with_a_site_packages_dependency_and_lazy_start(tmp_path):
    from proxywasm.testing import Host

    package = tmp_path / "mypkg"
    write(package / "rules.py", "BLOCKED = '/admin'\n")
    write(package / "__init__.py", """
        import proxywasm
        from packaging.version import Version  # pure Python, from the build's site-packages
        from proxywasm import Action, HttpContext, RootContext
        from .rules import BLOCKED

        class Guard(HttpContext):
            def on_http_request_headers(self, num_headers, end_of_stream):
                if self.get_http_request_header(":path") == BLOCKED:
                    self.send_http_response(404, [], b"no\\n")
                    return Action.PAUSE
                client = self.get_http_request_header("x-client-version")
                if client is not None and Version(client) < Version("1.10"):
                    self.send_http_response(426, [], b"upgrade\\n")
                    return Action.PAUSE
                return Action.CONTINUE

        class Root(RootContext):
            def create_http_context(self, context_id):
                return Guard(context_id, self)

        proxywasm.set_root_context(Root)
    """)
    output = build_python_filter(package, tmp_path / "pkg.wasm", snapshot_module=False)
    metadata = json.loads(_module_info(output).custom_section(METADATA_SECTION))
    assert {"mypkg", "mypkg.rules", "packaging.version"} <= set(metadata["frozen_modules"])
    assert not metadata["snapshot"]
    host = Host.load(output)
    assert host.http_request({":method": "GET", ":path": "/admin", ":authority": "x"}).status == 404
    old_client = {":method": "GET", ":path": "/", ":authority": "x", "x-client-version": "1.9"}
    assert host.http_request(old_client).status == 426
    assert host.http_request({":method": "GET", ":path": "/", ":authority": "x"},
                             upstream=(200, {}, b"ok")).status == 200


@pytest.mark.build
def test_an_exception_escaping_the_dispatcher_is_printed_and_never_traps(built):
    from proxywasm.testing import Host

    host = Host.load(built[0])
    first = host.http_request({":method": "GET", ":path": "/", ":authority": "x", "x-escape": "1"},
                              upstream=(200, {}, b"hello"))
    assert first.status == 200
    reports = [r.message for r in host.logs if "escaped proxywasm.dispatcher.proxy_on_log" in r.message]
    assert reports and "Traceback" in reports[0] and "LookupError: escaped the dispatcher" in reports[0]
    assert host.http_request({":method": "GET", ":path": "/", ":authority": "x"},
                             upstream=(200, {}, b"hello")).status == 200


# ---------------------------------------------------------------------------------------------
# Weight: CPython's parser and compiler are left out when the filter's import does not need them

EVAL_FILTER = '''
    import collections
    import proxywasm
    from proxywasm import Action, HttpContext, RootContext
    {extra_import}

    Point = collections.namedtuple("Point", "x y")   # namedtuple evals a lambda's source text
    ORIGIN = Point(0, 0)

    class _Vault:
        __slots__ = ("__secret",)   # type() mangles slot names with _Py_Mangle (nocompiler.c)

        def __init__(self, secret):
            self.__secret = secret  # the compiler mangled this at build time: both must agree

        def reveal(self):
            return self.__secret

    class Probe(HttpContext):
        def on_http_request_headers(self, num_headers, end_of_stream):
            try:
                answer = str(eval(self.get_http_request_header("x-expr") or "6*7"))
            except RuntimeError as error:
                answer = "refused: " + str(error)
            import datetime   # pure Python when the import did not need the C `_datetime`
            tomorrow = datetime.date(2024, 2, 29) + datetime.timedelta(days=1)
            self.send_http_response(200, [("x-origin", repr(ORIGIN)), ("x-date", tomorrow.isoformat()),
                                          ("x-vault", _Vault("kept").reveal())], answer.encode())
            return Action.PAUSE

    proxywasm.set_root_context(RootContext)
    proxywasm.set_http_context(Probe)
'''


def _metadata_and_names(path: Path) -> tuple[dict, bytes]:
    info = _module_info(path)
    return json.loads(info.custom_section(METADATA_SECTION)), info.custom_section("name") or b""


@pytest.mark.build
def test_the_default_module_has_no_compiler_and_eval_serves_only_build_time_texts(built, tmp_path):
    from proxywasm.testing import Host

    metadata, names = _metadata_and_names(built[0])
    assert metadata["compiler"] is False
    assert b"_PyPegen_run_parser" not in names and b"compiler_visit_expr" not in names
    assert "_ast" not in metadata["builtin_modules"] and "ast" not in metadata["frozen_modules"]

    source = write(tmp_path / "probe.py", EVAL_FILTER.format(extra_import=""))
    module = build_python_filter(source, tmp_path / "probe.wasm")
    metadata = _metadata_and_names(module)[0]
    assert metadata["compiler"] is False and "_datetime" not in metadata["builtin_modules"]
    response = Host.load(module).http_request({":method": "GET", ":path": "/", ":authority": "x",
                                               "x-expr": "6*7"})
    assert response.headers.get("x-origin") == "Point(x=0, y=0)"   # the cached lambda worked
    assert response.headers.get("x-date") == "2024-03-01"
    assert response.headers.get("x-vault") == "kept"
    assert response.body.startswith(b"refused: compiling source text not seen at build time (6*7)")


@pytest.mark.build
def test_a_filter_whose_import_needs_ast_gets_the_full_interpreter(tmp_path):
    from proxywasm.testing import Host

    source = write(tmp_path / "probe.py", EVAL_FILTER.format(extra_import="import dataclasses"))
    report: dict = {}
    module = build_python_filter(source, tmp_path / "probe.wasm", report=report)
    metadata, names = _metadata_and_names(module)
    assert metadata["compiler"] is True and report["compiler"] is True
    assert "_ast" in metadata["builtin_modules"] and b"_PyPegen_run_parser" in names
    response = Host.load(module).http_request({":method": "GET", ":path": "/", ":authority": "x",
                                               "x-expr": "6*7"})
    assert response.body == b"42"
    with pytest.raises(UserError, match="without Python's compiler: its import needs the ast module"):
        build_python_filter(source, tmp_path / "never.wasm", compiler=False)


@pytest.mark.build
def test_a_text_only_the_module_compiles_at_import_falls_back_to_the_full_interpreter(tmp_path):
    from proxywasm.testing import Host

    # The build machine's import never evaluates this text (its sys.platform is not wasi), so
    # the snapshot without a compiler meets it: the build links the full interpreter instead.
    source = write(tmp_path / "probe.py", EVAL_FILTER.format(
        extra_import="import sys\n    SEVEN = eval('3+4') if sys.platform == 'wasi' else 7"))
    report: dict = {}
    module = build_python_filter(source, tmp_path / "probe.wasm", report=report)
    assert report["compiler"] is True
    response = Host.load(module).http_request({":method": "GET", ":path": "/", ":authority": "x"})
    assert response.body == b"42"


@pytest.mark.build
def test_a_compiler_builtin_only_the_module_imports_falls_back_to_the_full_interpreter(tmp_path):
    from proxywasm.testing import Host

    # The build machine's import never takes this branch, so the module without a compiler
    # meets `import _ast` first in the snapshot: the build links the full interpreter instead,
    # unless the caller refused the compiler.
    source = write(tmp_path / "probe.py", EVAL_FILTER.format(
        extra_import="import sys\n    if sys.platform == 'wasi':\n        import _ast"))
    report: dict = {}
    module = build_python_filter(source, tmp_path / "probe.wasm", report=report)
    assert report["compiler"] is True and _metadata_and_names(module)[0]["compiler"] is True
    response = Host.load(module).http_request({":method": "GET", ":path": "/", ":authority": "x"})
    assert response.body == b"42"
    with pytest.raises(UserError, match="No module named '_ast'"):
        build_python_filter(source, tmp_path / "never.wasm", compiler=False)
    assert not (tmp_path / "never.wasm").exists()
