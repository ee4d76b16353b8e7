"""`random` for the MicroPython runtime: CPython's functions over the host's random bytes.

Unseeded, numbers come from the host's entropy (WASI random_get). `seed(x)` switches to a
deterministic SHA-256 counter stream: the same seed gives the same numbers on every run of
this runtime, but not the numbers CPython's Mersenne Twister gives for that seed.
Left out: getstate/setstate and the distributions beyond uniform (gauss, expovariate, ...).
"""

try:
    from _proxywasm_runtime import sha256 as _sha256, urandom as _urandom
except ImportError:  # CPython running the shims (tests)
    from os import urandom as _urandom

    def _sha256(data):
        return __import__("hashlib").sha256(data).digest()

__all__ = ["Random", "SystemRandom", "seed", "random", "uniform", "randint", "randrange",
           "choice", "choices", "shuffle", "sample", "getrandbits", "randbytes"]

_RECIP_BPF = 1.0 / (1 << 53)


def _bit_length(n):
    length = 0
    while n >= 1 << 30:
        n >>= 30
        length += 30
    while n:
        n >>= 1
        length += 1
    return length


class Random:
    """A generator with CPython's `random.Random` methods."""

    def __init__(self, x=None):
        self.seed(x)

    def seed(self, a=None, version=2):
        """None: the host's entropy; anything else: a repeatable stream derived from `a`."""
        self._buffer = b""
        self._counter = 0
        if a is None:
            self._key = None
        elif isinstance(a, (bytes, bytearray)):
            self._key = bytes(a)
        else:
            self._key = str(a).encode()

    def _refill(self):
        if self._key is None:
            return _urandom(64)
        self._counter += 1
        return _sha256(self._key + self._counter.to_bytes(8, "big"))

    def randbytes(self, n):
        """n random bytes."""
        buffer = self._buffer
        while len(buffer) < n:
            buffer += self._refill()
        self._buffer = buffer[n:]
        return buffer[:n]

    def getrandbits(self, k):
        """A non-negative int of k random bits."""
        if k < 0:
            raise ValueError("number of bits must be non-negative")
        if k == 0:
            return 0
        size = (k + 7) // 8
        return int.from_bytes(self.randbytes(size), "big") >> (size * 8 - k)

    def random(self):
        """A float in [0.0, 1.0)."""
        return self.getrandbits(53) * _RECIP_BPF

    def _randbelow(self, n):
        k = _bit_length(n)
        r = self.getrandbits(k)
        while r >= n:
            r = self.getrandbits(k)
        return r

    def randrange(self, start, stop=None, step=1):
        """A random int from range(start, stop, step)."""
        if stop is None:
            if start > 0:
                return self._randbelow(start)
            raise ValueError("empty range for randrange()")
        width = stop - start
        if step == 1:
            if width > 0:
                return start + self._randbelow(width)
            raise ValueError("empty range for randrange() (%d, %d, %d)" % (start, stop, width))
        if step > 0:
            n = (width + step - 1) // step
        elif step < 0:
            n = (width + step + 1) // step
        else:
            raise ValueError("zero step for randrange()")
        if n <= 0:
            raise ValueError("empty range for randrange()")
        return start + step * self._randbelow(n)

    def randint(self, a, b):
        """A random int N with a <= N <= b."""
        return self.randrange(a, b + 1)

    def uniform(self, a, b):
        """A random float between a and b."""
        return a + (b - a) * self.random()

    def choice(self, seq):
        """A random element of a non-empty sequence."""
        if not len(seq):
            raise IndexError("Cannot choose from an empty sequence")
        return seq[self._randbelow(len(seq))]

    def choices(self, population, weights=None, *, cum_weights=None, k=1):
        """k elements chosen with replacement, optionally weighted."""
        n = len(population)
        if weights is None and cum_weights is None:
            return [population[self._randbelow(n)] for _ in range(k)]
        if cum_weights is None:
            cum_weights = []
            total = 0
            for weight in weights:
                total += weight
                cum_weights.append(total)
        elif weights is not None:
            raise TypeError("Cannot specify both weights and cumulative weights")
        if len(cum_weights) != n:
            raise ValueError("The number of weights does not match the population")
        total = cum_weights[-1] + 0.0
        result = []
        for _ in range(k):
            target = self.random() * total
            low, high = 0, n - 1
            while low < high:
                middle = (low + high) // 2
                if target < cum_weights[middle]:
                    high = middle
                else:
                    low = middle + 1
            result.append(population[low])
        return result

    def shuffle(self, x):
        """Shuffle a list in place."""
        for i in range(len(x) - 1, 0, -1):
            j = self._randbelow(i + 1)
            x[i], x[j] = x[j], x[i]

    def sample(self, population, k):
        """k distinct elements of the population."""
        pool = list(population)
        n = len(pool)
        if not 0 <= k <= n:
            raise ValueError("Sample larger than population or is negative")
        result = []
        for i in range(k):
            j = self._randbelow(n - i)
            result.append(pool[j])
            pool[j] = pool[n - i - 1]
        return result


class SystemRandom(Random):
    """Always the host's entropy; seed() does nothing."""

    def seed(self, a=None, version=2):
        Random.seed(self, None)


_inst = Random()
seed = _inst.seed
random = _inst.random
uniform = _inst.uniform
randint = _inst.randint
randrange = _inst.randrange
choice = _inst.choice
choices = _inst.choices
shuffle = _inst.shuffle
sample = _inst.sample
getrandbits = _inst.getrandbits
randbytes = _inst.randbytes
