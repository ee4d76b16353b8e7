"""`secrets` for the MicroPython runtime: tokens from the host's entropy (WASI random_get)."""

import binascii
from _compare import compare_digest
from random import SystemRandom

__all__ = ["choice", "randbelow", "randbits", "SystemRandom", "token_bytes", "token_hex",
           "token_urlsafe", "compare_digest"]

DEFAULT_ENTROPY = 32
_sysrand = SystemRandom()
randbits = _sysrand.getrandbits
choice = _sysrand.choice


def randbelow(exclusive_upper_bound):
    """A random int in [0, n)."""
    if exclusive_upper_bound <= 0:
        raise ValueError("Upper bound must be positive.")
    return _sysrand._randbelow(exclusive_upper_bound)


def token_bytes(nbytes=None):
    """nbytes random bytes (32 by default)."""
    return _sysrand.randbytes(DEFAULT_ENTROPY if nbytes is None else nbytes)


def token_hex(nbytes=None):
    """A random text string in hex: two digits per byte."""
    return binascii.hexlify(token_bytes(nbytes)).decode()


def token_urlsafe(nbytes=None):
    """A random URL-safe Base64 text string, without padding."""
    text = binascii.b2a_base64(token_bytes(nbytes), newline=False).rstrip(b"=")
    return text.replace(b"+", b"-").replace(b"/", b"_").decode()
