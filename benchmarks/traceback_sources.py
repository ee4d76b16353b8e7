"""What the filter's source lines in tracebacks cost: module sizes of the examples, before/after.

    .venv/bin/python benchmarks/traceback_sources.py                  # working tree vs main, print only
    .venv/bin/python benchmarks/traceback_sources.py --before d408537 --write

Each example (examples/*) is built with both runtimes by commit `--before` and by the working
tree (proxywasm_build.hosts.built_module: the same cache the tests use), and the module sizes
are compared with the size of the source table itself (`_proxywasm_sources`' text). With
`--write` the table goes to the `traceback-sources` section of docs/reliability.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import docs_section
from callback_budget import extract_commit

from proxywasm_build.backends.common import source_lines
from proxywasm_build.backends.common.filter_source import resolve_filter_source
from proxywasm_build.hosts import built_module

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "reliability.md"
START, END = "<!-- traceback-sources:start -->", "<!-- traceback-sources:end -->"
RUNTIMES = ("micropython", "cpython")


def examples() -> list[Path]:
    return sorted(p for p in (ROOT / "examples").iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def sizes_at(commit: str, paths: list[Path]) -> dict[tuple[str, str], int]:
    """(example name, runtime) -> module bytes, as `commit`'s sdk/, compiler/ and toolchains/ build it."""
    with tempfile.TemporaryDirectory(prefix="bench-at-") as scratch:
        extract_commit(commit, scratch)
        program = (
            "import sys; from pathlib import Path\n"
            f"sys.path[:0] = [{scratch + '/sdk'!r}, {scratch + '/compiler'!r}]\n"
            "from proxywasm_build.hosts import built_module\n"
            f"for path in {[str(p) for p in paths]!r}:\n"
            f"    for runtime in {RUNTIMES!r}:\n"
            "        print(Path(path).name, runtime, built_module(Path(path), runtime).stat().st_size)\n"
        )
        out = subprocess.run([sys.executable, "-c", program], check=True, cwd=scratch,
                             capture_output=True, text=True).stdout
    return {(name, runtime): int(size) for name, runtime, size in (line.split() for line in out.splitlines())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", metavar="REV", help="the commit to compare with (default main)")
    parser.add_argument("--write", action="store_true", help="also write the docs/reliability.md section")
    args = parser.parse_args(argv)
    paths = examples()
    before = sizes_at(args.before, paths)
    rows = []
    for path in paths:
        table = len(source_lines.sources_module_text(resolve_filter_source(path)).encode())
        for runtime in RUNTIMES:
            now = built_module(path, runtime).stat().st_size
            old = before[(path.name, runtime)]
            rows.append(f"| {path.name} | {runtime} | {table:,} | {old:,} | {now:,} | {now - old:+,} "
                        f"({(now - old) / old:+.1%}) |")
            print(rows[-1], file=sys.stderr)
    command = ".venv/bin/python benchmarks/traceback_sources.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = "\n".join([START, "| example | runtime | source table (text bytes) | module at "
                      f"{args.before} | module now | difference |", "|---|---|---:|---:|---:|---:|", *rows, "",
                      f"`{docs_section.regenerating(command.replace(' --write', '').strip())}`", END])
    print(text)
    if args.write:
        docs_section.write(START, END, text, path=DOCS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
