"""Lower a module's linear-memory maximum, so a filter that leaks runs out sooner.

A CPython module declares a maximum of 1 GiB (Envoy's own limit); its heap grows into that
memory, so exhausting it takes thousands of requests. `with_memory_maximum(data, bytes)`
rewrites the maximum in the memory section (no relink, nothing else moves but the section's
size): what a test or a benchmark of the out-of-memory path uses.
"""

from __future__ import annotations

from proxywasm_build.errors import UserError
from proxywasm_build.wasm.leb128 import encode_unsigned, read_unsigned
from proxywasm_build.wasm.reader import read_module

PAGE = 65536
_HAS_MAXIMUM = 0x01


def with_memory_maximum(data: bytes, maximum_bytes: int) -> bytes:
    """`data` with its one linear memory's maximum set to `maximum_bytes` (whole pages, at
    least the initial size)."""
    module = read_module(data)
    memory = next((s for s in module.sections if s.kind == "memory"), None)
    if memory is None or len(module.memories) != 1:
        raise UserError("the module must define exactly one linear memory to limit it.")
    initial = module.memories[0].initial
    pages = -(-int(maximum_bytes) // PAGE)
    if pages < initial:
        raise UserError(f"a maximum of {maximum_bytes} bytes is below the module's initial memory "
                        f"({initial * PAGE} bytes).")
    body = b"\x01" + bytes([_HAS_MAXIMUM]) + encode_unsigned(initial) + encode_unsigned(pages)
    size_start = memory.offset - len(encode_unsigned(memory.size))
    count, _ = read_unsigned(data, memory.offset)
    if count != 1 or read_unsigned(data, size_start)[0] != memory.size:
        raise UserError("the module's memory section is not laid out as expected.")
    return data[:size_start] + encode_unsigned(len(body)) + body + data[memory.offset + memory.size:]
