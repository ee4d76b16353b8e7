"""`hashlib` for the MicroPython runtime: sha256 (the runtime's C code), sha1 and md5 (Python).

`sha256` keeps what `update` is given and hashes it in one C call at `digest()`: fast, but the
data stays in memory until then. Left out: sha224/384/512, sha3, blake2, pbkdf2_hmac, file_digest.
"""

try:
    from _proxywasm_runtime import sha256 as _sha256_c
except ImportError:  # CPython running the shims (tests): the pure-Python SHA-256 below
    _sha256_c = None

__all__ = ["new", "sha256", "sha1", "md5", "algorithms_available", "algorithms_guaranteed"]

algorithms_guaranteed = {"sha256", "sha1", "md5"}
algorithms_available = algorithms_guaranteed


def _data(data):
    if isinstance(data, str):
        raise TypeError("Strings must be encoded before hashing")
    return bytes(data)


class _sha256_buffered:
    """SHA-256 with CPython's interface over the runtime's one-shot C digest."""

    name = "sha256"
    digest_size = 32
    block_size = 64

    def __init__(self, data=b""):
        self._parts = []
        if data:
            self.update(data)

    def update(self, data):
        self._parts.append(_data(data))

    def copy(self):
        clone = _sha256_buffered()
        clone._parts = [b"".join(self._parts)]
        return clone

    def digest(self):
        whole = b"".join(self._parts)
        self._parts = [whole]
        return _sha256_c(whole)

    def hexdigest(self):
        return self.digest().hex()


def _python(name):
    import _hashimpl

    return getattr(_hashimpl, name)


def sha256(data=b"", *, usedforsecurity=True):
    """A SHA-256 hash object; `update`, `digest`, `hexdigest`, `copy` as in CPython."""
    if _sha256_c is not None:
        return _sha256_buffered(data)
    # Named at run time so the build never freezes it: the runtime always has the C one.
    return __import__("_sha256py").sha256(_data(data))


def sha1(data=b"", *, usedforsecurity=True):
    """A SHA-1 hash object (pure Python)."""
    return _python("sha1")(_data(data))


def md5(data=b"", *, usedforsecurity=True):
    """An MD5 hash object (pure Python)."""
    return _python("md5")(_data(data))


_CONSTRUCTORS = {"sha256": sha256, "sha1": sha1, "md5": md5}


def new(name, data=b"", **kwargs):
    """hashlib.new("sha256" | "sha1" | "md5", data)."""
    constructor = _CONSTRUCTORS.get(name.lower())
    if constructor is None:
        raise ValueError("unsupported hash type " + name)
    return constructor(data)
