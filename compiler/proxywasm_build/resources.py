"""Files the tool reads at run time, found as package data of the installed distribution.

`templates/`, `toolchains/` and the demo's example live at the top of the repository and are
installed as the packages `proxywasm_build.templates`, `proxywasm_build.toolchains` and
`proxywasm_build.demo.allow_deny` (setup.py maps them); an editable install maps them the same
way, so nothing here knows where a checkout is.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _package_dir(package: str) -> Path:
    # Every one of these packages is a plain directory on disk (a wheel is installed unzipped),
    # and callers hand the paths to jinja2, compilers and npm, which want real paths.
    return Path(str(files(package)))


def templates_dir() -> Path:
    """jinja2 templates: project scaffolds per language, the Envoy bootstrap."""
    return _package_dir("proxywasm_build.templates")


def toolchains_dir() -> Path:
    """Sources that go into modules: the CPython C bridge and runtime, the AssemblyScript and Rust bindings."""
    return _package_dir("proxywasm_build.toolchains")


def demo_filter() -> Path:
    """The example filter `proxywasm demo` builds and runs."""
    return _package_dir("proxywasm_build.demo.allow_deny") / "filter.py"
