// SPDX-License-Identifier: MIT
/* Joining the payload tap's records into frames, and noticing the ones lost. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame_assembler.h"

/* A record as the BPF side writes it: header, then chunk_len bytes. */
static size_t record(struct zs_tap_record *r, uint32_t tgid, uint64_t handle, uint8_t flags,
		     const uint8_t *frame, uint32_t frame_len, uint32_t off, uint32_t n)
{
	memset(&r->h, 0, sizeof(r->h));
	r->h.tgid = tgid;
	r->h.handle = handle;
	r->h.flags = flags;
	r->h.frame_len = frame_len;
	r->h.offset = off;
	r->h.chunk_len = (uint16_t)n;
	memcpy(r->data, frame + off, n);
	return sizeof(r->h) + n;
}

static uint8_t *pattern(size_t n)
{
	uint8_t *p = malloc(n);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + 3);
	return p;
}

static void test_single_record_frame_needs_no_copy(void **state)
{
	static struct zs_tap_record r;
	struct frame_assembler fa;
	const uint8_t frame[] = { 0x81, 0xa4, 't', 'y', 'p', 'e' };
	struct fa_out out;
	size_t n;

	(void)state;
	frame_assembler_init(&fa);
	n = record(&r, 10, 0x1000, 0, frame, sizeof(frame), 0, sizeof(frame));
	assert_int_equal(frame_assembler_add(&fa, &r, n, &out), 0);
	assert_ptr_equal(out.frame, r.data);
	assert_int_equal(out.len, sizeof(frame));
	assert_false(out.lost);
	frame_assembler_free(&fa);
}

static void test_chunks_join_in_order(void **state)
{
	static struct zs_tap_record r;
	const uint32_t len = 3 * ZS_TAP_CHUNK + 17;
	uint8_t *frame = pattern(len);
	struct frame_assembler fa;
	struct fa_out out;

	(void)state;
	frame_assembler_init(&fa);
	for (uint32_t off = 0; off < len; off += ZS_TAP_CHUNK) {
		uint32_t n = len - off < ZS_TAP_CHUNK ? len - off : ZS_TAP_CHUNK;
		size_t sz = record(&r, 10, 0x1000, ZS_TAP_F_TX, frame, len, off, n);

		assert_int_equal(frame_assembler_add(&fa, &r, sz, &out), 0);
		assert_false(out.lost);
		if (off + n < len)
			assert_null(out.frame);
	}
	assert_non_null(out.frame);
	assert_int_equal(out.len, len);
	assert_memory_equal(out.frame, frame, len);
	free(frame);
	frame_assembler_free(&fa);
}

static void test_interleaved_sockets_and_directions(void **state)
{
	static struct zs_tap_record r;
	const uint32_t len = 2 * ZS_TAP_CHUNK;
	uint8_t *a = pattern(len), *b = pattern(len);
	struct frame_assembler fa;
	struct fa_out out;
	size_t sz;

	(void)state;
	b[5] ^= 0xff;
	frame_assembler_init(&fa);
	/* a on socket 1 received, b on socket 1 sent: two frames in flight at once */
	sz = record(&r, 10, 1, 0, a, len, 0, ZS_TAP_CHUNK);
	assert_int_equal(frame_assembler_add(&fa, &r, sz, &out), 0);
	sz = record(&r, 10, 1, ZS_TAP_F_TX, b, len, 0, ZS_TAP_CHUNK);
	assert_int_equal(frame_assembler_add(&fa, &r, sz, &out), 0);
	sz = record(&r, 10, 1, 0, a, len, ZS_TAP_CHUNK, ZS_TAP_CHUNK);
	assert_int_equal(frame_assembler_add(&fa, &r, sz, &out), 0);
	assert_non_null(out.frame);
	assert_memory_equal(out.frame, a, len);
	sz = record(&r, 10, 1, ZS_TAP_F_TX, b, len, ZS_TAP_CHUNK, ZS_TAP_CHUNK);
	assert_int_equal(frame_assembler_add(&fa, &r, sz, &out), 0);
	assert_non_null(out.frame);
	assert_memory_equal(out.frame, b, len);
	free(a);
	free(b);
	frame_assembler_free(&fa);
}

static void test_missing_chunk_loses_the_frame(void **state)
{
	static struct zs_tap_record r;
	const uint32_t len = 3 * ZS_TAP_CHUNK;
	uint8_t *frame = pattern(len);
	struct frame_assembler fa;
	struct fa_out out;
	size_t sz;

	(void)state;
	frame_assembler_init(&fa);
	sz = record(&r, 42, 7, 0, frame, len, 0, ZS_TAP_CHUNK);
	assert_int_equal(frame_assembler_add(&fa, &r, sz, &out), 0);
	/* the middle chunk was dropped by the ring */
	sz = record(&r, 42, 7, 0, frame, len, 2 * ZS_TAP_CHUNK, ZS_TAP_CHUNK);
	assert_int_equal(frame_assembler_add(&fa, &r, sz, &out), 0);
	assert_null(out.frame);
	assert_true(out.lost);
	assert_int_equal(out.lost_tgid, 42);
	/* a tail with no head at all is lost too */
	assert_int_equal(frame_assembler_add(&fa, &r, sz, &out), 0);
	assert_true(out.lost);
	/* the next frame's head discards a frame whose tail never came */
	sz = record(&r, 42, 7, 0, frame, len, 0, ZS_TAP_CHUNK);
	assert_int_equal(frame_assembler_add(&fa, &r, sz, &out), 0);
	assert_false(out.lost);
	sz = record(&r, 42, 7, 0, frame, 10, 0, 10);
	assert_int_equal(frame_assembler_add(&fa, &r, sz, &out), 0);
	assert_true(out.lost);
	assert_non_null(out.frame);
	assert_int_equal(out.len, 10);
	free(frame);
	frame_assembler_free(&fa);
}

static void test_malformed_records_rejected(void **state)
{
	static struct zs_tap_record r;
	const uint8_t frame[8] = { 0 };
	struct frame_assembler fa;
	struct fa_out out;
	size_t sz;

	(void)state;
	frame_assembler_init(&fa);
	assert_int_equal(frame_assembler_add(&fa, &r, sizeof(r.h) - 1, &out), -EPROTO);
	sz = record(&r, 1, 1, 0, frame, 8, 0, 8);
	/* chunk_len says more than the record holds */
	assert_int_equal(frame_assembler_add(&fa, &r, sz - 1, &out), -EPROTO);
	/* a chunk past the frame's end */
	r.h.offset = 4;
	assert_int_equal(frame_assembler_add(&fa, &r, sz, &out), -EPROTO);
	assert_null(out.frame);
	frame_assembler_free(&fa);
}

static void test_slots_full_evicts_the_oldest(void **state)
{
	static struct zs_tap_record r;
	const uint32_t len = 2 * ZS_TAP_CHUNK;
	uint8_t *frame = pattern(len);
	struct frame_assembler fa;
	struct fa_out out;
	size_t sz;

	(void)state;
	frame_assembler_init(&fa);
	for (uint32_t i = 0; i < FA_SLOTS; i++) {
		sz = record(&r, 100 + i, i, 0, frame, len, 0, ZS_TAP_CHUNK);
		assert_int_equal(frame_assembler_add(&fa, &r, sz, &out), 0);
		assert_false(out.lost);
	}
	sz = record(&r, 999, 999, 0, frame, len, 0, ZS_TAP_CHUNK);
	assert_int_equal(frame_assembler_add(&fa, &r, sz, &out), 0);
	assert_true(out.lost);
	assert_int_equal(out.lost_tgid, 100);
	/* the evicted frame's tail is then an orphan; the others still complete */
	sz = record(&r, 100, 0, 0, frame, len, ZS_TAP_CHUNK, ZS_TAP_CHUNK);
	assert_int_equal(frame_assembler_add(&fa, &r, sz, &out), 0);
	assert_null(out.frame);
	assert_true(out.lost);
	sz = record(&r, 101, 1, 0, frame, len, ZS_TAP_CHUNK, ZS_TAP_CHUNK);
	assert_int_equal(frame_assembler_add(&fa, &r, sz, &out), 0);
	assert_non_null(out.frame);
	assert_false(out.lost);
	free(frame);
	frame_assembler_free(&fa);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_record_frame_needs_no_copy),
		cmocka_unit_test(test_chunks_join_in_order),
		cmocka_unit_test(test_interleaved_sockets_and_directions),
		cmocka_unit_test(test_missing_chunk_loses_the_frame),
		cmocka_unit_test(test_malformed_records_rejected),
		cmocka_unit_test(test_slots_full_evicts_the_oldest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
