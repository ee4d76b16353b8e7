"""The "wasm" and "envoy" hosts: the same test API as `proxywasm.testing.Host`, other engines.

- `wasm_host(path, **kw)`: builds a `.py` filter (cached by content hash), then loads the
  module with `proxywasm.testing.Host.load`, i.e. the emulator driving the compiled module in
  wasmtime.
- `envoy_host(path, **kw)` / `EnvoyHost.load(...)`: the compiled module in a real Envoy on
  127.0.0.1 in front of a recording upstream; `http_request(...)` sends a real HTTP/1.1 request.

Both are registered as entry points in the group `proxywasm.hosts` so the SDK's pytest plugin
finds them without importing this package.

What naturally differs between Envoy and the emulator is removed in one place,
:func:`comparable_headers`, applied to `EnvoyHost` results: see its docstring.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import http.client
import socket
from pathlib import Path
from typing import Any, Iterable, Mapping, Union

from . import cache
from .envoy import LocalEnvoy
from .envoy_config import LOCAL_REPLY_MARKER
from .errors import UserError
from .upstream import RecordingUpstream

HeadersArg = Union[Mapping[str, str], Iterable[tuple[str, str]]]

#: Connection-level headers (RFC 9110 §7.6.1) plus the ones Envoy writes on its own.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer",
                        "transfer-encoding", "upgrade"})
ENVOY_ADDED = frozenset({"date", "server", "content-length", "x-request-id", "x-forwarded-proto"})


def comparable_headers(pairs: Iterable[tuple[str, str]], *, sent: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Header pairs minus what differs between Envoy and the emulator for reasons not the filter's.

    Dropped: hop-by-hop headers (`connection`, `keep-alive`, `transfer-encoding`, ...), `date`,
    `server`, `content-length` (the body is compared instead), `x-request-id` and
    `x-forwarded-proto` (Envoy adds them to requests), and every `x-envoy-*` header.
    A name listed in `sent` (what the test itself sent) is kept even if it is in that list.
    Names are lower-cased, order kept.
    """
    keep = {name.lower() for name in sent}
    out = []
    for name, value in pairs:
        lower = name.lower()
        if lower not in keep and (lower in HOP_BY_HOP or lower in ENVOY_ADDED or lower.startswith("x-envoy-")):
            continue
        out.append((lower, value))
    return out


# -- result types: the emulator's when it exists ---------------------------------------------

def _testing():
    """`proxywasm.testing`, imported lazily (the SDK does not depend on this package)."""
    import proxywasm.testing as testing

    return testing


def _make_headers(pairs: list[tuple[str, str]]):
    return _testing().Headers(pairs)


def _log_record(level: str, message: str):
    from proxywasm.abi import LogLevel

    return _testing().LogRecord(LogLevel[level.upper()], message)


def _header_pairs(headers: HeadersArg) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    if hasattr(headers, "items") and not isinstance(headers, (list, tuple)):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


# -- building .py filters, cached --------------------------------------------------------------

def _source_digest(source: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts) \
        if source.is_dir() else [source]
    sdk_root = Path(__import__("proxywasm").__file__).parent
    sdk_files = sorted(p for p in sdk_root.rglob("*.py") if "testing" not in p.relative_to(sdk_root).parts)
    for path in files + sdk_files:
        digest.update(str(path.name).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


def built_module(path: Path | str) -> Path:
    """A `.wasm` for `path`: itself when it is one, else the cached build of the `.py` filter
    or package directory (rebuilt when the filter or the SDK changes)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist.")
    if path.suffix == ".wasm":
        return path
    if path.suffix != ".py" and not path.is_dir():
        raise UserError(f"{path} is neither a .py filter, a package directory nor a .wasm module.")
    from .build import build_python_filter

    output = cache.cache_dir() / "built-filters" / f"{path.stem}-{_source_digest(path)}.wasm"
    if output.exists():
        return output
    with cache.locked(f"build-{output.stem}"):
        if not output.exists():
            tmp = output.with_name(f".{output.name}.building")
            built = Path(build_python_filter(path, tmp))
            output.parent.mkdir(parents=True, exist_ok=True)
            built.replace(output)
    return output


# -- the Envoy host ---------------------------------------------------------------------------

class EnvoyHost:
    """A compiled filter in a real Envoy, with the stream API of `proxywasm.testing.Host`.

    ```python
    host = EnvoyHost.load("filter.py", plugin_config=b'{"header": "x-deny"}')
    r = host.http_request({":method": "GET", ":path": "/", "x-deny": "1"},
                          upstream=(200, {"content-type": "text/plain"}, b"hello"))
    host.close()
    ```
    Each `http_request` is one real HTTP/1.1 request on a new connection. The upstream is a
    :class:`~proxywasm_build.upstream.RecordingUpstream` answering with `upstream`;
    `callouts=("auth",)` starts one more recording server per name and a cluster of that name
    (reach it with `dispatch_http_call("auth", ...)`, control it via `host.callout_servers`).
    """

    def __init__(self, envoy: LocalEnvoy, upstream: RecordingUpstream,
                 callout_servers: dict[str, RecordingUpstream], module: Path,
                 pool_key: tuple | None = None) -> None:
        self.envoy = envoy
        self.upstream = upstream
        self.callout_servers = callout_servers
        self.module = module
        self._closed = False
        self._pool_key = pool_key
        self._startup_logs = envoy.wasm_logs(worker_only=True)
        self._log_mark = len(self._startup_logs)

    def _checkout(self) -> "EnvoyHost":
        """Hand a pooled instance to a new user: fresh upstreams, logs from here on."""
        self._closed = False
        self.upstream.clear()
        for server in self.callout_servers.values():
            server.clear()
        self._log_mark = len(self.envoy.wasm_logs(worker_only=True))
        return self

    @classmethod
    def load(
        cls,
        path: Path | str,
        *,
        plugin_config: bytes | str = b"",
        vm_config: bytes | str = b"",
        properties: Mapping[Any, Any] | None = None,
        root_id: str = "",
        callouts: Iterable[str] = (),
        clusters: Mapping[str, tuple[str, int]] | None = None,
        wasm_log_level: str = "trace",
        fail_open: bool = False,
        reuse: bool | None = None,
    ) -> "EnvoyHost":
        """Start Envoy with the module (building a `.py` filter first) and a recording upstream.

        `properties` can only hold what Envoy lets configuration decide: `plugin_name`,
        `plugin_root_id`, `plugin_vm_id` and `node.metadata.<key>` (string values).

        `reuse=True` (default: the environment variable `PROXYWASM_ENVOY_REUSE=1`) keeps the
        Envoy running after `close()` and hands it to the next `load` with the same arguments,
        which saves V8's compile of a large module. The filter's own state (root context,
        shared data, metrics) then carries over; `logs` still start with the start-up messages
        followed by this user's messages only.
        """
        module = built_module(path)
        render: dict[str, Any] = {"plugin_config": plugin_config, "vm_config": vm_config,
                                  "root_id": root_id, "fail_open": fail_open}
        render.update(_properties_to_config(properties or {}))
        if reuse is None:
            reuse = os.environ.get("PROXYWASM_ENVOY_REUSE", "") not in ("", "0")
        pool_key = None
        if reuse:
            pool_key = (str(module), module.stat().st_mtime_ns, repr(sorted(render.items())),
                        tuple(sorted(callouts)), repr(sorted((clusters or {}).items())), wasm_log_level)
            while _POOL.get(pool_key):
                pooled = _POOL[pool_key].pop()
                if pooled.envoy.running:
                    return pooled._checkout()
                pooled._shutdown()
        upstream = RecordingUpstream()
        servers = {name: RecordingUpstream() for name in callouts}
        try:
            envoy = LocalEnvoy(
                module=module, upstream=upstream.address,
                clusters={**(clusters or {}), **{name: s.address for name, s in servers.items()}},
                wasm_log_level=wasm_log_level, mark_local_replies=True, **render,
            )
        except BaseException:
            upstream.close()
            for server in servers.values():
                server.close()
            raise
        return cls(envoy, upstream, servers, module, pool_key)

    # The emulator's Host has these too; here they only describe Envoy.
    @property
    def logs(self) -> list:
        """The module's log messages from the VM serving requests, as `LogRecord`s."""
        messages = self.envoy.wasm_logs(worker_only=True)
        if self._log_mark > len(self._startup_logs):  # a reused instance
            messages = self._startup_logs + messages[self._log_mark:]
        return [_log_record(level, message) for level, message in messages]

    @property
    def metrics(self) -> dict[str, int]:
        """Counters and gauges the module defined (`proxy_define_metric`), by the module's name.

        Envoy files them under `wasmcustom.`; histograms are not included.
        """
        prefix = "wasmcustom."
        return {name[len(prefix):]: value for name, value in self.envoy.stats().items()
                if name.startswith(prefix)}

    def http_request(
        self,
        headers: HeadersArg,
        body: bytes | str = b"",
        upstream: tuple = (200, {}, b""),
        *,
        trailers: HeadersArg | None = None,
        timeout: float = 30.0,
    ):
        """Send one HTTP/1.1 request through Envoy; return a `proxywasm.testing.HttpResponse`.

        `headers` may hold `:method` (default GET), `:path` (default /), `:authority`
        (sent as Host) and `:scheme` (ignored: the listener is plain HTTP). `upstream` is
        `(status, headers, body)` or `(status, headers, body, trailers)`. Request `trailers`
        make the request body chunked. `.upstream_request` is None when nothing reached the
        upstream.
        """
        testing = _testing()
        pairs = _header_pairs(headers)
        pseudo = {k.lower(): v for k, v in pairs if k.startswith(":")}
        regular = [(k, v) for k, v in pairs if not k.startswith(":")]
        method = pseudo.get(":method", "GET")
        target = pseudo.get(":path", "/")
        authority = pseudo.get(":authority") or next((v for k, v in regular if k.lower() == "host"), "example.com")
        payload = _as_bytes(body)
        request_trailers = _header_pairs(trailers) if trailers else []

        self.upstream.clear()
        self.upstream.respond(int(upstream[0]), _header_pairs(upstream[1]), _as_bytes(upstream[2]),
                              _header_pairs(upstream[3]) if len(upstream) > 3 and upstream[3] else None)

        conn = http.client.HTTPConnection("127.0.0.1", self.envoy.port, timeout=timeout)
        conn.response_class = _TrailerKeepingResponse
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            conn.putheader("host", authority)
            for name, value in regular:
                if name.lower() not in ("host", "content-length", "transfer-encoding"):
                    conn.putheader(name, value)
            if request_trailers:
                conn.putheader("transfer-encoding", "chunked")
                conn.endheaders()
                if payload:
                    conn.send(b"%x\r\n%s\r\n" % (len(payload), payload))
                conn.send(b"0\r\n" + b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in request_trailers)
                          + b"\r\n")
            else:
                if payload or method.upper() in ("POST", "PUT", "PATCH"):
                    conn.putheader("content-length", str(len(payload)))
                conn.endheaders(payload or None)
            resp = conn.getresponse()
            resp_body = resp.read()
            raw_headers = resp.getheaders()
            response_trailers = resp.trailers
        except (OSError, http.client.HTTPException) as err:
            raise UserError(f"Envoy did not answer the request: {err}; "
                            f"Envoy says: {self.envoy.failure_reason() or 'nothing'}.") from err
        finally:
            conn.close()

        sent_names = [k for k, _ in regular]
        upstream_request = None
        if self.upstream.requests:
            seen = self.upstream.requests[0]
            up_pairs = [(":method", seen.method), (":path", seen.path),
                        (":authority", seen.headers.get("host", ""))]
            up_pairs += [(k, v) for k, v in seen.headers.items() if k.lower() != "host"]
            upstream_request = testing.UpstreamRequest(
                _make_headers(comparable_headers(up_pairs, sent=sent_names)),
                seen.body,
                _make_headers(seen.trailers),
            )
        local_reply = any(name.lower() == LOCAL_REPLY_MARKER for name, _ in raw_headers)
        raw_headers = [(k, v) for k, v in raw_headers if k.lower() != LOCAL_REPLY_MARKER]
        response_pairs = [(":status", str(resp.status))] + comparable_headers(raw_headers)
        return testing.HttpResponse(
            resp.status, _make_headers(response_pairs), resp_body, _make_headers(response_trailers),
            upstream_request, local_reply=local_reply,
        )

    def close(self) -> None:
        """Stop Envoy and the recording servers (or give them back to the pool when reused)."""
        if self._closed:
            return
        self._closed = True
        if self._pool_key is not None and self.envoy.running:
            _POOL.setdefault(self._pool_key, []).append(self)
            return
        self._shutdown()

    def _shutdown(self) -> None:
        self._closed = True
        self.envoy.stop()
        self.upstream.close()
        for server in self.callout_servers.values():
            server.close()

    def __enter__(self) -> "EnvoyHost":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_POOL: dict[tuple, list[EnvoyHost]] = {}


@atexit.register
def _stop_pooled_envoys() -> None:
    for hosts in _POOL.values():
        for host in hosts:
            host._shutdown()
    _POOL.clear()


class _TrailerKeepingResponse(http.client.HTTPResponse):
    """`http.client` reads and discards chunked trailers; this keeps them in `.trailers`."""

    trailers: list[tuple[str, str]]

    def begin(self) -> None:
        self.trailers = []
        super().begin()

    def _read_and_discard_trailer(self) -> None:
        while True:
            line = self.fp.readline(http.client._MAXLINE + 1)
            if not line or line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            self.trailers.append((name.strip().lower(), value.strip()))


def _properties_to_config(properties: Mapping[Any, Any]) -> dict[str, Any]:
    render: dict[str, Any] = {}
    node_metadata: dict[str, str] = {}
    for key, value in properties.items():
        path = ".".join(key) if isinstance(key, (tuple, list)) else str(key)
        text = value.decode() if isinstance(value, bytes) else str(value)
        if path == "plugin_name":
            render["plugin_name"] = text
        elif path == "plugin_root_id":
            render["root_id"] = text
        elif path == "plugin_vm_id":
            render["vm_id"] = text
        elif path.startswith("node.metadata."):
            node_metadata[path[len("node.metadata."):]] = text
        else:
            raise UserError(f"the Envoy host cannot set the property {path!r}; "
                            "only plugin_name, plugin_root_id, plugin_vm_id and node.metadata.* can be configured.")
    if node_metadata:
        render["node_metadata"] = node_metadata
    return render


# -- entry-point factories (group "proxywasm.hosts") -----------------------------------------

def wasm_host(path: Path | str, **kwargs: Any):
    """The emulator driving the compiled module in wasmtime (builds a `.py` filter first)."""
    return _testing().Host.load(built_module(path), **kwargs)


def envoy_host(path: Path | str, **kwargs: Any) -> EnvoyHost:
    """The compiled module in a real local Envoy (builds a `.py` filter first)."""
    return EnvoyHost.load(path, **kwargs)
