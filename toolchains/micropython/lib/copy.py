"""`copy` for the MicroPython runtime: copy and deepcopy of dicts, lists, tuples, sets,
bytearrays and instances (through their `__dict__`, or `__copy__`/`__deepcopy__`).

Left out: `copyreg` and `__reduce_ex__` (MicroPython has no pickling protocol), `replace`;
an instance is rebuilt without calling `__init__`, so one whose class is a native subclass
(of dict, list, ...) or has no `__dict__` raises `copy.Error`.
"""

__all__ = ["Error", "copy", "deepcopy"]


class Error(Exception):
    pass


_ATOMIC = (type(None), int, float, bool, str, bytes, type, range, type(len), type(lambda: 0))


def _new_like(x):
    cls = type(x)
    try:
        state = x.__dict__
    except AttributeError:
        raise Error("un(shallow)copyable object of type %s" % cls)
    obj = object.__new__(cls)
    return obj, state


def _restore(obj, state):
    # MicroPython's instance __dict__ is a read-only view: attributes are set one by one.
    for name, value in state.items():
        setattr(obj, name, value)


def copy(x):
    """A shallow copy of `x`."""
    cls = type(x)
    if cls in _ATOMIC or cls is tuple or cls is frozenset:
        return x
    if cls in (list, dict, set, bytearray):
        return cls(x)
    hook = getattr(x, "__copy__", None)
    if hook is not None:
        return hook()
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
    elif cls is tuple:
        items = [deepcopy(item, memo) for item in x]
        if key in memo:  # x contains itself through a list or dict
            return memo[key]
        y = x if all(a is b for a, b in zip(items, x)) else tuple(items)
    elif cls in (set, frozenset):
        y = cls(deepcopy(item, memo) for item in x)
    elif cls is bytearray:
        y = bytearray(x)
    else:
        hook = getattr(x, "__deepcopy__", None)
        if hook is not None:
            y = hook(memo)
        else:
            y, state = _new_like(x)
            memo[key] = y
            _restore(y, deepcopy(state, memo))
            return y
    memo[key] = y
    return y
