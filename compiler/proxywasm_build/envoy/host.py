"""`EnvoyHost`: the same test API as `proxywasm.testing.Host`, over a real Envoy.

`EnvoyHost.load(...)` puts the compiled module in a real Envoy on 127.0.0.1 in front of a
recording upstream; `http_request(...)` sends a real HTTP/1.1 request. The pytest plugin reaches
it through `proxywasm_build.hosts.envoy_host`.

What naturally differs between Envoy and the emulator is removed in one place,
:func:`comparable_headers`, applied to `EnvoyHost` results: see its docstring.
"""

from __future__ import annotations

import atexit
import os
import http.client
import select
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Union

from proxywasm_build.hosts import built_module
from proxywasm_build.envoy.runner import EnvoyError, LocalEnvoy
from proxywasm_build.envoy.config import LOCAL_REPLY_MARKER
from proxywasm_build.errors import UserError
from proxywasm_build.envoy.upstream import RecordingUpstream, TcpUpstream

HeadersArg = Union[Mapping[str, str], Iterable[tuple[str, str]]]

#: Connection-level headers (RFC 9110 §7.6.1) plus the ones Envoy writes on its own.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer",
                        "transfer-encoding", "upgrade"})
ENVOY_ADDED = frozenset({"date", "content-length", "x-request-id", "x-forwarded-proto"})


def comparable_headers(pairs: Iterable[tuple[str, str]], *, sent: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Header pairs minus what differs between Envoy and the emulator for reasons not the filter's.

    Dropped: hop-by-hop headers (`connection`, `keep-alive`, `transfer-encoding`, ...), `date`
    (Envoy dates every response), `content-length` (HTTP/1.1 needs one for any body; the body
    is compared instead), `x-request-id` and `x-forwarded-proto` (Envoy adds them to requests),
    and every `x-envoy-*` header. A name listed in `sent` (headers the test itself gave: the
    request's for the upstream request, the upstream answer's for the response) is kept.
    Names are lower-cased, order kept. (`server` passes: the bootstrap tells Envoy to leave it.)
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
    :class:`~proxywasm_build.envoy.upstream.RecordingUpstream` answering with `upstream`;
    `callouts=("auth",)` starts one more recording server per name and a cluster of that name
    (reach it with `dispatch_http_call("auth", ...)`, control it via `host.callout_servers`).
    """

    def __init__(self, envoy: LocalEnvoy, upstream: RecordingUpstream,
                 callout_servers: dict[str, RecordingUpstream], module: Path,
                 pool_key: tuple | None = None, envoy_kwargs: dict[str, Any] | None = None) -> None:
        self.envoy = envoy
        self.upstream = upstream
        self.callout_servers = callout_servers
        self.module = module
        self._closed = False
        self._pool_key = pool_key
        self._envoy_kwargs = envoy_kwargs or {}
        self._startup_logs = envoy.wasm_logs(worker_only=True)
        self._log_mark = len(self._startup_logs)
        self.tcp_upstream: TcpUpstream | None = (envoy_kwargs or {}).get("tcp_upstream")
        self._calls: list = []

    def _checkout(self) -> "EnvoyHost":
        """Hand a pooled instance to a new user: fresh upstreams, logs from here on."""
        self._closed = False
        self.upstream.clear()
        self.upstream.handler = None
        self.upstream.hold = False
        self._calls.clear()
        for server in self.callout_servers.values():
            server.clear()
            server.handler = None
            server.hold = True
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
        vm_id: str = "",
        log_level: int | str | None = None,
        clusters: Iterable[str] | Mapping[str, tuple[str, int]] = (),
        callouts: Iterable[str] = (),
        fail_open: bool = False,
        reuse: bool | None = None,
        strict: bool = False,
        fuel: int | None = None,
        max_memory_bytes: int | None = None,
        wasm_log_level: str | None = None,
        tcp: bool = False,
    ) -> "EnvoyHost":
        """Start Envoy with the module (building a `.py` filter first) and a recording upstream.

        Arguments follow `proxywasm.testing.Host.load`. `properties` can only hold what Envoy
        lets configuration decide: `plugin_name`, `plugin_root_id`, `plugin_vm_id` and
        `node.metadata.<key>` (string values). `clusters` is either names (each gets a recording
        server, see `on_http_call`) or `{name: (host, port)}` of real servers. `log_level`
        (a `LogLevel`, default TRACE) sets Envoy's `wasm` log level. `strict`, `fuel` and
        `max_memory_bytes` are the emulator's and are ignored: Envoy enforces its own rules.
        `tcp=True` starts Envoy with a TCP listener (network filter + tcp_proxy) for
        `tcp_connection()`; switching between HTTP and TCP later restarts Envoy.

        `reuse=True` (default: the environment variable `PROXYWASM_ENVOY_REUSE=1`) keeps the
        Envoy running after `close()` and hands it to the next `load` with the same arguments,
        which saves V8's compile of a large module. The filter's own state (root context,
        shared data, metrics) then carries over; `logs` still start with the start-up messages
        followed by this user's messages only.
        """
        module = built_module(path)
        render: dict[str, Any] = {"plugin_config": plugin_config, "vm_config": vm_config,
                                  "root_id": root_id, "fail_open": fail_open}
        if vm_id:
            render["vm_id"] = vm_id
        render.update(_properties_to_config(properties or {}))
        level = wasm_log_level or _envoy_log_level(log_level)
        if isinstance(clusters, Mapping):
            real_clusters, named = dict(clusters), list(callouts)
        else:
            real_clusters, named = {}, [*clusters, *callouts]
        if reuse is None:
            reuse = os.environ.get("PROXYWASM_ENVOY_REUSE", "") not in ("", "0")
        pool_key = None
        if reuse:
            pool_key = (str(module), module.stat().st_mtime_ns, repr(sorted(render.items())),
                        tuple(sorted(set(named))), repr(sorted(real_clusters.items())), level)
            while _POOL.get(pool_key):
                pooled = _POOL[pool_key].pop()
                _IDLE.remove(pooled)
                if pooled.envoy.running:
                    return pooled._checkout()
                pooled._shutdown()
        envoy_kwargs = {"module": module, "wasm_log_level": level, "mark_local_replies": True,
                        "real_clusters": real_clusters, "tcp": tcp, **render}
        if tcp:
            envoy_kwargs["tcp_upstream"] = TcpUpstream()
        upstream = RecordingUpstream()
        servers = {name: _held_server() for name in named}
        try:
            envoy = _start_envoy(envoy_kwargs, upstream, servers)
        except EnvoyError as err:
            upstream.close()
            for server in servers.values():
                server.close()
            if tcp:
                envoy_kwargs["tcp_upstream"].close()
            raise _as_plugin_start_error(err) from None
        except BaseException:
            upstream.close()
            for server in servers.values():
                server.close()
            if tcp:
                envoy_kwargs["tcp_upstream"].close()
            raise
        return cls(envoy, upstream, servers, module, pool_key, envoy_kwargs)

    # -- callouts ---------------------------------------------------------------------------

    def add_cluster(self, *names: str) -> None:
        """Declare clusters for callouts; each gets a recording server. Envoy cannot add
        clusters to a running static config, so a new name restarts Envoy (the VM too)."""
        new = [name for name in names if name not in self.callout_servers]
        if not new:
            return
        for name in new:
            self.callout_servers[name] = _held_server()
        self._restart()

    def _restart(self) -> None:
        self._pool_key = None  # no longer what its load arguments describe
        self.envoy.stop()
        self.envoy = _start_envoy(self._envoy_kwargs, self.upstream, self.callout_servers)
        self._startup_logs = self.envoy.wasm_logs(worker_only=True)
        self._log_mark = len(self._startup_logs)

    def _use_mode(self, tcp: bool) -> None:
        """Envoy runs either the HTTP or the TCP listener: switching restarts it."""
        if bool(self._envoy_kwargs.get("tcp")) == tcp:
            return
        self._envoy_kwargs["tcp"] = tcp
        if tcp and self.tcp_upstream is None:
            self.tcp_upstream = self._envoy_kwargs["tcp_upstream"] = TcpUpstream()
        self._restart()

    def add_plugin(self, *, root_id: str = "", plugin_config: bytes | str = b"", name: str = "") -> None:
        """Add another plugin of the same module after the existing ones (another wasm filter
        entry sharing the VM), as the emulator's `add_plugin` does. Restarts Envoy."""
        extra = list(self._envoy_kwargs.get("extra_plugins", ()))
        extra.append((name or f"proxywasm-{len(extra) + 2}", root_id, plugin_config))
        self._envoy_kwargs["extra_plugins"] = extra
        self._restart()

    # -- TCP --------------------------------------------------------------------------------

    def tcp_connection(self) -> "EnvoyTcpConnection":
        """Open a real TCP connection through Envoy's network-filter chain (the module, then
        tcp_proxy to a TCP server of this host). Same API as the emulator's `TcpConnection`."""
        self._use_mode(True)
        return EnvoyTcpConnection(self)

    def on_http_call(self, cluster: str, responder: Any) -> None:
        """Answer HTTP callouts to `cluster`: `(status, headers, body[, trailers])`, a function
        of a `proxywasm.testing.HttpCall` returning one, or None (the server closes the
        connection without answering; Envoy 1.40 then hands the filter a 503 response with
        its own "upstream connect error ..." body, not a header-less failure)."""
        self.add_cluster(cluster)
        server = self.callout_servers[cluster]
        testing = _testing()

        def answer(request):
            if callable(responder):
                # Envoy states the call's timeout in a header it adds; the rest is normalised.
                timeout_ms = request.headers.get("x-envoy-expected-rq-timeout-ms") or "0"
                call = testing.HttpCall(
                    token=0, context_id=0, upstream=cluster,
                    headers=_make_headers(comparable_headers(_recorded_pairs(request))),
                    body=request.body, trailers=_make_headers(request.trailers),
                    timeout_ms=int(timeout_ms) if timeout_ms.isdigit() else 0,
                )
                result = responder(call)
            else:
                result = responder
            return _normalise_answer(result)

        server.clear()
        server.hold = False
        server.handler = answer

    @property
    def pending_http_calls(self) -> list:
        """Callouts waiting for an answer (clusters without `on_http_call` hold them), as
        `HttpCall`s whose `token` `respond_http_call` / `fail_http_call` take."""
        self._settle()
        testing = _testing()
        pending = []
        for cluster, server in self.callout_servers.items():
            for exchange in server.live:
                if exchange.request_complete and not exchange.answered and not exchange.done:
                    token = self._call_token(exchange)
                    timeout_ms = exchange.headers.get("x-envoy-expected-rq-timeout-ms") or "0"
                    pending.append(testing.HttpCall(
                        token=token, context_id=0, upstream=cluster,
                        headers=_make_headers(comparable_headers(_recorded_pairs(exchange))),
                        body=bytes(exchange.body), trailers=_make_headers(exchange.trailers),
                        timeout_ms=int(timeout_ms) if timeout_ms.isdigit() else 0))
        return pending

    def _call_token(self, exchange) -> int:
        for token, known in enumerate(self._calls, start=1):
            if known is exchange:
                return token
        self._calls.append(exchange)
        return len(self._calls)

    def _exchange_for(self, call: Any):
        token = call if isinstance(call, int) else call.token
        if not 1 <= token <= len(self._calls):
            raise UserError(f"no pending HTTP call with token {token}.")
        return self._calls[token - 1]

    def respond_http_call(self, call: Any, status: int = 200, headers: HeadersArg | None = None,
                          body: bytes | str = b"", trailers: HeadersArg | None = None) -> None:
        """Answer a held callout now."""
        exchange = self._exchange_for(call)
        payload = _as_bytes(body)
        exchange.send_headers(status, _header_pairs(headers or {}),
                              end_of_stream=not payload and trailers is None)
        if payload or trailers is not None:
            exchange.send_body(payload, end_of_stream=trailers is None)
        if trailers is not None:
            exchange.send_trailers(_header_pairs(trailers))
        self._settle()

    def fail_http_call(self, call: Any) -> None:
        """Drop a held callout's connection. Envoy hands the filter a 503 response for it."""
        self._exchange_for(call).fail()
        self._settle()

    def http_stream(self) -> "EnvoyHttpStream":
        """A real HTTP/1.1 stream to drive step by step, with the emulator's `HttpStream` API:
        the test writes the request and, from the upstream's side, the response."""
        self._use_mode(False)
        return EnvoyHttpStream(self)

    def _activity(self) -> tuple:
        servers = [self.upstream, *self.callout_servers.values()]
        return tuple((len(s.live), sum(len(x.body) for x in s.live),
                      sum(x.request_complete for x in s.live), len(s.requests)) for s in servers)

    def _settle(self, streams: Iterable["EnvoyHttpStream"] = ()) -> None:
        """Wait until nothing moves any more: no new bytes at the client, the upstream or a
        callout server for `quiet` seconds (at most `patience` seconds)."""
        quiet, patience = 0.1, 1.0
        deadline = time.monotonic() + patience
        last = None
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            for stream in streams:
                stream._read_available()
            now = (self._activity(), tuple(len(st._received) for st in streams))
            if now != last:
                last, stable_since = now, time.monotonic()
            elif time.monotonic() - stable_since >= quiet:
                return
            time.sleep(0.01)

    # -- logs, time ------------------------------------------------------------------------

    @property
    def logs(self) -> list:
        """The module's log messages from the VM serving requests, as `LogRecord`s."""
        messages = self.envoy.wasm_logs(worker_only=True)
        if self._log_mark > len(self._startup_logs):  # reused, or logs cleared
            messages = self._startup_logs + messages[self._log_mark:] \
                if self._startup_logs is not None else messages[self._log_mark:]
        return [_log_record(level, message) for level, message in messages]

    def log_messages(self, min_level: int = 0) -> list[str]:
        return [record.message for record in self.logs if record.level >= min_level]

    def clear_logs(self) -> None:
        """Forget the messages so far (start-up ones included)."""
        self._startup_logs = None
        self._log_mark = len(self.envoy.wasm_logs(worker_only=True))

    def advance(self, seconds: float) -> None:
        """Time in Envoy is real: wait `seconds` (ticks fire as their periods elapse)."""
        time.sleep(seconds)

    def tick(self) -> None:
        raise NotImplementedError("Envoy's clock is real: use advance(seconds) to let ticks fire.")

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
        body: bytes | str | list = b"",
        *,
        trailers: HeadersArg | None = None,
        upstream: Any = (200, {}, b""),
        response_chunks: int | None = None,
        timeout: float = 10.0,
    ):
        """Send one HTTP/1.1 request through Envoy; return a `proxywasm.testing.HttpResponse`.

        `headers` may hold `:method` (default GET), `:path` (default /), `:authority`
        (sent as Host) and `:scheme` (ignored: the listener is plain HTTP). `body` is bytes or
        a list of chunks (joined: Envoy decides how the body is split). `upstream` is
        `(status, headers, body[, trailers])` or a function of the `UpstreamRequest` returning
        one. Request `trailers` make the request body chunked. `.upstream_request` is None when
        nothing reached the upstream. `response_chunks` is accepted for the emulator's sake.
        """
        self._use_mode(False)
        request = _outgoing_request(headers, body, trailers)
        answered_names = self._answer_upstream_with(upstream, request.sent_names)
        received = self._exchange_over_http(request, timeout)
        if self.upstream.errors:  # the test's upstream function raised
            raise self.upstream.errors.pop(0)
        upstream_request = _upstream_request(self.upstream.requests[0], request.sent_names) \
            if self.upstream.requests else None
        return _http_response(received, answered_names, upstream_request)

    def _answer_upstream_with(self, upstream: Any, sent_names: list[str]) -> list[str]:
        """Make the recording upstream answer the next request with `upstream`; returns the list
        that will hold the header names of that answer (kept in the compared response)."""
        self.upstream.clear()
        self.upstream.errors.clear()
        self.upstream.hold = False
        answered_names: list[str] = []

        def answer(seen):
            result = _normalise_answer(upstream(_upstream_request(seen, sent_names)) if callable(upstream)
                                       else upstream)
            if result is not None:
                answered_names.extend(name for name, _ in result[1])
            return result

        self.upstream.handler = answer
        return answered_names

    def _exchange_over_http(self, request: "_OutgoingRequest", timeout: float) -> "_ReceivedResponse":
        """Send `request` to Envoy's listener and read the answer; a UserError when none comes."""
        conn = http.client.HTTPConnection("127.0.0.1", self.envoy.port, timeout=timeout)
        conn.response_class = _TrailerKeepingResponse
        try:
            _send_request(conn, request)
            return _read_response(conn)
        except TimeoutError:
            raise UserError(
                f"Envoy did not answer within {timeout:g} s: the filter may have paused the stream "
                "and never resumed it (in Envoy, PAUSE from on_http_request_headers or "
                "on_http_response_headers also holds back that direction's body callbacks)."
            ) from None
        except (OSError, http.client.HTTPException) as err:
            raise UserError(f"Envoy did not answer the request: {err}; "
                            f"Envoy says: {self.envoy.failure_reason() or 'nothing'}.") from err
        finally:
            conn.close()

    def close(self) -> None:
        """Stop Envoy and the recording servers (or give them back to the pool when reused)."""
        if self._closed:
            return
        self._closed = True
        if self._pool_key is not None and self.envoy.running:
            _POOL.setdefault(self._pool_key, []).append(self)
            _IDLE.append(self)
            # Each idle Envoy keeps its compiled module in memory (~230 MB for a CPython one):
            # keep only the most recently used few.
            while len(_IDLE) > _max_idle():
                oldest = _IDLE.pop(0)
                _POOL[oldest._pool_key].remove(oldest)
                oldest._shutdown()
            return
        self._shutdown()

    def _shutdown(self) -> None:
        self._closed = True
        self.envoy.stop()
        self.upstream.close()
        for server in self.callout_servers.values():
            server.close()
        if self.tcp_upstream is not None:
            self.tcp_upstream.close()

    def __enter__(self) -> "EnvoyHost":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _held_server() -> RecordingUpstream:
    server = RecordingUpstream()
    server.hold = True  # callouts wait for respond_http_call, as in the emulator
    return server


class EnvoyHttpStream:
    """One real HTTP/1.1 stream through Envoy, driven step by step like the emulator's
    `HttpStream`: `send_request_headers/body/trailers` write as the client,
    `send_response_headers/body/trailers` answer as the upstream; `upstream_request` and
    `response` show what each side has received so far. After each step the host waits until
    the network is quiet. Envoy does not say where a filter paused: `request_paused_at` and
    `response_paused_at` are inferred from what each side received (0 or None, one plugin only).
    """

    def __init__(self, host: EnvoyHost) -> None:
        self._host = host
        host.upstream.clear()
        host.upstream.handler = None
        host.upstream.hold = True
        self._client = socket.create_connection(("127.0.0.1", host.envoy.port), timeout=5)
        self._received = bytearray()
        self._chunked = False
        self._sent_names: list[str] = []
        self._answered_names: list[str] = []
        self._closed = False
        self._request_sent: tuple[bool, int] | None = None  # (ended, body bytes) from the client
        self._response_ended = False
        self._response_body_sent = 0

    def _read_available(self) -> None:
        while not self._closed:
            ready, _, _ = select.select([self._client], [], [], 0)
            if not ready:
                return
            try:
                data = self._client.recv(65536)
            except OSError:
                data = b""
            if not data:
                self._closed = True
                return
            self._received += data

    def _send(self, data: bytes) -> None:
        self._client.sendall(data)
        self._host._settle([self])

    def send_request_headers(self, headers: HeadersArg, end_of_stream: bool = False) -> None:
        pairs = _header_pairs(headers)
        pseudo = {k.lower(): v for k, v in pairs if k.startswith(":")}
        regular = [(k, v) for k, v in pairs if not k.startswith(":") and k.lower() not in ("host", "transfer-encoding")]
        self._sent_names = [k for k, _ in pairs]
        method = pseudo.get(":method", REQUEST_DEFAULTS[":method"])
        authority = pseudo.get(":authority") or next((v for k, v in pairs if k.lower() == "host"),
                                                     REQUEST_DEFAULTS[":authority"])
        has_length = any(k.lower() == "content-length" for k, _ in regular)
        lines = [f"{method} {pseudo.get(':path', REQUEST_DEFAULTS[':path'])} HTTP/1.1", f"host: {authority}"]
        lines += [f"{k}: {v}" for k, v in regular]
        if end_of_stream and not has_length and method.upper() in ("POST", "PUT", "PATCH"):
            lines.append("content-length: 0")
        elif not end_of_stream and not has_length:
            self._chunked = True
            lines.append("transfer-encoding: chunked")
        self._request_sent = (end_of_stream, 0)
        self._send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def send_request_body(self, data: bytes, end_of_stream: bool = False) -> None:
        data = _as_bytes(data)
        self._request_sent = (end_of_stream, (self._request_sent or (False, 0))[1] + len(data))
        out = (b"%x\r\n%s\r\n" % (len(data), data) if data else b"") if self._chunked else data
        if end_of_stream and self._chunked:
            out += b"0\r\n\r\n"
        self._send(out)

    def send_request_trailers(self, trailers: HeadersArg) -> None:
        lines = "".join(f"{k}: {v}\r\n" for k, v in _header_pairs(trailers))
        self._request_sent = (True, (self._request_sent or (False, 0))[1])
        self._send(b"0\r\n" + lines.encode("latin-1") + b"\r\n")

    def _exchange(self):
        live = self._host.upstream.live
        return live[0] if live else None

    @property
    def upstream_request(self):
        exchange = self._exchange()
        return None if exchange is None else _upstream_request(exchange, self._sent_names)

    def _upstream_exchange(self):
        exchange = self._exchange()
        if exchange is None:
            raise UserError("the request has not reached the upstream, so it cannot answer yet.")
        return exchange

    def send_response_headers(self, headers: HeadersArg, end_of_stream: bool = False) -> None:
        pairs = _header_pairs(headers)
        status = int(next((v for k, v in pairs if k == ":status"), 200))
        self._answered_names = [k for k, _ in pairs if not k.startswith(":")]
        self._upstream_exchange().send_headers(status, pairs, end_of_stream)
        self._response_ended = end_of_stream
        self._host._settle([self])

    def send_response_body(self, data: bytes, end_of_stream: bool = False) -> None:
        self._upstream_exchange().send_body(_as_bytes(data), end_of_stream)
        self._response_body_sent += len(data)
        self._response_ended = end_of_stream
        self._host._settle([self])

    def send_response_trailers(self, trailers: HeadersArg) -> None:
        self._upstream_exchange().send_trailers(_header_pairs(trailers))
        self._response_ended = True
        self._host._settle([self])

    @property
    def response(self):
        """What the client has received so far (`status` None before the response headers)."""
        self._read_available()
        status, raw_headers, body, trailers, _ = _parse_http_response(bytes(self._received))
        testing = _testing()
        local_reply = any(k.lower() == LOCAL_REPLY_MARKER for k, _ in raw_headers)
        raw_headers = [(k, v) for k, v in raw_headers if k.lower() != LOCAL_REPLY_MARKER]
        upstream_request = self.upstream_request
        return testing.HttpResponse(status, _make_headers(comparable_headers(raw_headers, sent=self._answered_names)),
                                    body, _make_headers(trailers), upstream_request, local_reply=local_reply)

    @property
    def finished(self) -> bool:
        return self._closed

    def complete(self) -> None:
        """End the stream: close the client connection and the upstream's."""
        exchange = self._exchange()
        if exchange is not None:
            exchange.fail()
        self._client.close()
        self._closed = True
        self._host.upstream.hold = False

    # Envoy does not say where a stream stopped. With one plugin in the chain it can only be
    # that plugin (index 0), so these answer from what each side has received after settling.

    def _single_plugin(self) -> None:
        if self._host._envoy_kwargs.get("extra_plugins"):
            raise NotImplementedError("with several plugins Envoy does not say which one paused")

    @property
    def request_paused_at(self) -> int | None:
        """0 when the request (as far as the client sent it) has not all reached the upstream."""
        self._single_plugin()
        if self._request_sent is None or self.response.status is not None:
            return None
        exchange = self._exchange()
        if exchange is None:
            return 0
        ended, body = self._request_sent
        if len(exchange.body) < body or (ended and not exchange.request_complete):
            return 0
        return None

    @property
    def response_paused_at(self) -> int | None:
        """0 when the upstream's answer (as far as it was sent) has not all reached the client
        (a filter that shortens a body it streams through looks paused until the end)."""
        self._single_plugin()
        exchange = self._exchange()
        if exchange is None or not exchange.answered:
            return None
        status, _, body, _, complete = _parse_http_response(bytes(self._received))
        if status is None or (not complete and (self._response_ended or len(body) < self._response_body_sent)):
            return 0
        return None


def _parse_http_response(data: bytes) -> tuple:
    """(status, headers, body, trailers, complete) from the bytes of a (maybe partial) HTTP/1.1
    response."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return None, [], b"", [], False
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    names = dict(headers)
    if "chunked" not in names.get("transfer-encoding", ""):
        length = names.get("content-length")
        if length and length.isdigit():
            return status, headers, rest[: int(length)], [], len(rest) >= int(length)
        return status, headers, rest, [], False
    body, trailers, pos = bytearray(), [], 0
    while True:
        end = rest.find(b"\r\n", pos)
        if end < 0:
            return status, headers, bytes(body), trailers, False
        size = int(rest[pos:end].split(b";")[0] or b"0", 16)
        if size == 0:
            tail = rest[end + 2:]
            for line in tail.decode("latin-1").split("\r\n"):
                if not line:
                    break
                name, _, value = line.partition(":")
                trailers.append((name.strip().lower(), value.strip()))
            return status, headers, bytes(body), trailers, tail.endswith(b"\r\n") and (
                tail == b"\r\n" or tail.endswith(b"\r\n\r\n"))
        body += rest[end + 2:end + 2 + size]
        pos = end + 2 + size + 2
        if pos > len(rest):
            return status, headers, bytes(body), trailers, False


class EnvoyTcpConnection:
    """One real TCP connection through Envoy, with the emulator's `TcpConnection` API.

    `send_downstream(data)` writes as the client, `send_upstream(data)` as the upstream
    server; `to_upstream` / `to_downstream` collect what came out of Envoy on each side.
    A real network has no "done" signal, so each step waits until the bytes stop coming
    (`quiet` seconds after the last one, at most `patience` seconds when none come).
    """

    quiet = 0.05
    patience = 0.5

    def __init__(self, host: EnvoyHost) -> None:
        self._host = host
        self.to_upstream = bytearray()
        self.to_downstream = bytearray()
        self.closed = False
        self.closed_by: str | None = None
        self._client = socket.create_connection(("127.0.0.1", host.envoy.port), timeout=5)
        self._upstream: socket.socket | None = None
        self._upstream_socket(wait=2.0)

    def _upstream_socket(self, wait: float) -> socket.socket | None:
        if self._upstream is None and self._host.tcp_upstream is not None:
            self._upstream = self._host.tcp_upstream.accept(wait)
        return self._upstream

    def _collect(self, sock: socket.socket | None, into: bytearray, patience: float | None = None) -> bool:
        """Read what `sock` receives until it goes quiet; True when the peer closed."""
        if sock is None:
            return False
        deadline = time.monotonic() + (self.patience if patience is None else patience)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ready, _, _ = select.select([sock], [], [], remaining)
            if not ready:
                return False
            try:
                data = sock.recv(65536)
            except OSError:
                return True
            if not data:
                return True
            into += data
            deadline = time.monotonic() + self.quiet

    def send_downstream(self, data: bytes, end_of_stream: bool = False) -> None:
        self._client.sendall(bytes(data))
        if end_of_stream:
            self._client.shutdown(socket.SHUT_WR)
        self._collect(self._upstream_socket(wait=2.0), self.to_upstream)

    def send_upstream(self, data: bytes, end_of_stream: bool = False) -> None:
        upstream = self._upstream_socket(wait=5.0)
        if upstream is None:
            raise UserError("Envoy never connected to the upstream (did the filter pause the connection?).")
        upstream.sendall(bytes(data))
        if end_of_stream:
            upstream.shutdown(socket.SHUT_WR)
        self._collect(self._client, self.to_downstream)

    def close(self, peer: Any = None, side: str = "downstream") -> None:
        """Close from `side` ("downstream" or "upstream"), then wait until Envoy has closed
        the other side, so the module's close callbacks have run."""
        if self.closed:
            return
        first, other, into = (self._client, self._upstream, self.to_upstream) if side == "downstream" \
            else (self._upstream, self._client, self.to_downstream)
        if first is not None:
            first.close()
        if other is not None:
            self._collect(other, into, patience=5.0)
            other.close()
        time.sleep(self.quiet)
        self.closed, self.closed_by = True, side


_POOL: dict[tuple, list[EnvoyHost]] = {}
_IDLE: list[EnvoyHost] = []  # pooled and unused, least recently returned first


def _max_idle() -> int:
    """How many idle Envoys the reuse pool keeps: `PROXYWASM_ENVOY_POOL` (default 3)."""
    try:
        return max(0, int(os.environ.get("PROXYWASM_ENVOY_POOL", "3")))
    except ValueError:
        return 3
_PLUGIN_START_ERROR: type | None = None


def _as_plugin_start_error(err: EnvoyError) -> EnvoyError:
    """Envoy refusing the plugin (on_vm_start / on_configure returned false) becomes the
    emulator's `PluginStartError` too; LocalEnvoy's sentence already carries the module's
    last error log."""
    global _PLUGIN_START_ERROR
    if not err.plugin_refused:
        return err
    if _PLUGIN_START_ERROR is None:
        _PLUGIN_START_ERROR = type("EnvoyPluginStartError", (EnvoyError, _testing().PluginStartError), {})
    converted = _PLUGIN_START_ERROR(str(err))
    converted.wasm_logs = err.wasm_logs
    converted.plugin_refused = True
    return converted


_ENVOY_LEVELS = ("trace", "debug", "info", "warning", "error", "critical")


def _envoy_log_level(level: int | str | None) -> str:
    if level is None:
        return "trace"
    if isinstance(level, str):
        return {"warn": "warning"}.get(level.lower(), level.lower())
    return _ENVOY_LEVELS[int(level)]


def _start_envoy(kwargs: dict[str, Any], upstream: RecordingUpstream,
                 servers: dict[str, RecordingUpstream]) -> LocalEnvoy:
    kwargs = dict(kwargs)
    real = kwargs.pop("real_clusters")
    tcp_upstream = kwargs.pop("tcp_upstream", None)
    if kwargs.get("tcp"):
        kwargs.pop("mark_local_replies", None)
        return LocalEnvoy(upstream=tcp_upstream.address,
                          clusters={**real, **{name: s.address for name, s in servers.items()}}, **kwargs)
    return LocalEnvoy(upstream=upstream.address,
                      clusters={**real, **{name: s.address for name, s in servers.items()}}, **kwargs)


def _recorded_pairs(seen) -> list[tuple[str, str]]:
    """A recorded request's headers with pseudo-headers, as Envoy's filters saw them."""
    pairs = [(":method", seen.method), (":path", seen.path), (":authority", seen.headers.get("host", ""))]
    return pairs + [(k.lower(), v) for k, v in seen.headers.items() if k.lower() != "host"]


#: What an HTTP/1.1 request line needs when the test gave no pseudo-header for it.
REQUEST_DEFAULTS = {":method": "GET", ":path": "/", ":authority": "example.com"}


def _upstream_request(seen, sent_names: Iterable[str]):
    """A recorded request as a `proxywasm.testing.UpstreamRequest`, normalised. A pseudo-header
    the test did not send and that still has the default the request line needed is left out,
    as the emulator never had it."""
    testing = _testing()
    sent = {name.lower() for name in sent_names}
    pairs = [(k, v) for k, v in _recorded_pairs(seen)
             if not (k in REQUEST_DEFAULTS and k not in sent and v == REQUEST_DEFAULTS[k])]
    return testing.UpstreamRequest(
        _make_headers(comparable_headers(pairs, sent=sent_names)),
        bytes(seen.body),
        _make_headers(seen.trailers),
    )


def _normalise_answer(result: Any):
    """(status, headers, body[, trailers]) with str/bytes bodies and any header form; None stays."""
    if result is None:
        return None
    status, headers, body, *rest = result
    trailers = _header_pairs(rest[0]) if rest and rest[0] else None
    return (int(status), _header_pairs(headers or {}), _as_bytes(body or b""), trailers or [])


@atexit.register
def _stop_pooled_envoys() -> None:
    for hosts in _POOL.values():
        for host in hosts:
            host._shutdown()
    _POOL.clear()
    _IDLE.clear()


@dataclass(frozen=True)
class _OutgoingRequest:
    """One HTTP/1.1 request as `EnvoyHost.http_request` sends it."""

    method: str
    target: str
    authority: str                      # sent as Host
    headers: list[tuple[str, str]]      # without pseudo-headers
    payload: bytes
    trailers: list[tuple[str, str]] | None   # not None: the body is sent chunked
    sent_names: list[str]               # every header name the test gave (kept when compared)


def _outgoing_request(headers: HeadersArg, body: bytes | str | list,
                      trailers: HeadersArg | None) -> _OutgoingRequest:
    pairs = _header_pairs(headers)
    pseudo = {k.lower(): v for k, v in pairs if k.startswith(":")}
    regular = [(k, v) for k, v in pairs if not k.startswith(":")]
    authority = pseudo.get(":authority") or next((v for k, v in regular if k.lower() == "host"),
                                                 REQUEST_DEFAULTS[":authority"])
    payload = b"".join(_as_bytes(c) for c in body) if isinstance(body, list) else _as_bytes(body)
    return _OutgoingRequest(
        method=pseudo.get(":method", REQUEST_DEFAULTS[":method"]),
        target=pseudo.get(":path", REQUEST_DEFAULTS[":path"]),
        authority=authority, headers=regular, payload=payload,
        trailers=_header_pairs(trailers) if trailers is not None else None,
        sent_names=[k for k, _ in pairs],
    )


def _send_request(conn: http.client.HTTPConnection, request: _OutgoingRequest) -> None:
    conn.putrequest(request.method, request.target, skip_host=True, skip_accept_encoding=True)
    conn.putheader("host", request.authority)
    for name, value in request.headers:
        if name.lower() not in ("host", "content-length", "transfer-encoding"):
            conn.putheader(name, value)
    payload = request.payload
    if request.trailers is not None:
        conn.putheader("transfer-encoding", "chunked")
        conn.endheaders()
        if payload:
            conn.send(b"%x\r\n%s\r\n" % (len(payload), payload))
        conn.send(b"0\r\n" + b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in request.trailers)
                  + b"\r\n")
    else:
        if payload or request.method.upper() in ("POST", "PUT", "PATCH"):
            conn.putheader("content-length", str(len(payload)))
        conn.endheaders(payload or None)


@dataclass(frozen=True)
class _ReceivedResponse:
    """What came back from Envoy, before the comparison with the emulator's results."""

    status: int | None                  # None: reset before any response
    headers: list[tuple[str, str]]
    body: bytes
    trailers: list[tuple[str, str]]
    reset: bool


def _read_response(conn: http.client.HTTPConnection) -> _ReceivedResponse:
    try:
        resp = conn.getresponse()
    except http.client.RemoteDisconnected:  # Envoy reset the stream before any response
        return _ReceivedResponse(None, [], b"", [], reset=True)
    status, headers = resp.status, resp.getheaders()
    reset, body = False, b""
    try:
        body = resp.read()
    except http.client.IncompleteRead as cut:  # reset after the headers
        reset, body = True, cut.partial
    except ConnectionResetError:
        reset = True
    return _ReceivedResponse(status, headers, body, resp.trailers, reset)


def _http_response(received: _ReceivedResponse, answered_names: list[str], upstream_request: Any):
    """`received` as a `proxywasm.testing.HttpResponse`, with Envoy's own differences removed."""
    local_reply = any(name.lower() == LOCAL_REPLY_MARKER for name, _ in received.headers)
    headers = [(k, v) for k, v in received.headers if k.lower() != LOCAL_REPLY_MARKER]
    return _testing().HttpResponse(
        received.status, _make_headers(comparable_headers(headers, sent=answered_names)), received.body,
        _make_headers(received.trailers), upstream_request, local_reply=local_reply, reset=received.reset,
    )


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
