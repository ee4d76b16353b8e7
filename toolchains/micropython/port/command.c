// The dev interpreter: `micropython.wasm SCRIPT [ARGS...]` (a WASI command) runs SCRIPT with the
// filter runtime's core plus the compiler, importing .py files from the directories in the
// MICROPYPATH environment variable (':'-separated, reached through WASI preopens).
// It never collects garbage: a conservative GC in Wasm cannot see pointers held in Wasm locals,
// and a script has no point where no Python frame is active. The heap (MICROPY_HEAP_MB, default
// 256) costs only the pages a script touches.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "py/builtin.h"
#include "py/compile.h"
#include "py/gc.h"
#include "py/lexer.h"
#include "py/mperrno.h"
#include "py/nlr.h"
#include "py/objstr.h"
#include "py/runtime.h"
#include "py/stackctrl.h"

enum { PYTHON_STACK_LIMIT = 900 * 1024 };

static void write_all(int fd, const char *str, size_t len) {
    while (len > 0) {
        ssize_t written = write(fd, str, len);
        if (written <= 0) {
            return;
        }
        str += written;
        len -= (size_t)written;
    }
}

void mp_proxywasm_print_strn(const char *str, size_t len) {
    write_all(1, str, len);
}

void mp_hal_stdout_tx_strn_cooked(const char *str, size_t len) {
    write_all(1, str, len);
}

void mp_hal_stdout_tx_strn(const char *str, size_t len) {
    write_all(1, str, len);
}

static void stderr_print_strn(void *env, const char *str, size_t len) {
    (void)env;
    write_all(2, str, len);
}
static const mp_print_t stderr_print = {NULL, stderr_print_strn};

void gc_collect(void) {
    // See the top of this file: no collection while a script runs.
}

mp_import_stat_t mp_import_stat(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0) {
        return S_ISDIR(st.st_mode) ? MP_IMPORT_STAT_DIR : MP_IMPORT_STAT_FILE;
    }
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
    static const char message[] = "micropython: uncaught NLR jump\n";
    write_all(2, message, sizeof message - 1);
    abort();
}

void NORETURN __fatal_error(const char *message) {
    write_all(2, message, strlen(message));
    abort();
}

// Runs the script; returns the process exit status (SystemExit's code, 1 for an exception).
static int run_script(const char *path) {
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_lexer_t *lexer = mp_lexer_new_from_file(path);
        qstr source_name = lexer->source_name;
        mp_store_global(MP_QSTR___file__, MP_OBJ_NEW_QSTR(source_name));
        mp_parse_tree_t tree = mp_parse(lexer, MP_PARSE_FILE_INPUT);
        mp_obj_t module_fun = mp_compile(&tree, source_name, false);
        mp_call_function_0(module_fun);
        nlr_pop();
        return 0;
    }
    mp_obj_t exc = MP_OBJ_FROM_PTR(nlr.ret_val);
    if (mp_obj_is_subclass_fast(MP_OBJ_FROM_PTR(mp_obj_get_type(exc)), MP_OBJ_FROM_PTR(&mp_type_SystemExit))) {
        mp_obj_t code = mp_obj_exception_get_value(exc);
        if (code == mp_const_none) {
            return 0;
        }
        if (mp_obj_is_int(code)) {
            return mp_obj_get_int(code) & 0xff;
        }
        mp_obj_print_helper(&stderr_print, code, PRINT_STR);
        mp_print_str(&stderr_print, "\n");
        return 1;
    }
    mp_obj_print_exception(&stderr_print, exc);
    return 1;
}

static void add_search_path(const char *paths) {
    while (paths && *paths) {
        const char *end = strchr(paths, ':');
        size_t len = end ? (size_t)(end - paths) : strlen(paths);
        if (len > 0) {
            mp_obj_list_append(mp_sys_path, mp_obj_new_str(paths, len));
        }
        paths = end ? end + 1 : NULL;
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        static const char usage[] = "usage: micropython.wasm SCRIPT [ARGS...]\n";
        write_all(2, usage, sizeof usage - 1);
        return 2;
    }
    mp_stack_ctrl_init();
    mp_stack_set_limit(PYTHON_STACK_LIMIT);
    const char *heap_mb = getenv("MICROPY_HEAP_MB");
    size_t heap_size = (size_t)(heap_mb ? atoi(heap_mb) : 256) * 1024 * 1024;
    char *heap = malloc(heap_size);
    if (heap == NULL) {
        static const char message[] = "micropython: cannot allocate the heap\n";
        write_all(2, message, sizeof message - 1);
        return 1;
    }
    gc_init(heap, heap + heap_size);
    mp_init();
    // sys.path: the script's directory, then MICROPYPATH.
    mp_obj_list_init(MP_OBJ_TO_PTR(mp_sys_path), 0);
    const char *slash = strrchr(argv[1], '/');
    mp_obj_list_append(mp_sys_path, slash ? mp_obj_new_str(argv[1], slash - argv[1]) : MP_OBJ_NEW_QSTR(MP_QSTR_));
    add_search_path(getenv("MICROPYPATH"));
    for (int i = 1; i < argc; i++) {
        mp_obj_list_append(mp_sys_argv, mp_obj_new_str(argv[i], strlen(argv[i])));
    }
    int status = run_script(argv[1]);
    mp_deinit();
    return status;
}
