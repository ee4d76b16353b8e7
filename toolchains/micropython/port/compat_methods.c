// More CPython behaviour filter code meets: keyword arguments (str.split(maxsplit=),
// int.to_bytes(byteorder=, signed=), bytes.decode(errors=), str.encode(encoding=)), codecs
// beyond UTF-8 (ascii, latin-1) and decode errors 'replace'/'ignore'/'backslashreplace',
// startswith/endswith with start and end, center with a fill character, int.bit_length,
// bytes' search and split methods on bytearray, and thousands separators for floats.
// compat_patches.py puts these in the core's method tables.
#include <string.h>

#include "py/runtime.h"
#include "py/objstr.h"
#include "py/unicode.h"
#include "py/objint.h"
#include "py/mpz.h"

// str.split / str.rsplit (sep=None, maxsplit=-1) with keywords.
static mp_obj_t split_with_keywords(const mp_obj_t method, size_t n_args, const mp_obj_t *pos, mp_map_t *kw) {
    enum { ARG_sep, ARG_maxsplit };
    static const mp_arg_t allowed[] = {
        { MP_QSTR_sep, MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_maxsplit, MP_ARG_INT, {.u_int = -1} },
    };
    mp_arg_val_t vals[MP_ARRAY_SIZE(allowed)];
    mp_arg_parse_all(n_args - 1, pos + 1, kw, MP_ARRAY_SIZE(allowed), allowed, vals);
    mp_obj_t args[3] = {pos[0], vals[ARG_sep].u_obj, MP_OBJ_NEW_SMALL_INT(vals[ARG_maxsplit].u_int)};
    return mp_call_function_n_kw(method, 3, 0, args);
}

STATIC mp_obj_t compat_split(size_t n_args, const mp_obj_t *pos, mp_map_t *kw) {
    return split_with_keywords(MP_OBJ_FROM_PTR(&str_split_obj), n_args, pos, kw);
}
MP_DEFINE_CONST_FUN_OBJ_KW(mp_compat_split_obj, 1, compat_split);

// rsplit(None, maxsplit): the core raises NotImplementedError for it.
static mp_obj_t rsplit_whitespace(mp_obj_t self, mp_int_t maxsplit) {
    GET_STR_DATA_LEN(self, data, len);
    const mp_obj_type_t *type = mp_obj_get_type(self);
    mp_obj_t pieces = mp_obj_new_list(0, NULL);
    size_t end = len;
    for (;;) {
        while (end > 0 && unichar_isspace(data[end - 1])) {
            end--;
        }
        if (end == 0) {
            break;
        }
        size_t start = end;
        if (maxsplit == 0) {
            start = 0;   // the rest, leading whitespace and all
        } else {
            while (start > 0 && !unichar_isspace(data[start - 1])) {
                start--;
            }
        }
        mp_obj_list_append(pieces, mp_obj_new_str_of_type(type, data + start, end - start));
        if (start == 0) {
            break;
        }
        maxsplit--;
        end = start;
    }
    size_t count;
    mp_obj_t *items;
    mp_obj_list_get(pieces, &count, &items);
    for (size_t i = 0; i < count / 2; i++) {
        mp_obj_t swap = items[i];
        items[i] = items[count - 1 - i];
        items[count - 1 - i] = swap;
    }
    return pieces;
}

STATIC mp_obj_t compat_rsplit(size_t n_args, const mp_obj_t *pos, mp_map_t *kw) {
    bool sep_given = n_args > 1 && pos[1] != mp_const_none;
    if (kw != NULL && mp_map_lookup(kw, MP_OBJ_NEW_QSTR(MP_QSTR_sep), MP_MAP_LOOKUP) != NULL) {
        sep_given = mp_map_lookup(kw, MP_OBJ_NEW_QSTR(MP_QSTR_sep), MP_MAP_LOOKUP)->value != mp_const_none;
    }
    if (!sep_given) {
        mp_int_t maxsplit = -1;
        mp_map_elem_t *keyword = kw == NULL ? NULL : mp_map_lookup(kw, MP_OBJ_NEW_QSTR(MP_QSTR_maxsplit), MP_MAP_LOOKUP);
        if (n_args > 2) {
            maxsplit = mp_obj_get_int(pos[2]);
        } else if (keyword != NULL) {
            maxsplit = mp_obj_get_int(keyword->value);
        }
        return rsplit_whitespace(pos[0], maxsplit);
    }
    return split_with_keywords(MP_OBJ_FROM_PTR(&str_rsplit_obj), n_args, pos, kw);
}
MP_DEFINE_CONST_FUN_OBJ_KW(mp_compat_rsplit_obj, 1, compat_rsplit);

// startswith/endswith(affix, start, end): the test on self[start:end].
mp_obj_t mp_compat_affix_range(mp_obj_t (*test)(size_t, const mp_obj_t *), size_t n_args, const mp_obj_t *args) {
    mp_obj_t slice = mp_obj_new_slice(args[2], n_args > 3 ? args[3] : mp_const_none, mp_const_none);
    mp_obj_t call[2] = {mp_obj_subscr(args[0], slice, MP_OBJ_SENTINEL), args[1]};
    return test(2, call);
}

// str.center(width, fillchar=' '), the padding split as CPython splits it.
STATIC mp_obj_t compat_center(size_t n_args, const mp_obj_t *args) {
    mp_obj_t self = args[0];
    GET_STR_DATA_LEN(self, data, len);
    mp_int_t width = mp_obj_get_int(args[1]);
    const char *fill = " ";
    size_t fill_len = 1;
    if (n_args > 2) {
        fill = mp_obj_str_get_data(args[2], &fill_len);
    }
    size_t chars = len;
    #if MICROPY_PY_BUILTINS_STR_UNICODE
    if (mp_obj_get_type(self) == &mp_type_str) {
        chars = utf8_charlen(data, len);
        if (utf8_charlen((const byte *)fill, fill_len) != 1) {
            mp_raise_TypeError(MP_ERROR_TEXT("The fill character must be exactly one character long"));
        }
    }
    #endif
    if (width <= (mp_int_t)chars) {
        return self;
    }
    size_t margin = width - chars;
    size_t left = margin / 2 + (margin & width & 1);
    vstr_t out;
    vstr_init(&out, len + margin * fill_len);
    for (size_t i = 0; i < margin; i++) {
        if (i == left) {
            vstr_add_strn(&out, (const char *)data, len);
        }
        vstr_add_strn(&out, fill, fill_len);
    }
    if (left == margin) {
        vstr_add_strn(&out, (const char *)data, len);
    }
    return mp_obj_new_str_from_vstr(mp_obj_get_type(self), &out);
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mp_compat_center_obj, 2, 3, compat_center);

/******************************************************************************/
// codecs: utf-8, ascii, latin-1; errors strict, replace, ignore, backslashreplace

enum { CODEC_UTF8, CODEC_ASCII, CODEC_LATIN1 };
enum { ERRORS_STRICT, ERRORS_REPLACE, ERRORS_IGNORE, ERRORS_BACKSLASH };

static int codec_named(mp_obj_t name_in) {
    const char *name = mp_obj_str_get_str(name_in);
    char normal[16];
    size_t n = 0;
    for (; *name != '\0' && n < sizeof(normal) - 1; name++) {
        if (*name != '-' && *name != '_' && *name != ' ') {
            normal[n++] = *name | 0x20;
        }
    }
    normal[n] = '\0';
    if (strcmp(normal, "utf8") == 0 || strcmp(normal, "u8") == 0) {
        return CODEC_UTF8;
    }
    if (strcmp(normal, "ascii") == 0 || strcmp(normal, "usascii") == 0) {
        return CODEC_ASCII;
    }
    if (strcmp(normal, "latin1") == 0 || strcmp(normal, "iso88591") == 0 || strcmp(normal, "l1") == 0) {
        return CODEC_LATIN1;
    }
    mp_raise_msg_varg(&mp_type_LookupError, MP_ERROR_TEXT("unknown encoding: %s"), mp_obj_str_get_str(name_in));
}

static int errors_named(mp_obj_t name_in) {
    const char *name = mp_obj_str_get_str(name_in);
    if (strcmp(name, "replace") == 0) {
        return ERRORS_REPLACE;
    }
    if (strcmp(name, "ignore") == 0) {
        return ERRORS_IGNORE;
    }
    if (strcmp(name, "backslashreplace") == 0) {
        return ERRORS_BACKSLASH;
    }
    return ERRORS_STRICT;
}

static const mp_arg_t codec_args[] = {
    { MP_QSTR_encoding, MP_ARG_OBJ, {.u_rom_obj = MP_ROM_QSTR(MP_QSTR_utf_hyphen_8)} },
    { MP_QSTR_errors, MP_ARG_OBJ, {.u_rom_obj = MP_ROM_QSTR(MP_QSTR_strict)} },
};

// How many bytes at s form a valid UTF-8 sequence (its length), or, negated, how many form
// the longest invalid prefix of one (at least 1), per the Unicode standard's table 3-7.
static int utf8_sequence(const byte *s, size_t available) {
    byte lead = s[0];
    int length;
    byte low = 0x80, high = 0xbf;
    if (lead < 0x80) {
        return 1;
    } else if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        low = lead == 0xe0 ? 0xa0 : 0x80;
        high = lead == 0xed ? 0x9f : 0xbf;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        low = lead == 0xf0 ? 0x90 : 0x80;
        high = lead == 0xf4 ? 0x8f : 0xbf;
    } else {
        return -1;
    }
    for (int i = 1; i < length; i++) {
        if ((size_t)i >= available || s[i] < low || s[i] > high) {
            return -i;
        }
        low = 0x80;
        high = 0xbf;
    }
    return length;
}

static void add_code_point(vstr_t *out, unichar c) {
    vstr_add_char(out, c);
}

static void decode_error(int errors, vstr_t *out, const byte *bad, size_t count) {
    if (errors == ERRORS_STRICT) {
        vstr_clear(out);
        mp_raise_msg_varg(&mp_type_UnicodeError, MP_ERROR_TEXT("can't decode byte 0x%02x"), bad[0]);
    }
    if (errors == ERRORS_REPLACE) {
        add_code_point(out, 0xfffd);
    } else if (errors == ERRORS_BACKSLASH) {
        for (size_t i = 0; i < count; i++) {
            vstr_printf(out, "\\x%02x", bad[i]);
        }
    }
}

// bytes/bytearray.decode(encoding='utf-8', errors='strict')
STATIC mp_obj_t compat_decode(size_t n_args, const mp_obj_t *pos, mp_map_t *kw) {
    mp_arg_val_t vals[2];
    mp_arg_parse_all(n_args - 1, pos + 1, kw, 2, codec_args, vals);
    int codec = codec_named(vals[0].u_obj);
    int errors = errors_named(vals[1].u_obj);
    mp_buffer_info_t buf;
    mp_get_buffer_raise(pos[0], &buf, MP_BUFFER_READ);
    const byte *data = buf.buf;
    vstr_t out;
    vstr_init(&out, buf.len);
    for (size_t i = 0; i < buf.len;) {
        if (codec == CODEC_LATIN1 || (data[i] < 0x80 && codec == CODEC_ASCII)) {
            add_code_point(&out, data[i++]);
        } else if (codec == CODEC_ASCII) {
            decode_error(errors, &out, data + i, 1);
            i++;
        } else {
            int length = utf8_sequence(data + i, buf.len - i);
            if (length > 0) {
                vstr_add_strn(&out, (const char *)data + i, length);
                i += length;
            } else {
                decode_error(errors, &out, data + i, -length);
                i += -length;
            }
        }
    }
    return mp_obj_new_str_from_vstr(&mp_type_str, &out);
}
MP_DEFINE_CONST_FUN_OBJ_KW(mp_compat_decode_obj, 1, compat_decode);

// str.encode(encoding='utf-8', errors='strict')
STATIC mp_obj_t compat_encode(size_t n_args, const mp_obj_t *pos, mp_map_t *kw) {
    mp_arg_val_t vals[2];
    mp_arg_parse_all(n_args - 1, pos + 1, kw, 2, codec_args, vals);
    int codec = codec_named(vals[0].u_obj);
    int errors = errors_named(vals[1].u_obj);
    GET_STR_DATA_LEN(pos[0], data, len);
    if (codec == CODEC_UTF8) {
        return mp_obj_new_bytes(data, len);
    }
    unichar limit = codec == CODEC_ASCII ? 0x80 : 0x100;
    vstr_t out;
    vstr_init(&out, len);
    for (const byte *s = data, *top = data + len; s < top;) {
        unichar c = utf8_get_char(s);
        s = utf8_next_char(s);
        if (c < limit) {
            vstr_add_byte(&out, (byte)c);
        } else if (errors == ERRORS_REPLACE) {
            vstr_add_byte(&out, '?');
        } else if (errors == ERRORS_BACKSLASH) {
            vstr_printf(&out, c < 0x100 ? "\\x%02x" : c < 0x10000 ? "\\u%04x" : "\\U%08x", (unsigned)c);
        } else if (errors == ERRORS_STRICT) {
            vstr_clear(&out);
            mp_raise_msg_varg(&mp_type_UnicodeError, MP_ERROR_TEXT("can't encode character U+%04x"), (unsigned)c);
        }
    }
    return mp_obj_new_str_from_vstr(&mp_type_bytes, &out);
}
MP_DEFINE_CONST_FUN_OBJ_KW(mp_compat_encode_obj, 1, compat_encode);

/******************************************************************************/
// int

STATIC mp_obj_t compat_bit_length(mp_obj_t self) {
    mp_int_t bits = 0;
    if (mp_obj_is_small_int(self) || mp_obj_is_bool(self)) {
        mp_int_t value = mp_obj_get_int(self);
        mp_uint_t magnitude = value < 0 ? -(mp_uint_t)value : (mp_uint_t)value;
        for (; magnitude != 0; magnitude >>= 1) {
            bits++;
        }
        return MP_OBJ_NEW_SMALL_INT(bits);
    }
    #if MICROPY_LONGINT_IMPL == MICROPY_LONGINT_IMPL_MPZ
    const mpz_t *z = &((mp_obj_int_t *)MP_OBJ_TO_PTR(self))->mpz;
    if (z->len > 0) {
        bits = (z->len - 1) * MPZ_DIG_SIZE;
        for (mpz_dig_t top = z->dig[z->len - 1]; top != 0; top >>= 1) {
            bits++;
        }
    }
    #endif
    return mp_obj_new_int(bits);
}
MP_DEFINE_CONST_FUN_OBJ_1(mp_compat_bit_length_obj, compat_bit_length);

extern const mp_obj_fun_builtin_var_t int_to_bytes_obj;
extern const mp_obj_fun_builtin_var_t int_from_bytes_fun_obj;

static const mp_arg_t byteorder_args[] = {
    { MP_QSTR_byteorder, MP_ARG_OBJ, {.u_rom_obj = MP_ROM_QSTR(MP_QSTR_big)} },
    { MP_QSTR_signed, MP_ARG_KW_ONLY | MP_ARG_BOOL, {.u_bool = false} },
};

// 1 << (8 * length), as an int object
static mp_obj_t byte_range(size_t length) {
    return mp_binary_op(MP_BINARY_OP_LSHIFT, MP_OBJ_NEW_SMALL_INT(1), mp_obj_new_int_from_uint(8 * length));
}

// int.to_bytes(length=1, byteorder='big', *, signed=False)
STATIC mp_obj_t compat_to_bytes(size_t n_args, const mp_obj_t *pos, mp_map_t *kw) {
    mp_obj_t length = n_args > 1 ? pos[1] : MP_OBJ_NEW_SMALL_INT(1);
    mp_arg_val_t vals[2];
    mp_arg_parse_all(n_args > 2 ? n_args - 2 : 0, pos + 2, kw, 2, byteorder_args, vals);
    mp_obj_t value = pos[0];
    if (mp_obj_is_bool(value)) {
        value = MP_OBJ_NEW_SMALL_INT(value == mp_const_true);
    }
    if (mp_obj_int_sign(value) < 0) {
        if (!vals[1].u_bool) {
            mp_raise_msg(&mp_type_OverflowError, MP_ERROR_TEXT("can't convert negative int to unsigned"));
        }
        value = mp_binary_op(MP_BINARY_OP_ADD, value, byte_range(mp_obj_get_int(length)));
    }
    mp_obj_t args[3] = {value, length, vals[0].u_obj};
    return mp_call_function_n_kw(MP_OBJ_FROM_PTR(&int_to_bytes_obj), 3, 0, args);
}
MP_DEFINE_CONST_FUN_OBJ_KW(mp_compat_to_bytes_fun_obj, 1, compat_to_bytes);

// int.from_bytes(bytes, byteorder='big', *, signed=False)
STATIC mp_obj_t compat_from_bytes(size_t n_args, const mp_obj_t *pos, mp_map_t *kw) {
    mp_arg_val_t vals[2];
    mp_arg_parse_all(n_args - 2, pos + 2, kw, 2, byteorder_args, vals);
    mp_obj_t args[3] = {pos[0], pos[1], vals[0].u_obj};
    mp_obj_t value = mp_call_function_n_kw(MP_OBJ_FROM_PTR(&int_from_bytes_fun_obj), 3, 0, args);
    if (vals[1].u_bool) {
        mp_buffer_info_t buf;
        mp_get_buffer_raise(pos[1], &buf, MP_BUFFER_READ);
        bool little = vals[0].u_obj == MP_OBJ_NEW_QSTR(MP_QSTR_little);
        if (buf.len > 0 && ((const byte *)buf.buf)[little ? buf.len - 1 : 0] & 0x80) {
            value = mp_binary_op(MP_BINARY_OP_SUBTRACT, value, byte_range(buf.len));
        }
    }
    return value;
}
STATIC MP_DEFINE_CONST_FUN_OBJ_KW(compat_from_bytes_fun_obj, 2, compat_from_bytes);
MP_DEFINE_CONST_CLASSMETHOD_OBJ(mp_compat_from_bytes_obj, MP_ROM_PTR(&compat_from_bytes_fun_obj));

/******************************************************************************/
// bytearray: bytes' methods, on a bytes copy, results back as bytearray where CPython gives one

static mp_obj_t as_bytes(mp_obj_t obj) {
    if (mp_obj_is_type(obj, &mp_type_bytearray)) {
        mp_buffer_info_t buf;
        mp_get_buffer_raise(obj, &buf, MP_BUFFER_READ);
        return mp_obj_new_bytes(buf.buf, buf.len);
    }
    return obj;
}

static mp_obj_t as_bytearray(mp_obj_t obj) {
    if (mp_obj_is_type(obj, &mp_type_bytes)) {
        mp_buffer_info_t buf;
        mp_get_buffer_raise(obj, &buf, MP_BUFFER_READ);
        return mp_obj_new_bytearray(buf.len, buf.buf);
    }
    if (mp_obj_is_type(obj, &mp_type_list)) {
        size_t count;
        mp_obj_t *items;
        mp_obj_list_get(obj, &count, &items);
        for (size_t i = 0; i < count; i++) {
            items[i] = as_bytearray(items[i]);
        }
    }
    return obj;
}

static mp_obj_t via_bytes(const void *method, bool to_bytearray, size_t n_args, const mp_obj_t *args) {
    mp_obj_t call[4];
    for (size_t i = 0; i < n_args && i < 4; i++) {
        call[i] = as_bytes(args[i]);
    }
    mp_obj_t result = mp_call_function_n_kw(MP_OBJ_FROM_PTR(method), n_args, 0, call);
    return to_bytearray ? as_bytearray(result) : result;
}

#define BYTEARRAY_METHOD(name, method, to_bytearray, max_args) \
    STATIC mp_obj_t compat_bytearray_##name(size_t n_args, const mp_obj_t *args) { \
        return via_bytes(&method, to_bytearray, n_args, args); \
    } \
    MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mp_compat_bytearray_##name##_obj, 1, max_args, compat_bytearray_##name);

BYTEARRAY_METHOD(find, str_find_obj, false, 4)
BYTEARRAY_METHOD(rfind, str_rfind_obj, false, 4)
BYTEARRAY_METHOD(index, str_index_obj, false, 4)
BYTEARRAY_METHOD(rindex, str_rindex_obj, false, 4)
BYTEARRAY_METHOD(count, str_count_obj, false, 4)
BYTEARRAY_METHOD(startswith, str_startswith_obj, false, 4)
BYTEARRAY_METHOD(endswith, str_endswith_obj, false, 4)
BYTEARRAY_METHOD(split, mp_compat_split_obj, true, 3)
BYTEARRAY_METHOD(rsplit, mp_compat_rsplit_obj, true, 3)
BYTEARRAY_METHOD(strip, str_strip_obj, true, 2)
BYTEARRAY_METHOD(lstrip, str_lstrip_obj, true, 2)
BYTEARRAY_METHOD(rstrip, str_rstrip_obj, true, 2)
BYTEARRAY_METHOD(replace, str_replace_obj, true, 4)
BYTEARRAY_METHOD(lower, str_lower_obj, true, 1)
BYTEARRAY_METHOD(upper, str_upper_obj, true, 1)

/******************************************************************************/
// floats: '{:,}' groups the integer digits by thousands

int mp_compat_group_thousands(char *buf, int len, size_t size) {
    int start = 0;
    while (start < len && !(buf[start] >= '0' && buf[start] <= '9')) {
        start++;
    }
    int end = start;
    while (end < len && buf[end] >= '0' && buf[end] <= '9') {
        end++;
    }
    int commas = (end - start - 1) / 3;
    if (commas <= 0 || (size_t)(len + commas) >= size) {
        return len;
    }
    memmove(buf + end + commas, buf + end, len - end + 1);
    int to = end + commas - 1;
    for (int from = end - 1, digits = 0; from >= start; from--) {
        buf[to--] = buf[from];
        if (++digits % 3 == 0 && from > start) {
            buf[to--] = ',';
        }
    }
    return len + commas;
}

// reversed(d): its keys, last inserted first.
STATIC mp_obj_t compat_dict_reversed(mp_obj_t self) {
    mp_obj_t keys = mp_obj_new_list(0, NULL);
    mp_obj_iter_buf_t iter_buf;
    mp_obj_t iterator = mp_getiter(self, &iter_buf);
    for (mp_obj_t key; (key = mp_iternext(iterator)) != MP_OBJ_STOP_ITERATION;) {
        mp_obj_list_append(keys, key);
    }
    size_t count;
    mp_obj_t *items;
    mp_obj_list_get(keys, &count, &items);
    for (size_t i = 0; i < count / 2; i++) {
        mp_obj_t swap = items[i];
        items[i] = items[count - 1 - i];
        items[count - 1 - i] = swap;
    }
    return mp_getiter(keys, NULL);
}
MP_DEFINE_CONST_FUN_OBJ_1(mp_compat_dict_reversed_obj, compat_dict_reversed);
