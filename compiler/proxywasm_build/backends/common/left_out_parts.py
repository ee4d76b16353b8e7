"""The failure a trimmed interpreter build meets when the filter needs a part it left out.

A backend may leave optional parts of its interpreter out of a module (CPython's parser and
compiler) when the filter's import on the build machine did not need them. The module can
still need one when it runs the import itself (a text only it evaluates, an import only taken
there). Link and snapshot failures are where that shows: they raise `LeftOutPartNeeded`, and
the backend catches it by type and builds again with the part.
"""

from __future__ import annotations

from typing import NoReturn

from proxywasm_build.errors import UserError


class LeftOutPartNeeded(UserError):
    """The module was built without a part of the interpreter that the filter's import needs;
    a build with that part would succeed. The message is the failure's one sentence."""


def raise_build_failure(message: str, left_out_part_signs: tuple[str, ...] = ()) -> NoReturn:
    """Raise `message` as `LeftOutPartNeeded` when it shows one of `left_out_part_signs`
    (texts the interpreter prints when it misses a left-out part), else as a `UserError`."""
    if any(sign in message for sign in left_out_part_signs):
        raise LeftOutPartNeeded(message)
    raise UserError(message)
