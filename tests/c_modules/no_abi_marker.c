/* A filter that forgot to export proxy_abi_version_*: Envoy cannot tell its ABI. */
#include "proxy_wasm.h"

PROXY_EXPORT(proxy_on_context_create)
void proxy_on_context_create(int32_t context_id, int32_t parent_context_id) {}

PROXY_EXPORT(proxy_on_request_headers)
int32_t proxy_on_request_headers(int32_t context_id, int32_t num_headers, int32_t end_of_stream) {
    log_str(LOG_INFO, "no marker");
    return ACTION_CONTINUE;
}
