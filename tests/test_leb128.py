"""The one LEB128 codec the build, the data-segment rewriter and the tests share."""

import pytest

from proxywasm_build.wasm.leb128 import encode_signed, encode_unsigned, read_signed, read_unsigned


@pytest.mark.parametrize("value, encoded", [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"),
                                            (624485, b"\xe5\x8e\x26")])
def test_unsigned(value: int, encoded: bytes) -> None:
    assert encode_unsigned(value) == encoded
    assert read_unsigned(b"pad" + encoded + b"tail", 3) == (value, 3 + len(encoded))


@pytest.mark.parametrize("value, encoded", [(0, b"\x00"), (-1, b"\x7f"), (63, b"\x3f"),
                                            (64, b"\xc0\x00"), (-64, b"\x40"), (-123456, b"\xc0\xbb\x78")])
def test_signed(value: int, encoded: bytes) -> None:
    assert encode_signed(value) == encoded
    assert read_signed(encoded, 0) == (value, len(encoded))
