/* Calls every WASI function Envoy registers, the way a module would, from proxy_on_vm_start,
 * and logs "PROBE <name> rc=<errno>" for each: tests/test_validate.py checks the results
 * against proxywasm.abi.ENVOY_WASI_WORKING and validate.ENVOY_WASI_FAILURES. Labels with a
 * parenthesis are extra cases (another fd, another clock, too many random bytes). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#define W(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(#name)))
#define E(name) __attribute__((export_name(#name)))
__attribute__((import_module("env"), import_name("proxy_log"))) int32_t proxy_log(int32_t, const char*, int32_t);
W(fd_write) int32_t w_fd_write(int32_t, void*, int32_t, void*);
W(fd_read) int32_t w_fd_read(int32_t, void*, int32_t, void*);
W(fd_seek) int32_t w_fd_seek(int32_t, int64_t, int32_t, void*);
W(fd_close) int32_t w_fd_close(int32_t);
W(fd_fdstat_get) int32_t w_fd_fdstat_get(int32_t, void*);
W(fd_fdstat_set_flags) int32_t w_fd_fdstat_set_flags(int32_t, int32_t);
W(fd_prestat_get) int32_t w_fd_prestat_get(int32_t, void*);
W(fd_prestat_dir_name) int32_t w_fd_prestat_dir_name(int32_t, void*, int32_t);
W(fd_filestat_get) int32_t w_fd_filestat_get(int32_t, void*);
W(fd_readdir) int32_t w_fd_readdir(int32_t, void*, int32_t, int64_t, void*);
W(fd_sync) int32_t w_fd_sync(int32_t);
W(fd_datasync) int32_t w_fd_datasync(int32_t);
W(fd_tell) int32_t w_fd_tell(int32_t, void*);
W(fd_renumber) int32_t w_fd_renumber(int32_t, int32_t);
W(fd_advise) int32_t w_fd_advise(int32_t, int64_t, int64_t, int32_t);
W(fd_allocate) int32_t w_fd_allocate(int32_t, int64_t, int64_t);
W(fd_fdstat_set_rights) int32_t w_fd_fdstat_set_rights(int32_t, int64_t, int64_t);
W(fd_filestat_set_size) int32_t w_fd_filestat_set_size(int32_t, int64_t);
W(fd_filestat_set_times) int32_t w_fd_filestat_set_times(int32_t, int64_t, int64_t, int32_t);
W(fd_pread) int32_t w_fd_pread(int32_t, void*, int32_t, int64_t, void*);
W(fd_pwrite) int32_t w_fd_pwrite(int32_t, void*, int32_t, int64_t, void*);
W(path_open) int32_t w_path_open(int32_t, int32_t, const char*, int32_t, int32_t, int64_t, int64_t, int32_t, void*);
W(path_create_directory) int32_t w_path_create_directory(int32_t, const char*, int32_t);
W(path_filestat_get) int32_t w_path_filestat_get(int32_t, int32_t, const char*, int32_t, void*);
W(path_filestat_set_times) int32_t w_path_filestat_set_times(int32_t, int32_t, const char*, int32_t, int64_t, int64_t, int32_t);
W(path_link) int32_t w_path_link(int32_t, int32_t, const char*, int32_t, const char*, int32_t);
W(path_readlink) int32_t w_path_readlink(int32_t, const char*, int32_t, void*, int32_t, void*);
W(path_remove_directory) int32_t w_path_remove_directory(int32_t, const char*, int32_t);
W(path_rename) int32_t w_path_rename(int32_t, const char*, int32_t, int32_t, const char*, int32_t);
W(path_symlink) int32_t w_path_symlink(const char*, int32_t, int32_t, const char*);
W(path_unlink_file) int32_t w_path_unlink_file(int32_t, const char*, int32_t);
W(sock_accept) int32_t w_sock_accept(int32_t, int32_t, void*);
W(sock_recv) int32_t w_sock_recv(int32_t, void*, int32_t, int32_t, void*, void*);
W(sock_send) int32_t w_sock_send(int32_t, void*, int32_t, int32_t, void*);
W(sock_shutdown) int32_t w_sock_shutdown(int32_t, int32_t);
W(environ_get) int32_t w_environ_get(void*, void*);
W(environ_sizes_get) int32_t w_environ_sizes_get(void*, void*);
W(args_get) int32_t w_args_get(void*, void*);
W(args_sizes_get) int32_t w_args_sizes_get(void*, void*);
W(clock_time_get) int32_t w_clock_time_get(int32_t, int64_t, void*);
W(clock_res_get) int32_t w_clock_res_get(int32_t, void*);
W(random_get) int32_t w_random_get(void*, int32_t);
W(sched_yield) int32_t w_sched_yield(void);
W(poll_oneoff) int32_t w_poll_oneoff(void*, void*, int32_t, void*);

static char line[256];
static void report(const char* what, int32_t rc) {
  int n = snprintf(line, sizeof line, "PROBE %s rc=%d", what, rc);
  proxy_log(2, line, n);
}
static uint8_t buf[80000];
static uint64_t u64; static uint32_t u32a, u32b;
E(proxy_abi_version_0_2_1) void marker(void) {}
E(malloc) void* my_malloc(int32_t n) { return malloc(n); }
E(proxy_on_context_create) void occ(int32_t a, int32_t b) {}
E(proxy_on_vm_start) int32_t vm_start(int32_t a, int32_t b) {
  struct { void* p; uint32_t n; } iov = { "hello-from-fd-write", 19 };
  report("fd_write", w_fd_write(1, &iov, 1, &u32a));
  report("fd_write(2)", w_fd_write(2, &iov, 1, &u32a));
  report("fd_write(5)", w_fd_write(5, &iov, 1, &u32a));
  struct { void* p; uint32_t n; } riov = { buf, 10 };
  report("fd_read", w_fd_read(0, &riov, 1, &u32a));
  report("fd_seek", w_fd_seek(1, 0, 0, &u64));
  report("fd_close", w_fd_close(5));
  report("fd_fdstat_get", w_fd_fdstat_get(1, buf));
  report("fd_fdstat_get(0)", w_fd_fdstat_get(0, buf));
  report("fd_fdstat_set_flags", w_fd_fdstat_set_flags(1, 0));
  report("fd_prestat_get", w_fd_prestat_get(3, buf));
  report("fd_prestat_dir_name", w_fd_prestat_dir_name(3, buf, 10));
  report("fd_filestat_get", w_fd_filestat_get(1, buf));
  report("fd_readdir", w_fd_readdir(3, buf, 100, 0, &u32a));
  report("fd_sync", w_fd_sync(1));
  report("fd_datasync", w_fd_datasync(1));
  report("fd_tell", w_fd_tell(1, &u64));
  report("fd_renumber", w_fd_renumber(1, 5));
  report("fd_advise", w_fd_advise(1, 0, 0, 0));
  report("fd_allocate", w_fd_allocate(1, 0, 0));
  report("fd_fdstat_set_rights", w_fd_fdstat_set_rights(1, 0, 0));
  report("fd_filestat_set_size", w_fd_filestat_set_size(1, 0));
  report("fd_filestat_set_times", w_fd_filestat_set_times(1, 0, 0, 0));
  report("fd_pread", w_fd_pread(1, &riov, 1, 0, &u32a));
  report("fd_pwrite", w_fd_pwrite(1, &iov, 1, 0, &u32a));
  report("path_open", w_path_open(3, 0, "x", 1, 0, 0, 0, 0, &u32a));
  report("path_create_directory", w_path_create_directory(3, "x", 1));
  report("path_filestat_get", w_path_filestat_get(3, 0, "x", 1, buf));
  report("path_filestat_set_times", w_path_filestat_set_times(3, 0, "x", 1, 0, 0, 0));
  report("path_link", w_path_link(3, 0, "x", 1, "y", 1));
  report("path_readlink", w_path_readlink(3, "x", 1, buf, 10, &u32a));
  report("path_remove_directory", w_path_remove_directory(3, "x", 1));
  report("path_rename", w_path_rename(3, "x", 1, 3, "y", 1));
  report("path_symlink", w_path_symlink("x", 1, 3, "y"));
  report("path_unlink_file", w_path_unlink_file(3, "x", 1));
  report("sock_accept", w_sock_accept(3, 0, &u32a));
  report("sock_recv", w_sock_recv(3, &riov, 1, 0, &u32a, &u32b));
  report("sock_send", w_sock_send(3, &iov, 1, 0, &u32a));
  report("sock_shutdown", w_sock_shutdown(3, 0));
  report("environ_sizes_get", w_environ_sizes_get(&u32a, &u32b));
  report("environ_get", w_environ_get(buf, buf + 1000));
  report("args_sizes_get", w_args_sizes_get(&u32a, &u32b));
  report("args_get", w_args_get(buf, buf + 1000));
  report("clock_time_get", w_clock_time_get(0, 1, &u64));
  report("clock_time_get(monotonic)", w_clock_time_get(1, 1, &u64));
  report("clock_time_get(process)", w_clock_time_get(2, 1, &u64));
  report("clock_res_get", w_clock_res_get(0, &u64));
  report("random_get", w_random_get(buf, 16));
  report("random_get(70000)", w_random_get(buf, 70000));
  report("sched_yield", w_sched_yield());
  memset(buf, 0, 48); /* one clock subscription */
  buf[8] = 0; /* eventtype clock */
  report("poll_oneoff", w_poll_oneoff(buf, buf + 100, 1, &u32a));
  return 1;
}
