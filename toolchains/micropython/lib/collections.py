"""`collections` for the MicroPython runtime: the C module's namedtuple, OrderedDict and deque,
plus defaultdict and Counter written in Python.

MicroPython's dict subclasses have limits: `dict(d)` and `x.update(d)` raise ValueError (use
`dict(d.items())`), `copy()` here returns the subclass as on CPython, and a missing key reaches
the default through `d[k]` only (`__missing__` is never called by the C dict).
The C parts are MicroPython 1.19's: namedtuple has no `_replace`/`_asdict`/`_fields`/`_make`,
deque needs `maxlen` and has only append/popleft/len (not iterable). Left out: ChainMap,
UserDict/UserList/UserString, unary `+`/`-` and `|`/`&` on Counters.
"""

from ucollections import namedtuple, OrderedDict, deque

__all__ = ["namedtuple", "OrderedDict", "deque", "defaultdict", "Counter"]


class defaultdict(dict):
    """A dict whose missing keys get `default_factory()` (stored) when read with `d[key]`."""

    def __init__(self, default_factory=None, *args, **kwargs):
        if default_factory is not None and not callable(default_factory):
            raise TypeError("first argument must be callable or None")
        super().__init__(*args)
        if kwargs:  # MicroPython's dict.__init__ through super() takes no keywords
            self.update(kwargs)
        self.default_factory = default_factory

    def __getitem__(self, key):
        try:
            return super().__getitem__(key)
        except KeyError:
            return self.__missing__(key)

    def __missing__(self, key):
        if self.default_factory is None:
            raise KeyError(key)
        value = self[key] = self.default_factory()
        return value

    def copy(self):
        return defaultdict(self.default_factory, self.items())

    __copy__ = copy

    def __repr__(self):
        return "defaultdict(%r, %s)" % (self.default_factory, repr(dict(self.items())))


class Counter(dict):
    """Counts of hashable items: missing keys count 0 (and are not stored)."""

    def __init__(self, iterable=None, **kwargs):
        super().__init__()
        self.update(iterable, **kwargs)

    def __getitem__(self, key):
        try:
            return super().__getitem__(key)
        except KeyError:
            return 0

    def __missing__(self, key):
        return 0

    def _add_all(self, iterable, sign, kwargs):
        if iterable is not None:
            if isinstance(iterable, dict):
                for key, count in iterable.items():
                    self[key] = self[key] + sign * count
            else:
                for key in iterable:
                    self[key] = self[key] + sign
        for key, count in kwargs.items():
            self[key] = self[key] + sign * count

    def update(self, iterable=None, **kwargs):
        """Add counts: from an iterable (each item counts 1) or a mapping of counts."""
        self._add_all(iterable, 1, kwargs)

    def subtract(self, iterable=None, **kwargs):
        """Subtract counts; counts may go to zero or below."""
        self._add_all(iterable, -1, kwargs)

    def most_common(self, n=None):
        """(item, count) pairs, highest count first; ties keep insertion order."""
        # MicroPython's sort is not stable: the position breaks ties.
        ranked = sorted(enumerate(self.items()), key=lambda pair: (-pair[1][1], pair[0]))
        ranked = [pair for _, pair in ranked]
        return ranked if n is None else ranked[:max(n, 0)]

    def elements(self):
        """Each item repeated as often as its count (items counted below 1 are skipped)."""
        for key, count in self.items():
            for _ in range(count):
                yield key

    def total(self):
        return sum(self.values())

    def copy(self):
        return Counter(dict(self.items()))

    __copy__ = copy

    def __delitem__(self, key):
        if key in self:
            super().__delitem__(key)

    def _combine(self, other, sign):
        if not isinstance(other, Counter):
            return NotImplemented
        result = Counter()
        for key in list(self) + [k for k in other if k not in self]:
            count = self[key] + sign * other[key]
            if count > 0:
                result[key] = count
        return result

    def __add__(self, other):
        return self._combine(other, 1)

    def __sub__(self, other):
        return self._combine(other, -1)

    def _in_place(self, other, sign):
        # Defined because MicroPython does not fall back to __add__ for `+=` on a dict subclass.
        combined = self._combine(other, sign)
        if combined is NotImplemented:
            return combined
        self.clear()
        for key, count in combined.items():
            self[key] = count
        return self

    def __iadd__(self, other):
        return self._in_place(other, 1)

    def __isub__(self, other):
        return self._in_place(other, -1)

    def __eq__(self, other):
        if not isinstance(other, Counter):
            return NotImplemented
        return all(self[k] == other[k] for k in list(self) + list(other))

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __repr__(self):
        if not self:
            return "Counter()"
        return "Counter({%s})" % ", ".join("%r: %r" % pair for pair in self.most_common())
