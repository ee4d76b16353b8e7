"""tcp_metrics: count TCP connections and the bytes they carry, both ways.

A network filter (`StreamContext`): it never changes the data, it only measures it.

Plugin configuration (JSON; optional):

    {"prefix": "tcp_metrics."}     # metric name prefix (Envoy shows `wasmcustom.<name>`)

Metrics, defined in `on_configure` (never at import: the host is not reachable then):

- `<prefix>connections_total`   counter: connections opened
- `<prefix>connections_active`  gauge: connections open now
- `<prefix>bytes_received`      counter: bytes from the client towards the upstream
- `<prefix>bytes_sent`          counter: bytes from the upstream back to the client
- `<prefix>connection_bytes`    histogram: bytes carried by each closed connection

When a connection closes, one info line is logged with its id, bytes both ways and duration.
"""

import json

import proxywasm
from proxywasm import Action, PeerType, RootContext, StreamContext


class ConnectionMeter(StreamContext):
    def on_new_connection(self) -> Action:
        self.opened_ns = self.get_current_time_nanoseconds()
        self.received = self.sent = 0
        self.closed = False
        self.root.connections.increment()
        self.root.active.increment(1)
        return Action.CONTINUE

    def on_downstream_data(self, data_size: int, end_of_stream: bool) -> Action:
        self.received += data_size
        if data_size:  # a half-close arrives as 0 bytes; Envoy refuses counter increments of 0
            self.root.bytes_received.increment(data_size)
        return Action.CONTINUE

    def on_upstream_data(self, data_size: int, end_of_stream: bool) -> Action:
        self.sent += data_size
        if data_size:
            self.root.bytes_sent.increment(data_size)
        return Action.CONTINUE

    def on_downstream_close(self, peer_type: PeerType) -> None:
        self.finish("downstream", peer_type)

    def on_upstream_close(self, peer_type: PeerType) -> None:
        self.finish("upstream", peer_type)

    def finish(self, side: str, peer_type: PeerType) -> None:
        if self.closed:
            return  # both sides report the close; count it once
        self.closed = True
        root = self.root
        root.active.increment(-1)
        root.connection_bytes.record(self.received + self.sent)
        millis = (self.get_current_time_nanoseconds() - self.opened_ns) // 1_000_000
        connection = self.get_property_int("connection.id")
        proxywasm.log_info(f"tcp-metrics: connection {connection} closed by {side} "
                           f"({peer_type.name.lower()}) after {millis} ms: "
                           f"{self.received} bytes received, {self.sent} bytes sent")


class Root(RootContext):
    def on_configure(self, plugin_configuration_size: int) -> bool:
        try:
            prefix = str(json.loads(self.get_plugin_configuration() or b"{}")
                         .get("prefix", "tcp_metrics."))
        except (ValueError, AttributeError) as err:
            proxywasm.log_error(f"tcp-metrics: bad plugin configuration: {err}")
            return False
        self.connections = proxywasm.Counter(prefix + "connections_total")
        self.active = proxywasm.Gauge(prefix + "connections_active")
        self.bytes_received = proxywasm.Counter(prefix + "bytes_received")
        self.bytes_sent = proxywasm.Counter(prefix + "bytes_sent")
        self.connection_bytes = proxywasm.Histogram(prefix + "connection_bytes")
        return True

    def create_stream_context(self, context_id: int) -> StreamContext:
        return ConnectionMeter(context_id, self)


proxywasm.set_root_context(Root)
