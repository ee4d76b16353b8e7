// str/bytes/bytearray behaviour CPython code expects and MicroPython 1.19 lacks: methods
// (zfill, ljust, rjust, title, capitalize, swapcase, isalnum, isascii, removeprefix,
// removesuffix, expandtabs, hex, fromhex), startswith/endswith with a tuple, slices with a
// step, and the format() builtin. Case mapping is ASCII-only, like MicroPython's lower()/upper().
// compat_patches.py adds these to the core's method tables.
#include <string.h>

#include "py/runtime.h"
#include "py/objstr.h"
#include "py/objtuple.h"

static bool is_text(mp_obj_t self) {
    #if MICROPY_PY_BUILTINS_STR_UNICODE
    return mp_obj_get_type(self) == &mp_type_str;
    #else
    (void)self;
    return false;
    #endif
}

// Length in characters (code points for str, bytes for bytes).
static size_t char_count(mp_obj_t self, const byte *data, size_t len) {
    #if MICROPY_PY_BUILTINS_STR_UNICODE
    if (is_text(self)) {
        return utf8_charlen(data, len);
    }
    #endif
    (void)self;
    return len;
}

static mp_obj_t new_like(mp_obj_t self, vstr_t *vstr) {
    return mp_obj_new_str_from_vstr(mp_obj_get_type(self), vstr);
}

static bool ascii_alpha(byte c) {
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static bool ascii_digit(byte c) {
    return c >= '0' && c <= '9';
}

STATIC mp_obj_t compat_zfill(mp_obj_t self, mp_obj_t width_in) {
    GET_STR_DATA_LEN(self, data, len);
    mp_int_t width = mp_obj_get_int(width_in);
    size_t chars = char_count(self, data, len);
    if (width <= (mp_int_t)chars) {
        return self;
    }
    size_t pad = width - chars;
    size_t sign = len > 0 && (data[0] == '+' || data[0] == '-');
    vstr_t out;
    vstr_init_len(&out, len + pad);
    memcpy(out.buf, data, sign);
    memset(out.buf + sign, '0', pad);
    memcpy(out.buf + sign + pad, data + sign, len - sign);
    return new_like(self, &out);
}
MP_DEFINE_CONST_FUN_OBJ_2(mp_compat_zfill_obj, compat_zfill);

static mp_obj_t justify(size_t n_args, const mp_obj_t *args, bool right) {
    GET_STR_DATA_LEN(args[0], data, len);
    mp_int_t width = mp_obj_get_int(args[1]);
    const char *fill = " ";
    size_t fill_len = 1;
    if (n_args > 2) {
        fill = mp_obj_str_get_data(args[2], &fill_len);
        if (char_count(args[2], (const byte *)fill, fill_len) != 1) {
            mp_raise_TypeError(MP_ERROR_TEXT("The fill character must be exactly one character long"));
        }
    }
    size_t chars = char_count(args[0], data, len);
    if (width <= (mp_int_t)chars) {
        return args[0];
    }
    size_t pad = width - chars;
    vstr_t out;
    vstr_init(&out, len + pad * fill_len);
    if (!right) {
        vstr_add_strn(&out, (const char *)data, len);
    }
    for (size_t i = 0; i < pad; i++) {
        vstr_add_strn(&out, fill, fill_len);
    }
    if (right) {
        vstr_add_strn(&out, (const char *)data, len);
    }
    return new_like(args[0], &out);
}

STATIC mp_obj_t compat_ljust(size_t n_args, const mp_obj_t *args) {
    return justify(n_args, args, false);
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mp_compat_ljust_obj, 2, 3, compat_ljust);

STATIC mp_obj_t compat_rjust(size_t n_args, const mp_obj_t *args) {
    return justify(n_args, args, true);
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mp_compat_rjust_obj, 2, 3, compat_rjust);

enum { TITLE, CAPITALIZE, SWAPCASE };

static mp_obj_t map_case(mp_obj_t self, int how) {
    GET_STR_DATA_LEN(self, data, len);
    // In a str, a non-ASCII byte belongs to a letter more often than not (é, ß...): it counts
    // as cased for title(), so "émile" stays "émile" rather than becoming "éMile".
    bool text = is_text(self);
    vstr_t out;
    vstr_init_len(&out, len);
    bool previous_cased = false;
    for (size_t i = 0; i < len; i++) {
        byte c = data[i];
        bool alpha = ascii_alpha(c);
        if (how == SWAPCASE) {
            c = alpha ? c ^ 0x20 : c;
        } else if (how == CAPITALIZE) {
            c = alpha ? (i == 0 ? unichar_toupper(c) : unichar_tolower(c)) : c;
        } else if (alpha) {
            c = previous_cased ? unichar_tolower(c) : unichar_toupper(c);
        }
        previous_cased = alpha || (text && c >= 0x80);
        out.buf[i] = c;
    }
    return new_like(self, &out);
}

STATIC mp_obj_t compat_title(mp_obj_t self) {
    return map_case(self, TITLE);
}
MP_DEFINE_CONST_FUN_OBJ_1(mp_compat_title_obj, compat_title);

STATIC mp_obj_t compat_capitalize(mp_obj_t self) {
    return map_case(self, CAPITALIZE);
}
MP_DEFINE_CONST_FUN_OBJ_1(mp_compat_capitalize_obj, compat_capitalize);

STATIC mp_obj_t compat_swapcase(mp_obj_t self) {
    return map_case(self, SWAPCASE);
}
MP_DEFINE_CONST_FUN_OBJ_1(mp_compat_swapcase_obj, compat_swapcase);

STATIC mp_obj_t compat_isalnum(mp_obj_t self) {
    GET_STR_DATA_LEN(self, data, len);
    for (size_t i = 0; i < len; i++) {
        if (!ascii_alpha(data[i]) && !ascii_digit(data[i])) {
            return mp_const_false;
        }
    }
    return mp_obj_new_bool(len > 0);
}
MP_DEFINE_CONST_FUN_OBJ_1(mp_compat_isalnum_obj, compat_isalnum);

STATIC mp_obj_t compat_isascii(mp_obj_t self) {
    GET_STR_DATA_LEN(self, data, len);
    for (size_t i = 0; i < len; i++) {
        if (data[i] >= 0x80) {
            return mp_const_false;
        }
    }
    return mp_const_true;
}
MP_DEFINE_CONST_FUN_OBJ_1(mp_compat_isascii_obj, compat_isascii);

static mp_obj_t remove_affix(mp_obj_t self, mp_obj_t affix_in, bool suffix) {
    GET_STR_DATA_LEN(self, data, len);
    if (mp_obj_get_type(affix_in) != mp_obj_get_type(self)) {
        mp_raise_TypeError(MP_ERROR_TEXT("the affix must be of the same type"));
    }
    GET_STR_DATA_LEN(affix_in, affix, affix_len);
    if (affix_len == 0 || affix_len > len
        || memcmp(suffix ? data + len - affix_len : data, affix, affix_len) != 0) {
        return self;
    }
    return mp_obj_new_str_of_type(mp_obj_get_type(self), suffix ? data : data + affix_len, len - affix_len);
}

STATIC mp_obj_t compat_removeprefix(mp_obj_t self, mp_obj_t prefix) {
    return remove_affix(self, prefix, false);
}
MP_DEFINE_CONST_FUN_OBJ_2(mp_compat_removeprefix_obj, compat_removeprefix);

STATIC mp_obj_t compat_removesuffix(mp_obj_t self, mp_obj_t suffix) {
    return remove_affix(self, suffix, true);
}
MP_DEFINE_CONST_FUN_OBJ_2(mp_compat_removesuffix_obj, compat_removesuffix);

STATIC mp_obj_t compat_expandtabs(size_t n_args, const mp_obj_t *args) {
    GET_STR_DATA_LEN(args[0], data, len);
    mp_int_t tabsize = n_args > 1 ? mp_obj_get_int(args[1]) : 8;
    bool text = is_text(args[0]);
    vstr_t out;
    vstr_init(&out, len);
    mp_int_t column = 0;
    for (size_t i = 0; i < len; i++) {
        byte c = data[i];
        if (c == '\t') {
            if (tabsize > 0) {
                mp_int_t spaces = tabsize - column % tabsize;
                for (mp_int_t k = 0; k < spaces; k++) {
                    vstr_add_byte(&out, ' ');
                }
                column += spaces;
            }
            continue;
        }
        vstr_add_byte(&out, c);
        if (c == '\n' || c == '\r') {
            column = 0;
        } else if (!text || (c & 0xc0) != 0x80) {
            column++;
        }
    }
    return new_like(args[0], &out);
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mp_compat_expandtabs_obj, 1, 2, compat_expandtabs);

// bytes.hex(sep=None, bytes_per_sep=1), also for bytearray and memoryview.
STATIC mp_obj_t compat_hex(size_t n_args, const mp_obj_t *args) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[0], &buf, MP_BUFFER_READ);
    const byte *data = buf.buf;
    const char *sep = NULL;
    size_t sep_len = 0;
    mp_int_t group = 1;
    if (n_args > 1 && args[1] != mp_const_none) {
        sep = mp_obj_str_get_data(args[1], &sep_len);
        if (sep_len != 1) {
            mp_raise_ValueError(MP_ERROR_TEXT("sep must be length 1."));
        }
        if (n_args > 2) {
            group = mp_obj_get_int(args[2]);
        }
    }
    size_t every = group < 0 ? -group : group;
    static const char hexdigits[] = "0123456789abcdef";
    vstr_t out;
    vstr_init(&out, buf.len * 3);
    for (size_t i = 0; i < buf.len; i++) {
        // groups count from the right for a positive bytes_per_sep, from the left for a negative
        size_t position = group > 0 ? buf.len - i : i;
        if (sep != NULL && every > 0 && i > 0 && position % every == 0) {
            vstr_add_byte(&out, sep[0]);
        }
        vstr_add_byte(&out, hexdigits[data[i] >> 4]);
        vstr_add_byte(&out, hexdigits[data[i] & 15]);
    }
    return mp_obj_new_str_from_vstr(&mp_type_str, &out);
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mp_compat_hex_obj, 1, 3, compat_hex);

static int hex_value(byte c) {
    if (ascii_digit(c)) {
        return c - '0';
    }
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool ascii_space(byte c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
}

// bytes.fromhex(string) / bytearray.fromhex(string): whitespace may separate the pairs.
STATIC mp_obj_t compat_fromhex(mp_obj_t type_in, mp_obj_t text_in) {
    size_t len;
    const byte *text = (const byte *)mp_obj_str_get_data(text_in, &len);
    vstr_t out;
    vstr_init(&out, len / 2);
    size_t i = 0;
    while (i < len) {
        if (ascii_space(text[i])) {
            i++;
            continue;
        }
        int high = hex_value(text[i]);
        int low = i + 1 < len ? hex_value(text[i + 1]) : -1;
        if (high < 0 || low < 0) {
            size_t position = high < 0 ? i : i + 1;
            vstr_clear(&out);
            mp_raise_msg_varg(&mp_type_ValueError,
                MP_ERROR_TEXT("non-hexadecimal number found in fromhex() arg at position %d"), (int)position);
        }
        vstr_add_byte(&out, (byte)(high << 4 | low));
        i += 2;
    }
    #if MICROPY_PY_BUILTINS_BYTEARRAY
    if (MP_OBJ_TO_PTR(type_in) == &mp_type_bytearray) {
        mp_obj_t result = mp_obj_new_bytearray(out.len, out.buf);
        vstr_clear(&out);
        return result;
    }
    #endif
    (void)type_in;
    return mp_obj_new_str_from_vstr(&mp_type_bytes, &out);
}
STATIC MP_DEFINE_CONST_FUN_OBJ_2(compat_fromhex_fun_obj, compat_fromhex);
MP_DEFINE_CONST_CLASSMETHOD_OBJ(mp_compat_fromhex_obj, MP_ROM_PTR(&compat_fromhex_fun_obj));

// startswith/endswith with a tuple: true when any of its items matches.
mp_obj_t mp_compat_affix_any(mp_obj_t (*test)(size_t, const mp_obj_t *), size_t n_args, const mp_obj_t *args) {
    size_t count;
    mp_obj_t *items;
    mp_obj_tuple_get(args[1], &count, &items);
    mp_obj_t call[3] = {args[0], MP_OBJ_NULL, n_args > 2 ? args[2] : MP_OBJ_NULL};
    for (size_t i = 0; i < count; i++) {
        call[1] = items[i];
        if (test(n_args, call) == mp_const_true) {
            return mp_const_true;
        }
    }
    return mp_const_false;
}

#if MICROPY_PY_BUILTINS_SLICE

static size_t slice_length(const mp_bound_slice_t *slice) {
    if (slice->step > 0) {
        return slice->stop > slice->start ? (slice->stop - slice->start - 1) / slice->step + 1 : 0;
    }
    return slice->start > slice->stop ? (slice->start - slice->stop - 1) / -slice->step + 1 : 0;
}

// bytes (or bytearray, or ASCII str) sliced with any step.
mp_obj_t mp_compat_bytes_slice(const mp_obj_type_t *type, const byte *data, size_t len, mp_obj_t index) {
    mp_bound_slice_t slice;
    mp_obj_slice_indices(index, len, &slice);
    size_t count = slice_length(&slice);
    vstr_t out;
    vstr_init_len(&out, count);
    for (size_t k = 0; k < count; k++) {
        out.buf[k] = data[slice.start + (mp_int_t)k * slice.step];
    }
    #if MICROPY_PY_BUILTINS_BYTEARRAY
    if (type == &mp_type_bytearray) {
        mp_obj_t result = mp_obj_new_bytearray(count, out.buf);
        vstr_clear(&out);
        return result;
    }
    #endif
    return mp_obj_new_str_from_vstr(type, &out);
}

#if MICROPY_PY_BUILTINS_STR_UNICODE
// str sliced with any step, by code point.
mp_obj_t mp_compat_str_slice(const byte *data, size_t len, mp_obj_t index) {
    size_t chars = utf8_charlen(data, len);
    if (chars == len) {
        return mp_compat_bytes_slice(&mp_type_str, data, len, index);
    }
    size_t *offsets = m_new(size_t, chars + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if ((data[i] & 0xc0) != 0x80) {
            offsets[n++] = i;
        }
    }
    offsets[chars] = len;
    mp_bound_slice_t slice;
    mp_obj_slice_indices(index, chars, &slice);
    size_t count = slice_length(&slice);
    vstr_t out;
    vstr_init(&out, count);
    for (size_t k = 0; k < count; k++) {
        size_t c = slice.start + (mp_int_t)k * slice.step;
        vstr_add_strn(&out, (const char *)data + offsets[c], offsets[c + 1] - offsets[c]);
    }
    m_del(size_t, offsets, chars + 1);
    return mp_obj_new_str_from_vstr(&mp_type_str, &out);
}
#endif

#endif

// format(value, spec=''): str(value), or "{:spec}".format(value).
STATIC mp_obj_t compat_builtin_format(size_t n_args, const mp_obj_t *args) {
    size_t spec_len = 0;
    const char *spec = n_args > 1 ? mp_obj_str_get_data(args[1], &spec_len) : "";
    if (spec_len == 0) {
        return mp_obj_str_make_new(&mp_type_str, 1, 0, args);
    }
    vstr_t template;
    vstr_init(&template, spec_len + 3);
    vstr_add_str(&template, "{:");
    vstr_add_strn(&template, spec, spec_len);
    vstr_add_byte(&template, '}');
    mp_obj_t method[3];
    mp_load_method(mp_obj_new_str_from_vstr(&mp_type_str, &template), MP_QSTR_format, method);
    method[2] = args[0];
    return mp_call_method_n_kw(1, 0, method);
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mp_compat_builtin_format_obj, 1, 2, compat_builtin_format);

// Whether repr() shows code point `c` as itself, as CPython's str.isprintable() decides: not
// the controls, separators other than ' ', format characters, surrogates, private use or
// non-characters; U+FFFD shows as itself (code points unassigned in Unicode do too here).
bool mp_compat_unichar_printable(unichar c) {
    if (c < 0xa1) {
        return c >= 0x20 && c < 0x7f;
    }
    return !(c == 0xad || c == 0x1680 || c == 0x180e || (c >= 0x2000 && c <= 0x200f)
             || (c >= 0x2028 && c <= 0x202f) || (c >= 0x205f && c <= 0x206f) || c == 0x3000
             || (c >= 0xd800 && c <= 0xf8ff) || c == 0xfeff || (c >= 0xfff0 && c <= 0xfffb) || c == 0xfffe
             || c == 0xffff || c >= 0xe0000);
}
