"""A filter that buffers whole bodies (the pattern that meets Envoy's buffer limit) and reads
every request header. A request to /upstream goes on to the upstream, whose response body the
filter buffers whole before passing it on; any other request is answered by the filter, once
its whole body is in, with the body's length, the number of request headers and the longest
header value."""

import proxywasm
from proxywasm import Action, HttpContext


class Buffering(HttpContext):
    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> int:
        headers = self.get_http_request_headers()
        self.header_count = len(headers)
        self.longest = max(len(value) for _, value in headers)
        self.to_upstream = self.get_http_request_header(":path") == "/upstream"
        if end_of_stream and not self.to_upstream:
            return self.answer(0)
        return Action.CONTINUE

    def on_http_request_body(self, body_size: int, end_of_stream: bool) -> int:
        if self.to_upstream:
            return Action.CONTINUE
        if not end_of_stream:
            return Action.PAUSE  # buffer until the whole body is in
        return self.answer(body_size)

    def on_http_response_body(self, body_size: int, end_of_stream: bool) -> int:
        return Action.CONTINUE if end_of_stream else Action.PAUSE  # buffer the whole response

    def answer(self, body_size: int) -> int:
        text = "body %d headers %d longest %d\n" % (body_size, self.header_count, self.longest)
        self.send_http_response(200, body=text.encode())
        return Action.PAUSE


proxywasm.set_root_context(proxywasm.RootContext)
proxywasm.set_http_context(Buffering)
