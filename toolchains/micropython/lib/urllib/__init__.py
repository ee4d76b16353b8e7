"""`urllib` for the MicroPython runtime: only `urllib.parse` (no network access from a filter)."""
