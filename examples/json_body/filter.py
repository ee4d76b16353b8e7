"""json_body: rewrite JSON request and response bodies (set and remove top-level keys).

Plugin configuration (JSON; every key optional):

    {
      "request":  {"set": {"source": "edge"}, "remove": ["password"]},
      "response": {"set": {"served_by": "python"}, "remove": ["internal_id"]},
      "max_bytes": 1048576       # larger JSON request bodies are refused with 413
    }

Only bodies whose `content-type` contains `json` are touched; others pass as they are. A body
arrives in chunks, so the filter buffers them (returning PAUSE from the body callback) until
the end of the stream, then parses the whole body, edits it and writes it back with
`set_http_request_body` / `set_http_response_body`. `content-length` is removed from the
headers because the new body has another size (Envoy then sends it chunked).

The headers themselves go on at once: Envoy does not hand body chunks to a filter that paused
the headers, so a body filter must let them through. A request body that is not a JSON object
therefore gets a `400` local reply after the upstream has seen the headers but before it got
any of the body (Envoy resets that upstream request). A response body that is not a JSON
object is passed on unchanged with a warning: its headers are already on their way to the
client, so it can no longer be replaced by an error.
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
        if not end_of_stream and self.root.request and is_json(
                self.get_http_request_header("content-type")):
            self.rewrite_request = True
            self.remove_http_request_header("content-length")
        return Action.CONTINUE

    def on_http_request_body(self, body_size: int, end_of_stream: bool) -> Action:
        if not self.rewrite_request:
            return Action.CONTINUE
        if body_size > self.root.max_bytes:
            self.send_http_response(413, [], b"JSON body too large\n")
            return Action.PAUSE
        if not end_of_stream:
            return Action.PAUSE  # keep buffering: the upstream gets the body only when whole
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
        if not end_of_stream and self.root.response and is_json(
                self.get_http_response_header("content-type")):
            self.rewrite_response = True
            self.remove_http_response_header("content-length")
        return Action.CONTINUE

    def on_http_response_body(self, body_size: int, end_of_stream: bool) -> Action:
        if not self.rewrite_response:
            return Action.CONTINUE
        if not end_of_stream:
            return Action.PAUSE
        body = self.get_http_response_body(0, body_size) or b""
        try:
            self.set_http_response_body(0, body_size, self.root.response.apply(body))
        except ValueError as err:
            proxywasm.log_warn(f"json-body: upstream sent invalid JSON, passed unchanged: {err}")
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
