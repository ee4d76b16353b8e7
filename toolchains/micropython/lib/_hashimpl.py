"""Pure-Python SHA-1 and MD5 (streaming), for `hashlib`: correct, but every 32-bit step is a
long-int operation on MicroPython, so hash kilobytes, not megabytes. `_Hash` is also the base
of _sha256py.py, the SHA-256 that stands in for the runtime's C one under CPython (tests).
"""

import struct

_M = 0xFFFFFFFF


class _Hash:
    digest_size = 0
    block_size = 64
    name = ""
    _big_endian = True

    def __init__(self, data=None):
        self._state = list(self._initial)
        self._pending = b""
        self._length = 0
        if data is not None:
            self.update(data)

    def update(self, data):
        data = bytes(data)
        self._length += len(data)
        pending = self._pending + data
        end = len(pending) - len(pending) % 64
        for offset in range(0, end, 64):
            self._compress(pending[offset:offset + 64])
        self._pending = pending[end:]

    def copy(self):
        clone = type(self)()
        clone._state = list(self._state)
        clone._pending = self._pending
        clone._length = self._length
        return clone

    def digest(self):
        clone = self.copy()
        bits = self._length * 8
        padding = b"\x80" + b"\x00" * ((55 - self._length) % 64)
        clone.update(padding + struct.pack(">Q" if self._big_endian else "<Q", bits))
        words = clone._state[:self.digest_size // 4]
        return struct.pack((">%dI" if self._big_endian else "<%dI") % len(words), *words)

    def hexdigest(self):
        return self.digest().hex()


class sha1(_Hash):
    digest_size = 20
    name = "sha1"
    _initial = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)

    def _compress(self, block):
        # Rotations inlined and the rounds split by phase: every step is a long-int operation
        # on MicroPython (words exceed its 31-bit small ints), so fewer steps is faster.
        m = _M
        w = list(struct.unpack(">16I", block))
        for i in range(16, 80):
            x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]
            w.append(((x << 1) | (x >> 31)) & m)
        a, b, c, d, e = self._state
        for i in range(0, 20):
            t = ((((a << 5) | (a >> 27)) & m) + (d ^ (b & (c ^ d))) + e + 0x5A827999 + w[i]) & m
            a, b, c, d, e = t, a, ((b << 30) | (b >> 2)) & m, c, d
        for i in range(20, 40):
            t = ((((a << 5) | (a >> 27)) & m) + (b ^ c ^ d) + e + 0x6ED9EBA1 + w[i]) & m
            a, b, c, d, e = t, a, ((b << 30) | (b >> 2)) & m, c, d
        for i in range(40, 60):
            t = ((((a << 5) | (a >> 27)) & m) + ((b & c) | (d & (b | c))) + e + 0x8F1BBCDC
                 + w[i]) & m
            a, b, c, d, e = t, a, ((b << 30) | (b >> 2)) & m, c, d
        for i in range(60, 80):
            t = ((((a << 5) | (a >> 27)) & m) + (b ^ c ^ d) + e + 0xCA62C1D6 + w[i]) & m
            a, b, c, d, e = t, a, ((b << 30) | (b >> 2)) & m, c, d
        state = self._state
        self._state = [(state[0] + a) & m, (state[1] + b) & m, (state[2] + c) & m,
                       (state[3] + d) & m, (state[4] + e) & m]


_MD5_SHIFTS = (7, 12, 17, 22) * 4 + (5, 9, 14, 20) * 4 + (4, 11, 16, 23) * 4 + (6, 10, 15, 21) * 4
_MD5_K = None


class md5(_Hash):
    digest_size = 16
    name = "md5"
    _big_endian = False
    _initial = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476)

    def _compress(self, block):
        global _MD5_K
        if _MD5_K is None:
            import math
            _MD5_K = [int(abs(math.sin(i + 1)) * 4294967296) & _M for i in range(64)]
        x = struct.unpack("<16I", block)
        k = _MD5_K
        shifts = _MD5_SHIFTS
        mask = _M
        a, b, c, d = self._state
        for i in range(64):
            if i < 16:
                f = d ^ (b & (c ^ d))
                g = i
            elif i < 32:
                f = c ^ (d & (b ^ c))
                g = (5 * i + 1) & 15
            elif i < 48:
                f = b ^ c ^ d
                g = (3 * i + 5) & 15
            else:
                f = c ^ (b | (d ^ mask))
                g = (7 * i) & 15
            f = (f + a + k[i] + x[g]) & mask
            r = shifts[i]
            a, d, c = d, c, b
            b = (b + (((f << r) | (f >> (32 - r))) & mask)) & mask
        state = self._state
        self._state = [(state[0] + a) & mask, (state[1] + b) & mask, (state[2] + c) & mask,
                       (state[3] + d) & mask]
