"""`json` for the MicroPython runtime: CPython's `dumps`/`loads` output and errors, byte for byte.

Written for MicroPython 1.19 and CPython alike. Floats are formatted and parsed exactly (CPython's
shortest round-trip `repr`, correctly rounded parsing) with integer arithmetic, because
MicroPython's own float formatting keeps 16 digits and its parser rounds long inputs. The
decoder works on UTF-8 bytes: indexing a MicroPython str is O(n) for non-ASCII text.
Left out: the `JSONEncoder.iterencode` streaming API, `cls=` decoders, UTF-16/32 byte input.
"""

import struct

__all__ = ["dump", "dumps", "load", "loads", "JSONDecodeError", "JSONDecoder", "JSONEncoder"]


class JSONDecodeError(ValueError):
    """The document is not valid JSON: `msg`, `doc`, `pos`, `lineno`, `colno` as in CPython."""

    def __init__(self, msg, doc, pos):
        lineno = doc.count("\n", 0, pos) + 1
        colno = pos - doc.rfind("\n", 0, pos)
        super().__init__("%s: line %d column %d (char %d)" % (msg, lineno, colno, pos))
        self.msg = msg
        self.doc = doc
        self.pos = pos
        self.lineno = lineno
        self.colno = colno


# --- floats ------------------------------------------------------------------------------------

_INF = float("inf")
_TWO52 = 1 << 52
_TWO53 = 1 << 53
_POW10 = [float(10 ** k) for k in range(23)]  # exact doubles


def _bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def float_repr(x):
    """CPython's `repr(float)`: the shortest digits that read back as `x` (Steele-White)."""
    if x != x:
        return "nan"
    bits = _bits(x)
    sign = "-" if bits >> 63 else ""
    biased = (bits >> 52) & 0x7FF
    m = bits & (_TWO52 - 1)
    if biased == 0x7FF:
        return sign + "inf"
    if biased == 0:
        if m == 0:
            return sign + "0.0"
        e = -1074
    else:
        m |= _TWO52
        e = biased - 1075
    if e >= 0:
        whole = m << e
        if whole < 10 ** 16:
            return sign + str(whole) + ".0"
    elif e > -53 and not m & ((1 << -e) - 1):
        return sign + str(m >> -e) + ".0"  # integral and below 2**53
    even = not m & 1
    # x = r/s; the values that read back as x lie within (r - mm)/s .. (r + mp)/s.
    if e >= 0:
        if m != _TWO52:
            r, s, mp, mm = m << (e + 1), 2, 1 << e, 1 << e
        else:
            r, s, mp, mm = m << (e + 2), 4, 1 << (e + 1), 1 << e
    elif biased <= 1 or m != _TWO52:
        r, s, mp, mm = m << 1, 1 << (1 - e), 1, 1
    else:
        r, s, mp, mm = m << 2, 1 << (2 - e), 2, 1
    estimate = (e + len(bin(m)) - 3) * 0.30102999566398114
    k = int(estimate)
    if k > estimate:
        k -= 1
    k -= 1  # never above the real exponent: only the upward fix below is needed
    if k >= 0:
        s *= 10 ** k
    else:
        scale = 10 ** -k
        r *= scale
        mp *= scale
        mm *= scale
    while r + mp > s or (even and r + mp == s):
        s *= 10
        k += 1
    digits = []
    while True:
        r *= 10
        mp *= 10
        mm *= 10
        d, r = divmod(r, s)
        if even:
            low, high = r <= mm, r + mp >= s
        else:
            low, high = r < mm, r + mp > s
        if low or high:
            if high and (not low or 2 * r > s or (2 * r == s and d & 1)):
                d += 1
            digits.append(chr(48 + d))
            break
        digits.append(chr(48 + d))
    text = "".join(digits)
    n = len(text)
    if -4 < k <= 16:
        if k <= 0:
            return sign + "0." + "0" * -k + text
        if k >= n:
            return sign + text + "0" * (k - n) + ".0"
        return sign + text[:k] + "." + text[k:]
    exp = k - 1
    mantissa = text[0] + "." + text[1:] if n > 1 else text
    return "%s%se%s%02d" % (sign, mantissa, "-" if exp < 0 else "+", abs(exp))


def _bit_length(n):
    length = 0
    while n >= 1 << 64:
        n >>= 64
        length += 64
    while n:
        n >>= 1
        length += 1
    return length


def _ratio_to_float(num, den):
    """The double nearest num/den (both > 0), ties to even."""
    e = _bit_length(num) - _bit_length(den) - 54  # q below gets 54 or 55 bits
    q, rem = divmod(num << -e, den) if e < 0 else divmod(num, den << e)
    while q >= 1 << 54:
        rem = rem or q & 1
        q >>= 1
        e += 1
    if e < -1075:  # subnormal: keep one extra bit for rounding at 2**-1074
        shift = -1075 - e
        if shift > 60:
            return 0.0
        rem = rem or q & ((1 << shift) - 1)
        q >>= shift
        e = -1075
    half = q & 1
    q >>= 1
    e += 1
    if half and (rem or q & 1):
        q += 1
        if q == _TWO53:
            q >>= 1
            e += 1
    if q < _TWO52:
        bits = q  # subnormal (or zero)
    else:
        biased = e + 1075
        if biased >= 0x7FF:
            return _INF
        bits = (biased << 52) | (q - _TWO52)
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def _float_from_decimal(digits, exp10):
    """digits (a str of 0-9) * 10**exp10, correctly rounded."""
    digits = digits.lstrip("0")
    if not digits:
        return 0.0
    n = int(digits)
    if n < _TWO53 and -22 <= exp10 <= 22:  # exact operands, one IEEE rounding
        return float(n) * _POW10[exp10] if exp10 >= 0 else float(n) / _POW10[-exp10]
    magnitude = len(digits) + exp10
    if magnitude > 310:
        return _INF
    if magnitude < -330:
        return 0.0
    if exp10 >= 0:
        return _ratio_to_float(n * 10 ** exp10, 1)
    return _ratio_to_float(n, 10 ** -exp10)


def _parse_float(text):
    """float(text) for a JSON number, exact on every interpreter."""
    neg = text[0] == "-"
    body = text[1:] if neg else text
    cut = body.find("e")
    if cut < 0:
        cut = body.find("E")
    exp10 = 0
    if cut >= 0:
        exp10 = int(body[cut + 1:])
        body = body[:cut]
    dot = body.find(".")
    if dot >= 0:
        exp10 -= len(body) - dot - 1
        body = body[:dot] + body[dot + 1:]
    value = _float_from_decimal(body, exp10)
    return -value if neg else value


# --- encoding ----------------------------------------------------------------------------------

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _escape(s, ascii_only):
    out = []
    for c in s:
        esc = _ESCAPES.get(c)
        if esc is None:
            n = ord(c)
            if n < 0x20 or (ascii_only and n > 0x7E):
                if n > 0xFFFF:
                    n -= 0x10000
                    esc = "\\u%04x\\u%04x" % (0xD800 | (n >> 10), 0xDC00 | (n & 0x3FF))
                else:
                    esc = "\\u%04x" % n
            else:
                esc = c
        out.append(esc)
    return '"' + "".join(out) + '"'


def _encode_str(s, ascii_only):
    if not s:
        return '""'
    if min(s) >= " " and (not ascii_only or max(s) <= "~") and s.find('"') < 0 and s.find("\\") < 0:
        return '"' + s + '"'
    return _escape(s, ascii_only)


class JSONEncoder:
    """CPython's `json.JSONEncoder`: subclass it and override `default` for other types."""

    item_separator = ", "
    key_separator = ": "

    def __init__(self, *, skipkeys=False, ensure_ascii=True, check_circular=True, allow_nan=True,
                 sort_keys=False, indent=None, separators=None, default=None):
        self.skipkeys = skipkeys
        self.ensure_ascii = ensure_ascii
        self.check_circular = check_circular
        self.allow_nan = allow_nan
        self.sort_keys = sort_keys
        if indent is not None and not isinstance(indent, str):
            indent = " " * indent
        self.indent = indent
        if separators is not None:
            self.item_separator, self.key_separator = separators
        elif indent is not None:
            self.item_separator = ","
        if default is not None:
            self.default = default

    def default(self, o):
        raise TypeError("Object of type %s is not JSON serializable" % type(o).__name__)

    def encode(self, o):
        if isinstance(o, str):
            return _encode_str(o, self.ensure_ascii)
        chunks = []
        _Writer(self, chunks).value(o, 0)
        return "".join(chunks)


class _Writer:
    def __init__(self, encoder, chunks):
        self.enc = encoder
        self.out = chunks
        self.markers = {} if encoder.check_circular else None

    def float(self, o):
        if o != o:
            text = "NaN"
        elif o == _INF:
            text = "Infinity"
        elif o == -_INF:
            text = "-Infinity"
        else:
            return float_repr(o)
        if not self.enc.allow_nan:
            raise ValueError("Out of range float values are not JSON compliant")
        return text

    def enter(self, o):
        markers = self.markers
        if markers is not None:
            key = id(o)
            if key in markers:
                raise ValueError("Circular reference detected")
            markers[key] = o

    def leave(self, o):
        if self.markers is not None:
            del self.markers[id(o)]

    def value(self, o, level):
        out = self.out
        if isinstance(o, str):
            out.append(_encode_str(o, self.enc.ensure_ascii))
        elif o is None:
            out.append("null")
        elif o is True:
            out.append("true")
        elif o is False:
            out.append("false")
        elif isinstance(o, int):
            out.append(str(int(o)))
        elif isinstance(o, float):
            out.append(self.float(float(o)))
        elif isinstance(o, (list, tuple)):
            self.array(o, level)
        elif isinstance(o, dict):
            self.object(o, level)
        else:
            self.enter(o)
            self.value(self.enc.default(o), level)
            self.leave(o)

    def newline(self, level):
        indent = self.enc.indent
        if indent is None:
            return None
        return "\n" + indent * level

    def array(self, o, level):
        out = self.out
        if not o:
            out.append("[]")
            return
        self.enter(o)
        inner = self.newline(level + 1)
        separator = self.enc.item_separator
        if inner is None:
            out.append("[")
        else:
            out.append("[" + inner)
            separator += inner
        first = True
        for item in o:
            if not first:
                out.append(separator)
            first = False
            self.value(item, level + 1)
        closing = self.newline(level)
        out.append("]" if closing is None else closing + "]")
        self.leave(o)

    def key(self, key):
        if isinstance(key, str):
            return key
        if isinstance(key, float):
            return self.float(key)
        if key is True:
            return "true"
        if key is False:
            return "false"
        if key is None:
            return "null"
        if isinstance(key, int):
            return str(int(key))
        if self.enc.skipkeys:
            return None
        raise TypeError("keys must be str, int, float, bool or None, not %s" % type(key).__name__)

    def object(self, o, level):
        out = self.out
        if not o:
            out.append("{}")
            return
        self.enter(o)
        enc = self.enc
        inner = self.newline(level + 1)
        separator = enc.item_separator
        if inner is None:
            out.append("{")
        else:
            out.append("{" + inner)
            separator += inner
        key_separator = enc.key_separator
        ascii_only = enc.ensure_ascii
        items = sorted(o.items()) if enc.sort_keys else o.items()
        first = True
        for key, item in items:
            key = self.key(key)
            if key is None:
                continue
            if not first:
                out.append(separator)
            first = False
            out.append(_encode_str(key, ascii_only))
            out.append(key_separator)
            self.value(item, level + 1)
        closing = self.newline(level)
        out.append("}" if closing is None else closing + "}")
        self.leave(o)


def dumps(obj, *, skipkeys=False, ensure_ascii=True, check_circular=True, allow_nan=True, cls=None,
          indent=None, separators=None, default=None, sort_keys=False, **kw):
    """Serialize `obj` to a JSON str, exactly as CPython's `json.dumps` does."""
    encoder = (cls or JSONEncoder)(skipkeys=skipkeys, ensure_ascii=ensure_ascii,
                                   check_circular=check_circular, allow_nan=allow_nan, indent=indent,
                                   separators=separators, default=default, sort_keys=sort_keys, **kw)
    return encoder.encode(obj)


def dump(obj, fp, **kw):
    """Serialize `obj` as JSON into the file-like `fp` (anything with `write(str)`)."""
    fp.write(dumps(obj, **kw))


# --- decoding ----------------------------------------------------------------------------------

_WHITESPACE = {32, 9, 10, 13}
_DIGITS = {48, 49, 50, 51, 52, 53, 54, 55, 56, 57}
_HEX = set(b"0123456789abcdefABCDEF")
_UNESCAPE = {34: '"', 92: "\\", 47: "/", 98: "\b", 102: "\f", 110: "\n", 114: "\r", 116: "\t"}
_CONSTANTS = {"NaN": float("nan"), "Infinity": _INF, "-Infinity": -_INF}


def _constant(name):
    return _CONSTANTS[name]


class _Scanner:
    def __init__(self, doc, data, decoder):
        self.doc = doc
        self.data = data
        self.n = len(data)
        self.object_hook = decoder.object_hook
        self.object_pairs_hook = decoder.object_pairs_hook
        self.parse_float = decoder.parse_float
        self.parse_int = decoder.parse_int
        self.parse_constant = decoder.parse_constant
        self.strict = decoder.strict

    def error(self, msg, pos):
        if self.n != len(self.doc):  # non-ASCII: a byte offset becomes a character offset
            pos = len(self.data[:pos].decode())
        return JSONDecodeError(msg, self.doc, pos)

    def skip(self, i):
        data = self.data
        n = self.n
        while i < n and data[i] in _WHITESPACE:
            i += 1
        return i

    def value(self, i):
        data = self.data
        if i >= self.n:
            raise self.error("Expecting value", i)
        c = data[i]
        if c == 34:
            return self.string(i + 1)
        if c == 123:
            return self.object(i + 1)
        if c == 91:
            return self.array(i + 1)
        if c == 110 and data[i:i + 4] == b"null":
            return None, i + 4
        if c == 116 and data[i:i + 4] == b"true":
            return True, i + 4
        if c == 102 and data[i:i + 5] == b"false":
            return False, i + 5
        if c == 78 and data[i:i + 3] == b"NaN":
            return self.parse_constant("NaN"), i + 3
        if c == 73 and data[i:i + 8] == b"Infinity":
            return self.parse_constant("Infinity"), i + 8
        if c == 45 and data[i + 1:i + 9] == b"Infinity":
            return self.parse_constant("-Infinity"), i + 9
        return self.number(i)

    def number(self, i):
        data = self.data
        n = self.n
        j = i + 1 if data[i] == 45 else i
        if j < n and data[j] == 48:
            j += 1
        elif j < n and data[j] in _DIGITS:
            j += 1
            while j < n and data[j] in _DIGITS:
                j += 1
        else:
            raise self.error("Expecting value", i)
        is_float = False
        if j + 1 < n and data[j] == 46 and data[j + 1] in _DIGITS:
            j += 2
            while j < n and data[j] in _DIGITS:
                j += 1
            is_float = True
        if j < n and (data[j] == 101 or data[j] == 69):
            k = j + 1
            if k < n and (data[k] == 43 or data[k] == 45):
                k += 1
            if k < n and data[k] in _DIGITS:
                k += 1
                while k < n and data[k] in _DIGITS:
                    k += 1
                j = k
                is_float = True
        text = data[i:j].decode()
        if is_float:
            return self.parse_float(text), j
        return self.parse_int(text), j

    def string(self, i):
        data = self.data
        n = self.n
        begin = i - 1
        chunks = []
        quote = data.find(b'"', i)
        while True:
            if quote < 0:
                self.check_controls(i, n)
                raise self.error("Unterminated string starting at", begin)
            if quote < i:
                quote = data.find(b'"', i)
                continue
            backslash = data.find(b"\\", i, quote)
            end = quote if backslash < 0 else backslash
            self.check_controls(i, end)
            if end > i:
                chunks.append(data[i:end].decode())
            if backslash < 0:
                return "".join(chunks), quote + 1
            i = self.escape(backslash, chunks, begin)

    def check_controls(self, i, end):
        if not self.strict or end <= i:
            return
        data = self.data
        if min(data[i:end]) < 32:
            while data[i] >= 32:
                i += 1
            raise self.error("Invalid control character at", i)

    def escape(self, backslash, chunks, begin):
        """Decodes the escape at `backslash` into chunks; returns the index after it."""
        data = self.data
        i = backslash + 1
        if i >= self.n:
            raise self.error("Unterminated string starting at", begin)
        c = data[i]
        if c != 117:
            text = _UNESCAPE.get(c)
            if text is None:
                raise self.error("Invalid \\escape", backslash)
            chunks.append(text)
            return i + 1
        code = self.hex4(i)
        i += 5
        if 0xD800 <= code <= 0xDBFF and data[i:i + 2] == b"\\u":
            low = self.hex4(i + 1)
            if 0xDC00 <= low <= 0xDFFF:
                code = 0x10000 + (((code - 0xD800) << 10) | (low - 0xDC00))
                i += 6
        chunks.append(chr(code))
        return i

    def hex4(self, u):
        digits = self.data[u + 1:u + 5]
        if len(digits) != 4 or not all(c in _HEX for c in digits):
            raise self.error("Invalid \\uXXXX escape", u)
        return int(digits.decode(), 16)

    def object(self, i):
        data = self.data
        pairs = []
        i = self.skip(i)
        if i < self.n and data[i] == 125:
            return self.make_object(pairs), i + 1
        while True:
            if i >= self.n or data[i] != 34:
                raise self.error("Expecting property name enclosed in double quotes", i)
            key, i = self.string(i + 1)
            i = self.skip(i)
            if i >= self.n or data[i] != 58:
                raise self.error("Expecting ':' delimiter", i)
            value, i = self.value(self.skip(i + 1))
            pairs.append((key, value))
            i = self.skip(i)
            if i < self.n and data[i] == 125:
                return self.make_object(pairs), i + 1
            if i >= self.n or data[i] != 44:
                raise self.error("Expecting ',' delimiter", i)
            i = self.skip(i + 1)

    def make_object(self, pairs):
        if self.object_pairs_hook is not None:
            return self.object_pairs_hook(pairs)
        result = dict(pairs)
        if self.object_hook is not None:
            return self.object_hook(result)
        return result

    def array(self, i):
        data = self.data
        items = []
        i = self.skip(i)
        if i < self.n and data[i] == 93:
            return items, i + 1
        while True:
            value, i = self.value(i)
            items.append(value)
            i = self.skip(i)
            if i < self.n and data[i] == 93:
                return items, i + 1
            if i >= self.n or data[i] != 44:
                raise self.error("Expecting ',' delimiter", i)
            i = self.skip(i + 1)


class JSONDecoder:
    """CPython's `json.JSONDecoder`: `decode(s)` and `raw_decode(s, idx)` with the same hooks."""

    def __init__(self, *, object_hook=None, parse_float=None, parse_int=None, parse_constant=None,
                 strict=True, object_pairs_hook=None):
        self.object_hook = object_hook
        self.object_pairs_hook = object_pairs_hook
        self.parse_float = parse_float or _parse_float
        self.parse_int = parse_int or int
        self.parse_constant = parse_constant or _constant
        self.strict = strict

    def raw_decode(self, s, idx=0):
        data = s.encode() if isinstance(s, str) else s
        scanner = _Scanner(s, data, self)
        if idx and len(data) != len(s):
            idx = len(s[:idx].encode())
        value, end = scanner.value(idx)
        if len(data) != len(s):
            end = len(data[:end].decode())
        return value, end

    def decode(self, s):
        data = s.encode()
        scanner = _Scanner(s, data, self)
        value, end = scanner.value(scanner.skip(0))
        end = scanner.skip(end)
        if end != len(data):
            raise scanner.error("Extra data", end)
        return value


def loads(s, *, cls=None, object_hook=None, parse_float=None, parse_int=None, parse_constant=None,
          object_pairs_hook=None, **kw):
    """Deserialize a JSON document (str, bytes or bytearray in UTF-8) as CPython's `json.loads`."""
    if isinstance(s, str):
        if s.startswith("\ufeff"):
            raise JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", s, 0)
    elif isinstance(s, (bytes, bytearray)):
        if s[:3] == b"\xef\xbb\xbf":
            s = s[3:]
        s = bytes(s).decode()
    else:
        raise TypeError("the JSON object must be str, bytes or bytearray, not %s" % type(s).__name__)
    decoder = (cls or JSONDecoder)(object_hook=object_hook, parse_float=parse_float,
                                   parse_int=parse_int, parse_constant=parse_constant,
                                   object_pairs_hook=object_pairs_hook, **kw)
    return decoder.decode(s)


def load(fp, **kw):
    """Deserialize the JSON document read from the file-like `fp`."""
    return loads(fp.read(), **kw)
