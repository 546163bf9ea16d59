// SPDX-License-Identifier: MIT
#include "socket_table.h"
#include "map_reader.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int socket_slot_matches(const struct zs_sock *s, const struct zs_sock_key *key)
{
	return s->key.tgid == key->tgid && s->key.handle == key->handle;
}

int socket_table_read(const struct socket_table *st, const struct zs_sock_key *key,
		      struct zs_sock *out)
{
	__u32 slot;

	if (bpf_map_lookup_elem(st->index_fd, key, &slot) ||
	    bpf_map_lookup_elem(st->slots_fd, &slot, out) || !socket_slot_matches(out, key))
		return -ENOENT;
	return 0;
}

/* The index, whole: keys and their slots. */
static size_t read_index(int fd, struct zs_sock_key **keys, __u32 **slots)
{
	return map_read_all(fd, sizeof(**keys), sizeof(**slots), (void **)keys, (void **)slots);
}

/*
 * Slots [0, count) in as few syscalls as the kernel allows: a batch over
 * an array walks its indices in order.  Without batch support (before
 * 5.6), one lookup per slot.
 */
static int read_slots(int fd, __u32 count, struct zs_sock *out)
{
	__u32 done = 0, in_batch = 0, out_batch = 0, *ids = calloc(count ? count : 1, sizeof(*ids));
	bool first = true;

	if (!ids)
		return -ENOMEM;
	while (done < count) {
		__u32 want = count - done;
		int rc = bpf_map_lookup_batch(fd, first ? NULL : &in_batch, &out_batch, ids + done,
					      out + done, &want, NULL);

		if (rc && errno != ENOENT) {
			if (!first)
				break;
			for (__u32 i = 0; i < count; i++)
				if (bpf_map_lookup_elem(fd, &i, out + i))
					memset(out + i, 0, sizeof(out[i]));
			done = count;
			break;
		}
		done += want;
		if (rc)
			break;
		in_batch = out_batch;
		first = false;
	}
	free(ids);
	return done == count ? 0 : -EIO;
}

struct metrics_socket *socket_table_read_all(const struct socket_table *st, size_t *n)
{
	struct zs_sock_key *keys;
	struct metrics_socket *out;
	struct zs_sock *slots = NULL;
	__u32 *slot_of, span = 0;
	size_t nkeys = read_index(st->index_fd, &keys, &slot_of);

	*n = 0;
	for (size_t i = 0; i < nkeys; i++)
		if (slot_of[i] + 1 > span)
			span = slot_of[i] + 1;
	out = calloc(nkeys ? nkeys : 1, sizeof(*out));
	if (span)
		slots = calloc(span, sizeof(*slots));
	if (out && (!span || (slots && !read_slots(st->slots_fd, span, slots)))) {
		/* A slot freed or reused since the index was read is not that socket any more. */
		for (size_t i = 0; i < nkeys; i++) {
			if (!socket_slot_matches(&slots[slot_of[i]], &keys[i]))
				continue;
			out[*n] = (struct metrics_socket){ keys[i].tgid, keys[i].handle,
							   slots[slot_of[i]] };
			(*n)++;
		}
	}
	free(slots);
	free(keys);
	free(slot_of);
	return out;
}

void socket_table_forget(const struct socket_table *st, uint32_t tgid, size_t max)
{
	struct zs_sock_key *keys;
	__u32 *slot_of;
	size_t nkeys = read_index(st->index_fd, &keys, &slot_of), freed = 0;
	struct zs_sock cleared;

	memset(&cleared, 0, sizeof(cleared));
	for (size_t i = 0; i < nkeys && freed < max; i++) {
		if (keys[i].tgid != tgid)
			continue;
		/* As in sock_remove: whoever deletes the index entry frees the slot. */
		if (bpf_map_delete_elem(st->index_fd, &keys[i]))
			continue;
		bpf_map_update_elem(st->slots_fd, &slot_of[i], &cleared, BPF_ANY);
		bpf_map_update_elem(st->free_fd, NULL, &slot_of[i], BPF_ANY);
		freed++;
	}
	free(keys);
	free(slot_of);
}
