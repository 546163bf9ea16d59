// SPDX-License-Identifier: MIT
#include "map_reader.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A syscall per chunk, not two per entry, is what keeps 2,000 sockets cheap. */
#define MAP_CHUNK 512

static bool grow(void **keys, void **values, size_t *cap, size_t need, size_t key_size,
		 size_t value_size)
{
	void *k, *v;

	if (need <= *cap)
		return true;
	k = realloc(*keys, need * key_size);
	if (k)
		*keys = k;
	v = k ? realloc(*values, need * value_size) : NULL;
	if (v)
		*values = v;
	if (!k || !v)
		return false;
	*cap = need;
	return true;
}

size_t map_read_all(int fd, size_t key_size, size_t value_size, void **keys, void **values)
{
	char cursor[128], next[128];
	__u32 in_batch, out_batch;
	size_t n = 0, cap = 0;
	bool first = true;

	*keys = *values = NULL;
	for (;;) {
		__u32 count = MAP_CHUNK;
		int rc;

		if (!grow(keys, values, &cap, n + MAP_CHUNK, key_size, value_size))
			return n;
		rc = bpf_map_lookup_batch(fd, first ? NULL : &in_batch, &out_batch,
					  (char *)*keys + n * key_size,
					  (char *)*values + n * value_size, &count, NULL);
		if (rc && errno != ENOENT) {
			if (first)
				break; /* no batch support: walk the keys below */
			return n;
		}
		n += count;
		if (rc) /* ENOENT: that was the last chunk */
			return n;
		in_batch = out_batch;
		first = false;
	}
	if (key_size > sizeof(cursor))
		return 0;
	first = true;
	while (!bpf_map_get_next_key(fd, first ? NULL : cursor, next)) {
		first = false;
		memcpy(cursor, next, key_size);
		if (!grow(keys, values, &cap, n + 1 > cap ? cap * 2 + MAP_CHUNK : cap, key_size,
			  value_size))
			break;
		if (bpf_map_lookup_elem(fd, next, (char *)*values + n * value_size))
			continue;
		memcpy((char *)*keys + n * key_size, next, key_size);
		n++;
	}
	return n;
}
