"""The MicroPython 1.19 backend (work in progress)."""
