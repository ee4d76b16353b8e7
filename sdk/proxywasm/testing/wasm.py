"""The emulator reached through wasmtime: any compiled Proxy-Wasm module, whatever built it.

Each `env.proxy_*` import is a wasmtime host function generated from the ABI table: it reads
its pointer/size arguments out of linear memory, calls the emulator's raw-hostcall method of
the same name (`Hostcall.raw_name`), and writes results back, allocating returned bytes
with the module's own `malloc` / `proxy_on_memory_allocate`, as Envoy does.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path
from typing import Any, Callable, Optional

import wasmtime
from wasmtime import Config, Engine, FuncType, Linker, Module, Store, ValType, WasiConfig

from ..abi import ABI_VERSIONS, MARKERS, AbiVersion, Hostcall, LogLevel, Status
from .emulator import Emulator, FilterLoadError

_VAL = {"i32": ValType.i32(), "i64": ValType.i64()}
_WRITE_OK = int(Status.OK)
_WASI_ENOTSUP = 58  # Envoy's answer for the CPU-time clocks
try:
    from importlib.metadata import version as _dist_version

    _WASMTIME_VERSION = _dist_version("wasmtime")
except Exception:  # pragma: no cover - a vendored wasmtime without metadata
    _WASMTIME_VERSION = "unknown"
_TRUE_WHEN_MISSING = frozenset({"proxy_on_vm_start", "proxy_on_configure", "proxy_on_done"})


class ModuleTrap(Exception):
    """The module trapped (crashed) inside a callback; the message carries its backtrace."""


def _func_type(params: tuple[str, ...], results: tuple[str, ...]) -> FuncType:
    return FuncType([_VAL[p] for p in params], [_VAL[r] for r in results])


def _u32(value: int) -> int:
    return value & 0xFFFFFFFF


class WasmModule:
    """A Proxy-Wasm module instantiated in wasmtime and wired to an `Emulator`."""

    def __init__(self, data: bytes, emulator: Emulator, *, name: str = "module",
                 fuel: Optional[int] = None, max_memory_bytes: Optional[int] = None) -> None:
        self.emulator = emulator
        self.name = name
        self.fuel = fuel
        config = Config()
        config.consume_fuel = fuel is not None
        self.engine = Engine(config)
        self.module = _compile(self.engine, data, name, fuel is not None)
        self.abi = self._detect_abi()
        self.store = Store(self.engine)
        if max_memory_bytes is not None:
            self.store.set_limits(memory_size=max_memory_bytes)
        if fuel is not None:
            self.store.set_fuel(fuel)
        wasi = WasiConfig()
        self.store.set_wasi(wasi)
        linker = Linker(self.engine)
        linker.allow_shadowing = True
        linker.define_wasi()
        self._define_wasi_overrides(linker)
        self._define_hostcalls(linker)
        try:
            self.instance = linker.instantiate(self.store, self.module)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as err:
            raise FilterLoadError(f"{name}: cannot link: {_first_line(err)}") from None
        exports = self.instance.exports(self.store)
        self._exports = {e.name: e for e in self.module.exports}
        self._funcs: dict[str, Any] = {}
        for export in self.module.exports:
            if isinstance(export.type, FuncType):
                self._funcs[export.name] = exports[export.name]
        self.memory = exports["memory"] if "memory" in self._exports else None
        self._alloc = self._funcs.get("malloc") or self._funcs.get("proxy_on_memory_allocate")
        if self._alloc is None:
            raise FilterLoadError(f"{name}: exports neither malloc nor proxy_on_memory_allocate; "
                                  f"Envoy refuses it (\"Wasm module is missing malloc function\")")
        self._arity = {c.name: len(c.params) for c in self.abi.callbacks.values()}

    @classmethod
    def from_file(cls, path: Path, emulator: Emulator, **kw: Any) -> "WasmModule":
        return cls(Path(path).read_bytes(), emulator, name=str(path), **kw)

    def _detect_abi(self) -> AbiVersion:
        versions = [MARKERS[e.name] for e in self.module.exports if e.name in MARKERS]
        if not versions:
            raise FilterLoadError(f"{self.name} exports no proxy_abi_version_*: it was not built for "
                                  f"Proxy-Wasm, or for a pre-0.1 ABI")
        return ABI_VERSIONS[versions[0]]

    # --- start-up ---------------------------------------------------------------------------
    def start(self) -> None:
        """Run `_initialize` (+ `main`) or `_start` with only logging allowed, as Envoy does."""
        em = self.emulator
        em.initializing = True
        try:
            if "_initialize" in self._funcs:
                self._invoke("_initialize")
                if "main" in self._funcs:
                    self._invoke("main", 0, 0)
                elif "__main_void" in self._funcs:
                    self._invoke("__main_void")
            elif "_start" in self._funcs:
                self._invoke("_start")
        finally:
            em.initializing = False

    # --- callbacks --------------------------------------------------------------------------
    def call(self, name: str, context_id: int, *args: int) -> Optional[int]:
        fn = self._funcs.get(name)
        if fn is None:  # every callback is optional; Envoy treats missing ones as success
            return 1 if name in _TRUE_WHEN_MISSING else None
        arity = self._arity.get(name, 1 + len(args))
        return self._invoke(name, context_id, *args[:arity - 1])

    def _invoke(self, name: str, *args: int) -> Optional[int]:
        if self.fuel is not None:
            self.store.set_fuel(self.fuel)
        try:
            result = self._funcs[name](self.store, *args)
        except FilterLoadError:
            raise
        except wasmtime.Trap as trap:
            raise ModuleTrap(_trap_message(name, trap)) from None
        except wasmtime.WasmtimeError as err:
            raise ModuleTrap(f"{self.name}: {name} failed: {_first_line(err)}") from None
        return result if isinstance(result, int) else None

    # --- memory helpers ---------------------------------------------------------------------
    def _memory(self, caller: Any) -> Any:
        memory = caller.get("memory")
        if memory is None:
            raise ModuleTrap(f"{self.name} exports no memory")
        return memory

    def _write_bytes(self, caller: Any, memory: Any, data: bytes, ptr_ptr: int, size_ptr: int) -> None:
        if data:
            alloc = caller.get("malloc") or caller.get("proxy_on_memory_allocate")
            addr = alloc(caller, len(data))
            if not addr:
                raise ModuleTrap(f"{self.name}: its allocator returned 0 for {len(data)} bytes")
            memory.write(caller, data, addr)
        else:
            addr = 0
        memory.write(caller, struct.pack("<I", addr), ptr_ptr)
        memory.write(caller, struct.pack("<I", len(data)), size_ptr)

    # --- host functions ---------------------------------------------------------------------
    def _define_hostcalls(self, linker: Linker) -> None:
        wanted = {(imp.module, imp.name) for imp in self.module.imports}
        known: dict[str, Hostcall] = dict(self.abi.hostcalls)  # Envoy links only this version's
        for module_name, name in wanted:
            if module_name != "env":
                continue
            hostcall = known.get(name)
            if hostcall is None:
                if name in ("pthread_equal", "emscripten_notify_memory_growth"):
                    self._define_envoy_extra(linker, name)
                    continue
                raise FilterLoadError(f"{self.name} imports env.{name}, which Envoy does not provide "
                                      f"(\"Failed to load Wasm module due to a missing import\")")
            sig = hostcall.signature
            linker.define_func("env", name, _func_type(sig.params, sig.results),
                               self._make_hostcall(hostcall), access_caller=True)

    def _define_envoy_extra(self, linker: Linker, name: str) -> None:
        if name == "pthread_equal":
            linker.define_func("env", name, _func_type(("i32", "i32"), ("i32",)),
                               lambda a, b: int(a == b))
        else:
            linker.define_func("env", name, _func_type(("i32",), ()), lambda _pages: None)

    def _make_hostcall(self, hostcall: Hostcall) -> Callable[..., int]:
        em = self.emulator
        method = getattr(em, hostcall.raw_name)
        plan = [(slot.kind, slot.name) for slot in hostcall.slots]
        has_output = any(kind.startswith("out") for kind, _ in plan)
        needs_memory = has_output or any(kind == "in-bytes" for kind, _ in plan)
        module = self

        def call(caller: Any, *args: int) -> int:
            memory = module._memory(caller) if needs_memory else None
            inputs: list[Any] = []
            outputs: list[tuple[str, int, int]] = []
            pos = 0
            for kind, _name in plan:
                if kind == "in-int":  # i32 arguments are unsigned in the ABI (sizes, ids)
                    inputs.append(args[pos] & 0xFFFFFFFF)
                    pos += 1
                elif kind == "in-i64":
                    inputs.append(args[pos])
                    pos += 1
                elif kind == "in-bytes":
                    ptr, size = _u32(args[pos]), _u32(args[pos + 1])
                    inputs.append(bytes(memory.read(caller, ptr, ptr + size)) if size else b"")
                    pos += 2
                elif kind == "out-bytes":
                    outputs.append((kind, _u32(args[pos]), _u32(args[pos + 1])))
                    pos += 2
                else:
                    outputs.append((kind, _u32(args[pos]), 0))
                    pos += 1
            result = method(*inputs)
            if not has_output:
                return int(result)
            status, *values = result
            if status == _WRITE_OK:
                for (kind, ptr, size_ptr), value in zip(outputs, values):
                    if kind == "out-bytes":
                        module._write_bytes(caller, memory, value or b"", ptr, size_ptr)
                    elif kind == "out-u64":
                        memory.write(caller, struct.pack("<Q", value & 0xFFFFFFFFFFFFFFFF), ptr)
                    else:
                        memory.write(caller, struct.pack("<I", value & 0xFFFFFFFF), ptr)
            return int(status)

        return call

    def _define_wasi_overrides(self, linker: Linker) -> None:
        """Envoy's WASI: stdout and stderr become log lines, nothing else is written; the clocks
        are the emulator's (`host.advance` moves them), as Envoy answers clock_time_get with
        its own Proxy-Wasm clock."""
        em = self.emulator
        module = self

        def fd_write(caller: Any, fd: int, iovs: int, iovs_len: int, nwritten_ptr: int) -> int:
            memory = module._memory(caller)
            total = 0
            chunks = []
            for k in range(iovs_len):
                base, length = struct.unpack("<II", bytes(memory.read(caller, iovs + 8 * k,
                                                                      iovs + 8 * k + 8)))
                chunks.append(bytes(memory.read(caller, base, base + length)) if length else b"")
                total += length
            memory.write(caller, struct.pack("<I", total), nwritten_ptr)
            if fd not in (1, 2):
                return 8  # EBADF
            text = b"".join(chunks).rstrip(b"\n")
            em.log(int(LogLevel.INFO if fd == 1 else LogLevel.ERROR), text)
            return 0

        def clock_time_get(caller: Any, clock_id: int, _precision: int, time_ptr: int) -> int:
            now = em.clock_time_ns(clock_id)
            if now is None:
                return _WASI_ENOTSUP
            module._memory(caller).write(caller, struct.pack("<Q", now), _u32(time_ptr))
            return 0

        for wasi_module in ("wasi_snapshot_preview1", "wasi_unstable"):
            linker.define_func(wasi_module, "fd_write",
                               _func_type(("i32", "i32", "i32", "i32"), ("i32",)), fd_write,
                               access_caller=True)
            linker.define_func(wasi_module, "clock_time_get",
                               _func_type(("i32", "i64", "i32"), ("i32",)), clock_time_get,
                               access_caller=True)


def _cache_dir() -> Path:
    root = os.environ.get("PROXYWASM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "proxywasm")
    return Path(root) / "wasmtime-modules"


def _compile(engine: Engine, data: bytes, name: str, fuel: bool) -> Module:
    """Compile with Cranelift once per module bytes; later loads deserialize the machine code.

    A large module (CPython is ~13 MB) takes seconds to compile; the cache key covers the
    bytes, the wasmtime version and the engine settings that change the code (fuel).
    """
    key = hashlib.sha256(data + f"|{_WASMTIME_VERSION}|fuel={fuel}".encode()).hexdigest()
    path = _cache_dir() / f"{key}.cwasm"
    if path.exists():
        try:
            return Module.deserialize_file(engine, str(path))
        except (wasmtime.WasmtimeError, OSError):
            path.unlink(missing_ok=True)
    try:
        module = Module(engine, data)
    except wasmtime.WasmtimeError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "invalid module"
        raise FilterLoadError(f"{name}: not a loadable WebAssembly module: {first}") from None
    if len(data) > 256 * 1024:  # small modules compile faster than a cache lookup pays
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_bytes(module.serialize())
            os.replace(tmp, path)
        except OSError:
            pass
    return module


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _trap_message(callback: str, trap: Any) -> str:
    lines = [f"module trapped in {callback}: {_first_line(trap)}"]
    frames = getattr(trap, "frames", None) or []
    for frame in frames[:20]:
        fname = getattr(frame, "func_name", None) or f"func[{getattr(frame, 'func_index', '?')}]"
        lines.append(f"  at {fname} (offset {getattr(frame, 'module_offset', '?')})")
    return "\n".join(lines)
