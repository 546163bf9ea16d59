/* SPDX-License-Identifier: MIT */
/*
 * A set of 64-bit keys: open addressing with linear probing, a power-of-two
 * table kept between 1/8 and 3/4 full, deletion by backward shift (no
 * tombstones, so a set that churns never degrades).  Key 0 is legal: it is
 * held in a flag, since 0 marks an empty slot.  8 bytes a slot, so 10.7 to
 * 21.3 bytes a key once the table is past its minimum size.
 */
#ifndef ZS_KV_KEYSET_H
#define ZS_KV_KEYSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kv_keyset {
	uint64_t *slots; /* NULL until the first nonzero key */
	size_t cap;	 /* slots; 0 or a power of two */
	size_t used;	 /* nonzero keys in slots */
	bool has_zero;
};

#define KV_KEYSET_INIT ((struct kv_keyset){0})

/* 1 if added, 0 if already there, -ENOMEM (the set is unchanged). */
int kv_keyset_add(struct kv_keyset *s, uint64_t key);
/* true if it was there. */
bool kv_keyset_remove(struct kv_keyset *s, uint64_t key);
bool kv_keyset_contains(const struct kv_keyset *s, uint64_t key);
/* Make room for `more` keys beyond the current count: 0 or -ENOMEM. */
int kv_keyset_reserve(struct kv_keyset *s, size_t more);
/* Empties the set and gives its table back. */
void kv_keyset_clear(struct kv_keyset *s);

static inline size_t kv_keyset_count(const struct kv_keyset *s)
{
	return s->used + (s->has_zero ? 1 : 0);
}

/* The table's bytes (the struct itself is the owner's). */
static inline size_t kv_keyset_bytes(const struct kv_keyset *s)
{
	return s->cap * sizeof(*s->slots);
}

#endif
