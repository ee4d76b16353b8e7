"""The patched MicroPython core, run in the dev interpreter (wasmtime): CPython's dict order,
f-string conversions, _proxywasm_runtime, tracebacks, exit codes."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest

from proxywasm_build.backends.micropython.interpreter import run_micropython

pytestmark = pytest.mark.build


def run(source: str, **kwargs) -> str:
    result = run_micropython(textwrap.dedent(source), **kwargs)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_dicts_keep_insertion_order_like_cpython():
    out = run("""
        d = {}
        for key in "zyxabc":
            d[key] = len(d)
        del d["x"]
        d["x"] = 9
        print(list(d))
        print(d.popitem(), list(d))
        print(list({3: 1, 1: 2, 2: 3}), list(dict(b=1, a=2)), list({k: 0 for k in "qpo"}))
        copy = d.copy()
        copy["new"] = 1
        print(list(copy), d == {"c": 5, "b": 4, "a": 3, "y": 1, "z": 0}, d != copy)
        def kw(**kwargs):
            return list(kwargs)
        print(kw(zeta=1, alpha=2, mid=3))
        big = {}
        for i in range(300, 0, -1):
            big[i] = i
        print(list(big)[:3], len(big), big[150])
    """)
    assert out.splitlines() == [
        "['z', 'y', 'a', 'b', 'c', 'x']",
        "('x', 9) ['z', 'y', 'a', 'b', 'c']",
        "[3, 1, 2] ['b', 'a'] ['q', 'p', 'o']",
        "['z', 'y', 'a', 'b', 'c', 'new'] True True",
        "['zeta', 'alpha', 'mid']",
        "[300, 299, 298] 300 150",
    ]


def test_fstrings_take_conversions_and_nested_calls():
    out = run("""
        x = "a'b"
        n = 5
        d = {"k": [1, 2]}
        print(f"{x!r}|{x!s}|{n!r:>4}|{n != 3}|{max(n, 7)}|{d['k']!r}|{len(str(n)):03d}|{n=}")
    """)
    assert out == "\"a'b\"|a'b|   5|True|7|[1, 2]|001|n=5\n"


def test_adjacent_fstrings_and_literals_join_like_cpython():
    source = """
        x, y, d = 1, 2, {"k": "v"}
        print(f"a{x}" f"b{y}")
        print(f"a{x}" "b{}")
        print("a{}" f"b{y}")
        print(f"a{x}"
              f"b{y!r}")
        print(f"{x}" "{{}}" f"{{{y}}}")
        print(f"{d['k']}" "-" f"{x}", "plain" "{}" "x")
    """
    out = run(source)
    import contextlib
    import io
    expected = io.StringIO()
    with contextlib.redirect_stdout(expected):
        exec(textwrap.dedent(source), {})
    assert out == expected.getvalue()


def test_runtime_module_and_builtins():
    out = run("""
        import _proxywasm_runtime as rt, struct, collections, io, math
        print(rt.sha256(b"abc") == bytes(reversed(bytes(reversed(rt.sha256(b"abc"))))), len(rt.urandom(16)))
        print(rt.sha256(b"x" * 1000))
        print(rt.time_ns() > 1_700_000_000 * 10**9, rt.monotonic_ns() >= 0, rt.heap_info()[0] > 0)
        print(struct.pack("<I", 1), collections.OrderedDict(a=1), io.StringIO("q").read(), math.sqrt(4))
        print((2**70).to_bytes(9, "big"), int.from_bytes(b"\\x01\\x00", "little"))
    """)
    lines = out.splitlines()
    assert lines[0] == "True 16"
    assert lines[1] == repr(hashlib.sha256(b"x" * 1000).digest())
    assert lines[2] == "True True True"
    assert lines[3] == "b'\\x01\\x00\\x00\\x00' OrderedDict({'a': 1}) q 2.0"
    assert lines[4] == repr((2**70).to_bytes(9, "big")) + " 1"


def test_imports_from_paths_and_tracebacks_name_files(tmp_path: Path):
    (tmp_path / "helper.py").write_text("def fail():\n    return 1 // 0\n")
    result = run_micropython("import helper\nhelper.fail()\n", paths=[tmp_path])
    assert result.returncode == 1
    assert 'File "script.py", line 2, in <module>' in result.stderr
    assert f'File "{tmp_path.resolve()}/helper.py", line 2, in fail' in result.stderr
    assert result.stderr.rstrip().endswith("ZeroDivisionError: divide by zero")
    assert run_micropython("import sys\nsys.exit(3)").returncode == 3
