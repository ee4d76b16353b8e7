"""`copy` for the MicroPython runtime: copy and deepcopy of dicts, lists, tuples, sets,
bytearrays and instances (through their `__dict__`, or `__copy__`/`__deepcopy__`).

Left out: `copyreg` and `__reduce_ex__` (MicroPython has no pickling protocol), `replace`.
An instance is rebuilt without calling `__init__`, which a subclass of a built-in type needs:
such an object copies only if it defines `__copy__`/`__deepcopy__` or is a dict whose `copy()`
keeps its type (collections' defaultdict and Counter); others raise `copy.Error`.
"""

__all__ = ["Error", "copy", "deepcopy"]


class Error(Exception):
    pass


_NATIVE = (dict, list, set, bytearray)
_IMMUTABLE = (tuple, frozenset, str, bytes, int, float)
_ATOMIC = (type(None), int, float, bool, str, bytes, type, range, type(len), type(lambda: 0))


def _new_like(x):
    cls = type(x)
    try:
        state = x.__dict__
    except AttributeError:
        raise Error("un(shallow)copyable object of type %s" % cls)
    obj = object.__new__(cls)
    return obj, state


def _native_copy(x, cls):
    if isinstance(x, dict):
        y = x.copy()
        if type(y) is cls:
            return y
    raise Error("un(shallow)copyable object of type %s" % cls)


def _restore(obj, state):
    # MicroPython's instance __dict__ is a read-only view: attributes are set one by one.
    for name, value in state.items():
        setattr(obj, name, value)


def copy(x):
    """A shallow copy of `x`."""
    cls = type(x)
    if cls in (list, dict, set, bytearray):
        return cls(x)
    hook = getattr(x, "__copy__", None)
    if hook is not None:
        return hook()
    if cls in _ATOMIC or cls is tuple or cls is frozenset:
        return x
    if isinstance(x, tuple):  # a namedtuple: rebuilt from its items, as CPython does
        return cls(*x)
    if isinstance(x, _IMMUTABLE):
        return x
    if isinstance(x, _NATIVE):
        return _native_copy(x, cls)
    obj, state = _new_like(x)
    _restore(obj, state)
    return obj


def deepcopy(x, memo=None):
    """A deep copy of `x`; shared and recursive references stay shared in the copy."""
    if memo is None:
        memo = {}
    key = id(x)
    if key in memo:
        return memo[key]
    cls = type(x)
    if cls in _ATOMIC:
        return x
    if cls is list:
        y = memo[key] = []
        y.extend(deepcopy(item, memo) for item in x)
    elif cls is dict:
        y = memo[key] = {}
        for k, v in x.items():
            y[deepcopy(k, memo)] = deepcopy(v, memo)
    elif isinstance(x, tuple) and not hasattr(x, "__deepcopy__"):
        items = [deepcopy(item, memo) for item in x]
        if key in memo:  # x contains itself through a list or dict
            return memo[key]
        if all(a is b for a, b in zip(items, x)):
            y = x
        else:  # a tuple subclass is rebuilt as a namedtuple is: one argument per item
            y = tuple(items) if cls is tuple else cls(*items)
    elif cls in (set, frozenset):
        y = cls(deepcopy(item, memo) for item in x)
    elif cls is bytearray:
        y = bytearray(x)
    else:
        hook = getattr(x, "__deepcopy__", None)
        if hook is not None:
            y = hook(memo)
        elif isinstance(x, _NATIVE):
            y = memo[key] = _native_copy(x, cls)
            y.clear()
            for k, v in x.items():
                y[deepcopy(k, memo)] = deepcopy(v, memo)
        else:
            y, state = _new_like(x)
            memo[key] = y
            _restore(y, deepcopy(state, memo))
            return y
    memo[key] = y
    return y
