/* Declares ABI 0.2.1 but exports proxy_on_request_headers with the 0.1.0 signature
 * (two parameters, no end_of_stream). */
#include "proxy_wasm.h"

PROXY_EXPORT(proxy_abi_version_0_2_1)
void proxy_abi_version_0_2_1(void) {}

PROXY_EXPORT(proxy_on_context_create)
void proxy_on_context_create(int32_t context_id, int32_t parent_context_id) {}

PROXY_EXPORT(proxy_on_request_headers)
int32_t proxy_on_request_headers(int32_t context_id, int32_t num_headers) {
    log_str(LOG_INFO, "wrong signature");
    return ACTION_CONTINUE;
}
