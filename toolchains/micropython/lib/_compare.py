"""compare_digest, shared by `hmac` and `secrets` (which should not pull in hashlib for it)."""


def compare_digest(a, b):
    """Compare two bytes (or two ASCII strs) in time that depends only on their length."""
    if isinstance(a, str) and isinstance(b, str):
        a_bytes = a.encode()
        b_bytes = b.encode()
        if len(a_bytes) != len(a) or len(b_bytes) != len(b):
            raise TypeError("comparing strings with non-ASCII characters is not supported")
        a, b = a_bytes, b_bytes
    elif isinstance(a, str) or isinstance(b, str):
        raise TypeError("a bytes-like object is required, not 'str'")
    a = bytes(a)
    b = bytes(b)
    result = len(a) ^ len(b)
    if result:
        b = a  # still walk len(a) bytes
    for x, y in zip(a, b):
        result |= x ^ y
    return result == 0
