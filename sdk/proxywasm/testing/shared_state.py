"""Envoy-wide state a filter reaches through hostcalls: shared data, shared queues and metrics."""

from __future__ import annotations

from collections import deque
from typing import Optional

from ..abi import MetricType
from .records import CAS_MISMATCH, EMPTY, NOT_FOUND, OK


class SharedStateMixin:
    """The Emulator's shared-data, shared-queue and metric hostcalls."""

    # --- shared data and queues -------------------------------------------------------------
    def get_shared_data(self, key: bytes) -> tuple[int, Optional[bytes], int]:
        self._refuse_during_start("get_shared_data")
        entry = self.shared_data.get((self.vm.vm_id, key))
        if entry is None:
            return NOT_FOUND, None, 0
        return OK, entry[0], entry[1]

    def set_shared_data(self, key: bytes, value: bytes, cas: int) -> int:
        self._refuse_during_start("set_shared_data")
        return self.store_shared_data(self.vm.vm_id, key, value, cas)

    def store_shared_data(self, vm_id: str, key: bytes, value: bytes, cas: int = 0) -> int:
        """Envoy's shared-data write: every write takes the next value of one Envoy-wide cas
        counter, whatever the key or vm_id. A cas is checked only against an existing key: a
        new key is stored whatever cas came with it (measured)."""
        entry = self.shared_data.get((vm_id, key))
        if cas and entry is not None and entry[1] != cas:
            return CAS_MISMATCH
        self._last_cas += 1
        self.shared_data[(vm_id, key)] = (value, self._last_cas)
        return OK

    def register_shared_queue(self, name: bytes) -> tuple[int, int]:
        self._refuse_during_start("register_shared_queue")
        key = (self.vm.vm_id, name)
        queue_id = self.queue_names.get(key)
        if queue_id is None:
            queue_id = len(self.queue_names) + 1
            self.queue_names[key] = queue_id
            self.queues[queue_id] = deque()
        # the last root context to register a name gets its on_queue_ready (measured)
        info = self._info()
        self.queue_owner[queue_id] = info.plugin.context_id if info else self.current
        return OK, queue_id

    def resolve_shared_queue(self, vm_id: bytes, name: bytes) -> tuple[int, int]:
        self._refuse_during_start("resolve_shared_queue")
        queue_id = self.queue_names.get((vm_id.decode(), name))
        if queue_id is None:
            return NOT_FOUND, 0
        return OK, queue_id

    def enqueue_shared_queue(self, queue_id: int, value: bytes) -> int:
        self._refuse_during_start("enqueue_shared_queue")
        if queue_id not in self.queues:
            return self._violation(f"enqueue_shared_queue: no queue {queue_id}", NOT_FOUND)
        self.queues[queue_id].append(value)
        owner = self.queue_owner.get(queue_id)
        if owner is not None:
            self._events.append(lambda: owner in self.contexts and
                                self._call("proxy_on_queue_ready", owner, queue_id))
        return OK

    def dequeue_shared_queue(self, queue_id: int) -> tuple[int, Optional[bytes]]:
        self._refuse_during_start("dequeue_shared_queue")
        queue = self.queues.get(queue_id)
        if queue is None:
            return self._violation(f"dequeue_shared_queue: no queue {queue_id}", NOT_FOUND), None
        if not queue:
            return EMPTY, None
        return OK, queue.popleft()

    # --- metrics ----------------------------------------------------------------------------
    def define_metric(self, metric_type: int, name: bytes) -> tuple[int, int]:
        self._refuse_during_start("define_metric")
        if metric_type not in (0, 1, 2):
            return self._violation(f"define_metric: bad metric type {metric_type}"), 0
        key = (metric_type, name)
        metric_id = self.metric_ids.get(key)
        if metric_id is None:
            metric_id = len(self.metric_ids) + 1
            self.metric_ids[key] = metric_id
            self.metrics[metric_id] = [metric_type, name.decode("utf-8", "replace"), 0]
        return OK, metric_id

    def increment_metric(self, metric_id: int, offset: int) -> int:
        self._refuse_during_start("increment_metric")
        metric = self.metrics.get(metric_id)
        if metric is None:
            return self._violation(f"increment_metric: no metric {metric_id}", NOT_FOUND)
        if metric[0] == MetricType.HISTOGRAM:
            return self._violation(f"increment_metric on histogram {metric[1]!r}: record it instead")
        if metric[0] == MetricType.COUNTER and offset <= 0:  # Envoy 1.40: BadArgument, even for 0
            return self._violation(f"increment_metric: counter {metric[1]!r} takes only positive "
                                   f"increments (Envoy answers BadArgument for {offset})")
        metric[2] += offset
        return OK

    def record_metric(self, metric_id: int, value: int) -> int:
        self._refuse_during_start("record_metric")
        metric = self.metrics.get(metric_id)
        if metric is None:
            return self._violation(f"record_metric: no metric {metric_id}", NOT_FOUND)
        if metric[0] == MetricType.COUNTER:
            metric[2] += value
        elif metric[0] == MetricType.GAUGE:
            metric[2] = value
        else:
            metric.append(value)
        return OK

    def get_metric(self, metric_id: int) -> tuple[int, int]:
        self._refuse_during_start("get_metric")
        metric = self.metrics.get(metric_id)
        if metric is None:
            return self._violation(f"get_metric: no metric {metric_id}", NOT_FOUND), 0
        if metric[0] == MetricType.HISTOGRAM:
            return self._violation(f"get_metric on histogram {metric[1]!r}: Envoy cannot read "
                                   f"histograms back"), 0
        return OK, metric[2]
