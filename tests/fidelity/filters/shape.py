"""Probe: logs what the filter sees of a stream's shape, one JSON line per callback.

Plugin configuration (JSON, every key optional):
    {"request_body": "continue" | "pause" | "pause_first",
     "response_body": "continue" | "pause" | "pause_first"}
"pause" answers PAUSE until the end of stream (buffer it all), "pause_first" only the first
body call. Each line is `shape {"at": callback, ...}`: headers in order with their values,
body calls with their size, end_of_stream and the bytes readable in them.
"""

import json

import proxywasm
from proxywasm import Action, HttpContext, RootContext


def _log(at: str, **fields) -> None:
    fields["at"] = at
    proxywasm.log_info("shape " + json.dumps(fields))


class Shape(HttpContext):
    def __init__(self, context_id: int, root: RootContext) -> None:
        super().__init__(context_id, root)
        self.body_calls = {"request": 0, "response": 0}

    def _body(self, way: str, size: int, end: bool, read) -> Action:
        self.body_calls[way] += 1
        data = read(0, size) or b""
        _log(way + "_body", size=size, end=end, data=data.decode("latin-1"))
        mode = self.root.modes.get(way + "_body", "continue")
        if mode == "pause" and not end:
            return Action.PAUSE
        if mode == "pause_first" and self.body_calls[way] == 1 and not end:
            return Action.PAUSE
        return Action.CONTINUE

    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        protocol = self.get_property(["request", "protocol"])
        _log("request_headers", end=end_of_stream, headers=self.get_http_request_headers(),
             protocol=protocol.decode() if protocol is not None else None)
        return Action.CONTINUE

    def on_http_request_body(self, body_size: int, end_of_stream: bool) -> Action:
        return self._body("request", body_size, end_of_stream, self.get_http_request_body)

    def on_http_request_trailers(self, num_trailers: int) -> Action:
        _log("request_trailers")
        return Action.CONTINUE

    def on_http_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        _log("response_headers", end=end_of_stream, headers=self.get_http_response_headers())
        return Action.CONTINUE

    def on_http_response_body(self, body_size: int, end_of_stream: bool) -> Action:
        return self._body("response", body_size, end_of_stream, self.get_http_response_body)

    def on_http_response_trailers(self, num_trailers: int) -> Action:
        _log("response_trailers")
        return Action.CONTINUE


class Root(RootContext):
    def on_configure(self, plugin_configuration_size: int) -> bool:
        self.modes = json.loads(self.get_plugin_configuration() or b"{}")
        return True

    def create_http_context(self, context_id: int) -> HttpContext:
        return Shape(context_id, self)


proxywasm.set_root_context(Root)
