"""Header collections for tests: case-insensitive, ordered, repeatable keys."""

from __future__ import annotations

from typing import Iterable, Iterator, Mapping, Optional, Union

HeadersLike = Union[Mapping[str, str], Iterable[tuple[str, str]], "Headers", None]


class Headers:
    """An ordered, case-insensitive multimap of str header names to str values.

    `h["x-a"]` and `h.get("X-A")` return the first value; `h.get_all(name)` every value.
    Equality with a dict compares the first value of each name.
    """

    __slots__ = ("_decoded", "_raw")

    def __init__(self, items: HeadersLike = None) -> None:
        self._raw: Optional[list[tuple[bytes, bytes]]] = None
        self._decoded: list[tuple[str, str]] = []
        if items is None:
            return
        if isinstance(items, Headers):
            self._decoded = list(items._pairs)
            return
        if isinstance(items, Mapping):
            items = items.items()
        self._decoded = [(_s(k).lower(), _s(v)) for k, v in items]

    @classmethod
    def from_bytes_pairs(cls, pairs: Iterable[tuple[bytes, bytes]]) -> "Headers":
        """Wrap host-side pairs; they are decoded only if the test looks at them."""
        h = cls.__new__(cls)
        h._raw = list(pairs)
        h._decoded = []
        return h

    @property
    def _pairs(self) -> list[tuple[str, str]]:
        if self._raw is not None:
            self._decoded = [(k.decode("utf-8", "replace").lower(), v.decode("utf-8", "replace"))
                             for k, v in self._raw]
            self._raw = None
        return self._decoded

    @_pairs.setter
    def _pairs(self, value: list[tuple[str, str]]) -> None:
        self._raw = None
        self._decoded = value

    def get(self, name: str, default: str | None = None) -> str | None:
        key = name.lower()
        for k, v in self._pairs:
            if k == key:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        key = name.lower()
        return [v for k, v in self._pairs if k == key]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[str]:
        seen: list[str] = []
        for k, _ in self._pairs:
            if k not in seen:
                seen.append(k)
        return iter(seen)

    def __len__(self) -> int:
        return len(self._pairs)

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def keys(self) -> list[str]:
        return list(self)

    def to_dict(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in self._pairs:
            out.setdefault(k, v)
        return out

    def without(self, *names: str) -> "Headers":
        drop = {n.lower() for n in names}
        h = Headers()
        h._decoded = [(k, v) for k, v in self._pairs if k not in drop]
        return h

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return sorted(self._pairs) == sorted(other._pairs)
        if isinstance(other, Mapping):
            return self.to_dict() == {k.lower(): v for k, v in other.items()}
        return NotImplemented

    def __repr__(self) -> str:
        return f"Headers({self._pairs!r})"


def _s(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
