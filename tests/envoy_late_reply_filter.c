/* Lets response headers through, then answers 502 at the end of the response body: too late.
 * Envoy (and the emulator) can only reset the stream by then. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#define IMPORT(n) __attribute__((import_module("env"), import_name(#n)))
#define EXPORT(n) __attribute__((export_name(#n)))
IMPORT(proxy_send_local_response) int32_t proxy_send_local_response(int32_t, const char *, size_t, const char *, size_t, const char *, size_t, int32_t);
static const char empty[1] = "";
EXPORT(proxy_on_memory_allocate) void *on_memory_allocate(size_t size) { return malloc(size); }
EXPORT(proxy_abi_version_0_2_1) void abi_marker(void) {}
EXPORT(proxy_on_context_create) void on_context_create(int32_t id, int32_t parent) {}
EXPORT(proxy_on_vm_start) int32_t on_vm_start(int32_t id, int32_t size) { return 1; }
EXPORT(proxy_on_configure) int32_t on_configure(int32_t id, int32_t size) { return 1; }
EXPORT(proxy_on_response_headers) int32_t on_response_headers(int32_t id, int32_t n, int32_t eos) { return 0; }
EXPORT(proxy_on_response_body) int32_t on_response_body(int32_t id, int32_t size, int32_t eos) {
    if (!eos) return 1;
    proxy_send_local_response(502, empty, 0, "late\n", 5, empty, 0, -1);
    return 1;
}
