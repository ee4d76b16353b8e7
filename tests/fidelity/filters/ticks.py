"""Ticks, callouts made from on_tick, and the clocks a filter reads.

Plugin configuration (JSON): {"period_ms": 100, "mode": "callout" | "grpc" | "hold" | "clock"}

- "callout": once a request arrived (it arms the root), each tick sends one callout to the
  cluster "ticker" (at most "callouts", default 1); the answer is counted in `tick.answered`
  and logged as "tick answer <status> <body>".
- "grpc": the same with a unary gRPC call to "ticker" (probe.Ticker/Tick), logged as
  "tick grpc answer <status> <message>".
- "hold": a request pauses at its headers until the next tick resumes it.
- "clock": a request gets a local reply carrying both clocks: the Proxy-Wasm one
  (`x-proxy-ns`) and Python's `time` module (`x-wall-ns`, `x-mono-ns`), which in a compiled
  module reads WASI's clock_time_get.
Every tick logs "tick <n> at <proxy ns> pending <callouts waiting>".
"""

import json
import time

import proxywasm
from proxywasm import Action, HttpContext, RootContext
from proxywasm import hostcalls


class Probe(HttpContext):
    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        root = self.root
        if root.mode == "hold":
            root.held.append(self)
            proxywasm.log_info("held until the next tick")
            return Action.PAUSE
        if root.mode == "clock":
            proxy_ns = self.get_current_time_nanoseconds()
            self.send_http_response(200, [("x-proxy-ns", str(proxy_ns)),
                                          ("x-wall-ns", str(time.time_ns())),
                                          ("x-mono-ns", str(time.monotonic_ns()))], b"")
            return Action.PAUSE
        root.armed = True
        return Action.CONTINUE


class Root(RootContext):
    def on_configure(self, plugin_configuration_size: int) -> bool:
        config = json.loads(self.get_plugin_configuration() or b"{}")
        self.mode = config.get("mode", "callout")
        self.callouts = int(config.get("callouts", 1))
        self.armed = False
        self.ticks = 0
        self.sent = 0
        self.pending = 0
        self.held = []
        self.fired = proxywasm.Counter("tick.fired")
        self.answered = proxywasm.Counter("tick.answered")
        period = int(config.get("period_ms", 100))
        proxywasm.log_info(f"configured at {self.get_current_time_nanoseconds()}")
        if period:
            self.set_tick_period_milliseconds(period)
        return True

    def create_http_context(self, context_id: int) -> HttpContext:
        return Probe(context_id, self)

    def on_tick(self) -> None:
        self.ticks += 1
        self.fired.increment()
        proxywasm.log_info(f"tick {self.ticks} at {self.get_current_time_nanoseconds()} "
                           f"pending {self.pending}")
        if self.mode == "hold":
            self.resume_held()
        elif self.armed and self.sent < self.callouts:
            self.sent += 1
            self.pending += 1
            if self.mode == "grpc":
                self.dispatch_grpc_call("ticker", "probe.Ticker", "Tick", message=b"tick", timeout=5)
            else:
                self.dispatch_http_call("ticker", [(":method", "GET"), (":path", f"/tick/{self.ticks}"),
                                                   (":authority", "ticker")], timeout=5)

    def resume_held(self) -> None:
        held, self.held = self.held, []
        for context in held:
            hostcalls.set_effective_context(context.context_id)
            context.resume_http_request()
            proxywasm.log_info("resumed at a tick")

    def on_http_call_response(self, token_id: int, num_headers: int, body_size: int,
                              num_trailers: int) -> None:
        self.pending -= 1
        self.answered.increment()
        status = self.get_http_call_response_header(":status")
        body = self.get_http_call_response_body(0, body_size) or b""
        proxywasm.log_info(f"tick answer {status} {body.decode()}")

    def on_grpc_call_response(self, token_id: int, status_code: int, response_size: int) -> None:
        self.pending -= 1
        self.answered.increment()
        message = (self.get_grpc_call_response_body(0, response_size) or b"") if status_code == 0 else b""
        proxywasm.log_info(f"tick grpc answer {status_code} {message.decode()}")


proxywasm.set_root_context(Root)
