"""Tests of the rate_limit example: the emulated clock (`host.advance`) drives the refills."""

import json
from pathlib import Path

import pytest
from proxywasm.testing import Host, PluginStartError
from proxywasm.testing.emulator import Emulator

FILTER = Path(__file__).parent / "filter.py"
REQUEST = {":method": "GET", ":path": "/", ":authority": "example.com"}
UPSTREAM = (200, {"content-type": "text/plain"}, b"hello")


def load(**config) -> Host:
    config = {"capacity": 3, "refill": 2, "period_seconds": 1, **config}
    return Host.load(FILTER, plugin_config=json.dumps(config).encode())


def statuses(host: Host, count: int) -> list[int]:
    return [host.http_request(REQUEST, upstream=UPSTREAM).status for _ in range(count)]


def tokens(host: Host, bucket: str = "rate_limit") -> int:
    return int(host.shared_data[bucket].split(b" ")[0])


def test_the_bucket_allows_its_capacity_then_answers_429_without_the_upstream():
    host = load()
    allowed = [host.http_request(REQUEST, upstream=UPSTREAM) for _ in range(3)]
    assert [r.status for r in allowed] == [200, 200, 200]
    assert [r.headers["x-ratelimit-remaining"] for r in allowed] == ["2", "1", "0"]
    limited = host.http_request(REQUEST, upstream=UPSTREAM)
    assert limited.status == 429
    assert limited.body == b"too many requests\n"
    assert limited.headers["retry-after"] == "1"
    assert limited.upstream_request is None
    assert host.metrics["rate_limit.limited"] == 1


@pytest.mark.emulator_only  # uses what only the emulator has (clock, step-by-step stream, internals)
def test_each_tick_refills_the_bucket_by_the_configured_amount():
    host = load()
    assert statuses(host, 4) == [200, 200, 200, 429]
    host.advance(0.5)
    assert statuses(host, 1) == [429]
    host.advance(0.5)
    assert tokens(host) == 2
    assert statuses(host, 3) == [200, 200, 429]


@pytest.mark.emulator_only  # uses what only the emulator has (clock, step-by-step stream, internals)
def test_refills_never_exceed_the_capacity():
    host = load()
    statuses(host, 1)
    host.advance(10)
    assert tokens(host) == 3
    assert statuses(host, 4) == [200, 200, 200, 429]


def test_retry_after_counts_down_to_the_next_refill():
    host = load(period_seconds=10, capacity=1)
    assert statuses(host, 1) == [200]
    host.advance(3.2)
    assert host.http_request(REQUEST, upstream=UPSTREAM).headers["retry-after"] == "7"
    host.advance(6)
    assert host.http_request(REQUEST, upstream=UPSTREAM).headers["retry-after"] == "1"


@pytest.mark.emulator_only  # uses what only the emulator has (clock, step-by-step stream, internals)
def test_a_write_that_loses_a_race_reads_again_instead_of_overwriting(monkeypatch):
    races = [b"4 0"]  # another worker leaves 4 tokens between our read and our write
    real_get = Emulator.get_shared_data

    def get_then_race(emulator: Emulator, key: bytes):
        answer = real_get(emulator, key)
        if races and emulator.plugins:  # once the plugin is configured
            emulator.set_shared_data(key, races.pop(), 0)
        return answer

    monkeypatch.setattr(Emulator, "get_shared_data", get_then_race)
    host = load(capacity=10)
    response = host.http_request(REQUEST, upstream=UPSTREAM)
    assert races == []
    assert response.headers["x-ratelimit-remaining"] == "3"
    assert tokens(host) == 3


@pytest.mark.emulator_only  # uses what only the emulator has (clock, step-by-step stream, internals)
def test_several_workers_ticking_refill_once_per_period():
    host = load()
    host.add_plugin(plugin_config=json.dumps({"capacity": 3, "refill": 2}))  # a second worker
    statuses(host, 3)  # each request passes both plugins: 6 tokens wanted, 3 there
    assert tokens(host) == 0
    host.advance(1)
    assert tokens(host) == 2


@pytest.mark.emulator_only  # uses what only the emulator has (clock, step-by-step stream, internals)
def test_separate_buckets_do_not_share_tokens():
    host = load(capacity=1)
    host.add_plugin(plugin_config=json.dumps({"capacity": 5, "bucket": "other"}))
    assert statuses(host, 2) == [200, 429]
    assert tokens(host, "other") == 4


@pytest.mark.parametrize("config", [b"[1]", b'{"capacity": 0}', b'{"period_seconds": "soon"}'])
def test_a_bad_configuration_is_refused(config):
    with pytest.raises(PluginStartError, match="rate-limit"):
        Host.load(FILTER, plugin_config=config)
