// MicroPython 1.19 for Proxy-Wasm (wasm32-wasi, zig cc). Two builds share this file:
// - the filter runtime (a reactor): no compiler, the SDK, stdlib shims and filter frozen as
//   bytecode, `_proxywasm_host` and `_proxywasm_runtime` builtin;
// - the dev interpreter (PROXYWASM_MP_COMMAND, a WASI command): the same core with the compiler,
//   importing .py files through WASI.
// Both start from the "extra features" level (CPython-compatible builtins) and leave out what a
// filter cannot use (REPL, input, native emitters, extmod modules, which the sdist lacks).
#include <stdint.h>
#include <alloca.h>

#define MICROPY_CONFIG_ROM_LEVEL (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)

#if PROXYWASM_MP_COMMAND
#define MICROPY_ENABLE_COMPILER (1)
#define MICROPY_READER_POSIX (1)
#define MICROPY_MODULE_FROZEN_MPY (0)
#define MICROPY_PY_SYS_ARGV (1)
#else
#define MICROPY_ENABLE_COMPILER (0)
#define MICROPY_READER_POSIX (0)
#define MICROPY_MODULE_FROZEN_MPY (1)
#define MICROPY_QSTR_EXTRA_POOL (mp_qstr_frozen_const_pool)
#define MICROPY_PY_SYS_ARGV (0)
#endif
#define MICROPY_PERSISTENT_CODE_LOAD (0)
#define MICROPY_ENABLE_EXTERNAL_IMPORT (1)
#define MICROPY_ALLOC_PATH_MAX (256)

#define MICROPY_ENABLE_GC (1)
#define MICROPY_NLR_SETJMP (1)
#define MICROPY_STACK_CHECK (1)
#define MICROPY_ENABLE_FINALISER (0)
// The mark stack: with the default 64 entries the SDK's object graph overflows it and each
// collection rescans the whole heap for marked blocks (a collection cost ~4.6 million wasm
// instructions instead of ~2.5 million with 1024; 4 KB).
#define MICROPY_ALLOC_GC_STACK_SIZE (1024)
#define MICROPY_FLOAT_IMPL (MICROPY_FLOAT_IMPL_DOUBLE)
#define MICROPY_LONGINT_IMPL (MICROPY_LONGINT_IMPL_MPZ)
#define MICROPY_ERROR_REPORTING (MICROPY_ERROR_REPORTING_DETAILED)
#define MICROPY_ENABLE_SOURCE_LINE (1)
#define MICROPY_PY_FSTRINGS (1)
#define MICROPY_USE_INTERNAL_PRINTF (0)
#define MICROPY_MODULE_WEAK_LINKS (1)
#define MICROPY_CAN_OVERRIDE_BUILTINS (1)

// Builtins beyond the level's defaults that CPython code expects. sys.stdout and sys.stderr
// (shared/runtime/sys_stdio_mphal.c) write where print() does, so print(..., file=sys.stderr)
// and print(..., file=io.StringIO()) work.
#define MICROPY_PY_SYS_STDFILES (1)
#define MICROPY_PY_SYS_EXC_INFO (1)
#define MICROPY_PY_BUILTINS_NEXT2 (1)
#define MICROPY_PY_BUILTINS_RANGE_BINOP (1)
#define MICROPY_PY_COLLECTIONS_NAMEDTUPLE__ASDICT (1)
#define MICROPY_PY_SYS_PLATFORM "proxy-wasm"

// What a filter cannot use.
#define MICROPY_HELPER_REPL (0)
#define MICROPY_KBD_EXCEPTION (0)
#define MICROPY_ENABLE_SCHEDULER (0)
#define MICROPY_PY_BUILTINS_INPUT (0)
#define MICROPY_PY_BUILTINS_HELP (0)
#define MICROPY_PY_CMATH (0)
#define MICROPY_PY_BUILTINS_COMPLEX (0)
#define MICROPY_PY_MATH_SPECIAL_FUNCTIONS (0)
#define MICROPY_PY_MICROPYTHON_MEM_INFO (0)
#define MICROPY_PY_IO_IOBASE (0)
#define MICROPY_PY_IO_FILEIO (0)
#define MICROPY_PY_SYS_STDIO_BUFFER (0)
#define MICROPY_PY_SYS_PS1_PS2 (0)
#define MICROPY_PY_SYS_ATEXIT (0)
#define MICROPY_PY_THREAD (0)
// extmod/ is not in the sdist: its modules stay off (the stdlib shims stand in for them).
#define MICROPY_PY_USELECT (0)
#define MICROPY_PY_UASYNCIO (0)
#define MICROPY_PY_UCTYPES (0)
#define MICROPY_PY_UZLIB (0)
#define MICROPY_PY_UJSON (0)
#define MICROPY_PY_UOS (0)
#define MICROPY_PY_URE (0)
#define MICROPY_PY_UHEAPQ (0)
#define MICROPY_PY_UHASHLIB (0)
#define MICROPY_PY_UBINASCII (0)
#define MICROPY_PY_URANDOM (0)
#define MICROPY_PY_FRAMEBUF (0)
#define MICROPY_PY_UTIME_MP_HAL (0)

// The callback budget (reactor.c): each jump in the bytecode loop counts down, and only a
// callback that made PW_BUDGET_POLL_EVERY of them reads the clock; a spent budget raises
// CallbackBudgetExceeded as a pending exception, right after this hook.
#if !PROXYWASM_MP_COMMAND
extern int32_t pw_budget_countdown;
void pw_budget_poll(void);
#define MICROPY_VM_HOOK_LOOP if (--pw_budget_countdown < 0) { pw_budget_poll(); }
#endif

#define MICROPY_HW_BOARD_NAME "proxy-wasm"
#define MICROPY_HW_MCU_NAME "wasm32"
#define MICROPY_BANNER_MACHINE "proxy-wasm with wasm32"

typedef int32_t mp_int_t;
typedef uint32_t mp_uint_t;
typedef long mp_off_t;

#define MP_SSIZE_MAX (0x7fffffff)
#define MP_ENDIANNESS_LITTLE (1)

// print() and error output: the reactor logs them through proxy_log, the command writes stdout.
void mp_proxywasm_print_strn(const char *str, size_t len);
#define MP_PLAT_PRINT_STRN(str, len) mp_proxywasm_print_strn(str, len)

// A str made at run time is not looked up among the interned strings: that scans every qstr,
// the frozen modules' thousands included (patches.py).
#define MICROPY_PW_INTERN_NEW_STRS (0)

#define MP_STATE_PORT MP_STATE_VM
// The reactor's references from C: proxywasm.dispatcher and its callback functions, and what
// answers callbacks without the dispatcher (reactor.c): live context objects by slot, the
// dispatcher functions it stands in for, the context classes whose masks it knows.
#define MICROPY_PORT_ROOT_POINTERS \
    mp_obj_t proxywasm_dispatcher_module; \
    mp_obj_t proxywasm_dispatcher_functions[PROXYWASM_MP_CALLBACK_SLOTS]; \
    mp_obj_t proxywasm_context_objects[PROXYWASM_MP_CONTEXT_SLOTS]; \
    mp_obj_t proxywasm_answered_functions[PROXYWASM_MP_ANSWERED_BITS]; \
    mp_obj_t proxywasm_mask_classes[PROXYWASM_MP_MASK_CLASSES];

#define PROXYWASM_MP_CALLBACK_SLOTS (32)
#define PROXYWASM_MP_CONTEXT_SLOTS (64)
#define PROXYWASM_MP_ANSWERED_BITS (32)
#define PROXYWASM_MP_MASK_CLASSES (16)
