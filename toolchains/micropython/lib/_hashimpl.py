"""Pure-Python SHA-256, SHA-1 and MD5 (streaming), for `hashlib`.

SHA-256 normally comes from the runtime's C code; this one stands in where that is missing
(CPython running the shims in tests). SHA-1 and MD5 are only here: correct, but every 32-bit
step is a long-int operation on MicroPython, so hash kilobytes, not megabytes.
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
        return "".join("%02x" % byte for byte in self.digest())


_K256 = (
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
)


def _rotr(x, n):
    return ((x >> n) | (x << (32 - n))) & _M


def _rotl(x, n):
    return ((x << n) | (x >> (32 - n))) & _M


class sha256(_Hash):
    digest_size = 32
    name = "sha256"
    _initial = (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)

    def _compress(self, block):
        w = list(struct.unpack(">16I", block))
        for i in range(16, 64):
            x = w[i - 15]
            y = w[i - 2]
            s0 = _rotr(x, 7) ^ _rotr(x, 18) ^ (x >> 3)
            s1 = _rotr(y, 17) ^ _rotr(y, 19) ^ (y >> 10)
            w.append((w[i - 16] + s0 + w[i - 7] + s1) & _M)
        a, b, c, d, e, f, g, h = self._state
        for i in range(64):
            t1 = (h + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ((e & f) ^ (~e & g))
                  + _K256[i] + w[i]) & _M
            t2 = ((_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) & _M
            h, g, f, e, d, c, b, a = g, f, e, (d + t1) & _M, c, b, a, (t1 + t2) & _M
        self._state = [(s + v) & _M for s, v in zip(self._state, (a, b, c, d, e, f, g, h))]


class sha1(_Hash):
    digest_size = 20
    name = "sha1"
    _initial = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)

    def _compress(self, block):
        w = list(struct.unpack(">16I", block))
        for i in range(16, 80):
            w.append(_rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1))
        a, b, c, d, e = self._state
        for i in range(80):
            if i < 20:
                f, k = (b & c) | (~b & d), 0x5A827999
            elif i < 40:
                f, k = b ^ c ^ d, 0x6ED9EBA1
            elif i < 60:
                f, k = (b & c) | (b & d) | (c & d), 0x8F1BBCDC
            else:
                f, k = b ^ c ^ d, 0xCA62C1D6
            a, b, c, d, e = (_rotl(a, 5) + f + e + k + w[i]) & _M, a, _rotl(b, 30), c, d
        self._state = [(s + v) & _M for s, v in zip(self._state, (a, b, c, d, e))]


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
        m = struct.unpack("<16I", block)
        a, b, c, d = self._state
        for i in range(64):
            if i < 16:
                f, g = (b & c) | (~b & d), i
            elif i < 32:
                f, g = (d & b) | (~d & c), (5 * i + 1) & 15
            elif i < 48:
                f, g = b ^ c ^ d, (3 * i + 5) & 15
            else:
                f, g = c ^ (b | (~d & _M)), (7 * i) & 15
            f = (f + a + _MD5_K[i] + m[g]) & _M
            a, d, c, b = d, c, b, (b + _rotl(f, _MD5_SHIFTS[i])) & _M
        self._state = [(s + v) & _M for s, v in zip(self._state, (a, b, c, d))]
