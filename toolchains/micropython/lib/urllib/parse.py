"""`urllib.parse` for the MicroPython runtime: quoting, query strings, URL splitting and
joining as CPython does them, for str arguments. Left out: bytes URLs in urlsplit/parse_qs and
urljoin, the `encoding`/`errors` choices beyond UTF-8 with replacement.
"""

from collections import namedtuple

__all__ = ["quote", "quote_plus", "quote_from_bytes", "unquote", "unquote_plus",
           "unquote_to_bytes", "urlencode", "parse_qs", "parse_qsl", "urlsplit", "urlparse",
           "urlunsplit", "urlunparse", "SplitResult", "ParseResult"]

_ALWAYS_SAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
_HEX = "0123456789ABCDEF"
scheme_chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-."
uses_params = ("", "ftp", "hdl", "prospero", "http", "imap", "https", "shttp", "rtsp", "rtspu",
               "sip", "sips", "mms", "sftp", "tel")
uses_relative = ("", "ftp", "http", "gopher", "nntp", "imap", "wais", "file", "https", "shttp",
                 "mms", "prospero", "rtsp", "rtsps", "rtspu", "sftp", "svn", "svn+ssh", "ws", "wss")
uses_netloc = ("", "ftp", "http", "gopher", "nntp", "telnet", "imap", "wais", "file", "mms",
               "https", "shttp", "snews", "prospero", "rtsp", "rtspu", "rsync", "svn", "svn+ssh",
               "sftp", "nfs", "git", "git+ssh", "ws", "wss")

_quoters = {}


def _quoter(safe):
    """A 256-entry table: each byte as itself or as %XX."""
    table = _quoters.get(safe)
    if table is None:
        keep = _ALWAYS_SAFE + safe
        table = [chr(b) if b in keep else "%" + _HEX[b >> 4] + _HEX[b & 15] for b in range(256)]
        if len(_quoters) < 16:
            _quoters[safe] = table
    return table


def quote_from_bytes(bs, safe="/"):
    """Percent-encode bytes, keeping letters, digits, '_.-~' and `safe`."""
    if isinstance(bs, str):
        raise TypeError("quote_from_bytes() expected bytes")
    if not bs:
        return ""
    if isinstance(safe, str):
        safe = safe.encode()
    table = _quoter(bytes(c for c in safe if c < 128))  # non-ASCII "safe" characters are ignored
    return "".join([table[b] for b in bytes(bs)])


def quote(string, safe="/", encoding=None, errors=None):
    """Percent-encode a str (as UTF-8) or bytes; '/' is kept unless safe says otherwise."""
    if isinstance(string, str):
        if not string:
            return string
        string = string.encode()
    return quote_from_bytes(string, safe)


def quote_plus(string, safe="", encoding=None, errors=None):
    """quote() for form data: spaces become '+', and '/' is encoded."""
    if (isinstance(string, str) and " " not in string) or (
            isinstance(string, bytes) and b" " not in string):
        return quote(string, safe, encoding, errors)
    if isinstance(safe, str):
        space = " "
    else:
        space = b" "
    return quote(string, safe + space, encoding, errors).replace(" ", "+")


def _hex_value(c):
    if 48 <= c <= 57:
        return c - 48
    c |= 0x20
    if 97 <= c <= 102:
        return c - 87
    return -1


def unquote_to_bytes(string):
    """%XX escapes to bytes; anything else stays as it is."""
    if not string:
        return b""
    if isinstance(string, str):
        string = string.encode()
    string = bytes(string)
    pieces = string.split(b"%")
    if len(pieces) == 1:
        return string
    out = bytearray(pieces[0])
    for piece in pieces[1:]:
        high = _hex_value(piece[0]) if len(piece) > 0 else -1
        low = _hex_value(piece[1]) if len(piece) > 1 else -1
        if high >= 0 and low >= 0:
            out.append(high * 16 + low)
            out += piece[2:]
        else:
            out += b"%"
            out += piece
    return bytes(out)


def _second_byte_range(lead):
    """(continuation bytes needed, low, high for the first one), or None for a bad lead byte."""
    if 0xC2 <= lead <= 0xDF:
        return 1, 0x80, 0xBF
    if lead == 0xE0:
        return 2, 0xA0, 0xBF
    if lead == 0xED:
        return 2, 0x80, 0x9F
    if 0xE1 <= lead <= 0xEF:
        return 2, 0x80, 0xBF
    if lead == 0xF0:
        return 3, 0x90, 0xBF
    if 0xF1 <= lead <= 0xF3:
        return 3, 0x80, 0xBF
    if lead == 0xF4:
        return 3, 0x80, 0x8F
    return None


def _decode_replace(data):
    """UTF-8 with each maximal invalid subpart replaced by U+FFFD, as CPython's 'replace'.
    Checked here: MicroPython's decode() lets surrogates and overlong forms through."""
    if not data or max(data) < 0x80:
        return data.decode()
    out = []
    n = len(data)
    start = i = 0
    while i < n:
        lead = data[i]
        if lead < 0x80:
            i += 1
            continue
        shape = _second_byte_range(lead)
        j = i + 1
        if shape is not None:
            need, low, high = shape
            if j < n and low <= data[j] <= high:
                j += 1
                need -= 1
                while need and j < n and 0x80 <= data[j] <= 0xBF:
                    j += 1
                    need -= 1
                if not need:
                    i = j
                    continue
        out.append(data[start:i].decode())
        out.append("\ufffd")
        start = i = j
    out.append(data[start:].decode())
    return "".join(out)


def unquote(string, encoding="utf-8", errors="replace"):
    """Decode %XX escapes (UTF-8; invalid sequences become U+FFFD)."""
    if isinstance(string, (bytes, bytearray)):
        return _decode_replace(unquote_to_bytes(string))
    if "%" not in string:
        return string
    return _decode_replace(unquote_to_bytes(string))


def unquote_plus(string, encoding="utf-8", errors="replace"):
    """unquote() for form data: '+' is a space."""
    return unquote(string.replace("+", " "), encoding, errors)


def _quote_item(item, safe, quote_via, encoding, errors):
    if isinstance(item, bytes):
        return quote_via(item, safe)
    return quote_via(str(item), safe, encoding, errors)


def urlencode(query, doseq=False, safe="", encoding=None, errors=None, quote_via=quote_plus):
    """A mapping or sequence of pairs as 'k=v&k2=v2'; doseq=True expands sequence values."""
    if hasattr(query, "items"):
        query = query.items()
    else:
        try:
            if len(query) and not isinstance(query[0], tuple):
                raise TypeError
        except TypeError:
            raise TypeError("not a valid non-string sequence or mapping object")
    parts = []
    for k, v in query:
        k = _quote_item(k, safe, quote_via, encoding, errors)
        if not doseq or isinstance(v, (str, bytes)):
            parts.append(k + "=" + _quote_item(v, safe, quote_via, encoding, errors))
            continue
        try:
            len(v)
        except TypeError:
            parts.append(k + "=" + _quote_item(v, safe, quote_via, encoding, errors))
            continue
        for element in v:
            parts.append(k + "=" + _quote_item(element, safe, quote_via, encoding, errors))
    return "&".join(parts)


def parse_qsl(qs, keep_blank_values=False, strict_parsing=False, encoding="utf-8",
              errors="replace", max_num_fields=None, separator="&"):
    """A query string as a list of (name, value) pairs, in order."""
    if not separator or not isinstance(separator, (str, bytes)):
        raise ValueError("Separator must be of type string or bytes.")
    if max_num_fields is not None:
        num_fields = 1 + qs.count(separator) if qs else 0
        if max_num_fields < num_fields:
            raise ValueError("Max number of fields exceeded")
    pairs = []
    for name_value in (qs.split(separator) if qs else []):
        if not name_value and not strict_parsing:
            continue
        nv = name_value.split("=", 1)
        if len(nv) != 2:
            if strict_parsing:
                raise ValueError("bad query field: %r" % (name_value,))
            if keep_blank_values:
                nv.append("")
            else:
                continue
        if len(nv[1]) or keep_blank_values:
            pairs.append((unquote(nv[0].replace("+", " ")), unquote(nv[1].replace("+", " "))))
    return pairs


def parse_qs(qs, keep_blank_values=False, strict_parsing=False, encoding="utf-8",
             errors="replace", max_num_fields=None, separator="&"):
    """A query string as a dict of name -> list of values."""
    result = {}
    for name, value in parse_qsl(qs, keep_blank_values, strict_parsing, encoding, errors,
                                 max_num_fields, separator):
        if name in result:
            result[name].append(value)
        else:
            result[name] = [value]
    return result


class _NetlocMixin:
    @property
    def username(self):
        return self._userinfo()[0]

    @property
    def password(self):
        return self._userinfo()[1]

    @property
    def hostname(self):
        hostname = self._hostinfo()[0]
        if not hostname:
            return None
        hostname, percent, zone = hostname.partition("%")
        return hostname.lower() + percent + zone

    @property
    def port(self):
        port = self._hostinfo()[1]
        if port is not None:
            if port.isdigit() and len(port.encode()) == len(port):
                port = int(port)
            else:
                raise ValueError("Port could not be cast to integer value as %r" % port)
            if not 0 <= port <= 65535:
                raise ValueError("Port out of range 0-65535")
        return port

    def _userinfo(self):
        userinfo, have_info, _ = self.netloc.rpartition("@")
        if have_info:
            username, have_password, password = userinfo.partition(":")
            if not have_password:
                password = None
            return username, password
        return None, None

    def _hostinfo(self):
        _, _, hostinfo = self.netloc.rpartition("@")
        _, have_open_br, bracketed = hostinfo.partition("[")
        if have_open_br:
            hostname, _, port = bracketed.partition("]")
            _, _, port = port.partition(":")
        else:
            hostname, _, port = hostinfo.partition(":")
        return hostname, port or None


class SplitResult(namedtuple("SplitResult", ("scheme", "netloc", "path", "query", "fragment")),
                  _NetlocMixin):
    """urlsplit's result: a 5-tuple with hostname, port, username, password and geturl()."""

    def geturl(self):
        return urlunsplit(self)


class ParseResult(namedtuple("ParseResult",
                             ("scheme", "netloc", "path", "params", "query", "fragment")),
                  _NetlocMixin):
    """urlparse's result: a 6-tuple with hostname, port, username, password and geturl()."""

    def geturl(self):
        return urlunparse(self)


def _splitnetloc(url, start=0):
    delim = len(url)
    for c in "/?#":
        found = url.find(c, start)
        if found >= 0:
            delim = min(delim, found)
    return url[start:delim], url[delim:]


def urlsplit(url, scheme="", allow_fragments=True):
    """scheme://netloc/path?query#fragment as a SplitResult."""
    start = 0
    while start < len(url) and url[start] <= " ":
        start += 1
    url = url[start:]
    scheme = scheme.strip("".join(chr(c) for c in range(33)))
    for unsafe in ("\t", "\r", "\n"):
        url = url.replace(unsafe, "")
        scheme = scheme.replace(unsafe, "")
    netloc = query = fragment = ""
    i = url.find(":")
    if i > 0 and url[0] < "\x80" and url[0].isalpha():
        for c in url[:i]:
            if c not in scheme_chars:
                break
        else:
            scheme, url = url[:i].lower(), url[i + 1:]
    if url[:2] == "//":
        netloc, url = _splitnetloc(url, 2)
        if ("[" in netloc and "]" not in netloc) or ("]" in netloc and "[" not in netloc):
            raise ValueError("Invalid IPv6 URL")
    if allow_fragments and "#" in url:
        url, fragment = url.split("#", 1)
    if "?" in url:
        url, query = url.split("?", 1)
    return SplitResult(scheme, netloc, url, query, fragment)


def _splitparams(url):
    if "/" in url:
        i = url.find(";", url.rfind("/"))
        if i < 0:
            return url, ""
    else:
        i = url.find(";")
    return url[:i], url[i + 1:]


def urlparse(url, scheme="", allow_fragments=True):
    """scheme://netloc/path;params?query#fragment as a ParseResult."""
    scheme, netloc, url, query, fragment = urlsplit(url, scheme, allow_fragments)
    if scheme in uses_params and ";" in url:
        url, params = _splitparams(url)
    else:
        params = ""
    return ParseResult(scheme, netloc, url, params, query, fragment)


def urlunsplit(components):
    """The inverse of urlsplit."""
    scheme, netloc, url, query, fragment = components
    if netloc or (scheme and scheme in uses_netloc and url[:2] != "//"):
        if url and url[:1] != "/":
            url = "/" + url
        url = "//" + (netloc or "") + url
    if scheme:
        url = scheme + ":" + url
    if query:
        url = url + "?" + query
    if fragment:
        url = url + "#" + fragment
    return url


def urlunparse(components):
    """The inverse of urlparse."""
    scheme, netloc, url, params, query, fragment = components
    if params:
        url = "%s;%s" % (url, params)
    return urlunsplit((scheme, netloc, url, query, fragment))


def urljoin(base, url, allow_fragments=True):
    """`url` resolved against `base` (RFC 3986, as CPython resolves it)."""
    if not base:
        return url
    if not url:
        return base
    bscheme, bnetloc, bpath, bparams, bquery, bfragment = urlparse(base, "", allow_fragments)
    scheme, netloc, path, params, query, fragment = urlparse(url, bscheme, allow_fragments)
    if scheme != bscheme or scheme not in uses_relative:
        return url
    if scheme in uses_netloc:
        if netloc:
            return urlunparse((scheme, netloc, path, params, query, fragment))
        netloc = bnetloc
    if not path and not params:
        return urlunparse((scheme, netloc, bpath, bparams, query or bquery, fragment))
    base_parts = bpath.split("/")
    if base_parts[-1] != "":
        del base_parts[-1]  # the last segment is not a directory
    if path[:1] == "/":
        segments = path.split("/")
    else:
        segments = base_parts + path.split("/")
        if len(segments) > 2:  # no empty segments inside: they would double slashes
            segments = [segments[0]] + [seg for seg in segments[1:-1] if seg] + [segments[-1]]
    resolved = []
    for seg in segments:
        if seg == "..":
            if resolved:
                resolved.pop()
        elif seg != ".":
            resolved.append(seg)
    if segments[-1] in (".", ".."):
        resolved.append("")
    return urlunparse((scheme, netloc, "/".join(resolved) or "/", params, query, fragment))


DefragResult = namedtuple("DefragResult", ("url", "fragment"))


def urldefrag(url):
    """(url without its fragment, fragment)."""
    if "#" not in url:
        return DefragResult(url, "")
    s, n, p, a, q, frag = urlparse(url)
    return DefragResult(urlunparse((s, n, p, a, q, "")), frag)
