"""Drop the zero runs wizer leaves inside a snapshot's data segments.

wizer merges the snapshot's non-zero memory into at most 10,000 active segments, so about half
of the bytes it writes are short runs of zeros between live objects. Linear memory starts
zeroed, so a run of zeros need not be written: this pass cuts active segments at runs of at
least `min_zero_run` zeros. The first piece keeps the segment's index (passive segments and
`data.drop` refer to segments by index); the other pieces are appended after all segments.
"""

from __future__ import annotations

import re

from proxywasm_build.wasm.leb128 import encode_signed, encode_unsigned, read_signed, read_unsigned

#: V8 refuses modules with more than 100,000 data segments; stay well below.
MAX_SEGMENTS = 90_000
#: An extra segment costs about 9 bytes of header: shorter zero runs are cheaper to keep.
MIN_ZERO_RUN = 12






def _active(offset: int, payload: bytes) -> bytes:
    # flags 0: active, memory 0, offset `i32.const offset; end`
    signed = offset - (1 << 32) if offset >= 1 << 31 else offset
    return b"\x00\x41" + encode_signed(signed) + b"\x0b" + encode_unsigned(len(payload)) + payload


def _section(section_id: int, body: bytes) -> bytes:
    return bytes([section_id]) + encode_unsigned(len(body)) + body


def split_zero_runs(module: bytes, min_zero_run: int = MIN_ZERO_RUN) -> bytes:
    """`module` with its active data segments cut at zero runs; unchanged if there is nothing
    to gain or a segment has a form this pass does not rewrite."""
    sections: list[tuple[int, int, int, int]] = []  # (id, header start, body start, end)
    pos = 8
    while pos < len(module):
        section_id = module[pos]
        size, body = read_unsigned(module, pos + 1)
        sections.append((section_id, pos, body, body + size))
        pos = body + size
    data_sections = [s for s in sections if s[0] == 11]
    if len(data_sections) != 1:
        return module
    _, _, start, end = data_sections[0]
    count, pos = read_unsigned(module, start)
    kept: list[bytes] = []
    extra: list[bytes] = []
    zero_run = re.compile(b"\x00{%d,}" % min_zero_run)
    for _ in range(count):
        segment_start = pos
        flags, pos = read_unsigned(module, pos)
        if flags == 1:  # passive: kept as it is
            size, pos = read_unsigned(module, pos)
            pos += size
            kept.append(module[segment_start:pos])
            continue
        if flags != 0 or module[pos] != 0x41:
            return module
        offset, pos = read_signed(module, pos + 1)
        if module[pos] != 0x0B:
            return module
        size, pos = read_unsigned(module, pos + 1)
        payload = module[pos:pos + size]
        pos += size
        base = offset & 0xFFFFFFFF
        pieces: list[tuple[int, bytes]] = []
        cursor = 0
        for match in zero_run.finditer(payload):
            if match.start() > cursor:
                pieces.append((base + cursor, payload[cursor:match.start()]))
            cursor = match.end()
        if cursor < len(payload):
            pieces.append((base + cursor, payload[cursor:]))
        if not pieces:  # all zeros: an empty segment keeps the index
            pieces = [(base, b"")]
        kept.append(_active(*pieces[0]))
        extra += [_active(*piece) for piece in pieces[1:]]
    total = len(kept) + len(extra)
    if not extra or total > MAX_SEGMENTS:
        return module
    body = encode_unsigned(total) + b"".join(kept) + b"".join(extra)
    out = bytearray(module[:8])
    for section_id, header_start, _, section_end in sections:
        if section_id == 11:
            out += _section(11, body)
        elif section_id == 12:  # data count must match the data section
            out += _section(12, encode_unsigned(total))
        else:
            out += module[header_start:section_end]
    return bytes(out)
