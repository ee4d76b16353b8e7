"""`hmac` for the MicroPython runtime: HMAC over `hashlib`'s sha256, sha1 and md5."""

import hashlib
from _compare import compare_digest

__all__ = ["new", "digest", "compare_digest", "HMAC"]

digest_size = None
_COPY = object()


def _constructor(digestmod):
    if digestmod is None or digestmod == "":
        raise TypeError("Missing required parameter 'digestmod'.")
    if callable(digestmod):
        return digestmod
    if isinstance(digestmod, str):
        return lambda data=b"": hashlib.new(digestmod, data)
    return lambda data=b"": digestmod.new(data)  # a PEP 247 module


class HMAC:
    """RFC 2104 HMAC: `update`, `digest`, `hexdigest`, `copy`, `name`, `digest_size`."""

    blocksize = 64

    def __init__(self, key, msg=None, digestmod=""):
        if key is _COPY:  # copy() fills the fields in (MicroPython classes have no __new__)
            return
        if isinstance(key, str):
            raise TypeError("key: expected bytes or bytearray, but got 'str'")
        make = _constructor(digestmod)
        self._make = make
        inner = make()
        block_size = getattr(inner, "block_size", 64)
        key = bytes(key)
        if len(key) > block_size:
            key = make(key).digest()
        key = key + b"\x00" * (block_size - len(key))
        self._inner = inner
        self._inner.update(bytes(k ^ 0x36 for k in key))
        self._outer = make()
        self._outer.update(bytes(k ^ 0x5C for k in key))
        self.digest_size = inner.digest_size
        self.block_size = block_size
        self.name = "hmac-" + inner.name
        if msg is not None:
            self.update(msg)

    def update(self, msg):
        self._inner.update(msg)

    def copy(self):
        clone = HMAC(_COPY)
        clone._make = self._make
        clone._inner = self._inner.copy()
        clone._outer = self._outer.copy()
        clone.digest_size = self.digest_size
        clone.block_size = self.block_size
        clone.name = self.name
        return clone

    def digest(self):
        outer = self._outer.copy()
        outer.update(self._inner.digest())
        return outer.digest()

    def hexdigest(self):
        return self.digest().hex()


def new(key, msg=None, digestmod=""):
    """A new HMAC object: hmac.new(key, msg, "sha256") or digestmod=hashlib.sha256."""
    return HMAC(key, msg, digestmod)


def digest(key, msg, digest):
    """The HMAC of msg in one call: hmac.digest(key, msg, "sha256")."""
    return HMAC(key, msg, digest).digest()
