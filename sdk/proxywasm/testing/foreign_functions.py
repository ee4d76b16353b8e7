"""Envoy's own foreign functions (`proxy_call_foreign_function`), as Envoy 1.40 implements them.

Envoy registers these in source/extensions/common/wasm/foreign.cc; what each answers was
measured in Envoy 1.40 (tests/fidelity/test_fidelity_extras.py):

- `compress(data)`: zlib's `compress()` at the default level; `uncompress(data)`: zlib's
  `uncompress()`, SERIALIZATION_FAILURE for anything that is not one whole zlib stream
  (empty input included).
- `clear_route_cache()`: OK, no result (the emulator has no route table to clear).
- `declare_property(DeclarePropertyArguments)`: declares how a property the filter sets later
  behaves (`readonly`, type, life span). A declaration counts only when made in a root context
  (`on_vm_start`, `on_configure`, ...): Envoy looks declarations up on the stream's root context,
  so one made in a stream context is accepted and ignored. Declaring a name twice in the same
  context is BAD_ARGUMENT.
- `set_envoy_filter_state(SetEnvoyFilterStateArguments)`: stores a value under one of Envoy's
  registered filter-state keys (`FILTER_STATE_KEYS`), readable as the property
  `["filter_state", key]`; an unregistered key, or a root context (no stream), is NOT_FOUND.

Both argument messages are serialized protobufs. They are read by the small decoder below rather
than with the `protobuf` package: two messages of three to five scalar fields do not justify
making every user's test environment carry protobuf (and its version pins, which often clash
with the user's own gRPC stack), nor a protoc step to generate their classes.

`expr_create`/`expr_evaluate`/`expr_delete` (CEL) and `verify_signature`/`sign` exist in Envoy
1.40 but are not emulated (see `NOT_EMULATED`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable, Optional

from ..abi import Status

OK = int(Status.OK)
NOT_FOUND = int(Status.NOT_FOUND)
BAD_ARGUMENT = int(Status.BAD_ARGUMENT)
SERIALIZATION_FAILURE = int(Status.SERIALIZATION_FAILURE)

#: What Envoy 1.40 registers as filter-state object factories (its start-up log,
#: "filter_state.object"): the keys `set_envoy_filter_state` accepts.
FILTER_STATE_KEYS = frozenset({
    "envoy.ai.llm_protocol.request", "envoy.ai.model.request", "envoy.bool",
    "envoy.filters.listener.original_dst.local_ip", "envoy.filters.listener.original_dst.remote_ip",
    "envoy.hashable_string", "envoy.network.application_protocols", "envoy.network.ip",
    "envoy.network.network_namespace", "envoy.network.transport_socket.http_11_proxy.info",
    "envoy.network.transport_socket.original_dst_address", "envoy.network.upstream_server_name",
    "envoy.network.upstream_subject_alt_names", "envoy.ratelimit.hits_addend",
    "envoy.router.debug_config", "envoy.string", "envoy.tcp_proxy.cluster",
    "envoy.tcp_proxy.disable_tunneling", "envoy.tcp_proxy.per_connection_idle_timeout_ms",
    "envoy.upstream.dynamic_host", "envoy.upstream.dynamic_port",
})

#: Foreign functions Envoy 1.40 has that the emulator does not reproduce, and why.
NOT_EMULATED = {
    b"expr_create": "CEL expressions are evaluated over Envoy's whole attribute vocabulary, "
                    "which the emulator has only part of",
    b"expr_evaluate": "CEL expressions are not emulated",
    b"expr_delete": "CEL expressions are not emulated",
    b"verify_signature": "signature checks are not emulated",
    b"sign": "signing is not emulated",
}

# The WasmType enum of declare_property.proto, by number.
PROPERTY_TYPES = {0: "bytes", 1: "string", 2: "flatbuffers", 3: "protobuf"}


@dataclass(frozen=True)
class PropertyDeclaration:
    """What `declare_property` said about a property: Envoy's CelStatePrototype."""

    readonly: bool = False
    type: str = "bytes"
    schema: bytes = b""
    span: int = 0  # LifeSpan: 0 filter chain, 1 downstream request, 2 downstream connection


@dataclass
class FilterStateObject:
    """One entry of a stream's filter state: a property the filter set, or an Envoy object."""

    value: bytes
    readonly: bool = False
    type: str = "bytes"


class ProtobufError(ValueError):
    """The bytes are not a well-formed protobuf message of the expected schema."""


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value & 0xFFFFFFFFFFFFFFFF, pos


def decode_message(data: bytes, schema: dict[int, str]) -> dict[int, object]:
    """The fields of a proto3 message, as protobuf's C++ `ParseFromString` reads them.

    `schema` maps field numbers to "string", "bytes", "bool" or "enum". The last occurrence of
    a field wins; unknown fields, and known ones with another wire type, are skipped; a `string`
    must be UTF-8. Anything malformed raises `ProtobufError`.
    """
    fields: dict[int, object] = {}
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise ProtobufError("field number 0")
        if wire_type == 0:
            value, pos = _read_varint(data, pos)
            if schema.get(number) == "bool":
                fields[number] = value != 0
            elif schema.get(number) == "enum":
                fields[number] = value & 0xFFFFFFFF
        elif wire_type == 2:
            size, pos = _read_varint(data, pos)
            if pos + size > len(data):
                raise ProtobufError("length past the end")
            chunk, pos = bytes(data[pos:pos + size]), pos + size
            if schema.get(number) == "string":
                try:
                    fields[number] = chunk.decode("utf-8")
                except UnicodeDecodeError:
                    raise ProtobufError("string field is not UTF-8") from None
            elif schema.get(number) == "bytes":
                fields[number] = chunk
        elif wire_type in (1, 5):
            pos += 8 if wire_type == 1 else 4
            if pos > len(data):
                raise ProtobufError("fixed field past the end")
        else:
            raise ProtobufError(f"wire type {wire_type}")
    return fields


_DECLARE_PROPERTY = {1: "string", 2: "bool", 3: "enum", 4: "bytes", 5: "enum"}
_SET_FILTER_STATE = {1: "string", 2: "string", 3: "enum"}

Result = tuple[int, Optional[bytes]]


class EnvoyForeignFunctions:
    """Envoy's foreign functions for one emulator; `call(name, args)` answers (status, result)
    or None when Envoy has no function of that name."""

    def __init__(self, emulator) -> None:  # the Emulator (no import: it imports this module)
        self.emulator = emulator
        #: declarations by the id of the context that made them
        self.declarations: dict[int, dict[str, PropertyDeclaration]] = {}
        self.functions: dict[bytes, Callable[[bytes], Result]] = {
            b"compress": self.compress,
            b"uncompress": self.uncompress,
            b"clear_route_cache": self.clear_route_cache,
            b"declare_property": self.declare_property,
            b"set_envoy_filter_state": self.set_envoy_filter_state,
        }

    def call(self, name: bytes, arguments: bytes) -> Optional[Result]:
        function = self.functions.get(name)
        return None if function is None else function(arguments)

    def declaration(self, root_context_id: int, name: str) -> PropertyDeclaration:
        """How a property set in a stream of this root context behaves (the default when the
        root context never declared it)."""
        return self.declarations.get(root_context_id, {}).get(name, PropertyDeclaration())

    # --- the functions ------------------------------------------------------------------------
    def compress(self, arguments: bytes) -> Result:
        return OK, zlib.compress(arguments)

    def uncompress(self, arguments: bytes) -> Result:
        try:
            return OK, zlib.decompress(arguments)
        except zlib.error:
            return SERIALIZATION_FAILURE, None

    def clear_route_cache(self, arguments: bytes) -> Result:
        return OK, None

    def declare_property(self, arguments: bytes) -> Result:
        try:
            fields = decode_message(arguments, _DECLARE_PROPERTY)
        except ProtobufError:
            return BAD_ARGUMENT, None
        name = str(fields.get(1, ""))
        declared = self.declarations.setdefault(self.emulator.current, {})
        if name in declared:
            return BAD_ARGUMENT, None
        declared[name] = PropertyDeclaration(
            readonly=bool(fields.get(2, False)),
            type=PROPERTY_TYPES.get(int(fields.get(3, 0)), "bytes"),  # type: ignore[arg-type]
            schema=bytes(fields.get(4, b"")),  # type: ignore[arg-type]
            span=int(fields.get(5, 0)) if int(fields.get(5, 0)) in (0, 1, 2) else 0)  # type: ignore[arg-type]
        return OK, None

    def set_envoy_filter_state(self, arguments: bytes) -> Result:
        try:
            fields = decode_message(arguments, _SET_FILTER_STATE)
        except ProtobufError:
            return BAD_ARGUMENT, None
        key, value = str(fields.get(1, "")), str(fields.get(2, ""))
        if key not in FILTER_STATE_KEYS:
            return NOT_FOUND, None
        state = self.emulator.stream_filter_state()
        if state is None:
            return NOT_FOUND, None
        state[key.encode()] = FilterStateObject(value.encode(), type="string")
        return OK, None
