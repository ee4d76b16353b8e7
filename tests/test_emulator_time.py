"""The emulated clock as a `.py` filter run in-process sees it through `import time`."""

from pathlib import Path

from proxywasm.testing import Host

FILTER = '''
import time
from time import time_ns, monotonic_ns, gmtime, localtime, strftime

import proxywasm
from proxywasm import Action, HttpContext, RootContext


class Clock(HttpContext):
    def on_http_request_headers(self, num_headers, end_of_stream):
        self.send_http_response(200, [
            ("x-proxy", str(self.get_current_time_nanoseconds())),
            ("x-time-ns", str(time_ns())), ("x-time", repr(time.time())),
            ("x-mono", str(monotonic_ns())), ("x-perf", str(time.perf_counter_ns())),
            ("x-utc", str(localtime() == gmtime())), ("x-year", strftime("%Y")),
        ], b"")
        return Action.PAUSE


class Root(RootContext):
    def create_http_context(self, context_id):
        return Clock(context_id, self)


proxywasm.set_root_context(Root)
'''


def test_a_py_filters_time_module_follows_the_emulated_clock(tmp_path: Path) -> None:
    path = tmp_path / "clock_filter.py"
    path.write_text(FILTER)
    host = Host.load(path)
    request = {":method": "GET", ":path": "/", ":authority": "a"}
    first = host.http_request(request).headers
    host.advance(3600)
    second = host.http_request(request).headers
    assert int(second["x-time-ns"]) == int(second["x-proxy"]) == host.now_ns
    assert float(second["x-time"]) == host.now_ns / 1e9
    assert int(second["x-mono"]) - int(first["x-mono"]) == 3600 * 10**9
    assert int(second["x-perf"]) == int(second["x-mono"])
    assert second["x-utc"] == "True"
    assert second["x-year"] == str(__import__("time").gmtime(host.now_ns / 1e9).tm_year)
