"""A filter that allocates on every request: the MicroPython runtime's garbage collection must
keep a long run flat (benchmarks/micropython_million.py).

Each request builds a dict from its headers, a JSON document of it and a list of strings, and
keeps nothing: the response gets `x-alloc: <length of the JSON>`.
"""

import json

import proxywasm
from proxywasm import Action, HttpContext, RootContext


class Alloc(HttpContext):
    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        headers = {name: value for name, value in self.get_http_request_headers()}
        document = {"path": headers.get(":path"), "headers": headers,
                    "words": [f"w{i}-{len(headers)}" for i in range(32)]}
        self.size = len(json.dumps(document))
        return Action.CONTINUE

    def on_http_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        self.add_http_response_header("x-alloc", str(self.size))
        return Action.CONTINUE


class Root(RootContext):
    def create_http_context(self, context_id: int) -> HttpContext:
        return Alloc(context_id, self)


proxywasm.set_root_context(Root)
