"""`EnvoyHost`: the same test API as `proxywasm.testing.Host`, over a real Envoy.

`EnvoyHost.load(...)` puts the compiled module in a real Envoy on 127.0.0.1 in front of a
recording upstream; `http_request(...)` sends a real HTTP/1.1 request. The pytest plugin reaches
it through `proxywasm_build.hosts.envoy_host`.

What naturally differs between Envoy and the emulator is removed in one place,
`proxywasm_build.envoy.results.comparable_headers`, applied to every result. Step-by-step
streams are in `envoy.streams`, the whole-request exchange in `envoy.exchange`.
"""

from __future__ import annotations

import atexit
import os
import http.client
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from proxywasm_build.hosts import built_module
from proxywasm_build.envoy.config import ExtraPlugin
from proxywasm_build.envoy.runner import EnvoyError, LocalEnvoy
from proxywasm_build.errors import UserError
from proxywasm_build.envoy.upstream import RecordingUpstream, TcpUpstream
from proxywasm_build.envoy.exchange import (OutgoingRequest, ReceivedResponse, TrailerKeepingResponse,
                                            http_response, outgoing_request, read_response, send_request)
from proxywasm_build.envoy.results import (HeadersArg, as_bytes, comparable_headers, header_pairs,
                                           log_record, make_headers, normalise_answer, recorded_pairs,
                                           testing_module, upstream_request_of)
from proxywasm_build.envoy.streams import EnvoyHttpStream, EnvoyTcpConnection
from proxywasm_build.envoy.h2exchange import HTTP1, HTTP2, ClientListener, exchange_over_h2



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
        self._startup_logs = envoy.wasm_logs(worker_only=True, vm_ids=True)
        self._log_mark = len(self._startup_logs)
        self.tcp_upstream: TcpUpstream | None = (envoy_kwargs or {}).get("tcp_upstream")
        self.listener = ClientListener()
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
        self._log_mark = len(self.envoy.wasm_logs(worker_only=True, vm_ids=True))
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
        protocol: str = "HTTP/1.1",
        upstream_protocol: str = "HTTP/1.1",
        request_id: Any = None,
        envoy_headers: bool = True,
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

        `protocol` is the client's: "HTTP/1.1" or "HTTP/2" (cleartext, prior knowledge; whole
        requests only). The upstream speaks HTTP/1.1. `request_id` fixes the `x-request-id`
        Envoy would generate: the client sends it (and `x-forwarded-proto: http`) last, which
        Envoy keeps where it would have put its own. Envoy always adds these headers, so
        `envoy_headers=False` is the emulator's alone.

        `reuse=True` (default: the environment variable `PROXYWASM_ENVOY_REUSE=1`) keeps the
        Envoy running after `close()` and hands it to the next `load` with the same arguments,
        which saves V8's compile of a large module. The filter's own state (root context,
        shared data, metrics) then carries over; `logs` still start with the start-up messages
        followed by this user's messages only.
        """
        listener = _client_listener(protocol, upstream_protocol, request_id, envoy_headers)
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
                    return pooled._checkout()._listen(listener)
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
        return cls(envoy, upstream, servers, module, pool_key, envoy_kwargs)._listen(listener)

    # -- callouts ---------------------------------------------------------------------------

    def _listen(self, listener: Any) -> "EnvoyHost":
        self.listener = listener
        return self

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
        self._startup_logs = self.envoy.wasm_logs(worker_only=True, vm_ids=True)
        self._log_mark = len(self._startup_logs)

    def _use_mode(self, tcp: bool) -> None:
        """Envoy runs either the HTTP or the TCP listener: switching restarts it."""
        if bool(self._envoy_kwargs.get("tcp")) == tcp:
            return
        self._envoy_kwargs["tcp"] = tcp
        if tcp and self.tcp_upstream is None:
            self.tcp_upstream = self._envoy_kwargs["tcp_upstream"] = TcpUpstream()
        self._restart()

    def add_plugin(self, path: Path | str | None = None, *, vm_id: str | None = None, root_id: str = "",
                   plugin_config: bytes | str = b"", name: str = "",
                   vm_config: bytes | str | None = None) -> None:
        """Add another plugin after the existing ones (another wasm filter entry), as the
        emulator's `add_plugin` does. With neither `path` nor `vm_id` it shares the first
        plugin's VM; another `vm_id`, or the module built from `path`, gives it a VM of its
        own. Restarts Envoy."""
        module = built_module(path) if path is not None else None
        extra = list(self._envoy_kwargs.get("extra_plugins", ()))
        extra.append(ExtraPlugin(name or f"proxywasm-{len(extra) + 2}", root_id, plugin_config,
                                 vm_id=vm_id, module=module, vm_config=vm_config))
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
        testing = testing_module()

        def answer(request):
            if callable(responder):
                # Envoy states the call's timeout in a header it adds; the rest is normalised.
                timeout_ms = request.headers.get("x-envoy-expected-rq-timeout-ms") or "0"
                call = testing.HttpCall(
                    token=0, context_id=0, upstream=cluster,
                    headers=make_headers(comparable_headers(recorded_pairs(request))),
                    body=request.body, trailers=make_headers(request.trailers),
                    timeout_ms=int(timeout_ms) if timeout_ms.isdigit() else 0,
                )
                result = responder(call)
            else:
                result = responder
            return normalise_answer(result)

        server.clear()
        server.hold = False
        server.handler = answer

    @property
    def pending_http_calls(self) -> list:
        """Callouts waiting for an answer (clusters without `on_http_call` hold them), as
        `HttpCall`s whose `token` `respond_http_call` / `fail_http_call` take."""
        self._settle()
        testing = testing_module()
        pending = []
        for cluster, server in self.callout_servers.items():
            for exchange in server.live:
                if exchange.request_complete and not exchange.answered and not exchange.done:
                    token = self._call_token(exchange)
                    timeout_ms = exchange.headers.get("x-envoy-expected-rq-timeout-ms") or "0"
                    pending.append(testing.HttpCall(
                        token=token, context_id=0, upstream=cluster,
                        headers=make_headers(comparable_headers(recorded_pairs(exchange))),
                        body=bytes(exchange.body), trailers=make_headers(exchange.trailers),
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
        payload = as_bytes(body)
        exchange.send_headers(status, header_pairs(headers or {}),
                              end_of_stream=not payload and trailers is None)
        if payload or trailers is not None:
            exchange.send_body(payload, end_of_stream=trailers is None)
        if trailers is not None:
            exchange.send_trailers(header_pairs(trailers))
        self._settle()

    def fail_http_call(self, call: Any) -> None:
        """Drop a held callout's connection. Envoy hands the filter a 503 response for it."""
        self._exchange_for(call).fail()
        self._settle()

    def http_stream(self) -> "EnvoyHttpStream":
        """A real HTTP/1.1 stream to drive step by step, with the emulator's `HttpStream` API:
        the test writes the request and, from the upstream's side, the response."""
        self._use_mode(False)
        if self.listener.protocol != HTTP1:
            raise UserError("the envoy host drives HTTP/2 whole requests only (http_request); "
                            "step-by-step streams speak HTTP/1.1.")
        return EnvoyHttpStream(self)

    def http_context(self, plugin: Any = None) -> Any:
        """Not in Envoy: it has no call that runs one callback of one filter."""
        raise UserError("Envoy cannot run one callback of a filter alone; drive a whole stream "
                        "with http_stream(), or mark the test @pytest.mark.emulator_only.")

    def tcp_context(self, plugin: Any = None) -> Any:
        """Not in Envoy: it has no call that runs one callback of one filter."""
        raise UserError("Envoy cannot run one callback of a filter alone; drive a whole "
                        "connection with tcp_connection(), or mark the test "
                        "@pytest.mark.emulator_only.")

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
        messages = self.envoy.wasm_logs(worker_only=True, vm_ids=True)
        if self._log_mark > len(self._startup_logs):  # reused, or logs cleared
            messages = self._startup_logs + messages[self._log_mark:]
        return [log_record(level, message, vm_id) for level, message, vm_id in messages]

    def log_messages(self, min_level: int = 0, vm_id: str | None = None) -> list[str]:
        """The messages at `min_level` or above, of the VMs with `vm_id` if given."""
        return [record.message for record in self.logs
                if record.level >= min_level and (vm_id is None or record.vm_id == vm_id)]

    def clear_logs(self) -> None:
        """Forget the messages so far (start-up ones included)."""
        self._startup_logs = []
        self._log_mark = len(self.envoy.wasm_logs(worker_only=True, vm_ids=True))

    def advance(self, seconds: float) -> None:
        """Time in Envoy is real: wait `seconds` (ticks fire as their periods elapse)."""
        time.sleep(seconds)

    def tick(self) -> None:
        raise NotImplementedError("Envoy's clock is real: use advance(seconds) to let ticks fire.")

    @property
    def tick_period_ms(self) -> int:
        """Not in Envoy: it does not report the tick period a plugin set."""
        raise UserError("Envoy does not report the tick period a plugin set; read it in a test "
                        "marked @pytest.mark.emulator_only.")

    @property
    def metrics(self):
        """Counters and gauges the module defined (`proxy_define_metric`), by the module's name
        (Envoy's `/stats` name without `wasmcustom.`; a lookup by the full name works too, and
        `.envoy_names` is the mapping by the full names). Histograms are not included.
        """
        from proxywasm.testing.metrics import ENVOY_PREFIX, MetricValues

        return MetricValues((name[len(ENVOY_PREFIX):], value) for name, value in self.envoy.stats().items()
                            if name.startswith(ENVOY_PREFIX))

    def set_property(self, path: Any, value: Any) -> None:
        """Not possible here: a running Envoy takes no properties from a test."""
        raise UserError("a running Envoy takes no properties from a test: host.set_property is "
                        "the emulator's (mark the test @pytest.mark.emulator_only).")

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
        request = outgoing_request(self.listener.client_headers(header_pairs(headers)), body, trailers)
        answered_names = self._answer_upstream_with(upstream, request.sent_names)
        received = self._exchange_over_http(request, timeout)
        if self.upstream.errors:  # the test's upstream function raised
            raise self.upstream.errors.pop(0)
        upstream_request = upstream_request_of(self.upstream.requests[0], request.sent_names) \
            if self.upstream.requests else None
        return http_response(received, answered_names, upstream_request)

    def _answer_upstream_with(self, upstream: Any, sent_names: list[str]) -> list[str]:
        """Make the recording upstream answer the next request with `upstream`; returns the list
        that will hold the header names of that answer (kept in the compared response)."""
        self.upstream.clear()
        self.upstream.errors.clear()
        self.upstream.hold = False
        answered_names: list[str] = []

        def answer(seen):
            result = normalise_answer(upstream(upstream_request_of(seen, sent_names)) if callable(upstream)
                                       else upstream)
            if result is not None:
                answered_names.extend(name for name, _ in result[1])
            return result

        self.upstream.handler = answer
        return answered_names

    def _exchange_over_http(self, request: "OutgoingRequest", timeout: float) -> "ReceivedResponse":
        """Send `request` to Envoy's listener and read the answer; a UserError when none comes."""
        conn = http.client.HTTPConnection("127.0.0.1", self.envoy.port, timeout=timeout)
        conn.response_class = TrailerKeepingResponse
        try:
            if self.listener.protocol == HTTP2:
                return exchange_over_h2(self.envoy.port, request, timeout)
            send_request(conn, request)
            return read_response(conn)
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


def _client_listener(protocol: str, upstream_protocol: str, request_id: Any,
                     envoy_headers: bool) -> ClientListener:
    if protocol not in (HTTP1, HTTP2):
        raise UserError(f"protocol must be {HTTP1!r} or {HTTP2!r}, not {protocol!r}.")
    if upstream_protocol != HTTP1:
        raise UserError("the envoy host's upstream speaks HTTP/1.1 only; "
                        "upstream_protocol='HTTP/2' is the emulator's.")
    if not envoy_headers:
        raise UserError("Envoy always adds :scheme, x-forwarded-proto and x-request-id; "
                        "envoy_headers=False is the emulator's.")
    return ClientListener(protocol, request_id)


def _held_server() -> RecordingUpstream:
    server = RecordingUpstream()
    server.hold = True  # callouts wait for respond_http_call, as in the emulator
    return server


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
        _PLUGIN_START_ERROR = type("EnvoyPluginStartError", (EnvoyError, testing_module().PluginStartError), {})
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


@atexit.register
def _stop_pooled_envoys() -> None:
    for hosts in _POOL.values():
        for host in hosts:
            host._shutdown()
    _POOL.clear()
    _IDLE.clear()


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
