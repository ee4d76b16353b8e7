"""Several VMs in one Envoy: which plugins share a VM, and how shared data and queues cross VMs.

Measured in Envoy 1.40: plugins share a VM only when `vm_id`, VM configuration and code all
match; each VM numbers its own context ids; shared data is kept per `vm_id` with one cas
counter for every key of every `vm_id`; queues are named per `vm_id` and reached from any VM
with `resolve_shared_queue(vm_id, name)`, the last root context to register a name gets
`on_queue_ready`.
"""

from __future__ import annotations

import json
from pathlib import Path

from proxywasm.testing import Host

FILTER = Path(__file__).parent / "filters" / "vms.py"
REQUEST = {":method": "GET", ":path": "/", ":authority": "vms.test"}


def config(name: str, register: str = "", send_to: tuple[str, str] | None = None) -> str:
    return json.dumps({"name": name, "register": register, "send_to": send_to})


def two_vms() -> Host:
    """Plugin `a` in VM `vm_a`, plugin `b` in VM `vm_b`: the same module, different vm_ids."""
    host = Host.load(FILTER, vm_id="vm_a", plugin_config=config("a", "q", ("vm_b", "q")))
    host.add_plugin(FILTER, vm_id="vm_b", plugin_config=config("b", "q", ("vm_a", "q")))
    return host


def report(host: Host, **headers: str) -> dict[str, str]:
    """Send one request (`x_b_set="k=v"` becomes the header `x-b-set: k=v`); the plugins'
    `x-a-*` / `x-b-*` response headers."""
    sent = {name.replace("_", "-"): value for name, value in headers.items()}
    response = host.http_request({**REQUEST, **sent})
    assert response.status == 200
    return {name: value for name, value in response.headers.items() if name[:4] in ("x-a-", "x-b-")}


def test_plugins_with_different_vm_ids_run_in_vms_of_their_own():
    host = two_vms()
    seen = report(host)
    assert (seen["x-a-plugins"], seen["x-b-plugins"]) == ("a", "b")  # module globals not shared
    assert (seen["x-a-vm"], seen["x-b-vm"]) == ("vm_a", "vm_b")
    # each VM numbers its own contexts: root context 1, then the stream's
    assert (seen["x-a-ids"], seen["x-b-ids"]) == ("1/2", "1/2")
    assert report(host)["x-b-ids"] == "1/3"


def test_a_queue_carries_messages_from_a_sender_vm_to_a_receiver_vm():
    host = two_vms()
    first = report(host, x_b_send="hello")
    assert first["x-a-queue"] == "1" and first["x-b-queue"] == "2"  # one name, one queue per vm_id
    assert first["x-b-sent"] == "1"  # b resolved ("vm_a", "q"): a's queue
    later = report(host, x_a_send="ping")
    assert later["x-a-received"] == "hello"
    assert report(host)["x-b-received"] == "ping"
    # each VM's logs carry its vm_id
    assert "a received hello" in host.log_messages(vm_id="vm_a")
    assert "b received ping" in host.log_messages(vm_id="vm_b")
    assert not any("received" in message for message in host.log_messages(vm_id=""))


def test_shared_data_is_kept_per_vm_id():
    host = two_vms()
    seen = report(host, x_b_set="k=from-b", x_b_get="k", x_a_get="k")
    assert seen["x-b-value"] == "from-b"
    assert seen["x-a-value"] == "none"  # another vm_id: another set of shared data
    seen = report(host, x_a_set="k=from-a", x_a_get="k", x_b_get="k")
    assert (seen["x-a-value"], seen["x-b-value"]) == ("from-a", "from-b")


def test_one_cas_counter_counts_every_write_of_every_vm_id():
    host = two_vms()
    assert report(host, x_b_set="k=1", x_b_get="k")["x-b-value-cas"] == "1"
    assert report(host, x_a_set="k=2", x_a_get="k")["x-a-value-cas"] == "2"
    assert report(host, x_a_set="j=3", x_a_get="j")["x-a-value-cas"] == "3"
    seen = report(host, x_a_cas="k=again=1", x_b_cas="k=again=1")
    assert (seen["x-a-cas-result"], seen["x-b-cas-result"]) == ("mismatch", "ok")
    assert report(host, x_b_get="k")["x-b-value-cas"] == "4"
    # a cas is checked only against a key that exists
    assert report(host, x_a_cas="fresh=v=7")["x-a-cas-result"] == "ok"
    assert report(host, x_a_get="fresh")["x-a-value-cas"] == "5"


def test_plugins_with_the_same_vm_id_and_code_share_one_vm():
    host = Host.load(FILTER, vm_id="vm_a", plugin_config=config("a", "q", ("vm_a", "q")))
    host.add_plugin(FILTER, vm_id="vm_a", plugin_config=config("b", "", ("vm_a", "q")))
    seen = report(host, x_a_set="k=shared", x_b_get="k")
    assert (seen["x-a-plugins"], seen["x-b-plugins"]) == ("a,b", "a,b")
    assert (seen["x-a-ids"], seen["x-b-ids"]) == ("1/3", "2/4")  # one numbering for the VM
    assert seen["x-b-value"] == "shared"
    report(host, x_b_send="hello")
    assert report(host)["x-a-received"] == "hello"


def test_the_same_vm_id_with_another_vm_configuration_is_a_second_vm_sharing_data_and_queues():
    host = Host.load(FILTER, vm_id="vm_a", vm_config="one", plugin_config=config("a", "q", ("vm_a", "q")))
    host.add_plugin(FILTER, vm_id="vm_a", vm_config="two", plugin_config=config("b", "q", ("vm_a", "q")))
    seen = report(host, x_a_set="k=shared", x_b_get="k")
    assert (seen["x-a-plugins"], seen["x-b-plugins"]) == ("a", "b")
    assert seen["x-b-value"] == "shared"  # shared data follows the vm_id, not the VM
    assert seen["x-a-queue"] == seen["x-b-queue"] == "1"
    report(host, x_a_send="hello")
    later = report(host)
    # b registered ("vm_a", "q") last, so b's root context is woken, whoever sends
    assert (later["x-a-received"], later["x-b-received"]) == ("none", "hello")
