// `_proxywasm_runtime`: what the stdlib shims (toolchains/micropython/lib) need from C.
//   time_ns() / monotonic_ns(): WASI clock_time_get (realtime / monotonic), in nanoseconds;
//   urandom(n): n bytes from WASI random_get;
//   sha256(data) -> the 32-byte digest (one shot);
//   heap_info() -> (used, total) bytes of the GC heap;
//   format_exception(exc) -> the traceback text sys.print_exception would print (which writes
//     to a stream only with MICROPY_PY_SYS_STDFILES; proxywasm._traceback logs this text);
//   CallbackBudgetExceeded, set_callback_budget_us(us): the callback budget (reactor.c).
// Also the HAL's tick source and the core's fatal-error hooks, which both builds share.
#include <stdint.h>
#include <string.h>
#include <wasi/api.h>

#include "py/gc.h"
#include "py/mperrno.h"
#include "py/mphal.h"
#include "py/objexcept.h"
#include "py/objstr.h"
#include "py/runtime.h"

static uint64_t clock_ns(__wasi_clockid_t clock) {
    __wasi_timestamp_t now = 0;
    if (__wasi_clock_time_get(clock, 1000, &now) != 0) {
        mp_raise_OSError(MP_EIO);
    }
    return now;
}

mp_uint_t mp_hal_ticks_ms(void) {
    return (mp_uint_t)(clock_ns(__WASI_CLOCKID_MONOTONIC) / 1000000u);
}

// sys.stdin has nothing to read (the host gives a filter no input stream).
int mp_hal_stdin_rx_chr(void) {
    mp_raise_OSError(MP_EIO);
}

uintptr_t mp_hal_stdio_poll(uintptr_t poll_flags) {
    (void)poll_flags;
    return 0;
}

static mp_obj_t runtime_time_ns(void) {
    return mp_obj_new_int_from_ull(clock_ns(__WASI_CLOCKID_REALTIME));
}
static MP_DEFINE_CONST_FUN_OBJ_0(runtime_time_ns_obj, runtime_time_ns);

static mp_obj_t runtime_monotonic_ns(void) {
    return mp_obj_new_int_from_ull(clock_ns(__WASI_CLOCKID_MONOTONIC));
}
static MP_DEFINE_CONST_FUN_OBJ_0(runtime_monotonic_ns_obj, runtime_monotonic_ns);

static mp_obj_t runtime_urandom(mp_obj_t size_in) {
    mp_int_t size = mp_obj_get_int(size_in);
    if (size < 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("negative size"));
    }
    vstr_t vstr;
    vstr_init_len(&vstr, size);
    if (size > 0 && __wasi_random_get((uint8_t *)vstr.buf, size) != 0) {
        mp_raise_OSError(MP_EIO);
    }
    return mp_obj_new_str_from_vstr(&mp_type_bytes, &vstr);
}
static MP_DEFINE_CONST_FUN_OBJ_1(runtime_urandom_obj, runtime_urandom);

// --- SHA-256 (FIPS 180-4), one shot ------------------------------------------------------------

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t state[8], const uint8_t block[64]) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++) {
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16
             | (uint32_t)block[4 * i + 2] << 8 | block[4 * i + 3];
    }
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROTR(w[i - 15], 7) ^ ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
        uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    state[0] += a; state[1] += b; state[2] += c; state[3] += d;
    state[4] += e; state[5] += f; state[6] += g; state[7] += h;
}

static void sha256(const uint8_t *data, size_t size, uint8_t digest[32]) {
    uint32_t state[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    size_t done = 0;
    for (; size - done >= 64; done += 64) {
        sha256_block(state, data + done);
    }
    uint8_t tail[128] = {0};
    size_t rest = size - done;
    memcpy(tail, data + done, rest);
    tail[rest] = 0x80;
    size_t tail_size = rest + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)size * 8;
    for (int i = 0; i < 8; i++) {
        tail[tail_size - 1 - i] = (uint8_t)(bits >> (8 * i));
    }
    for (size_t i = 0; i < tail_size; i += 64) {
        sha256_block(state, tail + i);
    }
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = state[i] >> 24;
        digest[4 * i + 1] = state[i] >> 16;
        digest[4 * i + 2] = state[i] >> 8;
        digest[4 * i + 3] = state[i];
    }
}

static mp_obj_t runtime_sha256(mp_obj_t data_in) {
    mp_buffer_info_t data;
    mp_get_buffer_raise(data_in, &data, MP_BUFFER_READ);
    uint8_t digest[32];
    sha256(data.buf, data.len, digest);
    return mp_obj_new_bytes(digest, sizeof digest);
}
static MP_DEFINE_CONST_FUN_OBJ_1(runtime_sha256_obj, runtime_sha256);

static mp_obj_t runtime_heap_info(void) {
    gc_info_t info;
    gc_info(&info);
    mp_obj_t items[2] = {mp_obj_new_int_from_uint(info.used), mp_obj_new_int_from_uint(info.total)};
    return mp_obj_new_tuple(2, items);
}
static MP_DEFINE_CONST_FUN_OBJ_0(runtime_heap_info_obj, runtime_heap_info);

static mp_obj_t runtime_format_exception(mp_obj_t exc) {
    vstr_t vstr;
    mp_print_t print;
    vstr_init_print(&vstr, 64, &print);
    mp_obj_print_exception(&print, exc);
    return mp_obj_new_str_from_vstr(&mp_type_str, &vstr);
}
static MP_DEFINE_CONST_FUN_OBJ_1(runtime_format_exception_obj, runtime_format_exception);

// Raised inside a callback that ran past its budget. A BaseException, as KeyboardInterrupt
// is, so that a filter's `except Exception` does not swallow it.
MP_DEFINE_EXCEPTION(CallbackBudgetExceeded, BaseException)

// The budget the filter's code chose (proxywasm.set_callback_budget): microseconds, 0 for none,
// -1 when the code chose nothing. The reactor reads it; the dev interpreter has no budget.
int32_t pw_budget_code_us = -1;

static mp_obj_t runtime_set_callback_budget_us(mp_obj_t us) {
    mp_int_t value = mp_obj_get_int(us);
    if (value < 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("negative budget"));
    }
    pw_budget_code_us = (int32_t)value;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(runtime_set_callback_budget_us_obj, runtime_set_callback_budget_us);

static const mp_rom_map_elem_t runtime_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__proxywasm_runtime) },
    { MP_ROM_QSTR(MP_QSTR_time_ns), MP_ROM_PTR(&runtime_time_ns_obj) },
    { MP_ROM_QSTR(MP_QSTR_monotonic_ns), MP_ROM_PTR(&runtime_monotonic_ns_obj) },
    { MP_ROM_QSTR(MP_QSTR_urandom), MP_ROM_PTR(&runtime_urandom_obj) },
    { MP_ROM_QSTR(MP_QSTR_sha256), MP_ROM_PTR(&runtime_sha256_obj) },
    { MP_ROM_QSTR(MP_QSTR_heap_info), MP_ROM_PTR(&runtime_heap_info_obj) },
    { MP_ROM_QSTR(MP_QSTR_format_exception), MP_ROM_PTR(&runtime_format_exception_obj) },
    { MP_ROM_QSTR(MP_QSTR_CallbackBudgetExceeded), MP_ROM_PTR(&mp_type_CallbackBudgetExceeded) },
    { MP_ROM_QSTR(MP_QSTR_set_callback_budget_us), MP_ROM_PTR(&runtime_set_callback_budget_us_obj) },
};
static MP_DEFINE_CONST_DICT(runtime_globals, runtime_globals_table);

const mp_obj_module_t proxywasm_runtime_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&runtime_globals,
};
MP_REGISTER_MODULE(MP_QSTR__proxywasm_runtime, proxywasm_runtime_module);
