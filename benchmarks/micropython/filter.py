"""The from-source variant of the MicroPython probe (benchmarks/micropython_probe.py), as a
filter built by the product's MicroPython backend: the same start log as snippet.py's on_start()
(warn, at VM start) and the same per-response `x-micropython` header."""

import sys

import proxywasm
from proxywasm import Action, HttpContext, RootContext

VERSION = ".".join(str(part) for part in sys.implementation.version[:3])
requests = 0


def _checked() -> str:
    try:
        raise ValueError("caught")
    except ValueError as error:
        return str(error)


class Probe(HttpContext):
    def on_http_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        global requests
        requests += 1
        self.add_http_response_header("x-micropython",
                                      "%s %s request %d" % (sys.implementation.name, VERSION, requests))
        return Action.CONTINUE


class Root(RootContext):
    def on_vm_start(self, vm_configuration_size: int) -> bool:
        proxywasm.log_warn("micropython-probe: MicroPython %s started in Envoy, sum(range(10)) = %d, "
                           "exception %s" % (VERSION, sum(range(10)), _checked()))
        return True

    def create_http_context(self, context_id: int) -> HttpContext:
        return Probe(context_id, self)


proxywasm.set_root_context(Root)
