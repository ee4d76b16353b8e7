"""json_body: rewrite JSON request and response bodies (set and remove top-level keys).

Plugin configuration (JSON; every key optional):

    {
      "request":  {"set": {"source": "edge"}, "remove": ["password"]},
      "response": {"set": {"served_by": "python"}, "remove": ["internal_id"]},
      "max_bytes": 1048576       # larger JSON bodies are refused with 413
    }

Only bodies whose `content-type` contains `json` are touched; others pass as they are. A JSON
body arrives in chunks, so the filter holds the headers and buffers the chunks (returning
PAUSE) until the end of the stream, then parses the whole body, edits it and writes it back
with `set_http_request_body` / `set_http_response_body`. `content-length` is removed from the
held headers because the new body has another size (Envoy then sends it chunked).

A request body that is not a JSON object gets a `400` local reply and never reaches the
upstream; a response body that is not a JSON object becomes a `502`.
"""

import json

import proxywasm
from proxywasm import Action, HttpContext, RootContext


class Edit:
    """Top-level keys to set and remove in one direction's JSON object."""

    def __init__(self, config: dict) -> None:
        self.set = dict(config.get("set", {}))
        self.remove = list(config.get("remove", []))

    def __bool__(self) -> bool:
        return bool(self.set or self.remove)

    def apply(self, body: bytes) -> bytes:
        """The edited body; ValueError when it is not a JSON object."""
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError(f"expected a JSON object, got {type(document).__name__}")
        for key in self.remove:
            document.pop(key, None)
        document.update(self.set)
        return json.dumps(document, separators=(",", ":")).encode()


def is_json(content_type: str | None) -> bool:
    return content_type is not None and "json" in content_type.lower()


class JsonBody(HttpContext):
    rewrite_request = False
    rewrite_response = False

    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        if end_of_stream or not self.root.request:
            return Action.CONTINUE
        if not is_json(self.get_http_request_header("content-type")):
            return Action.CONTINUE
        self.rewrite_request = True
        self.remove_http_request_header("content-length")
        return Action.PAUSE  # the upstream sees nothing until the whole body is checked

    def on_http_request_body(self, body_size: int, end_of_stream: bool) -> Action:
        if not self.rewrite_request:
            return Action.CONTINUE
        if body_size > self.root.max_bytes:
            self.send_http_response(413, [], b"JSON body too large\n")
            return Action.PAUSE
        if not end_of_stream:
            return Action.PAUSE  # keep buffering
        body = self.get_http_request_body(0, body_size) or b""
        try:
            edited = self.root.request.apply(body)
        except ValueError as err:
            self.send_http_response(400, [("content-type", "text/plain")],
                                    f"invalid JSON body: {err}\n".encode())
            return Action.PAUSE
        self.set_http_request_body(0, body_size, edited)
        return Action.CONTINUE

    def on_http_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        if end_of_stream or not self.root.response:
            return Action.CONTINUE
        if not is_json(self.get_http_response_header("content-type")):
            return Action.CONTINUE
        self.rewrite_response = True
        self.remove_http_response_header("content-length")
        return Action.PAUSE

    def on_http_response_body(self, body_size: int, end_of_stream: bool) -> Action:
        if not self.rewrite_response:
            return Action.CONTINUE
        if not end_of_stream:
            return Action.PAUSE
        body = self.get_http_response_body(0, body_size) or b""
        try:
            edited = self.root.response.apply(body)
        except ValueError as err:
            proxywasm.log_warn(f"json-body: upstream sent invalid JSON: {err}")
            self.rewrite_response = False
            self.send_http_response(502, [], b"upstream sent invalid JSON\n")
            return Action.PAUSE
        self.set_http_response_body(0, body_size, edited)
        return Action.CONTINUE


class Root(RootContext):
    def on_configure(self, plugin_configuration_size: int) -> bool:
        try:
            config = json.loads(self.get_plugin_configuration() or b"{}")
            self.request = Edit(config.get("request", {}))
            self.response = Edit(config.get("response", {}))
            self.max_bytes = int(config.get("max_bytes", 1 << 20))
        except (ValueError, TypeError, AttributeError) as err:
            proxywasm.log_error(f"json-body: bad plugin configuration: {err}")
            return False
        return True

    def create_http_context(self, context_id: int) -> HttpContext:
        return JsonBody(context_id, self)


proxywasm.set_root_context(Root)
