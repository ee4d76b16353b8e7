"""Which module a path names as a filter, and the filter's own files.

A filter is a `.py` file (its directory is its import root), or a directory holding
`filter.py`, or a package directory (`__init__.py`, imported by the directory's name), or a
directory with exactly one filter module (a `.py` that is not a test, conftest or setup).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from proxywasm_build.errors import UserError

_NOT_FILTER_FILES = ("conftest.py", "setup.py", "noxfile.py")


@dataclass(frozen=True)
class FilterSource:
    """Where a filter's code lives: `root` goes on the import path, `module` is imported."""

    root: Path
    module: str
    files: tuple[Path, ...]   # the filter's own .py files (checked, frozen with real names)


def resolve_filter_source(source: Path) -> FilterSource:
    """Decide which module a path names; a UserError explains a path that names none."""
    source = Path(source)
    if not source.exists():
        raise UserError(f"{source} does not exist.")
    if source.is_file():
        if source.suffix != ".py":
            raise UserError(f"{source} is not a Python file (.py) or a filter directory.")
        return FilterSource(source.parent.resolve(), source.stem, (source.resolve(),))
    directory = source.resolve()
    if (directory / "filter.py").is_file():
        others = [p for p in _package_files(directory) if p.name != "filter.py"]
        return FilterSource(directory, "filter", (directory / "filter.py", *others))
    if (directory / "__init__.py").is_file():
        if not directory.name.isidentifier():
            raise UserError(f"the package directory name {directory.name!r} is not a Python identifier.")
        return FilterSource(directory.parent, directory.name, tuple(_package_files(directory)))
    candidates = [p for p in sorted(directory.glob("*.py"))
                  if p.name not in _NOT_FILTER_FILES and not p.name.startswith("test_")
                  and not p.name.endswith("_test.py")]
    if len(candidates) == 1:
        return FilterSource(directory, candidates[0].stem, (candidates[0],))
    if not candidates:
        raise UserError(f"{source} holds no filter: add filter.py (or a package with __init__.py).")
    names = ", ".join(p.name for p in candidates)
    raise UserError(f"{source} holds several modules ({names}); name the filter filter.py or pass the file.")


def _package_files(directory: Path) -> list[Path]:
    return [p for p in sorted(directory.rglob("*.py"))
            if "__pycache__" not in p.parts and not p.name.startswith("test_")
            and p.name != "conftest.py"]
