/* Asks the cluster "auth" (GET /check) before letting a request through:
 * 200 -> the request goes upstream with x-auth: <callout body>; other -> 403 "denied\n";
 * failed callout -> 503 "callout failed\n". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT(n) __attribute__((import_module("env"), import_name(#n)))
#define EXPORT(n) __attribute__((export_name(#n)))

IMPORT(proxy_http_call) int32_t proxy_http_call(const char *, size_t, const char *, size_t, const char *,
                                                size_t, const char *, size_t, uint32_t, uint32_t *);
IMPORT(proxy_get_header_map_value) int32_t proxy_get_header_map_value(int32_t, const char *, size_t, char **, size_t *);
IMPORT(proxy_add_header_map_value) int32_t proxy_add_header_map_value(int32_t, const char *, size_t, const char *, size_t);
IMPORT(proxy_get_buffer_bytes) int32_t proxy_get_buffer_bytes(int32_t, size_t, size_t, char **, size_t *);
IMPORT(proxy_send_local_response) int32_t proxy_send_local_response(int32_t, const char *, size_t, const char *, size_t,
                                                                    const char *, size_t, int32_t);
IMPORT(proxy_continue_stream) int32_t proxy_continue_stream(int32_t);
IMPORT(proxy_set_effective_context) int32_t proxy_set_effective_context(int32_t);

static const char empty[1] = "";
static int32_t waiting_context = 0;

EXPORT(proxy_on_memory_allocate) void *on_memory_allocate(size_t size) { return malloc(size); }
EXPORT(proxy_abi_version_0_2_1) void abi_marker(void) {}
EXPORT(proxy_on_context_create) void on_context_create(int32_t id, int32_t parent) {}
EXPORT(proxy_on_vm_start) int32_t on_vm_start(int32_t id, int32_t size) { return 1; }
EXPORT(proxy_on_configure) int32_t on_configure(int32_t id, int32_t size) { return 1; }

static void reply(int32_t status, const char *body) {
    proxy_send_local_response(status, empty, 0, body, strlen(body), empty, 0, -1);
}

EXPORT(proxy_on_request_headers) int32_t on_request_headers(int32_t id, int32_t n, int32_t eos) {
    static const char *pairs[6] = {":method", "GET", ":path", "/check", ":authority", "auth"};
    char map[256];
    uint32_t count = 3, sizes[6], pos = 4 + 8 * 3, token = 0;
    memcpy(map, &count, 4);
    for (int i = 0; i < 6; i++) {
        sizes[i] = strlen(pairs[i]);
        memcpy(map + 4 + 4 * i, &sizes[i], 4);
    }
    for (int i = 0; i < 6; i++) {
        memcpy(map + pos, pairs[i], sizes[i] + 1);
        pos += sizes[i] + 1;
    }
    if (proxy_http_call("auth", 4, map, pos, empty, 0, empty, 0, 5000, &token) != 0) {
        reply(500, "no callout\n");
        return 1;
    }
    waiting_context = id;
    return 1;
}

EXPORT(proxy_on_http_call_response)
void on_http_call_response(int32_t root, int32_t token, int32_t headers, int32_t body_size, int32_t trailers) {
    proxy_set_effective_context(waiting_context);
    char *status = NULL, *body = NULL;
    size_t status_size = 0, size = 0;
    if (headers == 0) {
        reply(503, "callout failed\n");
        return;
    }
    proxy_get_header_map_value(6, ":status", 7, &status, &status_size);
    if (status_size != 3 || memcmp(status, "200", 3) != 0) {
        reply(403, "denied\n");
        return;
    }
    if (body_size > 0)
        proxy_get_buffer_bytes(4, 0, body_size, &body, &size);
    proxy_add_header_map_value(0, "x-auth", 6, body ? body : empty, size);
    proxy_continue_stream(0);
}
