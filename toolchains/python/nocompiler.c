/* A module without CPython's parser and compiler (about 0.5 MB of wasm code, ~22% of the
 * interpreter), linked against libpython3.11.a minus its Parser/ and compile objects.
 *
 * Filters run frozen bytecode, so the compiler is only reached by compile()/exec()/eval() of
 * source text. The build records the source texts the filter's import compiles (namedtuple's
 * eval of a lambda, for one) by importing it on the build machine, compiles them there, and
 * embeds the code objects (`pw_source_cache`, generated). Here `_PyParser_ASTFromString` looks
 * the text up and hands back a token that `_PyAST_Compile` turns into the cached code object;
 * any other text raises RuntimeError. A miss while the filter is imported inside the module
 * makes the build link the full interpreter instead (PW_NO_COMPILER_MARKER in the message).
 *
 * The rest defines what the kept objects still reference from the removed ones: the opcode
 * tables (compile.o defines them in 3.11), name mangling (typeobject's __slots__), the
 * symtable entry type (object.c readies every static type), traceback's caret helpers.
 */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <marshal.h>
#include "internal/pycore_ast.h"
#include "internal/pycore_compile.h"
#include "internal/pycore_parser.h"
#include "internal/pycore_symtable.h"
#define NEED_OPCODE_TABLES
#include "internal/pycore_opcode.h"

struct pw_source_entry {
    int mode;                       /* Py_file_input, Py_eval_input, Py_single_input */
    const char *source;
    Py_ssize_t source_size;
    const unsigned char *code;      /* marshalled code object */
    Py_ssize_t code_size;
};
extern const struct pw_source_entry pw_source_cache[];
extern const int pw_source_cache_count;

#define PW_NO_COMPILER_MARKER "this module was built without Python's compiler"

/* What _PyParser_ASTFromString returns for a cached text: never dereferenced as an AST. */
struct pw_cached_mod { int magic; int index; };
#define PW_CACHED_MOD_MAGIC 0x70776331

static void pw_no_compiler(const char *what) {
    PyErr_Format(PyExc_RuntimeError,
                 "%s: %s, so compile(), exec() and eval() accept only the source texts the "
                 "filter's import compiled at build time (pass code objects or functions instead)",
                 what, PW_NO_COMPILER_MARKER);
}

mod_ty _PyParser_ASTFromString(const char *str, PyObject *filename, int mode,
                               PyCompilerFlags *flags, PyArena *arena) {
    (void)filename; (void)flags;
    Py_ssize_t size = (Py_ssize_t)strlen(str);
    for (int i = 0; i < pw_source_cache_count; i++) {
        const struct pw_source_entry *e = &pw_source_cache[i];
        if (e->mode == mode && e->source_size == size && memcmp(e->source, str, size) == 0) {
            struct pw_cached_mod *mod = _PyArena_Malloc(arena, sizeof(struct pw_cached_mod));
            if (mod == NULL) return NULL;
            mod->magic = PW_CACHED_MOD_MAGIC;
            mod->index = i;
            return (mod_ty)mod;
        }
    }
    PyErr_Format(PyExc_RuntimeError,
                 "compiling source text not seen at build time (%.60s): %s, so compile(), "
                 "exec() and eval() accept only the source texts the filter's import compiled at "
                 "build time (pass code objects or functions instead)", str, PW_NO_COMPILER_MARKER);
    return NULL;
}

PyCodeObject *_PyAST_Compile(mod_ty mod, PyObject *filename, PyCompilerFlags *flags,
                             int optimize, PyArena *arena) {
    (void)filename; (void)flags; (void)optimize; (void)arena;
    struct pw_cached_mod *cached = (struct pw_cached_mod *)mod;
    if (cached == NULL || cached->magic != PW_CACHED_MOD_MAGIC) {
        pw_no_compiler("compiling an AST");
        return NULL;
    }
    const struct pw_source_entry *e = &pw_source_cache[cached->index];
    PyObject *code = PyMarshal_ReadObjectFromString((const char *)e->code, e->code_size);
    if (code != NULL && !PyCode_Check(code)) {
        Py_DECREF(code);
        PyErr_SetString(PyExc_SystemError, "proxywasm: a cached source text is not a code object");
        return NULL;
    }
    return (PyCodeObject *)code;
}

int PyAST_Check(PyObject *obj) { (void)obj; return 0; }   /* no `_ast` module: nothing is an AST */

PyObject *PyAST_mod2obj(mod_ty t) {
    (void)t;
    pw_no_compiler("compile(..., ast.PyCF_ONLY_AST)");
    return NULL;
}

mod_ty PyAST_obj2mod(PyObject *ast, PyArena *arena, int mode) {
    (void)ast; (void)arena; (void)mode;
    pw_no_compiler("compiling an AST");
    return NULL;
}

int _PyAST_Validate(mod_ty mod) { (void)mod; return 1; }

int _PyAST_Optimize(mod_ty mod, PyArena *arena, _PyASTOptimizeState *state) {
    (void)mod; (void)arena; (void)state;
    return 1;
}

void _PyAST_Fini(PyInterpreterState *interp) { (void)interp; }

int PyCompile_OpcodeStackEffectWithJump(int opcode, int oparg, int jump) {
    (void)opcode; (void)oparg; (void)jump;
    return PY_INVALID_STACK_EFFECT;      /* dis.stack_effect raises ValueError */
}

int PyCompile_OpcodeStackEffect(int opcode, int oparg) {
    return PyCompile_OpcodeStackEffectWithJump(opcode, oparg, -1);
}

/* `__spam` inside class Ham becomes `_Ham__spam` (typeobject.c mangles __slots__ names). */
PyObject *_Py_Mangle(PyObject *privateobj, PyObject *ident) {
    if (privateobj == NULL || !PyUnicode_Check(privateobj) || !PyUnicode_Check(ident)
            || PyUnicode_READ_CHAR(ident, 0) != '_' || PyUnicode_GET_LENGTH(ident) < 2
            || PyUnicode_READ_CHAR(ident, 1) != '_') {
        Py_INCREF(ident);
        return ident;
    }
    Py_ssize_t nlen = PyUnicode_GET_LENGTH(ident);
    Py_ssize_t plen = PyUnicode_GET_LENGTH(privateobj);
    /* dunder names and dotted names (import targets) stay as they are */
    if ((PyUnicode_READ_CHAR(ident, nlen - 1) == '_' && PyUnicode_READ_CHAR(ident, nlen - 2) == '_')
            || PyUnicode_FindChar(ident, '.', 0, nlen, 1) != -1) {
        Py_INCREF(ident);
        return ident;
    }
    Py_ssize_t start = 0;
    while (start < plen && PyUnicode_READ_CHAR(privateobj, start) == '_') start++;
    if (start == plen) {                 /* a class named only with underscores */
        Py_INCREF(ident);
        return ident;
    }
    PyObject *stripped = PyUnicode_Substring(privateobj, start, plen);
    if (stripped == NULL) return NULL;
    PyObject *result = PyUnicode_FromFormat("_%U%U", stripped, ident);
    Py_DECREF(stripped);
    return result;
}

PyTypeObject PySTEntry_Type = {
    PyVarObject_HEAD_INIT(&PyType_Type, 0)
    .tp_name = "symtable entry",
    .tp_basicsize = sizeof(PyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
};

char *PyOS_Readline(FILE *sys_stdin, FILE *sys_stdout, const char *prompt) {
    (void)sys_stdin; (void)sys_stdout; (void)prompt;
    PyErr_SetString(PyExc_EOFError, "a Proxy-Wasm filter has no terminal");
    return NULL;
}

/* traceback.c: carets under the failing expression; the tokenizer's encoding probe. */
Py_ssize_t _PyPegen_byte_offset_to_character_offset(PyObject *line, Py_ssize_t col_offset) {
    Py_ssize_t size;
    const char *text = PyUnicode_AsUTF8AndSize(line, &size);
    if (text == NULL) return -1;
    if (col_offset > size + 1) col_offset = size + 1;
    PyObject *prefix = PyUnicode_DecodeUTF8(text, col_offset > size ? size : col_offset, "replace");
    if (prefix == NULL) return -1;
    Py_ssize_t length = PyUnicode_GET_LENGTH(prefix);
    Py_DECREF(prefix);
    return length;
}

Py_ssize_t _PyPegen_calculate_display_width(PyObject *segment, Py_ssize_t character_offset) {
    (void)segment;
    return character_offset;             /* no East Asian width table: one column per character */
}

char *_PyTokenizer_FindEncodingFilename(int fd, PyObject *filename) {
    (void)fd; (void)filename;
    return NULL;                          /* traceback.c then reads the file as UTF-8 */
}
