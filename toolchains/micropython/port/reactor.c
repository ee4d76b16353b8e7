// The filter runtime's glue (a Proxy-Wasm reactor): start MicroPython on the first callback,
// import the filter (frozen) and proxywasm.dispatcher, call the dispatcher's function for each
// callback (host_module.c.j2 generates the exports), send print() to proxy_log, and collect
// garbage only at safe points.
//
// Why safe points: a conservative GC in Wasm scans linear memory, but pointers a C function
// keeps in Wasm locals are invisible to it, so collecting while any Python frame is active
// could free live objects. Allocation never collects here (gc_collect below only asks for a
// collection); collections run between callbacks, when no Python frame exists and every root
// is in MicroPython's state. An allocation that still fails raises MemoryError in the filter.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "py/builtin.h"
#include "py/gc.h"
#include "py/mperrno.h"
#include "py/nlr.h"
#include "py/objstr.h"
#include "py/runtime.h"
#include "py/stackctrl.h"

// From the per-filter unit (config.c, written by the build).
extern const char pw_filter_module[];
extern const size_t pw_heap_size;
// From the generated host module.
int32_t pw_host_log(int32_t level, const char *message, size_t size);
extern const char *const pw_callback_names[];

enum { LOG_INFO = 2, LOG_ERROR = 4 };
enum { PYTHON_STACK_LIMIT = 200 * 1024 };

// 0: not started, 1: running, -1: the filter failed to import (every callback then fails).
static int pw_state;
static int pw_depth;              // callbacks in progress (a host may nest one in a hostcall)
static int pw_collect_requested;  // gc.collect(), or an allocation that found the heap full

__attribute__((export_name("malloc"))) void *pw_export_malloc(size_t size) {
    return malloc(size);
}

__attribute__((export_name("proxy_on_memory_allocate"))) void *pw_export_proxy_on_memory_allocate(size_t size) {
    return malloc(size);
}

// --- print(): whole lines to proxy_log (info) -------------------------------------------------

static char print_line[1024];
static size_t print_length;

static void flush_print_line(void) {
    if (print_length > 0) {
        pw_host_log(LOG_INFO, print_line, print_length);
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

void mp_hal_stdout_tx_strn(const char *str, size_t len) {
    mp_proxywasm_print_strn(str, len);
}

// --- garbage collection at safe points ----------------------------------------------------------

void gc_collect(void) {
    pw_collect_requested = 1;
}

// Collect when asked, or once Python allocated a quarter of the heap since the last collection
// (a counter the GC keeps, so the check is cheap).
static void collect_at_safe_point(void) {
    if (pw_depth != 0 || pw_state != 1) {
        return;
    }
    size_t allocated = MP_STATE_MEM(gc_alloc_amount) * MICROPY_BYTES_PER_GC_BLOCK;
    if (pw_collect_requested || allocated >= pw_heap_size / 4) {
        pw_collect_requested = 0;
        gc_collect_start();
        gc_collect_end();
    }
}

// --- errors -------------------------------------------------------------------------------------

// One error record: "python exception escaped proxywasm.dispatcher.NAME:" and the traceback.
static void report_exception(const char *where, mp_obj_t exc) {
    flush_print_line();
    vstr_t text;
    mp_print_t print;
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        vstr_init_print(&text, 256, &print);
        mp_printf(&print, "python exception escaped %s:\n", where);
        mp_obj_print_exception(&print, exc);
        size_t len = text.len;
        while (len > 0 && text.buf[len - 1] == '\n') {
            len--;
        }
        pw_host_log(LOG_ERROR, text.buf, len);
        vstr_clear(&text);
        nlr_pop();
    } else {
        // No memory to format a traceback: the exception's type, from ROM, still says what.
        static char message[160];
        int len = snprintf(message, sizeof message, "python exception escaped %s: %s (no memory for its traceback)",
                           where, mp_obj_get_type_str(exc));
        pw_host_log(LOG_ERROR, message, len < 0 ? 0 : (size_t)len < sizeof message ? (size_t)len : sizeof message - 1);
    }
}

void nlr_jump_fail(void *val) {
    (void)val;
    static const char message[] = "micropython: uncaught exception outside any handler";
    pw_host_log(LOG_ERROR, message, sizeof message - 1);
    __builtin_trap();
}

void NORETURN __fatal_error(const char *message) {
    pw_host_log(LOG_ERROR, message, strlen(message));
    __builtin_trap();
}

// --- start-up -----------------------------------------------------------------------------------

// The filter registers its contexts when imported; this runs in the first callback (Envoy
// refuses hostcalls during _initialize, and an import may log).
static int start_python(void) {
    if (pw_state != 0) {
        return pw_state == 1;
    }
    pw_state = -1;
    mp_stack_set_limit(PYTHON_STACK_LIMIT);
    char *heap = malloc(pw_heap_size);
    if (heap == NULL) {
        static const char message[] = "micropython: cannot allocate the GC heap";
        pw_host_log(LOG_ERROR, message, sizeof message - 1);
        return 0;
    }
    gc_init(heap, heap + pw_heap_size);
    mp_init();
    // Every import is frozen or builtin.
    mp_obj_list_init(MP_OBJ_TO_PTR(mp_sys_path), 0);
    mp_obj_list_append(mp_sys_path, MP_OBJ_NEW_QSTR(MP_QSTR__dot_frozen));
    for (int i = 0; i < PROXYWASM_MP_CALLBACK_SLOTS; i++) {
        MP_STATE_PORT(proxywasm_dispatcher_functions)[i] = MP_OBJ_NULL;
    }
    pw_depth++;
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_import_name(qstr_from_str(pw_filter_module), mp_const_none, MP_OBJ_NEW_SMALL_INT(0));
        mp_obj_t fromlist = mp_obj_new_tuple(1, (mp_obj_t[]){MP_OBJ_NEW_QSTR(MP_QSTR_dispatcher)});
        mp_obj_t package = mp_import_name(MP_QSTR_proxywasm, fromlist, MP_OBJ_NEW_SMALL_INT(0));
        MP_STATE_PORT(proxywasm_dispatcher_module) = mp_load_attr(package, MP_QSTR_dispatcher);
        nlr_pop();
        pw_state = 1;
    } else {
        report_exception("the filter's import", MP_OBJ_FROM_PTR(nlr.ret_val));
    }
    pw_depth--;
    flush_print_line();
    return pw_state == 1;
}

// --- callbacks ----------------------------------------------------------------------------------

// Calls proxywasm.dispatcher.<name>(*argv) and returns its int (None and False are 0).
int32_t pw_dispatch(int index, const char *name, int nargs, const uint32_t *argv) {
    if (pw_depth == 0) {
        // The stack check measures from here: a callback the host makes enters at the top of
        // the shadow stack (wherever the linker put it), a nested one keeps its caller's top.
        mp_stack_ctrl_init();
    }
    if (!start_python()) {
        return 0;
    }
    collect_at_safe_point();
    int32_t result = 0;
    pw_depth++;
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_obj_t *slot = &MP_STATE_PORT(proxywasm_dispatcher_functions)[index];
        if (*slot == MP_OBJ_NULL) {
            *slot = mp_load_attr(MP_STATE_PORT(proxywasm_dispatcher_module), qstr_from_str(name));
        }
        mp_obj_t args[8];
        for (int i = 0; i < nargs && i < 8; i++) {
            args[i] = mp_obj_new_int_from_uint(argv[i]);
        }
        mp_obj_t value = mp_call_function_n_kw(*slot, nargs, 0, args);
        if (value != mp_const_none) {
            result = (int32_t)mp_obj_get_int_truncated(value);
        }
        nlr_pop();
    } else {
        char where[96];
        size_t len = strlen(name) < 64 ? strlen(name) : 64;
        memcpy(where, "proxywasm.dispatcher.", 21);
        memcpy(where + 21, name, len);
        where[21 + len] = '\0';
        report_exception(where, MP_OBJ_FROM_PTR(nlr.ret_val));
    }
    pw_depth--;
    flush_print_line();
    collect_at_safe_point();
    return result;
}

// --- what the core asks of a port ---------------------------------------------------------------

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
