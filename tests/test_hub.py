"""`proxywasm hub` against a real registry (Debian's docker-registry), checked in a real browser
(Debian's chromium, driven by playwright with no browser download of its own).

The registry holds a MicroPython-built and a CPython-built filter and a non-Python module;
registry traffic is counted from the registry's own request log, not timed.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from proxywasm_build.hosts import built_module
from proxywasm_build.ship import oci
from proxywasm_build.wasm.inspect import module_runtime, producers
from proxywasm_build.wasm.metadata_section import custom_section
from proxywasm_build.wasm.reader import read_module

from registry import LocalRegistry, free_port, local_reply_module, module_variant

pytestmark = pytest.mark.registry

EXAMPLE_FILTER = Path(__file__).resolve().parents[1] / "examples" / "allow_deny" / "filter.py"
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 900}
#: Set to a directory to keep the image page's screenshot there (docs/hub.png is made this way).
SCREENSHOT_DIR_ENV = "PROXYWASM_HUB_SCREENSHOT_DIR"


# -- helpers ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Logins go to a file of this test's own, never the machine's ~/.docker/config.json."""
    path = tmp_path / "auth.json"
    monkeypatch.setenv("PROXYWASM_AUTH_FILE", str(path))
    return path


@contextmanager
def running_hub(registry: LocalRegistry, *keys: Path, plain_http: bool = True) -> Iterator[str]:
    """`proxywasm hub` as a user starts it; yields its base URL. Whatever the hub logged must not
    be a traceback: every failure a page can meet is a sentence on the page."""
    port = free_port()
    command = [sys.executable, "-m", "proxywasm_build", "hub", "--registry", registry.host, "--port", str(port)]
    command += ["--plain-http"] if plain_http else []
    for key in keys:
        command += ["--key", str(key)]
    log = registry.root / f"hub-{port}.log"
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, url, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert "Traceback" not in log.read_text(), log.read_text()


def wait_until_serving(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the hub exited: {log.read_text()}")
        try:
            urllib.request.urlopen(url + "/", timeout=2)
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError("the hub did not answer within 30 s")


def registry_requests(registry: LocalRegistry) -> list[tuple[str, str]]:
    """(method, path) of every request the registry has answered so far, from its own log."""
    found = []
    for line in registry.log_path.read_text().splitlines():
        if 'msg="response completed' not in line:
            continue
        method = re.search(r"http\.request\.method=(\S+)", line)
        uri = re.search(r'http\.request\.uri="?([^"\s]+)', line)
        if method and uri:
            found.append((method.group(1), uri.group(1)))
    return found


def requests_since(registry: LocalRegistry, before: int) -> list[tuple[str, str]]:
    time.sleep(0.2)  # the registry writes its log line just after the response
    return registry_requests(registry)[before:]


def kind_of(path: str) -> str:
    for kind in ("_catalog", "tags/list", "manifests", "blobs"):
        if f"/{kind}" in path:
            return kind
    return "other"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def overlaps(a: dict, b: dict) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def get(url: str) -> str:
    return urllib.request.urlopen(url, timeout=30).read().decode()


# -- the registry the browser test browses ----------------------------------------------------


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A registry with a MicroPython build (compat), a CPython build (wasme), a Rust build and a
    hand-written module, some signed; yields the registry, the key files and what was pushed."""
    from proxywasm_build.ship import signing

    root = tmp_path_factory.mktemp("hub")
    with LocalRegistry(root / "registry") as registry:
        host = registry.host
        micropython = oci.push(built_module(EXAMPLE_FILTER, "micropython"), f"{host}/python/allow-deny:micropython",
                               plain_http=True)
        cpython = oci.push(built_module(EXAMPLE_FILTER, "cpython"), f"{host}/python/allow-deny:cpython",
                           layout="wasme", plain_http=True)
        rust = oci.push(rust_module(root), f"{host}/rust/deny:v1", plain_http=True)
        native = oci.push(local_reply_module(root / "reply.wasm"), f"{host}/native/reply:v1", plain_http=True)
        keys = {name: signing.write_key_pair(root / name, b"") for name in ("alice", "bob", "mallory")}
        alice = signing.load_private_key(keys["alice"].private_path, b"")
        mallory = signing.load_private_key(keys["mallory"].private_path, b"")
        signing.sign_image(f"{host}/python/allow-deny:micropython", alice, plain_http=True)
        signing.sign_image(f"{host}/rust/deny:v1", mallory, plain_http=True)
        yield {"registry": registry, "keys": {name: pair.public_path for name, pair in keys.items()},
               "private_keys": {name: pair.private_path for name, pair in keys.items()},
               "micropython": micropython, "cpython": cpython, "rust": rust, "native": native}


def rust_module(root: Path) -> Path:
    """The Rust scaffold (`proxywasm init --lang rust --no-deps`) built by `proxywasm build`."""
    from proxywasm_build import scaffold
    from proxywasm_build.languages import build_project
    from proxywasm_build.languages.rust import rustc_with_wasm_target

    if rustc_with_wasm_target() is None:
        pytest.skip("no rustc with the wasm32-unknown-unknown target (apt-get install rustc libstd-rust-dev-wasm32)")
    project = scaffold.scaffold_project(root / "rs-deny", "rust", no_deps=True)
    return build_project(project)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    with sync_playwright() as playwright:
        # Debian's chromium, not a playwright download; no sandbox as root in a container.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


# -- in the browser ---------------------------------------------------------------------------


def test_hub_pages_in_chromium(images: dict, browser, tmp_path: Path) -> None:
    from proxywasm_build.ship import signing

    registry = images["registry"]
    keys = images["keys"]
    with running_hub(registry, keys["alice"], keys["bob"]) as url:
        page = browser.new_page(viewport=VIEWPORT)

        # The repository list, and the filter box narrowing it as one types.
        page.goto(url + "/")
        rows = page.locator("#repositories tr[data-name]")
        assert rows.all_inner_texts() == ["native/reply", "python/allow-deny", "rust/deny"]
        assert "alice, bob" in page.inner_text("header")
        page.fill("#filter", "PYTH")
        assert page.locator("#repositories tr[data-name]:visible").all_inner_texts() == ["python/allow-deny"]
        page.press("#filter", "Enter")  # without script the form asks the server: same answer
        page.wait_for_url(re.compile(r"\?q=PYTH$"))
        assert page.locator("#repositories tr[data-name]").all_inner_texts() == ["python/allow-deny"]

        # A repository's tags (also opened by name, as on a registry without a catalog), then an image page.
        page.goto(url + "/open?name=python/allow-deny")
        assert page.url == url + "/repositories/python/allow-deny"
        page.go_back()
        page.get_by_role("link", name="python/allow-deny", exact=True).click()
        page.wait_for_url(url + "/repositories/python/allow-deny")
        assert page.locator("#tags tr[data-name] td:first-child").all_inner_texts() == ["cpython", "micropython"]
        page.get_by_role("link", name="micropython", exact=True).click()
        page.wait_for_url(url + "/images/python/allow-deny:micropython")
        facts = {dd.get_attribute("data-fact"): dd.inner_text() for dd in page.locator("#facts dd").all()}
        micropython = images["micropython"]
        assert facts["layout"] == "compat"
        assert facts["abi"] == "0.2.1"
        assert facts["runtime"].startswith("MicroPython ")
        wasm_size = Path(built_module(EXAMPLE_FILTER, "micropython")).stat().st_size
        assert facts["size"].endswith(f"({wasm_size} bytes)")
        assert facts["digest"] == micropython.digest
        assert facts["module-sha256"] == micropython.module_digest.split(":", 1)[1]
        assert page.inner_text("#validity") == "valid for Envoy 1.40"
        assert page.inner_text("#signature") == "signed by alice"
        wasmplugin = page.inner_text("#wasmplugin")
        assert f"sha256: {micropython.digest.split(':', 1)[1]}" in wasmplugin
        assert "kind: WasmPlugin" in wasmplugin
        assert "envoy.filters.http.wasm" in page.inner_text("#envoy-snippet")
        assert micropython.digest in page.inner_text("#envoy-pull")
        screenshot = tmp_path / "hub.png"
        page.screenshot(path=str(screenshot), full_page=True)
        check_layout(page, screenshot)
        if os.environ.get(SCREENSHOT_DIR_ENV):
            shutil.copyfile(screenshot, Path(os.environ[SCREENSHOT_DIR_ENV]) / "hub.png")

        # The CPython build in the wasme layout: Envoy fetches its layer from the registry.
        page.goto(url + "/images/python/allow-deny:cpython")
        assert page.inner_text("[data-fact=runtime]").startswith("CPython 3.")
        assert page.inner_text("[data-fact=layout]") == "wasme"
        assert page.inner_text("#signature") == "unsigned"
        snippet = page.inner_text("#envoy-snippet")
        assert f"/v2/python/allow-deny/blobs/{images['cpython'].module_digest}" in snippet
        assert f"sha256: {images['cpython'].module_digest.split(':', 1)[1]}" in snippet

        # A Rust module whose signature is by a key the hub was not given.
        page.goto(url + "/images/rust/deny:v1")
        assert page.inner_text("[data-fact=runtime]") == "Rust"
        assert page.inner_text("[data-fact=digest]") == images["rust"].digest
        assert page.inner_text("#validity") == "valid for Envoy 1.40"
        assert page.inner_text("#signature") == "signed, by none of the hub's keys"
        bob = signing.load_private_key(images["private_keys"]["bob"], b"")
        signing.sign_image(f"{registry.host}/rust/deny:v1", bob, plain_http=True)
        page.reload()  # signatures are asked for on every view, never cached
        assert page.inner_text("#signature") == "signed by bob"

        # A hand-written module says nothing of its language: the hub does not guess.
        page.goto(url + "/images/native/reply:v1")
        assert page.inner_text("[data-fact=runtime]") == "not recorded in the module"
        assert page.inner_text("[data-fact=digest]") == images["native"].digest
        assert page.inner_text("#signature") == "unsigned"
        assert "exports neither _initialize nor _start" in page.inner_text("#findings")

        # A tag that does not exist: one sentence on the page.
        response = page.goto(url + "/images/native/reply:v9")
        assert response.status == 502
        assert page.inner_text("#error") == f"{registry.host}/native/reply has no tag 'v9'."


def check_layout(page, screenshot: Path) -> None:
    """Layout sanity, not pixels: a page of sensible size whose main parts all show, inside the
    page's width, one below the other without overlapping."""
    width, height = png_size(screenshot)
    assert width == VIEWPORT["width"]
    assert 600 <= height <= 4000
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]  # nothing sticks out
    parts = ["header", "h1", ".badges", "#facts", "#envoy", "#istio"]
    boxes = [page.locator(selector).bounding_box() for selector in parts]
    for selector, box in zip(parts, boxes):
        assert box is not None and box["width"] > 100 and box["height"] > 10, selector
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, selector
    for i, upper in enumerate(boxes):
        for lower in boxes[i + 1:]:
            assert not overlaps(upper, lower)
            assert upper["y"] < lower["y"]


# -- cost on a registry with hundreds of tags -------------------------------------------------


def test_hundreds_of_tags_list_without_reading_manifests_or_blobs(tmp_path: Path, module_path: Path) -> None:
    with LocalRegistry(tmp_path / "registry") as registry:
        pushed = oci.push(module_path, f"{registry.host}/many/reply:v0", plain_http=True)
        client = oci.registry_client(registry.host, plain_http=True)
        manifest_bytes, manifest, _ = oci._get_manifest(client, pushed.reference)
        for number in range(1, 300):  # the same manifest under 300 tags in all
            put_manifest(client, registry, "many/reply", f"v{number}", manifest_bytes)
        blobs = [manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]
        for number in range(120):  # and 121 repositories: more than one catalog page
            for digest in blobs:  # mounted from the first repository, not uploaded again
                url = f"http://{registry.host}/v2/more/r{number}/blobs/uploads/?mount={digest}&from=many/reply"
                assert client.do_request(url, "POST").status_code == 201
            put_manifest(client, registry, f"more/r{number}", "v1", manifest_bytes)

        with running_hub(registry) as url:
            before = len(registry_requests(registry))
            html = get(url + "/")
            assert html.count('<tr data-name="') == 121
            catalog = Counter(kind_of(path) for _, path in requests_since(registry, before))
            assert catalog == {"_catalog": 2}  # a page of 100, then the one its Link header names

            before = len(registry_requests(registry))
            html = get(url + "/repositories/many/reply")
            assert html.count('<tr data-name="v') == 300
            listing = Counter(kind_of(path) for _, path in requests_since(registry, before))
            # distribution 2.8 answers tags/list in one page (it pages only the catalog)
            assert set(listing) == {"tags/list"} and listing["tags/list"] <= 3

            before = len(registry_requests(registry))
            for tag in ("v1", "v2", "v1"):
                assert pushed.digest in get(url + f"/images/many/reply:{tag}")
            reads = requests_since(registry, before)
            blob_reads = [path for method, path in reads if method == "GET" and kind_of(path) == "blobs"]
            assert len(blob_reads) == 2  # config and layer, once: the digest's facts are kept
            tag_reads = [path for _, path in reads if "/manifests/v" in path]
            assert len(tag_reads) == 3  # but each page asks what the tag names now

            moved = oci.push(module_variant(module_path, "moved", tmp_path), f"{registry.host}/many/reply:v1",
                             plain_http=True)
            assert moved.digest in get(url + "/images/many/reply:v1")  # a moved tag shows its new image
            assert pushed.digest in get(url + "/images/many/reply:v2")


def put_manifest(client, registry: LocalRegistry, repository: str, tag: str, manifest: bytes) -> None:
    response = client.do_request(f"http://{registry.host}/v2/{repository}/manifests/{tag}", "PUT",
                                 data=manifest, headers={"Content-Type": oci.OCI_MANIFEST})
    assert response.status_code == 201


# -- registry auth ----------------------------------------------------------------------------


def test_hub_uses_the_stored_login(tmp_path: Path, module_path: Path) -> None:
    with LocalRegistry(tmp_path / "registry", users={"alice": "s3cret"}) as registry:
        refused = subprocess.run([sys.executable, "-m", "proxywasm_build", "hub", "--registry", registry.host,
                                  "--plain-http", "--port", str(free_port())],
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1
        assert refused.stderr == (f"proxywasm: registry {registry.host} requires a login; run "
                                  f"`proxywasm login {registry.host}` first.\n")
        oci.login(registry.host, "alice", "s3cret", plain_http=True)
        pushed = oci.push(module_path, f"{registry.host}/private/reply:v1", plain_http=True)
        with running_hub(registry) as url:
            assert '<tr data-name="private/reply">' in get(url + "/")
            assert pushed.digest in get(url + "/images/private/reply:v1")


def run_hub_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxywasm_build", "hub", *args],
                          capture_output=True, text=True, timeout=60)


def test_hub_refuses_in_one_sentence(registry: LocalRegistry, tmp_path: Path) -> None:
    missing_key = run_hub_command("--registry", registry.host, "--plain-http", "--key", str(tmp_path / "nobody.pub"))
    assert missing_key.returncode == 1
    assert missing_key.stderr == f"proxywasm: {tmp_path / 'nobody.pub'} does not exist.\n"
    reference = run_hub_command("--registry", f"{registry.host}/filters", "--plain-http")
    assert reference.returncode == 1
    assert reference.stderr == (f"proxywasm: --registry '{registry.host}/filters' must be a registry host like "
                                "127.0.0.1:5000, not a reference.\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run_hub_command("--registry", registry.host, "--plain-http", "--port", str(port))
    assert busy.returncode == 1
    assert busy.stderr == f"proxywasm: cannot listen on 127.0.0.1:{port}: Address already in use.\n"


# -- what a module says it was written in -----------------------------------------------------


def producers_section(fields: dict[str, list[tuple[str, str]]]) -> bytes:
    """A `producers` custom section as toolchains write it (tool-conventions)."""
    def string(text: str) -> bytes:
        return bytes([len(text)]) + text.encode()

    body = bytes([len(fields)])
    for name, values in fields.items():
        body += string(name) + bytes([len(values)]) + b"".join(string(n) + string(v) for n, v in values)
    return custom_section("producers", body)


@pytest.mark.parametrize("fields, runtime", [
    ({"language": [("Rust", "")], "processed-by": [("rustc", "1.85.0")]}, "Rust"),
    ({"language": [("Go", "go1.27.3")], "processed-by": [("Go cmd/compile", "go1.27.3")]}, "Go"),
    ({"processed-by": [("TinyGo", "0.35.0")]}, "Go (TinyGo)"),
    ({"language": [("C11", "")], "processed-by": [("clang", "19.1")]}, "C"),
    ({"language": [("C++", "")]}, "C++"),
    ({"processed-by": [("AssemblyScript", "0.27")]}, "AssemblyScript"),
    ({}, None),
])
def test_module_runtime_from_the_producers_section(module_path: Path, fields: dict, runtime: str | None) -> None:
    data = module_path.read_bytes() + (producers_section(fields) if fields else b"")
    info = read_module(data)
    assert module_runtime(info) == runtime
    assert producers(info) == {name: [n for n, _ in values] for name, values in fields.items()}


def test_module_runtime_of_our_builds() -> None:
    for runtime, label in (("micropython", "MicroPython 1."), ("cpython", "CPython 3.")):
        info = read_module(Path(built_module(EXAMPLE_FILTER, runtime)).read_bytes())
        assert (module_runtime(info) or "").startswith(label)
