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
    # A frozen module's C names come from its file name: escape every character C does not take
    # (a filter file may be called deny-v2.py; only "/" was replaced before).
    Patch("tools/mpy-tool.py", "C names of any file name",
          'cm_escaped_name = qstr_table[0].str.replace("/", "_")[:-3]',
          'cm_escaped_name = qstrutil.qstr_escape(qstr_table[0].str.replace("/", "_")[:-3])'),
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
    # Adjacent literals with f-strings among them join like CPython's (f"a{x}" f"b{y}", f"{x}" "{}"):
    # one `.format(` serves the whole concatenation (each f-string used to open its own, a syntax
    # error), and the braces of its plain literals are doubled so str.format prints them as they are.
    Patch("py/lexer.c", "helper: double braces",
          "STATIC void parse_string_literal(mp_lexer_t *lex, bool is_raw, bool is_fstring) {\n",
          "#if MICROPY_PY_FSTRINGS\n"
          "STATIC void pw_double_braces(vstr_t *vstr, size_t from) {\n"
          "    size_t n = 0;\n"
          "    for (size_t i = from; i < vstr->len; i++) {\n"
          "        n += vstr->buf[i] == '{' || vstr->buf[i] == '}';\n"
          "    }\n"
          "    if (n == 0) {\n"
          "        return;\n"
          "    }\n"
          "    size_t end = vstr->len;\n"
          "    vstr_add_len(vstr, n);\n"
          "    size_t w = end + n;\n"
          "    for (size_t i = end; i-- > from;) {\n"
          "        char c = vstr->buf[i];\n"
          "        vstr->buf[--w] = c;\n"
          "        if (c == '{' || c == '}') {\n"
          "            vstr->buf[--w] = c;\n"
          "        }\n"
          "    }\n"
          "}\n"
          "#endif\n\n"
          "STATIC void parse_string_literal(mp_lexer_t *lex, bool is_raw, bool is_fstring) {\n"),
    Patch("py/lexer.c", "adjacent f-strings share one .format(",
          "    if (is_fstring) {\n"
          "        // assume there's going to be interpolation, so prep the injection data\n",
          "    size_t literal_start = lex->vstr.len;\n"
          "    if (is_fstring && lex->fstring_args.len == 0) {\n"
          "        pw_double_braces(&lex->vstr, 0);\n"
          "        // assume there's going to be interpolation, so prep the injection data\n"),
    Patch("py/lexer.c", "plain literals after an f-string keep their braces",
          "    // cut off the end quotes from the token text\n"
          "    vstr_cut_tail_bytes(&lex->vstr, n_closing);\n"
          "}\n",
          "    // cut off the end quotes from the token text\n"
          "    vstr_cut_tail_bytes(&lex->vstr, n_closing);\n"
          "    #if MICROPY_PY_FSTRINGS\n"
          "    if (!is_fstring && lex->fstring_args.len > 0 && lex->fstring_args_idx == 0) {\n"
          "        pw_double_braces(&lex->vstr, literal_start);\n"
          "    }\n"
          "    #endif\n"
          "}\n"),
    # A str made at run time (bytes.decode, str(b, encoding), str methods, formatting) is not
    # looked up among the interned strings (qstrs) unless the port asks for it: the lookup scans
    # every qstr of every pool, the frozen modules' thousands included (~25,000 wasm
    # instructions for a one-letter header value). Such a str only stays a heap object, equal
    # and hashing alike.
    Patch("py/objstr.c", "run-time strs not interned (from a vstr)",
          "    // if not a bytes object, look if a qstr with this data already exists\n"
          "    if (type == &mp_type_str) {\n",
          "    // if not a bytes object, look if a qstr with this data already exists\n"
          "    if (MICROPY_PW_INTERN_NEW_STRS && type == &mp_type_str) {\n"),
    Patch("py/objstr.c", "run-time strs not interned (from data)",
          "mp_obj_t mp_obj_new_str(const char *data, size_t len) {\n"
          "    qstr q = qstr_find_strn(data, len);\n",
          "mp_obj_t mp_obj_new_str(const char *data, size_t len) {\n"
          "    qstr q = MICROPY_PW_INTERN_NEW_STRS ? qstr_find_strn(data, len) : MP_QSTRnull;\n"),
    Patch("py/objstr.c", "run-time strs not interned (str(bytes, encoding))",
          "                qstr q = qstr_find_strn((const char *)str_data, str_len);\n",
          "                qstr q = MICROPY_PW_INTERN_NEW_STRS ? qstr_find_strn((const char *)str_data, str_len)\n"
          "                                                    : MP_QSTRnull;\n"),
    Patch("py/mpconfig.h", "run-time strs not interned (default: as upstream)",
          "// Whether to include the garbage collector\n",
          "// Whether a str made at run time is looked up among the qstrs (ours: mpconfigport.h)\n"
          "#ifndef MICROPY_PW_INTERN_NEW_STRS\n"
          "#define MICROPY_PW_INTERN_NEW_STRS (1)\n"
          "#endif\n\n"
          "// Whether to include the garbage collector\n"),
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
