"""The custom section that says how a module was built (read by `proxywasm inspect`, the
validator and `proxywasm push`): JSON with the ABI, the interpreter, the SDK, the filter."""

from __future__ import annotations

from proxywasm_build.wasm.leb128 import encode_unsigned

METADATA_SECTION = "proxywasm-python"


def custom_section(name: str, payload: bytes) -> bytes:
    """Encode a wasm custom section (id 0); appending one to a module keeps it valid."""
    encoded = name.encode()
    body = encode_unsigned(len(encoded)) + encoded + payload
    return b"\x00" + encode_unsigned(len(body)) + body
