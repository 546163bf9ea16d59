// SPDX-License-Identifier: MIT
#include "frame_assembler.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void frame_assembler_init(struct frame_assembler *fa)
{
	memset(fa, 0, sizeof(*fa));
}

void frame_assembler_free(struct frame_assembler *fa)
{
	for (size_t i = 0; i < FA_SLOTS; i++)
		free(fa->slots[i].buf);
	memset(fa, 0, sizeof(*fa));
}

static struct fa_slot *find_slot(struct frame_assembler *fa, const struct zs_tap_hdr *h, uint8_t tx)
{
	for (size_t i = 0; i < FA_SLOTS; i++) {
		struct fa_slot *s = &fa->slots[i];

		if (s->used && s->tgid == h->tgid && s->handle == h->handle && s->tx == tx)
			return s;
	}
	return NULL;
}

static void release(struct fa_slot *s, struct fa_out *out)
{
	out->lost = true;
	out->lost_tgid = s->tgid;
	s->used = false;
}

/* A free slot, or the least recently used one, whose partial frame is then lost. */
static struct fa_slot *take_slot(struct frame_assembler *fa, struct fa_out *out)
{
	struct fa_slot *oldest = &fa->slots[0];

	for (size_t i = 0; i < FA_SLOTS; i++) {
		if (!fa->slots[i].used)
			return &fa->slots[i];
		if (fa->slots[i].last_use < oldest->last_use)
			oldest = &fa->slots[i];
	}
	release(oldest, out);
	return oldest;
}

int frame_assembler_add(struct frame_assembler *fa, const void *record, size_t size,
			struct fa_out *out)
{
	const struct zs_tap_hdr *h = record;
	const uint8_t *data = (const uint8_t *)record + sizeof(*h);
	uint8_t tx;
	struct fa_slot *s;

	memset(out, 0, sizeof(*out));
	if (size < sizeof(*h) || h->chunk_len > size - sizeof(*h) ||
	    (uint64_t)h->offset + h->chunk_len > h->frame_len)
		return -EPROTO;
	tx = h->flags & ZS_TAP_F_TX;
	s = find_slot(fa, h, tx);
	if (h->offset == 0) {
		/* A new frame: whatever this socket had half-done lost its tail. */
		if (s)
			release(s, out);
		if (h->chunk_len == h->frame_len) {
			out->frame = data; /* the common case: one record, no copy */
			out->len = h->chunk_len;
			return 0;
		}
		s = take_slot(fa, out);
		if (s->cap < h->frame_len) {
			uint8_t *buf = realloc(s->buf, h->frame_len);

			if (!buf)
				return -ENOMEM;
			s->buf = buf;
			s->cap = h->frame_len;
		}
		*s = (struct fa_slot){ .used = true, .tx = tx, .tgid = h->tgid,
				       .handle = h->handle, .frame_len = h->frame_len,
				       .buf = s->buf, .cap = s->cap };
	} else if (!s || s->have != h->offset || s->frame_len != h->frame_len) {
		/* The chunk before this one never arrived. */
		if (s)
			release(s, out);
		else {
			out->lost = true;
			out->lost_tgid = h->tgid;
		}
		return 0;
	}
	memcpy(s->buf + s->have, data, h->chunk_len);
	s->have += h->chunk_len;
	s->last_use = ++fa->clock;
	if (s->have == s->frame_len) {
		s->used = false;
		out->frame = s->buf;
		out->len = s->frame_len;
	}
	return 0;
}
