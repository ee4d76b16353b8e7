"""The emulator refuses what the build refuses, with the same sentence.

Each bad filter goes through `proxywasm.testing.Host.load` and through `proxywasm build`: the
emulator raises `FilterRefused` carrying exactly the sentence the build prints.
"""

from __future__ import annotations

import importlib.machinery
import subprocess
import sys
from pathlib import Path

import pytest

from proxywasm.testing import FilterLoadError, FilterRefused, Host

REGISTER = "proxywasm.set_root_context(proxywasm.RootContext)\n"
C_EXTENSION = ("a compiled C extension ({}) that a Proxy-Wasm module cannot carry: CPython for "
               "wasm32-wasi has only its own C modules, so use pure Python.")
AT_IMPORT = ("calls the host at import time ({}); a module's import runs where no host answers "
             "(the build's snapshot, Envoy's _initialize): move it into a callback such as on_vm_start "
             "or on_configure.")
SO = importlib.machinery.EXTENSION_SUFFIXES[0]

# name -> (filter source, files beside it, the sentence)
BAD_FILTERS = {
    "socket": ("import proxywasm\nimport socket\n" + REGISTER, {},
               "f.py:2 imports socket, which a Proxy-Wasm filter cannot use: the sandbox has no "
               "sockets; use dispatch_http_call."),
    "threading": ("import proxywasm\n\ndef later():\n    import threading\n" + REGISTER, {},
                  "f.py:4 imports threading, which a Proxy-Wasm filter cannot use: the sandbox has "
                  "one thread; use set_tick_period and on_tick."),
    "http.client": ("import proxywasm\nfrom http import client\n" + REGISTER, {},
                    "f.py:2 imports http.client, which a Proxy-Wasm filter cannot use: the sandbox "
                    "has no sockets; use dispatch_http_call."),
    "third-party C extension": ("import proxywasm\nfrom markupsafe import _speedups\n" + REGISTER, {},
                                "f.py:2 imports markupsafe._speedups, " + C_EXTENSION.format(f"_speedups{SO}")),
    "C extension beside the filter": ("import proxywasm\nimport _native\n" + REGISTER,
                                      {f"_native{SO}": b"\x7fELF not really"},
                                      "f.py:2 imports _native, " + C_EXTENSION.format(f"_native{SO}")),
    "stdlib C module wasm lacks": ("import proxywasm\nimport zlib\n" + REGISTER, {},
                                   "f.py:2 imports zlib, " + C_EXTENSION.format(f"zlib{SO}")),
    "log at import": ("import proxywasm\n\nproxywasm.log(proxywasm.LogLevel.INFO, 'hi')\n" + REGISTER, {},
                      "f.py:3 " + AT_IMPORT.format("proxywasm.log")),
    "metric at import": ("import proxywasm\nhits = proxywasm.Counter('hits')\n" + REGISTER, {},
                         "f.py:2 " + AT_IMPORT.format("proxywasm.Counter")),
    "hostcall in a helper at import": (
        "import proxywasm\nimport helper\n" + REGISTER,
        {"helper.py": b"import proxywasm\n\nLEVEL = proxywasm.get_log_level()\n"},
        "helper.py:3 " + AT_IMPORT.format("proxywasm.hostcalls.get_log_level")),
    "set_root_context(42)": ("import proxywasm\n\nproxywasm.set_root_context(42)\n", {},
                             "f.py:3: proxywasm.set_root_context(42) needs a RootContext subclass "
                             "or a callable that returns one."),
}


def write_filter(directory: Path, name: str) -> Path:
    source, beside, _ = BAD_FILTERS[name]
    for file_name, data in beside.items():
        (directory / file_name).write_bytes(data)
    path = directory / "f.py"
    path.write_text(source)
    return path


@pytest.mark.parametrize("name", list(BAD_FILTERS))
def test_the_emulator_and_the_build_refuse_with_the_same_sentence(tmp_path, monkeypatch, name):
    if name == "third-party C extension":
        pytest.importorskip("markupsafe._speedups")
    sentence = BAD_FILTERS[name][2]
    path = write_filter(tmp_path, name)
    monkeypatch.chdir(tmp_path)  # both show the filter as the user named it: f.py

    with pytest.raises(FilterRefused) as refused:
        Host.load("f.py")
    assert str(refused.value) == sentence
    assert isinstance(refused.value, FilterLoadError)

    proxywasm = Path(sys.executable).with_name("proxywasm")
    proc = subprocess.run([str(proxywasm), "build", "f.py", "-o", "f.wasm"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"proxywasm: {sentence}"]
    assert not (tmp_path / "f.wasm").exists()
    assert path.exists()


def test_a_stdlib_c_module_the_wasm_build_has_is_fine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f.py").write_text("import proxywasm\nimport _json\nimport math\n" + REGISTER)
    Host.load("f.py")


def test_logging_at_import_is_dropped_not_refused(tmp_path, monkeypatch):
    # Python logging never breaks the filter: inside a module the record is dropped too.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f.py").write_text("import logging\nimport proxywasm\nlogging.warning('early')\n" + REGISTER)
    host = Host.load("f.py")
    assert "early" not in " ".join(r.message for r in host.logs)


@pytest.mark.build
def test_the_sdks_list_of_wasm_c_modules_is_the_toolchains(tmp_path):
    from proxywasm.testing.sandbox import WASM_C_MODULES

    from proxywasm_build.backends.cpython.freezer import read_inittab
    from proxywasm_build.backends.cpython.toolchain import ensure_toolchain

    stdlib = ensure_toolchain().stdlib_dir
    assert set(read_inittab(stdlib / "config-3.11-wasm32-wasi" / "config.c")) == WASM_C_MODULES


def test_the_build_check_leaves_the_build_process_as_it_was(tmp_path):
    from proxywasm_build.backends.common.filter_check import check_filter
    from proxywasm_build.backends.common.filter_source import resolve_filter_source

    (tmp_path / "helper_for_check.py").write_text("X = 1\n")
    f = tmp_path / "f.py"
    f.write_text("import proxywasm\nimport helper_for_check\n" + REGISTER)
    path_before = list(sys.path)
    assert "helper_for_check" in check_filter(resolve_filter_source(f))
    assert sys.path == path_before and "helper_for_check" not in sys.modules
