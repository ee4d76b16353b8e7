"""`heapq` for the MicroPython runtime: CPython's pure-Python heap algorithms (so a list ends up in
the same order), heappush/heappop/heapify/heapreplace/heappushpop, nlargest/nsmallest (`key`),
merge (`key`, `reverse`; picks the next item by scanning the inputs, fine for a few of them)."""

__all__ = ["heappush", "heappop", "heapify", "heapreplace", "heappushpop", "nlargest", "nsmallest",
           "merge"]


def heappush(heap, item):
    """Push item onto heap, keeping it a heap."""
    heap.append(item)
    _siftdown(heap, 0, len(heap) - 1)


def heappop(heap):
    """Pop the smallest item off the heap."""
    if not heap:
        raise IndexError("index out of range")
    last = heap.pop()
    if heap:
        item = heap[0]
        heap[0] = last
        _siftup(heap, 0)
        return item
    return last


def heapreplace(heap, item):
    """Pop the smallest item, then push `item` (the heap must not be empty)."""
    smallest = heap[0]
    heap[0] = item
    _siftup(heap, 0)
    return smallest


def heappushpop(heap, item):
    """Push `item`, then pop the smallest item (faster than both calls)."""
    if heap and heap[0] < item:
        item, heap[0] = heap[0], item
        _siftup(heap, 0)
    return item


def heapify(x):
    """Make list x a heap, in place."""
    for i in reversed(range(len(x) // 2)):
        _siftup(x, i)


def _siftdown(heap, startpos, pos):
    newitem = heap[pos]
    while pos > startpos:
        parentpos = (pos - 1) >> 1
        parent = heap[parentpos]
        if newitem < parent:
            heap[pos] = parent
            pos = parentpos
            continue
        break
    heap[pos] = newitem


def _siftup(heap, pos):
    endpos = len(heap)
    startpos = pos
    newitem = heap[pos]
    childpos = 2 * pos + 1
    while childpos < endpos:
        rightpos = childpos + 1
        if rightpos < endpos and not heap[childpos] < heap[rightpos]:
            childpos = rightpos
        heap[pos] = heap[childpos]
        pos = childpos
        childpos = 2 * pos + 1
    heap[pos] = newitem
    _siftdown(heap, startpos, pos)


def nlargest(n, iterable, key=None):
    """The n largest items, largest first (equal items keep their order)."""
    return _stable_sorted(iterable, key, True)[:max(n, 0)]


def nsmallest(n, iterable, key=None):
    """The n smallest items, smallest first (equal items keep their order)."""
    return _stable_sorted(iterable, key, False)[:max(n, 0)]


def _stable_sorted(iterable, key, reverse):
    # MicroPython's sort is not stable: the position breaks ties (earlier first, either way).
    decorated = [(x if key is None else key(x), -i if reverse else i, x) for i, x in enumerate(iterable)]
    decorated.sort(reverse=reverse)
    return [entry[2] for entry in decorated]


def merge(*iterables, key=None, reverse=False):
    """Merge sorted inputs into one sorted stream; equal items come in input order."""
    heads = []
    for it in map(iter, iterables):
        for value in it:
            heads.append([value, it])
            break
    while heads:
        best = 0
        best_key = heads[0][0] if key is None else key(heads[0][0])
        for i in range(1, len(heads)):
            k = heads[i][0] if key is None else key(heads[i][0])
            if (best_key < k) if reverse else (k < best_key):
                best, best_key = i, k
        head = heads[best]
        yield head[0]
        for value in head[1]:
            head[0] = value
            break
        else:
            heads.pop(best)
