"""Probe filter for Envoy's foreign functions, properties set at run time and metric names.

A request names what to do in its headers, a script of steps separated by " | ":
  x-ops        run in on_http_request_headers
  x-ops-later  run in on_http_response_headers of the same stream
Each step is `verb:argument`:
  set:PATH=VALUE       set_property(PATH, VALUE)
  get:PATH             get_property(PATH)
                       (a PATH with "/" is those segments, dots kept: filter_state/envoy.string)
  declare:NAME,READONLY,TYPE,SPAN
                       declare_property (DeclarePropertyArguments: readonly 0/1, WasmType and
                       LifeSpan as numbers)
  compress:TEXT        compress(TEXT), answered in hex
  uncompress:HEX       uncompress(bytes of HEX), answered in hex
  roundtrip:TEXT       uncompress(compress(TEXT)), answered as text
  state:KEY=VALUE      set_envoy_filter_state (SetEnvoyFilterStateArguments)
  clear_route_cache:   clear_route_cache
  call:NAME            call_foreign_function(NAME) with no arguments
  raw:NAME=HEX         call_foreign_function(NAME, bytes of HEX)
The transcripts come back in the response headers `x-transcript` and `x-transcript-later`, one
`verb:argument=>result` per step, result "ok", "ok:VALUE", "none" (property absent) or the
status name of a failed hostcall.

Plugin configuration (JSON, keys optional): `root_ops` runs a script in on_configure and logs
its transcript ("root: ..."); `metrics` lists `[kind, name]` pairs to define, each counter
incremented and each gauge set on every request.
"""

import json

import proxywasm
from proxywasm import Action, HostError, HttpContext, MetricType, RootContext

_METRIC_KINDS = {"counter": MetricType.COUNTER, "gauge": MetricType.GAUGE,
                 "histogram": MetricType.HISTOGRAM}


def _varint(value):
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _length_field(number, data):
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _varint_field(number, value):
    return _varint(number << 3) + _varint(value)


def _hex(data):
    return "".join("%02x" % b for b in data)


def _unhex(text):
    return bytes(int(text[i:i + 2], 16) for i in range(0, len(text), 2))


def _path(text):
    """`a.b` is the segments a and b; `a/b.c` the segments a and b.c, `a.b/` the one segment
    a.b (a segment may hold dots)."""
    return [part for part in text.split("/") if part] if "/" in text else text


def _declare_arguments(argument):
    name, readonly, wasm_type, span = argument.split(",")
    return (_length_field(1, name.encode()) + _varint_field(2, int(readonly))
            + _varint_field(3, int(wasm_type)) + _varint_field(5, int(span)))


def _filter_state_arguments(argument):
    key, _, value = argument.partition("=")
    return _length_field(1, key.encode()) + _length_field(2, value.encode())


def _step(verb, argument):
    if verb == "set":
        name, _, value = argument.partition("=")
        proxywasm.set_property(_path(name), value)
        return "ok"
    if verb == "get":
        value = proxywasm.get_property(_path(argument))
        return "none" if value is None else "ok:" + value.decode()
    if verb == "declare":
        proxywasm.call_foreign_function("declare_property", _declare_arguments(argument))
        return "ok"
    if verb == "compress":
        return "ok:" + _hex(proxywasm.call_foreign_function("compress", argument.encode()) or b"")
    if verb == "uncompress":
        return "ok:" + _hex(proxywasm.call_foreign_function("uncompress", _unhex(argument)) or b"")
    if verb == "roundtrip":
        packed = proxywasm.call_foreign_function("compress", argument.encode())
        return "ok:" + (proxywasm.call_foreign_function("uncompress", packed) or b"").decode()
    if verb == "state":
        proxywasm.call_foreign_function("set_envoy_filter_state", _filter_state_arguments(argument))
        return "ok"
    if verb == "clear_route_cache":
        result = proxywasm.call_foreign_function("clear_route_cache")
        return "ok" if not result else "ok:" + _hex(result)
    if verb in ("call", "raw"):
        name, _, data = argument.partition("=")
        result = proxywasm.call_foreign_function(name, _unhex(data))
        return "ok" if not result else "ok:" + _hex(result)
    return "unknown verb"


def run_script(script):
    """Run each step of `script`; the transcript says what each one answered."""
    results = []
    for step in script.split(" | ") if script else ():
        verb, _, argument = step.partition(":")
        try:
            result = _step(verb, argument)
        except HostError as err:
            result = str(err).rpartition(": ")[2]
        results.append(step + "=>" + result)
    return " | ".join(results)


class Probe(HttpContext):
    transcript = ""
    later = ""

    def on_http_request_headers(self, num_headers, end_of_stream):
        self.later = self.get_http_request_header("x-ops-later") or ""
        self.transcript = run_script(self.get_http_request_header("x-ops") or "")
        self.root.count_request()
        return Action.CONTINUE

    def on_http_response_headers(self, num_headers, end_of_stream):
        later = run_script(self.later)
        if self.transcript:
            self.set_http_response_header("x-transcript", self.transcript)
        if later:
            self.set_http_response_header("x-transcript-later", later)
        return Action.CONTINUE


class Root(RootContext):
    def on_configure(self, plugin_configuration_size):
        config = json.loads(self.get_plugin_configuration() or b"{}")
        self.metrics = []
        for kind, name in config.get("metrics", ()):
            self.metrics.append((kind, proxywasm.define_metric(_METRIC_KINDS[kind], name)))
        root_ops = config.get("root_ops", "")
        if root_ops:
            proxywasm.log_info("root: " + run_script(root_ops))
        return True

    def count_request(self):
        for kind, metric_id in self.metrics:
            if kind == "counter":
                proxywasm.increment_metric(metric_id, 1)
            elif kind == "gauge":
                proxywasm.record_metric(metric_id, 7)
            else:
                proxywasm.record_metric(metric_id, 3)

    def create_http_context(self, context_id):
        return Probe(context_id, self)


proxywasm.set_root_context(Root)
