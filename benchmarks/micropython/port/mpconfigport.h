// MicroPython 1.19 port for a Proxy-Wasm module (wasm32-wasi, zig cc): core features, the
// compiler on (source text runs at VM start), float on, no native emitters or inline asm,
// a GC over a static heap, NLR through setjmp/longjmp lowered to Wasm exception handling.
#include <stdint.h>
#include <alloca.h>

#define MICROPY_CONFIG_ROM_LEVEL (MICROPY_CONFIG_ROM_LEVEL_CORE_FEATURES)

#define MICROPY_ENABLE_COMPILER (1)
#define MICROPY_ENABLE_GC (1)
#define MICROPY_NLR_SETJMP (1)
#define MICROPY_STACK_CHECK (1)
#define MICROPY_ALLOC_PATH_MAX (256)
// Imports go through the file-search path (mp_import_stat finds no files), whose weak links work
// in 1.19; its no-external-import path passes an object to strcpy.
#define MICROPY_ENABLE_EXTERNAL_IMPORT (1)
#define MICROPY_READER_POSIX (0)
#define MICROPY_HELPER_REPL (0)
#define MICROPY_FLOAT_IMPL (MICROPY_FLOAT_IMPL_DOUBLE)
#define MICROPY_LONGINT_IMPL (MICROPY_LONGINT_IMPL_MPZ)
#define MICROPY_ERROR_REPORTING (MICROPY_ERROR_REPORTING_NORMAL)
#define MICROPY_PY_BUILTINS_STR_UNICODE (1)
#define MICROPY_PY_IO (0)
#define MICROPY_PY_SYS_STDFILES (0)
#define MICROPY_MODULE_FROZEN_MPY (0)
#define MICROPY_PERSISTENT_CODE_LOAD (0)
#define MICROPY_USE_INTERNAL_PRINTF (0)
#define MICROPY_ENABLE_SOURCE_LINE (1)
// `import sys` finds the core's `usys` (and `struct`, `collections`... their u-names).
#define MICROPY_MODULE_WEAK_LINKS (1)

#define MICROPY_HW_BOARD_NAME "proxy-wasm"
#define MICROPY_HW_MCU_NAME "wasm32"
#define MICROPY_BANNER_MACHINE "proxy-wasm with wasm32"

typedef int32_t mp_int_t;
typedef uint32_t mp_uint_t;
typedef long mp_off_t;

#define MP_SSIZE_MAX (0x7fffffff)
#define MP_ENDIANNESS_LITTLE (1)

// print() and error output go to Envoy's log through proxy_log (main.c).
void mp_proxywasm_print_strn(const char *str, size_t len);
#define MP_PLAT_PRINT_STRN(str, len) mp_proxywasm_print_strn(str, len)

#define MP_STATE_PORT MP_STATE_VM
#define MICROPY_PORT_ROOT_POINTERS
