"""`functools` for the MicroPython runtime: partial, reduce, lru_cache/cache, wraps, cmp_to_key,
total_ordering.

MicroPython functions take no attributes, so `wraps`/`update_wrapper` return the wrapper
unchanged (its `__name__` stays its own). Left out: cached_property (needs `__set_name__`),
singledispatch, partialmethod, `cache_info`.
"""

__all__ = ["partial", "reduce", "lru_cache", "cache", "wraps", "update_wrapper", "cmp_to_key",
           "total_ordering"]

WRAPPER_ASSIGNMENTS = ("__module__", "__name__", "__qualname__", "__doc__", "__annotations__")
WRAPPER_UPDATES = ("__dict__",)
_MISSING = object()


class partial:
    """partial(func, *args, **keywords)(more) calls func(*args, *more, **keywords, **kw)."""

    def __init__(self, func, *args, **keywords):
        if not callable(func):
            raise TypeError("the first argument must be callable")
        self.func = func
        self.args = args
        self.keywords = keywords

    def __call__(self, *args, **keywords):
        merged = dict(self.keywords)
        merged.update(keywords)
        return self.func(*(self.args + args), **merged)


def reduce(function, iterable, initial=_MISSING):
    """Fold `iterable` from the left with `function(accumulated, item)`."""
    items = iter(iterable)
    if initial is _MISSING:
        try:
            value = next(items)
        except StopIteration:
            raise TypeError("reduce() of empty iterable with no initial value")
    else:
        value = initial
    for item in items:
        value = function(value, item)
    return value


def update_wrapper(wrapper, wrapped, assigned=WRAPPER_ASSIGNMENTS, updated=WRAPPER_UPDATES):
    """Returns `wrapper` (MicroPython functions cannot take `wrapped`'s attributes)."""
    return wrapper


def wraps(wrapped, assigned=WRAPPER_ASSIGNMENTS, updated=WRAPPER_UPDATES):
    """A decorator that returns the function it decorates (see update_wrapper)."""
    return lambda wrapper: wrapper


class _CacheWrapper:
    def __init__(self, func, maxsize):
        self.__wrapped__ = func
        self._maxsize = maxsize
        self._cache = {}

    def __call__(self, *args, **kwargs):
        key = args
        if kwargs:
            key = args + (_MISSING,) + tuple(sorted(kwargs.items()))
        cache = self._cache
        if key in cache:
            value = cache.pop(key)
            cache[key] = value  # most recently used goes last (dicts keep insertion order)
            return value
        value = self.__wrapped__(*args, **kwargs)
        if self._maxsize is not None:
            if self._maxsize <= 0:
                return value
            while len(cache) >= self._maxsize:
                del cache[next(iter(cache))]
        cache[key] = value
        return value

    def cache_clear(self):
        self._cache = {}


def lru_cache(maxsize=128, typed=False):
    """Memoize a function on its (hashable) arguments, keeping the `maxsize` most recent."""
    if callable(maxsize):  # @lru_cache without parentheses
        return _CacheWrapper(maxsize, 128)
    return lambda func: _CacheWrapper(func, maxsize)


def cache(func):
    """lru_cache(maxsize=None)."""
    return _CacheWrapper(func, None)


def cmp_to_key(mycmp):
    """A key= object from an old-style cmp(a, b) function."""

    class K:
        def __init__(self, obj):
            self.obj = obj

        def __lt__(self, other):
            return mycmp(self.obj, other.obj) < 0

        def __gt__(self, other):
            return mycmp(self.obj, other.obj) > 0

        def __eq__(self, other):
            return mycmp(self.obj, other.obj) == 0

        def __le__(self, other):
            return mycmp(self.obj, other.obj) <= 0

        def __ge__(self, other):
            return mycmp(self.obj, other.obj) >= 0

    return K


def total_ordering(cls):
    """Fill in the comparisons `cls` lacks from __eq__ and one of __lt__/__le__/__gt__/__ge__."""
    defined = [name for name in ("__lt__", "__le__", "__gt__", "__ge__") if name in cls.__dict__]
    if not defined:
        raise ValueError("must define at least one ordering operation: < > <= >=")
    root = defined[0]
    less = getattr(cls, root)
    if root == "__lt__":
        derived = {"__gt__": lambda a, b: not less(a, b) and a != b,
                   "__le__": lambda a, b: less(a, b) or a == b,
                   "__ge__": lambda a, b: not less(a, b)}
    elif root == "__le__":
        derived = {"__ge__": lambda a, b: not less(a, b) or a == b,
                   "__lt__": lambda a, b: less(a, b) and a != b,
                   "__gt__": lambda a, b: not less(a, b)}
    elif root == "__gt__":
        derived = {"__lt__": lambda a, b: not less(a, b) and a != b,
                   "__ge__": lambda a, b: less(a, b) or a == b,
                   "__le__": lambda a, b: not less(a, b)}
    else:
        derived = {"__le__": lambda a, b: not less(a, b) or a == b,
                   "__gt__": lambda a, b: less(a, b) and a != b,
                   "__lt__": lambda a, b: not less(a, b)}
    for name, method in derived.items():
        if name not in cls.__dict__:
            setattr(cls, name, method)
    return cls
