"""A filter that answers every request itself with its VERSION (body `version <VERSION>` and the
header x-filter-version): the `run --watch` tests edit VERSION and see the running Envoy change."""

import proxywasm
from proxywasm import Action, HttpContext, RootContext

VERSION = "one"
STARTS = True


class Versioned(HttpContext):
    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        self.send_http_response(200, [("x-filter-version", VERSION)], f"version {VERSION}\n".encode())
        return Action.PAUSE


class Root(RootContext):
    def on_configure(self, plugin_configuration_size: int) -> bool:
        if not STARTS:
            proxywasm.log_error(f"version {VERSION} refuses to start")
            return False
        proxywasm.log_info(f"version {VERSION} configured")
        return True

    def create_http_context(self, context_id: int) -> HttpContext:
        return Versioned(context_id, self)


proxywasm.set_root_context(Root)
