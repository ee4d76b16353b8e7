/* The fixed half of the C bridge: reactor entry, memory exports, CPython start-up,
 * the snapshot entry point and the call into `proxywasm.dispatcher`.
 *
 * The generated half (bridge.c, from proxywasm.abi) provides the `_proxywasm_host`
 * module, one export per Proxy-Wasm callback (each calls pw_dispatch) and the ABI marker.
 * The frozen-module table (frozen.c) provides pw_frozen_modules and pw_filter_module.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

extern PyObject *PyInit__proxywasm_host(void);
extern const struct _frozen pw_frozen_modules[];
extern const char pw_filter_module[];
extern const unsigned long long pw_frozen_digest;   /* frozen.c: hash of every frozen module */
extern int pw_deterministic_build;                  /* wasi_shims.c */
extern unsigned long long pw_build_seed;

extern int32_t pw_host_log(int32_t level, const char *message, size_t size);
extern void __wasm_call_ctors(void);

static int pw_ctors_done;
static int pw_python_state;   /* 0: not started, 1: running, -1: start failed */
static int pw_snapshotted;    /* set inside the snapshot: the restored module starts warm */
static int pw_reseeded;       /* stays 0 in the snapshot, so the first callback re-seeds */
static PyObject *pw_dispatcher;
extern PyObject *pw_callback_functions[];   /* one per callback export, in bridge.c */
static void pw_check_intact(void);
static PyObject *pw_dispatcher_globals;    /* borrowed: proxywasm.dispatcher.__dict__ */
static PyObject *pw_key_vm, *pw_key_contexts, *pw_key_roots, *pw_key_fail_http, *pw_key_fail_tcp, *pw_key_mask;
static PyObject *pw_key_create, *pw_key_create_function, *pw_key_create_http_context, *pw_key_http_factory;
static PyObject *pw_key_http_context, *pw_key_log_exception, *pw_key_installed, *pw_key_logging;
static PyObject *pw_where_creation;        /* "context creation" */
static PyObject *pw_logging_globals;       /* borrowed: proxywasm._logging.__dict__ */

/* Constructors once. No Python here: Envoy allows no hostcalls during _initialize.
 * A snapshot build does not export it: wizer would run it before wizer.initialize, outside
 * the deterministic phase (wasi-libc's constructors read the clock). */
#ifndef PW_SNAPSHOT_BUILD
__attribute__((export_name("_initialize")))
#endif
void pw_initialize(void) {
    if (pw_ctors_done) return;
    pw_ctors_done = 1;
    __wasm_call_ctors();
}

__attribute__((export_name("malloc")))
void *pw_export_malloc(size_t size) { return malloc(size); }

__attribute__((export_name("proxy_on_memory_allocate")))
void *pw_on_memory_allocate(size_t size) { return malloc(size); }

/* PyErr_PrintEx would turn a SystemExit into Py_Exit() and exit(): a filter cannot exit. */
/* Python is out of memory (the linear memory at its maximum): the VM cannot be trusted to serve
 * on. Trap, so the host fails the VM and applies its failure policy (Envoy's FAIL_RELOAD starts
 * a fresh VM). The message needs no allocation. */
static void pw_fail_exhausted_vm(void) {
    static const char message[] = "python: out of memory (MemoryError): failing the VM";
    pw_host_log(4 /* error */, message, sizeof message - 1);
    __builtin_trap();
}

static void pw_print_error(void) {
    if (PyErr_ExceptionMatches(PyExc_MemoryError)) {
        PyErr_PrintEx(0);
        pw_fail_exhausted_vm();
    }
    if (PyErr_ExceptionMatches(PyExc_SystemExit)) {
        PyErr_Clear();
        fputs("proxywasm: SystemExit ignored: a filter cannot exit its host\n", stderr);
        return;
    }
    PyErr_PrintEx(0);
}

static void pw_fail(const char *what, PyStatus status) {
    fprintf(stderr, "proxywasm: %s: %s%s%s\n", what,
            status.func ? status.func : "", status.func ? ": " : "",
            status.err_msg ? status.err_msg : "error");
}

static int pw_set(PyConfig *config, wchar_t **field, const wchar_t *value) {
    PyStatus status = PyConfig_SetString(config, field, value);
    if (PyStatus_Exception(status)) { pw_fail("config", status); return 0; }
    return 1;
}

/* Start CPython from frozen modules only: no files, no environment, no site. */
static int pw_start_python(void) {
    if (pw_python_state) return pw_python_state > 0;
    pw_python_state = -1;
    pw_initialize();

    PyPreConfig preconfig;
    PyPreConfig_InitIsolatedConfig(&preconfig);
    preconfig.utf8_mode = 1;
    PyStatus status = Py_PreInitialize(&preconfig);
    if (PyStatus_Exception(status)) { pw_fail("pre-initialise", status); return 0; }

    PyImport_FrozenModules = pw_frozen_modules;
    if (PyImport_AppendInittab("_proxywasm_host", PyInit__proxywasm_host) < 0) {
        fprintf(stderr, "proxywasm: cannot register _proxywasm_host\n");
        return 0;
    }

    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.site_import = 0;
    config.install_signal_handlers = 0;
    config.use_frozen_modules = 1;
    config.buffered_stdio = 1;   /* stdio are ttys here: line-buffered, one log record per line */
    config.write_bytecode = 0;
    config.pathconfig_warnings = 0;
    config.user_site_directory = 0;
    config.faulthandler = 0;
    config.tracemalloc = 0;
    config.parse_argv = 0;
    config.safe_path = 1;
    config.module_search_paths_set = 1;   /* an empty sys.path: every import is frozen or builtin */
    const wchar_t *root = L"/proxywasm";
    if (!pw_set(&config, &config.program_name, L"python3.11")
        || !pw_set(&config, &config.home, root)
        || !pw_set(&config, &config.executable, L"/proxywasm/python3.11")
        || !pw_set(&config, &config.base_executable, L"/proxywasm/python3.11")
        || !pw_set(&config, &config.prefix, root)
        || !pw_set(&config, &config.base_prefix, root)
        || !pw_set(&config, &config.exec_prefix, root)
        || !pw_set(&config, &config.base_exec_prefix, root)
        || !pw_set(&config, &config.stdlib_dir, root)
        || !pw_set(&config, &config.platlibdir, L"lib")) {
        PyConfig_Clear(&config);
        return 0;
    }
    status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) { pw_fail("start Python", status); return 0; }

    /* The filter registers its root context at import; the dispatcher then owns the calls. */
    PyObject *filter = PyImport_ImportModule(pw_filter_module);
    if (filter == NULL) { pw_print_error(); return 0; }
    Py_DECREF(filter);
    pw_dispatcher = PyImport_ImportModule("proxywasm.dispatcher");
    if (pw_dispatcher == NULL) { pw_print_error(); return 0; }
    pw_dispatcher_globals = PyModule_GetDict(pw_dispatcher);
    pw_key_vm = PyUnicode_InternFromString("_vm");
    pw_key_contexts = PyUnicode_InternFromString("contexts");
    pw_key_roots = PyUnicode_InternFromString("roots");
    pw_key_mask = PyUnicode_InternFromString("_answered_in_c_mask");
    pw_key_create = PyUnicode_InternFromString("proxy_on_context_create");
    pw_key_create_function = PyUnicode_InternFromString("CONTEXT_CREATE_FUNCTION");
    pw_key_create_http_context = PyUnicode_InternFromString("create_http_context");
    pw_key_http_factory = PyUnicode_InternFromString("http_factory");
    pw_key_http_context = PyUnicode_InternFromString("HttpContext");
    pw_key_log_exception = PyUnicode_InternFromString("_log_exception");
    pw_key_installed = PyUnicode_InternFromString("_installed");
    pw_key_logging = PyUnicode_InternFromString("logging");
    pw_where_creation = PyUnicode_InternFromString("context creation");
    PyObject *logging_module = PyImport_ImportModule("proxywasm._logging");
    pw_logging_globals = logging_module ? PyModule_GetDict(logging_module) : NULL;
    Py_XDECREF(logging_module);   /* sys.modules keeps it */
    if (!pw_key_create || !pw_key_create_function || !pw_key_create_http_context
        || !pw_key_http_factory || !pw_key_http_context || !pw_key_log_exception
        || !pw_key_installed || !pw_key_logging || !pw_where_creation || !pw_logging_globals) {
        pw_print_error();
        return 0;
    }
    pw_key_fail_http = PyUnicode_InternFromString("_fail_http");
    pw_key_fail_tcp = PyUnicode_InternFromString("_fail_tcp");
    if (!pw_key_vm || !pw_key_contexts || !pw_key_roots || !pw_key_fail_http || !pw_key_fail_tcp
        || !pw_key_mask) {
        pw_print_error();
        return 0;
    }
    pw_check_intact();
    pw_python_state = 1;
    return 1;
}

/* A snapshot freezes the state of every random generator; give `random` fresh entropy. */
static void pw_reseed_after_restore(void) {
    pw_reseeded = 1;
    PyObject *random = PyDict_GetItemString(PyImport_GetModuleDict(), "random");
    if (random == NULL) return;
    PyObject *result = PyObject_CallMethod(random, "seed", NULL);
    if (result == NULL) pw_print_error(); else Py_DECREF(result);
}

/* An exception escaped the dispatcher: its traceback goes to Envoy's log as ONE error record
 * (stderr would split it into one record per write). Falls back to PyErr_PrintEx. */
static void pw_report_exception(const char *name) {
    int exhausted = PyErr_ExceptionMatches(PyExc_MemoryError);
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (value == NULL) { PyErr_Restore(type, value, traceback); pw_print_error(); return; }
    if (traceback != NULL) PyException_SetTraceback(value, traceback);
    PyObject *message = NULL;
    /* proxywasm._traceback, not traceback: the stdlib module is frozen only when the filter
     * imports it (it pulls linecache, tokenize, re, ...). */
    PyObject *module = PyImport_ImportModule("proxywasm._traceback");
    if (module != NULL) {
        PyObject *text = PyObject_CallMethod(module, "format_exception", "O", value);
        if (text != NULL && PyUnicode_Check(text)) {
            message = PyUnicode_FromFormat("python exception escaped proxywasm.dispatcher.%s:\n%U",
                                           name, text);
        }
        Py_XDECREF(text);
        Py_DECREF(module);
    }
    Py_ssize_t size = 0;
    const char *utf8 = message ? PyUnicode_AsUTF8AndSize(message, &size) : NULL;
    if (utf8 != NULL && pw_host_log(4 /* error */, utf8, (size_t)size) == 0) {
        if (exhausted) pw_fail_exhausted_vm();
        Py_DECREF(message);
        Py_XDECREF(type); Py_XDECREF(value); Py_XDECREF(traceback);
        PyErr_Clear();
        return;
    }
    Py_XDECREF(message);
    PyErr_Clear();
    PyErr_Restore(type, value, traceback);
    pw_print_error();
}

/* ---- callbacks answered in C (proxywasm.dispatcher.ANSWERED_IN_C) ----
 * After proxy_on_context_create, each context gets a mask: bit i set when its class keeps the
 * SDK default of ANSWERED_IN_C[i]. It is kept in a direct-mapped table by context id; a context
 * that lost its slot to another one simply goes through Python for everything. */
#define PW_CONTEXT_SLOTS 1024u
static uint32_t pw_slot_context[PW_CONTEXT_SLOTS];
static uint32_t pw_slot_mask[PW_CONTEXT_SLOTS];
static PyObject *pw_slot_object[PW_CONTEXT_SLOTS];   /* the context itself, or NULL */
extern PyObject *pw_method_names[];        /* bridge.c: interned method names, by callback */
static uint64_t pw_checked_version;        /* its dict version when pw_intact_mask was computed */
static uint32_t pw_intact_mask;            /* bits whose dispatcher function is the SDK's own */
static int pw_create_intact;               /* proxy_on_context_create is the SDK's own */
static PyObject *pw_vm;              /* the dispatcher's _vm that the two dicts below belong to */
static PyObject *pw_vm_contexts;     /* pw_vm.contexts */
static PyObject *pw_vm_roots;   /* pw_vm.roots */

/* Which ANSWERED_IN_C callbacks still have the dispatcher's own function (a test, or a
 * filter, may replace one: then Python must see every call). */
static void pw_check_intact(void) {
    PyObject *globals = pw_dispatcher_globals;
    pw_checked_version = ((PyDictObject *)globals)->ma_version_tag;
    pw_intact_mask = 0;
    PyObject *create = PyDict_GetItemWithError(globals, pw_key_create);
    pw_create_intact = create != NULL && create == PyDict_GetItemWithError(globals, pw_key_create_function);
    PyErr_Clear();
    PyObject *table = PyDict_GetItemString(globals, "ANSWERED_IN_C");
    PyObject *functions = PyDict_GetItemString(globals, "ANSWERED_IN_C_FUNCTIONS");
    if (table == NULL || functions == NULL || !PyTuple_Check(table) || !PyTuple_Check(functions)
        || PyTuple_GET_SIZE(table) != PyTuple_GET_SIZE(functions)) return;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(table) && i < 32; i++) {
        PyObject *entry = PyTuple_GET_ITEM(table, i);
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) < 1) continue;
        PyObject *current = PyDict_GetItemWithError(globals, PyTuple_GET_ITEM(entry, 0));
        if (current == NULL) { PyErr_Clear(); continue; }
        if (current == PyTuple_GET_ITEM(functions, i)) pw_intact_mask |= (uint32_t)1 << i;
    }
}

int pw_answered_in_c(uint32_t context_id, uint32_t bit) {
    uint32_t slot = context_id & (PW_CONTEXT_SLOTS - 1);
    if (pw_slot_context[slot] != context_id || !(pw_slot_mask[slot] & bit)) return 0;
    if (((PyDictObject *)pw_dispatcher_globals)->ma_version_tag != pw_checked_version) pw_check_intact();
    return (pw_intact_mask & bit) != 0;
}

/* The dispatcher's current VM and its `contexts` and `roots` dicts (the emulator swaps
 * VMs through dispatcher.activate; a module has one). 0 when they cannot be found. */
static int pw_refresh_vm(void) {
    PyObject *vm = PyDict_GetItemWithError(pw_dispatcher_globals, pw_key_vm);
    if (vm == NULL) { PyErr_Clear(); return 0; }
    if (vm == pw_vm) return 1;
    PyObject *contexts = PyObject_GetAttr(vm, pw_key_contexts);
    PyObject *roots = contexts ? PyObject_GetAttr(vm, pw_key_roots) : NULL;
    if (roots == NULL || !PyDict_Check(contexts) || !PyDict_Check(roots)) {
        Py_XDECREF(contexts);
        Py_XDECREF(roots);
        PyErr_Clear();
        return 0;
    }
    Py_INCREF(vm);
    Py_XSETREF(pw_vm, vm);
    Py_XSETREF(pw_vm_contexts, contexts);
    Py_XSETREF(pw_vm_roots, roots);
    return 1;
}

/* dispatcher._answered_in_c_mask per context class, asked once per class. */
#define PW_MASK_CLASSES 16
static PyObject *pw_mask_classes[PW_MASK_CLASSES];   /* strong references */
static uint32_t pw_mask_of_class[PW_MASK_CLASSES];
static int pw_mask_class_count;

static uint32_t pw_mask_for(PyObject *context) {
    PyObject *cls = (PyObject *)Py_TYPE(context);
    for (int i = 0; i < pw_mask_class_count; i++) {
        if (pw_mask_classes[i] == cls) return pw_mask_of_class[i];
    }
    PyObject *function = PyDict_GetItemWithError(pw_dispatcher_globals, pw_key_mask);
    PyObject *result = function ? PyObject_CallOneArg(function, context) : NULL;
    long mask = result ? PyLong_AsLong(result) : -1;
    Py_XDECREF(result);
    if (mask < 0 || PyErr_Occurred()) { PyErr_Clear(); return 0; }   /* 0: Python sees everything */
    if (pw_mask_class_count < PW_MASK_CLASSES) {
        Py_INCREF(cls);
        pw_mask_classes[pw_mask_class_count] = cls;
        pw_mask_of_class[pw_mask_class_count++] = (uint32_t)mask;
    }
    return (uint32_t)mask;
}

/* Keep `context` (NULL: none) for `context_id` with its class's mask. */
static void pw_remember(uint32_t context_id, PyObject *context) {
    uint32_t slot = context_id & (PW_CONTEXT_SLOTS - 1);
    Py_XINCREF(context);
    uint32_t mask = context ? pw_mask_for(context) : 0;
    PyObject *previous = pw_slot_object[slot];
    pw_slot_context[slot] = context_id;
    pw_slot_mask[slot] = mask;
    pw_slot_object[slot] = context;
    Py_XDECREF(previous);   /* a context that lost its slot: Python still holds it */
}

/* After the dispatcher's proxy_on_context_create: the context object itself (a strong
 * reference, for pw_call_method), from proxywasm.dispatcher._vm.contexts, and its mask. */
void pw_remember_context(uint32_t context_id) {
    if (context_id == 0 || pw_dispatcher_globals == NULL) return;
    PyObject *context = NULL;
    PyObject *id = pw_refresh_vm() ? PyLong_FromUnsignedLong(context_id) : NULL;
    if (id != NULL) context = PyDict_GetItemWithError(pw_vm_contexts, id);
    Py_XINCREF(context);
    Py_XDECREF(id);
    PyErr_Clear();
    pw_remember(context_id, context);
    Py_XDECREF(context);
}

void pw_forget_mask(uint32_t context_id) {
    uint32_t slot = context_id & (PW_CONTEXT_SLOTS - 1);
    if (pw_slot_context[slot] != context_id) return;
    PyObject *context = pw_slot_object[slot];
    pw_slot_context[slot] = 0;
    pw_slot_mask[slot] = 0;
    pw_slot_object[slot] = NULL;
    Py_XDECREF(context);
}

/* proxy_on_delete of a context whose class keeps the default on_delete: what the dispatcher
 * would do, without Python code: drop it from _vm.contexts and _vm.roots.
 * 0 when the VM cannot be found (the caller then goes the Python way). */
int pw_forget_in_c(uint32_t context_id) {
    if (!pw_refresh_vm()) return 0;
    pw_forget_mask(context_id);
    PyObject *id = PyLong_FromUnsignedLong(context_id);
    if (id == NULL) { pw_print_error(); return 1; }
    /* a missing key is fine (and looked up first: a KeyError costs more than the lookup) */
    if (PyDict_GetItem(pw_vm_contexts, id) != NULL && PyDict_DelItem(pw_vm_contexts, id) < 0) PyErr_Clear();
    if (PyDict_GetItem(pw_vm_roots, id) != NULL && PyDict_DelItem(pw_vm_roots, id) < 0) PyErr_Clear();
    Py_DECREF(id);
    return 1;
}

/* ---- the callback budget ----
 * A callback that runs past its budget gets proxywasm.CallbackBudgetExceeded raised inside it
 * and fails as any exception does (a 500, or on with fail_open). The budget is
 * PROXYWASM_CALLBACK_BUDGET_MS from the VM's environment, else what the filter's code chose
 * (proxywasm.set_callback_budget); CPython has none unless one of them asks (see
 * docs/reliability.md for what the check costs). It is wall time on the monotonic clock.
 *
 * How the check runs without threads or signals: a pending call (Py_AddPendingCall), which
 * CPython's eval loop runs at each function entry and backward jump while one is queued. It
 * queues itself again behind a NULL entry, which ends the current round of pending calls (the
 * loop stops at a NULL function), so it runs once per eval-breaker check; every
 * BUDGET_POLL_EVERY runs it reads the clock. A filter that catches the exception and runs on
 * for one more budget fails the VM (a trap). */
enum { BUDGET_POLL_EVERY = 256 };
static PyObject *pw_budget_exception;     /* proxywasm.CallbackBudgetExceeded (_proxywasm_host) */
static int32_t pw_budget_code_us = -1;    /* proxywasm.set_callback_budget; -1: not chosen */
static int64_t pw_budget_env_us = -2;     /* the environment's: -2 not read yet, -1 not set */
#define PW_BUDGET_UNKNOWN UINT32_MAX
static uint32_t pw_budget_current_us = PW_BUDGET_UNKNOWN;   /* what the two say, once worked out */
static int pw_budget_depth;               /* callbacks in progress (one may nest in a hostcall) */
static int pw_budget_active, pw_budget_queued, pw_budget_raised;
static int32_t pw_budget_countdown;
static uint64_t pw_budget_deadline;       /* monotonic ns; 0 until the callback's first poll */
static const char *pw_budget_callback = "";

static uint64_t pw_monotonic_ns(void) {
    __wasi_timestamp_t now = 0;
    __wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1000, &now);
    return now;
}

/* The host's environment, which wasi_shims.c hides from CPython's start-up (an empty one). */
__attribute__((import_module("wasi_snapshot_preview1"), import_name("environ_sizes_get")))
int32_t pw_host_environ_sizes_get(int32_t count, int32_t size);
__attribute__((import_module("wasi_snapshot_preview1"), import_name("environ_get")))
int32_t pw_host_environ_get(int32_t entries, int32_t text);

/* PROXYWASM_CALLBACK_BUDGET_MS from WASI's environment (Envoy: the plugin's
 * vm_config.environment_variables) in microseconds; -1 when absent or not a number. */
static int64_t pw_budget_from_environment(void) {
    static const char key[] = "PROXYWASM_CALLBACK_BUDGET_MS=";
    uint32_t count = 0, size = 0;
    if (pw_host_environ_sizes_get((int32_t)(intptr_t)&count, (int32_t)(intptr_t)&size) != 0 || count == 0) return -1;
    char **entries = malloc(count * sizeof(char *));
    char *text = malloc(size);
    int64_t found = -1;
    if (entries != NULL && text != NULL
        && pw_host_environ_get((int32_t)(intptr_t)entries, (int32_t)(intptr_t)text) == 0) {
        for (uint32_t i = 0; i < count; i++) {
            if (strncmp(entries[i], key, sizeof key - 1) != 0) continue;
            char *end;
            double ms = strtod(entries[i] + sizeof key - 1, &end);
            found = end != entries[i] + sizeof key - 1 && *end == '\0' && ms >= 0 && ms < 2e6 ? (int64_t)(ms * 1000) : -1;
        }
    }
    free(entries);
    free(text);
    return found;
}

/* Worked out in a callback, never while the build snapshots the module (the environment is
 * the host's); again after the code sets one. */
static uint32_t pw_budget_us(void) {
    if (pw_budget_current_us == PW_BUDGET_UNKNOWN) {
        if (pw_budget_env_us == -2) pw_budget_env_us = pw_budget_from_environment();
        pw_budget_current_us = pw_budget_env_us >= 0 ? (uint32_t)pw_budget_env_us
                               : pw_budget_code_us >= 0 ? (uint32_t)pw_budget_code_us : 0;
    }
    return pw_budget_current_us;
}

static int pw_budget_check(void *unused);

/* Queue the check behind a NULL entry: the round of pending calls running now stops there. */
static void pw_budget_queue(int behind_stop) {
    if (pw_budget_queued) return;
    if (behind_stop && Py_AddPendingCall(NULL, NULL) != 0) return;
    if (Py_AddPendingCall(pw_budget_check, NULL) == 0) pw_budget_queued = 1;
}

static int pw_budget_check(void *unused) {
    (void)unused;
    pw_budget_queued = 0;
    if (!pw_budget_active) return 0;   /* between callbacks: the next one queues it again */
    if (--pw_budget_countdown >= 0) { pw_budget_queue(1); return 0; }
    pw_budget_countdown = BUDGET_POLL_EVERY;
    uint32_t budget = pw_budget_us();
    uint64_t now = pw_monotonic_ns();
    if (pw_budget_deadline == 0 || now < pw_budget_deadline) {
        if (pw_budget_deadline == 0) pw_budget_deadline = now + (uint64_t)budget * 1000;
        pw_budget_queue(1);
        return 0;
    }
    unsigned whole = budget % 1000 == 0 ? budget / 1000 : budget;
    const char *unit = budget % 1000 == 0 ? "ms" : "us";
    if (!pw_budget_raised) {
        /* The filter's failure handling (its log line, the 500) runs within one more budget. */
        pw_budget_raised = 1;
        pw_budget_deadline = now + (uint64_t)budget * 1000;
        pw_budget_queue(0);   /* an error ends the round by itself */
        PyErr_Format(pw_budget_exception ? pw_budget_exception : PyExc_RuntimeError,
                     "%s ran past its budget of %u %s", pw_budget_callback, whole, unit);
        return -1;
    }
    char message[200];
    int len = snprintf(message, sizeof message,
                       "%s still ran one budget (%u %s) after CallbackBudgetExceeded: failing the VM",
                       pw_budget_callback, whole, unit);
    fflush(stderr);
    pw_host_log(4 /* error */, message, len < 0 ? 0 : (size_t)len < sizeof message ? (size_t)len : sizeof message - 1);
    __builtin_trap();
}

static inline void pw_budget_enter(const char *callback) {
    if (pw_budget_depth++ > 0 || pw_budget_current_us == 0 || pw_python_state != 1 || pw_budget_us() == 0) return;
    pw_budget_callback = callback;
    pw_budget_deadline = 0;
    pw_budget_raised = 0;
    pw_budget_countdown = BUDGET_POLL_EVERY;
    pw_budget_active = 1;
    pw_budget_queue(0);
}

static inline void pw_budget_leave(void) {
    if (--pw_budget_depth == 0) pw_budget_active = 0;
}

static PyObject *pw_set_callback_budget_us(PyObject *self, PyObject *us) {
    long value = PyLong_AsLong(us);
    if (value == -1 && PyErr_Occurred()) return NULL;
    if (value < 0 || value > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "the budget is 0 or more microseconds, below 2**31");
        return NULL;
    }
    pw_budget_code_us = (int32_t)value;
    pw_budget_current_us = PW_BUDGET_UNKNOWN;
    Py_RETURN_NONE;
}

static PyMethodDef pw_set_callback_budget_def = {
    "set_callback_budget_us", pw_set_callback_budget_us, METH_O,
    "set_callback_budget_us(us): the callback budget the filter's code chose (0: none)."};

/* _proxywasm_host's budget API (bridge.c calls this from the module's init). */
int pw_add_budget_api(PyObject *module) {
    pw_budget_exception = PyErr_NewExceptionWithDoc(
        "proxywasm.CallbackBudgetExceeded",
        "Raised inside a callback that ran past its budget. A BaseException, as KeyboardInterrupt "
        "is, so that `except Exception` in a filter does not swallow it.",
        PyExc_BaseException, NULL);
    if (pw_budget_exception == NULL) return -1;
    PyObject *function = PyCFunction_New(&pw_set_callback_budget_def, NULL);
    if (function == NULL) return -1;
    int failed = PyModule_AddObjectRef(module, "CallbackBudgetExceeded", pw_budget_exception) < 0
                 || PyModule_AddObject(module, "set_callback_budget_us", function) < 0;
    if (failed) Py_DECREF(function);
    return failed ? -1 : 0;
}

static int32_t pw_dispatch_in_budget(int index, const char *name, int nargs, const uint32_t *argv);

/* Called by every generated proxy_on_* export. Never traps: errors go to stderr (Envoy's log). */
int32_t pw_dispatch(int index, const char *name, int nargs, const uint32_t *argv) {
    pw_budget_enter(name);
    int32_t result = pw_dispatch_in_budget(index, name, nargs, argv);
    pw_budget_leave();
    return result;
}

static int32_t pw_dispatch_in_budget(int index, const char *name, int nargs, const uint32_t *argv) {
    if (!pw_start_python()) return 0;
    if (pw_snapshotted && !pw_reseeded) pw_reseed_after_restore();
    PyObject *function = pw_callback_functions[index];
    if (function == NULL) {
        function = PyObject_GetAttrString(pw_dispatcher, name);
        if (function == NULL) { pw_print_error(); return 0; }
        pw_callback_functions[index] = function;
    }
    PyObject *args[8];
    for (int i = 0; i < nargs; i++) {
        args[i] = PyLong_FromUnsignedLong(argv[i]);
        if (args[i] == NULL) {
            for (int j = 0; j < i; j++) Py_DECREF(args[j]);
            pw_print_error();
            return 0;
        }
    }
    PyObject *result = PyObject_Vectorcall(function, args, (size_t)nargs, NULL);
    for (int i = 0; i < nargs; i++) Py_DECREF(args[i]);
    if (result == NULL) { pw_report_exception(name); return 0; }
    int32_t value = 0;
    if (result != Py_None) {
        long long v = PyLong_AsLongLong(result);
        if (v == -1 && PyErr_Occurred()) { pw_report_exception(name); v = 0; }
        value = (int32_t)v;
    }
    Py_DECREF(result);
    return value;
}

/* The exception being raised becomes the handled one (what sys.exc_info() sees) while
 * `handler(*args)` runs, as inside the dispatcher's `except`. Returns the handler's result. */
static PyObject *pw_call_handler(PyObject *handler, PyObject *const *args, size_t nargs) {
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (traceback != NULL && value != NULL) PyException_SetTraceback(value, traceback);
    PyObject *handled = PyErr_GetHandledException();
    PyErr_SetHandledException(value);
    PyObject *result = PyObject_Vectorcall(handler, args, nargs, NULL);
    PyErr_SetHandledException(handled);
    Py_XDECREF(handled);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
    return result;
}

static int pw_caught(void) {   /* dispatcher._CAUGHT */
    return PyErr_ExceptionMatches(PyExc_Exception) || PyErr_ExceptionMatches(PyExc_SystemExit)
           || (pw_budget_exception != NULL && PyErr_ExceptionMatches(pw_budget_exception));
}

static int pw_create_in_c_in_budget(uint32_t context_id, uint32_t parent_context_id);

/* proxy_on_context_create of an HTTP stream under a root already in _vm.roots, without the
 * dispatcher frame (see dispatcher.CONTEXT_CREATE_FUNCTION). 0: go the Python way. */
int pw_create_in_c(uint32_t context_id, uint32_t parent_context_id) {
    pw_budget_enter("proxy_on_context_create");
    int created = pw_create_in_c_in_budget(context_id, parent_context_id);
    pw_budget_leave();
    return created;
}

static int pw_create_in_c_in_budget(uint32_t context_id, uint32_t parent_context_id) {
    if (parent_context_id == 0 || pw_python_state != 1 || (pw_snapshotted && !pw_reseeded)) return 0;
    if (((PyDictObject *)pw_dispatcher_globals)->ma_version_tag != pw_checked_version) pw_check_intact();
    if (!pw_create_intact || !pw_refresh_vm()) return 0;
    if (PyDict_GetItemWithError(pw_logging_globals, pw_key_installed) != Py_True
        && PyDict_GetItemWithError(PyImport_GetModuleDict(), pw_key_logging) != NULL) {
        return 0;   /* the filter imported logging: the dispatcher installs the handler */
    }
    PyObject *parent = PyLong_FromUnsignedLong(parent_context_id);
    PyObject *known = parent ? PyDict_GetItemWithError(pw_vm_roots, parent) : NULL;
    Py_XDECREF(parent);
    if (known == NULL || !PyTuple_CheckExact(known) || PyTuple_GET_SIZE(known) != 2
        || PyTuple_GET_ITEM(known, 1) != Py_False) {
        PyErr_Clear();
        return 0;
    }
    PyObject *root = PyTuple_GET_ITEM(known, 0);
    PyObject *id = PyLong_FromUnsignedLong(context_id);
    if (id == NULL) { pw_print_error(); return 1; }
    Py_INCREF(root);
    PyObject *args[2] = {root, id};
    PyObject *context = PyObject_VectorcallMethod(pw_key_create_http_context, args, 2, NULL);
    if (context == Py_None) {
        Py_DECREF(context);
        PyObject *factory = PyObject_GetAttr(pw_vm, pw_key_http_factory);
        if (factory == Py_None) {
            Py_DECREF(factory);
            factory = Py_XNewRef(PyDict_GetItemWithError(pw_dispatcher_globals, pw_key_http_context));
        }
        PyObject *factory_args[2] = {id, root};
        context = factory ? PyObject_Vectorcall(factory, factory_args, 2, NULL) : NULL;
        if (factory == NULL && !PyErr_Occurred()) PyErr_SetString(PyExc_NameError, "HttpContext");
        Py_XDECREF(factory);
    }
    if (context != NULL && PyDict_SetItem(pw_vm_contexts, id, context) < 0) Py_CLEAR(context);
    if (context == NULL) {
        if (pw_caught()) {
            PyObject *log = PyDict_GetItemWithError(pw_dispatcher_globals, pw_key_log_exception);
            PyObject *log_args[2] = {pw_where_creation, id};
            PyObject *result = log ? pw_call_handler(log, log_args, 2) : NULL;
            if (result == NULL) pw_report_exception("proxy_on_context_create"); else Py_DECREF(result);
        } else {
            pw_report_exception("proxy_on_context_create");   /* escapes the dispatcher too */
        }
    }
    pw_remember(context_id, context);
    Py_XDECREF(context);
    Py_DECREF(root);
    Py_DECREF(id);
    return 1;
}

/* A CALLED_DIRECTLY callback of a context whose class overrides it: call its method with no
 * dispatcher frame in between, as the dispatcher would (end_of_stream as a bool, the result
 * through int(), an exception to _fail_http/_fail_tcp as the handled exception). Anything
 * unusual (no context object, a replaced dispatcher function) goes the Python way. */
static int32_t pw_call_method_in_budget(int index, const char *name, int nargs, const uint32_t *argv,
                                        uint32_t bit, const char *method, int tcp, int eos_arg);

int32_t pw_call_method(int index, const char *name, int nargs, const uint32_t *argv, uint32_t bit,
                       const char *method, int tcp, int eos_arg) {
    pw_budget_enter(name);
    int32_t result = pw_call_method_in_budget(index, name, nargs, argv, bit, method, tcp, eos_arg);
    pw_budget_leave();
    return result;
}

static int32_t pw_call_method_in_budget(int index, const char *name, int nargs, const uint32_t *argv,
                                        uint32_t bit, const char *method, int tcp, int eos_arg) {
    uint32_t slot = argv[0] & (PW_CONTEXT_SLOTS - 1);
    PyObject *context = pw_slot_context[slot] == argv[0] ? pw_slot_object[slot] : NULL;
    if (context != NULL
        && ((PyDictObject *)pw_dispatcher_globals)->ma_version_tag != pw_checked_version) {
        pw_check_intact();
    }
    if (context == NULL || !(pw_intact_mask & bit) || nargs > 4) {
        return pw_dispatch(index, name, nargs, argv);
    }
    PyObject *method_name = pw_method_names[index];
    if (method_name == NULL) {
        method_name = pw_method_names[index] = PyUnicode_InternFromString(method);
        if (method_name == NULL) { pw_print_error(); return 0; }
    }
    Py_INCREF(context);
    PyObject *args[4] = {context, NULL, NULL, NULL};
    for (int i = 1; i < nargs; i++) {
        args[i] = i == eos_arg ? PyBool_FromLong(argv[i] != 0) : PyLong_FromUnsignedLong(argv[i]);
        if (args[i] == NULL) {
            for (int j = 0; j < i; j++) Py_DECREF(args[j]);
            pw_print_error();
            return 0;
        }
    }
    PyObject *result = PyObject_VectorcallMethod(method_name, args, (size_t)nargs, NULL);
    for (int i = 1; i < nargs; i++) Py_DECREF(args[i]);
    if (result != NULL && !PyLong_Check(result)) {
        PyObject *number = PyNumber_Long(result);   /* int(result), as the dispatcher does */
        Py_DECREF(result);
        result = number;
    }
    if (result == NULL) {
        if (!pw_caught()) {
            Py_DECREF(context);
            pw_report_exception(name);   /* escapes the dispatcher too */
            return 0;
        }
        PyObject *fail = PyDict_GetItemWithError(pw_dispatcher_globals, tcp ? pw_key_fail_tcp : pw_key_fail_http);
        PyObject *id = PyLong_FromUnsignedLong(argv[0]);
        PyObject *fail_args[3] = {context, method_name, id};
        result = fail && id ? pw_call_handler(fail, fail_args, 3) : NULL;
        Py_XDECREF(id);
    }
    Py_DECREF(context);
    if (result == NULL) { pw_report_exception(name); return 0; }
    long long v = PyLong_AsLongLong(result);
    Py_DECREF(result);
    if (v == -1 && PyErr_Occurred()) { pw_report_exception(name); v = 0; }
    return (int32_t)v;
}

#ifdef PW_SNAPSHOT_BUILD
/* Frozen code of modules already imported is never read again (imports find them in
 * sys.modules): zero it, so the snapshot does not carry the same module twice, once as
 * marshalled bytes and once as live objects. Zeroed pages cost no data segment. */
static void pw_release_imported_frozen_code(void) {
    PyObject *modules = PyImport_GetModuleDict();
    for (const struct _frozen *entry = pw_frozen_modules; entry->name != NULL; entry++) {
        if (entry->size > 0 && PyDict_GetItemString(modules, entry->name) != NULL) {
            memset((void *)entry->code, 0, (size_t)entry->size);
        }
    }
}

/* The snapshotter's entry point: start Python and import the filter, then memory is saved. */
__attribute__((export_name("wizer.initialize")))
void pw_wizer_initialize(void) {
    /* Python's hash seed, every random draw and clock read during start-up come from the
     * filter's content, not from the build machine: the same filter gives the same module. */
    pw_build_seed = pw_frozen_digest;
    pw_deterministic_build = 1;
    pw_initialize();
    int started = pw_start_python();
    pw_deterministic_build = 0;
    if (!started) {
        fflush(stderr);
        __builtin_trap();
    }
    pw_release_imported_frozen_code();
    PyGC_Collect();
    pw_snapshotted = 1;
}
#endif
