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


def producers_section(fields: dict[str, list[tuple[str, str]]]) -> bytes:
    """Encode the standard `producers` custom section (WebAssembly tool-conventions): field name
    ("language", "processed-by", "sdk") -> (name, version) pairs. Tools such as `wasm-tools
    metadata show` and the hub read it to tell what a module was written in."""

    def string(text: str) -> bytes:
        encoded = text.encode()
        return encode_unsigned(len(encoded)) + encoded

    payload = encode_unsigned(len(fields))
    for field, values in fields.items():
        payload += string(field) + encode_unsigned(len(values))
        payload += b"".join(string(name) + string(version) for name, version in values)
    return custom_section("producers", payload)
