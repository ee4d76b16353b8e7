"""Read a WebAssembly module: imports and exports with their wasm signatures, sections.

`read_module(data)` validates the bytes with wasmtime (`Module.validate`, a kept library, so
"valid" means what a real engine means) and walks the binary's sections itself for what
wasmtime does not expose: section sizes, custom sections, and signatures without paying for
a full compile of a multi-megabyte module. Anything that is not a readable core module raises
`NotWasmError` with one sentence saying why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import wasmtime

from proxywasm.abi import Signature

__all__ = ["ImportInfo", "ExportInfo", "SectionInfo", "MemoryInfo", "ModuleInfo", "NotWasmError", "read_module"]

WASM_MAGIC = b"\0asm"
CORE_VERSION = b"\x01\x00\x00\x00"

SECTION_NAMES = {
    0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory", 6: "global",
    7: "export", 8: "start", 9: "element", 10: "code", 11: "data", 12: "datacount", 13: "tag",
}
KIND_NAMES = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}
VALUE_TYPES = {
    0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128",
    0x70: "funcref", 0x6F: "externref", 0x6E: "anyref", 0x6D: "eqref", 0x6C: "i31ref",
    0x6B: "structref", 0x6A: "arrayref", 0x69: "exnref", 0x71: "nullref", 0x72: "nullexternref",
    0x73: "nullfuncref", 0x74: "nullexnref",
}


class NotWasmError(ValueError):
    """The bytes are not a readable WebAssembly core module; the message says why."""


@dataclass(frozen=True)
class ImportInfo:
    """One import. `signature` is set for functions; `description` is human-readable."""

    module: str
    name: str
    kind: str  # "func" | "table" | "memory" | "global" | "tag"
    signature: Signature | None = None
    description: str = ""

    @property
    def qualified_name(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class ExportInfo:
    """One export. `signature` is set for functions."""

    name: str
    kind: str
    signature: Signature | None = None
    description: str = ""
    index: int = -1  # in the index space of its kind (function index for functions)


@dataclass(frozen=True)
class SectionInfo:
    """One section: `name` is the section kind, or the custom section's own name."""

    id: int
    kind: str  # "type", "code", ..., "custom"
    name: str
    offset: int  # where the section's payload starts in the file
    size: int  # payload size in bytes


@dataclass(frozen=True)
class MemoryInfo:
    """A linear memory's limits, in pages of `page_size` bytes."""

    initial: int
    maximum: int | None
    shared: bool = False
    is64: bool = False
    page_size: int = 65536

    @property
    def initial_bytes(self) -> int:
        return self.initial * self.page_size


@dataclass
class ModuleInfo:
    """What a core WebAssembly module imports, exports and contains."""

    size: int
    imports: list[ImportInfo] = field(default_factory=list)
    exports: list[ExportInfo] = field(default_factory=list)
    sections: list[SectionInfo] = field(default_factory=list)
    defined_functions: int = 0
    #: Every linear memory, imported ones first (as in the memory index space).
    memories: list[MemoryInfo] = field(default_factory=list)
    #: Initial size of every table, imported ones first.
    tables: list[int] = field(default_factory=list)
    #: Active segments with a constant offset: (memory or table index, offset, bytes or elements).
    data_segments: list[tuple[int, int, int]] = field(default_factory=list)
    element_segments: list[tuple[int, int, int]] = field(default_factory=list)
    #: The function index of the wasm start section, if any.
    start_function: int | None = None
    _data: bytes = field(default=b"", repr=False)

    def export(self, name: str) -> ExportInfo | None:
        """The export called `name`, or None."""
        for item in self.exports:
            if item.name == name:
                return item
        return None

    def function_exports(self) -> dict[str, Signature]:
        return {e.name: e.signature for e in self.exports if e.kind == "func" and e.signature}

    def section_size(self, kind: str) -> int:
        """Total payload bytes of the sections of this kind ("code", "data", "custom", ...)."""
        return sum(s.size for s in self.sections if s.kind == kind)

    @property
    def code_size(self) -> int:
        return self.section_size("code")

    def custom_section_names(self) -> list[str]:
        return [s.name for s in self.sections if s.kind == "custom"]

    def custom_section(self, name: str) -> bytes | None:
        """The payload of the first custom section called `name` (after its name), or None."""
        for s in self.sections:
            if s.kind == "custom" and s.name == name:
                reader = _Reader(self._data, s.offset, s.offset + s.size)
                reader.name()
                return self._data[reader.pos:s.offset + s.size]
        return None

    @property
    def imported_functions(self) -> int:
        return sum(1 for i in self.imports if i.kind == "func")

    def function_body_sizes(self) -> list[int]:
        """The byte size of each defined function's body, in code-section order."""
        section = next((s for s in self.sections if s.kind == "code"), None)
        if section is None:
            return []
        reader = _Reader(self._data, section.offset, section.offset + section.size)
        sizes = []
        try:
            for _ in range(reader.u32()):
                size = reader.u32()
                reader.pos += size
                sizes.append(size)
        except _Malformed:
            pass  # validated modules do not get here
        return sizes

    def function_names(self) -> dict[int, str]:
        """Function index -> name, from the `name` custom section (empty when stripped)."""
        raw = self.custom_section("name")
        names: dict[int, str] = {}
        if not raw:
            return names
        reader = _Reader(raw, 0, len(raw))
        try:
            while reader.pos < reader.end:
                subsection, size = reader.byte(), reader.u32()
                end = reader.pos + size
                if subsection == 1:  # function names
                    sub = _Reader(raw, reader.pos, min(end, reader.end))
                    for _ in range(sub.u32()):
                        index = sub.u32()
                        names[index] = sub.name()
                    break
                reader.pos = end
        except _Malformed:
            pass  # a damaged name section only costs the names
        return names

    def largest_functions(self, count: int = 10) -> list[tuple[int, str, int]]:
        """The `count` biggest defined functions as (function index, name or "", body bytes).

        Names come from the `name` section, else from the function's export."""
        names = {e.index: e.name for e in self.exports if e.kind == "func"} | self.function_names()
        first = self.imported_functions
        sizes = sorted(((size, first + i) for i, size in enumerate(self.function_body_sizes())),
                       reverse=True)[:count]
        return [(index, names.get(index, ""), size) for size, index in sizes]


# ---------------------------------------------------------------------------


class _Malformed(Exception):
    pass


class _Reader:
    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self.data, self.pos, self.end = data, pos, end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise _Malformed("unexpected end")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def _unsigned(self, max_bytes: int) -> int:
        result = shift = 0
        for _ in range(max_bytes):
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
        raise _Malformed("integer too long")

    def u32(self) -> int:
        return self._unsigned(5)

    def s32(self) -> int:
        result = shift = 0
        for _ in range(5):
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result - (1 << shift) if b & 0x40 else result
        raise _Malformed("integer too long")

    def const_i32(self) -> int | None:
        """A constant expression that is `i32.const N end`: N; anything else: None, and the
        reader is left inside the expression (callers stop reading then)."""
        if self.byte() != 0x41:
            return None
        value = self.s32()
        return value if self.byte() == 0x0B else None

    def u64(self) -> int:
        return self._unsigned(10)

    def bytes(self, n: int) -> bytes:
        if n > self.end - self.pos:
            raise _Malformed("unexpected end")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def name(self) -> str:
        raw = self.bytes(self.u32())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Malformed("name is not UTF-8") from None

    def valtype(self) -> str:
        b = self.byte()
        if b in VALUE_TYPES:
            return VALUE_TYPES[b]
        if b in (0x63, 0x64):  # (ref null? heaptype)
            nullable = "null " if b == 0x63 else ""
            return f"(ref {nullable}{self.heaptype()})"
        raise _Malformed(f"unknown value type 0x{b:02x}")

    def heaptype(self) -> str:
        b = self.data[self.pos] if self.pos < self.end else -1
        if b in VALUE_TYPES:  # an abstract heap type: one negative s33 byte
            self.pos += 1
            return VALUE_TYPES[b].removesuffix("ref")
        return str(self.u32())  # a type index

    def storagetype(self) -> None:
        b = self.data[self.pos] if self.pos < self.end else -1
        if b in (0x78, 0x77):  # packed i8 / i16
            self.pos += 1
        else:
            self.valtype()
        self.byte()  # mutability

    def limits(self) -> str:
        return self.memory_limits()[1]

    def memory_limits(self) -> tuple[MemoryInfo, str]:
        flags = self.byte()
        if flags & ~0x0F:
            raise _Malformed("bad limits")
        read = self.u64 if flags & 0x04 else self.u32
        minimum = read()
        maximum = read() if flags & 0x01 else None
        page_size = 1 << self.u32() if flags & 0x08 else 65536
        memory = MemoryInfo(minimum, maximum, bool(flags & 0x02), bool(flags & 0x04), page_size)
        text = f"min {minimum}" + (f" max {maximum}" if maximum is not None else "")
        return memory, text + (" shared" if flags & 0x02 else "") + (" 64-bit" if flags & 0x04 else "")


def _walk_sections(data: bytes) -> list[SectionInfo]:
    sections: list[SectionInfo] = []
    reader = _Reader(data, 8, len(data))
    while reader.pos < len(data):
        start = reader.pos
        section_id = reader.byte()
        try:
            size = reader.u32()
        except _Malformed:
            raise NotWasmError(f"it is truncated or corrupt: the section header at byte {start} is cut off") from None
        kind = SECTION_NAMES.get(section_id)
        if kind is None:
            raise NotWasmError(f"it is corrupt: unknown section id {section_id} at byte {start}")
        payload = reader.pos
        if size > len(data) - payload:
            raise NotWasmError(
                f"it is truncated: the {kind} section at byte {start} needs {size} bytes "
                f"but the file ends after {len(data) - payload}"
            )
        name = kind
        if section_id == 0:
            try:
                name = _Reader(data, payload, payload + size).name()
            except _Malformed:
                raise NotWasmError(f"it is corrupt: the custom section at byte {start} has a bad name") from None
        sections.append(SectionInfo(section_id, kind, name, payload, size))
        reader.pos = payload + size
    return sections


def _read_types(data: bytes, section: SectionInfo) -> list[Signature | None]:
    """One entry per type index: the signature of function types, None for struct/array."""
    r = _Reader(data, section.offset, section.offset + section.size)
    types: list[Signature | None] = []

    def composite(form: int) -> Signature | None:
        if form == 0x60:
            params = tuple(r.valtype() for _ in range(r.u32()))
            results = tuple(r.valtype() for _ in range(r.u32()))
            return Signature(params, results)
        if form == 0x5F:  # struct
            for _ in range(r.u32()):
                r.storagetype()
            return None
        if form == 0x5E:  # array
            r.storagetype()
            return None
        raise _Malformed(f"unknown type form 0x{form:02x}")

    def subtype(form: int) -> Signature | None:
        if form in (0x50, 0x4F):  # sub / sub final
            for _ in range(r.u32()):
                r.u32()
            return composite(r.byte())
        return composite(form)

    for _ in range(r.u32()):
        form = r.byte()
        if form == 0x4E:  # a recursion group
            types.extend(subtype(r.byte()) for _ in range(r.u32()))
        else:
            types.append(subtype(form))
    return types


def _describe_sig(sig: Signature | None) -> str:
    return f"func {sig}" if sig else "func"


def _parse_layout(data: bytes, sections: list[SectionInfo], info: ModuleInfo) -> None:
    """Tables, the start function and the constant-offset active segments: what decides
    whether instantiation succeeds. Stops quietly at forms it does not decode."""
    by_kind = {s.kind: s for s in sections if s.kind != "custom"}

    def reader(kind: str) -> _Reader:
        section = by_kind[kind]
        return _Reader(data, section.offset, section.offset + section.size)

    try:
        if "table" in by_kind:
            r = reader("table")
            for _ in range(r.u32()):
                if r.data[r.pos] == 0x40:  # a table with an initialiser expression
                    return
                r.valtype()
                info.tables.append(r.memory_limits()[0].initial)
        if "start" in by_kind:
            info.start_function = reader("start").u32()
        if "element" in by_kind:
            r = reader("element")
            for _ in range(r.u32()):
                if r.u32() != 0:  # only the common form: table 0, offset, function indices
                    break
                offset = r.const_i32()
                if offset is None:
                    break
                count = r.u32()
                for _ in range(count):
                    r.u32()
                info.element_segments.append((0, offset, count))
        if "data" in by_kind:
            r = reader("data")
            for _ in range(r.u32()):
                flags = r.u32()
                if flags == 1:  # passive
                    size = r.u32()  # (not `r.pos += r.u32()`: that drops the LEB's own bytes)
                    r.pos += size
                    continue
                if flags not in (0, 2):
                    break
                memory = r.u32() if flags == 2 else 0
                offset = r.const_i32()
                if offset is None:
                    break
                size = r.u32()
                r.pos += size
                info.data_segments.append((memory, offset, size))
    except _Malformed:
        pass


def _parse_interface(data: bytes, sections: list[SectionInfo], info: ModuleInfo) -> None:
    by_kind = {s.kind: s for s in sections if s.kind != "custom"}
    types = _read_types(data, by_kind["type"]) if "type" in by_kind else []

    def sig(index: int) -> Signature | None:
        if index >= len(types):
            raise _Malformed("type index out of range")
        return types[index]

    func_types: list[Signature | None] = []
    if "import" in by_kind:
        s = by_kind["import"]
        r = _Reader(data, s.offset, s.offset + s.size)
        for _ in range(r.u32()):
            module, name = r.name(), r.name()
            kind = r.byte()
            if kind == 0:
                signature = sig(r.u32())
                func_types.append(signature)
                info.imports.append(ImportInfo(module, name, "func", signature, _describe_sig(signature)))
            elif kind == 1:
                ref = r.valtype()
                table, text = r.memory_limits()
                info.tables.append(table.initial)
                info.imports.append(ImportInfo(module, name, "table", None, f"table {ref} {text}"))
            elif kind == 2:
                memory, text = r.memory_limits()
                info.memories.append(memory)
                info.imports.append(ImportInfo(module, name, "memory", None, f"memory {text}"))
            elif kind == 3:
                vt = r.valtype()
                mutable = r.byte()
                info.imports.append(ImportInfo(module, name, "global", None,
                                               f"global {'mut ' if mutable else ''}{vt}"))
            elif kind == 4:
                r.byte()
                info.imports.append(ImportInfo(module, name, "tag", None, f"tag {sig(r.u32())}"))
            else:
                raise _Malformed("bad import kind")
    if "function" in by_kind:
        s = by_kind["function"]
        r = _Reader(data, s.offset, s.offset + s.size)
        count = r.u32()
        info.defined_functions = count
        func_types.extend(sig(r.u32()) for _ in range(count))
    if "memory" in by_kind:
        s = by_kind["memory"]
        r = _Reader(data, s.offset, s.offset + s.size)
        info.memories.extend(r.memory_limits()[0] for _ in range(r.u32()))
    if "export" in by_kind:
        s = by_kind["export"]
        r = _Reader(data, s.offset, s.offset + s.size)
        for _ in range(r.u32()):
            name = r.name()
            kind = r.byte()
            index = r.u32()
            if kind == 0:
                signature = func_types[index] if index < len(func_types) else None
                info.exports.append(ExportInfo(name, "func", signature, _describe_sig(signature), index))
            elif kind in KIND_NAMES:
                info.exports.append(ExportInfo(name, KIND_NAMES[kind], None, KIND_NAMES[kind], index))
            else:
                raise _Malformed("bad export kind")


@lru_cache(maxsize=1)
def _engine() -> wasmtime.Engine:
    return wasmtime.Engine()


def _first_line(error: Exception) -> str:
    """wasmtime's (possibly multi-line) error as one line."""
    text = " ".join(str(error).replace("Caused by:", "").split())
    return text.rstrip(".") or type(error).__name__


def read_module(data: bytes) -> ModuleInfo:
    """Read and validate a core WebAssembly module.

    Raises `NotWasmError` (one sentence) for empty, truncated, random, text-format,
    component-model or otherwise invalid bytes.
    """
    data = bytes(data)
    if not data:
        raise NotWasmError("the file is empty")
    if data[:4] != WASM_MAGIC:
        head = data[:64].lstrip()
        if head.startswith(b"(module") or head.startswith(b"(component") or head.startswith(b";;"):
            raise NotWasmError("it is WebAssembly text (.wat), not a binary module: convert it with wat2wasm first")
        raise NotWasmError("it does not start with the WebAssembly magic bytes \\0asm")
    if len(data) < 8:
        raise NotWasmError("it is truncated inside the 8-byte WebAssembly header")
    version = data[4:8]
    if version != CORE_VERSION:
        if version[2:4] == b"\x01\x00":
            raise NotWasmError("it is a WebAssembly component, not a core module: "
                               "Proxy-Wasm hosts load only core modules")
        raise NotWasmError(f"it declares WebAssembly binary version {int.from_bytes(version, 'little')}, "
                           "not version 1")
    sections = _walk_sections(data)
    try:
        wasmtime.Module.validate(_engine(), data)
    except wasmtime.WasmtimeError as err:
        raise NotWasmError(f"it is not a valid WebAssembly module ({_first_line(err)})") from None
    info = ModuleInfo(size=len(data), sections=sections, _data=data)
    try:
        _parse_interface(data, sections, info)
        _parse_layout(data, sections, info)
    except _Malformed as err:
        # wasmtime accepted it, so this is an encoding the walker does not know. (Asking
        # wasmtime's C API for the types instead aborts the process on GC reference types.)
        raise NotWasmError(f"it uses a WebAssembly encoding proxywasm cannot read yet ({err})") from None
    return info
