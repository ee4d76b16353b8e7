// A hash index for ordered dicts (every dict here keeps insertion order, as an array searched
// linearly). From MP_COMPAT_INDEX_MIN entries on, a side index of slot numbers, open
// addressing with linear probing, finds a key in O(1), compact-dict style: the entries stay in
// insertion order in map->table, so iteration, copy and popitem are unchanged. The index is
// built on the first lookup of a big enough map, grown with the table, fixed up on removal, and
// dropped (NULL) whenever a path that does not maintain it changes the map; ROM/fixed maps
// never get one. py/map.c (patched) calls mp_compat_map_lookup for unfixed ordered maps.
#include <string.h>

#include "py/runtime.h"
#include "py/nlr.h"

#define MP_COMPAT_INDEX_MIN (8)

// Layout of map->hash_index: [0] capacity - 1 (a power of two), [1] entries in use (live and
// deleted), then per position i: [2 + 2i] slot + 1 (0 for empty, DELETED for a removed entry)
// and [3 + 2i] the key's hash, compared before the key itself as CPython does (so __eq__ runs
// only for keys of equal hash).
#define INDEX_MASK(index) ((index)[0])
#define INDEX_FILLED(index) ((index)[1])
#define INDEX_AT(index, i) ((index)[2 + 2 * (i)])
#define INDEX_HASH(index, i) ((index)[3 + 2 * (i)])
#define INDEX_WORDS(capacity) (2 + 2 * (capacity))
#define DELETED (UINT32_MAX)

static mp_uint_t key_hash(mp_obj_t key) {
    if (mp_obj_is_qstr(key)) {
        return qstr_hash(MP_OBJ_QSTR_VALUE(key));
    }
    return MP_OBJ_SMALL_INT_VALUE(mp_unary_op(MP_UNARY_OP_HASH, key));
}

static size_t first_position(uint32_t hash, size_t mask) {
    // Fibonacci hashing: small ints hash to themselves, and consecutive ones would otherwise
    // fill one run of positions that every miss would walk
    uint32_t spread = hash * 2654435769u;
    return (spread >> 16 ^ spread) & mask;
}

static void index_insert(uint32_t *index, uint32_t hash, size_t slot) {
    size_t mask = INDEX_MASK(index);
    size_t pos = first_position(hash, mask);
    while (INDEX_AT(index, pos) != 0) {
        pos = (pos + 1) & mask;
    }
    INDEX_AT(index, pos) = slot + 1;
    INDEX_HASH(index, pos) = hash;
    INDEX_FILLED(index) += 1;
}

typedef struct {
    mp_map_t *map;
    uint32_t *index;
} build_t;

static void fill_index(build_t *build) {
    mp_map_t *map = build->map;
    for (size_t slot = 0; slot < map->used; slot++) {
        mp_obj_t key = map->table[slot].key;
        if (key != MP_OBJ_NULL && key != MP_OBJ_SENTINEL) {
            index_insert(build->index, key_hash(key), slot);
        }
    }
}

// (Re)build the index for the map's current table, sized for twice its allocation. A key
// whose hash raises (a small dict takes unhashable keys, as it never hashes) leaves the map
// without an index: it stays a linear search.
static uint32_t *build_index(mp_map_t *map) {
    size_t capacity = 16;
    while (capacity < map->alloc * 2) {
        capacity <<= 1;
    }
    build_t build = {map, m_new0(uint32_t, INDEX_WORDS(capacity))};
    INDEX_MASK(build.index) = capacity - 1;
    map->hash_index = NULL;
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        fill_index(&build);
        nlr_pop();
    } else {
        m_del(uint32_t, build.index, INDEX_WORDS(capacity));
        return NULL;
    }
    map->hash_index = build.index;
    return build.index;
}

// After removing table[slot] (entries above it moved down one): forget it, renumber the rest.
static void index_removed(uint32_t *index, size_t slot) {
    size_t capacity = INDEX_MASK(index) + 1;
    for (size_t i = 0; i < capacity; i++) {
        uint32_t entry = INDEX_AT(index, i);
        if (entry == 0 || entry == DELETED) {
            continue;
        }
        if (entry - 1 == slot) {
            INDEX_AT(index, i) = DELETED;
        } else if (entry - 1 > slot) {
            INDEX_AT(index, i) = entry - 1;
        }
    }
}

static bool keys_equal(mp_obj_t key, mp_obj_t wanted, bool compare_only_ptrs) {
    if (key == wanted) {
        return true;
    }
    return !compare_only_ptrs && key != MP_OBJ_NULL && key != MP_OBJ_SENTINEL && mp_obj_equal(key, wanted);
}

// mp_map_lookup for an unfixed ordered map. Returns false (with *result untouched) when the map
// is too small for an index or cannot have one: the caller then searches linearly.
bool mp_compat_map_lookup(mp_map_t *map, mp_obj_t key, mp_map_lookup_kind_t kind, bool compare_only_ptrs,
    mp_map_elem_t **result) {
    if (map->used < MP_COMPAT_INDEX_MIN) {
        return false;
    }
    uint32_t hash = key_hash(key);
    uint32_t *index = map->hash_index;
    if (index == NULL && (index = build_index(map)) == NULL) {
        return false;
    }
    size_t mask = INDEX_MASK(index);
    for (size_t pos = first_position(hash, mask);; pos = (pos + 1) & mask) {
        uint32_t entry = INDEX_AT(index, pos);
        if (entry == 0) {
            break;
        }
        if (entry == DELETED || entry - 1 >= map->used || INDEX_HASH(index, pos) != hash) {
            continue;   // removed, popped from the end, or another hash
        }
        mp_map_elem_t *elem = &map->table[entry - 1];
        bool equal = keys_equal(elem->key, key, compare_only_ptrs);
        if (map->hash_index != index) {
            // a key's __eq__ changed the map: start again on its new state
            *result = mp_map_lookup(map, key, kind);
            return true;
        }
        if (!equal) {
            continue;
        }
        if (kind == MP_MAP_LOOKUP_REMOVE_IF_FOUND) {
            // as py/map.c does: move the rest down, leave the removed entry after the end
            size_t slot = entry - 1;
            mp_obj_t value = elem->value;
            map->used -= 1;
            memmove(elem, elem + 1, (map->used - slot) * sizeof(*elem));
            elem = &map->table[map->used];
            elem->key = MP_OBJ_NULL;
            elem->value = value;
            index_removed(index, slot);
        }
        *result = elem;
        return true;
    }
    if (kind != MP_MAP_LOOKUP_ADD_IF_NOT_FOUND) {
        *result = NULL;
        return true;
    }
    if (map->used == map->alloc) {
        // grow by half: appending n keys copies O(n) entries in all
        size_t alloc = map->alloc + map->alloc / 2 + 4;
        map->table = m_renew(mp_map_elem_t, map->table, map->alloc, alloc);
        memset(map->table + map->alloc, 0, (alloc - map->alloc) * sizeof(*map->table));
        map->alloc = alloc;
    }
    mp_map_elem_t *elem = &map->table[map->used++];
    elem->key = key;
    elem->value = MP_OBJ_NULL;
    if (!mp_obj_is_qstr(key)) {
        map->all_keys_are_qstrs = 0;
    }
    if ((INDEX_FILLED(index) + 1) * 2 > mask + 1) {
        build_index(map);   // includes the new key
    } else {
        index_insert(index, hash, map->used - 1);
    }
    *result = elem;
    return true;
}
