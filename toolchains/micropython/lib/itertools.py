"""`itertools` for the MicroPython runtime, as generators: the iterator building blocks with
CPython's results. Left out: tee."""

__all__ = ["count", "cycle", "repeat", "accumulate", "chain", "compress", "dropwhile",
           "filterfalse", "groupby", "islice", "pairwise", "starmap", "takewhile", "zip_longest",
           "product", "permutations", "combinations", "combinations_with_replacement"]


def count(start=0, step=1):
    n = start
    while True:
        yield n
        n += step


def cycle(iterable):
    saved = []
    for element in iterable:
        yield element
        saved.append(element)
    while saved:
        for element in saved:
            yield element


def repeat(obj, times=None):
    if times is None:
        while True:
            yield obj
    for _ in range(times):
        yield obj


def accumulate(iterable, func=None, *, initial=None):
    items = iter(iterable)
    total = initial
    if initial is None:
        try:
            total = next(items)
        except StopIteration:
            return
    yield total
    for element in items:
        total = total + element if func is None else func(total, element)
        yield total


class chain:
    """chain(a, b, ...) and chain.from_iterable(iterables)."""

    def __init__(self, *iterables):
        self._items = self._flatten(iterables)

    @staticmethod
    def _flatten(iterables):
        for iterable in iterables:
            for element in iterable:
                yield element

    @classmethod
    def from_iterable(cls, iterables):
        result = cls()
        result._items = cls._flatten(iterables)
        return result

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._items)


def compress(data, selectors):
    for element, keep in zip(data, selectors):
        if keep:
            yield element


def dropwhile(predicate, iterable):
    items = iter(iterable)
    for element in items:
        if not predicate(element):
            yield element
            break
    for element in items:
        yield element


def takewhile(predicate, iterable):
    for element in iterable:
        if not predicate(element):
            break
        yield element


def filterfalse(predicate, iterable):
    if predicate is None:
        predicate = bool
    for element in iterable:
        if not predicate(element):
            yield element


def groupby(iterable, key=None):
    """(key, group) pairs for runs of equal keys; each group is a list here, not a lazy
    iterator (so an earlier group stays readable after the next one starts)."""
    keyfunc = key if key is not None else (lambda x: x)
    group = []
    current = None
    started = False
    for element in iterable:
        k = keyfunc(element)
        if started and k == current:
            group.append(element)
            continue
        if started:
            yield current, iter(group)
        current, group, started = k, [element], True
    if started:
        yield current, iter(group)


def islice(iterable, *args):
    """islice(it, stop) or islice(it, start, stop[, step])."""
    if len(args) == 1:
        start, stop, step = 0, args[0], 1
    else:
        start, stop, step = (tuple(args) + (None,))[:3]
    if stop is not None and (not isinstance(stop, int) or stop < 0):
        raise ValueError("Stop argument for islice() must be None or an integer: 0 <= x <= "
                         "sys.maxsize.")
    start = 0 if start is None else start
    if not isinstance(start, int) or start < 0:
        raise ValueError("Indices for islice() must be None or an integer: 0 <= x <= sys.maxsize.")
    step = 1 if step is None else step
    if not isinstance(step, int) or step <= 0:
        raise ValueError("Step for islice() must be a positive integer or None.")
    upcoming = start
    for index, element in enumerate(iterable):
        if stop is not None and index >= stop:
            return
        if index == upcoming:
            yield element
            upcoming += step


def pairwise(iterable):
    items = iter(iterable)
    try:
        previous = next(items)
    except StopIteration:
        return
    for element in items:
        yield previous, element
        previous = element


def starmap(function, iterable):
    for args in iterable:
        yield function(*args)


def zip_longest(*iterables, fillvalue=None):
    iterators = [iter(it) for it in iterables]
    remaining = len(iterators)
    if not remaining:
        return
    while True:
        row = []
        for i, it in enumerate(iterators):
            try:
                row.append(next(it))
            except StopIteration:
                remaining -= 1
                if not remaining:
                    return
                iterators[i] = repeat(fillvalue)
                row.append(fillvalue)
        yield tuple(row)


def product(*iterables, repeat=1):
    pools = [tuple(pool) for pool in iterables] * repeat
    result = [()]
    for pool in pools:
        result = [x + (y,) for x in result for y in pool]
    for prod in result:
        yield prod


def permutations(iterable, r=None):
    pool = tuple(iterable)
    n = len(pool)
    r = n if r is None else r
    for indices in product(range(n), repeat=r):
        if len(set(indices)) == r:
            yield tuple(pool[i] for i in indices)


def combinations(iterable, r):
    pool = tuple(iterable)
    n = len(pool)
    for indices in permutations(range(n), r):
        if sorted(indices) == list(indices):
            yield tuple(pool[i] for i in indices)


def combinations_with_replacement(iterable, r):
    pool = tuple(iterable)
    n = len(pool)
    for indices in product(range(n), repeat=r):
        if sorted(indices) == list(indices):
            yield tuple(pool[i] for i in indices)
