"""`proxywasm skeleton FILTER.py --lang rust|assemblyscript -o DIR`."""

from __future__ import annotations

from pathlib import Path

import click

from proxywasm_build.transpile import SKELETON_LANGUAGES, generate_skeleton


@click.command("skeleton")
@click.argument("filter_path", metavar="FILTER.py", type=click.Path(path_type=Path))
@click.option("--lang", "language", type=click.Choice(SKELETON_LANGUAGES), required=True,
              help="Language of the generated project.")
@click.option("-o", "--output", "output_dir", type=click.Path(path_type=Path), required=True,
              help="Directory for the project (new or empty).")
@click.option("--name", help="Project name (default: the output directory's name).")
@click.option("--no-deps", is_flag=True,
              help="Rust only: bundle a dependency-free binding instead of the proxy-wasm crate.")
def skeleton_command(filter_path: Path, language: str, output_dir: Path, name: str | None, no_deps: bool) -> None:
    """Translate a Python filter into a Rust or AssemblyScript project that builds."""
    project = generate_skeleton(filter_path, language, output_dir, name=name, no_deps=no_deps)
    click.echo(f"Created the {language} project {project} from {filter_path}; "
               f"its README.md lists what was translated and what is left as TODO.")


command = skeleton_command
