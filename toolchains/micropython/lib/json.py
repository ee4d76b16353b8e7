"""`json` for the MicroPython runtime: CPython's `dumps`/`loads` output and errors, byte for byte.

Written for MicroPython 1.19 and CPython alike. Floats are written with `repr` and read with
`float()`, which the runtime's patched core makes CPython's (shortest round-trip text, correctly
rounded parsing). The decoder works on UTF-8 bytes: indexing a MicroPython str is O(n) for
non-ASCII text.
Left out: the `JSONEncoder.iterencode` streaming API and UTF-16/32 byte input.
"""

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


_INF = float("inf")


# --- encoding ----------------------------------------------------------------------------------

_NAMED_ESCAPES = (("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\b", "\\b"), ("\f", "\\f"))
_CONTROL_ESCAPES = [(chr(n), "\\u%04x" % n) for n in range(32) if n not in (8, 9, 10, 12, 13)]


def _escape_non_ascii(data):
    """\\uXXXX (surrogate pairs above U+FFFF) for each non-ASCII character of UTF-8 `data`."""
    out = []
    n = len(data)
    start = i = 0
    while i < n:
        c = data[i]
        if c < 0x80:
            i += 1
            continue
        if start < i:
            out.append(data[start:i].decode())
        if c < 0xE0:
            code = ((c & 0x1F) << 6) | (data[i + 1] & 0x3F)
            i += 2
        elif c < 0xF0:
            code = ((c & 0x0F) << 12) | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F)
            i += 3
        else:
            code = (((c & 0x07) << 18) | ((data[i + 1] & 0x3F) << 12) | ((data[i + 2] & 0x3F) << 6)
                    | (data[i + 3] & 0x3F)) - 0x10000
            out.append("\\u%04x\\u%04x" % (0xD800 | (code >> 10), 0xDC00 | (code & 0x3FF)))
            i += 4
            start = i
            continue
        out.append("\\u%04x" % code)
        start = i
    out.append(data[start:].decode())
    return "".join(out)


def _encode_str(s, ascii_only):
    """A JSON string literal, as CPython writes it. The checks run over the UTF-8 bytes, which
    MicroPython scans in C without making a str per character."""
    data = s.encode()
    if not data:
        return '""'
    low = min(data)
    high = max(data) if ascii_only else 0
    backslash = data.find(b"\\") >= 0
    quote = data.find(b'"') >= 0
    if low >= 32 and high < 127 and not backslash and not quote:
        return '"' + s + '"'
    if backslash:
        s = s.replace("\\", "\\\\")
    if quote:
        s = s.replace('"', '\\"')
    if low < 32:
        for char, escape in _NAMED_ESCAPES:
            if char in s:
                s = s.replace(char, escape)
        if min(s.encode()) < 32:
            for char, escape in _CONTROL_ESCAPES:
                if char in s:
                    s = s.replace(char, escape)
    if high >= 127:
        if data.find(b"\x7f") >= 0:
            s = s.replace("\x7f", "\\u007f")
        if high >= 128:
            s = _escape_non_ascii(s.encode())
    return '"' + s + '"'


def _encoder(ascii_only, allow_nan, sort_keys, skipkeys, indent, item_separator, key_separator,
             default, check_circular):
    """A function obj -> list of str chunks, for one set of options (CPython's _make_iterencode)."""
    markers = {} if check_circular else None
    key_cache = {}  # the same keys come back in every object of a list
    if indent is not None and not isinstance(indent, str):
        indent = " " * indent

    def floatstr(o):
        if o != o:
            text = "NaN"
        elif o == _INF:
            text = "Infinity"
        elif o == -_INF:
            text = "-Infinity"
        else:
            return repr(o)
        if not allow_nan:
            raise ValueError("Out of range float values are not JSON compliant")
        return text

    def enter(o):
        if markers is not None:
            key = id(o)
            if key in markers:
                raise ValueError("Circular reference detected")
            markers[key] = o

    def leave(o):
        if markers is not None:
            del markers[id(o)]

    def keystr(key):
        if isinstance(key, str):
            return key
        if isinstance(key, float):
            return floatstr(key)
        if key is True:
            return "true"
        if key is False:
            return "false"
        if key is None:
            return "null"
        if isinstance(key, int):
            return str(int(key))
        if skipkeys:
            return None
        raise TypeError("keys must be str, int, float, bool or None, not %s" % type(key).__name__)

    def encode_list(o, out, level):
        if not o:
            out.append("[]")
            return
        enter(o)
        separator = item_separator
        if indent is None:
            out.append("[")
        else:
            level += 1
            inner = "\n" + indent * level
            separator += inner
            out.append("[" + inner)
        first = True
        for item in o:
            if first:
                first = False
            else:
                out.append(separator)
            encode(item, out, level)
        if indent is None:
            out.append("]")
        else:
            out.append("\n" + indent * (level - 1) + "]")
        leave(o)

    def encode_dict(o, out, level):
        if not o:
            out.append("{}")
            return
        enter(o)
        separator = item_separator
        if indent is None:
            out.append("{")
        else:
            level += 1
            inner = "\n" + indent * level
            separator += inner
            out.append("{" + inner)
        first = True
        for key, value in (sorted(o.items()) if sort_keys else o.items()):
            if not isinstance(key, str):
                key = keystr(key)
                if key is None:
                    continue
            if first:
                first = False
            else:
                out.append(separator)
            text = key_cache.get(key)
            if text is None:
                text = _encode_str(key, ascii_only) + key_separator
                if len(key_cache) < 256:
                    key_cache[key] = text
            out.append(text)
            encode(value, out, level)
        if indent is None:
            out.append("}")
        else:
            out.append("\n" + indent * (level - 1) + "}")
        leave(o)

    def encode(o, out, level):
        if isinstance(o, str):
            out.append(_encode_str(o, ascii_only))
        elif o is None:
            out.append("null")
        elif o is True:
            out.append("true")
        elif o is False:
            out.append("false")
        elif isinstance(o, int):
            out.append(str(int(o)))
        elif isinstance(o, float):
            out.append(floatstr(float(o)))
        elif isinstance(o, (list, tuple)):
            encode_list(o, out, level)
        elif isinstance(o, dict):
            encode_dict(o, out, level)
        else:
            enter(o)
            encode(default(o), out, level)
            leave(o)

    return encode


def _not_serializable(o):
    raise TypeError("Object of type %s is not JSON serializable" % type(o).__name__)


def _encode(obj, skipkeys, ensure_ascii, check_circular, allow_nan, sort_keys, indent, separators,
            default):
    if isinstance(obj, str):
        return _encode_str(obj, ensure_ascii)
    if separators is not None:
        item_separator, key_separator = separators
    elif indent is not None:
        item_separator, key_separator = ",", ": "
    else:
        item_separator, key_separator = ", ", ": "
    chunks = []
    _encoder(ensure_ascii, allow_nan, sort_keys, skipkeys, indent, item_separator, key_separator,
             default or _not_serializable, check_circular)(obj, chunks, 0)
    return "".join(chunks)


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
        self.indent = indent
        if separators is not None:
            self.item_separator, self.key_separator = separators
        elif indent is not None:
            self.item_separator = ","
        if default is not None:
            self.default = default

    def default(self, o):
        _not_serializable(o)

    def encode(self, o):
        return _encode(o, self.skipkeys, self.ensure_ascii, self.check_circular, self.allow_nan,
                       self.sort_keys, self.indent, (self.item_separator, self.key_separator),
                       self.default)


def dumps(obj, *, skipkeys=False, ensure_ascii=True, check_circular=True, allow_nan=True, cls=None,
          indent=None, separators=None, default=None, sort_keys=False, **kw):
    """Serialize `obj` to a JSON str, exactly as CPython's `json.dumps` does."""
    if cls is None and not kw:
        return _encode(obj, skipkeys, ensure_ascii, check_circular, allow_nan, sort_keys, indent,
                       separators, default)
    return (cls or JSONEncoder)(skipkeys=skipkeys, ensure_ascii=ensure_ascii,
                                check_circular=check_circular, allow_nan=allow_nan, indent=indent,
                                separators=separators, default=default, sort_keys=sort_keys,
                                **kw).encode(obj)


def dump(obj, fp, **kw):
    """Serialize `obj` as JSON into the file-like `fp` (anything with `write(str)`)."""
    fp.write(dumps(obj, **kw))


# --- decoding ----------------------------------------------------------------------------------

_WHITESPACE = {32, 9, 10, 13}
_DIGITS = {48, 49, 50, 51, 52, 53, 54, 55, 56, 57}
_FRACTION_OR_EXPONENT = {46, 69, 101}
_HEX = set(b"0123456789abcdefABCDEF")
_UNESCAPE = {34: '"', 92: "\\", 47: "/", 98: "\b", 102: "\f", 110: "\n", 114: "\r", 116: "\t"}
_CONSTANTS = {"NaN": float("nan"), "Infinity": _INF, "-Infinity": -_INF}


def _constant(name):
    return _CONSTANTS[name]


def _error(msg, doc, data, pos):
    if len(data) - 1 != len(doc):  # non-ASCII: a byte offset becomes a character offset
        pos = len(data[:pos].decode())
    return JSONDecodeError(msg, doc, pos)


def _check_controls(data, i, end, doc):
    if end > i and min(data[i:end]) < 32:
        while data[i] >= 32:
            i += 1
        raise _error("Invalid control character at", doc, data, i)


def _hex4(data, u, doc):
    text = data[u + 1:u + 5]
    if len(text) != 4 or not (text[0] in _HEX and text[1] in _HEX and text[2] in _HEX
                              and text[3] in _HEX):
        raise _error("Invalid \\uXXXX escape", doc, data, u)
    return int(text, 16)


def _scan_string(data, i, strict, doc):
    """(str, index after the closing quote) for the string whose opening quote is at i - 1."""
    quote = data.find(b'"', i)
    if quote >= 0:
        backslash = data.find(b"\\", i, quote)
        if backslash < 0:  # the common case: no escapes
            if strict:
                _check_controls(data, i, quote, doc)
            return data[i:quote].decode(), quote + 1
    begin = i - 1
    n = len(data) - 1
    chunks = []
    while True:
        if quote < 0:
            if strict:
                _check_controls(data, i, n, doc)
            raise _error("Unterminated string starting at", doc, data, begin)
        if quote < i:
            quote = data.find(b'"', i)
            continue
        backslash = data.find(b"\\", i, quote)
        end = quote if backslash < 0 else backslash
        if strict:
            _check_controls(data, i, end, doc)
        if end > i:
            chunks.append(data[i:end].decode())
        if backslash < 0:
            return "".join(chunks), quote + 1
        i = backslash + 1
        if i >= n:
            raise _error("Unterminated string starting at", doc, data, begin)
        c = data[i]
        if c != 117:
            text = _UNESCAPE.get(c)
            if text is None:
                raise _error("Invalid \\escape", doc, data, backslash)
            chunks.append(text)
            i += 1
            continue
        code = _hex4(data, i, doc)
        i += 5
        if 0xD800 <= code <= 0xDBFF and data[i] == 92 and data[i + 1] == 117:
            low = _hex4(data, i + 1, doc)
            if 0xDC00 <= low <= 0xDFFF:
                code = 0x10000 + (((code - 0xD800) << 10) | (low - 0xDC00))
                i += 6
        chunks.append(chr(code))


def _scan(doc, i, whole, decoder):
    """(value, end byte index) of the JSON value at byte i of `doc`; with whole=True, only
    whitespace may surround it. One loop with an explicit stack of open containers: MicroPython
    runs local-variable code fastest, and indexes bytes in O(1) where a str costs O(n). A NUL
    after the end stops every scan without a bounds check."""
    data = doc.encode() + b"\x00"
    n = len(data) - 1
    whitespace = _WHITESPACE
    digits = _DIGITS
    strict = decoder.strict
    object_hook = decoder.object_hook
    object_pairs_hook = decoder.object_pairs_hook
    parse_int = decoder.parse_int
    parse_float = decoder.parse_float
    containers = []  # open arrays (lists) and objects (lists of pairs)
    keys = []  # the pending key of each open object; None for an array
    if whole:
        while data[i] in whitespace:
            i += 1
    while True:
        c = data[i]
        if c == 34:
            value, i = _scan_string(data, i + 1, strict, doc)
        elif c == 123:
            i += 1
            while data[i] in whitespace:
                i += 1
            if data[i] == 125:
                i += 1
                value = []
                if object_pairs_hook is not None:
                    value = object_pairs_hook(value)
                else:
                    value = {}
                    if object_hook is not None:
                        value = object_hook(value)
            else:
                if data[i] != 34:
                    raise _error("Expecting property name enclosed in double quotes", doc, data, i)
                key, i = _scan_string(data, i + 1, strict, doc)
                while data[i] in whitespace:
                    i += 1
                if data[i] != 58:
                    raise _error("Expecting ':' delimiter", doc, data, i)
                i += 1
                while data[i] in whitespace:
                    i += 1
                containers.append([])
                keys.append(key)
                continue
        elif c == 91:
            i += 1
            while data[i] in whitespace:
                i += 1
            if data[i] == 93:
                i += 1
                value = []
            else:
                containers.append([])
                keys.append(None)
                continue
        elif c == 110 and data[i:i + 4] == b"null":
            value = None
            i += 4
        elif c == 116 and data[i:i + 4] == b"true":
            value = True
            i += 4
        elif c == 102 and data[i:i + 5] == b"false":
            value = False
            i += 5
        elif c == 78 and data[i:i + 3] == b"NaN":
            value = decoder.parse_constant("NaN")
            i += 3
        elif c == 73 and data[i:i + 8] == b"Infinity":
            value = decoder.parse_constant("Infinity")
            i += 8
        elif c == 45 and data[i + 1:i + 9] == b"Infinity":
            value = decoder.parse_constant("-Infinity")
            i += 9
        else:
            j = i + 1 if c == 45 else i
            c = data[j]
            if c == 48:
                j += 1
            elif c in digits and j < n:
                j += 1
                while data[j] in digits:
                    j += 1
            else:
                raise _error("Expecting value", doc, data, i)
            c = data[j]
            is_float = False
            if c == 46 and data[j + 1] in digits:
                j += 2
                while data[j] in digits:
                    j += 1
                is_float = True
                c = data[j]
            if c == 101 or c == 69:
                k = j + 1
                if data[k] == 43 or data[k] == 45:
                    k += 1
                if data[k] in digits:
                    k += 1
                    while data[k] in digits:
                        k += 1
                    j = k
                    is_float = True
            if is_float:
                value = parse_float(data[i:j].decode())
            else:
                value = parse_int(data[i:j].decode())
            i = j
        # A value is complete: it goes into the innermost open container, which may close too.
        while True:
            if not containers:
                if whole:
                    while data[i] in whitespace:
                        i += 1
                    if i != n:
                        raise _error("Extra data", doc, data, i)
                return value, i
            while data[i] in whitespace:
                i += 1
            c = data[i]
            key = keys[-1]
            top = containers[-1]
            if key is None:
                top.append(value)
                if c == 44:
                    i += 1
                    while data[i] in whitespace:
                        i += 1
                    break
                if c != 93:
                    raise _error("Expecting ',' delimiter", doc, data, i)
                i += 1
                value = top
            else:
                top.append((key, value))
                if c == 44:
                    i += 1
                    while data[i] in whitespace:
                        i += 1
                    if data[i] != 34:
                        raise _error("Expecting property name enclosed in double quotes", doc,
                                     data, i)
                    key, i = _scan_string(data, i + 1, strict, doc)
                    while data[i] in whitespace:
                        i += 1
                    if data[i] != 58:
                        raise _error("Expecting ':' delimiter", doc, data, i)
                    i += 1
                    while data[i] in whitespace:
                        i += 1
                    keys[-1] = key
                    break
                if c != 125:
                    raise _error("Expecting ',' delimiter", doc, data, i)
                i += 1
                if object_pairs_hook is not None:
                    value = object_pairs_hook(top)
                else:
                    value = dict(top)
                    if object_hook is not None:
                        value = object_hook(value)
            containers.pop()
            keys.pop()


class JSONDecoder:
    """CPython's `json.JSONDecoder`: `decode(s)` and `raw_decode(s, idx)` with the same hooks."""

    def __init__(self, *, object_hook=None, parse_float=None, parse_int=None, parse_constant=None,
                 strict=True, object_pairs_hook=None):
        self.object_hook = object_hook
        self.object_pairs_hook = object_pairs_hook
        self.parse_float = parse_float or float
        self.parse_int = parse_int or int
        self.parse_constant = parse_constant or _constant
        self.strict = strict

    def raw_decode(self, s, idx=0):
        """(value, index after it) for the JSON value starting at s[idx] (no whitespace skip)."""
        ascii_doc = len(s.encode()) == len(s)
        value, end = _scan(s, idx if ascii_doc else len(s[:idx].encode()), False, self)
        return value, (end if ascii_doc else len(s.encode()[:end].decode()))

    def decode(self, s):
        """The value of the JSON document `s` (a str)."""
        return _scan(s, 0, True, self)[0]


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
    if cls is None and object_hook is None and parse_float is None and parse_int is None and \
            parse_constant is None and object_pairs_hook is None and not kw:
        return _DEFAULT_DECODER.decode(s)
    decoder = (cls or JSONDecoder)(object_hook=object_hook, parse_float=parse_float,
                                   parse_int=parse_int, parse_constant=parse_constant,
                                   object_pairs_hook=object_pairs_hook, **kw)
    return decoder.decode(s)


_DEFAULT_DECODER = JSONDecoder()


def load(fp, **kw):
    """Deserialize the JSON document read from the file-like `fp`."""
    return loads(fp.read(), **kw)
