// SPDX-License-Identifier: MIT
#include "kv_keyset.h"

#include <errno.h>
#include <stdlib.h>

#define MIN_CAP 16

/* Keys are often hashes already, but not always (sequential ids would
 * cluster under linear probing): the splitmix64 finaliser spreads them. */
static inline size_t slot_of(uint64_t key, size_t cap)
{
	key ^= key >> 30;
	key *= 0xbf58476d1ce4e5b9ULL;
	key ^= key >> 27;
	key *= 0x94d049bb133111ebULL;
	key ^= key >> 31;
	return (size_t)key & (cap - 1);
}

static int rehash(struct kv_keyset *s, size_t cap)
{
	uint64_t *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		uint64_t k = s->slots[i];
		size_t j;

		if (!k)
			continue;
		for (j = slot_of(k, cap); slots[j]; j = (j + 1) & (cap - 1))
			;
		slots[j] = k;
	}
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
	return 0;
}

/* The smallest table that holds n nonzero keys at most 3/4 full. */
static size_t cap_for(size_t n)
{
	size_t cap = MIN_CAP;

	while (cap - cap / 4 < n) {
		if (cap > SIZE_MAX / 2 / sizeof(uint64_t))
			return 0;
		cap *= 2;
	}
	return cap;
}

int kv_keyset_reserve(struct kv_keyset *s, size_t more)
{
	size_t cap;

	if (more > SIZE_MAX - s->used)
		return -ENOMEM;
	cap = cap_for(s->used + more);
	if (!cap)
		return -ENOMEM;
	return cap > s->cap ? rehash(s, cap) : 0;
}

int kv_keyset_add(struct kv_keyset *s, uint64_t key)
{
	size_t i;

	if (!key) {
		if (s->has_zero)
			return 0;
		s->has_zero = true;
		return 1;
	}
	if (s->cap) {
		for (i = slot_of(key, s->cap); s->slots[i]; i = (i + 1) & (s->cap - 1))
			if (s->slots[i] == key)
				return 0;
	}
	if (s->used + 1 > s->cap - s->cap / 4) {
		int rc = kv_keyset_reserve(s, 1);

		if (rc)
			return rc;
	}
	for (i = slot_of(key, s->cap); s->slots[i]; i = (i + 1) & (s->cap - 1))
		;
	s->slots[i] = key;
	s->used++;
	return 1;
}

bool kv_keyset_contains(const struct kv_keyset *s, uint64_t key)
{
	if (!key)
		return s->has_zero;
	if (!s->cap)
		return false;
	for (size_t i = slot_of(key, s->cap); s->slots[i]; i = (i + 1) & (s->cap - 1))
		if (s->slots[i] == key)
			return true;
	return false;
}

bool kv_keyset_remove(struct kv_keyset *s, uint64_t key)
{
	size_t mask = s->cap - 1, i, j;

	if (!key) {
		bool had = s->has_zero;

		s->has_zero = false;
		return had;
	}
	if (!s->cap)
		return false;
	for (i = slot_of(key, s->cap); s->slots[i] != key; i = (i + 1) & mask)
		if (!s->slots[i])
			return false;
	/* Backward shift: pull later members of the probe run into the hole
	 * unless that would move one before its home slot. */
	for (j = (i + 1) & mask; s->slots[j]; j = (j + 1) & mask) {
		size_t home = slot_of(s->slots[j], s->cap);

		if (((j - home) & mask) >= ((j - i) & mask)) {
			s->slots[i] = s->slots[j];
			i = j;
		}
	}
	s->slots[i] = 0;
	s->used--;
	/* Give memory back after a mass eviction; a failed shrink is harmless. */
	if (!s->used) {
		free(s->slots);
		s->slots = NULL;
		s->cap = 0;
	} else if (s->cap > MIN_CAP && s->used < s->cap / 8) {
		(void)rehash(s, cap_for(s->used * 2));
	}
	return true;
}

void kv_keyset_clear(struct kv_keyset *s)
{
	free(s->slots);
	*s = KV_KEYSET_INIT;
}
