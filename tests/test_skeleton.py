"""`proxywasm skeleton`: Python filter -> AssemblyScript / Rust project that builds and behaves alike.

The slow tests build the generated projects with the real toolchains, validate them, and run
the parity test each project carries: the same requests through the Python filter (emulator)
and the translated module (emulator and real Envoy) must get the same answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from proxywasm_build import scaffold
from proxywasm_build.languages import build_project
from proxywasm_build.languages.rust import rustc_with_wasm_target
from proxywasm_build.transpile import generate_skeleton
from proxywasm_build.transpile.model import read_filter

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PROXYWASM = [sys.executable, "-m", "proxywasm_build"]

HEADER_FILTER = textwrap.dedent('''
    """Header-only: deny dev traffic, tag requests, rewrite response headers (all from config)."""
    import json
    import logging

    import proxywasm
    from proxywasm import Action, HttpContext, RootContext

    ROOT_ID = "tagger"
    log = logging.getLogger(__name__)


    class Tagger(HttpContext):
        tagged = False

        def on_http_request_headers(self, num_headers, end_of_stream):
            root = self.root
            if self.get_http_request_header("x-env") == "dev" and root.block_dev:
                self.send_http_response(403, [("x-blocked", "dev")], b"no dev traffic\\n")
                return Action.PAUSE
            if self.get_http_request_header("x-role") in ("guest", "anonymous"):
                self.send_http_response(401, [("www-authenticate", "Basic")], b"who are you?\\n")
                return Action.PAUSE
            trace = self.get_http_request_header("x-trace")
            if trace is not None:
                self.add_http_request_header("x-trace-copy", trace)
            self.set_http_request_header(root.tag_header, root.tag_value.upper())
            self.remove_http_request_header("x-internal")
            self.tagged = True
            log.info(f"tagged stream {self.context_id}")
            return Action.CONTINUE

        def on_http_response_headers(self, num_headers, end_of_stream):
            if self.tagged:
                self.set_http_response_header("x-tagged", "yes")
            self.remove_http_response_header("x-upstream-secret")
            return Action.CONTINUE

        def on_http_response_body(self, body_size, end_of_stream):
            for name, value in self.get_http_response_headers():
                proxywasm.log_debug(name)
            return Action.CONTINUE


    class TagRoot(RootContext):
        def on_configure(self, plugin_configuration_size):
            config = json.loads(self.get_plugin_configuration() or b"{}")
            self.tag_header = config.get("tag_header", "x-tag")
            self.tag_value = config.get("tag_value", "python")
            self.block_dev = config.get("block_dev", True)
            return True

        def create_http_context(self, context_id):
            return Tagger(context_id, self)


    proxywasm.set_root_context(TagRoot)
''')


#: Most of the translatable subset in one filter: every callback of it is translated.
SUBSET_FILTER = '''import json
import logging
import proxywasm
from proxywasm import Action, HttpContext, RootContext, Counter, Gauge, Histogram

logger = logging.getLogger("f4")


class Stream(HttpContext):
    def __init__(self, context_id, root):
        super().__init__(context_id, root)
        self.path = None
        self.hits = 0

    def on_http_request_headers(self, num_headers, end_of_stream):
        self.path = self.get_http_request_header(":path")
        method = self.get_http_request_header(":method")
        agent = self.get_http_request_header("user-agent")
        if not end_of_stream and method in ["POST", "PUT"]:
            logger.debug("has body")
        elif agent is not None and agent.lower().startswith("curl"):
            self.add_http_request_header("x-client", "curl")
        elif self.path and self.path.endswith(".php"):
            self.send_http_response(404, {"x-why": "php"}, "no php\\n")
            return Action.PAUSE
        else:
            pass
        name = "x-" + self.root.suffix.strip()
        self.set_http_request_header(name, self.path)
        self.root.requests.increment(2)
        self.root.inflight.set(num_headers)
        return Action.CONTINUE

    def on_http_request_body(self, body_size, end_of_stream):
        if body_size > self.root.max_body:
            self.send_http_response(413, [], None)
            return Action.PAUSE
        return Action.CONTINUE

    def on_http_response_headers(self, num_headers, end_of_stream):
        self.set_http_response_header("x-path", self.path)
        status = self.get_http_response_header(":status")
        if status != "200" and self.root.verbose:
            self.set_http_response_header("x-status-was", status)
        return Action.CONTINUE

    def on_log(self):
        proxywasm.log_info(f"done {self.path} hits={self.hits}")

    def on_done(self):
        return True


class Root(RootContext):
    suffix = " seen "
    verbose = False

    def on_vm_start(self, vm_configuration_size):
        proxywasm.log_info("vm start")
        return True

    def on_configure(self, plugin_configuration_size):
        config = json.loads(self.get_plugin_configuration() or b"{}")
        self.max_body = config.get("max_body", 1024)
        self.verbose = config.get("verbose", False)
        self.suffix = config["suffix"]
        self.requests = Counter("f4_requests")
        self.inflight = Gauge("f4_inflight")
        self.sizes = Histogram("f4_sizes")
        return not self.verbose or self.max_body > 0

    def on_tick(self):
        pass

    def create_http_context(self, context_id):
        return Stream(context_id, self)


proxywasm.set_root_context(Root)
'''


@pytest.fixture
def header_filter(tmp_path) -> Path:
    path = tmp_path / "tagger.py"
    path.write_text(HEADER_FILTER)
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PROXYWASM, *args], capture_output=True, text=True, timeout=600)


# -- reading and translating ------------------------------------------------------------------

def test_read_filter_finds_contexts_callbacks_config_and_root_id(header_filter):
    model = read_filter(header_filter)
    assert model.root.name == "TagRoot" and model.http.name == "Tagger"
    assert model.root_id == "tagger"
    assert [m.callback.name for m in model.root.methods] == ["on_configure"]
    assert [m.callback.name for m in model.http.methods] == [
        "on_http_request_headers", "on_http_response_headers", "on_http_response_body"]
    assert [(f.config_key, f.default, f.type) for f in model.config_fields] == [
        ("tag_header", "x-tag", "str"), ("tag_value", "python", "str"), ("block_dev", True, "bool")]
    assert model.http.fields["tagged"].type == "bool"
    assert model.header_names == ["x-env", "x-role", "x-trace"]


@pytest.mark.parametrize("language, source, expected, todo_return", [
    ("assemblyscript", "assembly/index.ts", [
        'this.sendHttpResponse(<u32>(403), [header("x-blocked", "dev")], String.UTF8.encode("no dev traffic\\n"));',
        'this.setHttpRequestHeader(this.root.tag_header, this.root.tag_value.toUpperCase());',
        'this.setHttpResponseHeader("x-upstream-secret", null);',
        'this.tag_header = config.getString("tag_header", "x-tag");',
        'registerRootContext((contextId: u32): RootContext => new TagRoot(contextId), ROOT_ID);',
        'const ROOT_ID = "tagger";',
    ], "return Action.Continue;"),
    ("rust", "src/lib.rs", [
        'self.send_http_response((403) as u32, vec![("x-blocked", "dev")], Some(b"no dev traffic\\n"));',
        'self.set_http_response_header("x-upstream-secret", None);',
        '{ let value = config.get_bool("block_dev", true); self.root.borrow_mut().block_dev = value; }',
        'if ((self.get_http_request_header("x-env").as_deref() == Some("dev")) && self.root.borrow().block_dev) {',
        'pub const ROOT_ID: &str = "tagger";',
    ], "Action::Continue"),
])
def test_skeleton_translates_header_work_and_keeps_the_rest_as_todo(tmp_path, header_filter, language,
                                                                    source, expected, todo_return):
    project = generate_skeleton(header_filter, language, tmp_path / "out", no_deps=language == "rust")
    code = (project / source).read_text()
    for line in expected:
        assert line in code
    todo = code.split("TODO: translate this callback by hand", 1)[1]
    assert "`for name, value in self.get_http_response_headers():`" in todo.splitlines()[0]
    assert "//         for name, value in self.get_http_response_headers():" in todo
    assert todo_return in todo.split("}")[0]
    assert (project / "python" / "filter.py").read_text() == HEADER_FILTER
    assert (project / "config.json").read_text().strip() == \
        '{"tag_header": "x-tag", "tag_value": "python", "block_dev": true}'
    readme = (project / "README.md").read_text()
    assert "`on_http_response_body`: line" in readme


def test_the_python_scaffold_translates_completely(tmp_path):
    python_project = scaffold.scaffold_project(tmp_path / "deny", "python")
    for language in ("assemblyscript", "rust"):
        project = generate_skeleton(python_project / "filter.py", language, tmp_path / language)
        code = next(p for p in (project / "assembly" / "index.ts", project / "src" / "lib.rs") if p.exists())
        assert "TODO" not in code.read_text()


@pytest.mark.parametrize("args, sentence", [
    (["{missing}", "--lang", "rust", "-o", "{out}"], "{missing} is not a Python filter file."),
    (["{broken}", "--lang", "rust", "-o", "{out}"], "{broken} is not valid Python: '(' was never closed (line 1)."),
    (["{plain}", "--lang", "assemblyscript", "-o", "{out}"],
     "{plain} has no RootContext or HttpContext subclass to translate."),
    (["{filter}", "--lang", "assemblyscript", "-o", "{busy}"], "{busy} is not empty; choose a new or empty directory."),
    (["{filter}", "--lang", "assemblyscript", "--no-deps", "-o", "{out}"], "--no-deps applies only to --lang rust."),
])
def test_skeleton_mistakes_are_one_sentence(tmp_path, header_filter, args, sentence):
    paths = {"missing": tmp_path / "missing.py", "broken": tmp_path / "broken.py", "plain": tmp_path / "plain.py",
             "filter": header_filter, "out": tmp_path / "out", "busy": tmp_path / "busy"}
    paths["broken"].write_text("x = (\n")
    paths["plain"].write_text("x = 1\n")
    paths["busy"].mkdir()
    (paths["busy"] / "keep").write_text("")
    proc = run_cli("skeleton", *[a.format(**paths) for a in args])
    assert proc.returncode == 1
    assert proc.stderr.strip() == "proxywasm: " + sentence.format(**paths)
    assert not (tmp_path / "out").exists()


# -- real toolchains --------------------------------------------------------------------------

def _validated(project: Path) -> None:
    from proxywasm_build.wasm.validate import validate_module

    report = validate_module(build_project(project).read_bytes())
    assert report.ok and report.abi_version == "0.2.1", report.findings
    assert [f for f in report.findings if f.severity == "error"] == []


@pytest.mark.toolchain
@pytest.mark.envoy
@pytest.mark.parametrize("language", ["assemblyscript", "rust"])
def test_header_only_skeleton_builds_and_answers_like_the_python_filter_in_envoy(tmp_path, header_filter, language):
    if language == "rust" and rustc_with_wasm_target() is None:
        pytest.skip("no rustc with the wasm32-unknown-unknown target (apt-get install rustc libstd-rust-dev-wasm32)")
    proc = run_cli("skeleton", str(header_filter), "--lang", language, "-o", str(tmp_path / "port"),
                   *(["--no-deps"] if language == "rust" else []))
    assert proc.returncode == 0, proc.stderr
    project = tmp_path / "port"
    _validated(project)
    parity = (project / "tests" / "test_parity.py").read_text()
    assert "'x-env'" in parity and "'x-tagged'" in parity
    # The parity requests reach every branch: allowed, 401 and 403.
    namespace: dict = {"__file__": str(project / "tests" / "test_parity.py")}
    exec(compile(parity, "test_parity.py", "exec"), namespace)
    from proxywasm.testing import Host

    python_host = Host.load(project / "python" / "filter.py", plugin_config=namespace["CONFIG"])
    assert {namespace["_answer"](python_host, r)["status"] for r in namespace["REQUESTS"]} == {200, 401, 403}
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([*PROXYWASM, "test", str(project), "-p", "no:cacheprovider"],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_every_example_gets_a_skeleton_in_both_languages(tmp_path):
    examples = sorted(EXAMPLES.glob("*/filter.py"))
    assert examples
    for example in examples:
        for language in ("assemblyscript", "rust"):
            project = generate_skeleton(example, language, tmp_path / f"{example.parent.name}-{language}",
                                        no_deps=language == "rust")
            model = read_filter(example)
            callbacks = [m.callback.name for m in model.root.methods + (model.http.methods if model.http else [])]
            source = (project / ("assembly/index.ts" if language == "assemblyscript" else "src/lib.rs")).read_text()
            for callback in callbacks:
                assert (f"fn {callback}(" if language == "rust" else f"{_AS_NAMES[callback]}(") in source


_AS_NAMES = {
    "on_http_request_headers": "onHttpRequestHeaders", "on_http_request_body": "onHttpRequestBody",
    "on_http_request_trailers": "onHttpRequestTrailers", "on_http_response_headers": "onHttpResponseHeaders",
    "on_http_response_body": "onHttpResponseBody", "on_http_response_trailers": "onHttpResponseTrailers",
    "on_log": "onLog", "on_done": "onDone", "on_http_call_response": "onHttpCallResponse",
    "on_vm_start": "onVmStart", "on_configure": "onConfigure", "on_tick": "onTick",
}


@pytest.mark.toolchain
def test_example_skeletons_build_and_validate(tmp_path):
    """Each example is built once, the languages alternating, to keep the suite lean."""
    from concurrent.futures import ThreadPoolExecutor

    has_rust = rustc_with_wasm_target() is not None
    examples = sorted(EXAMPLES.glob("*/filter.py"))
    projects = []
    for index, example in enumerate(examples):
        language = "rust" if index % 2 and has_rust else "assemblyscript"
        projects.append(generate_skeleton(example, language, tmp_path / f"{example.parent.name}-{language}",
                                          no_deps=language == "rust"))
    with ThreadPoolExecutor(max_workers=2) as pool:  # the compilers are single-threaded
        list(pool.map(_validated, projects))


@pytest.mark.toolchain
@pytest.mark.parametrize("language", ["assemblyscript", "rust"])
def test_the_translatable_subset_builds_and_answers_like_python_in_the_emulator(tmp_path, language):
    if language == "rust" and rustc_with_wasm_target() is None:
        pytest.skip("no rustc with the wasm32-unknown-unknown target")
    source = tmp_path / "subset.py"
    source.write_text(SUBSET_FILTER)
    project = generate_skeleton(source, language, tmp_path / "port", no_deps=language == "rust")
    code = (project / ("assembly/index.ts" if language == "assemblyscript" else "src/lib.rs")).read_text()
    assert "TODO" not in code
    (project / "config.json").write_text('{"suffix": " z ", "max_body": 10, "verbose": true}')
    _validated(project)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([*PROXYWASM, "test", str(project), "-p", "no:cacheprovider", "-k", "emulator"],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
