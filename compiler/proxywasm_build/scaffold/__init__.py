"""`proxywasm init`: render a filter project (python, assemblyscript or rust) from templates/.

Each language's directory under templates/ is the project: `*.j2` files are rendered with
jinja2, other files are copied, `gitignore` becomes `.gitignore`. AssemblyScript projects and
Rust `--no-deps` projects also get the binding (toolchains/, with its generated abi file).
The project is written into a temporary sibling directory and renamed into place, so a failed
init leaves nothing behind; the directory's parent must already exist.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import jinja2

from proxywasm_build.languages import bindings as lang_builds
from proxywasm_build.errors import UserError
from proxywasm_build.outputs import check_output_directory, writing
from proxywasm_build.resources import templates_dir

TEMPLATES_DIR = templates_dir()
LANGUAGES = ("python", "assemblyscript", "rust")


def template_environment() -> jinja2.Environment:
    """The jinja2 environment every project template is rendered with (rooted at templates/)."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    environment.filters["pyrepr"] = repr  # a Python literal, for generated Python files
    return environment


def project_names(name: str) -> dict[str, str]:
    """The spellings of a project name the templates use: as given, package and metric forms."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 ._-]*", name):
        raise UserError(f"the project name {name!r} may only hold letters, digits, spaces, '.', '_' "
                        "and '-' (and start with a letter or digit); pass --name.")
    package = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "filter"
    if not package[0].isalpha():
        package = "filter-" + package
    return {"name": name, "package_name": package, "metric_prefix": package.replace("-", "_") + "_"}


def render_language_files(language: str, target: Path, context: dict[str, Any],
                          skip: tuple[str, ...] = ()) -> list[Path]:
    """Render templates/<language>/ into `target`; `skip` lists template paths to leave out."""
    environment = template_environment()
    source_root = TEMPLATES_DIR / language
    written: list[Path] = []
    for source in sorted(source_root.rglob("*")):
        if not source.is_file() or "__pycache__" in source.parts:
            continue
        relative = source.relative_to(source_root).as_posix()
        if relative in skip or relative.startswith("skeleton/"):
            continue
        out_relative = relative[:-3] if relative.endswith(".j2") else relative
        parts = out_relative.split("/")
        if parts[-1] == "gitignore":
            parts[-1] = ".gitignore"
        destination = target.joinpath(*parts)
        destination.parent.mkdir(parents=True, exist_ok=True)
        if relative.endswith(".j2"):
            text = environment.get_template(f"{language}/{relative}").render(**context)
            destination.write_text(text)
        else:
            shutil.copyfile(source, destination)
        written.append(destination)
    return written


def write_project(directory: Path, fill: "callable[[Path], None]") -> Path:
    """Create `directory` (new or empty; its parent must exist) by filling a temporary sibling
    with `fill(tmp)` and renaming it."""
    check_output_directory(directory)
    directory = Path(directory).absolute()
    with writing(directory, "create"):
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
        try:
            fill(staging)
            if directory.is_dir():
                directory.rmdir()  # empty, checked above
            os.replace(staging, directory)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        directory.chmod(0o755)
    return directory


def scaffold_project(directory: Path, language: str = "python", *, name: str | None = None,
                     no_deps: bool = False, root_id: str = "") -> Path:
    """Write a new filter project for `language` into `directory` (new or empty); return it.

    Every language's project holds the same scenario: a configurable header that gets a local
    403, an `x-filter` response header on everything else, a counter of denials, and tests.
    `no_deps` (Rust only) bundles a dependency-free binding instead of the `proxy-wasm` crate.
    """
    if language not in LANGUAGES:
        raise UserError(f"unknown language {language!r}; choose one of {', '.join(LANGUAGES)}.")
    if no_deps and language != "rust":
        raise UserError("--no-deps applies only to --lang rust.")
    directory = Path(directory)
    context: dict[str, Any] = {
        **project_names(name or directory.absolute().name),
        "lang": language,
        "no_deps": no_deps,
        "root_id": root_id,
        "assemblyscript_version": lang_builds.ASSEMBLYSCRIPT_VERSION,
    }

    def fill(target: Path) -> None:
        render_language_files(language, target, context)
        if language == "assemblyscript":
            lang_builds.write_assemblyscript_binding(target)
        if language == "rust" and no_deps:
            lang_builds.write_rust_binding(target)

    return write_project(directory, fill)
