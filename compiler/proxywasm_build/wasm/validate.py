"""Check a WebAssembly module against a Proxy-Wasm ABI and what Envoy actually provides.

`validate_module(data)` predicts, before deployment, each error Envoy 1.40 would log when
loading the module, and warns about what loads but misbehaves or is slow. Every rule was
checked against the real Envoy 1.40 (docs/validate.md lists each check, its sentence, and
the Envoy error it prevents). The ABI facts come from `proxywasm.abi`, never from here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from proxywasm import abi
from proxywasm.abi import ABI_VERSIONS, Signature

from proxywasm_build.wasm.metadata_section import METADATA_SECTION
from proxywasm_build.wasm.reader import ModuleInfo, NotWasmError, read_module

__all__ = ["Finding", "ValidationReport", "validate_module", "NotWasmError", "SUPPORTED_ENVOY",
           "PYTHON_SECTION"]

Severity = Literal["error", "warning"]

#: Envoy versions whose host functions were verified by probe modules.
SUPPORTED_ENVOY = ("1.40",)
#: Our modules' custom section describing the embedded Python and SDK.
PYTHON_SECTION = METADATA_SECTION

#: V8 in Envoy compiles all code with TurboFan before the first VM starts (cpp-host turns
#: Liftoff off). Measured on this project's 2-core machine with Envoy 1.40: see docs/validate.md.
TURBOFAN_SECONDS_PER_MB = (1.0, 1.5)  # CPython-like code on a quiet machine; small functions are faster
CODE_SIZE_WARNING_BYTES = 1_000_000
#: proxy-wasm-cpp-host's PROXY_WASM_HOST_MAX_WASM_MEMORY_SIZE_BYTES: larger initial memories fail.
ENVOY_MAX_MEMORY_BYTES = 1 << 30
#: Istio's OCI fetcher refuses larger modules unless ISTIO_WASM_MAX_BINARY_SIZE_BYTES is raised.
ISTIO_MAX_MODULE_BYTES = 256 * 1024 * 1024

#: Where Envoy 1.40 registers a WASI function with another signature than WASI's.
WASI_SIGNATURES_ENVOY_CHANGED = {"path_link": "seven", "path_symlink": "five"}

#: The WASI errno Envoy 1.40 returns from the functions that always fail there, measured by a
#: probe module calling each (the others are in `abi.ENVOY_WASI_WORKING`).
ENVOY_WASI_FAILURES = {
    "fd_read": 52, "fd_fdstat_set_flags": 52, "fd_prestat_get": 8, "fd_prestat_dir_name": 52,
    "fd_filestat_get": 8, "fd_readdir": 20, "fd_renumber": 8, "fd_pread": 52, "path_open": 44,
    **{name: 58 for name in ("path_create_directory", "path_filestat_get", "path_filestat_set_times",
                             "path_link", "path_readlink", "path_remove_directory", "path_rename",
                             "path_symlink", "path_unlink_file", "sock_accept", "sock_recv",
                             "sock_send", "sock_shutdown")},
}
_WASI_ERRNO_NAMES = {8: "EBADF", 20: "errno 20", 28: "EINVAL", 44: "ENOENT", 52: "ENOSYS", 58: "ENOTSUP"}

#: How to replace a hostcall the declared ABI does not have.
_HOSTCALL_HINTS = {
    "proxy_get_configuration": "read it with proxy_get_buffer_bytes(PLUGIN_CONFIGURATION or VM_CONFIGURATION)",
    "proxy_continue_request": "use proxy_continue_stream(HTTP_REQUEST)",
    "proxy_continue_response": "use proxy_continue_stream(HTTP_RESPONSE)",
    "proxy_clear_route_cache": "call the foreign function clear_route_cache instead",
}


@dataclass(frozen=True)
class Finding:
    """One problem: `message` is one line saying what is wrong and what to do.

    `envoy_error` is the error Envoy logs when it loads the module, for findings that make
    Envoy refuse it. `code` is a stable identifier for scripts.
    """

    severity: Severity
    message: str
    code: str = ""
    envoy_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "code": self.code, "message": self.message,
                "envoy_error": self.envoy_error}


@dataclass
class ValidationReport:
    """The outcome of `validate_module`: `ok` is True when no finding is an error."""

    abi_version: str | None
    envoy: str
    findings: list[Finding] = field(default_factory=list)
    module: ModuleInfo | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "abi_version": self.abi_version,
            "envoy": self.envoy,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [f.to_dict() for f in self.findings],
        }


def envoy_signature(sig: Signature) -> str:
    """A signature as Envoy's log writes it: `i32 i32 -> i32`, `void -> void`."""
    return f"{' '.join(sig.params) or 'void'} -> {' '.join(sig.results) or 'void'}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def one_line(text: str) -> str:
    """`text` with control characters (from names inside the module) escaped: one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def normalize_envoy_version(envoy: str) -> str:
    """"1.40", "1.40.0" or "v1.40.2" -> "1.40"; raises ValueError for anything else."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.\d+)?", envoy.strip())
    if not match:
        raise ValueError(f"--envoy {envoy!r} is not a version like 1.40")
    return f"{int(match.group(1))}.{int(match.group(2))}"


def validate_module(data: bytes, abi: str | None = None, envoy: str = "1.40") -> ValidationReport:  # noqa: A002
    """Validate module bytes for Proxy-Wasm ABI `abi` (default: the module's own marker).

    Raises `NotWasmError` when the bytes are not a readable WebAssembly module, and
    `ValueError` for an unknown `abi` or a malformed `envoy` version.
    """
    if abi is not None and abi not in ABI_VERSIONS:
        known = ", ".join(ABI_VERSIONS)
        raise ValueError(f"unknown ABI version {abi!r}; known versions are {known}")
    envoy_version = normalize_envoy_version(envoy)
    info = read_module(data)
    checker = _Checker(info, abi, envoy_version)
    checker.run()
    return ValidationReport(checker.abi_version, envoy_version, checker.findings, info)


class _Checker:
    def __init__(self, info: ModuleInfo, requested_abi: str | None, envoy: str) -> None:
        self.info = info
        self.requested_abi = requested_abi
        self.envoy = envoy
        self.findings: list[Finding] = []
        self.abi_version: str | None = None
        self.exports = {e.name: e for e in info.exports}

    def error(self, code: str, message: str, envoy_error: str | None = None) -> None:
        self.findings.append(Finding("error", one_line(message), code, envoy_error))

    def warning(self, code: str, message: str) -> None:
        self.findings.append(Finding("warning", one_line(message), code))

    def error_unless(self, harmless: bool, code: str, message: str, envoy_error: str) -> None:
        if harmless:
            self.warning(code, message)
        else:
            self.error(code, message, envoy_error)

    def run(self) -> None:
        if self.envoy not in SUPPORTED_ENVOY:
            self.warning("envoy-version-unverified",
                         f"checked against Envoy {SUPPORTED_ENVOY[-1]}'s host functions: Envoy "
                         f"{self.envoy} was not verified and may provide different ones")
        version = self.check_marker()
        self.check_allocator()
        self.check_start()
        self.check_callbacks(version)
        self.check_imports(version)
        self.check_memory()
        self.check_segments()
        self.check_sizes()
        self.check_python_section()

    # -- ABI marker -------------------------------------------------------------------

    def check_marker(self) -> abi.AbiVersion:
        markers = [e for e in self.info.exports if e.name.startswith("proxy_abi_version_")]
        known = [e for e in markers if e.kind == "func" and e.name in abi.MARKERS]
        missing_error = "Missing or unknown Proxy-Wasm ABI version"
        for export in markers:
            # Next to a known marker function Envoy just ignores these: then they only warn.
            if export.kind != "func":
                self.error_unless(bool(known), "abi-marker-not-function",
                                  f"exports {export.name} as a {export.kind}, but Envoy recognises the "
                                  "ABI marker only as a function: export it as an empty function",
                                  missing_error)
            elif export.name not in abi.MARKERS:
                self.error_unless(bool(known), "abi-marker-unknown",
                                  f"exports {export.name}, an ABI version Envoy {self.envoy} does not "
                                  f"know: build it for ABI {', '.join(reversed(abi.ABI_VERSIONS))}",
                                  missing_error)
        if not markers:
            self.error("abi-marker-missing",
                       "exports no proxy_abi_version_* function: it was not built for Proxy-Wasm, "
                       "or for a pre-0.1 ABI; export proxy_abi_version_0_2_1 (an empty function)",
                       missing_error)
        if len(known) > 1:
            names = ", ".join(e.name for e in known)
            self.error("abi-marker-multiple",
                       f"exports {len(known)} ABI markers ({names}): Envoy silently uses the first, "
                       f"{known[0].name}; export exactly one")
        for export in known:
            if export.signature != Signature((), ()):
                self.warning("abi-marker-signature",
                             f"{export.name} has signature {export.signature}, not () -> (): Envoy only "
                             "looks at the name, but make it an empty function")
        declared = abi.MARKERS[known[0].name] if known else None
        self.abi_version = declared
        if self.requested_abi and declared and declared != self.requested_abi:
            self.error("abi-version-mismatch",
                       f"declares ABI {declared} but --abi {self.requested_abi} was asked for: rebuild it "
                       f"for {self.requested_abi} or validate with --abi {declared}")
        # Envoy checks the module against the ABI it declares; without one, against what was asked.
        return abi.ABI_VERSIONS[declared or self.requested_abi or abi.LATEST.version]

    # -- allocator and start functions ------------------------------------------------

    def check_allocator(self) -> None:
        expected = abi.START_EXPORTS["malloc"]
        present = []
        for name in ("malloc", "proxy_on_memory_allocate"):
            export = self.exports.get(name)
            if export is None:
                continue
            if export.kind != "func":
                self.warning("allocator-not-function",
                             f"exports {name} as a {export.kind}, not a function, so Envoy ignores it: "
                             "export it as a function (i32) -> (i32) returning the allocated pointer")
                continue
            present.append(name)
            self.check_export_signature(name, export.signature, expected, "allocator-signature")
        if not present:
            self.error("allocator-missing",
                       "exports neither malloc nor proxy_on_memory_allocate: the host cannot hand it "
                       "memory; export one of them as (i32) -> (i32)",
                       "Wasm module is missing malloc function.")

    def check_start(self) -> None:
        initialize, start = self.exports.get("_initialize"), self.exports.get("_start")
        if initialize is not None:
            names = ["_initialize", "main", "__main_void"]
        elif start is not None:
            names = ["_start"]
            if any(i.module in abi.WASI_MODULES for i in self.info.imports):
                # A WASI libc's _start runs main and then the destructors; a plain _start
                # (wasm32-unknown-unknown, no WASI) is only an init hook, which is fine.
                self.warning("wasi-command",
                             "exports _start but not _initialize: it is a WASI command, whose runtime "
                             "may shut down when _start returns; build it as a reactor "
                             "(-mexec-model=reactor)")
        else:
            names = []
            if not (python_metadata(self.info) or {}).get("snapshot"):  # ours ran them at build time
                self.warning("start-missing",
                             "exports neither _initialize nor _start: libc and C constructors never "
                             "run unless it is a pre-initialised snapshot (wizer); build it as a WASI "
                             "reactor (-mexec-model=reactor)")
        for name in names:
            export = self.exports.get(name)
            if export is not None and export.kind == "func":
                self.check_export_signature(name, export.signature, abi.START_EXPORTS[name],
                                            "start-signature")

    # -- callbacks --------------------------------------------------------------------

    def check_callbacks(self, version: abi.AbiVersion) -> None:
        for export in self.info.exports:
            name = export.name
            expected: Signature | None = None
            if name in version.callbacks:
                expected = version.callbacks[name].signature
            elif name in abi.EXTRA_HOST_KNOWN_CALLBACKS:
                expected = abi.EXTRA_HOST_KNOWN_CALLBACKS[name]
            elif name.startswith("proxy_on_"):
                other = [v for v, a in abi.ABI_VERSIONS.items() if name in a.callbacks]
                if other:
                    self.warning("callback-other-abi",
                                 f"exports {name}, which ABI {version.version} hosts never call (it "
                                 f"belongs to ABI {', '.join(other)}): declare that ABI or drop it")
                else:
                    self.warning("callback-unknown",
                                 f"exports {name}, which is no Proxy-Wasm callback, so the host never "
                                 "calls it: check the spelling")
                continue
            if expected is None or name == "proxy_on_memory_allocate":
                continue  # the allocator was checked with malloc
            if export.kind != "func":
                self.warning("callback-not-function",
                             f"exports {name} as a {export.kind}, not a function, so Envoy never calls "
                             f"it: export the callback as a function {expected}")
                continue
            self.check_export_signature(name, export.signature, expected, "callback-signature",
                                        version)
        if "proxy_on_context_create" not in self.exports:
            self.warning("no-context-create",
                         "exports no proxy_on_context_create: the host can never create a context, "
                         "so the filter never runs; export it as (i32, i32) -> ()")

    def check_export_signature(self, name: str, actual: Signature | None, expected: Signature,
                               code: str, version: abi.AbiVersion | None = None) -> None:
        if actual is None or actual == expected:
            return
        hint = "fix its parameters and results"
        if version is not None:
            matches = [v for v, a in abi.ABI_VERSIONS.items()
                       if name in a.callbacks and a.callbacks[name].signature == actual]
            if matches:
                hint = (f"it has the ABI {matches[0]} signature; change it to the ABI "
                        f"{version.version} one or declare ABI {matches[0]}")
        abi_text = f"ABI {version.version}" if version is not None else "Envoy"
        self.error(code,
                   f"exports {name} as {actual} but {abi_text} needs {expected}: {hint}",
                   f"Bad function signature for: {name}, want: {envoy_signature(expected)}, "
                   f"but the module exports: {envoy_signature(actual)}")

    # -- imports ----------------------------------------------------------------------

    def check_imports(self, version: abi.AbiVersion) -> None:
        failing_wasi: list[str] = []
        for imp in self.info.imports:
            qualified = imp.qualified_name
            missing = f"Failed to load Wasm module due to a missing import: {qualified}"
            if imp.kind == "global":
                self.error("import-global",
                           f"imports the global {qualified}, and Envoy links no globals: build it "
                           "without imported globals (no -shared, -fPIC or dynamic linking)", missing)
                continue
            if imp.kind in ("memory", "table"):
                continue  # Envoy lets the module's own memory and table stand in
            if imp.kind != "func":
                self.error("import-unknown",
                           f"imports the {imp.kind} {qualified}, which Envoy does not provide: "
                           "remove it", missing)
                continue
            provided = self.host_signature(imp.module, imp.name, version)
            if provided is None:
                self.report_missing_function(imp.module, imp.name, version, missing)
            elif imp.signature is not None and imp.signature != provided:
                self.report_mismatch(imp.module, imp.name, imp.signature, provided)
            elif imp.module in abi.WASI_MODULES and imp.name not in abi.ENVOY_WASI_WORKING:
                errno = ENVOY_WASI_FAILURES.get(imp.name)
                failing_wasi.append(f"{imp.name} {_WASI_ERRNO_NAMES.get(errno, errno)}" if errno else imp.name)
        if failing_wasi:
            self.warning("wasi-stub",
                         f"imports {_plural(len(failing_wasi), 'WASI function')} that always fail in "
                         f"Envoy ({', '.join(failing_wasi)}): Envoy gives modules no filesystem, "
                         "sockets or stdin, so make sure the module copes")

    @staticmethod
    def host_signature(module: str, name: str, version: abi.AbiVersion) -> Signature | None:
        if module == "env":
            if name in version.hostcalls:
                return version.hostcalls[name].signature
            return abi.ENVOY_EXTRA_ENV_IMPORTS.get(name)
        if module in abi.WASI_MODULES:
            return abi.ENVOY_WASI_FUNCTIONS.get(name)
        return None

    def report_missing_function(self, module: str, name: str, version: abi.AbiVersion,
                                envoy_error: str) -> None:
        qualified = f"{module}.{name}"
        if module == "env":
            owners = [v for v, a in abi.ABI_VERSIONS.items() if name in a.hostcalls]
            if owners:
                hint = _HOSTCALL_HINTS.get(name) or f"declare ABI {owners[-1]} instead"
                message = (f"imports {qualified}, which only ABI {', '.join(owners)} hosts provide but "
                           f"the module declares {version.version}: {hint}")
            else:
                message = (f"imports {qualified}, which Envoy does not provide: remove the call or "
                           "define the function inside the module")
        elif module in abi.WASI_MODULES:
            message = (f"imports {qualified}, which Envoy does not provide: avoid the libc call that "
                       f"needs it or define __imported_{module}_{name} inside the module")
        else:
            message = (f"imports {qualified} from module {module!r}, which Envoy does not provide "
                       "(only env, wasi_snapshot_preview1 and wasi_unstable): remove the import")
        self.error("import-unknown", message, envoy_error)

    def report_mismatch(self, module: str, name: str, wanted: Signature, provided: Signature) -> None:
        qualified = f"{module}.{name}"
        if module in abi.WASI_MODULES and name in WASI_SIGNATURES_ENVOY_CHANGED:
            count = len(provided.params)
            hint = (f"Envoy {self.envoy} declares {name} with {count} parameters where WASI has "
                    f"{WASI_SIGNATURES_ENVOY_CHANGED[name]}: define __imported_{module}_{name} inside "
                    "the module so it is not imported")
        else:
            hint = "fix the declaration to match the host"
        self.error("import-signature",
                   f"imports {qualified} as {wanted} but Envoy provides {provided}: {hint}",
                   f"Failed to load Wasm module due to an import type mismatch: {qualified}, want: "
                   f"{envoy_signature(wanted)}, but host exports: {envoy_signature(provided)}")

    # -- memory, sizes, our own section ----------------------------------------------

    def check_segments(self) -> None:
        """Active data and element segments must fit: V8 fails the instantiation otherwise."""
        instance_error = "Failed to create new Wasm instance"
        for memory_index, offset, size in self.info.data_segments:
            if memory_index >= len(self.info.memories):
                continue
            start, limit = offset & 0xFFFFFFFF, self.info.memories[memory_index].initial_bytes
            if start + size > limit:
                self.error("data-out-of-bounds",
                           f"has a data segment at offset {start:,} ({size:,} bytes) that ends past its "
                           f"initial memory of {limit:,} bytes, so it cannot be instantiated: raise the "
                           "initial memory or fix the linker's memory layout", instance_error)
                break
        for table_index, offset, count in self.info.element_segments:
            if table_index >= len(self.info.tables):
                continue
            start, limit = offset & 0xFFFFFFFF, self.info.tables[table_index]
            if start + count > limit:
                self.error("element-out-of-bounds",
                           f"has an element segment at index {start:,} ({count:,} entries) that ends past "
                           f"its table of {limit:,} entries, so it cannot be instantiated: fix the "
                           "table size", instance_error)
                break
        if self.info.start_function is not None and any(i.kind == "func" for i in self.info.imports):
            self.warning("start-function",
                         "has a wasm start function, which Envoy runs while instantiating it: a "
                         "hostcall from there crashes Envoy (segmentation fault); do that work in "
                         "_initialize or proxy_on_vm_start")

    def check_memory(self) -> None:
        for memory in self.info.memories:
            if memory.initial_bytes > ENVOY_MAX_MEMORY_BYTES:
                self.error("memory-too-large",
                           f"starts with {memory.initial_bytes:,} bytes of memory but Envoy allows at "
                           f"most {ENVOY_MAX_MEMORY_BYTES:,} (1 GiB): lower the initial memory "
                           "(-Wl,--initial-memory)",
                           "Failed to create new Wasm instance")
        # Envoy uses the module's exported memory, whatever its name, or the one it imported.
        reachable = any(e.kind == "memory" for e in self.info.exports) or any(
            i.kind == "memory" for i in self.info.imports)
        if reachable:
            return
        calls_host = any(i.kind == "func" for i in self.info.imports)
        if calls_host:
            self.error("memory-not-exported",
                       "exports no memory, so Envoy crashes (segmentation fault) when a hostcall "
                       "reads or writes it: export the memory (-Wl,--export-memory)",
                       "Caught Segmentation fault")
        else:
            self.warning("memory-not-exported",
                         "exports no memory: the host cannot pass it any data; export the memory "
                         "(-Wl,--export-memory)")

    def check_sizes(self) -> None:
        code = self.info.code_size
        if code > CODE_SIZE_WARNING_BYTES:
            low, high = (code / 1e6 * rate for rate in TURBOFAN_SECONDS_PER_MB)
            self.warning("code-size",
                         f"has {code / 1e6:.1f} MB of code: Envoy's V8 compiles all of it with TurboFan "
                         f"before the filter starts (about {low:.0f}-{high:.0f} s on a quiet 2-core machine); "
                         "shrink it (fewer builtin modules, -Oz, wasm-opt)")
        if self.info.size > ISTIO_MAX_MODULE_BYTES:
            self.warning("module-size",
                         f"is {self.info.size / 2**20:.0f} MiB: Istio refuses modules over 256 MiB unless "
                         "ISTIO_WASM_MAX_BINARY_SIZE_BYTES is raised")

    def check_python_section(self) -> None:
        raw = self.info.custom_section(PYTHON_SECTION)
        if raw is None:
            return
        try:
            meta = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            self.warning("python-section-corrupt",
                         f"has a {PYTHON_SECTION} custom section that is not JSON: rebuild it with "
                         "proxywasm build")
            return
        declared = meta.get("abi") if isinstance(meta, dict) else None
        if declared and self.abi_version and declared != self.abi_version:
            self.warning("python-section-abi",
                         f"its {PYTHON_SECTION} section says ABI {declared} but it exports the "
                         f"{self.abi_version} marker: rebuild it with proxywasm build")


def python_metadata(info: ModuleInfo) -> dict[str, Any] | None:
    """The JSON of our `proxywasm-python` custom section, or None (also when corrupt)."""
    raw = info.custom_section(PYTHON_SECTION)
    if raw is None:
        return None
    try:
        meta = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return meta if isinstance(meta, dict) else None
