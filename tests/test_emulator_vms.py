"""The emulator's VMs: what only the test API can check (per-VM ids of callouts, the test's own
view of shared data and queues per vm_id, log attribution, a failed start leaving nothing)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from proxywasm.testing import FilterLoadError, Host

GET = {":method": "GET", ":path": "/", ":authority": "vms.test"}

CALLOUT = '''
import proxywasm
from proxywasm import Action, HttpContext, RootContext


class Call(HttpContext):
    def on_http_request_headers(self, num_headers, end_of_stream):
        self.token = self.dispatch_http_call(
            "auth", [(":method", "GET"), (":path", "/check"), (":authority", "auth")])
        proxywasm.log_info(f"stream {self.context_id} sent call {self.token}")
        return Action.PAUSE

    def on_http_call_response(self, token_id, num_headers, body_size, num_trailers):
        status = self.get_http_call_response_header(":status")
        proxywasm.log_info(f"stream {self.context_id} call {token_id} answered {status}")
        self.resume_http_request()


class Root(RootContext):
    def on_configure(self, size):
        self.set_tick_period(1.0)
        self.register_shared_queue("inbox")
        return True

    def on_tick(self):
        proxywasm.log_info("tick")

    def on_queue_ready(self, queue_id):
        proxywasm.log_info(f"got {self.dequeue_shared_queue(queue_id).decode()}")

    def create_http_context(self, context_id):
        return Call(context_id, self)


proxywasm.set_root_context(Root)
'''


def write(folder: Path, source: str, name: str = "filter.py") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


def two_vms(tmp_path: Path) -> Host:
    path = write(tmp_path, CALLOUT)
    host = Host.load(path, vm_id="one")
    host.add_plugin(path, vm_id="two")
    return host


def test_each_vm_gets_its_callout_answered_under_its_own_ids(tmp_path: Path) -> None:
    host = two_vms(tmp_path)
    host.on_http_call("auth", (204, {}, b""))
    assert host.http_request(GET).status == 200
    assert host.log_messages(vm_id="one") == ["stream 2 sent call 3", "stream 2 call 3 answered 204"]
    assert host.log_messages(vm_id="two") == ["stream 2 sent call 3", "stream 2 call 3 answered 204"]
    assert {(r.vm_id, r.context_id) for r in host.logs} == {("one", 2), ("two", 2)}


def test_ticks_and_queues_reach_each_vm(tmp_path: Path) -> None:
    host = two_vms(tmp_path)
    host.advance(1)
    assert host.log_messages(vm_id="one") == ["tick"] and host.log_messages(vm_id="two") == ["tick"]
    host.clear_logs()
    host.enqueue("inbox", "for two", vm_id="two")
    host.enqueue("inbox", "for one")  # the first plugin's vm_id
    assert host.log_messages(vm_id="two") == ["got for two"]
    assert host.log_messages(vm_id="one") == ["got for one"]


def test_the_test_reads_and_writes_shared_data_per_vm_id(tmp_path: Path) -> None:
    host = two_vms(tmp_path)
    host.set_shared_data("k", "first")
    host.set_shared_data("k", "second", vm_id="two")
    assert host.shared_data == {"k": b"first"}
    assert host.shared_data_for("two") == {"k": b"second"}
    assert host.shared_data_for("three") == {}


def test_a_queue_of_a_vm_id_nobody_registered_is_a_key_error(tmp_path: Path) -> None:
    host = two_vms(tmp_path)
    with pytest.raises(KeyError, match="vm_id 'three'"):
        host.queue("inbox", vm_id="three")


def test_a_plugin_whose_module_fails_to_load_leaves_no_vm_behind(tmp_path: Path) -> None:
    host = Host.load(write(tmp_path, CALLOUT), vm_id="one")
    broken = write(tmp_path, "raise ValueError('no')\n", "broken.py")
    with pytest.raises(FilterLoadError, match="ValueError"):
        host.add_plugin(broken, vm_id="two")
    with pytest.raises(FilterLoadError, match="no such file"):
        host.add_plugin(tmp_path / "missing.py", vm_id="two")
    assert [vm.vm_id for vm in host.emulator.vms] == ["one"]
    assert [p.vm_id for p in host.plugins] == ["one"]


def test_the_same_vm_id_and_module_share_the_vm(tmp_path: Path) -> None:
    path = write(tmp_path, CALLOUT)
    host = Host.load(path, vm_id="one")
    second = host.add_plugin(path, vm_id="one")
    third = host.add_plugin(vm_id="one", vm_config="other")
    assert second.vm is host.plugins[0].vm and second.context_id == 2
    assert third.vm is not second.vm and third.context_id & 0xFFFFFFFF == 1
