"""The Proxy-Wasm ABI tables: hostcall and callback signatures per ABI version, and what
Envoy links besides them.

This is the one place the ABI's functions are written down; `proxywasm.abi` re-exports every
public name here (under CPython), and the SDK, the emulator, the wasmtime binding, the
C-bridge generator and the validator read them from there. A filter running on MicroPython
never imports this module: building the tables would cost its small GC heap for nothing.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------
# Records without `collections`: inside a compiled filter that module (and functools,
# operator, keyword... it names) would cost every module heap and frozen code.


class _Record(tuple):
    """A namedtuple without `collections`: fields by name and position, defaults, a repr."""

    __slots__ = ()
    _fields: tuple = ()
    _field_defaults: dict = {}

    def __new__(cls, *args, **kwargs):
        fields = cls._fields
        if len(args) > len(fields):
            raise TypeError(f"{cls.__name__}() takes {len(fields)} arguments, got {len(args)}")
        values = list(args)
        for field in fields[len(args):]:
            if field in kwargs:
                values.append(kwargs.pop(field))
            elif field in cls._field_defaults:
                values.append(cls._field_defaults[field])
            else:
                raise TypeError(f"{cls.__name__}() is missing {field!r}")
        if kwargs:
            raise TypeError(f"{cls.__name__}() got unexpected arguments {sorted(kwargs)}")
        return tuple.__new__(cls, values)

    def __repr__(self) -> str:
        fields = ", ".join(f"{field}={value!r}" for field, value in zip(self._fields, self))
        return f"{type(self).__name__}({fields})"

    def __getnewargs__(self):
        return tuple(self)


def _record(typename: str, field_names: str, defaults: tuple = ()) -> type:
    fields = tuple(field_names.split())
    namespace: dict = {"__slots__": (), "_fields": fields,
                       "_field_defaults": dict(zip(fields[len(fields) - len(defaults):], defaults))}
    for index, field in enumerate(fields):
        namespace[field] = property(lambda self, index=index: self[index])
    return type(typename, (_Record,), namespace)


# ---------------------------------------------------------------------------
# Signatures


class Signature(_record("Signature", "params results")):
    """A wasm function type: value types of params and results ("i32", "i64")."""

    __slots__ = ()
    # params: tuple[str, ...]
    # results: tuple[str, ...]

    def __str__(self) -> str:
        return f"({', '.join(self.params)}) -> ({', '.join(self.results)})"


def _sig(n_params: int, n_results: int, *, i64_at: tuple[int, ...] = ()) -> Signature:
    params = tuple("i64" if i in i64_at else "i32" for i in range(n_params))
    return Signature(params, ("i32",) * n_results)


class Hostcall(_record("Hostcall", "name params i64_params returns_status", defaults=((), True))):
    """One `env.proxy_*` import: its wasm signature and its parameter names."""

    __slots__ = ()
    # name: str
    # params: tuple[str, ...]
    # i64_params: tuple[str, ...] = ()
    # returns_status: bool = True

    @property
    def signature(self) -> Signature:
        return Signature(
            tuple("i64" if p in self.i64_params else "i32" for p in self.params),
            ("i32",) if self.returns_status else (),
        )

    @property
    def raw_name(self) -> str:
        """Name in the raw-hostcall interface: the ABI name without `proxy_`."""
        return self.name[len("proxy_"):]

    @property
    def slots(self) -> tuple["Slot", ...]:
        """How the wasm parameters map to the raw interface, in order: an `X_data`/`X_size`
        pair is one bytes slot; a `return_*` parameter is an output written through a pointer."""
        out: list[Slot] = []
        params = self.params
        i = 0
        while i < len(params):
            p = params[i]
            pair = p.endswith("_data") and i + 1 < len(params) and params[i + 1] == p[:-5] + "_size"
            if p.startswith("return_"):
                if pair:
                    out.append(Slot("out-bytes", p[len("return_"):-5], (p, params[i + 1])))
                else:
                    wide = p in _U64_RETURNS.get(self.name, ())
                    out.append(Slot("out-u64" if wide else "out-u32", p[len("return_"):], (p,)))
            elif pair:
                out.append(Slot("in-bytes", p[:-5], (p, params[i + 1])))
            else:
                out.append(Slot("in-i64" if p in self.i64_params else "in-int", p, (p,)))
            i += 2 if pair else 1
        return tuple(out)

    @property
    def inputs(self) -> tuple[tuple[str, str], ...]:
        """Raw-interface arguments: ("name", "int"|"bytes")."""
        return tuple((s.name, "bytes" if s.kind == "in-bytes" else "int")
                     for s in self.slots if s.kind.startswith("in-"))

    @property
    def outputs(self) -> tuple[tuple[str, str], ...]:
        """Raw-interface results after the status: ("name", "bytes"|"u32"|"u64")."""
        return tuple((s.name, s.kind[len("out-"):]) for s in self.slots if s.kind.startswith("out-"))


class Slot(_record("Slot", "kind name wasm_params")):
    """One raw-interface argument or result and the wasm parameters that carry it.

    kind: "in-int" (i32, unsigned), "in-i64" (signed), "in-bytes" (data, size),
    "out-bytes" (return_data, return_size), "out-u32", "out-u64" (return pointer).
    """

    __slots__ = ()
    # kind: str
    # name: str
    # wasm_params: tuple[str, ...]


class Callback(_record("Callback", "name params returns")):
    """One `proxy_on_*` export the host may call: wasm signature and parameter names."""

    __slots__ = ()
    # name: str
    # params: tuple[str, ...]
    # returns: str | None  # None, "action", "bool", "ptr"

    @property
    def signature(self) -> Signature:
        return Signature(("i32",) * len(self.params), ("i32",) if self.returns else ())


_U64_RETURNS = {
    "proxy_get_current_time_nanoseconds": ("return_time",),
    "proxy_get_metric": ("return_value",),
}


def _h(name: str, *params: str, i64: tuple[str, ...] = (), void: bool = False) -> Hostcall:
    return Hostcall(name, tuple(params), i64, not void)


def _c(name: str, *params: str, returns: str | None = None) -> Callback:
    return Callback(name, tuple(params), returns)


# Host functions common to every ABI version (cpp-host FOR_ALL_HOST_FUNCTIONS).
_COMMON_HOSTCALLS: tuple[Hostcall, ...] = (
    _h("proxy_log", "log_level", "message_data", "message_size"),
    _h("proxy_get_current_time_nanoseconds", "return_time"),
    _h("proxy_set_tick_period_milliseconds", "tick_period"),
    _h("proxy_set_effective_context", "context_id"),
    _h("proxy_done"),
    _h("proxy_get_status", "return_status_code", "return_status_message_data",
       "return_status_message_size"),
    _h("proxy_get_property", "path_data", "path_size", "return_value_data", "return_value_size"),
    _h("proxy_set_property", "path_data", "path_size", "value_data", "value_size"),
    _h("proxy_get_buffer_bytes", "buffer_type", "start", "max_size", "return_buffer_data",
       "return_buffer_size"),
    _h("proxy_get_buffer_status", "buffer_type", "return_buffer_size", "return_flags"),
    _h("proxy_set_buffer_bytes", "buffer_type", "start", "size", "buffer_data", "buffer_size"),
    _h("proxy_get_header_map_pairs", "map_type", "return_map_data", "return_map_size"),
    _h("proxy_set_header_map_pairs", "map_type", "map_data", "map_size"),
    _h("proxy_get_header_map_size", "map_type", "return_size"),
    _h("proxy_get_header_map_value", "map_type", "key_data", "key_size", "return_value_data",
       "return_value_size"),
    _h("proxy_add_header_map_value", "map_type", "key_data", "key_size", "value_data",
       "value_size"),
    _h("proxy_replace_header_map_value", "map_type", "key_data", "key_size", "value_data",
       "value_size"),
    _h("proxy_remove_header_map_value", "map_type", "key_data", "key_size"),
    _h("proxy_send_local_response", "status_code", "status_code_details_data",
       "status_code_details_size", "body_data", "body_size", "headers_data", "headers_size",
       "grpc_status"),
    _h("proxy_http_call", "upstream_data", "upstream_size", "headers_data", "headers_size",
       "body_data", "body_size", "trailers_data", "trailers_size", "timeout_milliseconds",
       "return_call_id"),
    _h("proxy_grpc_call", "service_data", "service_size", "service_name_data",
       "service_name_size", "method_name_data", "method_name_size", "initial_metadata_data",
       "initial_metadata_size", "message_data", "message_size", "timeout_milliseconds",
       "return_call_id"),
    _h("proxy_grpc_stream", "service_data", "service_size", "service_name_data",
       "service_name_size", "method_name_data", "method_name_size", "initial_metadata_data",
       "initial_metadata_size", "return_stream_id"),
    _h("proxy_grpc_send", "stream_id", "message_data", "message_size", "end_of_stream"),
    _h("proxy_grpc_cancel", "call_id"),
    _h("proxy_grpc_close", "call_id"),
    _h("proxy_set_shared_data", "key_data", "key_size", "value_data", "value_size", "cas"),
    _h("proxy_get_shared_data", "key_data", "key_size", "return_value_data", "return_value_size",
       "return_cas"),
    _h("proxy_register_shared_queue", "name_data", "name_size", "return_queue_id"),
    _h("proxy_resolve_shared_queue", "vm_id_data", "vm_id_size", "name_data", "name_size",
       "return_queue_id"),
    _h("proxy_dequeue_shared_queue", "queue_id", "return_value_data", "return_value_size"),
    _h("proxy_enqueue_shared_queue", "queue_id", "value_data", "value_size"),
    _h("proxy_define_metric", "metric_type", "name_data", "name_size", "return_metric_id"),
    _h("proxy_increment_metric", "metric_id", "offset", i64=("offset",)),
    _h("proxy_record_metric", "metric_id", "value", i64=("value",)),
    _h("proxy_get_metric", "metric_id", "return_value"),
    _h("proxy_call_foreign_function", "function_name_data", "function_name_size",
       "arguments_data", "arguments_size", "return_results_data", "return_results_size"),
)

_HOSTCALLS_0_1_0_ONLY = (
    _h("proxy_get_configuration", "return_data", "return_size"),
    _h("proxy_continue_request"),
    _h("proxy_continue_response"),
    _h("proxy_clear_route_cache"),
)
_HOSTCALLS_0_2_0_ADDED = (
    _h("proxy_continue_stream", "stream_type"),
    _h("proxy_close_stream", "stream_type"),
)
_HOSTCALLS_0_2_1_ADDED = (_h("proxy_get_log_level", "return_log_level"),)

# Module callbacks common to every version.
_COMMON_CALLBACKS: tuple[Callback, ...] = (
    _c("proxy_on_memory_allocate", "memory_size", returns="ptr"),
    _c("proxy_on_context_create", "context_id", "parent_context_id"),
    _c("proxy_on_vm_start", "root_context_id", "vm_configuration_size", returns="bool"),
    _c("proxy_on_configure", "root_context_id", "plugin_configuration_size", returns="bool"),
    _c("proxy_on_tick", "root_context_id"),
    _c("proxy_on_done", "context_id", returns="bool"),
    _c("proxy_on_log", "context_id"),
    _c("proxy_on_delete", "context_id"),
    _c("proxy_on_new_connection", "context_id", returns="action"),
    _c("proxy_on_downstream_data", "context_id", "data_size", "end_of_stream", returns="action"),
    _c("proxy_on_downstream_connection_close", "context_id", "peer_type"),
    _c("proxy_on_upstream_data", "context_id", "data_size", "end_of_stream", returns="action"),
    _c("proxy_on_upstream_connection_close", "context_id", "peer_type"),
    _c("proxy_on_request_body", "context_id", "body_size", "end_of_stream", returns="action"),
    _c("proxy_on_request_trailers", "context_id", "num_trailers", returns="action"),
    _c("proxy_on_response_body", "context_id", "body_size", "end_of_stream", returns="action"),
    _c("proxy_on_response_trailers", "context_id", "num_trailers", returns="action"),
    _c("proxy_on_http_call_response", "root_context_id", "call_id", "num_headers", "body_size",
       "num_trailers"),
    _c("proxy_on_grpc_receive_initial_metadata", "context_id", "call_id", "num_elements"),
    _c("proxy_on_grpc_receive", "context_id", "call_id", "message_size"),
    _c("proxy_on_grpc_receive_trailing_metadata", "context_id", "call_id", "num_elements"),
    _c("proxy_on_grpc_close", "context_id", "call_id", "status_code"),
    _c("proxy_on_queue_ready", "root_context_id", "queue_id"),
)
_CALLBACKS_0_1_0 = (
    _c("proxy_on_request_headers", "context_id", "num_headers", returns="action"),
    _c("proxy_on_response_headers", "context_id", "num_headers", returns="action"),
)
_CALLBACKS_0_2_0 = (
    _c("proxy_on_request_headers", "context_id", "num_headers", "end_of_stream",
       returns="action"),
    _c("proxy_on_response_headers", "context_id", "num_headers", "end_of_stream",
       returns="action"),
    _c("proxy_on_foreign_function", "root_context_id", "function_id", "arguments_size"),
)

# Callbacks cpp-host knows outside the spec; it checks their signatures when exported.
EXTRA_HOST_KNOWN_CALLBACKS: dict[str, Signature] = {
    "proxy_validate_configuration": _sig(2, 1),
    "proxy_on_request_metadata": _sig(2, 1),
    "proxy_on_response_metadata": _sig(2, 1),
}

# Entry points outside the proxy_on_* family.
START_EXPORTS: dict[str, Signature] = {
    "_initialize": _sig(0, 0),
    "_start": _sig(0, 0),
    "main": _sig(2, 1),
    "__main_void": _sig(0, 1),
    "malloc": _sig(1, 1),
}


class AbiVersion(_record("AbiVersion", "version marker hostcalls callbacks")):
    __slots__ = ()
    # version: str
    # marker: str
    # hostcalls: dict[str, Hostcall]
    # callbacks: dict[str, Callback]


def _abi(version: str, hostcalls: tuple[Hostcall, ...], callbacks: tuple[Callback, ...]) -> AbiVersion:
    return AbiVersion(
        version,
        "proxy_abi_version_" + version.replace(".", "_"),
        {h.name: h for h in hostcalls},
        {c.name: c for c in callbacks},
    )


ABI_VERSIONS: dict[str, AbiVersion] = {
    "0.1.0": _abi("0.1.0", _COMMON_HOSTCALLS + _HOSTCALLS_0_1_0_ONLY,
                  _COMMON_CALLBACKS + _CALLBACKS_0_1_0),
    "0.2.0": _abi("0.2.0", _COMMON_HOSTCALLS + _HOSTCALLS_0_2_0_ADDED,
                  _COMMON_CALLBACKS + _CALLBACKS_0_2_0),
    "0.2.1": _abi("0.2.1", _COMMON_HOSTCALLS + _HOSTCALLS_0_2_0_ADDED + _HOSTCALLS_0_2_1_ADDED,
                  _COMMON_CALLBACKS + _CALLBACKS_0_2_0),
}
LATEST = ABI_VERSIONS["0.2.1"]
MARKERS: dict[str, str] = {v.marker: k for k, v in ABI_VERSIONS.items()}

#: Imports Envoy links for every module besides the Proxy-Wasm hostcalls.
ENVOY_EXTRA_ENV_IMPORTS: dict[str, Signature] = {
    "pthread_equal": _sig(2, 1),
    "emscripten_notify_memory_growth": _sig(1, 0),
}

#: WASI functions Envoy 1.40 (proxy-wasm-cpp-host) registers, under both
#: `wasi_snapshot_preview1` and `wasi_unstable`, with the signatures it registers them with.
#: Verified against the real Envoy 1.40 by linking one probe module per function (see
#: docs/validate.md). Two differ from WASI: `path_link` has six parameters (WASI: seven) and
#: `path_symlink` four (WASI: five), so a module importing the real WASI signature of either
#: fails to link ("import type mismatch"). `proc_raise` is not registered at all.
ENVOY_WASI_FUNCTIONS: dict[str, Signature] = {
    "args_get": _sig(2, 1),
    "args_sizes_get": _sig(2, 1),
    "environ_get": _sig(2, 1),
    "environ_sizes_get": _sig(2, 1),
    "clock_res_get": _sig(2, 1),
    "clock_time_get": _sig(3, 1, i64_at=(1,)),
    "fd_advise": _sig(4, 1, i64_at=(1, 2)),
    "fd_allocate": _sig(3, 1, i64_at=(1, 2)),
    "fd_close": _sig(1, 1),
    "fd_datasync": _sig(1, 1),
    "fd_fdstat_get": _sig(2, 1),
    "fd_fdstat_set_flags": _sig(2, 1),
    "fd_fdstat_set_rights": _sig(3, 1, i64_at=(1, 2)),
    "fd_filestat_get": _sig(2, 1),
    "fd_filestat_set_size": _sig(2, 1, i64_at=(1,)),
    "fd_filestat_set_times": _sig(4, 1, i64_at=(1, 2)),
    "fd_pread": _sig(5, 1, i64_at=(3,)),
    "fd_prestat_get": _sig(2, 1),
    "fd_prestat_dir_name": _sig(3, 1),
    "fd_pwrite": _sig(5, 1, i64_at=(3,)),
    "fd_read": _sig(4, 1),
    "fd_readdir": _sig(5, 1, i64_at=(3,)),
    "fd_renumber": _sig(2, 1),
    "fd_seek": _sig(4, 1, i64_at=(1,)),
    "fd_sync": _sig(1, 1),
    "fd_tell": _sig(2, 1),
    "fd_write": _sig(4, 1),
    "path_create_directory": _sig(3, 1),
    "path_filestat_get": _sig(5, 1),
    "path_filestat_set_times": _sig(7, 1, i64_at=(4, 5)),
    "path_link": _sig(6, 1),
    "path_open": _sig(9, 1, i64_at=(5, 6)),
    "path_readlink": _sig(6, 1),
    "path_remove_directory": _sig(3, 1),
    "path_rename": _sig(6, 1),
    "path_symlink": _sig(4, 1),
    "path_unlink_file": _sig(3, 1),
    "poll_oneoff": _sig(4, 1),
    "proc_exit": _sig(1, 0),
    "random_get": _sig(2, 1),
    "sched_yield": _sig(0, 1),
    "sock_accept": _sig(3, 1),
    "sock_recv": _sig(6, 1),
    "sock_send": _sig(5, 1),
    "sock_shutdown": _sig(2, 1),
}

WASI_MODULES = ("wasi_snapshot_preview1", "wasi_unstable")

#: WASI functions that succeed in Envoy 1.40 (return errno 0) when used as a module would:
#: measured by a probe module calling each one. fd_write/fd_pwrite on fds 1 and 2 become
#: info/error logs; fd_seek, fd_close, fd_sync, fd_tell and the set_* calls succeed without
#: doing anything; args are empty; clock_time_get knows only the realtime and monotonic clocks;
#: random_get gives at most 64 KiB a call. Every other registered function always fails
#: (no filesystem, no sockets, no stdin).
ENVOY_WASI_WORKING = frozenset(
    {"fd_write", "fd_pwrite", "fd_seek", "fd_close", "fd_fdstat_get", "fd_sync", "fd_datasync",
     "fd_tell", "fd_advise", "fd_allocate", "fd_fdstat_set_rights", "fd_filestat_set_size",
     "fd_filestat_set_times", "environ_get", "environ_sizes_get", "args_get", "args_sizes_get",
     "clock_time_get", "clock_res_get", "random_get", "sched_yield", "poll_oneoff", "proc_exit"}
)
