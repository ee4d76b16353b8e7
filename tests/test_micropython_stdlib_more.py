"""The second set of stdlib shims (collections' defaultdict/Counter, copy, operator, bisect,
heapq, contextlib, uuid, abc) against CPython's modules, three ways as in
tests/test_micropython_stdlib.py: CPython's own modules, the shims under CPython, and the shims
under the real MicroPython 1.19 dev interpreter; every output line must match. Then what differs
on purpose (dict subclasses, abc) is pinned under MicroPython, and a built filter module shows
that `import collections` reaches the shim over the C module there too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from test_micropython_stdlib import LIB, SHOW, _compare, _lines

NEW_SHIMS = ("collections", "copy", "operator", "bisect", "heapq", "contextlib", "uuid", "abc")

COLLECTIONS = r'''
from collections import defaultdict, Counter, namedtuple, OrderedDict, deque
import json

def grouped():
    d = defaultdict(list)
    for k, v in [("a", 1), ("b", 2), ("a", 3)]:
        d[k].append(v)
    return [d, d["a"], len(d), "z" in d, d.get("z"), list(d.items()), sorted(d), repr(d)]

def counting():
    d = defaultdict(int)
    for c in "mississippi":
        d[c] += 1
    return [d, repr(d), json.dumps(d), d["x"], len(d), d.default_factory is int]

def no_factory():
    d = defaultdict(None, {"a": 1})
    return [d["a"], repr(d), d["b"]]

def dd_copy():
    d = defaultdict(list, a=[1])
    c = d.copy()
    c["b"].append(2)
    return [repr(c), repr(d), type(c).__name__, c.default_factory is list]

def dd_methods():
    d = defaultdict(set)
    d["x"].add(1)
    d["y"]
    return [d.pop("y"), d.setdefault("z", 5), repr(d), isinstance(d, dict), d == {"x": {1}, "z": 5}]

def counter_basic():
    c = Counter("abracadabra")
    return [c, c["a"], c["q"], "q" in c, len(c), repr(c), c.most_common(2), c.most_common(), c.most_common(0)]

def counter_update():
    c = Counter(a=3, b=1)
    c.update("abc")
    c.update({"a": 2, "d": 4})
    c.update(e=1)
    c.subtract("aab")
    c.subtract({"d": 5})
    return [repr(c), sorted(c.elements()), c.total(), json.dumps(c)]

def counter_math():
    a = Counter(a=3, b=1, c=2)
    b = Counter(a=1, b=2, d=4)
    repr_before = [repr(a + b), repr(a - b)]
    c = Counter(a)
    c_before = c
    c += Counter(a=1, e=2)
    same = c is c_before
    c -= Counter(a=9, z=1)
    return [repr(c), same, repr(a), repr_before, repr(a + b), repr(a - b), repr(b - a), repr(Counter() + Counter()), a == Counter(c=2, b=1, a=3),
            Counter(a=1) == Counter(a=1, b=0), a != b]

def counter_misc():
    c = Counter(["x", "y", "x"])
    d = c.copy()
    d["z"] += 2
    del d["nothing"]
    del d["x"]
    return [repr(c), repr(d), type(d).__name__, repr(Counter()), Counter({"k": 2})["k"], list(Counter("cba"))]

def still_c():
    P = namedtuple("P", ["x", "y"])
    p = P(1, 2)
    q = deque((), 3)
    for i in range(5):
        q.append(i)
    o = OrderedDict([("b", 1), ("a", 2)])
    # MicroPython 1.19's deque is not iterable: append/popleft/len only
    return [p, p.x, p[1], [len(q), q.popleft(), q.popleft(), len(q)], list(o.items()), json.dumps(o)]

run([
    ("grouped", grouped), ("counting", counting), ("no_factory", no_factory), ("dd_copy", dd_copy),
    ("dd_methods", dd_methods), ("dd_bad_factory", lambda: defaultdict(5)),
    ("counter_basic", counter_basic), ("counter_update", counter_update), ("counter_math", counter_math),
    ("counter_misc", counter_misc), ("still_c", still_c),
])
'''

TOOLS = r'''
import copy, operator, bisect, heapq

class Box:
    def __init__(self, v):
        self.v = v

class Hooked:
    def __init__(self):
        self.n = 1
    def __copy__(self):
        return "shallow"
    def __deepcopy__(self, memo):
        return "deep"

def copies():
    inner = [1, [2, 3]]
    data = {"a": inner, "b": (inner, 4), "s": {1, 2}, "t": (1, "x"), "ba": bytearray(b"hi")}
    shallow = copy.copy(data)
    deep = copy.deepcopy(data)
    inner[1].append(9)
    return [shallow["a"] is inner, deep["a"] is inner, deep["a"], deep["b"][0] is deep["a"], deep["t"] is data["t"],
            sorted(deep["s"]), deep["ba"], deep["ba"] is data["ba"], shallow == data, deep == data]

def dict_subclasses():
    from collections import Counter, defaultdict
    c = Counter("aab")
    d = defaultdict(list, a=[1])
    dc, dd = copy.copy(c), copy.deepcopy(d)
    d["a"].append(2)
    shared = [d]
    both = copy.deepcopy([shared, shared])
    from collections import namedtuple
    P = namedtuple("P", ["x", "y"])
    p = P([1], 2)
    pd = copy.deepcopy(p)
    return [p, copy.copy(p) is p, pd, type(pd).__name__, pd.x is p.x, copy.deepcopy(P(1, 2)) == P(1, 2),
            repr(dc), type(dc).__name__, repr(copy.deepcopy(c)), repr(dd), repr(copy.copy(d)), dd["new"],
            both[0] is both[1], repr(both[0][0])]

def recursive():
    l = [1]
    l.append(l)
    d = copy.deepcopy(l)
    return [d[1] is d, d[0], d is l]

def instances():
    b = Box([1, 2])
    s = copy.copy(b)
    d = copy.deepcopy(b)
    b.v.append(3)
    return [type(s).__name__, s.v, d.v, s is b, copy.copy(Hooked()), copy.deepcopy([Hooked()]), copy.copy(5),
            copy.copy("x"), copy.deepcopy((1, 2)), copy.copy([1, 2]), copy.deepcopy(frozenset([3])) == frozenset([3])]

class Rec:
    def __init__(self, **kw):
        for name, value in kw.items():
            setattr(self, name, value)
    def m(self, a, b=0):
        return [a, b]

def ops():
    o = operator
    r = Rec(x=Rec(y=7), z=3)
    return [o.add(2, 3), o.sub(2, 3), o.mul("a", 3), o.truediv(1, 4), o.floordiv(7, 2), o.mod(7, 3), o.pow(2, 10),
            o.neg(4), o.pos(-4), o.abs(-2.5), o.and_(6, 3), o.or_(6, 3), o.xor(6, 3), o.invert(5), o.lshift(1, 4),
            o.rshift(16, 2), o.eq(1, 1), o.ne(1, 1), o.lt(1, 2), o.le(2, 2), o.gt(1, 2), o.ge(1, 2), o.not_(0),
            o.truth([]), o.is_(None, None), o.is_not(1, None), o.concat([1], [2]), o.contains("abc", "b"),
            o.countOf([1, 2, 1], 1), o.indexOf("abc", "c"), o.getitem({"k": 1}, "k"),
            o.itemgetter(1)("abc"), o.itemgetter(0, 2)("abc"), o.itemgetter("k")({"k": 5}),
            o.attrgetter("z")(r), o.attrgetter("x.y", "z")(r), o.methodcaller("m", 1, b=2)(r),
            o.methodcaller("upper")("ab"), sorted([(2, "b"), (1, "c"), (3, "a")], key=o.itemgetter(0)),
            sorted([(2, "b"), (1, "c"), (2, "a")], key=o.itemgetter(0, 1))]

def ops_mutating():
    l = [1, 2, 3]
    operator.setitem(l, 0, 9)
    operator.delitem(l, 1)
    return l

def bisects():
    a = [1, 2, 2, 2, 5, 8]
    out = [bisect.bisect_left(a, 2), bisect.bisect_right(a, 2), bisect.bisect(a, 0), bisect.bisect(a, 9),
           bisect.bisect_left(a, 2, 2), bisect.bisect_right(a, 2, 0, 3), bisect.bisect_left([], 1)]
    for x in (3, 2, 0, 9):
        bisect.insort(a, x)
    bisect.insort_left(a, 2)
    recs = [("a", 1), ("b", 4), ("c", 9)]
    bisect.insort(recs, ("d", 5), key=lambda r: r[1])
    grades = [bisect.bisect([60, 70, 80, 90], score) for score in (33, 99, 77, 70, 89, 90, 100)]
    return out + [a, recs, grades, bisect.bisect_left(recs, 4, key=lambda r: r[1])]

def heaps():
    h = []
    for x in [5, 1, 8, 3, 9, 2, 7, 1]:
        heapq.heappush(h, x)
    snapshot = list(h)
    popped = [heapq.heappop(h) for _ in range(3)]
    data = [9, 4, 7, 1, 8, 2, 6, 3, 5, 0]
    heapq.heapify(data)
    heapified = list(data)
    replaced = heapq.heapreplace(data, 10)
    pushpop = [heapq.heappushpop(data, -1), heapq.heappushpop(data, 4), list(data)]
    words = ["pear", "fig", "banana", "kiwi", "apple", "date"]
    return [snapshot, popped, h, heapified, replaced, pushpop,
            heapq.nlargest(3, [4, 1, 7, 3, 7, 9]), heapq.nsmallest(2, [4, 1, 7, 3]), heapq.nlargest(2, words, key=len),
            heapq.nsmallest(3, words, key=len), heapq.nlargest(10, [2, 1]), heapq.nsmallest(0, [1]), heapq.nlargest(-1, [1]),
            list(heapq.merge([1, 4, 7], [2, 5, 8], [0, 3])), list(heapq.merge()),
            list(heapq.merge(["a", "ccc"], ["bb", "dddd"], key=len)), list(heapq.merge([7, 3], [9, 1], reverse=True)),
            [heapq.heappop(h) for _ in range(len(h))]]

run([
    ("copies", copies), ("dict_subclasses", dict_subclasses), ("recursive", recursive), ("instances", instances), ("ops", ops),
    ("ops_mutating", ops_mutating), ("ops_bad", lambda: operator.attrgetter(1)),
    ("bisects", bisects), ("bisect_lo", lambda: bisect.bisect([1], 1, -1)), ("heaps", heaps),
    ("heappop_empty", lambda: heapq.heappop([])),
])
'''

CONTEXTS = r'''
import contextlib, uuid
from contextlib import contextmanager, suppress, nullcontext, closing, ExitStack
from abc import ABC, abstractmethod

events = []

@contextmanager
def tag(name, swallow=False):
    events.append("enter " + name)
    try:
        yield name.upper()
    except ValueError as e:
        events.append("caught %s" % e)
        if not swallow:
            raise
    finally:
        events.append("exit " + name)

def managers():
    del events[:]
    with tag("a") as value:
        events.append(value)
    try:
        with tag("b"):
            raise ValueError("boom")
    except ValueError as e:
        events.append("outside %s" % e)
    with tag("c", swallow=True):
        raise ValueError("quiet")
    try:
        with tag("d", swallow=True):
            raise KeyError("k")
    except KeyError:
        events.append("keyerror passed")
    return events[:]

@contextmanager
def no_yield():
    if events is None:  # MicroPython's compiler drops an `if False:` body, yield and all
        yield

@contextmanager
def two_yields():
    yield 1
    yield 2

def bad_generators():
    out = []
    for factory in (no_yield, two_yields):
        try:
            with factory():
                pass
        except RuntimeError as e:
            out.append(str(e))
    return out

class Resource:
    def __init__(self, name):
        self.name = name
    def close(self):
        events.append("closed " + self.name)
    def __enter__(self):
        events.append("open " + self.name)
        return self
    def __exit__(self, *exc):
        events.append("release " + self.name)
        return False

def helpers():
    del events[:]
    with suppress(KeyError, IndexError):
        [][1]
    with suppress(KeyError):
        events.append("nothing raised")
    try:
        with suppress(KeyError):
            raise ValueError("kept")
    except ValueError as e:
        events.append("kept " + str(e))
    with nullcontext(5) as five:
        events.append(five)
    with nullcontext() as none:
        events.append(none)
    with closing(Resource("r")) as r:
        events.append(r.name)
    return events[:]

def stacks():
    del events[:]
    with ExitStack() as stack:
        names = [stack.enter_context(Resource(n)).name for n in "xy"]
        stack.callback(events.append, "callback")
        stack.push(lambda *exc: events.append("pushed") and False)
        events.append(names)
    with ExitStack() as stack:
        stack.enter_context(Resource("kept"))
        moved = stack.pop_all()
    events.append("after with")
    moved.close()
    try:
        with ExitStack() as stack:
            stack.push(lambda t, v, tb: events.append("saw %s" % (t.__name__,)))
            raise KeyError("x")
    except KeyError:
        events.append("propagated")
    with ExitStack() as stack:
        stack.push(lambda t, v, tb: True)
        raise KeyError("suppressed")
    try:
        with ExitStack() as stack:
            stack.callback(events.append, "outer")
            stack.callback(lambda: 1 / 0)
    except ZeroDivisionError:
        events.append("raised in callback")
    return events[:]

def uuids():
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    v = uuid.UUID("{12345678123456781234567812345678}")
    w = uuid.UUID(bytes=bytes(range(16)))
    le = uuid.UUID(bytes_le=bytes(range(16)))
    x = uuid.UUID(int=2 ** 128 - 1)
    versioned = uuid.UUID(int=0, version=4)
    return [str(u), repr(u), u.hex, u.int, u.bytes, u.urn, u.version, u.variant, u == v, u != w, u < w, hash(u) == hash(v),
            str(w), str(le), le.bytes, x.hex, x.version, x.variant, str(versioned), versioned.version,
            str(uuid.UUID("urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8")), sorted([str(w), str(u)]),
            str(uuid.NAMESPACE_DNS), str(uuid.NAMESPACE_URL), str(uuid.NAMESPACE_OID), str(uuid.NAMESPACE_X500),
            str(uuid.uuid5(uuid.NAMESPACE_DNS, "python.org")), str(uuid.uuid3(uuid.NAMESPACE_DNS, "python.org")),
            str(uuid.uuid5(uuid.NAMESPACE_URL, "https://example.com/\u00e9")), uuid.uuid5(uuid.NAMESPACE_DNS, "x").version,
            uuid.uuid3(uuid.NAMESPACE_OID, "\u00e9").variant, int(u), {u: 1}[v]]

def random_uuids():
    us = [uuid.uuid4() for _ in range(20)]
    return [all(u.version == 4 and u.variant == uuid.RFC_4122 for u in us), len({u.int for u in us}) == 20,
            all(len(str(u)) == 36 and str(u)[14] == "4" and str(u)[19] in "89ab" for u in us),
            all(uuid.UUID(str(u)) == u and uuid.UUID(bytes=u.bytes) == u for u in us)]

class Shape(ABC):
    @abstractmethod
    def area(self):
        raise NotImplementedError
    def describe(self):
        return "%s of area %s" % (type(self).__name__, self.area())

class Square(Shape):
    def __init__(self, side):
        self.side = side
    def area(self):
        return self.side ** 2

run([
    ("managers", managers), ("bad_generators", bad_generators), ("helpers", helpers), ("stacks", stacks),
    ("uuids", uuids), ("random_uuids", random_uuids),
    ("uuid_short", lambda: uuid.UUID("1234")), ("uuid_badhex", lambda: uuid.UUID("{12345678-1234-5678-1234-56781234567z}")), ("uuid_bytes", lambda: uuid.UUID(bytes=b"x")),
    ("uuid_none", lambda: uuid.UUID()), ("uuid_two", lambda: uuid.UUID("12345678123456781234567812345678", int=1)),
    ("uuid_range", lambda: uuid.UUID(int=-1)), ("uuid_version", lambda: uuid.UUID(int=0, version=9)),
    ("abc", lambda: [Square(3).describe(), isinstance(Square(1), Shape), issubclass(Square, ABC)]),
])
'''

CORPORA = {"collections": COLLECTIONS, "tools": TOOLS, "contexts": CONTEXTS}


def _script(corpus: str) -> str:
    return "from __future__ import annotations\n" + SHOW + corpus


def _cpython(script: str, *, shims: bool) -> subprocess.CompletedProcess:
    if shims:
        # CPython imported some of these at startup (abc, collections, ...): each shim is loaded
        # by path over the real module; `ucollections` (MicroPython's C part) is CPython's own.
        future, _, rest = script.partition("\n")
        script = (f"{future}\nimport sys, collections; sys.path[:0] = [{str(LIB)!r}]\n"
                  "sys.modules['ucollections'] = collections\n"
                  "import importlib.util\n"
                  f"for _name in {NEW_SHIMS!r}:\n"
                  f"    _spec = importlib.util.spec_from_file_location(_name, {str(LIB)!r} + '/' + _name + '.py')\n"
                  "    _shim = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(_shim)\n"
                  "    sys.modules[_name] = _shim\n" + rest)
    return subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def expected() -> dict[str, list[str]]:
    """Each corpus's output under CPython's real modules."""
    return {name: _lines(_cpython(_script(corpus), shims=False)) for name, corpus in CORPORA.items()}


def _check(name: str, want: list[str], got: list[str]) -> None:
    assert len(want) >= 10 and not any("False" in line for line in got if line.startswith("random_uuids"))
    _compare("misc", want, got)


@pytest.mark.parametrize("name", CORPORA)
def test_shims_under_cpython_match_cpython(name: str, expected: dict[str, list[str]]) -> None:
    _check(name, expected[name], _lines(_cpython(_script(CORPORA[name]), shims=True)))


@pytest.mark.parametrize("name", CORPORA)
def test_shims_under_micropython_match_cpython(name: str, expected: dict[str, list[str]]) -> None:
    from proxywasm_build.backends.micropython.interpreter import run_micropython

    _check(name, expected[name], _lines(run_micropython(_script(CORPORA[name]))))


SUBCLASS_LIMITS = r"""
from collections import defaultdict, Counter
from abc import ABC, abstractmethod
import copy

class Plain(dict):
    pass

class Shape(ABC):
    @abstractmethod
    def area(self):
        pass

d = defaultdict(list, {"a": [1]})
for name, case in [("dict", lambda: dict(d)), ("update", lambda: {}.update(d)),
                   ("items", lambda: dict(d.items())), ("missing", lambda: d.__missing__("b")),
                   ("abstract", lambda: type(Shape()).__name__), ("copy", lambda: copy.copy(Plain(a=1)))]:
    try:
        print(name, case())
    except Exception as e:
        print(name, type(e).__name__)
"""


def test_documented_differences_under_micropython() -> None:
    """What docs/micropython.md says of defaultdict and abc: MicroPython's C dict does not accept
    a dict subclass as a mapping (`dict(d)`, `update(d)`; `dict(d.items())` works), an
    abstract class instantiates (CPython raises TypeError), and `copy` refuses a subclass of a
    built-in type it cannot rebuild (CPython copies it through __reduce_ex__)."""
    from proxywasm_build.backends.micropython.interpreter import run_micropython

    assert _lines(run_micropython(SUBCLASS_LIMITS)) == [
        "dict ValueError", "update ValueError", "items {'a': [1]}", "missing []", "abstract Shape", "copy Error"]


FILTER = '''\
import copy
import json
import uuid
from collections import Counter, OrderedDict, defaultdict, namedtuple
from contextlib import suppress
from heapq import nsmallest
from operator import itemgetter

import proxywasm
from proxywasm import Action, HttpContext, RootContext

Hit = namedtuple("Hit", ["path", "n"])


def results(path):
    counts = Counter(path)
    groups = defaultdict(list)
    for part in path.strip("/").split("/"):
        groups[len(part)].append(part)
    with suppress(KeyError):
        {}["x"]
    return {
        "common": counts.most_common(2),
        "counter": repr(Counter("aab")),
        "groups": repr(groups),
        "ordered": list(OrderedDict([("b", 1), ("a", 2)]).items()),
        "hit": list(Hit(path, 1)),
        "copy": copy.deepcopy({"a": [1, [2]]}),
        "smallest": nsmallest(2, path.split("/"), key=len),
        "first": itemgetter(0)(path),
        "uuid5": str(uuid.uuid5(uuid.NAMESPACE_URL, path)),
        "uuid4_version": uuid.uuid4().version,
    }


class Probe(HttpContext):
    def on_http_request_headers(self, num_headers, end_of_stream):
        path = self.get_http_request_header(":path") or "/"
        self.send_http_response(200, [], json.dumps(results(path)).encode())
        return Action.PAUSE


class Root(RootContext):
    def create_http_context(self, context_id):
        return Probe(context_id, self)


proxywasm.set_root_context(Root)
'''


@pytest.mark.build
def test_built_module_imports_the_shims_over_the_c_collections(tmp_path: Path) -> None:
    """In a filter module `collections` is the frozen shim (defaultdict, Counter) that
    re-exports the C module's namedtuple/OrderedDict: answers match CPython's in-process."""
    from proxywasm.testing import Host
    from proxywasm_build.backends.micropython import available_modules, build_micropython_filter
    from proxywasm_build.backends.runtime_choice import choose_runtime

    assert set(NEW_SHIMS) <= available_modules()
    source = tmp_path / "filter.py"
    source.write_text(FILTER)
    assert choose_runtime(source).runtime == "micropython"
    module = build_micropython_filter(source, tmp_path / "filter.wasm", report=(report := {}))
    assert {"collections", "copy", "contextlib", "heapq", "operator", "uuid", "hashlib"} <= set(
        report["frozen_module_names"])
    for path in ("/a/bb/cc/d", "/x"):
        request = {":method": "GET", ":path": path, ":authority": "example"}
        want = Host.load(source).http_request(request)
        got = Host.load(module).http_request(request)
        assert (got.status, got.body) == (want.status, want.body) and got.status == 200
