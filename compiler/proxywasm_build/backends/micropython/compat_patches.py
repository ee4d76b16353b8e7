"""CPython behaviour for MicroPython 1.19's core where filter code commonly meets a difference.

Applied with patches.py's PATCHES to the same cached copy of the sources (and keyed with them):

- floats: repr/str are the shortest text that reads back to the same double, in CPython's layout
  (`repr(0.1 + 0.2) == '0.30000000000000004'`, `1e+16`, `1e-05`); format()/%-formatting, float()
  and float literals go through libc's correctly rounded snprintf/strtod; round(x, n) rounds the
  exact binary value; format(x, '') and f"{x:>8}" use repr; frozen float constants keep 17 digits;
- str/bytes: startswith/endswith take a tuple, slices take a step (str, bytes, bytearray), the
  missing methods (zfill, ljust, rjust, title, capitalize, swapcase, casefold, isalnum, isascii,
  isdecimal, isnumeric, removeprefix, removesuffix, expandtabs; bytes/bytearray hex and fromhex);
- dicts (all ordered arrays here) of 8 entries or more get a hash index: O(1) lookups again;
- list.sort()/sorted() are stable and call key() once per item (compat_sort.c: a merge sort);
- the format() builtin; repr of an exception with one argument (`ValueError('x')`), a KeyError's
  str (its key's repr); bool a subclass of int; repr() shows printable non-ASCII characters.

The C lives in toolchains/micropython/port/compat_*.c, copied into the tree's py/ directory so
every build of the core (filter runtime, dev interpreter, mpy-cross) compiles it.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from proxywasm_build.backends.micropython.patches import Patch
from proxywasm_build.resources import toolchains_dir

#: Our C files, compiled as part of MicroPython's py/ core.
COMPAT_SOURCE_NAMES = ("compat_float.c", "compat_str.c", "compat_dict.c", "compat_methods.c", "compat_sort.c")


def compat_sources() -> tuple[Path, ...]:
    return tuple(toolchains_dir() / "micropython" / "port" / name for name in COMPAT_SOURCE_NAMES)


def _table_entries(methods: tuple[tuple[str, str], ...]) -> str:
    return "".join(f"    {{ MP_ROM_QSTR(MP_QSTR_{name}), MP_ROM_PTR(&{obj}) }},\n" for name, obj in methods)


_DECLARATIONS = """\
MP_DECLARE_CONST_FUN_OBJ_2(mp_compat_zfill_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(mp_compat_ljust_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(mp_compat_rjust_obj);
MP_DECLARE_CONST_FUN_OBJ_1(mp_compat_title_obj);
MP_DECLARE_CONST_FUN_OBJ_1(mp_compat_capitalize_obj);
MP_DECLARE_CONST_FUN_OBJ_1(mp_compat_swapcase_obj);
MP_DECLARE_CONST_FUN_OBJ_1(mp_compat_isalnum_obj);
MP_DECLARE_CONST_FUN_OBJ_1(mp_compat_isascii_obj);
MP_DECLARE_CONST_FUN_OBJ_2(mp_compat_removeprefix_obj);
MP_DECLARE_CONST_FUN_OBJ_2(mp_compat_removesuffix_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(mp_compat_expandtabs_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(mp_compat_hex_obj);
extern const mp_rom_obj_static_class_method_t mp_compat_fromhex_obj;
MP_DECLARE_CONST_FUN_OBJ_KW(mp_compat_split_obj);
MP_DECLARE_CONST_FUN_OBJ_KW(mp_compat_rsplit_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(mp_compat_center_obj);
MP_DECLARE_CONST_FUN_OBJ_KW(mp_compat_decode_obj);
MP_DECLARE_CONST_FUN_OBJ_KW(mp_compat_encode_obj);
"""

_BYTEARRAY_METHODS = tuple((name, f"mp_compat_bytearray_{name}_obj") for name in (
    "find", "rfind", "index", "rindex", "count", "startswith", "endswith", "split", "rsplit", "strip",
    "lstrip", "rstrip", "replace", "lower", "upper"))
_BYTEARRAY_DECLARATIONS = "".join(f"MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN({obj});\n" for _, obj in _BYTEARRAY_METHODS)

# Methods str and bytes share (CPython has each on both).
_SHARED_METHODS = (
    ("zfill", "mp_compat_zfill_obj"), ("ljust", "mp_compat_ljust_obj"), ("rjust", "mp_compat_rjust_obj"),
    ("title", "mp_compat_title_obj"), ("capitalize", "mp_compat_capitalize_obj"),
    ("swapcase", "mp_compat_swapcase_obj"), ("isalnum", "mp_compat_isalnum_obj"),
    ("isascii", "mp_compat_isascii_obj"), ("removeprefix", "mp_compat_removeprefix_obj"),
    ("removesuffix", "mp_compat_removesuffix_obj"), ("expandtabs", "mp_compat_expandtabs_obj"),
)
_STR_ONLY_METHODS = (
    ("casefold", "str_lower_obj"), ("isdecimal", "str_isdigit_obj"), ("isnumeric", "str_isdigit_obj"),
)
_BYTES_ONLY_METHODS = (("hex", "mp_compat_hex_obj"), ("fromhex", "mp_compat_fromhex_obj"))

_SLICE_STEP_ERROR = 'mp_raise_NotImplementedError(MP_ERROR_TEXT("only slices with step=1 (aka None) are supported"));'

_FLOAT_PATCHES = (
    Patch("py/objfloat.c", "float repr is CPython's shortest round-trip text",
          "mp_format_float(o_val, buf, sizeof(buf), 'g', precision, '\\0');",
          "mp_format_float(o_val, buf, sizeof(buf), 'r', precision, '\\0');"),
    # compat_float.c defines mp_format_float over libc's snprintf; the approximate one goes.
    Patch("py/formatfloat.c", "float formatting through libc",
          "int mp_format_float(FPTYPE f, char *buf, size_t buf_size, char fmt, int prec, char sign) {",
          "static int mp_format_float_approximate(FPTYPE f, char *buf, size_t buf_size, char fmt, int prec, "
          "char sign) {"),
    # "%.2f" % 1e30 has 34 characters; a double's "%f" has at most 309 before the point.
    Patch("py/mpprint.c", "room for a fixed-point double",
          "int mp_print_float(const mp_print_t *print, mp_float_t f, char fmt, int flags, char fill, int width, "
          "int prec) {\n    char buf[32];",
          "int mp_print_float(const mp_print_t *print, mp_float_t f, char fmt, int flags, char fill, int width, "
          "int prec) {\n    char buf[400];"),
    # No type: repr without a precision, else 'g' that keeps a ".0" (CPython's format_float_short).
    Patch("py/objstr.c", "float format with no type",
          "                type = 'g';\n            }\n            if (type == 'n') {",
          "                type = precision < 0 ? 'r' : 'h';\n            }\n            if (type == 'n') {"),
    Patch("py/objstr.c", "float format with no type (dispatch)",
          "                case 'g':\n                case 'G':\n"
          "                    mp_print_float(&print, mp_obj_get_float(arg), type, flags, fill, width, precision);",
          "                case 'r':\n                case 'h':\n                case 'g':\n                case 'G':\n"
          "                    mp_print_float(&print, mp_obj_get_float(arg), type, flags, fill, width, precision);"),
    # The parser has checked the literal's syntax; strtod gives the correctly rounded value.
    Patch("py/parsenum.c", "float() and literals correctly rounded",
          "            dec_val *= MICROPY_FLOAT_C_FUN(pow)(10, exp_val);\n        }\n",
          "            dec_val *= MICROPY_FLOAT_C_FUN(pow)(10, exp_val);\n        }\n"
          "        mp_float_t mp_compat_parse_decimal(const char *start, const char *end, mp_float_t approximate);\n"
          "        dec_val = mp_compat_parse_decimal(str_val_start, imag ? str - 1 : str, dec_val);\n"),
    Patch("py/modbuiltins.c", "round(x, n) rounds the exact value",
          "        mp_float_t rounded = MICROPY_FLOAT_C_FUN(nearbyint)(val * mult) / mult;",
          "        mp_float_t mp_compat_round(mp_float_t x, mp_int_t ndigits);\n"
          "        mp_float_t rounded = mp_compat_round(val, num_dig);"),
    # mpy-tool.py writes frozen float constants as C literals: 17 digits keep every double.
    Patch("tools/mpy-tool.py", "frozen floats keep every bit",
          '"static const mp_obj_float_t %s = {{&mp_type_float}, (mp_float_t)%.16g};"',
          '"static const mp_obj_float_t %s = {{&mp_type_float}, (mp_float_t)%.17g};"'),
)

_STR_PATCHES = (
    Patch("py/objstr.c", "startswith with a tuple",
          "STATIC mp_obj_t str_startswith(size_t n_args, const mp_obj_t *args) {\n",
          "STATIC mp_obj_t str_startswith(size_t n_args, const mp_obj_t *args) {\n"
          "    if (n_args > 3) {\n"
          "        mp_obj_t mp_compat_affix_range(mp_obj_t (*)(size_t, const mp_obj_t *), size_t, const mp_obj_t *);\n"
          "        return mp_compat_affix_range(str_startswith, n_args, args);\n"
          "    }\n"
          "    if (mp_obj_is_type(args[1], &mp_type_tuple)) {\n"
          "        mp_obj_t mp_compat_affix_any(mp_obj_t (*)(size_t, const mp_obj_t *), size_t, const mp_obj_t *);\n"
          "        return mp_compat_affix_any(str_startswith, n_args, args);\n"
          "    }\n"),
    Patch("py/objstr.c", "endswith with a tuple",
          "STATIC mp_obj_t str_endswith(size_t n_args, const mp_obj_t *args) {\n",
          "STATIC mp_obj_t str_endswith(size_t n_args, const mp_obj_t *args) {\n"
          "    if (n_args > 2) {\n"
          "        mp_obj_t mp_compat_affix_range(mp_obj_t (*)(size_t, const mp_obj_t *), size_t, const mp_obj_t *);\n"
          "        return mp_compat_affix_range(str_endswith, n_args, args);\n"
          "    }\n"
          "    if (mp_obj_is_type(args[1], &mp_type_tuple)) {\n"
          "        mp_obj_t mp_compat_affix_any(mp_obj_t (*)(size_t, const mp_obj_t *), size_t, const mp_obj_t *);\n"
          "        return mp_compat_affix_any(str_endswith, n_args, args);\n"
          "    }\n"),
    Patch("py/objstr.c", "startswith with start and end",
          "MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(str_startswith_obj, 2, 3, str_startswith);",
          "MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(str_startswith_obj, 2, 4, str_startswith);"),
    Patch("py/objstr.c", "endswith with start and end",
          "MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(str_endswith_obj, 2, 3, str_endswith);",
          "MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(str_endswith_obj, 2, 4, str_endswith);"),
    Patch("py/objstr.c", "bytes slices with a step",
          "            if (!mp_seq_get_fast_slice_indexes(self_len, index, &slice)) {\n"
          f"                {_SLICE_STEP_ERROR}",
          "            if (!mp_seq_get_fast_slice_indexes(self_len, index, &slice)) {\n"
          "                mp_obj_t mp_compat_bytes_slice(const mp_obj_type_t *, const byte *, size_t, mp_obj_t);\n"
          "                return mp_compat_bytes_slice(type, self_data, self_len, index);"),
    Patch("py/objstrunicode.c", "str slices with a step",
          f"            if (ostep != mp_const_none && ostep != MP_OBJ_NEW_SMALL_INT(1)) {{\n                {_SLICE_STEP_ERROR}",
          "            if (ostep != mp_const_none && ostep != MP_OBJ_NEW_SMALL_INT(1)) {\n"
          "                mp_obj_t mp_compat_str_slice(const byte *, size_t, mp_obj_t);\n"
          "                return mp_compat_str_slice(self_data, self_len, index);"),
    Patch("py/objarray.c", "bytearray slices with a step",
          f"            if (!mp_seq_get_fast_slice_indexes(o->len, index_in, &slice)) {{\n                {_SLICE_STEP_ERROR}",
          "            if (!mp_seq_get_fast_slice_indexes(o->len, index_in, &slice)) {\n"
          "                #if MICROPY_PY_BUILTINS_BYTEARRAY\n"
          "                if (value == MP_OBJ_SENTINEL && o->base.type == &mp_type_bytearray) {\n"
          "                    mp_obj_t mp_compat_bytes_slice(const mp_obj_type_t *, const byte *, size_t, mp_obj_t);\n"
          "                    return mp_compat_bytes_slice(&mp_type_bytearray, o->items, o->len, index_in);\n"
          "                }\n"
          "                #endif\n"
          f"                {_SLICE_STEP_ERROR}"),
    Patch("py/objstr.c", "bytes methods",
          "    { MP_ROM_QSTR(MP_QSTR_islower), MP_ROM_PTR(&str_islower_obj) },\n};\n\n"
          "STATIC MP_DEFINE_CONST_DICT(str8_locals_dict, str8_locals_dict_table);",
          "    { MP_ROM_QSTR(MP_QSTR_islower), MP_ROM_PTR(&str_islower_obj) },\n"
          + _table_entries(_SHARED_METHODS + _BYTES_ONLY_METHODS)
          + "};\n\nSTATIC MP_DEFINE_CONST_DICT(str8_locals_dict, str8_locals_dict_table);"),
    Patch("py/objstr.c", "bytes methods (declarations)",
          "STATIC const mp_rom_map_elem_t str8_locals_dict_table[] = {",
          _DECLARATIONS + "STATIC const mp_rom_map_elem_t str8_locals_dict_table[] = {"),
    # repr() shows printable non-ASCII characters as themselves ('é', not '\\xe9').
    Patch("py/objstrunicode.c", "repr of printable non-ASCII",
          "        ch = utf8_get_char(s);\n        s = utf8_next_char(s);\n",
          "        const byte *char_start = s;\n        ch = utf8_get_char(s);\n        s = utf8_next_char(s);\n"),
    Patch("py/objstrunicode.c", "repr of printable non-ASCII (show)",
          "        } else if (ch < 0x100) {\n            mp_printf(print, \"\\\\x%02x\", ch);",
          "        } else if (ch > 0x7f && mp_compat_unichar_printable(ch)) {\n"
          "            print->print_strn(print->data, (const char *)char_start, s - char_start);\n"
          "        } else if (ch < 0x100) {\n            mp_printf(print, \"\\\\x%02x\", ch);"),
    Patch("py/objstrunicode.c", "repr of printable non-ASCII (declaration)",
          "STATIC void uni_print_quoted(const mp_print_t *print, const byte *str_data, uint str_len) {",
          "bool mp_compat_unichar_printable(unichar c);\n"
          "STATIC void uni_print_quoted(const mp_print_t *print, const byte *str_data, uint str_len) {"),
    Patch("py/objstrunicode.c", "str methods",
          "    { MP_ROM_QSTR(MP_QSTR_islower), MP_ROM_PTR(&str_islower_obj) },\n};",
          "    { MP_ROM_QSTR(MP_QSTR_islower), MP_ROM_PTR(&str_islower_obj) },\n"
          + _table_entries(_SHARED_METHODS + _STR_ONLY_METHODS) + "};"),
    Patch("py/objstrunicode.c", "str methods (declarations)",
          "STATIC const mp_rom_map_elem_t struni_locals_dict_table[] = {",
          _DECLARATIONS + "STATIC const mp_rom_map_elem_t struni_locals_dict_table[] = {"),
    Patch("py/objarray.c", "bytearray hex and fromhex",
          "    { MP_ROM_QSTR(MP_QSTR_decode), MP_ROM_PTR(&bytes_decode_obj) },\n    #endif\n};",
          "    { MP_ROM_QSTR(MP_QSTR_decode), MP_ROM_PTR(&bytes_decode_obj) },\n    #endif\n"
          + _table_entries(_BYTES_ONLY_METHODS) + "};"),
    Patch("py/objarray.c", "bytearray hex and fromhex (declarations)",
          "STATIC const mp_rom_map_elem_t array_locals_dict_table[] = {",
          _DECLARATIONS + "STATIC const mp_rom_map_elem_t array_locals_dict_table[] = {"),
)

_BUILTIN_PATCHES = (
    Patch("py/modbuiltins.c", "the format() builtin",
          "    { MP_ROM_QSTR(MP_QSTR_divmod), MP_ROM_PTR(&mp_builtin_divmod_obj) },\n",
          "    { MP_ROM_QSTR(MP_QSTR_divmod), MP_ROM_PTR(&mp_builtin_divmod_obj) },\n"
          "    { MP_ROM_QSTR(MP_QSTR_format), MP_ROM_PTR(&mp_compat_builtin_format_obj) },\n"),
    Patch("py/modbuiltins.c", "the format() builtin (declaration)",
          "STATIC const mp_rom_map_elem_t mp_module_builtins_globals_table[] = {",
          "MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(mp_compat_builtin_format_obj);\n"
          "STATIC const mp_rom_map_elem_t mp_module_builtins_globals_table[] = {"),
    # bool is a subclass of int (isinstance(True, int)). The core's own int checks are exact-type
    # checks, and int's methods refuse a bool self ("True.to_bytes" is an AttributeError, unlike
    # CPython), so nothing reads a bool as an int object.
    Patch("py/objbool.c", "bool is an int subclass",
          "    .name = MP_QSTR_bool,\n",
          "    .name = MP_QSTR_bool,\n    .parent = &mp_type_int,\n"),
    # str(KeyError('a')) is "'a'": a KeyError shows its key's repr.
    Patch("py/objexcept.c", "KeyError's str is its key's repr",
          "        if (o->args->len == 1) {\n"
          "            mp_obj_print_helper(print, o->args->items[0], PRINT_STR);",
          "        if (o->args->len == 1) {\n"
          "            mp_obj_print_helper(print, o->args->items[0],\n"
          "                o->base.type == &mp_type_KeyError ? PRINT_REPR : PRINT_STR);"),
    # repr(ValueError('x')) is "ValueError('x')", not a one-tuple's "ValueError('x',)".
    Patch("py/objexcept.c", "exception repr with one argument",
          "\n    mp_obj_tuple_print(print, MP_OBJ_FROM_PTR(o->args), kind);\n}",
          "\n    if (o->args != NULL && o->args->len == 1) {\n"
          "        mp_print_str(print, \"(\");\n"
          "        mp_obj_print_helper(print, o->args->items[0], PRINT_REPR);\n"
          "        mp_print_str(print, \")\");\n"
          "        return;\n"
          "    }\n"
          "    mp_obj_tuple_print(print, MP_OBJ_FROM_PTR(o->args), kind);\n}"),
)

_DICT_PATCHES = (
    # Every dict is an ordered array (patches.py); compat_dict.c gives the bigger ones a hash
    # index kept beside the table, which every map carries (NULL when it has none).
    Patch("py/obj.h", "a map's hash index",
          "    mp_map_elem_t *table;\n} mp_map_t;",
          "    mp_map_elem_t *table;\n    uint32_t *hash_index;  // compat_dict.c; NULL when it has none\n} mp_map_t;"),
    Patch("py/map.c", "a new map has no index",
          "    map->used = 0;\n    map->all_keys_are_qstrs = 1;\n    map->is_fixed = 0;\n    map->is_ordered = 0;\n}",
          "    map->used = 0;\n    map->all_keys_are_qstrs = 1;\n    map->is_fixed = 0;\n    map->is_ordered = 0;\n"
          "    map->hash_index = NULL;\n}"),
    Patch("py/map.c", "a fixed map has no index",
          "    map->is_ordered = 1;\n    map->table = (mp_map_elem_t *)table;\n}",
          "    map->is_ordered = 1;\n    map->table = (mp_map_elem_t *)table;\n    map->hash_index = NULL;\n}"),
    Patch("py/map.c", "a deinitialised map has no index",
          "    map->used = map->alloc = 0;\n}",
          "    map->used = map->alloc = 0;\n    map->hash_index = NULL;\n}"),
    Patch("py/map.c", "a cleared map has no index",
          "    map->table = NULL;\n}\n\nSTATIC void mp_map_rehash",
          "    map->table = NULL;\n    map->hash_index = NULL;\n}\n\nSTATIC void mp_map_rehash"),
    Patch("py/map.c", "ordered maps look keys up through the index",
          "    // if the map is an ordered array then we must do a brute force linear search\n    if (map->is_ordered) {\n",
          "    // if the map is an ordered array then we must do a brute force linear search\n    if (map->is_ordered) {\n"
          "        bool mp_compat_map_lookup(mp_map_t *, mp_obj_t, mp_map_lookup_kind_t, bool, mp_map_elem_t **);\n"
          "        mp_map_elem_t *indexed;\n"
          "        if (!map->is_fixed && mp_compat_map_lookup(map, index, lookup_kind, compare_only_ptrs, &indexed)) {\n"
          "            if (indexed != NULL && lookup_kind != MP_MAP_LOOKUP_REMOVE_IF_FOUND) {\n"
          "                MAP_CACHE_SET(index, indexed - map->table);\n"
          "            }\n"
          "            return indexed;\n"
          "        }\n"),
    Patch("py/map.c", "a linear removal drops the index",
          "                    --map->used;\n                    memmove(elem, elem + 1, (top - elem - 1) * sizeof(*elem));",
          "                    map->hash_index = NULL;\n"
          "                    --map->used;\n                    memmove(elem, elem + 1, (top - elem - 1) * sizeof(*elem));"),
    # Growing by 4 copied the whole table every 4 keys (quadratic); grow by half.
    Patch("py/map.c", "ordered tables grow geometrically",
          "            // TODO: Alloc policy\n            map->alloc += 4;",
          "            map->alloc += map->alloc / 2 + 4;"),
    Patch("py/map.c", "a linear append drops the index",
          "        mp_map_elem_t *elem = map->table + map->used++;\n        elem->key = index;",
          "        map->hash_index = NULL;\n"
          "        mp_map_elem_t *elem = map->table + map->used++;\n        elem->key = index;"),
)


def _entry(name: str, obj: str) -> str:
    return f"    {{ MP_ROM_QSTR(MP_QSTR_{name}), MP_ROM_PTR(&{obj}) }},\n"


def _replace_entries(path: str, why: str, entries: tuple[tuple[str, str, str], ...]) -> tuple[Patch, ...]:
    """Patches pointing method-table entries (name, old object) at a new object."""
    return tuple(Patch(path, f"{why}: {name}", _entry(name, old), _entry(name, new)) for name, old, new in entries)


# Keyword arguments, more codecs, center's fill character: the compat_methods.c versions stand
# in the method tables for the core's.
_METHOD_PATCHES = (
    *_replace_entries("py/objstr.c", "bytes methods", (
        ("decode", "bytes_decode_obj", "mp_compat_decode_obj"), ("split", "str_split_obj", "mp_compat_split_obj"),
        ("rsplit", "str_rsplit_obj", "mp_compat_rsplit_obj"), ("center", "str_center_obj", "mp_compat_center_obj"))),
    *_replace_entries("py/objstrunicode.c", "str methods", (
        ("encode", "str_encode_obj", "mp_compat_encode_obj"), ("split", "str_split_obj", "mp_compat_split_obj"),
        ("rsplit", "str_rsplit_obj", "mp_compat_rsplit_obj"), ("center", "str_center_obj", "mp_compat_center_obj"))),
    *_replace_entries("py/objarray.c", "bytearray methods", (("decode", "bytes_decode_obj", "mp_compat_decode_obj"),)),
    Patch("py/objarray.c", "bytearray has bytes' search and split methods",
          "    { MP_ROM_QSTR(MP_QSTR_append), MP_ROM_PTR(&array_append_obj) },\n",
          "    { MP_ROM_QSTR(MP_QSTR_append), MP_ROM_PTR(&array_append_obj) },\n"
          + "".join(_entry(name, obj) for name, obj in _BYTEARRAY_METHODS)),
    Patch("py/objarray.c", "bytearray has bytes' search and split methods (declarations)",
          "STATIC const mp_rom_map_elem_t array_locals_dict_table[] = {",
          _BYTEARRAY_DECLARATIONS + "STATIC const mp_rom_map_elem_t array_locals_dict_table[] = {"),
    # int.to_bytes/from_bytes take keywords and signed=; int.bit_length.
    Patch("py/objint.c", "int.from_bytes is wrapped",
          "STATIC MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(int_from_bytes_fun_obj,",
          "MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(int_from_bytes_fun_obj,"),
    Patch("py/objint.c", "int.to_bytes is wrapped",
          "STATIC MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(int_to_bytes_obj,",
          "MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(int_to_bytes_obj,"),
    Patch("py/objint.c", "int methods",
          "    { MP_ROM_QSTR(MP_QSTR_from_bytes), MP_ROM_PTR(&int_from_bytes_obj) },\n"
          "    { MP_ROM_QSTR(MP_QSTR_to_bytes), MP_ROM_PTR(&int_to_bytes_obj) },\n",
          "    { MP_ROM_QSTR(MP_QSTR_from_bytes), MP_ROM_PTR(&mp_compat_from_bytes_obj) },\n"
          "    { MP_ROM_QSTR(MP_QSTR_to_bytes), MP_ROM_PTR(&mp_compat_to_bytes_fun_obj) },\n"
          "    { MP_ROM_QSTR(MP_QSTR_bit_length), MP_ROM_PTR(&mp_compat_bit_length_obj) },\n"),
    Patch("py/objint.c", "int methods (declarations)",
          "STATIC const mp_rom_map_elem_t int_locals_dict_table[] = {",
          "extern const mp_rom_obj_static_class_method_t mp_compat_from_bytes_obj;\n"
          "MP_DECLARE_CONST_FUN_OBJ_KW(mp_compat_to_bytes_fun_obj);\n"
          "MP_DECLARE_CONST_FUN_OBJ_1(mp_compat_bit_length_obj);\n"
          "STATIC const mp_rom_map_elem_t int_locals_dict_table[] = {"),
    # d | other and d |= other (Python 3.9).
    Patch("py/objdict.c", "dict union",
          "    switch (op) {\n        case MP_BINARY_OP_CONTAINS: {\n"
          "            mp_map_elem_t *elem = mp_map_lookup(&o->map, rhs_in, MP_MAP_LOOKUP);",
          "    switch (op) {\n"
          "        case MP_BINARY_OP_OR:\n"
          "        case MP_BINARY_OP_INPLACE_OR: {\n"
          "            if (!mp_obj_is_dict_or_ordereddict(rhs_in)) {\n"
          "                return MP_OBJ_NULL; // op not supported\n"
          "            }\n"
          "            mp_obj_t result = op == MP_BINARY_OP_OR ? mp_obj_dict_copy(lhs_in) : lhs_in;\n"
          "            mp_obj_dict_t *rhs = MP_OBJ_TO_PTR(rhs_in);\n"
          "            size_t cur = 0;\n"
          "            for (mp_map_elem_t *elem; (elem = dict_iter_next(rhs, &cur)) != NULL;) {\n"
          "                mp_obj_dict_store(result, elem->key, elem->value);\n"
          "            }\n"
          "            return result;\n"
          "        }\n"
          "        case MP_BINARY_OP_CONTAINS: {\n"
          "            mp_map_elem_t *elem = mp_map_lookup(&o->map, rhs_in, MP_MAP_LOOKUP);"),
    Patch("py/objdict.c", "reversed(dict)",
          "STATIC const mp_rom_map_elem_t dict_locals_dict_table[] = {\n",
          "MP_DECLARE_CONST_FUN_OBJ_1(mp_compat_dict_reversed_obj);\n"
          "STATIC const mp_rom_map_elem_t dict_locals_dict_table[] = {\n"
          "    { MP_ROM_QSTR(MP_QSTR___reversed__), MP_ROM_PTR(&mp_compat_dict_reversed_obj) },\n"),
    # `except UnicodeDecodeError` names the error decode() raises (MicroPython has one UnicodeError).
    Patch("py/modbuiltins.c", "UnicodeDecodeError and UnicodeEncodeError",
          "    { MP_ROM_QSTR(MP_QSTR_UnicodeError), MP_ROM_PTR(&mp_type_UnicodeError) },\n",
          "    { MP_ROM_QSTR(MP_QSTR_UnicodeError), MP_ROM_PTR(&mp_type_UnicodeError) },\n"
          "    { MP_ROM_QSTR(MP_QSTR_UnicodeDecodeError), MP_ROM_PTR(&mp_type_UnicodeError) },\n"
          "    { MP_ROM_QSTR(MP_QSTR_UnicodeEncodeError), MP_ROM_PTR(&mp_type_UnicodeError) },\n"),
    # True & False is False (a bool), as in CPython, not 0.
    Patch("py/objbool.c", "bool & | ^ bool is a bool",
          "    bool value = BOOL_VALUE(lhs_in);\n    return mp_binary_op(",
          "    bool value = BOOL_VALUE(lhs_in);\n"
          "    if (mp_obj_is_bool(rhs_in)) {\n"
          "        bool other = rhs_in == mp_const_true;\n"
          "        switch (op) {\n"
          "            case MP_BINARY_OP_AND: case MP_BINARY_OP_INPLACE_AND: return mp_obj_new_bool(value & other);\n"
          "            case MP_BINARY_OP_OR: case MP_BINARY_OP_INPLACE_OR: return mp_obj_new_bool(value | other);\n"
          "            case MP_BINARY_OP_XOR: case MP_BINARY_OP_INPLACE_XOR: return mp_obj_new_bool(value ^ other);\n"
          "            default: break;\n"
          "        }\n"
          "    }\n"
          "    return mp_binary_op("),
    Patch("py/objtuple.c", "tuple slices with a step",
          "            if (!mp_seq_get_fast_slice_indexes(self->len, index, &slice)) {\n"
          f"                {_SLICE_STEP_ERROR}",
          "            if (!mp_seq_get_fast_slice_indexes(self->len, index, &slice)) {\n"
          "                size_t count;\n"
          "                mp_obj_t *items;\n"
          "                mp_obj_list_get(mp_seq_extract_slice(self->len, self->items, &slice), &count, &items);\n"
          "                return mp_obj_new_tuple(count, items);"),
    Patch("py/mpprint.c", "'{:,}' groups a float's digits",
          "    int len = mp_format_float(f, buf, sizeof(buf), fmt, prec, sign);\n",
          "    int len = mp_format_float(f, buf, sizeof(buf), fmt, prec, sign);\n"
          "    if (flags & PF_FLAG_SHOW_COMMA) {\n"
          "        int mp_compat_group_thousands(char *buf, int len, size_t size);\n"
          "        len = mp_compat_group_thousands(buf, len, sizeof(buf));\n"
          "    }\n"),
)

# Sorting is stable with the key computed once per item, as CPython's (compat_sort.c).
_SORT_PATCHES = (
    Patch("py/objlist.c", "stable sort",
          "        mp_quicksort(self->items, self->items + self->len - 1,\n"
          "            args.key.u_obj == mp_const_none ? MP_OBJ_NULL : args.key.u_obj,\n"
          "            args.reverse.u_bool ? mp_const_false : mp_const_true);\n",
          "        void mp_compat_stable_sort(mp_obj_t *, size_t, mp_obj_t, bool);\n"
          "        mp_compat_stable_sort(self->items, self->len,\n"
          "            args.key.u_obj == mp_const_none ? MP_OBJ_NULL : args.key.u_obj, args.reverse.u_bool);\n"),
)

COMPAT_PATCHES: tuple[Patch, ...] = (_FLOAT_PATCHES + _STR_PATCHES + _BUILTIN_PATCHES + _DICT_PATCHES
                                     + _METHOD_PATCHES + _SORT_PATCHES)


def compat_sources_digest() -> bytes:
    """The content of our C files, for the patched tree's cache key."""
    digest = hashlib.sha256()
    for path in compat_sources():
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.digest()


def add_compat_sources(tree: Path) -> None:
    """Copy our C files into the tree's py/, where every build of the core compiles them."""
    for path in compat_sources():
        shutil.copyfile(path, tree / "py" / path.name)
