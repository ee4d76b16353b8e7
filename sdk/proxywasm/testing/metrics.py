"""Metric values by the filter's names and by the names Envoy's `/stats` shows.

Envoy 1.40 files every metric a module defines under `wasmcustom.`: `define_metric(COUNTER,
"probe.requests")` is `wasmcustom.probe.requests` in `/stats`, whatever its type. The name is
otherwise kept as given (dots, colons, spaces, `..`, a leading dot, names that look like tags
such as `rq_200`), except that trailing dots are dropped (`probe.trailing.` is
`wasmcustom.probe.trailing`): measured in Envoy 1.40.
"""

from __future__ import annotations

from typing import Any, Iterable

ENVOY_PREFIX = "wasmcustom."


def envoy_stat_name(name: str) -> str:
    """The name Envoy's `/stats` shows for a metric the filter defined as `name`."""
    return ENVOY_PREFIX + name.rstrip(".")


class MetricValues(dict):
    """Metric values keyed by the filter's own names (`metrics["requests"]`); a lookup by the
    name Envoy shows (`metrics["wasmcustom.requests"]`) finds the same value. `envoy_names`
    gives the whole mapping by Envoy's names."""

    def __init__(self, values: Iterable[tuple[str, int]] = ()) -> None:
        super().__init__(values)
        self._by_envoy_name = {envoy_stat_name(name): name for name in self}

    def _own_name(self, key: Any) -> Any:
        if isinstance(key, str) and not dict.__contains__(self, key):
            envoy_name = key if key.startswith(ENVOY_PREFIX) else envoy_stat_name(key)
            return self._by_envoy_name.get(envoy_name, key)
        return key

    def __getitem__(self, key: Any) -> int:
        return dict.__getitem__(self, self._own_name(key))

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, self._own_name(key))

    def get(self, key: Any, default: Any = None) -> Any:
        return dict.get(self, self._own_name(key), default)

    @property
    def envoy_names(self) -> dict[str, int]:
        """The same values by the names Envoy's `/stats` shows (`wasmcustom.` + name)."""
        return {envoy_stat_name(name): value for name, value in self.items()}
