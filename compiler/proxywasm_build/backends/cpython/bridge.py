"""Generate the C half of the bridge from the ABI tables (`proxywasm.abi`).

Nothing here lists a hostcall or a callback by hand: a new ABI version or hostcall in
`proxywasm.abi` changes the generated `_proxywasm_host` module and exports on the next build.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import jinja2
from proxywasm import abi
from proxywasm.dispatcher import ANSWERED_IN_C, CALLED_DIRECTLY

from proxywasm_build.backends.cpython.toolchain import TOOLCHAINS_DIR


@dataclass
class _HostcallView:
    name: str
    raw_name: str
    returns_status: bool
    inputs: tuple[tuple[str, str], ...]
    outputs: tuple[tuple[str, str], ...]
    c_params: str
    c_call: str
    doc: str


@dataclass
class _CallbackView:
    name: str
    params: tuple[str, ...]
    returns: str | None
    c_params: str
    c_args: str
    #: ANSWERED_IN_C bit when the bridge may answer it in C for a context keeping the default
    answered_bit: int | None
    #: the C expression the default answer returns ("" for a void callback)
    answered_value: str
    #: the context method the bridge calls directly (CALLED_DIRECTLY), else None
    direct_method: str | None
    #: 1 when an exception in it fails like a TCP stream (_fail_tcp), 0 like HTTP (_fail_http)
    direct_tcp: int
    #: index of the end_of_stream argument (passed as a bool), -1 when there is none
    eos_arg: int


def _ctype(wasm_type: str) -> str:
    return "int64_t" if wasm_type == "i64" else "int32_t"


def _hostcall_view(h: abi.Hostcall) -> _HostcallView:
    sig = h.signature
    c_params = ", ".join(f"{_ctype(t)} {p}" for p, t in zip(h.params, sig.params))
    args: list[str] = []
    for slot in h.slots:  # the ABI table's own pointer/size/return plan
        if slot.kind == "out-bytes":
            args += [f"(int32_t)(intptr_t)&out_{slot.name}", f"(int32_t)(intptr_t)&out_{slot.name}_size"]
        elif slot.kind.startswith("out-"):
            args.append(f"(int32_t)(intptr_t)&out_{slot.name}")
        elif slot.kind == "in-bytes":
            args += [f"(int32_t)(intptr_t)in_{slot.name}.buf", f"(int32_t)in_{slot.name}.len"]
        else:
            args.append(f"({'int64_t' if slot.kind == 'in-i64' else 'int32_t'})in_{slot.name}")
    shown_in = ", ".join(n for n, _ in h.inputs)
    shown_out = ", ".join(["status", *(n for n, _ in h.outputs)])
    doc = f"({shown_in}) -> " + (f"({shown_out})" if h.outputs else "status")
    return _HostcallView(h.name, h.raw_name, h.returns_status, h.inputs, h.outputs,
                         c_params, ", ".join(args), doc)


_ANSWERED = {name: (bit, value) for bit, (name, _method, value) in enumerate(ANSWERED_IN_C)}
_DIRECT = {name: (method, failure) for name, method, failure in CALLED_DIRECTLY}


def _callback_view(c: abi.Callback) -> _CallbackView:
    c_params = ", ".join(f"int32_t {p}" for p in c.params)
    c_args = ", ".join(f"(uint32_t){p}" for p in c.params)
    bit, value = _ANSWERED.get(c.name, (None, None))
    method, failure = _DIRECT.get(c.name, (None, None))
    if method is not None and (bit is None or c.params[0] != "context_id"):
        raise ValueError(f"{c.name}: a directly called callback must also be in ANSWERED_IN_C")
    eos_arg = c.params.index("end_of_stream") if "end_of_stream" in c.params else -1
    return _CallbackView(c.name, c.params, c.returns, c_params, c_args, bit,
                         "" if value is None else str(value),
                         method, int(failure == "_fail_tcp"), eos_arg)


def generate_bridge_source(version: abi.AbiVersion = abi.LATEST) -> str:
    """C source of `_proxywasm_host`, the callback exports and the ABI marker for `version`.

    `proxy_on_memory_allocate` is left to runtime.c (it is malloc, not a Python call).
    """
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TOOLCHAINS_DIR)),
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    template = env.get_template("bridge.c.j2")
    hostcalls = [_hostcall_view(h) for h in version.hostcalls.values()]
    callbacks = [_callback_view(c) for c in version.callbacks.values()
                 if c.name != "proxy_on_memory_allocate"]
    return template.render(abi=version, hostcalls=hostcalls, callbacks=callbacks)


def bridge_source_key() -> str:
    return hashlib.sha256(generate_bridge_source().encode()).hexdigest()[:16]
