/* A network (TCP) filter for the Envoy host tests: counts bytes both ways in the counters
 * "tcp_rx" and "tcp_tx" ; data passes unchanged. */
#include <stdint.h>
#include <stdlib.h>

#define IMPORT(n) __attribute__((import_module("env"), import_name(#n)))
#define EXPORT(n) __attribute__((export_name(#n)))

IMPORT(proxy_define_metric) int32_t proxy_define_metric(int32_t, const char *, size_t, uint32_t *);
IMPORT(proxy_increment_metric) int32_t proxy_increment_metric(uint32_t, int64_t);

static uint32_t rx, tx;

EXPORT(proxy_on_memory_allocate) void *on_memory_allocate(size_t size) { return malloc(size); }
EXPORT(proxy_abi_version_0_2_1) void abi_marker(void) {}
EXPORT(proxy_on_context_create) void on_context_create(int32_t id, int32_t parent) {}
EXPORT(proxy_on_vm_start) int32_t on_vm_start(int32_t id, int32_t size) { return 1; }
EXPORT(proxy_on_configure) int32_t on_configure(int32_t id, int32_t size) {
    proxy_define_metric(0, "tcp_rx", 6, &rx);
    proxy_define_metric(0, "tcp_tx", 6, &tx);
    return 1;
}
EXPORT(proxy_on_new_connection) int32_t on_new_connection(int32_t id) { return 0; }
EXPORT(proxy_on_downstream_data) int32_t on_downstream_data(int32_t id, int32_t size, int32_t eos) {
    if (size > 0) proxy_increment_metric(rx, size);  /* Envoy refuses a counter increment of 0 */
    return 0;
}
EXPORT(proxy_on_upstream_data) int32_t on_upstream_data(int32_t id, int32_t size, int32_t eos) {
    if (size > 0) proxy_increment_metric(tx, size);
    return 0;
}
