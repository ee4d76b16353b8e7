// Proxy-Wasm 0.2.1 glue for MicroPython 1.19 built from source (benchmarks/micropython/
// build_from_source.py). At VM start: mp_init, compile and run the snippet (benchmarks/
// micropython/snippet.py, embedded as `snippet_source` by the build), then run
// STARTUP_CALL, which logs on_start()'s result through the `proxywasm_host` module. Every
// response calls the snippet's on_request() and adds its result as `x-micropython`.
#include <stdint.h>
#include <string.h>

#include <stdlib.h>

#include "py/builtin.h"
#include "py/compile.h"
#include "py/gc.h"
#include "py/lexer.h"
#include "py/mperrno.h"
#include "py/nlr.h"
#include "py/objstr.h"
#include "py/runtime.h"
#include "py/stackctrl.h"

#include "snippet.h"

#define IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define EXPORT(name) __attribute__((export_name(#name)))

IMPORT(proxy_log) int32_t proxy_log(int32_t level, const char *message, size_t size);
IMPORT(proxy_add_header_map_value) int32_t proxy_add_header_map_value(
    int32_t map_type, const char *key, size_t key_size, const char *value, size_t value_size);

enum { LOG_INFO = 2, LOG_WARN = 3, LOG_ERROR = 4 };
enum { MAP_RESPONSE_HEADERS = 2 };
enum { HEAP_BYTES = 256 * 1024, PYTHON_STACK_LIMIT = 192 * 1024 };

static const char STARTUP_CALL[] = "import proxywasm_host\nproxywasm_host.log(3, on_start())\n";
static const char RESPONSE_HEADER[] = "x-micropython";

static char gc_heap[HEAP_BYTES];
static int started;
// True while Python code runs: a collection then could miss pointers that live only in Wasm
// locals (invisible to a scan of linear memory), so collections wait until it is over.
static int running_python;

EXPORT(proxy_abi_version_0_2_1) void proxy_abi_version_0_2_1(void) {}

EXPORT(proxy_on_memory_allocate) void *proxy_on_memory_allocate(size_t size) {
    return malloc(size);
}

static void log_text(int32_t level, const char *text, size_t size) {
    proxy_log(level, text, size);
}

// print() output and tracebacks arrive in pieces: they are gathered into lines, one log
// line (info) each; a line longer than the buffer is logged in parts.
static char print_line[512];
static size_t print_length;

static void flush_print_line(void) {
    if (print_length > 0) {
        log_text(LOG_INFO, print_line, print_length);
        print_length = 0;
    }
}

void mp_proxywasm_print_strn(const char *str, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (str[i] == '\n') {
            flush_print_line();
            continue;
        }
        if (print_length == sizeof print_line) {
            flush_print_line();
        }
        print_line[print_length++] = str[i];
    }
}

void mp_hal_stdout_tx_strn_cooked(const char *str, size_t len) {
    mp_proxywasm_print_strn(str, len);
}

// Runs `source` in __main__'s namespace; logs an uncaught exception. Returns 1 on success.
static int run_source(const char *source, size_t size, qstr name) {
    nlr_buf_t nlr;
    running_python = 1;
    int ok = 0;
    if (nlr_push(&nlr) == 0) {
        mp_lexer_t *lexer = mp_lexer_new_from_str_len(name, source, size, 0);
        mp_parse_tree_t tree = mp_parse(lexer, MP_PARSE_FILE_INPUT);
        mp_obj_t module_fun = mp_compile(&tree, name, false);
        mp_call_function_0(module_fun);
        nlr_pop();
        ok = 1;
    } else {
        mp_obj_print_exception(&mp_plat_print, MP_OBJ_FROM_PTR(nlr.ret_val));
        flush_print_line();
    }
    running_python = 0;
    return ok;
}

// Between callbacks, once Python has allocated this much since the last collection (a counter
// the GC keeps, so the check is cheap; gc_info() would walk the whole heap every request).
enum { COLLECT_AFTER_BYTES = HEAP_BYTES / 4 };

static void collect_between_callbacks(void) {
    if (MP_STATE_MEM(gc_alloc_amount) * MICROPY_BYTES_PER_GC_BLOCK >= COLLECT_AFTER_BYTES) {
        gc_collect();
    }
}

EXPORT(proxy_on_vm_start) int32_t proxy_on_vm_start(int32_t root_context, int32_t size) {
    (void)root_context;
    (void)size;
    if (started) {
        return 1;
    }
    static const char starting[] = "micropython-probe: starting MicroPython";
    log_text(LOG_WARN, starting, sizeof starting - 1);
    mp_stack_ctrl_init();
    mp_stack_set_limit(PYTHON_STACK_LIMIT);
    gc_init(gc_heap, gc_heap + sizeof gc_heap);
    mp_init();
    started = 1;
    if (!run_source(snippet_source, sizeof snippet_source - 1, MP_QSTR__lt_stdin_gt_)) {
        return 0;
    }
    return run_source(STARTUP_CALL, sizeof STARTUP_CALL - 1, MP_QSTR__lt_stdin_gt_);
}

EXPORT(proxy_on_configure) int32_t proxy_on_configure(int32_t root_context, int32_t size) {
    (void)root_context;
    (void)size;
    return 1;
}

EXPORT(proxy_on_context_create) void proxy_on_context_create(int32_t context, int32_t parent) {
    (void)context;
    (void)parent;
}

EXPORT(proxy_on_response_headers) int32_t proxy_on_response_headers(
    int32_t context, int32_t headers, int32_t end_of_stream) {
    (void)context;
    (void)headers;
    (void)end_of_stream;
    if (!started) {
        return 0;
    }
    nlr_buf_t nlr;
    running_python = 1;
    if (nlr_push(&nlr) == 0) {
        mp_obj_t on_request = mp_load_global(MP_QSTR_on_request);
        mp_obj_t result = mp_call_function_0(on_request);
        size_t length;
        const char *text = mp_obj_str_get_data(result, &length);
        proxy_add_header_map_value(MAP_RESPONSE_HEADERS, RESPONSE_HEADER, sizeof RESPONSE_HEADER - 1,
                                   text, length);
        nlr_pop();
    } else {
        mp_obj_print_exception(&mp_plat_print, MP_OBJ_FROM_PTR(nlr.ret_val));
        flush_print_line();
    }
    running_python = 0;
    collect_between_callbacks();
    return 0;
}

EXPORT(proxy_on_done) int32_t proxy_on_done(int32_t context) {
    (void)context;
    return 1;
}

EXPORT(proxy_on_log) void proxy_on_log(int32_t context) { (void)context; }
EXPORT(proxy_on_delete) void proxy_on_delete(int32_t context) { (void)context; }

// --- the `proxywasm_host` module: Python calls into the host ---------------------------------

static mp_obj_t host_log(mp_obj_t level, mp_obj_t message) {
    size_t length;
    const char *text = mp_obj_str_get_data(message, &length);
    log_text(mp_obj_get_int(level), text, length);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(host_log_obj, host_log);

static mp_obj_t host_add_response_header(mp_obj_t name, mp_obj_t value) {
    size_t name_length, value_length;
    const char *name_text = mp_obj_str_get_data(name, &name_length);
    const char *value_text = mp_obj_str_get_data(value, &value_length);
    int32_t status = proxy_add_header_map_value(MAP_RESPONSE_HEADERS, name_text, name_length,
                                                value_text, value_length);
    return mp_obj_new_int(status);
}
static MP_DEFINE_CONST_FUN_OBJ_2(host_add_response_header_obj, host_add_response_header);

static const mp_rom_map_elem_t host_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_proxywasm_host) },
    { MP_ROM_QSTR(MP_QSTR_log), MP_ROM_PTR(&host_log_obj) },
    { MP_ROM_QSTR(MP_QSTR_add_response_header), MP_ROM_PTR(&host_add_response_header_obj) },
};
static MP_DEFINE_CONST_DICT(host_globals, host_globals_table);

const mp_obj_module_t proxywasm_host_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&host_globals,
};
MP_REGISTER_MODULE(MP_QSTR_proxywasm_host, proxywasm_host_module);

// --- what the core asks of a port -----------------------------------------------------------

void gc_collect(void) {
    if (running_python) {
        return;  // the allocation that asked fails with MemoryError instead of risking a live object
    }
    gc_collect_start();
    // No Python frame is active: every root is in MicroPython's state, which gc_collect_start scans.
    gc_collect_end();
}

mp_lexer_t *mp_lexer_new_from_file(const char *filename) {
    (void)filename;
    mp_raise_OSError(MP_ENOENT);
}

mp_import_stat_t mp_import_stat(const char *path) {
    (void)path;
    return MP_IMPORT_STAT_NO_EXIST;
}

mp_obj_t mp_builtin_open(size_t n_args, const mp_obj_t *args, mp_map_t *kwargs) {
    (void)n_args;
    (void)args;
    (void)kwargs;
    mp_raise_OSError(MP_ENOENT);
}
MP_DEFINE_CONST_FUN_OBJ_KW(mp_builtin_open_obj, 1, mp_builtin_open);

void nlr_jump_fail(void *val) {
    (void)val;
    static const char message[] = "micropython-probe: uncaught NLR jump";
    log_text(LOG_ERROR, message, sizeof message - 1);
    __builtin_trap();
}

void NORETURN __fatal_error(const char *message) {
    log_text(LOG_ERROR, message, strlen(message));
    __builtin_trap();
}

#ifndef NDEBUG
void MP_WEAK __assert_func(const char *file, int line, const char *func, const char *expr) {
    (void)file;
    (void)line;
    (void)func;
    __fatal_error(expr);
}
#endif
