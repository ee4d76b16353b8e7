/* The benchmark filter in plain C (Proxy-Wasm ABI 0.2.1), compiled with zig.
 *
 * A request carrying `x-deny` gets a 403 local reply "denied\n"; every other response gets
 * `x-filter: c`. Envoy also runs the response path on a local reply, so each stream
 * remembers whether it was denied (a slot per context id; with one worker far fewer than
 * DENIED_SLOTS streams are ever open at once).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define PROXY_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define PROXY_EXPORT(name) __attribute__((export_name(#name)))

enum { ACTION_CONTINUE = 0, ACTION_PAUSE = 1 };
enum { STATUS_OK = 0 };
enum { MAP_HTTP_REQUEST_HEADERS = 0, MAP_HTTP_RESPONSE_HEADERS = 2 };
enum { DENIED_SLOTS = 4096 };

PROXY_IMPORT(proxy_get_header_map_value)
int32_t proxy_get_header_map_value(int32_t map_type, const char *key, size_t key_size,
                                   char **return_value, size_t *return_size);
PROXY_IMPORT(proxy_add_header_map_value)
int32_t proxy_add_header_map_value(int32_t map_type, const char *key, size_t key_size,
                                   const char *value, size_t value_size);
PROXY_IMPORT(proxy_send_local_response)
int32_t proxy_send_local_response(int32_t status_code, const char *details, size_t details_size,
                                  const char *body, size_t body_size,
                                  const char *headers, size_t headers_size, int32_t grpc_status);

static uint8_t denied[DENIED_SLOTS];

PROXY_EXPORT(proxy_abi_version_0_2_1)
void proxy_abi_version_0_2_1(void) {}

PROXY_EXPORT(proxy_on_memory_allocate)
void *proxy_on_memory_allocate(size_t size) { return malloc(size); }

PROXY_EXPORT(proxy_on_context_create)
void proxy_on_context_create(int32_t context_id, int32_t parent_context_id) {
    denied[(uint32_t)context_id % DENIED_SLOTS] = 0;
}

PROXY_EXPORT(proxy_on_vm_start)
int32_t proxy_on_vm_start(int32_t root_context_id, int32_t vm_configuration_size) { return 1; }

PROXY_EXPORT(proxy_on_configure)
int32_t proxy_on_configure(int32_t root_context_id, int32_t plugin_configuration_size) { return 1; }

PROXY_EXPORT(proxy_on_request_headers)
int32_t proxy_on_request_headers(int32_t context_id, int32_t num_headers, int32_t end_of_stream) {
    static const char key[] = "x-deny";
    char *value = NULL;
    size_t size = 0;
    if (proxy_get_header_map_value(MAP_HTTP_REQUEST_HEADERS, key, sizeof(key) - 1, &value, &size)
            == STATUS_OK) {
        free(value);
        denied[(uint32_t)context_id % DENIED_SLOTS] = 1;
        static const char body[] = "denied\n";
        proxy_send_local_response(403, "", 0, body, sizeof(body) - 1, NULL, 0, -1);
        return ACTION_PAUSE;
    }
    return ACTION_CONTINUE;
}

PROXY_EXPORT(proxy_on_response_headers)
int32_t proxy_on_response_headers(int32_t context_id, int32_t num_headers, int32_t end_of_stream) {
    if (!denied[(uint32_t)context_id % DENIED_SLOTS]) {
        static const char key[] = "x-filter";
        static const char value[] = "c";
        proxy_add_header_map_value(MAP_HTTP_RESPONSE_HEADERS, key, sizeof(key) - 1, value,
                                   sizeof(value) - 1);
    }
    return ACTION_CONTINUE;
}

PROXY_EXPORT(proxy_on_done)
int32_t proxy_on_done(int32_t context_id) { return 1; }
