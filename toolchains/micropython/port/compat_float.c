// CPython's float text for MicroPython: repr() is the shortest string that reads back to the
// same double (CPython's layout), format()/%-formatting and float() parsing go through libc's
// correctly rounded snprintf/strtod (MicroPython's own are approximate), round(x, n) rounds
// the exact binary value as CPython does. The patched core (compat_patches.py) calls these.
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "py/runtime.h"
#include "py/formatfloat.h"

#if MICROPY_PY_BUILTINS_FLOAT && MICROPY_FLOAT_IMPL == MICROPY_FLOAT_IMPL_DOUBLE

// The shortest significant digits of finite x > 0 that read back to x, and its decimal exponent.
// A normal double is within half a unit of the 15th digit of any decimal of at most 15 digits
// that reads back to it, so when the 15-digit form round-trips, dropping its trailing zeros
// gives the shortest; otherwise 16, else 17 digits (always exact). Subnormals have fewer bits:
// they try every length.
static int shortest_digits(double x, char *digits, int *exponent) {
    char text[40];
    for (int precision = x < DBL_MIN ? 1 : 15; precision <= 17; precision++) {
        snprintf(text, sizeof(text), "%.*e", precision - 1, x);
        if (precision == 17 || strtod(text, NULL) == x) {
            break;
        }
    }
    int count = 0;
    const char *p = text;
    for (; *p != '\0' && *p != 'e'; p++) {
        if (*p != '.') {
            digits[count++] = *p;
        }
    }
    *exponent = atoi(p + 1);
    while (count > 1 && digits[count - 1] == '0') {
        count--;
    }
    digits[count] = '\0';
    return count;
}

// repr(x) as CPython writes it: exponent form when the exponent is < -4 or >= 16, else fixed
// with at least one decimal. Writes at most 32 bytes.
static void format_repr(double x, char *out, char sign) {
    char *s = out;
    if (signbit(x) && !isnan(x)) {
        *s++ = '-';
        x = -x;
    } else if (sign) {
        *s++ = sign;
    }
    if (isnan(x)) {
        strcpy(s, "nan");
        return;
    }
    if (isinf(x)) {
        strcpy(s, "inf");
        return;
    }
    if (x == 0) {
        strcpy(s, "0.0");
        return;
    }
    char digits[24];
    int exponent;
    int count = shortest_digits(x, digits, &exponent);
    if (exponent < -4 || exponent >= 16) {
        *s++ = digits[0];
        if (count > 1) {
            *s++ = '.';
            memcpy(s, digits + 1, count - 1);
            s += count - 1;
        }
        snprintf(s, 8, "e%c%02d", exponent < 0 ? '-' : '+', exponent < 0 ? -exponent : exponent);
    } else if (exponent < 0) {
        *s++ = '0';
        *s++ = '.';
        for (int i = 0; i < -exponent - 1; i++) {
            *s++ = '0';
        }
        memcpy(s, digits, count + 1);
    } else {
        for (int i = 0; i <= exponent; i++) {
            *s++ = i < count ? digits[i] : '0';
        }
        *s++ = '.';
        if (count > exponent + 1) {
            memcpy(s, digits + exponent + 1, count - exponent - 1);
            s += count - exponent - 1;
        } else {
            *s++ = '0';
        }
        *s = '\0';
    }
}

// Replaces py/formatfloat.c's approximate formatter. `fmt` is e/E/f/F/g/G as in C, plus 'r'
// (repr: format() with no type and no precision) and 'h' (no type with a precision: like 'g',
// with ".0" added when neither a point nor an exponent shows, as CPython does).
int mp_format_float(mp_float_t f, char *buf, size_t buf_size, char fmt, int prec, char sign) {
    if (buf_size == 0) {
        return 0;
    }
    char text[40];
    int len;
    if (fmt == 'r') {
        format_repr(f, text, sign);
        len = snprintf(buf, buf_size, "%s", text);
    } else if (isnan(f)) {
        // CPython never prints a sign bit on nan
        len = snprintf(buf, buf_size, "%s%s", sign ? (char[]) {sign, 0} : "", (fmt & 0x20) ? "nan" : "NAN");
    } else {
        char spec[8];
        char *s = spec;
        *s++ = '%';
        if (sign) {
            *s++ = sign;
        }
        *s++ = '.';
        *s++ = '*';
        *s++ = fmt == 'h' ? 'g' : fmt;
        *s = '\0';
        len = snprintf(buf, buf_size, spec, prec, (double)f);
        if (fmt == 'h' && isfinite(f) && len >= 0 && (size_t)len + 2 < buf_size
            && strpbrk(buf, ".e") == NULL) {
            strcpy(buf + len, ".0");
            len += 2;
        }
    }
    if (len < 0) {
        buf[0] = '\0';
        return 0;
    }
    return (size_t)len < buf_size ? len : (int)buf_size - 1;
}

// The correctly rounded double for the decimal literal in [start, end) that MicroPython's
// parser has already checked (digits, '.', exponent, '_' separators); `approximate` (the
// parser's own value) stands when the text is too long for the buffer.
mp_float_t mp_compat_parse_decimal(const char *start, const char *end, mp_float_t approximate) {
    char text[512];
    size_t n = 0;
    for (const char *p = start; p < end; p++) {
        if (*p == '_') {
            continue;
        }
        if (n + 1 >= sizeof(text)) {
            return approximate;
        }
        text[n++] = *p;
    }
    text[n] = '\0';
    char *stop;
    double value = strtod(text, &stop);
    return stop == text ? approximate : value;
}

// round(x, ndigits) for a float x, as CPython: the exact binary value rounded half-even to
// ndigits decimals (through the correctly rounded "%.*f"), read back.
mp_float_t mp_compat_round(mp_float_t x, mp_int_t ndigits) {
    if (!isfinite(x) || x == 0 || ndigits > 323) {
        return x;
    }
    if (ndigits < -308) {
        return 0.0 * x;
    }
    if (ndigits >= 0) {
        static char text[700];
        snprintf(text, sizeof(text), "%.*f", (int)ndigits, x);
        return strtod(text, NULL);
    }
    double scale = pow(10, (double)-ndigits);
    double rounded = nearbyint(x / scale) * scale;
    return isfinite(rounded) ? rounded : x;
}

#endif
