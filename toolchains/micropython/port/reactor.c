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
#include <wasi/api.h>

#include "py/builtin.h"
#include "py/gc.h"
#include "py/mperrno.h"
#include "py/nlr.h"
#include "py/objexcept.h"
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

// The GC heap is exhausted (a MemoryError escaped the dispatcher, which lets only that one
// through): the VM cannot be trusted to serve on. Trap, so the host fails the VM and applies its
// failure policy (Envoy's FAIL_RELOAD starts a fresh VM).
static void NORETURN fail_exhausted_vm(void) {
    static const char message[] = "micropython: the GC heap is exhausted (MemoryError): failing the VM";
    pw_host_log(LOG_ERROR, message, sizeof message - 1);
    __builtin_trap();
}

static int is_memory_error(mp_obj_t exc) {
    return mp_obj_is_subclass_fast(MP_OBJ_FROM_PTR(mp_obj_get_type(exc)), MP_OBJ_FROM_PTR(&mp_type_MemoryError));
}

// One error record: "python exception escaped proxywasm.dispatcher.NAME:" and the traceback; a
// MemoryError then fails the VM.
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
    if (is_memory_error(exc)) {
        fail_exhausted_vm();
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

// --- the callback budget ------------------------------------------------------------------------
//
// A callback that runs past its budget gets CallbackBudgetExceeded raised inside it at its next
// jump, and fails as any exception does (a 500, or on with fail_open). The budget is
// PROXYWASM_CALLBACK_BUDGET_MS from the VM's environment, else what the filter's code chose
// (proxywasm.set_callback_budget), else 100 ms; 0 turns it off. It is wall time on the monotonic
// clock, counted from the callback's first poll: the clock is read only every
// BUDGET_POLL_EVERY jumps (MICROPY_VM_HOOK_LOOP), so an ordinary callback never reads it.
// A filter that catches the exception and runs on for another budget fails the VM (a trap):
// the worker is the host's again, and the plugin's failure policy says what follows.

enum { BUDGET_POLL_EVERY = 1000, DEFAULT_BUDGET_US = 100000 };
extern const mp_obj_type_t mp_type_CallbackBudgetExceeded;  // runtime_module.c
extern int32_t pw_budget_code_us;                           // runtime_module.c

int32_t pw_budget_countdown = BUDGET_POLL_EVERY;
static int pw_budget_active;            // inside a callback, after the filter's import
static int64_t pw_budget_env_us = -2;   // from the environment: -2 not read yet, -1 not set
static uint64_t pw_budget_deadline;     // monotonic ns; 0 until the callback's first poll
static int pw_budget_raised;            // CallbackBudgetExceeded was raised in this callback
static const char *pw_budget_callback = "";

static uint64_t monotonic_ns(void) {
    __wasi_timestamp_t now = 0;
    __wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1000, &now);
    return now;
}

// PROXYWASM_CALLBACK_BUDGET_MS from WASI's environment (Envoy: the plugin's
// vm_config.environment_variables) in microseconds; -1 when absent or not a number.
static int64_t budget_from_environment(void) {
    static const char key[] = "PROXYWASM_CALLBACK_BUDGET_MS=";
    __wasi_size_t count = 0, size = 0;
    if (__wasi_environ_sizes_get(&count, &size) != 0 || count == 0) {
        return -1;
    }
    char **entries = malloc(count * sizeof(char *));
    char *text = malloc(size);
    int64_t found = -1;
    if (entries != NULL && text != NULL && __wasi_environ_get((uint8_t **)entries, (uint8_t *)text) == 0) {
        for (__wasi_size_t i = 0; i < count; i++) {
            if (strncmp(entries[i], key, sizeof key - 1) == 0) {
                char *end;
                double ms = strtod(entries[i] + sizeof key - 1, &end);
                found = end != entries[i] + sizeof key - 1 && *end == '\0' && ms >= 0 && ms < 2e6 ? (int64_t)(ms * 1000) : -1;
            }
        }
    }
    free(entries);
    free(text);
    return found;
}

static uint32_t budget_us(void) {
    if (pw_budget_env_us == -2) {
        pw_budget_env_us = budget_from_environment();
    }
    if (pw_budget_env_us >= 0) {
        return (uint32_t)pw_budget_env_us;
    }
    return pw_budget_code_us >= 0 ? (uint32_t)pw_budget_code_us : DEFAULT_BUDGET_US;
}

static void budget_begin(const char *callback) {
    pw_budget_callback = callback;
    pw_budget_deadline = 0;
    pw_budget_raised = 0;
    pw_budget_countdown = BUDGET_POLL_EVERY;
    pw_budget_active = 1;
}

void pw_budget_poll(void) {
    pw_budget_countdown = BUDGET_POLL_EVERY;
    uint32_t budget = pw_budget_active ? budget_us() : 0;
    if (budget == 0) {
        return;
    }
    uint64_t now = monotonic_ns();
    if (pw_budget_deadline == 0) {
        pw_budget_deadline = now + (uint64_t)budget * 1000;
        return;
    }
    if (now < pw_budget_deadline) {
        return;
    }
    unsigned whole = budget % 1000 == 0 ? budget / 1000 : budget;
    const char *unit = budget % 1000 == 0 ? "ms" : "us";
    if (!pw_budget_raised) {
        // The filter's failure handling (its log line, the 500) runs within one more budget.
        pw_budget_raised = 1;
        pw_budget_deadline = now + (uint64_t)budget * 1000;
        MP_STATE_THREAD(mp_pending_exception) = mp_obj_new_exception_msg_varg(&mp_type_CallbackBudgetExceeded,
            MP_ERROR_TEXT("%s ran past its budget of %u %s"), pw_budget_callback, whole, unit);
        return;
    }
    flush_print_line();
    static char message[200];
    int len = snprintf(message, sizeof message,
                       "%s still ran one budget (%u %s) after CallbackBudgetExceeded: failing the VM",
                       pw_budget_callback, whole, unit);
    pw_host_log(LOG_ERROR, message, len < 0 ? 0 : (size_t)len < sizeof message ? (size_t)len : sizeof message - 1);
    __builtin_trap();
}

// --- start-up -----------------------------------------------------------------------------------

// The filter registers its contexts when imported; this runs in the first callback (Envoy
// refuses hostcalls during _initialize, and an import may log).
static void read_answered_table(void);

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
        read_answered_table();
    } else {
        report_exception("the filter's import", MP_OBJ_FROM_PTR(nlr.ret_val));
    }
    pw_depth--;
    flush_print_line();
    return pw_state == 1;
}

// --- callbacks ----------------------------------------------------------------------------------

// Around every callback that runs Python: 0 when it cannot (the filter failed to import).
static int pw_enter(const char *callback) {
    if (pw_depth == 0) {
        // The stack check measures from here: a callback the host makes enters at the top of
        // the shadow stack (wherever the linker put it), a nested one keeps its caller's top.
        mp_stack_ctrl_init();
    }
    if (!start_python()) {
        return 0;
    }
    collect_at_safe_point();
    if (pw_depth == 0) {
        budget_begin(callback);
    }
    pw_depth++;
    return 1;
}

static void pw_leave(void) {
    pw_depth--;
    pw_budget_active = pw_depth > 0;
    flush_print_line();
    collect_at_safe_point();
}

// An exception that escaped proxywasm.dispatcher.NAME (or what stands in for it here).
static void report_escaped(const char *name, mp_obj_t exc) {
    char where[96];
    size_t len = strlen(name) < 64 ? strlen(name) : 64;
    memcpy(where, "proxywasm.dispatcher.", 21);
    memcpy(where + 21, name, len);
    where[21 + len] = '\0';
    report_exception(where, exc);
}

// Calls proxywasm.dispatcher.<name>(*argv) and returns its int (None and False are 0).
int32_t pw_dispatch(int index, const char *name, int nargs, const uint32_t *argv) {
    if (!pw_enter(name)) {
        return 0;
    }
    int32_t result = 0;
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
        report_escaped(name, MP_OBJ_FROM_PTR(nlr.ret_val));
    }
    pw_leave();
    return result;
}

// --- callbacks answered without the dispatcher --------------------------------------------------
//
// What proxywasm.dispatcher documents and the generated exports ask for: a callback in
// ANSWERED_IN_C is answered here with the default for a context whose class keeps the SDK's
// method (a mask per context, from dispatcher._answered_in_c_mask once per class); one in
// CALLED_DIRECTLY goes straight to the context's overriding method; an HTTP stream's context is
// created here once its root is in _vm.roots (CONTEXT_CREATE_FUNCTION). Each only while the
// dispatcher's global of that callback is still the dispatcher's own function; anything
// unusual goes the Python way. Contexts are kept by slot (context id modulo the table size): a
// context that lost its slot to another is simply served by the dispatcher.

#define CONTEXT_SLOTS PROXYWASM_MP_CONTEXT_SLOTS
static uint32_t pw_slot_context[CONTEXT_SLOTS];  // the context id in each slot (0: none)
static uint32_t pw_slot_mask[CONTEXT_SLOTS];     // its ANSWERED_IN_C mask
#define pw_slot_object (MP_STATE_PORT(proxywasm_context_objects))  // the context object

static qstr pw_answered_names[PROXYWASM_MP_ANSWERED_BITS];  // ANSWERED_IN_C[i][0]
static int pw_answered_count;
static uint32_t pw_mask_of_class[PROXYWASM_MP_MASK_CLASSES];
static int pw_mask_class_count;

static mp_map_t *dispatcher_globals(void) {
    return &mp_obj_module_get_globals(MP_STATE_PORT(proxywasm_dispatcher_module))->map;
}

static mp_obj_t dispatcher_global(qstr name) {
    mp_map_elem_t *elem = mp_map_lookup(dispatcher_globals(), MP_OBJ_NEW_QSTR(name), MP_MAP_LOOKUP);
    return elem == NULL ? MP_OBJ_NULL : elem->value;
}

// ANSWERED_IN_C's callback names and ANSWERED_IN_C_FUNCTIONS, read once after the import
// (none: every callback goes to the dispatcher).
static void read_answered_table(void) {
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        size_t count = 0, function_count = 0;
        mp_obj_t *table, *functions;
        mp_obj_t table_obj = dispatcher_global(MP_QSTR_ANSWERED_IN_C);
        mp_obj_t functions_obj = dispatcher_global(MP_QSTR_ANSWERED_IN_C_FUNCTIONS);
        if (table_obj != MP_OBJ_NULL && functions_obj != MP_OBJ_NULL && mp_obj_is_type(table_obj, &mp_type_tuple)
            && mp_obj_is_type(functions_obj, &mp_type_tuple)) {
            mp_obj_tuple_get(table_obj, &count, &table);
            mp_obj_tuple_get(functions_obj, &function_count, &functions);
        }
        if (count > 0 && count == function_count && count <= PROXYWASM_MP_ANSWERED_BITS) {
            for (size_t i = 0; i < count; i++) {
                size_t fields;
                mp_obj_t *entry;
                mp_obj_tuple_get(table[i], &fields, &entry);
                pw_answered_names[i] = mp_obj_str_get_qstr(entry[0]);
                MP_STATE_PORT(proxywasm_answered_functions)[i] = functions[i];
            }
            pw_answered_count = (int)count;
        }
        nlr_pop();
    } else {
        pw_answered_count = 0;
    }
}

// ANSWERED_IN_C entry `bit` still has the dispatcher's own function (a test or a filter may
// replace one: then Python sees every call).
static int intact(int bit) {
    return bit < pw_answered_count
           && dispatcher_global(pw_answered_names[bit]) == MP_STATE_PORT(proxywasm_answered_functions)[bit];
}

static int caught(mp_obj_t exc) {  // dispatcher._CAUGHT
    mp_obj_t type = MP_OBJ_FROM_PTR(mp_obj_get_type(exc));
    return mp_obj_is_subclass_fast(type, MP_OBJ_FROM_PTR(&mp_type_Exception))
           || mp_obj_is_subclass_fast(type, MP_OBJ_FROM_PTR(&mp_type_SystemExit))
           || mp_obj_is_subclass_fast(type, MP_OBJ_FROM_PTR(&mp_type_CallbackBudgetExceeded));
}

// dispatcher._answered_in_c_mask(context), asked once per class; 0 (Python sees everything)
// when it fails.
static uint32_t mask_for(mp_obj_t context) {
    mp_obj_t cls = MP_OBJ_FROM_PTR(mp_obj_get_type(context));
    for (int i = 0; i < pw_mask_class_count; i++) {
        if (MP_STATE_PORT(proxywasm_mask_classes)[i] == cls) {
            return pw_mask_of_class[i];
        }
    }
    nlr_buf_t nlr;
    if (nlr_push(&nlr) != 0) {
        return 0;
    }
    mp_obj_t function = dispatcher_global(MP_QSTR__answered_in_c_mask);
    uint32_t mask = function == MP_OBJ_NULL ? 0
                    : (uint32_t)mp_obj_get_int_truncated(mp_call_function_1(function, context));
    nlr_pop();
    if (pw_mask_class_count < PROXYWASM_MP_MASK_CLASSES) {
        MP_STATE_PORT(proxywasm_mask_classes)[pw_mask_class_count] = cls;
        pw_mask_of_class[pw_mask_class_count++] = mask;
    }
    return mask;
}

// Keep `context` (MP_OBJ_NULL: none) for `context_id` with its class's mask.
static void remember(uint32_t context_id, mp_obj_t context) {
    uint32_t slot = context_id % CONTEXT_SLOTS;
    pw_slot_context[slot] = context_id;
    pw_slot_mask[slot] = context == MP_OBJ_NULL ? 0 : mask_for(context);
    pw_slot_object[slot] = context;
}

static mp_obj_t context_in_slot(uint32_t context_id) {
    uint32_t slot = context_id % CONTEXT_SLOTS;
    return context_id != 0 && pw_slot_context[slot] == context_id ? pw_slot_object[slot] : MP_OBJ_NULL;
}

void pw_forget_context(uint32_t context_id) {
    uint32_t slot = context_id % CONTEXT_SLOTS;
    if (pw_slot_context[slot] == context_id) {
        pw_slot_context[slot] = 0;
        pw_slot_mask[slot] = 0;
        pw_slot_object[slot] = MP_OBJ_NULL;
    }
}

// 1: the context's class keeps the default of ANSWERED_IN_C[bit] (the caller answers it).
int pw_answered_in_c(uint32_t context_id, int bit) {
    uint32_t slot = context_id % CONTEXT_SLOTS;
    return context_id != 0 && pw_slot_context[slot] == context_id && (pw_slot_mask[slot] >> bit & 1)
           && intact(bit);
}

// The dispatcher's _vm.contexts and _vm.roots (raises when they are not dicts).
static void vm_dicts(mp_obj_t *vm, mp_map_t **contexts, mp_map_t **roots) {
    *vm = dispatcher_global(MP_QSTR__vm);
    if (*vm == MP_OBJ_NULL) {
        mp_raise_msg(&mp_type_RuntimeError, MP_ERROR_TEXT("proxywasm.dispatcher has no _vm"));
    }
    mp_obj_t found = mp_load_attr(*vm, MP_QSTR_contexts);
    mp_obj_t found_roots = mp_load_attr(*vm, MP_QSTR_roots);
    if (!mp_obj_is_dict_or_ordereddict(found) || !mp_obj_is_dict_or_ordereddict(found_roots)) {
        mp_raise_TypeError(MP_ERROR_TEXT("_vm.contexts and _vm.roots must be dicts"));
    }
    *contexts = mp_obj_dict_get_map(found);
    *roots = mp_obj_dict_get_map(found_roots);
}

// After the dispatcher's proxy_on_context_create: the context it stored in _vm.contexts.
void pw_remember_context(uint32_t context_id) {
    if (context_id == 0 || pw_state != 1) {
        return;
    }
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_obj_t vm;
        mp_map_t *contexts, *roots;
        vm_dicts(&vm, &contexts, &roots);
        mp_map_elem_t *elem = mp_map_lookup(contexts, mp_obj_new_int_from_uint(context_id), MP_MAP_LOOKUP);
        remember(context_id, elem == NULL ? MP_OBJ_NULL : elem->value);
        nlr_pop();
    } else {
        pw_forget_context(context_id);
    }
}

// proxy_on_delete of a context whose class keeps the default on_delete, as the dispatcher
// does it: out of _vm.contexts and _vm.roots. 0: the VM was not found (go the Python way).
int pw_delete_in_c(uint32_t context_id) {
    pw_forget_context(context_id);
    nlr_buf_t nlr;
    if (nlr_push(&nlr) != 0) {
        return 0;
    }
    mp_obj_t vm;
    mp_map_t *contexts, *roots;
    vm_dicts(&vm, &contexts, &roots);
    mp_obj_t id = mp_obj_new_int_from_uint(context_id);
    mp_map_lookup(roots, id, MP_MAP_LOOKUP_REMOVE_IF_FOUND);
    mp_map_lookup(contexts, id, MP_MAP_LOOKUP_REMOVE_IF_FOUND);
    nlr_pop();
    return 1;
}

// An HTTP stream's context under a root already in _vm.roots, as proxy_on_context_create
// makes it: root.create_http_context(id), else (vm.http_factory or HttpContext)(id, root),
// stored in _vm.contexts; an exception logged by _log_exception("context creation", ...).
// (On MicroPython the SDK's logging forwards itself: no handler to install first.)
static void create_http_context(uint32_t context_id, mp_obj_t vm, mp_map_t *contexts, mp_obj_t root) {
    mp_obj_t id = mp_obj_new_int_from_uint(context_id);
    mp_obj_t context = MP_OBJ_NULL;
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_obj_t call[3];
        mp_load_method(root, MP_QSTR_create_http_context, call);
        call[2] = id;
        mp_obj_t made = mp_call_method_n_kw(1, 0, call);
        if (made == mp_const_none) {
            mp_obj_t factory = mp_load_attr(vm, MP_QSTR_http_factory);
            if (!mp_obj_is_true(factory)) {
                factory = dispatcher_global(MP_QSTR_HttpContext);
                if (factory == MP_OBJ_NULL) {
                    mp_raise_msg(&mp_type_NameError, MP_ERROR_TEXT("name 'HttpContext' isn't defined"));
                }
            }
            made = mp_call_function_2(factory, id, root);
        }
        mp_map_lookup(contexts, id, MP_MAP_LOOKUP_ADD_IF_NOT_FOUND)->value = made;
        context = made;
        nlr_pop();
    } else {
        mp_obj_t exc = MP_OBJ_FROM_PTR(nlr.ret_val);
        if (!caught(exc)) {
            report_escaped("proxy_on_context_create", exc);
        } else if (nlr_push(&nlr) == 0) {
            mp_obj_t log = dispatcher_global(MP_QSTR__log_exception);
            mp_obj_t args[3] = {MP_OBJ_NEW_QSTR(qstr_from_str("context creation")), id, exc};
            mp_call_function_n_kw(log == MP_OBJ_NULL ? mp_const_none : log, 3, 0, args);
            nlr_pop();
        } else {
            report_escaped("proxy_on_context_create", MP_OBJ_FROM_PTR(nlr.ret_val));
        }
    }
    remember(context_id, context);
}

// 1: the context was created here; 0: go the Python way.
int pw_create_in_c(uint32_t context_id, uint32_t parent_context_id) {
    if (parent_context_id == 0 || pw_state != 1) {
        return 0;
    }
    mp_obj_t create = dispatcher_global(MP_QSTR_proxy_on_context_create);
    if (create == MP_OBJ_NULL || create != dispatcher_global(MP_QSTR_CONTEXT_CREATE_FUNCTION)) {
        return 0;
    }
    mp_obj_t vm, root = MP_OBJ_NULL;
    mp_map_t *contexts, *roots;
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        vm_dicts(&vm, &contexts, &roots);
        mp_map_elem_t *known = mp_map_lookup(roots, mp_obj_new_int_from_uint(parent_context_id), MP_MAP_LOOKUP);
        if (known != NULL && mp_obj_is_type(known->value, &mp_type_tuple)) {
            size_t fields;
            mp_obj_t *items;
            mp_obj_tuple_get(known->value, &fields, &items);
            if (fields == 2 && items[1] == mp_const_false) {
                root = items[0];
            }
        }
        nlr_pop();
    }
    if (root == MP_OBJ_NULL || !pw_enter("proxy_on_context_create")) {
        return 0;
    }
    create_http_context(context_id, vm, contexts, root);
    pw_leave();
    return 1;
}

// A CALLED_DIRECTLY callback of a context whose class overrides it: its method with no
// dispatcher frame in between, as the dispatcher calls it (end_of_stream as a bool, a result
// that is not an int through int(), an exception to _fail_http/_fail_tcp).
int32_t pw_call_method(int index, const char *name, int nargs, const uint32_t *argv, int bit,
                       qstr method, int tcp, int eos_arg) {
    mp_obj_t context = context_in_slot(argv[0]);
    if (context == MP_OBJ_NULL || nargs > 4 || !intact(bit)) {
        return pw_dispatch(index, name, nargs, argv);
    }
    if (!pw_enter(name)) {
        return 0;
    }
    int32_t result = 0;
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_obj_t call[2 + 3];
        mp_load_method(context, method, call);
        for (int i = 1; i < nargs; i++) {
            call[1 + i] = i == eos_arg ? mp_obj_new_bool(argv[i] != 0) : mp_obj_new_int_from_uint(argv[i]);
        }
        mp_obj_t action = mp_call_method_n_kw(nargs - 1, 0, call);
        if (!mp_obj_is_int(action)) {
            action = mp_call_function_1(MP_OBJ_FROM_PTR(&mp_type_int), action);
        }
        result = (int32_t)mp_obj_get_int_truncated(action);
        nlr_pop();
    } else {
        mp_obj_t exc = MP_OBJ_FROM_PTR(nlr.ret_val);
        if (!caught(exc)) {
            report_escaped(name, exc);
        } else if (nlr_push(&nlr) == 0) {
            mp_obj_t fail = dispatcher_global(tcp ? MP_QSTR__fail_tcp : MP_QSTR__fail_http);
            mp_obj_t args[4] = {context, MP_OBJ_NEW_QSTR(method), mp_obj_new_int_from_uint(argv[0]), exc};
            mp_obj_t action = mp_call_function_n_kw(fail == MP_OBJ_NULL ? mp_const_none : fail, 4, 0, args);
            if (action != mp_const_none) {
                result = (int32_t)mp_obj_get_int_truncated(action);
            }
            nlr_pop();
        } else {
            report_escaped(name, MP_OBJ_FROM_PTR(nlr.ret_val));
        }
    }
    pw_leave();
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
