"""`typing` for the MicroPython runtime: names that import and subscript, and do nothing.

Annotations are not evaluated by MicroPython, so these only need to exist: `Optional[int]`,
`Dict[str, Any]`, `Callable[..., None]`, `TypeVar("T")`, `cast`, `overload`... all work and mean
nothing at run time. `TYPE_CHECKING` is False. Left out: `get_type_hints`, class-syntax
`NamedTuple` (use collections.namedtuple) and run-time checks.
"""

TYPE_CHECKING = False


class _Form:
    """A typing construct: subscripting and calling give it back."""

    def __init__(self, name):
        self._name = name

    def __getitem__(self, parameters):
        return self

    def __call__(self, *args, **kwargs):
        return self

    def __repr__(self):
        return "typing." + self._name


Any = _Form("Any")
Optional = _Form("Optional")
Union = _Form("Union")
List = _Form("List")
Dict = _Form("Dict")
Set = _Form("Set")
FrozenSet = _Form("FrozenSet")
Tuple = _Form("Tuple")
Type = _Form("Type")
Callable = _Form("Callable")
Iterable = _Form("Iterable")
Iterator = _Form("Iterator")
Generator = _Form("Generator")
Sequence = _Form("Sequence")
MutableSequence = _Form("MutableSequence")
Mapping = _Form("Mapping")
MutableMapping = _Form("MutableMapping")
Awaitable = _Form("Awaitable")
Coroutine = _Form("Coroutine")
AsyncIterator = _Form("AsyncIterator")
ClassVar = _Form("ClassVar")
Final = _Form("Final")
Literal = _Form("Literal")
Annotated = _Form("Annotated")
NoReturn = _Form("NoReturn")
Never = _Form("Never")
Self = _Form("Self")
AnyStr = _Form("AnyStr")
Text = str
ByteString = bytes


def TypeVar(name, *constraints, **kwargs):
    return _Form(name)


def NewType(name, tp):
    return lambda x: x


def cast(typ, val):
    return val


def overload(func):
    return func


def final(f):
    return f


def no_type_check(f):
    return f


def runtime_checkable(cls):
    return cls


class _GenericBase:
    pass


class _GenericForm(_Form):
    def __getitem__(self, parameters):
        return _GenericBase  # a class, so `class Box(Generic[T]):` works


Generic = _GenericForm("Generic")


class Protocol:
    pass


class TypedDict(dict):
    pass
