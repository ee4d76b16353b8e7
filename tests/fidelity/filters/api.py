"""Filters for the testing-API tests: what the Go SDK's example unit tests exercise, written
for this SDK. The plugin configuration (JSON) picks the behaviour with "mode":

- "headers": adds `x-wasm-request` to the request and `x-wasm-response` to the response, plus
  `{"header", "value", "path": "request"|"response"}` from the configuration; logs every
  header it sees and "<context id> finished" from on_log.
- "auth": holds every request while it asks the cluster "httpbin" for `/uuid`; a UUID whose
  first hex digit is even lets the request go on, an odd one answers 403 "access forbidden".
- "json": a request must be `application/json` (else 403 at the headers); the whole body
  must be a JSON object with the configured "required_keys" (else 403 "invalid payload").
- "tcp": counts the bytes each way and pauses downstream data until it holds "release".
"""

import json

import proxywasm
from proxywasm import Action, HttpContext, RootContext, StreamContext


class Headers(HttpContext):
    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        self.set_http_request_header("x-wasm-request", "set by the filter")
        self.root.add_configured(self, "request")
        for name, value in self.get_http_request_headers():
            proxywasm.log_info(f"request header --> {name}: {value}")
        return Action.CONTINUE

    def on_http_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        self.set_http_response_header("x-wasm-response", "api")
        self.root.add_configured(self, "response")
        for name, value in self.get_http_response_headers():
            proxywasm.log_info(f"response header <-- {name}: {value}")
        return Action.CONTINUE

    def on_log(self) -> None:
        proxywasm.log_info(f"{self.context_id} finished")


class Auth(HttpContext):
    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        for name, value in self.get_http_request_headers():
            proxywasm.log_info(f"request header: {name}: {value}")
        self.dispatch_http_call("httpbin", [(":method", "GET"), (":path", "/uuid"),
                                            (":authority", "httpbin")], timeout=5.0)
        proxywasm.log_info("http call dispatched to httpbin")
        return Action.PAUSE

    def on_http_call_response(self, token_id: int, num_headers: int, body_size: int,
                              num_trailers: int) -> None:
        body = self.get_http_call_response_body() or b"{}"
        uuid = json.loads(body).get("uuid", "1")
        if int(uuid[0], 16) % 2 == 0:
            proxywasm.log_info("access granted")
            self.resume_http_request()
            return
        proxywasm.log_info("access forbidden")
        self.send_http_response(403, [("powered-by", "proxywasm-python")], b"access forbidden")


class Json(HttpContext):
    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        if self.get_http_request_header("content-type") != "application/json":
            self.send_http_response(403, [], b"content-type must be application/json")
            return Action.PAUSE
        return Action.CONTINUE

    def on_http_request_body(self, body_size: int, end_of_stream: bool) -> Action:
        if not end_of_stream:
            return Action.PAUSE  # keep buffering: the check needs the whole body
        try:
            payload = json.loads(self.get_http_request_body(0, body_size) or b"")
            valid = isinstance(payload, dict) and all(k in payload for k in self.root.required)
        except ValueError:
            valid = False
        if not valid:
            self.send_http_response(403, [], b"invalid payload")
            return Action.PAUSE
        return Action.CONTINUE


class Tcp(StreamContext):
    held = 0

    def on_new_connection(self) -> Action:
        proxywasm.log_info("new connection")
        return Action.CONTINUE

    def on_downstream_data(self, data_size: int, end_of_stream: bool) -> Action:
        data = self.get_downstream_data(0, data_size) or b""
        return Action.CONTINUE if b"release" in data or end_of_stream else Action.PAUSE

    def on_upstream_data(self, data_size: int, end_of_stream: bool) -> Action:
        return Action.CONTINUE


MODES = {"headers": Headers, "auth": Auth, "json": Json}


class Root(RootContext):
    def on_configure(self, plugin_configuration_size: int) -> bool:
        config = json.loads(self.get_plugin_configuration() or b"{}")
        self.mode = config.get("mode", "headers")
        self.header = config.get("header")
        self.value = config.get("value", "")
        self.path = config.get("path", "request")
        self.required = config.get("required_keys", [])
        self.context_type = "stream" if self.mode == "tcp" else "http"
        return self.mode in MODES or self.mode == "tcp"

    def add_configured(self, ctx: HttpContext, path: str) -> None:
        if self.header and self.path == path:
            if path == "request":
                ctx.set_http_request_header(self.header, self.value)
            else:
                ctx.set_http_response_header(self.header, self.value)

    def create_http_context(self, context_id: int) -> HttpContext:
        return MODES.get(self.mode, Headers)(context_id, self)

    def create_stream_context(self, context_id: int) -> StreamContext:
        return Tcp(context_id)


proxywasm.set_root_context(Root)
