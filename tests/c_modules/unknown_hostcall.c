/* Declares ABI 0.2.1 but reads its configuration with proxy_get_configuration, which only
 * ABI 0.1.0 hosts provide (0.2.x uses proxy_get_buffer_bytes(PLUGIN_CONFIGURATION)). */
#include "proxy_wasm.h"

PROXY_IMPORT(proxy_get_configuration)
int32_t proxy_get_configuration(char **return_data, size_t *return_size);

PROXY_EXPORT(proxy_abi_version_0_2_1)
void proxy_abi_version_0_2_1(void) {}

PROXY_EXPORT(proxy_on_context_create)
void proxy_on_context_create(int32_t context_id, int32_t parent_context_id) {}

PROXY_EXPORT(proxy_on_configure)
int32_t proxy_on_configure(int32_t root_context_id, int32_t plugin_configuration_size) {
    char *config = NULL;
    size_t size = 0;
    proxy_get_configuration(&config, &size);
    free(config);
    return 1;
}
