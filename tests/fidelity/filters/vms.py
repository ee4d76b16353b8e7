"""Several VMs: shared data and queues seen from plugins in different VMs.

Plugin configuration (JSON): `{"name": "a", "register": "q", "send_to": ["vm_b", "q"]}`.
`register` names a queue the root context registers in `on_configure`; `send_to` is the
`(vm_id, queue name)` a stream's `x-<name>-send` header is enqueued to. Requests steer one
plugin by headers named after it, and every plugin reports in its response headers:

- `x-<name>-set: key=value` stores shared data; `x-<name>-cas: key=value=cas` stores with a cas
  (`x-<name>-cas-result` says `ok` or `mismatch`); `x-<name>-get: key` answers
  `x-<name>-value` and `x-<name>-value-cas` (`none` when missing).
- `x-<name>-send: message` enqueues to `send_to` (`x-<name>-sent`: the queue id or `none`).
- always: `x-<name>-received` (what `on_queue_ready` dequeued so far), `x-<name>-queue` (the
  id `register_shared_queue` returned), `x-<name>-vm` (the `plugin_vm_id` property),
  `x-<name>-plugins` (the plugins configured in this module instance, i.e. this VM's globals),
  `x-<name>-ids` (root context id / stream context id).
"""

import json

import proxywasm
from proxywasm import Action, CasMismatch, HttpContext, RootContext

CONFIGURED = []  # module-level: shared by the plugins of one VM only


class Probe(HttpContext):
    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        root = self.root
        prefix = "x-" + root.name + "-"
        self.report = []
        for name, value in self.get_http_request_headers():
            if not name.startswith(prefix):
                continue
            verb = name[len(prefix):]
            if verb == "set":
                key, _, data = value.partition("=")
                self.set_shared_data(key, data)
            elif verb == "cas":
                key, data, cas = value.split("=")
                try:
                    self.set_shared_data(key, data, int(cas))
                    self.report.append(("cas-result", "ok"))
                except CasMismatch:
                    self.report.append(("cas-result", "mismatch"))
            elif verb == "get":
                data, cas = self.get_shared_data(value)
                self.report.append(("value", "none" if data is None else data.decode()))
                self.report.append(("value-cas", "none" if cas is None else str(cas)))
            elif verb == "send":
                queue_id = None
                if root.send_to:
                    queue_id = self.resolve_shared_queue(root.send_to[0], root.send_to[1])
                if queue_id is not None:
                    self.enqueue_shared_queue(queue_id, value)
                self.report.append(("sent", "none" if queue_id is None else str(queue_id)))
        return Action.CONTINUE

    def on_http_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        root = self.root
        prefix = "x-" + root.name + "-"
        vm_id = self.get_property("plugin_vm_id")
        report = self.report + [
            ("received", ",".join(root.received) or "none"),
            ("queue", "none" if root.queue_id is None else str(root.queue_id)),
            ("vm", "none" if vm_id is None else vm_id.decode()),
            ("plugins", ",".join(CONFIGURED)),
            ("ids", str(root.context_id) + "/" + str(self.context_id)),
        ]
        for name, value in report:
            self.add_http_response_header(prefix + name, value)
        return Action.CONTINUE


class Root(RootContext):
    def on_configure(self, plugin_configuration_size: int) -> bool:
        config = json.loads(self.get_plugin_configuration() or b"{}")
        self.name = config.get("name", "a")
        self.send_to = config.get("send_to")
        self.received = []
        self.queue_id = None
        if config.get("register"):
            self.queue_id = self.register_shared_queue(config["register"])
        CONFIGURED.append(self.name)
        proxywasm.log_info("configured " + self.name + " in a VM holding " + ",".join(CONFIGURED))
        return True

    def on_queue_ready(self, queue_id: int) -> None:
        while True:
            item = self.dequeue_shared_queue(queue_id)
            if item is None:
                break
            self.received.append(item.decode())
        proxywasm.log_info(self.name + " received " + ",".join(self.received))

    def create_http_context(self, context_id: int) -> HttpContext:
        return Probe(context_id, self)


proxywasm.set_root_context(Root)
