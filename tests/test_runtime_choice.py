"""`proxywasm build --runtime auto|micropython|cpython`: which runtime, and the line saying why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from proxywasm_build.backends.runtime_choice import choose_runtime
from proxywasm_build.errors import UserError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PROXYWASM = str(Path(sys.executable).with_name("proxywasm"))

HEAD = "import proxywasm\nfrom proxywasm import HttpContext, RootContext\n"
TAIL = "\nclass Root(RootContext):\n    pass\n\nproxywasm.set_root_context(Root)\n"


def write_filter(tmp_path: Path, body: str, name: str = "filter.py") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + body + TAIL)
    return path


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir() if (p / "filter.py").is_file()))
def test_auto_picks_micropython_for_every_example(example: str) -> None:
    choice = choose_runtime(EXAMPLES / example / "filter.py")
    assert choice.runtime == "micropython", choice.line()


def test_a_filter_using_only_provided_modules_gets_micropython_and_says_which(tmp_path: Path) -> None:
    path = write_filter(tmp_path, "import json\nimport base64\nfrom hashlib import sha256\n")
    assert choose_runtime(path).line() == "micropython: every import is provided (base64, hashlib, json)"


def test_a_local_module_counts_as_provided(tmp_path: Path) -> None:
    (tmp_path / "rules.py").write_text("import json\nLIMIT = 3\n")
    path = write_filter(tmp_path, "import rules\n")
    assert choose_runtime(path).runtime == "micropython"


def test_an_import_micropython_lacks_picks_cpython_with_file_line_and_module(tmp_path: Path) -> None:
    path = write_filter(tmp_path, "import json\nimport re\n")
    assert choose_runtime(path).line() == "cpython: filter.py:4 imports `re`, which the micropython runtime lacks"


def test_a_local_module_importing_what_micropython_lacks_is_named(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("import json\nimport decimal\n")
    path = write_filter(tmp_path, "import helpers\n")
    assert choose_runtime(tmp_path).line() == \
        "cpython: helpers.py:2 imports `decimal`, which the micropython runtime lacks"


def test_a_metaclass_picks_cpython(tmp_path: Path) -> None:
    path = write_filter(tmp_path, "class Meta(type):\n    pass\n\nclass Thing(metaclass=Meta):\n    pass\n")
    assert choose_runtime(path).line() == "cpython: filter.py:6 uses a metaclass, which MicroPython does not support"


def test_syntax_micropythons_compiler_rejects_picks_cpython(tmp_path: Path) -> None:
    path = write_filter(tmp_path, "def kind(x):\n    match x:\n        case 1:\n            return 'one'\n"
                                  "        case _:\n            return 'other'\n")
    line = choose_runtime(path).line()
    assert line.startswith("cpython: filter.py:4 "), line


def test_runtime_micropython_refuses_a_filter_it_cannot_run(tmp_path: Path) -> None:
    path = write_filter(tmp_path, "import re\n")
    with pytest.raises(UserError, match=r"filter\.py:3 imports `re`, which the micropython runtime lacks"):
        choose_runtime(path, "micropython")


def test_runtime_cpython_is_taken_as_asked(tmp_path: Path) -> None:
    path = write_filter(tmp_path, "import json\n")
    assert choose_runtime(path, "cpython").runtime == "cpython"


def test_the_cli_refuses_micropython_for_such_a_filter_and_writes_nothing(tmp_path: Path) -> None:
    path = write_filter(tmp_path, "import re\n")
    proc = subprocess.run([PROXYWASM, "build", str(path), "--runtime", "micropython"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "proxywasm: filter.py:3 imports `re`, which the micropython runtime lacks, so the filter cannot be "
        "built for the micropython runtime (build it with --runtime cpython)."]
    assert not (tmp_path / "filter.wasm").exists()


def test_a_name_the_runtimes_module_lacks_picks_cpython(tmp_path: Path) -> None:
    path = write_filter(tmp_path, "import json\nfrom typing import Optional, NamedTuple\n")
    assert choose_runtime(path).line() == \
        "cpython: filter.py:4 uses `typing.NamedTuple`, which the micropython runtime's `typing` lacks"


def test_an_attribute_of_an_imported_module_is_checked_too(tmp_path: Path) -> None:
    path = write_filter(tmp_path, "import hashlib as h\n\ndef digest(data):\n    return h.sha512(data)\n")
    with pytest.raises(UserError, match=r"filter\.py:6 uses `hashlib\.sha512`, which the micropython "
                                        r"runtime's `hashlib` lacks"):
        choose_runtime(path, "micropython")


def test_names_the_runtime_has_pass(tmp_path: Path) -> None:
    path = write_filter(tmp_path, "import hashlib, json\nfrom base64 import b64encode\n"
                                  "from urllib.parse import quote\nimport urllib.parse\n"
                                  "x = (hashlib.sha256(b'').hexdigest(), json.dumps, urllib.parse.unquote)\n")
    assert choose_runtime(path).runtime == "micropython"
