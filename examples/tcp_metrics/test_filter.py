"""Tests of the tcp_metrics example through emulated TCP connections."""

from pathlib import Path

import pytest
from proxywasm import LogLevel
from proxywasm.testing import Host, PluginStartError

FILTER = Path(__file__).parent / "filter.py"


@pytest.fixture
def host() -> Host:
    return Host.load(FILTER)


def test_bytes_both_ways_are_counted_and_pass_unchanged(host):
    connection = host.tcp_connection()
    connection.send_downstream(b"GET / HTTP/1.0\r\n\r\n")
    connection.send_upstream(b"HTTP/1.0 200 OK\r\n\r\n")
    connection.send_upstream(b"hello", end_of_stream=True)
    assert connection.to_upstream == b"GET / HTTP/1.0\r\n\r\n"
    assert connection.to_downstream == b"HTTP/1.0 200 OK\r\n\r\nhello"
    assert host.metrics["tcp_metrics.bytes_received"] == 18
    assert host.metrics["tcp_metrics.bytes_sent"] == 24


def test_connections_are_counted_and_the_gauge_follows_open_ones(host):
    first, second = host.tcp_connection(), host.tcp_connection()
    assert host.metrics["tcp_metrics.connections_total"] == 2
    assert host.metrics["tcp_metrics.connections_active"] == 2
    first.close()
    assert host.metrics["tcp_metrics.connections_active"] == 1
    second.close(side="upstream")
    assert host.metrics["tcp_metrics.connections_active"] == 0
    assert host.metrics["tcp_metrics.connections_total"] == 2


@pytest.mark.emulator_only  # uses what only the emulator has (clock, step-by-step stream, internals)
def test_closing_logs_one_line_and_records_the_connection_size(host):
    connection = host.tcp_connection()
    connection.send_downstream(b"ping")
    connection.send_upstream(b"pong!")
    host.advance(0.25)
    connection.close()
    lines = [r.message for r in host.logs
             if r.level == LogLevel.INFO and r.message.startswith("tcp-metrics:")]
    assert lines == ["tcp-metrics: connection 1 closed by downstream (local) after 250 ms: "
                     "4 bytes received, 5 bytes sent"]
    assert host.histogram("tcp_metrics.connection_bytes") == [9]


def test_the_metric_prefix_comes_from_the_configuration():
    host = Host.load(FILTER, plugin_config=b'{"prefix": "edge."}')
    host.tcp_connection().send_downstream(b"abc")
    assert host.metrics["edge.bytes_received"] == 3
    assert "tcp_metrics.bytes_received" not in host.metrics


def test_a_bad_configuration_is_refused():
    with pytest.raises(PluginStartError, match="tcp-metrics"):
        Host.load(FILTER, plugin_config=b"prefix=edge.")
