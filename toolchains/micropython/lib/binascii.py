"""`binascii` for the MicroPython runtime: hex, base64 and crc32 as CPython does them.

Left out: uu, quoted-printable, crc_hqx.
"""


class Error(ValueError):
    """Bad encoded data (CPython's `binascii.Error`)."""


class Incomplete(Exception):
    pass


_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _table(alphabet, more=b"", first=0):
    """256 entries: a character's value in the alphabet, 255 for characters outside it."""
    table = bytearray(b"\xff" * 256)
    for value, char in enumerate(alphabet):
        table[char] = value
    for value, char in enumerate(more):
        table[char] = first + value
    return bytes(table)


_B64_VALUES = _table(_B64_ALPHABET)
_HEX_VALUES = _table(b"0123456789abcdef", b"ABCDEF", 10)


def _buffer(data):
    if isinstance(data, (bytes, bytearray)):
        return data
    if isinstance(data, str):
        raise TypeError("a bytes-like object is required, not 'str'")
    try:
        return bytes(data)
    except TypeError:
        raise TypeError("a bytes-like object is required, not '%s'" % type(data).__name__)


def _ascii(data):
    if isinstance(data, str):
        encoded = data.encode()
        if len(encoded) != len(data):
            raise ValueError("string argument should contain only ASCII characters")
        return encoded
    return _buffer(data)


def hexlify(data, sep=None, bytes_per_sep=1):
    """Bytes as lowercase hex, with `sep` between every `bytes_per_sep` bytes (from the right)."""
    text = bytes(_buffer(data)).hex().encode()
    if sep is None or not text:
        return text
    if isinstance(sep, str):
        sep = sep.encode()
    if len(sep) != 1:
        raise ValueError("sep must be length 1.")
    step = 2 * abs(bytes_per_sep)
    if step == 0:
        return text
    if bytes_per_sep > 0:  # groups are counted from the right
        first = len(text) % step or step
        parts = [text[:first]] + [text[k:k + step] for k in range(first, len(text), step)]
    else:
        parts = [text[k:k + step] for k in range(0, len(text), step)]
    return sep.join(parts)


b2a_hex = hexlify


def unhexlify(hexstr):
    """Hex digits (bytes or an ASCII str) back to bytes."""
    data = _ascii(hexstr)
    if len(data) & 1:
        raise Error("Odd-length string")
    values = _HEX_VALUES
    out = bytearray(len(data) >> 1)
    for k in range(0, len(data), 2):
        high = values[data[k]]
        low = values[data[k + 1]]
        if high > 15 or low > 15:
            raise Error("Non-hexadecimal digit found")
        out[k >> 1] = (high << 4) | low
    return bytes(out)


a2b_hex = unhexlify


def b2a_base64(data, *, newline=True):
    """Base64 of `data`, ending in a newline unless newline=False."""
    data = _buffer(data)
    alphabet = _B64_ALPHABET
    n = len(data)
    out = bytearray(((n + 2) // 3) * 4 + (1 if newline else 0))
    o = 0
    full = n - n % 3
    for k in range(0, full, 3):
        v = (data[k] << 16) | (data[k + 1] << 8) | data[k + 2]
        out[o] = alphabet[v >> 18]
        out[o + 1] = alphabet[(v >> 12) & 63]
        out[o + 2] = alphabet[(v >> 6) & 63]
        out[o + 3] = alphabet[v & 63]
        o += 4
    rest = n - full
    if rest:
        v = data[full] << 16
        if rest == 2:
            v |= data[full + 1] << 8
        out[o] = alphabet[v >> 18]
        out[o + 1] = alphabet[(v >> 12) & 63]
        out[o + 2] = alphabet[(v >> 6) & 63] if rest == 2 else 61
        out[o + 3] = 61
        o += 4
    if newline:
        out[o] = 10
    return bytes(out)


def _a2b_base64_fast(data):
    """Decodes canonical input (only alphabet characters, length % 4 == 0, '=' only at the end)."""
    n = len(data)
    if n & 3:
        return None
    pads = 0
    if n and data[n - 1] == 61:
        pads = 2 if data[n - 2] == 61 else 1
    values = _B64_VALUES
    body = n - pads
    out = bytearray((n >> 2) * 3)
    o = 0
    full = body & ~3
    for k in range(0, full, 4):
        a = values[data[k]]
        b = values[data[k + 1]]
        c = values[data[k + 2]]
        d = values[data[k + 3]]
        if (a | b | c | d) > 63:
            return None
        v = (a << 18) | (b << 12) | (c << 6) | d
        out[o] = v >> 16
        out[o + 1] = (v >> 8) & 255
        out[o + 2] = v & 255
        o += 3
    if pads:
        a = values[data[full]]
        b = values[data[full + 1]]
        c = values[data[full + 2]] if pads == 1 else 0
        if (a | b | c) > 63:
            return None
        v = (a << 18) | (b << 12) | (c << 6)
        out[o] = v >> 16
        o += 1
        if pads == 1:
            out[o] = (v >> 8) & 255
            o += 1
    return bytes(out[:o])


def a2b_base64(data, *, strict_mode=False):
    """Base64 back to bytes; without strict_mode, characters outside the alphabet are skipped."""
    data = _ascii(data)
    fast = _a2b_base64_fast(data)
    if fast is not None:
        return fast
    if strict_mode and data and data[0] == 61:
        raise Error("Leading padding not allowed")
    values = _B64_VALUES
    out = bytearray()
    quad = 0
    left = 0
    pads = 0
    padding_started = False
    count = len(data)
    for i in range(count):
        char = data[i]
        if char == 61:
            padding_started = True
            if quad >= 2:
                pads += 1
                if quad + pads >= 4:
                    if strict_mode and i + 1 < count:
                        raise Error("Excess data after padding")
                    return bytes(out)
            continue
        value = values[char]
        if value > 63:
            if strict_mode:
                raise Error("Only base64 data is allowed")
            continue
        if strict_mode and padding_started:
            raise Error("Discontinuous padding not allowed")
        pads = 0
        if quad == 0:
            left = value
            quad = 1
        elif quad == 1:
            out.append(((left << 2) | (value >> 4)) & 255)
            left = value & 15
            quad = 2
        elif quad == 2:
            out.append(((left << 4) | (value >> 2)) & 255)
            left = value & 3
            quad = 3
        else:
            out.append(((left << 6) | value) & 255)
            quad = 0
    if quad == 1:
        raise Error("Invalid base64-encoded string: number of data characters (%d) cannot be 1 more "
                    "than a multiple of 4" % (len(out) // 3 * 4 + 1))
    if quad:
        raise Error("Incorrect padding")
    return bytes(out)


_CRC_TABLE = None


def _crc_table():
    global _CRC_TABLE
    if _CRC_TABLE is None:
        table = []
        for n in range(256):
            c = n
            for _ in range(8):
                c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
            table.append(c)
        _CRC_TABLE = table
    return _CRC_TABLE


def crc32(data, crc=0):
    """CRC-32 (zlib's) of `data`, continuing from `crc`."""
    table = _crc_table()
    crc = ~crc & 0xFFFFFFFF
    for byte in _buffer(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return ~crc & 0xFFFFFFFF
