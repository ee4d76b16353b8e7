"""Probe: which header maps and bodies a filter can still read or write in each later phase,
and how Envoy answers the local replies this filter sends.

The plugin configuration is a list of words:

- `read`: every callback logs, for each map and body, what reading it answers
  (`<phase> <target> get=<status>[:<value>] pairs=<status>[:<count>]`, bodies
  `<phase> <target> bytes=<status>[:<length>]`).
- `write`: every callback adds, replaces and removes a header on each map and appends to each
  body, and logs the statuses (`<phase> <target> add=... replace=... remove=...`,
  `<phase> <target> append=...`).
- `pause-request`, `pause-body`, `pause-response`: the request headers, the request's last body
  chunk, or the response headers wait for a callout to the cluster `auth`; its answer is
  probed before (`callout-held`) and after (`callout-resumed`) the filter resumes the stream.
- `late-read`: on_http_response_headers reads the request header `:path` through the SDK.
- `grpc-reply`: on_http_request_headers answers 401 "nope" with gRPC status 16.
- `reply-then-raise`: on_http_request_headers answers 403 "denied"; on_http_response_headers
  raises.

Targets: `rh`/`rt` request headers/trailers, `sh`/`st` response headers/trailers, `rb`/`sb`
request/response body. Statuses are the hostcall's own (`OK`, `NOT_FOUND`, `BAD_ARGUMENT`...).
"""

import proxywasm
from proxywasm import Action, HttpContext, RootContext, _host
from proxywasm import hostcalls as hc
from proxywasm.abi import Status, deserialize_map

STATUS_NAMES = {int(Status.OK): "OK", int(Status.NOT_FOUND): "NOT_FOUND",
                int(Status.BAD_ARGUMENT): "BAD_ARGUMENT", int(Status.EMPTY): "EMPTY"}
# target -> (map type, a key present in every exchange the tests make)
MAPS = (("rh", 0, ":path"), ("rt", 1, "x-rt"), ("sh", 2, ":status"), ("st", 3, "x-st"))
BODIES = (("rb", 0), ("sb", 1))


def status_name(status):
    return STATUS_NAMES.get(status, str(status))


def text(value):
    return value if isinstance(value, str) else value.decode()


def raw_text(value):
    """What the raw interface takes: str inside a module, bytes under the emulator."""
    return value if _host.raw_takes_str else value.encode()


def read_map(map_type, key):
    raw = _host.raw
    status, value = raw.get_header_map_value(map_type, raw_text(key))
    got = status_name(status) + (":" + text(value) if status == 0 else "")
    status, data = raw.get_header_map_pairs(map_type)
    count = len(deserialize_map(data or b"")) if status == 0 else None
    pairs = status_name(status) + (":" + str(count) if count is not None else "")
    return "get=" + got + " pairs=" + pairs


def read_body(buffer_type):
    status, data = _host.raw.get_buffer_bytes(buffer_type, 0, 0xFFFFFFFF)
    return "bytes=" + status_name(status) + (":" + str(len(data or b"")) if status == 0 else "")


def write_map(map_type, phase):
    raw = _host.raw
    added = raw.add_header_map_value(map_type, raw_text("x-add-" + phase), raw_text("1"))
    replaced = raw.replace_header_map_value(map_type, raw_text("x-set-" + phase), raw_text("1"))
    removed = raw.remove_header_map_value(map_type, raw_text("x-gone"))
    return "add=%s replace=%s remove=%s" % (status_name(added), status_name(replaced),
                                             status_name(removed))


def write_body(buffer_type, phase):
    data = raw_text("<" + phase + ">")
    return "append=" + status_name(_host.raw.set_buffer_bytes(buffer_type, 0x7FFFFFFF, 0, data))


class Probe(HttpContext):
    held = ""

    def probe(self, phase):
        words = self.root.words
        if "read" in words:
            for target, map_type, key in MAPS:
                proxywasm.log_info(phase + " " + target + " " + read_map(map_type, key))
            for target, buffer_type in BODIES:
                proxywasm.log_info(phase + " " + target + " " + read_body(buffer_type))
        if "write" in words:
            for target, map_type, _key in MAPS:
                proxywasm.log_info(phase + " " + target + " " + write_map(map_type, phase))
            for target, buffer_type in BODIES:
                proxywasm.log_info(phase + " " + target + " " + write_body(buffer_type, phase))

    def hold(self, what):
        self.held = what
        self.dispatch_http_call("auth", [(":method", "GET"), (":path", "/check"),
                                         (":authority", "auth")])
        return Action.PAUSE

    def on_http_request_headers(self, num_headers, end_of_stream):
        words = self.root.words
        if "grpc-reply" in words:
            hc.send_local_response(401, (), b"nope", b"", 16)
            return Action.PAUSE
        if "reply-then-raise" in words:
            self.send_http_response(403, body=b"denied")
            return Action.PAUSE
        self.probe("request_headers")
        if "pause-request" in words:
            return self.hold("request")
        return Action.CONTINUE

    def on_http_request_body(self, body_size, end_of_stream):
        self.probe("request_body")
        if self.held == "request":
            return Action.PAUSE
        if "pause-body" in self.root.words and end_of_stream:
            return self.hold("body")
        return Action.CONTINUE

    def on_http_request_trailers(self, num_trailers):
        self.probe("request_trailers")
        return Action.CONTINUE

    def on_http_call_response(self, token_id, num_headers, body_size, num_trailers):
        self.probe("callout-held")
        held, self.held = self.held, ""
        if held == "response":
            self.resume_http_response()
        else:
            self.resume_http_request()
        self.probe("callout-resumed")

    def on_http_response_headers(self, num_headers, end_of_stream):
        if "reply-then-raise" in self.root.words:
            proxywasm.log_info("response_headers " + str(self.get_http_response_header(":status")))
            raise RuntimeError("response headers refused")
        if "late-read" in self.root.words:
            proxywasm.log_info("late :path " + str(self.get_http_request_header(":path")))
        self.probe("response_headers")
        if "pause-response" in self.root.words:
            return self.hold("response")
        return Action.CONTINUE

    def on_http_response_body(self, body_size, end_of_stream):
        self.probe("response_body")
        return Action.PAUSE if self.held == "response" else Action.CONTINUE

    def on_http_response_trailers(self, num_trailers):
        self.probe("response_trailers")
        return Action.CONTINUE

    def on_log(self):
        proxywasm.log_info("log")
        self.probe("log")


class ProbeRoot(RootContext):
    words = ()

    def on_configure(self, plugin_configuration_size):
        config = self.get_plugin_configuration() or b""
        self.words = text(config).split()
        return True

    def create_http_context(self, context_id):
        return Probe(context_id, self)


proxywasm.set_root_context(ProbeRoot)
