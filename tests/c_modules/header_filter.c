/* A real ABI 0.2.1 header filter in plain C.
 *
 * Plugin configuration: the name of the request header that denies a request (default
 * "x-deny"). A request carrying it gets a 403 local reply "denied\n"; responses get the
 * header "x-filter: c" (the local reply too: Envoy runs the response path on it).
 */
#include "proxy_wasm.h"

static char deny_header[128] = "x-deny";

PROXY_EXPORT(proxy_abi_version_0_2_1)
void proxy_abi_version_0_2_1(void) {}

PROXY_EXPORT(proxy_on_context_create)
void proxy_on_context_create(int32_t context_id, int32_t parent_context_id) {}

PROXY_EXPORT(proxy_on_vm_start)
int32_t proxy_on_vm_start(int32_t root_context_id, int32_t vm_configuration_size) { return 1; }

PROXY_EXPORT(proxy_on_configure)
int32_t proxy_on_configure(int32_t root_context_id, int32_t plugin_configuration_size) {
    if (plugin_configuration_size > 0) {
        char *config = NULL;
        size_t size = 0;
        if (proxy_get_buffer_bytes(BUFFER_PLUGIN_CONFIGURATION, 0, plugin_configuration_size,
                                   &config, &size) != STATUS_OK) {
            log_str(LOG_ERROR, "c filter: cannot read the plugin configuration");
            return 0;
        }
        if (size == 0 || size >= sizeof(deny_header)) {
            log_str(LOG_ERROR, "c filter: the plugin configuration must be a header name");
            free(config);
            return 0;
        }
        memcpy(deny_header, config, size);
        deny_header[size] = '\0';
        free(config);
    }
    char message[192] = "c filter: denying requests with header ";
    strncat(message, deny_header, sizeof(message) - strlen(message) - 1);
    log_str(LOG_INFO, message);
    return 1;
}

PROXY_EXPORT(proxy_on_request_headers)
int32_t proxy_on_request_headers(int32_t context_id, int32_t num_headers, int32_t end_of_stream) {
    char *value = NULL;
    size_t size = 0;
    if (proxy_get_header_map_value(MAP_HTTP_REQUEST_HEADERS, deny_header, strlen(deny_header),
                                   &value, &size) == STATUS_OK) {
        free(value);
        log_str(LOG_INFO, "c filter: denied a request");
        static const char body[] = "denied\n";
        static const char details[] = "c_filter_denied";
        proxy_send_local_response(403, details, sizeof(details) - 1, body, sizeof(body) - 1,
                                  NULL, 0, -1);
        return ACTION_PAUSE;
    }
    return ACTION_CONTINUE;
}

PROXY_EXPORT(proxy_on_response_headers)
int32_t proxy_on_response_headers(int32_t context_id, int32_t num_headers, int32_t end_of_stream) {
    static const char key[] = "x-filter";
    static const char value[] = "c";
    proxy_add_header_map_value(MAP_HTTP_RESPONSE_HEADERS, key, sizeof(key) - 1, value,
                               sizeof(value) - 1);
    return ACTION_CONTINUE;
}

PROXY_EXPORT(proxy_on_done)
int32_t proxy_on_done(int32_t context_id) { return 1; }
