"""`operator` for the MicroPython runtime: the operators as functions, itemgetter, attrgetter
(dotted names too), methodcaller.

Left out: the in-place operators (`iadd`, ...), `matmul`, `index`, `length_hint`, `call`."""

import builtins as _builtins


def lt(a, b): return a < b
def le(a, b): return a <= b
def eq(a, b): return a == b
def ne(a, b): return a != b
def ge(a, b): return a >= b
def gt(a, b): return a > b
def not_(a): return not a
def truth(a): return bool(a)
def is_(a, b): return a is b
def is_not(a, b): return a is not b
def abs(a): return _builtins.abs(a)
def add(a, b): return a + b
def sub(a, b): return a - b
def mul(a, b): return a * b
def truediv(a, b): return a / b
def floordiv(a, b): return a // b
def mod(a, b): return a % b
def pow(a, b): return a ** b
def neg(a): return -a
def pos(a): return +a
def and_(a, b): return a & b
def or_(a, b): return a | b
def xor(a, b): return a ^ b
def invert(a): return ~a
inv = invert
def lshift(a, b): return a << b
def rshift(a, b): return a >> b
def concat(a, b): return a + b
def contains(a, b): return b in a
def countOf(a, b): return sum(1 for x in a if x is b or x == b)
def indexOf(a, b):
    for i, x in enumerate(a):
        if x is b or x == b:
            return i
    raise ValueError("sequence.index(x): x not in sequence")
def getitem(a, b): return a[b]
def setitem(a, b, c): a[b] = c
def delitem(a, b): del a[b]


class itemgetter:
    """itemgetter(k)(x) is x[k]; itemgetter(k1, k2)(x) is (x[k1], x[k2])."""

    def __init__(self, item, *items):
        self._items = (item,) + items

    def __call__(self, obj):
        if len(self._items) == 1:
            return obj[self._items[0]]
        return tuple(obj[i] for i in self._items)


class attrgetter:
    """attrgetter("a.b")(x) is x.a.b; with several names, a tuple."""

    def __init__(self, attr, *attrs):
        for name in (attr,) + attrs:
            if not isinstance(name, str):
                raise TypeError("attribute name must be a string")
        self._names = [name.split(".") for name in (attr,) + attrs]

    def _get(self, obj, parts):
        for part in parts:
            obj = getattr(obj, part)
        return obj

    def __call__(self, obj):
        if len(self._names) == 1:
            return self._get(obj, self._names[0])
        return tuple(self._get(obj, parts) for parts in self._names)


class methodcaller:
    """methodcaller("m", *args, **kw)(x) calls x.m(*args, **kw)."""

    def __init__(self, name, *args, **kwargs):
        if not isinstance(name, str):
            raise TypeError("method name must be a string")
        self._name = name
        self._args = args
        self._kwargs = kwargs

    def __call__(self, obj):
        return getattr(obj, self._name)(*self._args, **self._kwargs)
