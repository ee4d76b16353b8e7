"""`proxywasm init DIR --lang python|assemblyscript|rust`."""

from __future__ import annotations

from pathlib import Path

import click

from proxywasm_build.scaffold import LANGUAGES, scaffold_project


@click.command("init")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--lang", "language", type=click.Choice(LANGUAGES), default="python", show_default=True,
              help="Language of the filter.")
@click.option("--name", help="Project name (default: the directory's name).")
@click.option("--no-deps", is_flag=True,
              help="Rust only: bundle a dependency-free binding instead of the proxy-wasm crate.")
def init_command(directory: Path, language: str, name: str | None, no_deps: bool) -> None:
    """Scaffold a filter project in DIRECTORY (new or empty): filter, tests, config, README."""
    project = scaffold_project(directory, language, name=name, no_deps=no_deps)
    click.echo(f"Created the {language} filter project {project}; its README.md says what to do next.")


command = init_command
