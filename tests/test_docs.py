"""The docs name only code that exists: every `proxywasm_build.x.y` and every path into
compiler/proxywasm_build/ in docs/*.md and README.md resolves, so a moved module cannot leave a
page pointing at nothing."""

from __future__ import annotations

import importlib
import itertools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "compiler" / "proxywasm_build"
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]

DOTTED_NAME = re.compile(r"\bproxywasm_build(?:\.[A-Za-z_]\w*)+")
# A path into the package, with or without the compiler/ prefix, or written relative to it
# (`backends/cpython/freezer.py`, `cli/oci.py`); `{a,b}` alternatives are expanded.
PACKAGE_PATH = re.compile(r"(?<![\w/.-])(?:compiler/)?(?:proxywasm_build/)?[\w{},]+(?:/[\w{},]+)*\.py\b")
SUBPACKAGES = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
OLD_SUBPACKAGES = {"build"}  # the package's old folder name: a path under it is stale, not local


def _doc_texts() -> list[tuple[str, str]]:
    return [(str(doc.relative_to(ROOT)), doc.read_text()) for doc in DOCS]


def resolves(dotted: str) -> bool:
    """True when `dotted` is a module, or an attribute reached from the longest importable prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def expand_braces(path: str) -> list[str]:
    """`a/{b,c}.py` -> [`a/b.py`, `a/c.py`]."""
    pieces = re.split(r"\{([^{}]*)\}", path)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(pieces)]
    return ["".join(combination) for combination in itertools.product(*choices)]


def package_file(path: str) -> Path | None:
    """Where `path` must exist inside the package, or None for a path outside it."""
    if path.startswith("compiler/proxywasm_build/"):
        return ROOT / path
    if path.startswith("proxywasm_build/"):
        return PACKAGE / path.removeprefix("proxywasm_build/")
    first = path.split("/", 1)[0]
    if "/" in path and (first in SUBPACKAGES or first in OLD_SUBPACKAGES):
        return PACKAGE / path
    return None


def missing_names(text: str) -> list[str]:
    return sorted({name.rstrip(".") for name in DOTTED_NAME.findall(text) if not resolves(name.rstrip("."))})


def missing_paths(text: str) -> list[str]:
    missing = set()
    for written in PACKAGE_PATH.findall(text):
        for path in expand_braces(written):
            target = package_file(path)
            if target is not None and not target.is_file():
                missing.add(path)
    return sorted(missing)


@pytest.mark.parametrize("doc,text", _doc_texts(), ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_doc_names_only_existing_modules(doc: str, text: str) -> None:
    assert missing_names(text) == [], f"{doc} names modules or attributes that do not exist"


@pytest.mark.parametrize("doc,text", _doc_texts(), ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_doc_names_only_existing_package_files(doc: str, text: str) -> None:
    assert missing_paths(text) == [], f"{doc} names files of compiler/proxywasm_build that do not exist"


def test_the_checks_catch_stale_names() -> None:
    stale = ("The code is in `compiler/proxywasm_build/{cache,lang_builds}.py` and `build/freezer.py`; "
             "call `proxywasm_build.envoy_config.render_bootstrap` or `proxywasm_build.wasm.validate.nope`.")
    assert missing_paths(stale) == ["build/freezer.py", "compiler/proxywasm_build/lang_builds.py"]
    assert missing_names(stale) == ["proxywasm_build.envoy_config.render_bootstrap",
                                    "proxywasm_build.wasm.validate.nope"]
    current = "`compiler/proxywasm_build/ship/oci.py`, `cli/oci.py`, `proxywasm_build.envoy.config.render_bootstrap`."
    assert missing_paths(current) == [] and missing_names(current) == []
