"""Compile MicroPython's core for one configuration ("variant") with zig, cached.

The steps follow MicroPython's py/mkrules.mk with the host Python and zig's preprocessor:
makeversionhdr.py (mpversion.h), makeqstrdefs.py over the preprocessed sources and
makeqstrdata.py (qstrdefs.generated.h), makemoduledefs.py (moduledefs.h), then one object per
C file. A variant's build directory is keyed by everything that goes into it (patched sources,
port files, generated sources, flags), so an unchanged variant is a directory lookup.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from proxywasm_build.backends.micropython.patches import PATCHES_KEY
from proxywasm_build.backends.micropython.sources import SDIST_SHA256, patched_source_dir
from proxywasm_build.cache import cache_dir, locked
from proxywasm_build.errors import UserError
from proxywasm_build.languages.c import zig_command, zig_env
from proxywasm_build.resources import toolchains_dir

#: Bump when the steps below change in a way the inputs do not show.
_BUILD_RECIPE = "4"

#: wasm32-wasi, size-optimised; setjmp/longjmp become Wasm exception handling (MicroPython's
#: NLR, and with it Python exceptions, use them), in the standard try_table encoding that Envoy
#: 1.40's V8 and wasmtime take.
WASM_CFLAGS = ("-target", "wasm32-wasi", "-Os", "-DNDEBUG", "-mllvm", "-wasm-enable-sjlj",
               "-mexception-handling", "-mllvm", "-wasm-use-legacy-eh=false",
               "-fno-common", "-Wno-everything")
NATIVE_CFLAGS = ("-O2", "-DNDEBUG", "-fno-common", "-Wno-everything")

#: py/ files a Wasm build does not use (native emitters, inline assemblers, other NLRs compile
#: to nothing anyway; leaving them out keeps the build short).
WASM_SKIPPED_CORE = ("asm", "emitn", "emitinline", "nlraarch64", "nlrpowerpc", "nlrthumb", "nlrx64",
                     "nlrx86", "nlrxtensa")


def port_dir() -> Path:
    """Our MicroPython port (config headers, C glue), shipped under toolchains/micropython/."""
    return toolchains_dir() / "micropython" / "port"


def stdio_source() -> Path:
    """MicroPython's sys.stdin/stdout/stderr over the HAL (the port's print path)."""
    return patched_source_dir() / "shared" / "runtime" / "sys_stdio_mphal.c"


@dataclass(frozen=True)
class Variant:
    """One configuration of the core: where its config lives, which C it adds, its flags."""

    name: str
    config_dir: Path                       # holds mpconfigport.h, mphalport.h, qstrdefsport.h
    port_sources: tuple[Path, ...]         # the port's C (and .s) files, compiled with the core
    cflags: tuple[str, ...]
    defines: tuple[str, ...] = ()
    skipped_core: tuple[str, ...] = WASM_SKIPPED_CORE
    generated: tuple[tuple[str, str], ...] = ()   # (file name, C text) written into the build dir
    extra_includes: tuple[Path, ...] = field(default=())

    def key(self) -> str:
        digest = hashlib.sha256()
        for part in (_BUILD_RECIPE, SDIST_SHA256, PATCHES_KEY, self.name, *self.cflags, *self.defines,
                     *self.skipped_core):
            digest.update(part.encode() + b"\0")
        for path in sorted(self.config_dir.iterdir()) + list(self.port_sources):
            if path.is_file():
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
        for name, text in self.generated:
            digest.update(name.encode() + b"\0" + text.encode())
        return digest.hexdigest()[:16]


@dataclass(frozen=True)
class CoreBuild:
    """A compiled variant: its objects and the include flags other units need (genhdr/ etc.)."""

    directory: Path
    objects: tuple[Path, ...]
    includes: tuple[str, ...]
    variant: Variant

    @property
    def qstr_header(self) -> Path:
        return self.directory / "genhdr" / "qstrdefs.preprocessed.h"

    def compile(self, source: Path, obj: Path) -> Path:
        """Compile one more C file against this core's headers and flags."""
        run([*zig_command(), "cc", *self.variant.cflags, *self.variant.defines, *self.includes,
             "-c", str(source), "-o", str(obj)], f"compiling {source.name}")
        return obj


def run(command: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(command, capture_output=True, text=True, env=zig_env(), **kwargs)
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line] or lines or ["no output"]
        raise UserError(f"{what} failed: {errors[0].strip()}")
    return proc


def core_sources(src: Path, variant: Variant) -> list[Path]:
    return [path for path in sorted((src / "py").glob("*.c"))
            if not (variant.skipped_core and path.name.startswith(variant.skipped_core))]


def build_core(variant: Variant, jobs: int = 2) -> CoreBuild:
    """Compile (or find in the cache) the core and port objects of `variant`.

    The port's files are copied into the build directory first and compiled from there, so the
    objects match the key even if a file is edited while the build runs."""
    src = patched_source_dir()
    directory = cache_dir() / "micropython-build" / f"{variant.name}-{variant.key()}"
    config_copy = directory / "config"
    includes = tuple(f"-I{path}" for path in (config_copy, *variant.extra_includes, src, directory))
    stamp = directory / "objects.txt"
    if not stamp.exists():
        with locked(f"micropython-core-{variant.name}"):
            if not stamp.exists():
                _build_into(src, directory, variant, includes, jobs)
    objects = tuple(directory / "obj" / name for name in stamp.read_text().split())
    return CoreBuild(directory, objects, includes, variant)


def _snapshot_port(directory: Path, variant: Variant) -> Variant:
    """Copy the variant's config and port files into `directory`; the variant reading them."""
    config_copy = directory / "config"
    config_copy.mkdir()
    for path in variant.config_dir.iterdir():
        if path.is_file():
            shutil.copy2(path, config_copy / path.name)
    sources_copy = directory / "port"
    sources_copy.mkdir()
    copies = []
    for path in variant.port_sources:
        copy = sources_copy / f"{path.parent.name}_{path.name}"
        shutil.copy2(path, copy)
        copies.append(copy)
    return replace(variant, config_dir=config_copy, port_sources=tuple(copies))


def _build_into(src: Path, directory: Path, variant: Variant, includes: tuple[str, ...], jobs: int) -> None:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    variant = _snapshot_port(directory, variant)
    generated = []
    for name, text in variant.generated:
        (directory / name).write_text(text)
        generated.append(directory / name)
    c_sources = [*core_sources(src, variant), *(p for p in variant.port_sources if p.suffix == ".c"),
                 *generated]
    _generate_headers(src, directory, variant, list(includes), c_sources)
    objects_dir = directory / "obj"
    objects_dir.mkdir()
    sources = [*c_sources, *(p for p in variant.port_sources if p.suffix != ".c")]

    def compile_one(source: Path) -> str:
        name = f"{source.name}.o"
        run([*zig_command(), "cc", *variant.cflags, *variant.defines, *includes, "-c", str(source),
             "-o", str(objects_dir / name)], f"compiling {source.name}")
        return name

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        names = list(pool.map(compile_one, sources))
    (directory / "objects.txt").write_text("\n".join(names) + "\n")


def _generate_headers(src: Path, directory: Path, variant: Variant, includes: list[str],
                      sources: list[Path]) -> None:
    """genhdr/: mpversion.h, qstrdefs.generated.h, moduledefs.h, as py/mkrules.mk makes them."""
    genhdr = directory / "genhdr"
    genhdr.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    env = dict(zig_env(), SOURCE_DATE_EPOCH="1655856000", GIT_CEILING_DIRECTORIES=str(src.parent))
    subprocess.run([python, str(src / "py" / "makeversionhdr.py"), str(genhdr / "mpversion.h")],
                   cwd=src, env=env, check=True, capture_output=True)

    cpp = [*zig_command(), "cc", "-E", *variant.cflags, *variant.defines]
    # makeqstrdefs.py preprocesses files in batches; `zig cc -E` takes one file at a time.
    cpp_each = [python, "-m", "proxywasm_build.backends.micropython.cbuild", "--cpp-each", *cpp]
    flags = [*includes, "-DNO_QSTR"]
    scanned = [str(path) for path in sources if not path.name.startswith("nlr")]
    makeqstrdefs = str(src / "py" / "makeqstrdefs.py")
    last = genhdr / "qstr.i.last"
    run([python, makeqstrdefs, "pp", *cpp_each, "output", str(last), "cflags", *flags,
         "cxxflags", "-DNO_QSTR", "sources", *scanned, "dependencies", "changed_sources", *scanned],
        "preprocessing for qstrs", cwd=src)
    for kind, folder, collected in (("qstr", "qstr", "qstrdefs.collected.h"),
                                    ("module", "module", "moduledefs.collected")):
        run([python, makeqstrdefs, "split", kind, str(last), str(genhdr / folder), "_"],
            f"makeqstrdefs split {kind}", cwd=src)
        run([python, makeqstrdefs, "cat", kind, "_", str(genhdr / folder), str(genhdr / collected)],
            f"makeqstrdefs cat {kind}", cwd=src)

    # py.mk: cat the qstr definitions, protect Q(...) lines from the preprocessor, unprotect.
    defs = "".join(path.read_text() for path in (src / "py" / "qstrdefs.h",
                                                 variant.config_dir / "qstrdefsport.h",
                                                 genhdr / "qstrdefs.collected.h"))
    protected = "\n".join(f'"{line}"' if line.startswith("Q(") else line for line in defs.splitlines())
    proc = run([*cpp, *includes, "-x", "c", "-"], "preprocessing qstrdefs", input=protected + "\n")
    preprocessed = "\n".join(line[1:-1] if line.startswith('"Q(') and line.endswith(')"') else line
                             for line in proc.stdout.splitlines())
    (genhdr / "qstrdefs.preprocessed.h").write_text(preprocessed + "\n")
    qstrdata = run([python, str(src / "py" / "makeqstrdata.py"), str(genhdr / "qstrdefs.preprocessed.h")],
                   "makeqstrdata.py", cwd=src)
    (genhdr / "qstrdefs.generated.h").write_text(qstrdata.stdout)
    moduledefs = run([python, str(src / "py" / "makemoduledefs.py"), str(genhdr / "moduledefs.collected")],
                     "makemoduledefs.py", cwd=src)
    (genhdr / "moduledefs.h").write_text(moduledefs.stdout)


def link(core: CoreBuild, extra_objects: list[Path], output: Path, link_flags: tuple[str, ...]) -> Path:
    """Link the core with `extra_objects` into `output` (written through a scratch file)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = output.with_name(f".{output.name}.{os.getpid()}")
    try:
        run([*zig_command(), "cc", *core.variant.cflags, *link_flags, "-o", str(scratch),
             *map(str, core.objects), *map(str, extra_objects)], f"linking {output.name}")
        os.replace(scratch, output)
    finally:
        if scratch.exists():
            scratch.unlink()
    return output


def _preprocess_each(command: list[str]) -> int:
    """`--cpp-each CPP... FLAGS... FILES...`: run the preprocessor once per C file, concatenated."""
    files = [arg for arg in command if arg.endswith(".c") and not arg.startswith("-")]
    options = [arg for arg in command if arg not in files]
    for path in files:
        proc = subprocess.run([*options, path], capture_output=True, env=zig_env())
        sys.stderr.buffer.write(proc.stderr)
        if proc.returncode != 0:
            return proc.returncode
        sys.stdout.buffer.write(proc.stdout)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--cpp-each"]:
        sys.exit(_preprocess_each(sys.argv[2:]))
    sys.exit("usage: python -m proxywasm_build.backends.micropython.cbuild --cpp-each CPP... FILES...")
