"""`base64` for the MicroPython runtime: Base64 (standard and URL-safe), Base32 and Base16 as
CPython encodes and decodes them. Left out: Ascii85/Base85 and the legacy `encodebytes` family.
"""

import binascii

__all__ = ["b64encode", "b64decode", "standard_b64encode", "standard_b64decode",
           "urlsafe_b64encode", "urlsafe_b64decode", "b32encode", "b32decode", "b32hexencode",
           "b32hexdecode", "b16encode", "b16decode"]


def _decode_data(s):
    if isinstance(s, str):
        data = s.encode()
        if len(data) != len(s):
            raise ValueError("string argument should contain only ASCII characters")
        return data
    if isinstance(s, (bytes, bytearray)):
        return bytes(s)
    try:
        return bytes(s)
    except TypeError:
        raise TypeError("argument should be a bytes-like object or ASCII string, not %r"
                        % type(s).__name__)


def _swap(data, old, new):
    """bytes.translate for two characters (MicroPython has no translate)."""
    if old == new:
        return data
    data = data.replace(old[1:2], b"\x01").replace(old[0:1], b"\x00")
    return data.replace(b"\x00", new[0:1]).replace(b"\x01", new[1:2])


def b64encode(s, altchars=None):
    """Base64-encode bytes; altchars replaces '+' and '/'."""
    encoded = binascii.b2a_base64(s, newline=False)
    if altchars is not None:
        assert len(altchars) == 2, repr(altchars)
        return _swap(encoded, b"+/", bytes(altchars))
    return encoded


def b64decode(s, altchars=None, validate=False):
    """Decode Base64 (bytes or ASCII str); with validate=True, anything outside the alphabet
    raises binascii.Error instead of being skipped."""
    s = _decode_data(s)
    if altchars is not None:
        altchars = _decode_data(altchars)
        assert len(altchars) == 2, repr(altchars)
        if s.find(b"\x00") < 0 and s.find(b"\x01") < 0:
            s = _swap(s, altchars, b"+/")
        else:
            mapping = {altchars[0]: 43, altchars[1]: 47}
            s = bytes(mapping.get(c, c) for c in s)
    return binascii.a2b_base64(s, strict_mode=validate)


def standard_b64encode(s):
    return b64encode(s)


def standard_b64decode(s):
    return b64decode(s)


def urlsafe_b64encode(s):
    """Base64 with '-' and '_' for '+' and '/' (padding kept, as CPython does)."""
    return b64encode(s, b"-_")


def urlsafe_b64decode(s):
    """Decode URL-safe Base64; '+' and '/' are accepted too, as in CPython."""
    s = _decode_data(s)
    return b64decode(s.replace(b"-", b"+").replace(b"_", b"/"))


def b16encode(s):
    return binascii.hexlify(s).upper()


def b16decode(s, casefold=False):
    s = _decode_data(s)
    if casefold:
        s = s.upper()
    for c in s:
        if not (48 <= c <= 57 or 65 <= c <= 70):
            raise binascii.Error("Non-base16 digit found")
    return binascii.unhexlify(s)


_B32 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_B32HEX = b"0123456789ABCDEFGHIJKLMNOPQRSTUV"


def _b32encode(alphabet, s):
    s = bytes(s)
    leftover = len(s) % 5
    if leftover:
        s = s + b"\0" * (5 - leftover)
    encoded = bytearray()
    for i in range(0, len(s), 5):
        c = int.from_bytes(s[i:i + 5], "big")
        for shift in (35, 30, 25, 20, 15, 10, 5, 0):
            encoded.append(alphabet[(c >> shift) & 31])
    pads = (0, 6, 4, 3, 1)[leftover]
    if pads:
        encoded[-pads:] = b"=" * pads
    return bytes(encoded)


def _b32decode(alphabet, s, casefold=False, map01=None):
    s = _decode_data(s)
    if len(s) % 8:
        raise binascii.Error("Incorrect padding")
    if map01 is not None:
        map01 = _decode_data(map01)
        assert len(map01) == 1, repr(map01)
        s = s.replace(b"0", b"O").replace(b"1", map01)
    if casefold:
        s = s.upper()
    length = len(s)
    s = s.rstrip(b"=")
    padchars = length - len(s)
    decoded = bytearray()
    acc = 0
    for i in range(0, len(s), 8):
        acc = 0
        for c in s[i:i + 8]:
            value = alphabet.find(bytes((c,)))
            if value < 0:
                raise binascii.Error("Non-base32 digit found")
            acc = (acc << 5) + value
        decoded += acc.to_bytes(5, "big")
    if length % 8 or padchars not in (0, 1, 3, 4, 6):
        raise binascii.Error("Incorrect padding")
    if padchars and decoded:
        acc <<= 5 * padchars
        last = acc.to_bytes(5, "big")
        leftover = (43 - 5 * padchars) // 8
        decoded = decoded[:-5] + last[:leftover]
    return bytes(decoded)


def b32encode(s):
    return _b32encode(_B32, s)


def b32decode(s, casefold=False, map01=None):
    return _b32decode(_B32, s, casefold, map01)


def b32hexencode(s):
    return _b32encode(_B32HEX, s)


def b32hexdecode(s, casefold=False):
    return _b32decode(_B32HEX, s, casefold)
