"""Envoy's own foreign functions, properties a filter sets at run time, and metric names.

Every expectation here was measured in Envoy 1.40 with filters/extras.py (see its docstring for
the step script a request carries in `x-ops`).
"""

import json
import zlib
from pathlib import Path

import pytest
from proxywasm.testing import Host, StrictModeError

FILTER = Path(__file__).parent / "filters" / "extras.py"
METRICS = [["counter", "probe.requests"], ["gauge", "probe.gauge"], ["counter", "probe.trailing."],
           ["counter", "probe..double"], ["counter", "probe:colon"], ["counter", "probe.rq_200"]]
ROOT_OPS = ("set:rootprop=1 | get:rootprop | declare:ro,1,1,0 | declare:ro,1,1,0 "
            "| state:envoy.string=x | clear_route_cache:")
# One configuration for every test: a reused Envoy serves them all.
CONFIG = json.dumps({"root_ops": ROOT_OPS, "metrics": METRICS})
GET = {":method": "GET", ":path": "/x?y=1", ":authority": "example.com"}


@pytest.fixture
def host():
    return Host.load(FILTER, plugin_config=CONFIG)


def run(host, ops, later=""):
    """The filter's answer to each step: in on_http_request_headers, then (for `later`) in
    on_http_response_headers of the same stream."""
    headers = {**GET, "x-ops": ops, **({"x-ops-later": later} if later else {})}
    response = host.http_request(headers)
    assert response.status == 200
    return (_steps(response.headers.get("x-transcript")),
            _steps(response.headers.get("x-transcript-later")))


def _steps(transcript):
    return [step.rpartition("=>")[2] for step in transcript.split(" | ")] if transcript else []


# --- compress / uncompress ----------------------------------------------------------------

def test_compress_is_zlib_at_the_default_level(host):
    now, _ = run(host, "compress:hello | compress: | roundtrip:hello world")
    assert now == ["ok:" + zlib.compress(b"hello").hex(), "ok:" + zlib.compress(b"").hex(),
                   "ok:hello world"]


def test_uncompress_refuses_anything_but_a_whole_zlib_stream(host):
    packed = zlib.compress(b"hello").hex()
    now, _ = run(host, f"uncompress:{packed} | uncompress:00112233 | uncompress: "
                       f"| uncompress:{packed[:-4]}")
    assert now == ["ok:" + b"hello".hex(), "SERIALIZATION_FAILURE", "SERIALIZATION_FAILURE",
                   "SERIALIZATION_FAILURE"]


def test_compress_and_clear_route_cache_answer_in_a_stream_unknown_names_do_not(host):
    now, _ = run(host, "clear_route_cache: | roundtrip:abc | call:no_such_function")
    assert now == ["ok", "ok:abc", "NOT_FOUND"]


# --- declare_property and set_property ------------------------------------------------------

def test_root_context_declares_once_and_cannot_set_properties(host):
    """In on_configure: set_property has no stream to keep it (NOT_FOUND), a second declaration
    of one name is BAD_ARGUMENT, set_envoy_filter_state has no stream either, and
    clear_route_cache answers OK."""
    [line] = [m for m in host.log_messages() if m.startswith("root: ")]
    assert _steps(line[len("root: "):]) == ["NOT_FOUND", "none", "ok", "BAD_ARGUMENT",
                                            "NOT_FOUND", "ok"]


def test_a_readonly_property_takes_one_value_for_the_whole_stream(host):
    now, later = run(host, "set:ro=a | set:ro=b | get:ro | set:free=a | set:free=b | get:free",
                     later="get:ro | get:free | set:ro=c")
    assert now == ["ok", "BAD_ARGUMENT", "ok:a", "ok", "ok", "ok:b"]
    assert later == ["ok:a", "ok:b", "BAD_ARGUMENT"]


def test_a_declaration_in_a_stream_context_changes_nothing(host):
    now, _ = run(host, "declare:mine,1,0,0 | set:mine=1 | set:mine=2 | get:mine")
    assert now == ["ok", "ok", "ok", "ok:2"]


def test_properties_end_with_their_stream_and_a_new_one_may_set_them_again(host):
    run(host, "set:ro=a | set:free=a")
    now, _ = run(host, "get:ro | get:free | set:ro=b | set:ro=c")
    assert now == ["none", "none", "ok", "BAD_ARGUMENT"]


def test_a_property_is_read_back_by_its_first_segment_only(host):
    """Envoy stores a set property under its whole path but looks one up by the first segment,
    after its own attributes (request.*, plugin_name, ...)."""
    now, _ = run(host, "set:a.b=v | get:a.b | get:a | set:dotted.name/=w | get:dotted.name/ "
                       "| set:request.path=/override | get:request.path "
                       "| set:plugin_name=zz | get:plugin_name")
    assert now == ["ok", "none", "none", "ok", "ok:w", "ok", "ok:/x?y=1", "ok", "ok:proxywasm"]


# --- set_envoy_filter_state ---------------------------------------------------------------

def test_envoy_filter_state_takes_registered_keys_and_shows_under_filter_state(host):
    now, _ = run(host, "state:envoy.string=x | get:filter_state/envoy.string "
                       "| state:unknown.key=y | set:free=q | get:filter_state/wasm.free "
                       "| get:filter_state")
    assert now == ["ok", "ok:x", "NOT_FOUND", "ok", "ok:q", "SERIALIZATION_FAILURE"]


def test_argument_messages_are_read_as_protobuf_reads_them(host):
    """Both argument messages are serialized protobufs: malformed ones (a length past the end,
    a group, a string that is not UTF-8) are BAD_ARGUMENT; unknown fields and fields of another
    wire type are skipped; an empty message is all defaults; Envoy checks no value it stores
    under envoy.bool."""
    cases = {
        "declare_property": ["0a056162", "", "0a02fffe", "0a01714805", "0a0172120178", "0b"],
        "set_envoy_filter_state": ["0a0c656e766f792e737472696e671201ff",
                                   "0a0c656e766f792e737472696e6712026f6b1807",
                                   "0a0a656e766f792e626f6f6c1203796573"],
    }
    ops = " | ".join(f"raw:{name}={data}" for name, datas in cases.items() for data in datas)
    now, _ = run(host, ops)
    assert now == ["BAD_ARGUMENT", "ok", "BAD_ARGUMENT", "ok", "ok", "BAD_ARGUMENT",
                   "BAD_ARGUMENT", "ok", "ok"]


# --- metric names -----------------------------------------------------------------------------

def test_metrics_answer_to_the_filter_names_and_to_envoy_names(host):
    before = host.metrics
    run(host, "")
    after = host.metrics
    for name in ("probe.requests", "probe.trailing.", "probe..double", "probe:colon", "probe.rq_200"):
        assert after[name] == before.get(name, 0) + 1
    assert after["probe.gauge"] == 7
    envoy = after.envoy_names
    assert {"wasmcustom.probe.requests", "wasmcustom.probe.gauge", "wasmcustom.probe.trailing",
            "wasmcustom.probe..double", "wasmcustom.probe:colon",
            "wasmcustom.probe.rq_200"} <= set(envoy)
    assert after["wasmcustom.probe.trailing"] == after["probe.trailing."]
    assert envoy["wasmcustom.probe.requests"] == after["probe.requests"]
    assert "wasmcustom.probe.trailing." not in envoy


# --- what only the emulator can do ------------------------------------------------------------

@pytest.mark.emulator_only
def test_a_test_sets_properties_for_the_host_or_for_one_stream(host):
    """A running Envoy takes no properties from a test."""
    host.set_property("node.metadata.zone", "z1")
    host.set_property(["custom"], 42)
    now, _ = run(host, "get:node.metadata.zone | get:custom")
    assert now == ["ok:z1", "ok:" + (42).to_bytes(8, "little").decode()]
    stream = host.http_stream()
    stream.set_property("node.metadata.zone", "only-here")
    stream.send_request_headers({**GET, "x-ops": "get:node.metadata.zone"}, end_of_stream=True)
    stream.send_response_headers({":status": "200"}, end_of_stream=True)
    assert stream.response.headers["x-transcript"].endswith("=>ok:only-here")
    assert run(host, "get:node.metadata.zone")[0] == ["ok:z1"]


@pytest.mark.emulator_only
def test_a_registered_function_overrides_envoys(host):
    """Registering a stand-in is the emulator's."""
    host.register_foreign_function("compress", lambda args: b"\x01\x02")
    host.register_foreign_function("mine", lambda args: b"\x03")
    packed = zlib.compress(b"hi").hex()
    assert run(host, f"compress:hello | call:mine | uncompress:{packed}")[0] == [
        "ok:0102", "ok:03", "ok:" + b"hi".hex()]


@pytest.mark.emulator_only
def test_cel_expressions_are_not_emulated_and_strict_mode_says_so():
    """Envoy 1.40 has expr_create (it answers BAD_ARGUMENT for an empty expression); the
    emulator does not evaluate CEL, and strict mode names it instead of pretending."""
    strict = Host.load(FILTER, plugin_config="{}", strict=True)
    with pytest.raises(StrictModeError, match="expr_create.*Envoy has it"):
        strict.http_request({**GET, "x-ops": "call:expr_create"})
