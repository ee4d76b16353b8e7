"""User-facing errors: one sentence on stderr and an exit code, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input or environment, reported as one sentence.

    `exit_code` follows the command's contract (validate: 1 invalid, 2 unusable input).
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
