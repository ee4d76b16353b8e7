"""`abc` for the MicroPython runtime: ABC as a plain base class and abstractmethod as a marker,
so code written with them imports and runs. Abstractness is NOT enforced: instantiating a class
with abstract methods left undefined succeeds here (CPython raises TypeError), and
`register`/`ABCMeta` virtual subclasses do not exist (MicroPython has no metaclasses).
"""

__all__ = ["ABC", "abstractmethod"]


class ABC:
    """A plain base class (no metaclass)."""


def abstractmethod(funcobj):
    """Returns the function unchanged (MicroPython functions take no attributes)."""
    return funcobj
