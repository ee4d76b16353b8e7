// list.sort() and sorted() as CPython's: stable (equal keys keep their order, with reverse=True
// too) and the key function called once per item. MicroPython 1.19's quicksort is neither: it
// reorders equal keys and calls key() at every comparison. A bottom-up merge sort over
// (key, item) pairs, with scratch memory from the GC heap; py/objlist.c (patched) calls it.
#include <string.h>

#include "py/runtime.h"

// Whether the pair at `right` must come before the pair at `left` in the sorted list: only when
// its key is strictly smaller (strictly greater for reverse), so ties keep their order.
static bool goes_first(const mp_obj_t *right, const mp_obj_t *left, bool reverse) {
    mp_obj_t less = reverse ? mp_binary_op(MP_BINARY_OP_LESS, left[0], right[0])
                            : mp_binary_op(MP_BINARY_OP_LESS, right[0], left[0]);
    return mp_obj_is_true(less);
}

static void merge(const mp_obj_t *from, mp_obj_t *to, size_t start, size_t middle, size_t end, bool reverse) {
    size_t i = start, j = middle, k = start;
    while (i < middle && j < end) {
        const mp_obj_t *take = goes_first(from + 2 * j, from + 2 * i, reverse) ? from + 2 * j++ : from + 2 * i++;
        to[2 * k] = take[0];
        to[2 * k + 1] = take[1];
        k++;
    }
    memcpy(to + 2 * k, from + 2 * i, (middle - i) * 2 * sizeof(mp_obj_t));
    k += middle - i;
    memcpy(to + 2 * k, from + 2 * j, (end - j) * 2 * sizeof(mp_obj_t));
}

void mp_compat_stable_sort(mp_obj_t *items, size_t n, mp_obj_t key_fn, bool reverse) {
    mp_obj_t *pairs = m_new(mp_obj_t, 2 * n);
    mp_obj_t *scratch = m_new(mp_obj_t, 2 * n);
    for (size_t i = 0; i < n; i++) {
        pairs[2 * i] = key_fn == MP_OBJ_NULL ? items[i] : mp_call_function_1(key_fn, items[i]);
        pairs[2 * i + 1] = items[i];
    }
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t start = 0; start < n; start += 2 * width) {
            size_t middle = start + width < n ? start + width : n;
            size_t end = start + 2 * width < n ? start + 2 * width : n;
            merge(pairs, scratch, start, middle, end, reverse);
        }
        mp_obj_t *swap = pairs;
        pairs = scratch;
        scratch = swap;
    }
    for (size_t i = 0; i < n; i++) {
        items[i] = pairs[2 * i + 1];
    }
    m_del(mp_obj_t, pairs, 2 * n);
    m_del(mp_obj_t, scratch, 2 * n);
}
