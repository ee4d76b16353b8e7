"""Which header maps and bodies a filter can still reach in each phase, as Envoy 1.40 answers.

Envoy's wasm Context holds a map or body only from its callback until that callback returns
CONTINUE; the request's are also let go the moment the filter resumes (continue_stream), while
a paused response keeps its headers. on_log reads the request headers, response headers and
response trailers the stream ended with. A map the filter no longer holds reads as BadArgument
(NotFound in on_log) and as an empty list of pairs; a body as empty; writes are BadArgument.

Requests and answers carry trailers, so both the request and the response body are chunked and
each body callback comes once on every host.
"""

from pathlib import Path

import pytest
from proxywasm.testing import Host

FILTER = Path(__file__).parent / "filters" / "lifetimes.py"
REQUEST = {":method": "POST", ":path": "/p", ":authority": "a"}
TRAILERS = {"x-rt": "1"}
UPSTREAM = (200, {"content-type": "text/plain"}, b"hello", {"x-st": "2"})
TARGETS = ("rh", "rt", "sh", "st", "rb", "sb")


def exchange(words: str, **request):
    host = Host.load(FILTER, plugin_config=words.encode(), clusters=["auth"])
    host.on_http_call("auth", (200, {}, b"ok"))
    response = host.http_request(REQUEST, b"hello", trailers=TRAILERS, upstream=UPSTREAM, **request)
    return host, response


def reach(host) -> dict[str, str]:
    """`{phase: "rh rt sh st rb sb"}` from the probe's read logs: a map is `R` (its header is
    read), `-` (BadArgument) or `N` (NotFound); a body is its length. A map the filter cannot
    reach must read as no pairs."""
    seen: dict[str, dict[str, str]] = {}
    for message in host.log_messages():
        phase, _, rest = message.partition(" ")
        target, _, result = rest.partition(" ")
        if target not in TARGETS or target in seen.get(phase, {}):
            continue  # the first call of a phase is the one compared
        if result.startswith("bytes="):
            code = result.split(":")[-1] if result.startswith("bytes=OK") else result
        else:
            got, pairs = result.split(" ")
            code = {"get=BAD_ARGUMENT": "-", "get=NOT_FOUND": "N"}.get(got, "R" if got.startswith("get=OK:") else got)
            if code != "R":
                assert pairs == "pairs=OK:0", (phase, target, pairs)
        seen.setdefault(phase, {})[target] = code
    return {phase: " ".join(codes[t] for t in TARGETS) for phase, codes in seen.items()}


def writable(host) -> dict[str, str]:
    """`{phase: the targets the probe could write}`; every write is either OK or BadArgument."""
    seen: dict[str, list[str]] = {}
    for message in host.log_messages():
        phase, _, rest = message.partition(" ")
        target, _, result = rest.partition(" ")
        if target not in TARGETS:
            continue
        statuses = {part.split("=")[1] for part in result.split(" ")}
        assert statuses in ({"OK"}, {"BAD_ARGUMENT"}), (phase, target, result)
        if statuses == {"OK"} and target not in seen.setdefault(phase, []):
            seen[phase].append(target)
        seen.setdefault(phase, [])
    return {phase: " ".join(targets) for phase, targets in seen.items()}


def test_each_callback_reaches_only_what_it_was_handed_and_on_log_the_final_headers():
    host, response = exchange("read")
    assert response.status == 200
    assert reach(host) == {
        #                     rh rt sh st rb sb
        "request_headers":   "R - - - 0 0",
        "request_body":      "- - - - 5 0",
        "request_trailers":  "- R - - 0 0",
        "response_headers":  "- - R - 0 0",
        "response_body":     "- - - - 0 5",
        "response_trailers": "- - - R 0 0",
        "log":               "R N R R 0 0",
    }


def test_reading_a_request_header_in_on_http_response_headers_fails_the_stream():
    """Envoy forgot the request headers when on_http_request_headers returned CONTINUE: the
    SDK's getter raises on BadArgument and the filter fails closed."""
    host, response = exchange("late-read")
    assert response.status == 500
    assert response.body == b"internal filter error\n"
    assert not any(m.startswith("late :path") for m in host.log_messages())
    assert any("get_header_map_value failed: BAD_ARGUMENT" in m for m in host.log_messages())


def test_a_paused_request_keeps_its_headers_until_the_filter_resumes_it():
    host, response = exchange("read pause-request")
    assert response.status == 200 and response.upstream_request.body == b"hello"
    table = reach(host)
    assert table["request_headers"] == "R - - - 0 0"
    assert table["callout-held"] == "R - - - 0 0"      # the body waits unseen at the filter
    assert table["callout-resumed"] == "- - - - 0 0"   # let go at continue_stream, in the same callback
    assert table["request_body"] == "- - - - 5 0"
    assert table["response_headers"] == "- - R - 0 0"


def test_a_paused_response_keeps_its_headers_after_it_resumes():
    host, response = exchange("read pause-response")
    assert response.status == 200 and response.body == b"hello"
    table = reach(host)
    assert table["callout-held"] == "- - R - 0 0"
    assert table["callout-resumed"] == "- - R - 0 0"
    assert table["response_body"] == "- - R - 0 5"
    assert table["response_trailers"] == "- - R R 0 0"
    assert table["log"] == "R N R R 0 0"


def test_writes_reach_the_same_maps_and_bodies_as_reads():
    host, response = exchange("write")
    assert writable(host) == {
        "request_headers": "rh", "request_body": "rb", "request_trailers": "rt",
        "response_headers": "sh", "response_body": "sb", "response_trailers": "st", "log": "",
    }
    upstream = response.upstream_request
    assert upstream.headers["x-add-request_headers"] == "1" and "x-add-log" not in upstream.headers
    assert upstream.body == b"hello<request_body>"
    assert upstream.trailers["x-add-request_trailers"] == "1"
    assert response.headers["x-set-response_headers"] == "1"
    assert response.body == b"hello<response_body>"
    assert response.trailers["x-add-response_trailers"] == "1"


def test_a_paused_request_takes_header_writes_until_it_resumes():
    host, response = exchange("write pause-request")
    table = writable(host)
    assert table["callout-held"] == "rh"
    assert table["callout-resumed"] == ""
    headers = response.upstream_request.headers
    assert headers["x-add-callout-held"] == "1" and "x-add-callout-resumed" not in headers


@pytest.mark.emulator_only
def test_a_map_the_filter_no_longer_holds_is_a_strict_mode_error():
    """Strict mode is the emulator's: Envoy only answers BadArgument."""
    from proxywasm.testing import StrictModeError

    host = Host.load(FILTER, plugin_config=b"late-read", strict=True)
    with pytest.raises(StrictModeError, match="cannot reach that header map now"):
        host.http_request(REQUEST)
