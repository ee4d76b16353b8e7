"""Our changes to MicroPython 1.19's sources, applied to a copy of the pinned sdist's tree.

Each patch is an exact string replacement whose anchor must be found once, so a different
source tree fails loudly instead of building something half-patched. `PATCHES_KEY` goes into
every cache key built from the patched tree.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Patch:
    path: str     # relative to the `micropython/` directory
    why: str
    old: str
    new: str


PATCHES: tuple[Patch, ...] = (
    # Every dict keeps insertion order like CPython's: its map is an ordered array (the form
    # OrderedDict and fixed ROM maps use). py/map.c supports it for lookup, add, remove
    # (memmove), iteration, copy and popitem (the last item). The cost is a linear lookup, which
    # the map lookup cache softens; dicts in filters are small. py/map.c adds to an ordered map
    # only with OrderedDict support (on in our runtime; mpy-cross keeps plain dicts).
    Patch("py/objdict.c", "dicts keep insertion order",
          "    dict->base.type = &mp_type_dict;\n    mp_map_init(&dict->map, n_args);\n",
          "    dict->base.type = &mp_type_dict;\n    mp_map_init(&dict->map, n_args);\n"
          "    #if MICROPY_PY_COLLECTIONS_ORDEREDDICT\n"
          "    dict->map.is_ordered = 1;\n"
          "    #endif\n"),
    # f-strings take a !r / !s conversion like CPython: the argument ends at '!' followed by r or
    # s and then ':' or '}' (not at '!='), and the conversion stays in the format string
    # ("{!r}"), which str.format applies. Parentheses nest like brackets, so a call's ':' or '}'
    # inside them does not end the argument.
    Patch("py/lexer.c", "f-string conversions",
          "while (!is_end(lex) && (nested_bracket_level != 0 || !is_char_or(lex, ':', '}'))) {",
          "while (!is_end(lex) && (nested_bracket_level != 0 || (!is_char_or(lex, ':', '}')\n"
          "                           && !(is_char(lex, '!') && is_char_following_or(lex, 'r', 's')\n"
          "                                && is_char_following_following_or(lex, ':', '}'))))) {"),
    Patch("py/lexer.c", "f-string parentheses nest",
          "                        if (c == '[' || c == '{') {\n"
          "                            nested_bracket_level += 1;\n"
          "                        } else if (c == ']' || c == '}') {",
          "                        if (c == '[' || c == '{' || c == '(') {\n"
          "                            nested_bracket_level += 1;\n"
          "                        } else if (c == ']' || c == '}' || c == ')') {"),
)

# The compat helper's patches and C files (CPython behaviour: float repr, str methods...).
# Imported here, below Patch, which it uses.
from proxywasm_build.backends.micropython import compat_patches  # noqa: E402

PATCHES_KEY = hashlib.sha256(repr([(p.path, p.old, p.new) for p in PATCHES + compat_patches.COMPAT_PATCHES]).encode()
                             + compat_patches.compat_sources_digest()).hexdigest()[:16]


def apply_patches(tree: Path) -> None:
    """Apply PATCHES to the MicroPython tree at `tree` in place; a missing anchor raises."""
    for patch in PATCHES + compat_patches.COMPAT_PATCHES:
        path = tree / patch.path
        text = path.read_text()
        count = text.count(patch.old)
        if count != 1:
            raise RuntimeError(f"patch '{patch.why}': its anchor occurs {count} times in {patch.path}")
        path.write_text(text.replace(patch.old, patch.new))
    compat_patches.add_compat_sources(tree)
