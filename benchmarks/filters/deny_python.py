"""The benchmark filter in Python with the proxywasm SDK.

A request carrying `x-deny` gets a 403 local reply "denied\\n"; every other response gets
`x-filter: python`. deny_c.c and deny_assemblyscript/ are the same filter in C and
AssemblyScript; benchmarks/envoy_filters.py runs all of them side by side in Envoy.
"""

import proxywasm
from proxywasm import Action, HttpContext, RootContext


class Deny(HttpContext):
    denied = False

    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        if self.get_http_request_header("x-deny") is not None:
            self.denied = True
            self.send_http_response(403, (), b"denied\n")
            return Action.PAUSE
        return Action.CONTINUE

    def on_http_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        if not self.denied:
            self.add_http_response_header("x-filter", "python")
        return Action.CONTINUE


class Root(RootContext):
    def create_http_context(self, context_id: int) -> HttpContext:
        return Deny(context_id, self)


proxywasm.set_root_context(Root)
