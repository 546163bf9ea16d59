// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the LMCache model (include/lmcache_model.h) and its
 * decoder.  An input is a header byte and then records:
 *
 *   byte 0           bit 0: start complete; bits 1-7: max_kv_keys / 4
 *   each record      1 byte channel (mod 4), 2 bytes big-endian length,
 *                    that many payload bytes (cut short at the end)
 *
 * After every feed: the model's own recount agrees (lmc_model_check), the
 * result is one of the three and the decoded/undecodable counters moved
 * by exactly one, counters never go back, completeness is never regained,
 * progress is within [0, 1] (0 with no workers, 1 with none syncing),
 * syncing + completed <= registered, nothing missing with nothing
 * syncing, keys stored <= max_kv_keys and <= kv_pool_keys, and a payload
 * the model accepts is one complete msgpack map for msgpack-c too.  Any
 * violation aborts.
 *
 *   make fuzz-lmcache            # on a copy of tests/fuzz/corpus_lmcache
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <msgpack.h>

#include "lmcache_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                     \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "invariant failed: %s (line %d)\n", #cond, __LINE__); \
			abort();                                                        \
		}                                                                       \
	} while (0)

/* Only called on payloads the model decoded, which are bounded. */
static bool msgpack_c_sees_one_map(const uint8_t *p, size_t n)
{
	msgpack_zone z;
	msgpack_object o;
	size_t off = 0;
	bool ok;

	if (!msgpack_zone_init(&z, 2048))
		abort();
	ok = msgpack_unpack((const char *)p, n, &off, &z, &o) == MSGPACK_UNPACK_SUCCESS &&
	     o.type == MSGPACK_OBJECT_MAP;
	msgpack_zone_destroy(&z);
	return ok;
}

static void check_gauges(const struct lmc_gauges *g, const struct lmc_gauges *prev,
			 size_t max_keys)
{
	CHECK(g->full_sync_global_progress >= 0.0 && g->full_sync_global_progress <= 1.0);
	if (!g->registered_workers)
		CHECK(g->full_sync_global_progress == 0.0);
	else if (!g->full_sync_workers_syncing)
		CHECK(g->full_sync_global_progress == 1.0);
	CHECK(g->full_sync_workers_syncing + g->full_sync_workers_completed <=
	      g->registered_workers);
	if (!g->full_sync_workers_syncing)
		CHECK(g->full_sync_missing_batches == 0);
	CHECK(g->keys_stored <= max_keys);
	CHECK(g->keys_stored <= g->kv_pool_keys);
	CHECK(g->workers_keys_unknown <= g->registered_workers);
	CHECK(g->memory_bytes > 0);
	CHECK(g->kv_op_seq_discontinuity >= prev->kv_op_seq_discontinuity);
	CHECK(g->keys_over_limit >= prev->keys_over_limit);
	CHECK(g->workers_learned >= prev->workers_learned);
	CHECK(!g->complete || prev->complete);
	if (g->keys_over_limit)
		CHECK(!g->complete);
	if (g->workers_learned)
		CHECK(!g->complete);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lmc_gauges prev, now;
	struct lmc_model *m;
	size_t max_keys, pos = 1;

	if (size < 1)
		return 0;
	max_keys = (size_t)(data[0] >> 1) * 4;
	m = lmc_model_new(max_keys, data[0] & 1);
	if (!m)
		abort();
	lmc_model_gauges(m, &prev);
	CHECK(prev.complete == (data[0] & 1));
	while (pos + 3 <= size) {
		enum lmc_channel ch = (enum lmc_channel)(data[pos] & 3);
		size_t len = (size_t)data[pos + 1] << 8 | data[pos + 2];
		const uint8_t *payload = data + pos + 3;
		enum lmc_result r;

		pos += 3;
		if (len > size - pos)
			len = size - pos;
		pos += len;
		r = lmc_model_feed(m, ch, payload, len);
		CHECK(r == LMC_APPLIED || r == LMC_IGNORED || r == LMC_UNDECODABLE);
		CHECK(lmc_model_check(m) == 0);
		lmc_model_gauges(m, &now);
		check_gauges(&now, &prev, max_keys);
		if (r == LMC_UNDECODABLE) {
			CHECK(now.undecodable == prev.undecodable + 1);
			CHECK(now.decoded == prev.decoded);
		} else {
			CHECK(now.decoded == prev.decoded + 1);
			CHECK(now.undecodable == prev.undecodable);
			CHECK(msgpack_c_sees_one_map(payload, len));
		}
		prev = now;
	}
	lmc_model_free(m);
	return 0;
}
