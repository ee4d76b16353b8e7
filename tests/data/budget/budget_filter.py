"""A filter whose callbacks misbehave on request: `x-mode: loop` loops forever in
on_http_request_headers, `x-mode: swallow` loops and catches everything it is sent, `x-mode:
raise` raises; any other request is answered normally (`x-served: yes`). A plugin configuration
holding a number sets the callback budget in code (proxywasm.set_callback_budget)."""

import proxywasm
from proxywasm import Action, HttpContext, RootContext


class Misbehaving(HttpContext):
    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> int:
        mode = self.get_http_request_header("x-mode")
        if mode == "loop":
            spin_forever()
        if mode == "swallow":
            while True:
                try:
                    spin_forever()
                except BaseException:
                    pass
        if mode == "raise":
            raise ValueError("raised on purpose")
        return Action.CONTINUE

    def on_http_response_headers(self, num_headers: int, end_of_stream: bool) -> int:
        self.set_http_response_header("x-served", "yes")
        return Action.CONTINUE


def spin_forever() -> None:
    count = 0
    while True:
        count += 1


class Root(RootContext):
    def on_configure(self, plugin_configuration_size: int) -> bool:
        configuration = self.get_plugin_configuration()
        if configuration:
            proxywasm.set_callback_budget(float(configuration))
        return True

    def create_http_context(self, context_id: int) -> HttpContext:
        return Misbehaving(context_id, self)


proxywasm.set_root_context(Root)
