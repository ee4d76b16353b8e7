/* WASI functions defined inside the module, so that it imports only what Envoy implements.
 *
 * wasi-libc calls `__imported_wasi_snapshot_preview1_<name>`; a definition here replaces the
 * import. Envoy fails path_open/fd_read/fd_prestat_get, answers EBADF to fd_filestat_get even for
 * stdio (CPython's start-up aborts on that), and declares path_link with the wrong arity, so:
 * fds 0-2 are character devices, there are no preopens (no files), stdin reads EOF, the
 * environment and argv are empty, sockets and paths fail cleanly. Left as real imports:
 * fd_write, fd_close, clock_time_get, clock_res_get, random_get.
 * Signatures must match wasi-libc's declarations exactly (wasm-ld checks them).
 *
 * While the build snapshots the module (pw_deterministic_build set by runtime.c), randomness
 * and the clocks are replaced by fixed values, so building the same filter twice gives the
 * same bytes. The host's real functions serve every call after that.
 */
#include <stdint.h>
#include <string.h>

#define WASI_ESUCCESS 0
#define WASI_EBADF 8
#define WASI_EINVAL 28
#define WASI_ENOSYS 52
#define WASI_ENOTCAPABLE 76
#define WASI_ESPIPE 70
#define WASI_FILETYPE_CHARACTER_DEVICE 2

#define SHIM(name) __imported_wasi_snapshot_preview1_##name
#define HOST(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(#name)))

HOST(random_get) int32_t pw_host_random_get(int32_t buf, int32_t len);
HOST(clock_time_get) int32_t pw_host_clock_time_get(int32_t id, int64_t precision, int32_t out);

int pw_deterministic_build;
uint64_t pw_build_seed;

/* splitmix64: a fixed stream of bytes from the build's seed. */
static uint64_t pw_next_random(void) {
    uint64_t z = (pw_build_seed += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

int32_t SHIM(random_get)(int32_t buf, int32_t len) {
    if (!pw_deterministic_build) return pw_host_random_get(buf, len);
    uint8_t *out = (uint8_t *)buf;
    for (int32_t i = 0; i < len; i += 8) {
        uint64_t value = pw_next_random();
        memcpy(out + i, &value, (size_t)(len - i < 8 ? len - i : 8));
    }
    return WASI_ESUCCESS;
}

int32_t SHIM(clock_time_get)(int32_t id, int64_t precision, int32_t out) {
    if (!pw_deterministic_build) return pw_host_clock_time_get(id, precision, out);
    *(uint64_t *)out = 0;
    return WASI_ESUCCESS;
}
#define IS_STDIO(fd) ((fd) >= 0 && (fd) <= 2)

int32_t SHIM(args_get)(int32_t argv, int32_t argv_buf) { return WASI_ESUCCESS; }
int32_t SHIM(args_sizes_get)(int32_t count, int32_t size) {
    *(uint32_t *)count = 0;
    *(uint32_t *)size = 0;
    return WASI_ESUCCESS;
}
int32_t SHIM(environ_get)(int32_t environ, int32_t environ_buf) { return WASI_ESUCCESS; }
int32_t SHIM(environ_sizes_get)(int32_t count, int32_t size) {
    *(uint32_t *)count = 0;
    *(uint32_t *)size = 0;
    return WASI_ESUCCESS;
}

/* fdstat: u8 filetype, u16 flags, u64 rights_base, u64 rights_inheriting (24 bytes). */
int32_t SHIM(fd_fdstat_get)(int32_t fd, int32_t out) {
    if (!IS_STDIO(fd)) return WASI_EBADF;
    uint8_t *p = (uint8_t *)out;
    memset(p, 0, 24);
    p[0] = WASI_FILETYPE_CHARACTER_DEVICE;
    uint64_t rights = fd == 0 ? 0x2 /* fd_read */ : 0x40 /* fd_write */;
    memcpy(p + 8, &rights, 8);
    return WASI_ESUCCESS;
}
/* filestat: dev u64, ino u64, filetype u8 (@16), nlink u64 (@24), size, atim, mtim, ctim (64 bytes). */
int32_t SHIM(fd_filestat_get)(int32_t fd, int32_t out) {
    if (!IS_STDIO(fd)) return WASI_EBADF;
    uint8_t *p = (uint8_t *)out;
    memset(p, 0, 64);
    p[16] = WASI_FILETYPE_CHARACTER_DEVICE;
    uint64_t nlink = 1;
    memcpy(p + 24, &nlink, 8);
    return WASI_ESUCCESS;
}
int32_t SHIM(fd_fdstat_set_flags)(int32_t fd, int32_t flags) { return IS_STDIO(fd) ? WASI_ENOTCAPABLE : WASI_EBADF; }
int32_t SHIM(fd_fdstat_set_rights)(int32_t fd, int64_t base, int64_t inheriting) { return WASI_EBADF; }
int32_t SHIM(fd_prestat_get)(int32_t fd, int32_t out) { return WASI_EBADF; }
int32_t SHIM(fd_prestat_dir_name)(int32_t fd, int32_t path, int32_t len) { return WASI_EBADF; }
int32_t SHIM(fd_read)(int32_t fd, int32_t iovs, int32_t iovs_len, int32_t nread) {
    if (fd != 0) return WASI_EBADF;
    *(uint32_t *)nread = 0;
    return WASI_ESUCCESS;
}
int32_t SHIM(fd_pread)(int32_t fd, int32_t iovs, int32_t iovs_len, int64_t offset, int32_t nread) { return IS_STDIO(fd) ? WASI_ESPIPE : WASI_EBADF; }
int32_t SHIM(fd_pwrite)(int32_t fd, int32_t iovs, int32_t iovs_len, int64_t offset, int32_t nwritten) { return IS_STDIO(fd) ? WASI_ESPIPE : WASI_EBADF; }
int32_t SHIM(fd_seek)(int32_t fd, int64_t offset, int32_t whence, int32_t newoffset) { return IS_STDIO(fd) ? WASI_ESPIPE : WASI_EBADF; }
int32_t SHIM(fd_tell)(int32_t fd, int32_t offset) { return IS_STDIO(fd) ? WASI_ESPIPE : WASI_EBADF; }
int32_t SHIM(fd_sync)(int32_t fd) { return IS_STDIO(fd) ? WASI_EINVAL : WASI_EBADF; }
int32_t SHIM(fd_datasync)(int32_t fd) { return IS_STDIO(fd) ? WASI_EINVAL : WASI_EBADF; }
int32_t SHIM(fd_advise)(int32_t fd, int64_t offset, int64_t len, int32_t advice) { return WASI_EBADF; }
int32_t SHIM(fd_allocate)(int32_t fd, int64_t offset, int64_t len) { return WASI_EBADF; }
int32_t SHIM(fd_filestat_set_size)(int32_t fd, int64_t size) { return WASI_EBADF; }
int32_t SHIM(fd_filestat_set_times)(int32_t fd, int64_t atim, int64_t mtim, int32_t flags) { return WASI_EBADF; }
int32_t SHIM(fd_readdir)(int32_t fd, int32_t buf, int32_t len, int64_t cookie, int32_t used) { return WASI_EBADF; }
int32_t SHIM(fd_renumber)(int32_t fd, int32_t to) { return WASI_EBADF; }

int32_t SHIM(path_create_directory)(int32_t fd, int32_t path, int32_t len) { return WASI_EBADF; }
int32_t SHIM(path_filestat_get)(int32_t fd, int32_t flags, int32_t path, int32_t len, int32_t out) { return WASI_EBADF; }
int32_t SHIM(path_filestat_set_times)(int32_t fd, int32_t flags, int32_t path, int32_t len, int64_t atim, int64_t mtim, int32_t fst) { return WASI_EBADF; }
int32_t SHIM(path_link)(int32_t fd, int32_t flags, int32_t path, int32_t len, int32_t fd2, int32_t path2, int32_t len2) { return WASI_EBADF; }
int32_t SHIM(path_open)(int32_t fd, int32_t dirflags, int32_t path, int32_t len, int32_t oflags, int64_t base, int64_t inheriting, int32_t fdflags, int32_t out) { return WASI_EBADF; }
int32_t SHIM(path_readlink)(int32_t fd, int32_t path, int32_t len, int32_t buf, int32_t buf_len, int32_t used) { return WASI_EBADF; }
int32_t SHIM(path_remove_directory)(int32_t fd, int32_t path, int32_t len) { return WASI_EBADF; }
int32_t SHIM(path_rename)(int32_t fd, int32_t path, int32_t len, int32_t fd2, int32_t path2, int32_t len2) { return WASI_EBADF; }
int32_t SHIM(path_symlink)(int32_t path, int32_t len, int32_t fd, int32_t path2, int32_t len2) { return WASI_EBADF; }
int32_t SHIM(path_unlink_file)(int32_t fd, int32_t path, int32_t len) { return WASI_EBADF; }

int32_t SHIM(poll_oneoff)(int32_t in, int32_t out, int32_t n, int32_t nevents) { return WASI_ENOSYS; }
int32_t SHIM(sched_yield)(void) { return WASI_ESUCCESS; }
_Noreturn void SHIM(proc_exit)(int32_t code) { __builtin_trap(); }

int32_t SHIM(sock_accept)(int32_t fd, int32_t flags, int32_t out) { return WASI_ENOSYS; }
int32_t SHIM(sock_recv)(int32_t fd, int32_t iovs, int32_t iovs_len, int32_t flags, int32_t nread, int32_t oflags) { return WASI_ENOSYS; }
int32_t SHIM(sock_send)(int32_t fd, int32_t iovs, int32_t iovs_len, int32_t flags, int32_t nwritten) { return WASI_ENOSYS; }
int32_t SHIM(sock_shutdown)(int32_t fd, int32_t how) { return WASI_ENOSYS; }
