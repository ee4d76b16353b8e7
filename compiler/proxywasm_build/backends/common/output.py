"""Where a built module goes, and the check that keeps an invalid one from being written."""

from __future__ import annotations

from pathlib import Path

from proxywasm_build import cache
from proxywasm_build.backends.common.filter_source import FilterSource
from proxywasm_build.errors import UserError


def default_output(source: Path, filter_source: FilterSource) -> Path:
    """`x.py` -> `x.wasm` beside it; a directory -> `<dir>/<module>.wasm` inside it."""
    source = Path(source)
    if source.is_file():
        return source.with_suffix(".wasm")
    return source / f"{filter_source.module}.wasm"


def refuse_invalid_module(data: bytes) -> None:
    """Raise a UserError naming the validator's first error when `data` would not load in Envoy."""
    from proxywasm_build.wasm.validate import validate_module

    report = validate_module(data, abi="0.2.1", envoy="1.40")
    if not report.ok:
        first = report.findings[0].message if report.findings else "unknown problem"
        errors = [f.message for f in report.findings if f.severity == "error"] or [first]
        reason = errors[0].rstrip(".")
        raise UserError(f"the built module is not a valid Proxy-Wasm module, so it was not written: {reason}.")


def write_valid_module(data: bytes, output: Path) -> Path:
    """Write `data` to `output` atomically, only if the validator accepts it."""
    refuse_invalid_module(data)
    cache.atomic_write(output, data)
    return output
