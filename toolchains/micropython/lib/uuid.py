"""`uuid` for the MicroPython runtime: UUID (from `hex`, `bytes`, `int`; `.hex`, `.int`, `.bytes`,
`.urn`, `.version`, `.variant`, str/repr, comparison, hashing), uuid4 (the host's entropy),
uuid3 and uuid5 (through the hashlib shim's MD5 and SHA-1), the NAMESPACE_* constants.

Left out: uuid1 (no MAC address or clock sequence in a sandbox), `fields` and the
time_* properties, the `bytes_le` property, `getnode`, `is_safe`.
"""

import builtins as _builtins

try:
    from _proxywasm_runtime import urandom as _urandom
except ImportError:  # CPython running the shims (tests)
    from os import urandom as _urandom

__all__ = ["UUID", "uuid3", "uuid4", "uuid5", "NAMESPACE_DNS", "NAMESPACE_URL", "NAMESPACE_OID",
           "NAMESPACE_X500", "RESERVED_NCS", "RFC_4122", "RESERVED_MICROSOFT", "RESERVED_FUTURE"]

RESERVED_NCS = "reserved for NCS compatibility"
RFC_4122 = "specified in RFC 4122"
RESERVED_MICROSOFT = "reserved for Microsoft compatibility"
RESERVED_FUTURE = "reserved for future definition"


class UUID:
    """A UUID from exactly one of `hex` (str, with or without hyphens, braces, 'urn:uuid:'),
    `bytes` (16, big-endian), `bytes_le` or `int`; `version` (1-5) overrides those bits."""

    def __init__(self, hex=None, bytes=None, bytes_le=None, fields=None, int=None, version=None):
        if fields is not None:
            raise TypeError("UUID(fields=) is not supported here")
        if bytes_le is not None:
            if len(bytes_le) != 16:
                raise ValueError("bytes_le is not a 16-char string")
            bytes = bytes_le[3::-1] + bytes_le[5:3:-1] + bytes_le[7:5:-1] + bytes_le[8:]
        if [hex, bytes, int].count(None) != 2:
            raise TypeError("one of the hex, bytes, bytes_le, fields, or int arguments must be given")
        if hex is not None:
            hex = hex.replace("urn:", "").replace("uuid:", "")
            hex = hex.strip("{}").replace("-", "")
            if len(hex) != 32:
                raise ValueError("badly formed hexadecimal UUID string")
            try:
                int = _builtins.int(hex, 16)
            except ValueError:  # CPython's message (MicroPython's own differs)
                raise ValueError("invalid literal for int() with base 16: %r" % hex)
        if bytes is not None:
            if len(bytes) != 16:
                raise ValueError("bytes is not a 16-char string")
            int = _builtins.int.from_bytes(bytes, "big")
        if not 0 <= int < 1 << 128:
            raise ValueError("int is out of range (need a 128-bit value)")
        if version is not None:
            if not 1 <= version <= 5:
                raise ValueError("illegal version number")
            int &= ~(0xc000 << 48)
            int |= 0x8000 << 48
            int &= ~(0xf000 << 64)
            int |= version << 76
        self.int = int

    @property
    def hex(self):
        return "%032x" % self.int

    @property
    def bytes(self):
        return self.int.to_bytes(16, "big")

    @property
    def urn(self):
        return "urn:uuid:" + str(self)

    @property
    def variant(self):
        if not self.int & (0x8000 << 48):
            return RESERVED_NCS
        if not self.int & (0x4000 << 48):
            return RFC_4122
        if not self.int & (0x2000 << 48):
            return RESERVED_MICROSOFT
        return RESERVED_FUTURE

    @property
    def version(self):
        if self.variant == RFC_4122:
            return (self.int >> 76) & 0xf
        return None

    def __str__(self):
        h = self.hex
        return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])

    def __repr__(self):
        return "UUID('%s')" % self

    def __int__(self):
        return self.int

    def __hash__(self):
        return hash(self.int)

    def __eq__(self, other):
        return self.int == other.int if isinstance(other, UUID) else NotImplemented

    def __ne__(self, other):
        return self.int != other.int if isinstance(other, UUID) else NotImplemented

    def __lt__(self, other):
        return self.int < other.int if isinstance(other, UUID) else NotImplemented

    def __le__(self, other):
        return self.int <= other.int if isinstance(other, UUID) else NotImplemented

    def __gt__(self, other):
        return self.int > other.int if isinstance(other, UUID) else NotImplemented

    def __ge__(self, other):
        return self.int >= other.int if isinstance(other, UUID) else NotImplemented


def uuid4():
    """A random UUID."""
    return UUID(bytes=_urandom(16), version=4)


def _name_based(hash_name, namespace, name, version):
    import hashlib

    if isinstance(name, str):
        name = name.encode()
    digest = hashlib.new(hash_name, namespace.bytes + name).digest()
    return UUID(bytes=digest[:16], version=version)


def uuid3(namespace, name):
    """The UUID of `name` (str or bytes) in `namespace`, through MD5."""
    return _name_based("md5", namespace, name, 3)


def uuid5(namespace, name):
    """The UUID of `name` (str or bytes) in `namespace`, through SHA-1."""
    return _name_based("sha1", namespace, name, 5)


NAMESPACE_DNS = UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
NAMESPACE_URL = UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")
NAMESPACE_OID = UUID("6ba7b812-9dad-11d1-80b4-00c04fd430c8")
NAMESPACE_X500 = UUID("6ba7b814-9dad-11d1-80b4-00c04fd430c8")
