"""Dict lookup and build time on the MicroPython runtime (the dev interpreter, in wasmtime).

    .venv/bin/python benchmarks/micropython_dict.py

Every dict there keeps insertion order as an array; compat_patches.py gives dicts of 8 entries
or more a hash index. For 10, 100, 1,000 and 10,000 keys (ints, and strs built at run time) it
prints the time per lookup (20,000 lookups of present keys) and per insertion while building.
"""

from __future__ import annotations

from proxywasm_build.backends.micropython.interpreter import run_micropython

SCRIPT = """
from _proxywasm_runtime import monotonic_ns
LOOKUPS = 20000
for size in (10, 100, 1000, 10000):
    for kind in ('int', 'str'):
        keys = list(range(size)) if kind == 'int' else ['key-' + str(i) for i in range(size)]
        start = monotonic_ns()
        d = {}
        for k in keys:
            d[k] = 1
        build = (monotonic_ns() - start) / size
        probes = [keys[(i * 7919) % size] for i in range(LOOKUPS)]
        start = monotonic_ns()
        for k in probes:
            d[k]
        lookup = (monotonic_ns() - start) / LOOKUPS
        print(size, kind, round(lookup), round(build))
"""


def main() -> None:
    result = run_micropython(SCRIPT, heap_mb=512)
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    print(f"{'keys':>6} {'key type':>8} {'ns/lookup':>10} {'ns/insert':>10}")
    for line in result.stdout.split("\n"):
        if line.strip():
            size, kind, lookup, build = line.split()
            print(f"{int(size):>6,} {kind:>8} {int(lookup):>10,} {int(build):>10,}")


if __name__ == "__main__":
    main()
