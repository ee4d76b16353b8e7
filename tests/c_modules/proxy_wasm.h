/* The few Proxy-Wasm ABI 0.2.1 declarations the C test modules use. */
#ifndef PROXY_WASM_H
#define PROXY_WASM_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PROXY_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define PROXY_EXPORT(name) __attribute__((export_name(#name)))

enum { LOG_TRACE, LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_CRITICAL };
enum { ACTION_CONTINUE = 0, ACTION_PAUSE = 1 };
enum { STATUS_OK = 0, STATUS_NOT_FOUND = 1 };
enum { MAP_HTTP_REQUEST_HEADERS = 0, MAP_HTTP_RESPONSE_HEADERS = 2 };
enum { BUFFER_PLUGIN_CONFIGURATION = 7 };

PROXY_IMPORT(proxy_log)
int32_t proxy_log(int32_t level, const char *message, size_t message_size);
PROXY_IMPORT(proxy_get_buffer_bytes)
int32_t proxy_get_buffer_bytes(int32_t buffer_type, size_t start, size_t max_size,
                               char **return_data, size_t *return_size);
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

static inline void log_str(int32_t level, const char *message) {
    proxy_log(level, message, strlen(message));
}

/* The host hands back memory it allocated through this export. */
PROXY_EXPORT(proxy_on_memory_allocate)
void *proxy_on_memory_allocate(size_t size) { return malloc(size); }

#endif
