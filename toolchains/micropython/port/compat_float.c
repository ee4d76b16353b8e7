// CPython's float text for MicroPython: repr() is the shortest string that reads back to the
// same double (CPython's layout), format()/%-formatting goes through libc's correctly rounded
// snprintf, float() parsing is correctly rounded (exact big-integer arithmetic with the core's
// mpz: libc's strtod would add 14 KB to every module), round(x, n) rounds the exact binary
// value as CPython does. The patched core (compat_patches.py) calls these.
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "py/runtime.h"
#include "py/formatfloat.h"
#include "py/mpz.h"

#if MICROPY_PY_BUILTINS_FLOAT && MICROPY_FLOAT_IMPL == MICROPY_FLOAT_IMPL_DOUBLE

static size_t bit_length(const mpz_t *z) {
    if (z->len == 0) {
        return 0;
    }
    size_t bits = (z->len - 1) * MPZ_DIG_SIZE;
    for (mpz_dig_t top = z->dig[z->len - 1]; top != 0; top >>= 1) {
        bits++;
    }
    return bits;
}

static bool bit_at(const mpz_t *z, size_t i) {
    size_t digit = i / MPZ_DIG_SIZE;
    return digit < z->len && (z->dig[digit] >> (i % MPZ_DIG_SIZE)) & 1;
}

static bool any_bit_below(const mpz_t *z, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (bit_at(z, i)) {
            return true;
        }
    }
    return false;
}

// The double nearest to q * 2**-k (ties to even); `sticky`: the true value is a little above.
static double round_scaled(const mpz_t *q, long k, bool sticky) {
    long bits = (long)bit_length(q);
    if (bits == 0) {
        return 0.0;
    }
    long lead = bits - 1 - k;                   // exponent of the leading bit
    if (lead > DBL_MAX_EXP) {
        return INFINITY;
    }
    long lsb = lead - (DBL_MANT_DIG - 1);       // exponent of the last bit kept
    if (lsb < DBL_MIN_EXP - DBL_MANT_DIG) {
        lsb = DBL_MIN_EXP - DBL_MANT_DIG;       // subnormal: fewer bits
    }
    long drop = lsb + k;                        // bits of q below the last one kept
    uint64_t mantissa = 0;
    for (long i = bits - 1; i >= (drop > 0 ? drop : 0); i--) {
        mantissa = mantissa << 1 | bit_at(q, i);
    }
    if (drop <= 0) {
        return ldexp((double)mantissa, -k);    // exact
    }
    bool half = bit_at(q, drop - 1);
    if (half && (sticky || any_bit_below(q, drop - 1) || (mantissa & 1))) {
        mantissa++;
    }
    return ldexp((double)mantissa, lsb);
}

static const double exact_powers_of_10[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

// The double nearest to the decimal `text` ([+-]digits[.digits][e[+-]digits], as snprintf
// writes and MicroPython's parser has checked), like a correctly rounded strtod.
static double decimal_to_double(const char *text) {
    const char *p = text;
    bool negative = *p == '-';
    if (*p == '+' || *p == '-') {
        p++;
    }
    // 800 significant digits decide any double; further nonzero ones only break a tie
    char digits[802];
    size_t count = 0;
    long exponent = 0;
    bool point = false;
    bool truncated = false;
    for (; (*p >= '0' && *p <= '9') || *p == '.'; p++) {
        if (*p == '.') {
            point = true;
        } else if (count == 0 && *p == '0') {
            exponent -= point;
        } else if (count < 800) {
            digits[count++] = *p;
            exponent -= point;
        } else {
            truncated |= *p != '0';
            exponent += !point;
        }
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        bool exponent_negative = *p == '-';
        p += *p == '+' || *p == '-';
        long written = 0;
        for (; *p >= '0' && *p <= '9'; p++) {
            written = written < 100000 ? written * 10 + (*p - '0') : written;
        }
        exponent += exponent_negative ? -written : written;
    }
    if (truncated) {
        digits[count++] = '1';
        exponent--;
    }
    double value;
    if (count == 0) {
        value = 0.0;
    } else if ((long)count + exponent > DBL_MAX_10_EXP + 1) {
        value = INFINITY;
    } else if ((long)count + exponent < DBL_MIN_10_EXP - DBL_DIG - 10) {
        value = 0.0;
    } else if (count <= 15 && exponent >= -22 && exponent <= 22) {
        // both operands exact: one IEEE operation rounds correctly
        double whole = 0;
        for (size_t i = 0; i < count; i++) {
            whole = whole * 10 + (digits[i] - '0');
        }
        value = exponent >= 0 ? whole * exact_powers_of_10[exponent] : whole / exact_powers_of_10[-exponent];
    } else {
        mpz_t q, power, ten, remainder;
        mpz_init_zero(&q);
        mpz_set_from_str(&q, digits, count, false, 10);
        mpz_init_from_int(&ten, 10);
        mpz_init_from_int(&power, exponent < 0 ? -exponent : exponent);
        mpz_pow_inpl(&power, &ten, &power);
        if (exponent >= 0) {
            mpz_mul_inpl(&q, &q, &power);
            value = round_scaled(&q, 0, false);
        } else {
            // q * 2**k / 10**-exponent with at least 55 bits before the point, and the rest
            long k = 55 + (long)bit_length(&power) - (long)bit_length(&q);
            k = k > 0 ? k : 0;
            mpz_shl_inpl(&q, &q, k);
            mpz_t quotient;
            mpz_init_zero(&quotient);
            mpz_init_zero(&remainder);
            mpz_divmod_inpl(&quotient, &remainder, &q, &power);   // (the quotient may not alias q)
            value = round_scaled(&quotient, k, !mpz_is_zero(&remainder));
            mpz_deinit(&quotient);
            mpz_deinit(&remainder);
        }
        mpz_deinit(&q);
        mpz_deinit(&power);
        mpz_deinit(&ten);
    }
    return negative ? -value : value;
}

// The shortest significant digits of finite x > 0 that read back to x, and its decimal exponent.
// A normal double is within half a unit of the 15th digit of any decimal of at most 15 digits
// that reads back to it, so when the 15-digit form round-trips, dropping its trailing zeros
// gives the shortest; otherwise 16, else 17 digits (always exact). Subnormals have fewer bits:
// they try every length.
static int shortest_digits(double x, char *digits, int *exponent) {
    char text[40];
    for (int precision = x < DBL_MIN ? 1 : 15; precision <= 17; precision++) {
        snprintf(text, sizeof(text), "%.*e", precision - 1, x);
        if (precision == 17 || decimal_to_double(text) == x) {
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
    return n == 0 ? approximate : decimal_to_double(text);
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
        return decimal_to_double(text);
    }
    double scale = pow(10, (double)-ndigits);
    double rounded = nearbyint(x / scale) * scale;
    return isfinite(rounded) ? rounded : x;
}

#endif
