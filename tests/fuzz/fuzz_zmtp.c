// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the ZMTP stream parser (include/zmtp.h).
 *
 * The input after its first two bytes is a stream; those two bytes seed
 * how it is cut into reads.  The stream is fed whole, byte by byte, and in
 * the seeded cuts: all three must leave the parser in the same state and
 * report the same messages, since a syscall's boundaries say nothing about
 * ZMTP's.  Then the invariants: messages never outnumber frames, a dead
 * stream stays dead and counts nothing more, names and properties stay in
 * their arrays, and skippable bytes never run past the frame.  Any
 * violation aborts.
 *
 *   make fuzz-zmtp               # build/fuzz/fuzz_zmtp, FUZZ_SECONDS (60)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zmtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct log {
	uint64_t hash;
	uint64_t n;
};

static void on_message(struct zmtp_parser *p, void *arg)
{
	struct log *l = arg;
	int len = zs_msgtype_result(&p->mt);

	if (len < 0 || len >= ZS_MSG_TYPE_LEN || (len && (int)strlen(p->mt.name) != len))
		abort();
	l->n++;
	l->hash = l->hash * 1000003u + (uint64_t)p->msg_frames;
	for (int i = 0; i < len; i++)
		l->hash = l->hash * 131u + (unsigned char)p->mt.name[i];
}

static void check_invariants(const struct zmtp_parser *p)
{
	if (p->c.msgs > p->c.frames || p->state > ZMTP_ST_DEAD)
		abort();
	if (p->type_len >= ZMTP_TYPE_LEN || p->identity_len > ZMTP_IDENTITY_LEN)
		abort();
	if (p->state == ZMTP_ST_BODY && zmtp_skippable(p) > p->left)
		abort();
	if (p->mechanism == ZMTP_MECH_CURVE && p->c.msgs)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zmtp_parser whole = { 0 }, bytes = { 0 }, cuts = { 0 };
	struct log lw = { 0 }, lb = { 0 }, lc = { 0 };
	unsigned seed;

	if (size < 2)
		return 0;
	seed = data[0] | (unsigned)data[1] << 8;
	data += 2;
	size -= 2;
	zmtp_feed(&whole, data, size, on_message, &lw);
	check_invariants(&whole);
	for (size_t i = 0; i < size; i++) {
		zmtp_feed(&bytes, data + i, 1, on_message, &lb);
		check_invariants(&bytes);
	}
	for (size_t i = 0; i < size;) {
		size_t n = 1 + (seed % 97);

		seed = seed * 1103515245u + 12345u;
		if (n > size - i)
			n = size - i;
		zmtp_feed(&cuts, data + i, n, on_message, &lc);
		i += n;
	}
	if (memcmp(&whole, &bytes, sizeof(whole)) || memcmp(&whole, &cuts, sizeof(whole)))
		abort();
	if (lw.n != lb.n || lw.hash != lb.hash || lw.n != lc.n || lw.hash != lc.hash)
		abort();
	if (whole.state == ZMTP_ST_DEAD) {
		struct zmtp_parser after = whole;

		zmtp_feed(&after, data, size, on_message, &lw);
		if (memcmp(&after, &whole, sizeof(after)))
			abort();
	}
	return 0;
}
