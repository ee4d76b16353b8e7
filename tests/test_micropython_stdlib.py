"""The MicroPython runtime's stdlib shims (toolchains/micropython/lib) against CPython's modules.

Each corpus below is one script of cases. It runs three ways and every line must match:
CPython with its real modules (the expected output), CPython with the shims first on sys.path
(their pure-Python paths, e.g. SHA-256 without the runtime's C), and the real MicroPython 1.19
dev interpreter. Values are printed in a form both interpreters spell alike (str as code
points, floats as their IEEE bits, dicts in their order), so a float off by one ulp, a key out
of order or another exception message fails the test. A shim removed from lib/ fails too: its
import fails under MicroPython.
"""

from __future__ import annotations

import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "toolchains" / "micropython" / "lib"

SHOW = r'''
import struct

def show(v):
    if v is None or v is True or v is False:
        return repr(v)
    t = type(v).__name__
    if isinstance(v, str):
        return "s'" + "".join(c if " " <= c <= "~" and c != "\\" else "\\%x;" % ord(c) for c in v) + "'"
    if isinstance(v, int):
        return "i" + str(v)
    if isinstance(v, float):
        return "f%016x" % struct.unpack("<Q", struct.pack("<d", v))[0]
    if isinstance(v, (bytes, bytearray)):
        return "b" + "".join("%02x" % c for c in v)
    if isinstance(v, (list, tuple)):
        return t + "[" + ",".join(show(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(show(k) + ":" + show(x) for k, x in v.items()) + "}"
    return t + "?"

def run(cases):
    for name, case in cases:
        try:
            out = show(case())
        except Exception as e:
            out = "!%s: %s" % (type(e).__name__, e)
        print(name + " => " + out)
'''

JSON = r'''
import json
from collections import OrderedDict

NESTED = {"z": 1, "a": [1, 2.5, {"k": None, "t": True, "f": False}], "m": {"b": [], "a": {}},
          "u": "h\u00e9llo \u2603 \U0001F600", "e": "q\"b\\s/\n\r\t\b\f\x01\x1f\x7f"}
# MicroPython's own parser can miss float literals by an ulp (1e23, 2.5e-300): built from bits.
FLOATS = [struct.unpack("<d", struct.pack("<Q", bits))[0] for bits in %(float_bits)s]
DOCS = ['{"a": 1, "b": [true, false, null], "c": "x"}', '  [1, -2, 3.5, -0.0, 1e3, 1E-3, 2e+2]  ',
        '"\\u00e9\\ud83d\\ude00\\n\\t\\"\\\\\\/"', '{"dup": 1, "dup": 2}', '[NaN, Infinity, -Infinity]',
        '0.30000000000000004', '1.7976931348623157e308', '1e400', '-1e400', '5e-324', '2.4703282292062328e-324',
        '2.4703282292062329e-324', '123456789012345678901234567890', '0.1e1', '1.000000000000000000000001',
        '"h\u00e9\u2603"', '{"\u00e9": "\u00e9"}', '[]', '{}', '[[[[]]]]', '"\\ud800x"', '-0', '\n\t{ "a" :\r\n1 }']
BAD = ['', ' ', '[1,]', '{"a":1,}', '"\\x"', '"\\u12"', '"\\u12zz"', '"abc', '[1 2]', '{"a" 1}', '{1:2}',
       '[1]x', '"a\x01"', '{"a":1 "b"}', '[', '{', '{"a":', 'nul', '-', '[-]', '01', '1.', '.5', '+1',
       '"\\', '[1,2', 'tru', '{"a":1', '["\u00e9", x]', '\u00e9', '"\u00e9\x02"', '{"a"', '1e', 'NaNa',
       '"abc\\"', '[1]\n\n  x', '\ufeff[]']

def dumps_cases():
    cases = []
    for i, f in enumerate(FLOATS):
        cases.append(("float%d" % i, lambda f=f: json.dumps(f)))
        cases.append(("floatkey%d" % i, lambda f=f: json.dumps({f: 1})))
        cases.append(("floatneg%d" % i, lambda f=f: json.dumps([-f])))
    variants = [dict(), dict(indent=2), dict(indent=0), dict(indent="\t"), dict(indent=-1),
                dict(sort_keys=True), dict(separators=(",", ":")), dict(indent=3, separators=("; ", " = ")),
                dict(ensure_ascii=False), dict(ensure_ascii=False, indent=1, sort_keys=True)]
    for i, kw in enumerate(variants):
        cases.append(("nested%d" % i, lambda kw=kw: json.dumps(NESTED, **kw)))
        cases.append(("tuple%d" % i, lambda kw=kw: json.dumps((1, [2, (3,)], [], {}), **kw)))
    cases += [
        ("keys", lambda: json.dumps({1: "a", 2.5: "b", True: "c", False: "d", None: "e", -3: "f"})),
        ("keys_order", lambda: json.dumps({"b": 1, "a": 2, "c": {"y": 1, "x": 2}})),
        ("ordereddict", lambda: json.dumps(OrderedDict([("b", 1), ("a", 2)]))),
        ("badkey", lambda: json.dumps({(1, 2): 3})),
        ("skipkeys", lambda: json.dumps({(1, 2): 3, "a": 1, b"x": 2, "b": 2}, skipkeys=True)),
        ("skipkeys_indent", lambda: json.dumps({(1, 2): 3, "a": 1}, skipkeys=True, indent=2)),
        ("nan", lambda: json.dumps([float("nan"), float("inf"), -float("inf")])),
        ("nan_key", lambda: json.dumps({float("nan"): 1, float("inf"): 2})),
        ("allow_nan", lambda: json.dumps([float("nan")], allow_nan=False)),
        ("allow_inf", lambda: json.dumps({"x": float("inf")}, allow_nan=False)),
        ("default", lambda: json.dumps({"s": len({1, 2}), "o": b"x"}, default=lambda o: o.decode())),
        ("default_set", lambda: json.dumps([{3}], default=lambda o: sorted(o))),
        ("not_serializable", lambda: json.dumps([1, b"x"])),
        ("not_serializable_obj", lambda: json.dumps(object())),
        ("circular", lambda: (lambda l: (l.append(l), json.dumps(l))[1])([])),
        ("str_top", lambda: json.dumps("\u00e9\U0001F600\x00")),
        ("str_top_noascii", lambda: json.dumps("\u00e9\U0001F600\x00", ensure_ascii=False)),
        ("big_int", lambda: json.dumps([2 ** 100, -2 ** 70, 0, -1])),
        ("bools", lambda: json.dumps([True, False, None])),
        ("empty", lambda: json.dumps([[], {}, "", [[]]], indent=2)),
        ("encoder_cls", lambda: json.JSONEncoder(sort_keys=True, indent=1).encode({"b": [1], "a": 2})),
        ("encoder_subclass", lambda: json.dumps({"x": {5}}, cls=SetEncoder)),
        ("dump", lambda: dump_to_stringio({"a": [1, "\u00e9"]}, indent=1)),
    ]
    return cases

class SetEncoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, set):
            return sorted(o)
        return json.JSONEncoder.default(self, o)

def dump_to_stringio(obj, **kw):
    import io
    out = io.StringIO()
    json.dump(obj, out, **kw)
    return out.getvalue()

def loads_cases():
    cases = []
    for i, doc in enumerate(DOCS):
        cases.append(("doc%d" % i, lambda doc=doc: json.loads(doc)))
        cases.append(("docbytes%d" % i, lambda doc=doc: json.loads(doc.encode())))
    for i, f in enumerate(FLOATS):
        cases.append(("roundtrip%d" % i, lambda f=f: json.loads(json.dumps(f)) == f))
        cases.append(("parse17_%d" % i, lambda f=f: json.loads("%.17g" % f)))
        cases.append(("parse25_%d" % i, lambda f=f: json.loads("[%.25e]" % f)))
    for i, doc in enumerate(BAD):
        cases.append(("bad%d" % i, lambda doc=doc: json.loads(doc)))
        cases.append(("badpos%d" % i, lambda doc=doc: error_fields(doc)))
    cases += [
        ("parse_float", lambda: json.loads("[1.5, 2, 1e2]", parse_float=lambda s: "F" + s)),
        ("parse_int", lambda: json.loads("[1.5, 2, -30]", parse_int=lambda s: "I" + s)),
        ("parse_constant", lambda: json.loads("[NaN, -Infinity]", parse_constant=lambda s: "C" + s)),
        ("object_hook", lambda: json.loads('{"a": {"b": 1}}', object_hook=lambda d: sorted(d.items()))),
        ("object_pairs_hook", lambda: json.loads('{"b": 1, "a": 2, "b": 3}', object_pairs_hook=list)),
        ("both_hooks", lambda: json.loads('{"a": 1}', object_hook=len, object_pairs_hook=list)),
        ("strict_false", lambda: json.loads('"a\x01b"', strict=False)),
        ("bytearray", lambda: json.loads(bytearray(b'{"a": [1]}'))),
        ("bom_bytes", lambda: json.loads(b'\xef\xbb\xbf{"a": 1}')),
        ("not_str", lambda: json.loads(12)),
        ("raw_decode", lambda: json.JSONDecoder().raw_decode('{"a": 1} tail')),
        ("raw_decode_idx", lambda: json.JSONDecoder().raw_decode('xx [1, "\u00e9"] tail', 3)),
        ("is_value_error", lambda: issubclass(json.JSONDecodeError, ValueError)),
        ("load", lambda: load_from_stringio('{"a": [1, 2]}')),
        ("roundtrip_nested", lambda: json.loads(json.dumps(NESTED)) == NESTED),
    ]
    return cases

def error_fields(doc):
    try:
        json.loads(doc)
    except json.JSONDecodeError as e:
        return [e.msg, e.pos, e.lineno, e.colno, e.doc == doc]

def load_from_stringio(text):
    import io
    return json.load(io.StringIO(text))

run(dumps_cases())
run(loads_cases())
'''

ENCODINGS = r'''
import base64, binascii

DATA = [b"", b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar", bytes(range(256)), b"\xfb\xff\xfe", b"\x00" * 7]
B64_BAD = [b"Zm9v\nYmFy", b"Zm9vYg", b"Zm9vY", b"Zm9vYg=", b"Zm9vYg==x", b"=Zm9v", b"Zm9v====", b"Zm=9v",
           b"Zm9v!YmFy", b"Z", b"Zm9vYmFy==", b"Zm", "Zm9v", b"Zm9vYg=\n=", b"", b"====", "Zm9\u00e9"]

def cases():
    c = []
    for i, d in enumerate(DATA):
        c += [("b64e%d" % i, lambda d=d: base64.b64encode(d)),
              ("b64rt%d" % i, lambda d=d: base64.b64decode(base64.b64encode(d)) == d),
              ("urle%d" % i, lambda d=d: base64.urlsafe_b64encode(d)),
              ("urld%d" % i, lambda d=d: base64.urlsafe_b64decode(base64.urlsafe_b64encode(d))),
              ("alte%d" % i, lambda d=d: base64.b64encode(d, b"*!")),
              ("altd%d" % i, lambda d=d: base64.b64decode(base64.b64encode(d, b"*!"), b"*!")),
              ("std%d" % i, lambda d=d: base64.standard_b64decode(base64.standard_b64encode(d))),
              ("b32e%d" % i, lambda d=d: base64.b32encode(d)),
              ("b32d%d" % i, lambda d=d: base64.b32decode(base64.b32encode(d))),
              ("b32h%d" % i, lambda d=d: base64.b32hexdecode(base64.b32hexencode(d))),
              ("b16e%d" % i, lambda d=d: base64.b16encode(d)),
              ("b16d%d" % i, lambda d=d: base64.b16decode(base64.b16encode(d))),
              ("hex%d" % i, lambda d=d: binascii.hexlify(d)),
              ("hexsep%d" % i, lambda d=d: binascii.hexlify(d, "-")),
              ("hexsep2%d" % i, lambda d=d: binascii.hexlify(d, b":", 2)),
              ("hexsepneg%d" % i, lambda d=d: binascii.hexlify(d, " ", -3)),
              ("unhex%d" % i, lambda d=d: binascii.unhexlify(binascii.hexlify(d).upper())),
              ("b2a%d" % i, lambda d=d: binascii.b2a_base64(d)),
              ("b2a_nonl%d" % i, lambda d=d: binascii.b2a_base64(d, newline=False)),
              ("crc%d" % i, lambda d=d: binascii.crc32(d)),
              ("crc_cont%d" % i, lambda d=d: binascii.crc32(d, 12345))]
    for i, d in enumerate(B64_BAD):
        c += [("bad%d" % i, lambda d=d: base64.b64decode(d)),
              ("badv%d" % i, lambda d=d: base64.b64decode(d, validate=True)),
              ("bada2b%d" % i, lambda d=d: binascii.a2b_base64(d)),
              ("badstrict%d" % i, lambda d=d: binascii.a2b_base64(d, strict_mode=True)),
              ("badurl%d" % i, lambda d=d: base64.urlsafe_b64decode(d))]
    c += [
        ("str_in", lambda: base64.b64decode("aGVsbG8=")),
        ("url_plus", lambda: base64.urlsafe_b64decode("-_-_+/+/")),
        ("unhex_odd", lambda: binascii.unhexlify(b"abc")),
        ("unhex_bad", lambda: binascii.unhexlify(b"zz")),
        ("unhex_str", lambda: binascii.unhexlify("00ff")),
        ("a2b_hex", lambda: binascii.a2b_hex(b"4142")),
        ("b2a_hex", lambda: binascii.b2a_hex(b"AB")),
        ("b16_lower", lambda: base64.b16decode(b"ab")),
        ("b16_casefold", lambda: base64.b16decode(b"ab", casefold=True)),
        ("b32_bad", lambda: base64.b32decode(b"MZXW6===x")),
        ("b32_casefold", lambda: base64.b32decode(b"mzxw6===", casefold=True)),
        ("b32_map01", lambda: base64.b32decode(b"MZXW6YQ1", map01=b"L")),
        ("b32_padding", lambda: base64.b32decode(b"MZXW6YQ")),
        ("b32_digit", lambda: base64.b32decode(b"MZXW6Y1=")),
        ("enc_str", lambda: base64.b64encode("x")),
        ("hex_str", lambda: binascii.hexlify("x")),
        ("error_is_value_error", lambda: issubclass(binascii.Error, ValueError)),
        ("crc_str", lambda: binascii.crc32(b"The quick brown fox jumps over the lazy dog")),
    ]
    return c

run(cases())
'''

HASHES = r'''
import hashlib, hmac

DATA = [b"", b"abc", b"a" * 55, b"a" * 56, b"a" * 64, b"a" * 119, bytes(range(256)) * 3, "\u00e9".encode()]

def digests(name, d):
    h = hashlib.new(name, d)
    full = h.digest()
    h2 = hashlib.new(name)
    h2.update(d[:10])
    copy = h2.copy()
    h2.update(d[10:])
    copy.update(d[10:])
    return [full, h.hexdigest(), h2.digest() == full, copy.hexdigest() == h.hexdigest(),
            h.name, h.digest_size, h.block_size]

def cases():
    c = []
    for i, d in enumerate(DATA):
        for name in ("sha256", "sha1", "md5", "SHA256"):
            c.append(("%s_%d" % (name, i), lambda d=d, name=name: digests(name, d)))
        c += [("sha256ctor%d" % i, lambda d=d: hashlib.sha256(d).hexdigest()),
              ("sha1ctor%d" % i, lambda d=d: hashlib.sha1(d).digest()),
              ("md5ctor%d" % i, lambda d=d: hashlib.md5(d).hexdigest()),
              ("hmac256_%d" % i, lambda d=d: hmac.new(b"key", d, "sha256").hexdigest()),
              ("hmac_long_key%d" % i, lambda d=d: hmac.new(b"k" * 100, d, hashlib.sha256).digest()),
              ("hmac_sha1_%d" % i, lambda d=d: hmac.new(d or b"x", b"msg", hashlib.sha1).hexdigest()),
              ("hmac_md5_%d" % i, lambda d=d: hmac.digest(b"key", d, "md5")),
              ("hmac_digest%d" % i, lambda d=d: hmac.digest(b"key", d, "sha256"))]
    c += [
        ("hmac_update", lambda: hmac_update()),
        ("hmac_attrs", lambda: [hmac.new(b"k", None, "sha256").name, hmac.new(b"k", None, "sha256").digest_size,
                                hmac.new(b"k", None, "sha256").block_size]),
        ("hmac_no_digestmod", lambda: hmac.new(b"k", b"m")),
        ("hmac_str_key", lambda: hmac.new("k", b"m", "sha256")),
        ("cmp_eq", lambda: hmac.compare_digest(b"abc", b"abc")),
        ("cmp_ne", lambda: hmac.compare_digest(b"abc", b"abd")),
        ("cmp_len", lambda: hmac.compare_digest(b"abc", b"ab")),
        ("cmp_str", lambda: hmac.compare_digest("abc", "abc")),
        ("cmp_mixed", lambda: hmac.compare_digest("abc", b"abc")),
        ("new_unknown", lambda: hashlib.new("whirlpool")),
        ("hash_str", lambda: hashlib.sha256("text")),
        ("guaranteed", lambda: sorted(a for a in hashlib.algorithms_guaranteed if a in ("sha256", "sha1", "md5"))),
    ]
    return c

def hmac_update():
    h = hmac.new(b"secret", digestmod="sha256")
    h.update(b"part one ")
    copy = h.copy()
    h.update(b"part two")
    return [h.hexdigest(), copy.hexdigest(), h.digest() == hmac.new(b"secret", b"part one part two", "sha256").digest()]

run(cases())
'''

URLS = r'''
from urllib.parse import (quote, quote_plus, unquote, unquote_plus, urlencode, parse_qs, parse_qsl,
                          urlsplit, urlparse, urlunsplit, urlunparse, quote_from_bytes, unquote_to_bytes,
                          urljoin, urldefrag)

BASE = "http://a/b/c/d;p?q"
RELATIVE = ["g:h", "g", "./g", "g/", "/g", "//g", "?y", "g?y", "#s", "g#s", "g?y#s", ";x", "g;x", "g;x?y#s",
            "", ".", "./", "..", "../", "../g", "../..", "../../", "../../g", "../../../g", "../../../../g",
            "/./g", "/../g", "g.", ".g", "g..", "..g", "./../g", "./g/.", "g/./h", "g/../h", "g;x=1/./y",
            "g;x=1/../y", "g?y/./x", "g?y/../x", "g#s/./x", "g#s/../x", "http:g", "https://other/x",
            "mailto:x@y", "//h2/p?q"]

STRINGS = ["", "abc", "a b&c=d/e?f#g", "\u00e9\u2603\U0001F600", "~_.-", "100%", "%41%zz%4", "a+b",
           "%e2%82", "%ff%fe", "%C3%A9%e2", "x%E2%82%ACy", "%F0%9F%98", "%ed%a0%80", "%C0%80", "%F4%90%80%80",
           "\u00e9%E2%82", "%E2\u00e9"]
URLS = ["http://user:pw@Example.COM:8080/p/a/t/h;params?query=1&x=2#frag", "https://[::1]:443/x",
        "/path/only?x=1", "//host/path", "mailto:someone@example.com", "HTTP://h/", "file:///etc/passwd",
        "  http://h/a\tb\nc", "http://h:abc/", "http://h:99999/", "x:y", "1http://h", "http://[::1/",
        "http://h/p#f?q", "https://h/p;a;b/c;d?q", "", "?q", "#f", "http://u@h", "http://h:/"]

def parts(r):
    out = list(r)
    for attr in ("hostname", "username", "password", "port"):
        try:
            out.append(getattr(r, attr))
        except ValueError as e:
            out.append("!" + str(e))
    out.append(r.geturl())
    return out

def cases():
    c = []
    for i, s in enumerate(STRINGS):
        c += [("quote%d" % i, lambda s=s: quote(s)),
              ("quote_safe%d" % i, lambda s=s: quote(s, safe="")),
              ("quote_safe2%d" % i, lambda s=s: quote(s, safe="&=\u00e9")),
              ("quote_plus%d" % i, lambda s=s: quote_plus(s)),
              ("quote_plus_safe%d" % i, lambda s=s: quote_plus(s, safe="/")),
              ("unquote%d" % i, lambda s=s: unquote(s)),
              ("unquote_plus%d" % i, lambda s=s: unquote_plus(s)),
              ("unquote_bytes%d" % i, lambda s=s: unquote_to_bytes(s)),
              ("roundtrip%d" % i, lambda s=s: unquote(quote(s)) == s)]
    for i, u in enumerate(URLS):
        c += [("split%d" % i, lambda u=u: parts(urlsplit(u))),
              ("parse%d" % i, lambda u=u: parts(urlparse(u))),
              ("split_nofrag%d" % i, lambda u=u: list(urlsplit(u, allow_fragments=False))),
              ("split_scheme%d" % i, lambda u=u: list(urlsplit(u, scheme="https"))),
              ("unsplit%d" % i, lambda u=u: urlunsplit(urlsplit(u))),
              ("unparse%d" % i, lambda u=u: urlunparse(urlparse(u)))]
    for i, rel in enumerate(RELATIVE):
        c += [("join%d" % i, lambda rel=rel: urljoin(BASE, rel)),
              ("join_dir%d" % i, lambda rel=rel: urljoin("https://h/a/b/", rel)),
              ("join_nofrag%d" % i, lambda rel=rel: urljoin(BASE, rel, allow_fragments=False))]
    c += [
        ("join_empty", lambda: [urljoin("", "x"), urljoin("http://h/", ""), urljoin("ftp://h/a", "b")]),
        ("defrag", lambda: [list(urldefrag("http://h/p?q#frag")), list(urldefrag("http://h/p")), urldefrag("/x#y").fragment]),
        ("split_attrs", lambda: [urlsplit("http://h/p?q#f").scheme, urlsplit("http://h/p?q#f").netloc,
                                 urlsplit("http://h/p?q#f").path, urlsplit("http://h/p?q#f").query,
                                 urlsplit("http://h/p?q#f").fragment, urlparse("http://h/p;x").params]),
        ("split_type", lambda: type(urlsplit("http://h/")).__name__),
        ("encode_dict", lambda: urlencode({"a": "1 2", "b": "\u00e9&", "c": 3, "d": b"x y"})),
        ("encode_pairs", lambda: urlencode([("a", "x"), ("a", "y"), ("b/c", "/")])),
        ("encode_doseq", lambda: urlencode({"a": [1, 2], "b": "xy", "c": (b"z",), "d": 5}, doseq=True)),
        ("encode_no_doseq", lambda: urlencode({"a": [1, 2]})),
        ("encode_safe", lambda: urlencode({"a/b": "c/d"}, safe="/")),
        ("encode_quote_via", lambda: urlencode({"a": "x y"}, quote_via=quote)),
        ("encode_bad", lambda: urlencode("abc")),
        ("qsl", lambda: parse_qsl("a=1&b=2&a=3&c=&d&e=%20x+y&=v&&f=%E2%82%AC")),
        ("qsl_blank", lambda: parse_qsl("a=1&c=&d&&", keep_blank_values=True)),
        ("qsl_strict", lambda: parse_qsl("a=1&d", strict_parsing=True)),
        ("qsl_strict_empty", lambda: parse_qsl("a=1&&b=2", strict_parsing=True)),
        ("qsl_sep", lambda: parse_qsl("a=1;b=2", separator=";")),
        ("qsl_max", lambda: parse_qsl("a=1&b=2&c=3", max_num_fields=2)),
        ("qs", lambda: parse_qs("a=1&b=2&a=3&c=&d")),
        ("qs_blank", lambda: parse_qs("a=1&b=&a=", keep_blank_values=True)),
        ("qfb", lambda: quote_from_bytes(b"\x00a b/\xff")),
        ("quote_bytes", lambda: quote(b"a b/")),
        ("unquote_bytes_in", lambda: unquote(b"a%20b")),
    ]
    return c

run(cases())
'''

MISC = r'''
import string, secrets, random, time, logging, typing
import __future__

def token_checks():
    hexed = secrets.token_hex(16)
    url = secrets.token_urlsafe(32)
    raw = secrets.token_bytes()
    return [len(hexed), all(c in string.hexdigits for c in hexed), len(url),
            all(c in string.ascii_letters + string.digits + "-_" for c in url), len(raw),
            secrets.token_bytes(8) != secrets.token_bytes(8), len(secrets.token_hex()),
            secrets.compare_digest(b"a", b"a"), 0 <= secrets.randbelow(10) < 10,
            secrets.randbits(7) < 128, secrets.choice("xyz") in "xyz"]

def random_checks():
    r = [random.random() for _ in range(200)]
    ints = [random.randint(1, 6) for _ in range(300)]
    ranges = [random.randrange(10, 20, 3) for _ in range(100)]
    seq = list(range(20))
    random.shuffle(seq)
    a = random.Random(42)
    b = random.Random(42)
    sample = random.sample(range(100), 10)
    return [all(0.0 <= x < 1.0 for x in r), len(set(r)) == 200, sorted(set(ints)) == [1, 2, 3, 4, 5, 6],
            set(ranges) <= {10, 13, 16, 19}, sorted(seq) == list(range(20)), seq != list(range(20)),
            [a.random() for _ in range(5)] == [b.random() for _ in range(5)],
            a.getrandbits(100) == b.getrandbits(100), random.getrandbits(0), random.getrandbits(1) in (0, 1),
            random.choice([7]), len(sample) == len(set(sample)) == 10, 1.0 <= random.uniform(1, 2) <= 2.0,
            len(random.randbytes(5)), len(random.choices("ab", k=4)), random.choices("ab", [0, 1], k=3),
            random.Random(1).random() != random.Random(2).random()]

def time_checks():
    now = time.time()
    ns = time.time_ns()
    m1 = time.monotonic_ns()
    m2 = time.monotonic_ns()
    return [1.7e9 < now < 4e9, abs(ns / 1e9 - now) < 5, m2 >= m1, time.perf_counter() >= 0,
            isinstance(time.monotonic(), float), time.perf_counter_ns() > 0]

def calendar(t):
    g = time.gmtime(t)
    return [list(g)[:9], g.tm_year, g.tm_yday, time.strftime("%Y-%m-%dT%H:%M:%S %a %A %b %B %j %y %% %Z %z", g),
            time.asctime(g)]

def log_checks():
    import io
    log = logging.getLogger("app")
    child = logging.getLogger("app.sub")
    seen = []
    class Keep(logging.Handler):
        def emit(self, record):
            seen.append((record.levelname, record.name, self.format(record)))
    handler = Keep()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.debug("hidden %s", 1)
    log.info("shown %s %d", "a", 2)
    child.warning("from %(who)s", {"who": "child"})
    log.error("plain %")
    log.critical("crit")
    log.log(logging.WARNING, "via log")
    child.setLevel("ERROR")
    child.warning("hidden too")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("caught")
    exc_text = seen.pop()[2]
    class Broken(logging.Handler):
        def emit(self, record):
            raise RuntimeError("broken handler")
    broken = Broken()
    log.addHandler(broken)
    try:
        log.error("raised by the handler")
    except RuntimeError as e:
        seen.append(str(e))
    log.removeHandler(broken)
    stream = __import__("io").StringIO()
    streamed = logging.StreamHandler(stream)
    streamed.setFormatter(logging.Formatter("%(nonexistent)s"))
    log.addHandler(streamed)
    log.error("a bad format is swallowed")
    log.removeHandler(streamed)
    stamped = logging.Formatter("%(levelno)d|%(msg)s|%(message)s").format(
        logging.LogRecord("n", 20, "p", 1, "a %s", ("b",), None))
    return [seen, stamped, exc_text.startswith("ERROR app caught\nTraceback (most recent call last):\n  File "),
            exc_text.endswith("ValueError: boom"),
            log.getEffectiveLevel(), child.getEffectiveLevel(), logging.getLogger("app") is log,
            logging.getLogger() is logging.getLogger(None), log.isEnabledFor(logging.DEBUG),
            [logging.DEBUG, logging.INFO, logging.WARNING, logging.WARN, logging.ERROR, logging.CRITICAL,
             logging.FATAL, logging.NOTSET], logging.getLevelName(logging.ERROR), logging.getLevelName("INFO")]

def typing_checks():
    from typing import Any, Optional, Union, List, Dict, Callable, TypeVar, Generic, cast, overload, TYPE_CHECKING
    T = TypeVar("T")
    class Box(Generic[T]):
        def __init__(self, item: T) -> None:
            self.item = item
    def f(x: Optional[int] = None, y: Union[int, str] = 0) -> Dict[str, List[Any]]:
        return {"x": [x, y]}
    handler: Callable[..., None] = print
    return [TYPE_CHECKING, cast(int, "7"), Box(3).item, f(1), overload(len) is not None, handler is print]

def string_checks():
    return [string.ascii_letters, string.ascii_lowercase, string.ascii_uppercase, string.digits,
            string.hexdigits, string.octdigits, string.punctuation, string.whitespace, string.printable,
            string.capwords("hello   wORLD  x"), string.capwords("a-b-c", "-")]

run([("tokens", token_checks), ("random", random_checks), ("time", time_checks),
     ("gm0", lambda: calendar(0)), ("gm1", lambda: calendar(951782400)), ("gm2", lambda: calendar(1709251199.75)),
     ("gm3", lambda: calendar(4102444800)), ("gm4", lambda: calendar(1234567890)), ("gm5", lambda: calendar(-86401)),
     ("logging", log_checks), ("typing", typing_checks), ("string", string_checks),
     ("future", lambda: [annotations is not None, __future__.annotations is not None])])
'''

_FLOAT_VALUES = [0.1, 0.2, 0.1 + 0.2, 1e16, 1e15, 123456789.123, 1.5e-7, 1e-5, 1e-4, 5e-324, 2.5e-300,
                 1.7976931348623157e308, 2.2250738585072014e-308, -0.0, 0.0, 1.0, -2.5, 100.0, 1e22,
                 1e23, 3.141592653589793, 2.675, 9007199254740993.0, 4.35, 0.3, 1 / 3, 2 / 3, 1e100,
                 1e-7, 123e-20, 0.000123, 1234567890123456.7, 12345678901234567.0, 2 ** 63 + 0.0]
_rng = random.Random(7)
_FLOAT_VALUES += [struct.unpack("<d", struct.pack("<Q", _rng.getrandbits(64)))[0] for _ in range(150)]
_FLOAT_VALUES += [float("%.*g" % (_rng.randint(1, 17), _rng.uniform(0, 1000) * 10.0 ** _rng.randint(-30, 30)))
                  for _ in range(150)]
_FLOAT_VALUES = [f for f in _FLOAT_VALUES if f == f and abs(f) != float("inf")]
JSON = JSON.replace("%(float_bits)s", repr([struct.unpack("<Q", struct.pack("<d", f))[0]
                                            for f in _FLOAT_VALUES]))

TOOLS = r"""
import functools, itertools
from functools import partial, reduce, lru_cache, cache, wraps, cmp_to_key, total_ordering

calls = []

@lru_cache(maxsize=2)
def square(x):
    calls.append(x)
    return x * x

@lru_cache
def plain(x):
    return -x

@cache
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def cached():
    del calls[:]
    values = [square(2), square(3), square(2), square(4), square(3), square(2)]
    square.cache_clear()
    square(2)
    return [values, calls, plain(5), fib(80)]

def decorated():
    def deco(f):
        @wraps(f)
        def inner(*a, **k):
            return ("wrapped", f(*a, **k))
        return inner
    @deco
    def g(x, y=1):
        return x + y
    return g(1, y=5)

@total_ordering
class Version:
    def __init__(self, n):
        self.n = n
    def __eq__(self, other):
        return self.n == other.n
    def __lt__(self, other):
        return self.n < other.n

def ordering():
    a, b = Version(1), Version(2)
    return [a < b, a <= b, a > b, a >= b, b >= a, a <= Version(1), a >= Version(1)]

it = itertools
run([
    ("partial", lambda: [partial(int, "ff")(16), partial(pow, 2)(10), partial(lambda *a, **k: (a, sorted(k.items())), 1, x=2)(3, y=4)]),
    ("reduce", lambda: [reduce(lambda a, b: a * b, [1, 2, 3, 4]), reduce(lambda a, b: a + b, [], 7)]),
    ("reduce_empty", lambda: reduce(lambda a, b: a, [])),
    ("cached", cached),
    ("wraps", decorated),
    ("cmp_to_key", lambda: sorted([3, 1, 2, 5], key=cmp_to_key(lambda a, b: b - a))),
    ("total_ordering", ordering),
    ("count", lambda: list(it.islice(it.count(5, 3), 4))),
    ("cycle", lambda: list(it.islice(it.cycle("ab"), 5))),
    ("repeat", lambda: [list(it.repeat("x", 3)), list(it.islice(it.repeat(1), 2))]),
    ("accumulate", lambda: [list(it.accumulate([1, 2, 3, 4])), list(it.accumulate([3, 1, 4], max)), list(it.accumulate([1, 2], initial=10)), list(it.accumulate([]))]),
    ("chain", lambda: [list(it.chain("ab", [1, 2], ())), list(it.chain.from_iterable(["xy", [3]]))]),
    ("compress", lambda: list(it.compress("abcdef", [1, 0, 1, 0, 1]))),
    ("dropwhile", lambda: list(it.dropwhile(lambda x: x < 3, [1, 2, 3, 1, 5]))),
    ("takewhile", lambda: list(it.takewhile(lambda x: x < 3, [1, 2, 3, 1, 5]))),
    ("filterfalse", lambda: [list(it.filterfalse(lambda x: x % 2, range(7))), list(it.filterfalse(None, [0, 1, "", "a"]))]),
    ("groupby", lambda: [(k, list(g)) for k, g in it.groupby("aaabccaa")]),
    ("groupby_key", lambda: [(k, list(g)) for k, g in it.groupby([1, 3, 2, 4, 5], key=lambda x: x % 2)]),
    ("islice", lambda: [list(it.islice("abcdefg", 3)), list(it.islice("abcdefg", 2, 6, 2)), list(it.islice("abc", 1, None)), list(it.islice("abc", None))]),
    ("islice_bad", lambda: list(it.islice("abc", -1))),
    ("pairwise", lambda: [list(it.pairwise("abcd")), list(it.pairwise("a"))]),
    ("starmap", lambda: list(it.starmap(pow, [(2, 3), (3, 2)]))),
    ("zip_longest", lambda: [list(it.zip_longest("ab", "xyz", fillvalue="-")), list(it.zip_longest()), list(it.zip_longest("ab"))]),
    ("product", lambda: [list(it.product("ab", [1, 2])), list(it.product([0, 1], repeat=2)), list(it.product())]),
    ("permutations", lambda: [list(it.permutations("abc")), list(it.permutations(range(3), 2))]),
    ("combinations", lambda: [list(it.combinations("abcd", 2)), list(it.combinations(range(4), 3)), list(it.combinations("ab", 3))]),
    ("combinations_wr", lambda: list(it.combinations_with_replacement("abc", 2))),
])
"""

CORPORA = {"json": JSON, "encodings": ENCODINGS, "hashes": HASHES, "urls": URLS, "misc": MISC, "tools": TOOLS}


def _script(corpus: str) -> str:
    return "from __future__ import annotations\n" + SHOW + corpus


#: `_proxywasm_host` exists only in a filter module: this stand-in records what logging sends.
FAKE_HOST = """
calls = []

def log(level, message):
    calls.append((level, bytes(message)))
"""


@pytest.fixture(scope="module")
def host_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("fake-host")
    (directory / "_proxywasm_host.py").write_text(FAKE_HOST)
    return directory


def _cpython(script: str, *, shims: bool, host: Path | None = None) -> subprocess.CompletedProcess:
    if shims:  # the shims shadow CPython's modules; `time` is builtin, so it is loaded by path;
        # `collections` stays CPython's (its shim's parts are tested in test_micropython_stdlib_more)
        future, _, rest = script.partition("\n")
        script = (f"{future}\nimport sys, collections; sys.modules['ucollections'] = collections\n"
                  f"sys.path[:0] = [{str(LIB)!r}, {str(host)!r}]\n"
                  "import importlib.util\n"
                  f"_spec = importlib.util.spec_from_file_location('time', {str(LIB / 'time.py')!r})\n"
                  "_shim = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(_shim)\n"
                  "sys.modules['time'] = _shim\n" + rest)
    return subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True,
                          timeout=300)


def _lines(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.fixture(scope="module")
def expected() -> dict[str, list[str]]:
    """Each corpus's output under CPython's real modules."""
    return {name: _lines(_cpython(_script(corpus), shims=False)) for name, corpus in CORPORA.items()}


def _compare(name: str, want: list[str], got: list[str]) -> None:
    assert len(want) > 20 or name == "misc"
    mismatches = [(w, g) for w, g in zip(want, got) if w != g]
    assert not mismatches and len(want) == len(got), "\n".join(
        f"want {w}\n got {g}" for w, g in mismatches[:15]) or f"{len(want)} vs {len(got)} lines"


def _ok_lines(lines: list[str]) -> None:
    """The property checks (random, tokens, time, logging) print lists of True."""
    for line in lines:
        name, _, value = line.partition(" => ")
        if name in ("tokens", "random", "time"):
            assert "False" not in value, line


@pytest.mark.parametrize("name", CORPORA)
def test_shims_under_cpython_match_cpython(name: str, expected: dict[str, list[str]],
                                           host_dir: Path) -> None:
    got = _lines(_cpython(_script(CORPORA[name]), shims=True, host=host_dir))
    _ok_lines(got)
    _compare(name, expected[name], got)


@pytest.mark.parametrize("name", CORPORA)
def test_shims_under_micropython_match_cpython(name: str, expected: dict[str, list[str]],
                                               host_dir: Path) -> None:
    from proxywasm_build.backends.micropython.interpreter import run_micropython

    result = run_micropython(_script(CORPORA[name]), paths=[host_dir])
    assert "micropython" not in _lines(_cpython("import sys; print(sys.implementation.name)", shims=False))
    got = _lines(result)
    _ok_lines(got)
    _compare(name, expected[name], got)


HOST_ONLY = r"""
import time, logging, _proxywasm_host

try:
    time.sleep(0.01)
except RuntimeError as e:
    print("sleep:", "would block" in str(e))
for t in (0, 951782400, 1709251199, -86401):
    print("mktime:", time.mktime(time.gmtime(t)) == t, time.localtime(t) == time.gmtime(t))
log = logging.getLogger("svc")
log.debug("d %d", 1)
log.info("i")
log.warning("w")
log.error("e")
log.critical("c")
log.setLevel(1)
log.log(5, "trace")
logging.info("root %s", "x")
for level, message in _proxywasm_host.calls:
    print("host:", level, message.decode())
"""


def test_host_facing_parts_under_micropython(host_dir: Path) -> None:
    """What only the shims do: sleep refuses, the calendar is UTC, and every logging record
    reaches the host's log as "name: message" at the level the CPython runtime's handler uses."""
    from proxywasm._logging import to_proxy_level
    from proxywasm_build.backends.micropython.interpreter import run_micropython

    lines = _lines(run_micropython(HOST_ONLY, paths=[host_dir]))
    assert lines[0] == "sleep: True"
    assert lines[1:5] == ["mktime: True True"] * 4
    levels = {name: int(to_proxy_level(number)) for name, number in
              (("d", 10), ("i", 20), ("w", 30), ("e", 40), ("c", 50), ("trace", 5), ("root", 20))}
    assert lines[5:] == [f"host: {levels['d']} svc: d 1", f"host: {levels['i']} svc: i",
                         f"host: {levels['w']} svc: w", f"host: {levels['e']} svc: e",
                         f"host: {levels['c']} svc: c", f"host: {levels['trace']} svc: trace",
                         f"host: {levels['root']} root: root x"]


def _shim_names() -> set[str]:
    names = {p.stem for p in LIB.glob("*.py") if not p.stem.startswith("_") or p.stem == "__future__"}
    names |= {f"{p.parent.name}.{p.stem}" for p in LIB.glob("*/*.py") if p.stem != "__init__"}
    return names


def test_every_shim_is_exercised_by_a_corpus() -> None:
    """A module added to lib/ gets a corpus; one removed fails its corpus's import above."""
    from test_micropython_stdlib_more import CORPORA as MORE_CORPORA

    text = "\n".join([*CORPORA.values(), *MORE_CORPORA.values()]) + HOST_ONLY
    imported = set()
    for line in text.splitlines():
        words = line.replace(",", " ").split()
        if words[:1] == ["import"]:
            imported.update(words[1:])
        elif words[:1] == ["from"] and len(words) > 1:
            imported.add(words[1])
    assert _shim_names() - imported == set()
    assert {"json", "base64", "binascii", "hashlib", "hmac", "secrets", "time", "random", "string",
            "logging", "typing", "__future__", "urllib.parse", "functools", "itertools"} <= _shim_names()


def test_frozen_bytecode_stays_small() -> None:
    """Every filter freezes the shims it imports: each stays a few KB of MicroPython bytecode."""
    from proxywasm_build.backends.micropython.mpycross import compile_to_mpy

    sizes = {path.relative_to(LIB).as_posix(): compile_to_mpy(path, path.relative_to(LIB).as_posix()).stat().st_size
             for path in sorted(LIB.rglob("*.py"))}
    assert max(sizes.values()) <= 8 * 1024, sizes
    assert sum(sizes.values()) <= 56 * 1024, sizes
