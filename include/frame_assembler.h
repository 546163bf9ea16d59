/* SPDX-License-Identifier: MIT */
/*
 * Joins the payload tap's records (include/payload_tap.h) into whole
 * frames.  Chunks of one frame arrive in order, from the one thread that
 * used the socket; a chunk that is missing (the ring was full) shows up as
 * a gap, and the frame it belonged to is reported lost rather than handed
 * on with a hole in it.  Pure: unit-tested without BPF.
 */
#ifndef ZS_FRAME_ASSEMBLER_H
#define ZS_FRAME_ASSEMBLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "payload_tap.h"

#define FA_SLOTS 64 /* frames in flight at once: one per socket and direction that is mid-frame */

struct fa_slot {
	bool used;
	uint8_t tx;
	uint32_t tgid;
	uint64_t handle;
	uint32_t frame_len;
	uint32_t have;
	uint64_t last_use;
	uint8_t *buf;
	size_t cap;
};

struct frame_assembler {
	struct fa_slot slots[FA_SLOTS];
	uint64_t clock;
};

/* What one record gave. */
struct fa_out {
	const uint8_t *frame; /* a whole frame, valid until the next call; NULL if none */
	size_t len;
	uint32_t lost_tgid;   /* a partial frame of this process was discarded ... */
	bool lost;	      /* ... when this is set */
};

void frame_assembler_init(struct frame_assembler *fa);
void frame_assembler_free(struct frame_assembler *fa);

/*
 * Adds one record of `size` bytes (header and data, as read from the
 * ring).  0, or -EPROTO for a record that is malformed (it is dropped), or
 * -ENOMEM.  Either way `out` says what came of it.
 */
int frame_assembler_add(struct frame_assembler *fa, const void *record, size_t size,
			struct fa_out *out);

#endif
