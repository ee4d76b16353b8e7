"""header_rewrite: add, replace and remove request and response headers from JSON config.

Plugin configuration (JSON; every key optional):

    {
      "request": {
        "remove": ["x-internal-token"],          # drop these headers (all their values)
        "set": {"x-forwarded-proto": "https"},   # replace: one value, whatever was there
        "add": {"x-tag": "a", "x-trace": ["1", "2"]}   # append: keeps existing values
      },
      "response": {
        "remove": ["server"],
        "add": {"x-frame-options": "DENY"}
      }
    }

Operations run in the order remove, set, add. Header names are case-insensitive; pseudo-headers
(`:path`, `:status`, ...) may be set but not removed or added, and a configuration that tries
is rejected so Envoy refuses the plugin instead of breaking every stream.
"""

import json

import proxywasm
from proxywasm import Action, HttpContext, RootContext


class Rewrite:
    """The edits for one direction (request or response)."""

    def __init__(self, config: dict) -> None:
        self.remove = [name.lower() for name in config.get("remove", [])]
        self.set = [(name.lower(), str(value)) for name, value in config.get("set", {}).items()]
        self.add = []
        for name, values in config.get("add", {}).items():
            for value in values if isinstance(values, list) else [values]:
                self.add.append((name.lower(), str(value)))
        for name in self.remove + [name for name, _ in self.add]:
            if name.startswith(":"):
                raise ValueError(f"pseudo-header {name} can be set but not removed or added")

    def __bool__(self) -> bool:
        return bool(self.remove or self.set or self.add)


class HeaderRewrite(HttpContext):
    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        edits = self.root.request
        for name in edits.remove:
            self.remove_http_request_header(name)
        for name, value in edits.set:
            self.set_http_request_header(name, value)
        for name, value in edits.add:
            self.add_http_request_header(name, value)
        return Action.CONTINUE

    def on_http_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        edits = self.root.response
        for name in edits.remove:
            self.remove_http_response_header(name)
        for name, value in edits.set:
            self.set_http_response_header(name, value)
        for name, value in edits.add:
            self.add_http_response_header(name, value)
        return Action.CONTINUE


class Root(RootContext):
    def on_configure(self, plugin_configuration_size: int) -> bool:
        try:
            config = json.loads(self.get_plugin_configuration() or b"{}")
            self.request = Rewrite(config.get("request", {}))
            self.response = Rewrite(config.get("response", {}))
        except (ValueError, AttributeError, TypeError) as err:
            proxywasm.log_error(f"header-rewrite: bad plugin configuration: {err}")
            return False
        proxywasm.log_info(f"header-rewrite: {len(self.request.add) + len(self.request.set)} "
                           f"request and {len(self.response.add) + len(self.response.set)} "
                           f"response headers written")
        return True

    def create_http_context(self, context_id: int) -> HttpContext:
        return HeaderRewrite(context_id, self)


proxywasm.set_root_context(Root)
