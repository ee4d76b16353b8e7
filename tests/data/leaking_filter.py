"""A filter that leaks: it keeps `kib` KiB (plugin configuration {"kib": 100}) per request in a
module-level list and answers "held N" (N blocks held). A request with `x-out-of-memory`
raises MemoryError at once, as an exhausted interpreter would."""

import json

import proxywasm
from proxywasm import Action, HttpContext, RootContext

KEPT = []


class Root(RootContext):
    kib = 100

    def on_configure(self, plugin_configuration_size: int) -> bool:
        config = json.loads(self.get_plugin_configuration() or b"{}")
        self.kib = int(config.get("kib", 100))
        return True


class Leak(HttpContext):
    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> int:
        if self.get_http_request_header("x-out-of-memory") is not None:
            raise MemoryError("out of memory, as asked")
        KEPT.append(bytearray(self.root.kib * 1024))
        self.send_http_response(200, body=b"held %d\n" % len(KEPT))
        return Action.PAUSE


proxywasm.set_root_context(Root)
proxywasm.set_http_context(Leak)
