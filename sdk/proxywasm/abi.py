"""The Proxy-Wasm ABI: enums, header-map serialization and (re-exported from
`proxywasm._abi_tables`) the hostcall and callback signatures per ABI version.

The SDK, the emulator, the wasmtime binding, the C-bridge generator and the validator all read
the ABI from here. The same source runs on CPython and on MicroPython (a filter's runtime);
MicroPython gets the enums as plain ints and no signature tables (see below).
"""

from __future__ import annotations

import sys

_MICROPYTHON = sys.implementation.name == "micropython"

# ---------------------------------------------------------------------------
# Enums without `enum`: inside a compiled filter that module (and functools, operator, types,
# reprlib, keyword and the lazily imported warnings, typing, re, traceback... it names) costs
# every module about 1.5 MB of heap and frozen code.

if _MICROPYTHON:
    # No metaclasses: a class attribute stays the plain int (`Action.CONTINUE == 0`, `type()` is
    # int: arithmetic, indexing and MicroPython's C functions take it). `Cls(value)` checks the
    # value and returns the member as an int subclass with `.name`, `.value` and the CPython
    # repr (what the dispatcher hands callbacks, e.g. a PeerType); `member_name(Cls, value)`
    # names a plain int.

    class _Member(int):
        """A named int. MicroPython's own int operations do not reflect onto an int
        subclass, so the reflected ones are spelled out."""

        def __repr__(self):
            return f"<{self.enum_name}.{self.name}: {int(self)}>"

        def __radd__(self, other):
            return other + int(self)

        def __rsub__(self, other):
            return other - int(self)

        def __rmul__(self, other):
            return other * int(self)

        def __rand__(self, other):
            return other & int(self)

        def __ror__(self, other):
            return other | int(self)

    _members_by_class: dict = {}

    def _members_of(cls) -> dict:
        members = _members_by_class.get(cls)
        if members is None:  # once per class: a class's __dict__ is a copy on MicroPython
            members = {}
            for key, value in cls.__dict__.items():
                if not key.startswith("_") and type(value) is int and value not in members:
                    member = members[value] = _Member(value)
                    member.name, member.value, member.enum_name = key, value, cls.__name__
            _members_by_class[cls] = members
        return members

    class IntEnum:
        """Base of the ABI's integer codes (on MicroPython: class attributes are plain ints)."""

        def __new__(cls, value):
            try:
                return _members_of(cls)[value]
            except (KeyError, TypeError):
                raise ValueError(f"{value!r} is not a valid {cls.__name__}") from None

else:

    class _IntEnumType(type):
        """Just enough of `enum.IntEnum` for integer codes: members are instances of the class
        (so ints), looked up by value with `Cls(value)` and by name with `Cls[name]`, iterable."""

        def __new__(mcls, name, bases, namespace):
            members = {key: value for key, value in namespace.items()
                       if not key.startswith("_") and type(value) is int}
            for key in members:
                del namespace[key]
            cls = super().__new__(mcls, name, bases, namespace)
            by_name: dict = {}
            by_value: dict = {}
            for key, value in members.items():
                member = int.__new__(cls, value)
                member._name_ = key
                type.__setattr__(cls, key, member)
                by_name[key] = member
                by_value.setdefault(value, member)
            type.__setattr__(cls, "_member_map_", by_name)
            type.__setattr__(cls, "_value2member_map_", by_value)
            return cls

        def __call__(cls, value):
            if type(value) is cls:
                return value
            try:
                return cls._value2member_map_[value]
            except (KeyError, TypeError):
                raise ValueError(f"{value!r} is not a valid {cls.__qualname__}") from None

        def __getitem__(cls, name):
            return cls._member_map_[name]

        def __iter__(cls):
            return iter(cls._member_map_.values())

        def __len__(cls):
            return len(cls._member_map_)

        def __contains__(cls, member):
            return type(member) is cls or (type(member) is int and member in cls._value2member_map_)

        def __setattr__(cls, name, value):
            if name in cls.__dict__.get("_member_map_", ()):
                raise AttributeError(f"cannot reassign member {name!r}")
            type.__setattr__(cls, name, value)

        @property
        def __members__(cls):
            return dict(cls._member_map_)

    class IntEnum(int, metaclass=_IntEnumType):
        """Base of the ABI's integer codes; behaves like `enum.IntEnum` where filters use it."""

        @property
        def name(self) -> str:
            return self._name_

        @property
        def value(self) -> int:
            return int(self)

        def __repr__(self) -> str:
            return f"<{type(self).__name__}.{self._name_}: {int(self)}>"

        __str__ = int.__repr__
        __format__ = int.__format__

        def __reduce_ex__(self, protocol):
            return type(self), (int(self),)


def member_name(enum: type, value: int) -> str:
    """The name of `enum`'s member `value` (ValueError when there is none)."""
    return enum(value).name


# ---------------------------------------------------------------------------
# Enums (spec "Types", identical in 0.1.0 .. 0.2.1)


class Status(IntEnum):
    OK = 0
    NOT_FOUND = 1
    BAD_ARGUMENT = 2
    SERIALIZATION_FAILURE = 3
    PARSE_FAILURE = 4
    INVALID_MEMORY_ACCESS = 6
    EMPTY = 7
    CAS_MISMATCH = 8
    INTERNAL_FAILURE = 10
    UNIMPLEMENTED = 12


class LogLevel(IntEnum):
    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4
    CRITICAL = 5


class Action(IntEnum):
    CONTINUE = 0
    PAUSE = 1


class BufferType(IntEnum):
    HTTP_REQUEST_BODY = 0
    HTTP_RESPONSE_BODY = 1
    DOWNSTREAM_DATA = 2
    UPSTREAM_DATA = 3
    HTTP_CALL_RESPONSE_BODY = 4
    GRPC_CALL_MESSAGE = 5
    VM_CONFIGURATION = 6
    PLUGIN_CONFIGURATION = 7
    FOREIGN_FUNCTION_ARGUMENTS = 8


class MapType(IntEnum):
    HTTP_REQUEST_HEADERS = 0
    HTTP_REQUEST_TRAILERS = 1
    HTTP_RESPONSE_HEADERS = 2
    HTTP_RESPONSE_TRAILERS = 3
    GRPC_CALL_INITIAL_METADATA = 4
    GRPC_CALL_TRAILING_METADATA = 5
    HTTP_CALL_RESPONSE_HEADERS = 6
    HTTP_CALL_RESPONSE_TRAILERS = 7


class PeerType(IntEnum):
    UNKNOWN = 0
    LOCAL = 1
    REMOTE = 2


class StreamType(IntEnum):
    HTTP_REQUEST = 0
    HTTP_RESPONSE = 1
    DOWNSTREAM = 2
    UPSTREAM = 3


class MetricType(IntEnum):
    COUNTER = 0
    GAUGE = 1
    HISTOGRAM = 2


class GrpcStatus(IntEnum):
    """gRPC status codes, as carried by `proxy_send_local_response` and `proxy_on_grpc_close`."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


#: `proxy_send_local_response`'s grpc_status argument meaning "not a gRPC reply".
NO_GRPC_STATUS = -1

# ---------------------------------------------------------------------------
# Signatures: the tables live in _abi_tables (one place); a filter on MicroPython never needs
# them, so only CPython (the build, the emulator, a CPython filter) builds them.

if not _MICROPYTHON:
    from ._abi_tables import (  # noqa: F401 - re-exported
        ABI_VERSIONS,
        ENVOY_EXTRA_ENV_IMPORTS,
        ENVOY_WASI_FUNCTIONS,
        ENVOY_WASI_WORKING,
        EXTRA_HOST_KNOWN_CALLBACKS,
        LATEST,
        MARKERS,
        START_EXPORTS,
        WASI_MODULES,
        AbiVersion,
        Callback,
        Hostcall,
        Signature,
        Slot,
    )

# ---------------------------------------------------------------------------
# Header-map serialization (spec "Serialization")

import struct as _struct  # noqa: E402


def serialize_map(pairs: "list[tuple[bytes, bytes]]") -> bytes:
    """Serialize header pairs: u32 count, (u32 key_len, u32 value_len)*, then NUL-ended bytes."""
    out = [_struct.pack("<I", len(pairs))]
    for k, v in pairs:
        out.append(_struct.pack("<II", len(k), len(v)))
    for k, v in pairs:
        out.append(k)
        out.append(b"\0")
        out.append(v)
        out.append(b"\0")
    return b"".join(out)


def deserialize_map(data: bytes) -> "list[tuple[bytes, bytes]]":
    """Inverse of :func:`serialize_map`; an empty buffer or a lone NUL is the empty map."""
    if len(data) < 4:
        return []
    (count,) = _struct.unpack_from("<I", data, 0)
    if 4 + 8 * count > len(data):
        raise ValueError("header map is truncated")
    sizes = [_struct.unpack_from("<II", data, 4 + 8 * i) for i in range(count)]
    pos = 4 + 8 * count
    pairs = []
    for klen, vlen in sizes:
        if pos + klen + vlen + 2 > len(data):
            raise ValueError("header map is truncated")
        key = data[pos:pos + klen]
        pos += klen + 1
        value = data[pos:pos + vlen]
        pos += vlen + 1
        pairs.append((key, value))
    return pairs
