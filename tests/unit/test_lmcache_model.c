// SPDX-License-Identifier: MIT
/*
 * The LMCache controller model: its key set, its decoder and its rules.
 * Payloads are built here with msgpack-c's packer the way msgspec encodes
 * LMCache's messages: a map, "type" first with the class name, then the
 * fields in declaration order (KVOpEvent untagged).  Every expected value
 * is what LMCache's own code computes for the same sequence.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "kv_keyset.h"
#include "lmcache_messages.h"
#include "lmcache_model.h"

/* ---- building payloads ---- */

struct pl {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static void pl_begin(struct pl *p, const char *type, uint32_t n_fields)
{
	msgpack_sbuffer_init(&p->sb);
	msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
	msgpack_pack_map(&p->pk, n_fields + 1);
	msgpack_pack_str_with_body(&p->pk, "type", 4);
	msgpack_pack_str_with_body(&p->pk, type, strlen(type));
}

static void pk_str(struct pl *p, const char *s)
{
	msgpack_pack_str_with_body(&p->pk, s, strlen(s));
}

static void kv_str(struct pl *p, const char *k, const char *v)
{
	pk_str(p, k);
	if (v)
		pk_str(p, v);
	else
		msgpack_pack_nil(&p->pk);
}

static void kv_int(struct pl *p, const char *k, int64_t v)
{
	pk_str(p, k);
	msgpack_pack_int64(&p->pk, v);
}

static void pl_end(struct pl *p)
{
	msgpack_sbuffer_destroy(&p->sb);
}

/* RegisterMsg / HeartbeatMsg: instance_id, worker_id, ip, port, peer_init_url */
static void mk_worker_msg(struct pl *p, const char *type, const char *inst, int64_t wid)
{
	pl_begin(p, type, 5);
	kv_str(p, "instance_id", inst);
	kv_int(p, "worker_id", wid);
	kv_str(p, "ip", "127.0.0.1");
	kv_int(p, "port", 8000 + wid);
	kv_str(p, "peer_init_url", NULL);
}

static void mk_deregister(struct pl *p, const char *inst, int64_t wid)
{
	pl_begin(p, "DeRegisterMsg", 4);
	kv_str(p, "instance_id", inst);
	kv_int(p, "worker_id", wid);
	kv_str(p, "ip", "127.0.0.1");
	kv_int(p, "port", 8000 + wid);
}

struct op {
	const char *op_type;
	int64_t key, seq;
};

static void pack_op(struct pl *p, const struct op *o)
{
	msgpack_pack_map(&p->pk, 3);
	kv_str(p, "op_type", o->op_type);
	kv_int(p, "key", o->key);
	kv_int(p, "seq_num", o->seq);
}

static void mk_kv(struct pl *p, const char *inst, int64_t wid, const char *loc,
		  const struct op *ops, size_t n)
{
	pl_begin(p, "BatchedKVOperationMsg", 4);
	kv_str(p, "instance_id", inst);
	kv_int(p, "worker_id", wid);
	kv_str(p, "location", loc);
	pk_str(p, "operations");
	msgpack_pack_array(&p->pk, n);
	for (size_t i = 0; i < n; i++)
		pack_op(p, &ops[i]);
}

static void mk_start(struct pl *p, const char *inst, int64_t wid, const char *loc,
		     const char *sync_id, int64_t total, int64_t batches)
{
	pl_begin(p, "FullSyncStartMsg", 6);
	kv_str(p, "instance_id", inst);
	kv_int(p, "worker_id", wid);
	kv_str(p, "location", loc);
	kv_str(p, "sync_id", sync_id);
	kv_int(p, "total_keys", total);
	kv_int(p, "batch_count", batches);
}

static void mk_ret(struct pl *p, const char *sync_id, bool accepted, const char *err)
{
	pl_begin(p, "FullSyncStartRetMsg", 3);
	kv_str(p, "sync_id", sync_id);
	pk_str(p, "accepted");
	if (accepted)
		msgpack_pack_true(&p->pk);
	else
		msgpack_pack_false(&p->pk);
	kv_str(p, "error_msg", err);
}

static void mk_batch(struct pl *p, const char *inst, int64_t wid, const char *loc,
		     const char *sync_id, int64_t batch_id, const int64_t *keys, size_t n)
{
	pl_begin(p, "FullSyncBatchMsg", 6);
	kv_str(p, "instance_id", inst);
	kv_int(p, "worker_id", wid);
	kv_str(p, "location", loc);
	kv_str(p, "sync_id", sync_id);
	kv_int(p, "batch_id", batch_id);
	pk_str(p, "keys");
	msgpack_pack_array(&p->pk, n);
	for (size_t i = 0; i < n; i++)
		msgpack_pack_int64(&p->pk, keys[i]);
}

static void mk_end(struct pl *p, const char *inst, int64_t wid, const char *loc,
		   const char *sync_id, int64_t actual)
{
	pl_begin(p, "FullSyncEndMsg", 5);
	kv_str(p, "instance_id", inst);
	kv_int(p, "worker_id", wid);
	kv_str(p, "location", loc);
	kv_str(p, "sync_id", sync_id);
	kv_int(p, "actual_total_keys", actual);
}

static enum lmc_result feed_pl(struct lmc_model *m, enum lmc_channel ch, struct pl *p)
{
	enum lmc_result r = lmc_model_feed(m, ch, p->sb.data, p->sb.size);

	pl_end(p);
	assert_int_equal(lmc_model_check(m), 0);
	return r;
}

/* One-line feeders for the rule tests; each asserts the message applied. */
static void reg(struct lmc_model *m, const char *inst, int64_t wid)
{
	struct pl p;

	mk_worker_msg(&p, "RegisterMsg", inst, wid);
	assert_int_equal(feed_pl(m, LMC_REQUEST, &p), LMC_APPLIED);
}

static void heartbeat(struct lmc_model *m, const char *inst, int64_t wid)
{
	struct pl p;

	mk_worker_msg(&p, "HeartbeatMsg", inst, wid);
	assert_int_equal(feed_pl(m, LMC_REQUEST, &p), LMC_APPLIED);
}

static void dereg(struct lmc_model *m, const char *inst, int64_t wid)
{
	struct pl p;

	mk_deregister(&p, inst, wid);
	assert_int_equal(feed_pl(m, LMC_PULL, &p), LMC_APPLIED);
}

static void kv(struct lmc_model *m, const char *inst, int64_t wid, const char *loc,
	       const struct op *ops, size_t n)
{
	struct pl p;

	mk_kv(&p, inst, wid, loc, ops, n);
	assert_int_equal(feed_pl(m, LMC_PULL, &p), LMC_APPLIED);
}

/* n admits of keys base.., seq numbers seq0.. */
static void admits(struct lmc_model *m, const char *inst, int64_t wid, const char *loc,
		   int64_t base, size_t n, int64_t seq0)
{
	struct op *ops = calloc(n, sizeof(*ops));

	assert_non_null(ops);
	for (size_t i = 0; i < n; i++)
		ops[i] = (struct op){"admit", base + (int64_t)i, seq0 + (int64_t)i};
	kv(m, inst, wid, loc, ops, n);
	free(ops);
}

static void start(struct lmc_model *m, const char *inst, int64_t wid, const char *loc,
		  const char *sync_id, int64_t batches)
{
	struct pl p;

	mk_start(&p, inst, wid, loc, sync_id, 0, batches);
	assert_int_equal(feed_pl(m, LMC_REQUEST, &p), LMC_APPLIED);
}

static void ret(struct lmc_model *m, const char *sync_id, bool accepted)
{
	struct pl p;

	mk_ret(&p, sync_id, accepted, accepted ? NULL : "worker already syncing");
	assert_int_equal(feed_pl(m, LMC_REPLY_OUT, &p), LMC_APPLIED);
}

static void batch(struct lmc_model *m, const char *inst, int64_t wid, const char *loc,
		  const char *sync_id, int64_t batch_id, int64_t base, size_t n)
{
	int64_t *keys = calloc(n ? n : 1, sizeof(*keys));
	struct pl p;

	assert_non_null(keys);
	for (size_t i = 0; i < n; i++)
		keys[i] = base + (int64_t)i;
	mk_batch(&p, inst, wid, loc, sync_id, batch_id, keys, n);
	assert_int_equal(feed_pl(m, LMC_PULL, &p), LMC_APPLIED);
	free(keys);
}

static void end(struct lmc_model *m, const char *inst, int64_t wid, const char *loc,
		const char *sync_id)
{
	struct pl p;

	mk_end(&p, inst, wid, loc, sync_id, 0);
	assert_int_equal(feed_pl(m, LMC_PULL, &p), LMC_APPLIED);
}

static struct lmc_gauges g(const struct lmc_model *m)
{
	struct lmc_gauges out;

	lmc_model_gauges(m, &out);
	return out;
}

/* ---- the key set ---- */

static void test_keyset_basics(void **state)
{
	struct kv_keyset s = KV_KEYSET_INIT;

	(void)state;
	assert_false(kv_keyset_contains(&s, 0));
	assert_false(kv_keyset_remove(&s, 7));
	assert_int_equal(kv_keyset_add(&s, 0), 1);
	assert_int_equal(kv_keyset_add(&s, 0), 0);
	assert_int_equal(kv_keyset_add(&s, UINT64_MAX), 1);
	assert_int_equal(kv_keyset_add(&s, 7), 1);
	assert_int_equal(kv_keyset_add(&s, 7), 0);
	assert_int_equal(kv_keyset_count(&s), 3);
	assert_true(kv_keyset_contains(&s, 0));
	assert_true(kv_keyset_contains(&s, UINT64_MAX));
	assert_true(kv_keyset_remove(&s, 0));
	assert_false(kv_keyset_contains(&s, 0));
	assert_true(kv_keyset_remove(&s, 7));
	assert_false(kv_keyset_remove(&s, 7));
	assert_int_equal(kv_keyset_count(&s), 1);
	kv_keyset_clear(&s);
	assert_int_equal(kv_keyset_count(&s), 0);
	assert_int_equal(kv_keyset_bytes(&s), 0);
}

/* Against a reference: a byte per key of a small universe, under a
 * pseudo-random mix of adds and removes that forces growth, long probe
 * runs (keys that differ only in high bits) and backward shifts. */
static void test_keyset_matches_reference(void **state)
{
	enum { U = 1 << 15 };
	static unsigned char ref[U];
	struct kv_keyset s = KV_KEYSET_INIT;
	uint64_t x = 88172645463325252ULL;
	size_t count = 0;

	(void)state;
	memset(ref, 0, sizeof(ref));
	for (int i = 0; i < 400000; i++) {
		uint32_t k;
		uint64_t key;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		k = (uint32_t)(x % U);
		key = (uint64_t)k << 40; /* low bits all equal */
		if ((x >> 40) % 3) {
			int rc = kv_keyset_add(&s, key);

			assert_int_equal(rc, ref[k] ? 0 : 1);
			count += !ref[k];
			ref[k] = 1;
		} else {
			assert_int_equal(kv_keyset_remove(&s, key), ref[k] == 1);
			count -= ref[k];
			ref[k] = 0;
		}
	}
	assert_int_equal(kv_keyset_count(&s), count);
	for (uint32_t k = 0; k < U; k++)
		assert_int_equal(kv_keyset_contains(&s, (uint64_t)k << 40), ref[k]);
	kv_keyset_clear(&s);
}

static void test_keyset_grows_and_shrinks(void **state)
{
	struct kv_keyset s = KV_KEYSET_INIT;
	size_t big;

	(void)state;
	for (uint64_t k = 1; k <= 100000; k++)
		assert_int_equal(kv_keyset_add(&s, k), 1);
	big = kv_keyset_bytes(&s);
	/* 3/4 full at most: 100,000 keys need 2^18 slots of 8 bytes. */
	assert_int_equal(big, (size_t)(1 << 18) * 8);
	for (uint64_t k = 1; k <= 99000; k++)
		assert_true(kv_keyset_remove(&s, k));
	assert_int_equal(kv_keyset_count(&s), 1000);
	assert_true(kv_keyset_bytes(&s) <= 4096 * 8);
	for (uint64_t k = 99001; k <= 100000; k++)
		assert_true(kv_keyset_contains(&s, k));
	for (uint64_t k = 99001; k <= 100000; k++)
		assert_true(kv_keyset_remove(&s, k));
	assert_int_equal(kv_keyset_bytes(&s), 0);
	assert_int_equal(kv_keyset_reserve(&s, 1000), 0);
	assert_int_equal(kv_keyset_bytes(&s), 2048 * 8);
	assert_int_equal(kv_keyset_reserve(&s, SIZE_MAX), -ENOMEM);
	kv_keyset_clear(&s);
}

/* ---- decoding ---- */

static int decode(struct pl *p, struct lmc_msg *out, msgpack_zone *z)
{
	return lmc_msg_decode(z, p->sb.data, p->sb.size, out);
}

static void test_decode_every_type(void **state)
{
	msgpack_zone z;
	struct lmc_msg m;
	struct pl p;
	const struct op ops[2] = {{"admit", 5, 1}, {"evict", -3, 2}};
	const int64_t keys[3] = {10, 11, -12};

	(void)state;
	assert_true(msgpack_zone_init(&z, 4096));

	mk_worker_msg(&p, "RegisterMsg", "inst", 3);
	assert_int_equal(decode(&p, &m, &z), 0);
	pl_end(&p);
	assert_int_equal(m.type, LMC_MSG_REGISTER);
	assert_int_equal(m.worker.instance_id.len, 4);
	assert_memory_equal(m.worker.instance_id.ptr, "inst", 4);
	assert_int_equal(m.worker.worker_id.u, 3);
	assert_false(m.worker.worker_id.neg);
	assert_int_equal(m.port.u, 8003);
	assert_null(m.peer_init_url.ptr);

	mk_worker_msg(&p, "HeartbeatMsg", "i", 0);
	assert_int_equal(decode(&p, &m, &z), 0);
	pl_end(&p);
	assert_int_equal(m.type, LMC_MSG_HEARTBEAT);

	mk_deregister(&p, "i", 9);
	assert_int_equal(decode(&p, &m, &z), 0);
	pl_end(&p);
	assert_int_equal(m.type, LMC_MSG_DEREGISTER);
	assert_int_equal(m.worker.worker_id.u, 9);

	mk_kv(&p, "i", 1, "LocalCPUBackend", ops, 2);
	assert_int_equal(decode(&p, &m, &z), 0);
	pl_end(&p);
	assert_int_equal(m.type, LMC_MSG_BATCHED_KV_OPERATION);
	assert_int_equal(m.location.len, strlen("LocalCPUBackend"));
	assert_int_equal(m.n_ops, 2);
	assert_false(m.ops[0].evict);
	assert_int_equal(m.ops[0].key, 5);
	assert_int_equal(m.ops[0].seq_num.u, 1);
	assert_true(m.ops[1].evict);
	assert_int_equal(m.ops[1].key, (uint64_t)-3);
	assert_int_equal(m.ops[1].seq_num.u, 2);

	mk_start(&p, "i", 1, "L", "s1", 100, 7);
	assert_int_equal(decode(&p, &m, &z), 0);
	pl_end(&p);
	assert_int_equal(m.type, LMC_MSG_FULL_SYNC_START);
	assert_int_equal(m.sync_id.len, 2);
	assert_int_equal(m.total_keys.u, 100);
	assert_int_equal(m.batch_count.u, 7);

	mk_batch(&p, "i", 1, "L", "s1", 4, keys, 3);
	assert_int_equal(decode(&p, &m, &z), 0);
	pl_end(&p);
	assert_int_equal(m.type, LMC_MSG_FULL_SYNC_BATCH);
	assert_int_equal(m.batch_id.u, 4);
	assert_int_equal(m.n_keys, 3);
	assert_int_equal(m.keys[2], (uint64_t)-12);

	mk_end(&p, "i", 1, "L", "s1", 3);
	assert_int_equal(decode(&p, &m, &z), 0);
	pl_end(&p);
	assert_int_equal(m.type, LMC_MSG_FULL_SYNC_END);
	assert_int_equal(m.actual_total_keys.u, 3);

	pl_begin(&p, "FullSyncStatusMsg", 3);
	kv_str(&p, "instance_id", "i");
	kv_int(&p, "worker_id", 1);
	kv_str(&p, "sync_id", "s1");
	assert_int_equal(decode(&p, &m, &z), 0);
	pl_end(&p);
	assert_int_equal(m.type, LMC_MSG_FULL_SYNC_STATUS);

	mk_ret(&p, "s1", false, "no");
	assert_int_equal(decode(&p, &m, &z), 0);
	pl_end(&p);
	assert_int_equal(m.type, LMC_MSG_FULL_SYNC_START_RET);
	assert_false(m.accepted);
	assert_int_equal(m.error_msg.len, 2);

	/* error_msg has a default: it may be left out. */
	pl_begin(&p, "FullSyncStartRetMsg", 2);
	kv_str(&p, "sync_id", "s1");
	pk_str(&p, "accepted");
	msgpack_pack_true(&p.pk);
	assert_int_equal(decode(&p, &m, &z), 0);
	pl_end(&p);
	assert_true(m.accepted);
	assert_null(m.error_msg.ptr);

	/* A type the model does not use. */
	pl_begin(&p, "BatchedP2PLookupMsg", 0);
	assert_int_equal(decode(&p, &m, &z), 0);
	pl_end(&p);
	assert_int_equal(m.type, LMC_MSG_OTHER);
	msgpack_zone_destroy(&z);
}

/* msgspec accepts an int in any msgpack width, and so must the model. */
static void test_decode_int_widths(void **state)
{
	msgpack_zone z;
	struct lmc_msg m;
	struct pl p;
	struct {
		int kind; /* 0 fixint, 1 u8, 2 u16, 3 u32, 4 u64, 5 i8, 6 i16, 7 i32, 8 i64 */
		int64_t v;
	} cases[] = {{0, 5},  {1, 200},	 {2, 60000},	 {3, 4000000000LL},
		     {4, 7},  {5, -100}, {6, -30000},	 {7, -2000000000LL},
		     {8, -5}, {0, -1},	 {4, INT64_MAX}, {8, INT64_MIN}};

	(void)state;
	assert_true(msgpack_zone_init(&z, 4096));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = cases[i].v;

		pl_begin(&p, "DeRegisterMsg", 4);
		kv_str(&p, "instance_id", "i");
		pk_str(&p, "worker_id");
		switch (cases[i].kind) {
		case 0: msgpack_pack_int64(&p.pk, v); break;
		case 1: msgpack_pack_fix_uint8(&p.pk, (uint8_t)v); break;
		case 2: msgpack_pack_fix_uint16(&p.pk, (uint16_t)v); break;
		case 3: msgpack_pack_fix_uint32(&p.pk, (uint32_t)v); break;
		case 4: msgpack_pack_fix_uint64(&p.pk, (uint64_t)v); break;
		case 5: msgpack_pack_fix_int8(&p.pk, (int8_t)v); break;
		case 6: msgpack_pack_fix_int16(&p.pk, (int16_t)v); break;
		case 7: msgpack_pack_fix_int32(&p.pk, (int32_t)v); break;
		default: msgpack_pack_fix_int64(&p.pk, v); break;
		}
		kv_str(&p, "ip", "x");
		kv_int(&p, "port", 1);
		assert_int_equal(decode(&p, &m, &z), 0);
		pl_end(&p);
		assert_int_equal(m.worker.worker_id.u, (uint64_t)v);
		assert_int_equal(m.worker.worker_id.neg, v < 0);
		msgpack_zone_clear(&z);
	}
	/* Beyond int64: a uint64 is a distinct, positive value. */
	pl_begin(&p, "DeRegisterMsg", 4);
	kv_str(&p, "instance_id", "i");
	pk_str(&p, "worker_id");
	msgpack_pack_uint64(&p.pk, UINT64_MAX);
	kv_str(&p, "ip", "x");
	kv_int(&p, "port", 1);
	assert_int_equal(decode(&p, &m, &z), 0);
	pl_end(&p);
	assert_int_equal(m.worker.worker_id.u, UINT64_MAX);
	assert_false(m.worker.worker_id.neg);
	msgpack_zone_destroy(&z);
}

static void test_int_successor(void **state)
{
	(void)state;
	assert_true(lmc_int_is_next((struct lmc_int){5, false}, (struct lmc_int){6, false}));
	assert_false(lmc_int_is_next((struct lmc_int){5, false}, (struct lmc_int){5, false}));
	assert_true(lmc_int_is_next((struct lmc_int){(uint64_t)-1, true}, (struct lmc_int){0, false}));
	assert_true(lmc_int_is_next((struct lmc_int){(uint64_t)-2, true},
				    (struct lmc_int){(uint64_t)-1, true}));
	assert_false(lmc_int_is_next((struct lmc_int){(uint64_t)-1, true},
				     (struct lmc_int){UINT64_MAX, false}));
	assert_false(lmc_int_is_next((struct lmc_int){UINT64_MAX, false}, (struct lmc_int){0, false}));
	assert_true(lmc_int_is_next((struct lmc_int){(uint64_t)INT64_MAX, false},
				    (struct lmc_int){(uint64_t)INT64_MAX + 1, false}));
}

static enum lmc_result feed_raw(struct lmc_model *m, enum lmc_channel ch, const void *b, size_t n)
{
	enum lmc_result r = lmc_model_feed(m, ch, b, n);

	assert_int_equal(lmc_model_check(m), 0);
	return r;
}

static void test_undecodable(void **state)
{
	struct lmc_model *m = lmc_model_new(1000, true);
	static const uint8_t garbage[] = {0xc1, 0x00, 0x01};
	static const uint8_t array[] = {0x91, 0x01};
	static const uint8_t integer[] = {0x05};
	static const uint8_t huge_array[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x00};
	static const uint8_t huge_map[] = {0x81, 0xa4, 't', 'y', 'p', 'e', 0xdf, 0xff, 0xff, 0xff, 0xff};
	uint8_t deep[64];
	struct pl p;
	uint64_t undecodable = 0;
	const struct op bad_op[1] = {{"touch", 1, 1}};

	(void)state;
	assert_non_null(m);
	reg(m, "i", 1);
	assert_int_equal(feed_raw(m, LMC_PULL, garbage, sizeof(garbage)), LMC_UNDECODABLE);
	assert_int_equal(feed_raw(m, LMC_PULL, array, sizeof(array)), LMC_UNDECODABLE);
	assert_int_equal(feed_raw(m, LMC_PULL, integer, sizeof(integer)), LMC_UNDECODABLE);
	assert_int_equal(feed_raw(m, LMC_PULL, huge_array, sizeof(huge_array)), LMC_UNDECODABLE);
	assert_int_equal(feed_raw(m, LMC_PULL, huge_map, sizeof(huge_map)), LMC_UNDECODABLE);
	assert_int_equal(feed_raw(m, LMC_PULL, "", 0), LMC_UNDECODABLE);
	undecodable += 6;
	/* 63 nested arrays around a map: past msgpack-c's depth limit. */
	memset(deep, 0x91, sizeof(deep));
	deep[63] = 0x80;
	assert_int_equal(feed_raw(m, LMC_PULL, deep, sizeof(deep)), LMC_UNDECODABLE);
	undecodable++;

	/* Every proper prefix of a valid message is truncated. */
	{
		const struct op ops[3] = {{"admit", 1, 1}, {"admit", 2, 2}, {"evict", 1, 3}};

		mk_kv(&p, "i", 1, "L", ops, 3);
		for (size_t n = 1; n < p.sb.size; n++) {
			assert_int_equal(feed_raw(m, LMC_PULL, p.sb.data, n), LMC_UNDECODABLE);
			undecodable++;
		}
		/* ... and a trailing byte is one too many, as in msgspec. */
		msgpack_pack_nil(&p.pk);
		assert_int_equal(feed_raw(m, LMC_PULL, p.sb.data, p.sb.size), LMC_UNDECODABLE);
		undecodable++;
		pl_end(&p);
	}
	/* Missing field. */
	pl_begin(&p, "DeRegisterMsg", 3);
	kv_str(&p, "instance_id", "i");
	kv_int(&p, "worker_id", 1);
	kv_str(&p, "ip", "x");
	assert_int_equal(feed_pl(m, LMC_PULL, &p), LMC_UNDECODABLE);
	/* Optional but without a default: peer_init_url must be there. */
	pl_begin(&p, "RegisterMsg", 4);
	kv_str(&p, "instance_id", "j");
	kv_int(&p, "worker_id", 1);
	kv_str(&p, "ip", "x");
	kv_int(&p, "port", 1);
	assert_int_equal(feed_pl(m, LMC_REQUEST, &p), LMC_UNDECODABLE);
	/* Wrong types: str for int, float for int, bool for int, int for bool,
	 * bin for str, an op_type outside the enum, a non-str key. */
	pl_begin(&p, "DeRegisterMsg", 4);
	kv_str(&p, "instance_id", "i");
	kv_str(&p, "worker_id", "1");
	kv_str(&p, "ip", "x");
	kv_int(&p, "port", 1);
	assert_int_equal(feed_pl(m, LMC_PULL, &p), LMC_UNDECODABLE);
	pl_begin(&p, "DeRegisterMsg", 4);
	kv_str(&p, "instance_id", "i");
	pk_str(&p, "worker_id");
	msgpack_pack_double(&p.pk, 1.0);
	kv_str(&p, "ip", "x");
	kv_int(&p, "port", 1);
	assert_int_equal(feed_pl(m, LMC_PULL, &p), LMC_UNDECODABLE);
	pl_begin(&p, "DeRegisterMsg", 4);
	kv_str(&p, "instance_id", "i");
	pk_str(&p, "worker_id");
	msgpack_pack_true(&p.pk);
	kv_str(&p, "ip", "x");
	kv_int(&p, "port", 1);
	assert_int_equal(feed_pl(m, LMC_PULL, &p), LMC_UNDECODABLE);
	pl_begin(&p, "FullSyncStartRetMsg", 2);
	kv_str(&p, "sync_id", "s");
	kv_int(&p, "accepted", 1);
	assert_int_equal(feed_pl(m, LMC_REPLY_OUT, &p), LMC_UNDECODABLE);
	pl_begin(&p, "DeRegisterMsg", 4);
	pk_str(&p, "instance_id");
	msgpack_pack_bin_with_body(&p.pk, "i", 1);
	kv_int(&p, "worker_id", 1);
	kv_str(&p, "ip", "x");
	kv_int(&p, "port", 1);
	assert_int_equal(feed_pl(m, LMC_PULL, &p), LMC_UNDECODABLE);
	mk_kv(&p, "i", 1, "L", bad_op, 1);
	assert_int_equal(feed_pl(m, LMC_PULL, &p), LMC_UNDECODABLE);
	pl_begin(&p, "DeRegisterMsg", 5);
	kv_str(&p, "instance_id", "i");
	kv_int(&p, "worker_id", 1);
	kv_str(&p, "ip", "x");
	kv_int(&p, "port", 1);
	msgpack_pack_int(&p.pk, 1);
	msgpack_pack_int(&p.pk, 2);
	assert_int_equal(feed_pl(m, LMC_PULL, &p), LMC_UNDECODABLE);
	/* An op missing its seq_num. */
	pl_begin(&p, "BatchedKVOperationMsg", 4);
	kv_str(&p, "instance_id", "i");
	kv_int(&p, "worker_id", 1);
	kv_str(&p, "location", "L");
	pk_str(&p, "operations");
	msgpack_pack_array(&p.pk, 1);
	msgpack_pack_map(&p.pk, 2);
	kv_str(&p, "op_type", "admit");
	kv_int(&p, "key", 1);
	assert_int_equal(feed_pl(m, LMC_PULL, &p), LMC_UNDECODABLE);
	/* No "type", or not a str. */
	msgpack_sbuffer_init(&p.sb);
	msgpack_packer_init(&p.pk, &p.sb, msgpack_sbuffer_write);
	msgpack_pack_map(&p.pk, 1);
	kv_str(&p, "instance_id", "i");
	assert_int_equal(feed_pl(m, LMC_PULL, &p), LMC_UNDECODABLE);
	msgpack_sbuffer_init(&p.sb);
	msgpack_packer_init(&p.pk, &p.sb, msgpack_sbuffer_write);
	msgpack_pack_map(&p.pk, 1);
	kv_int(&p, "type", 3);
	assert_int_equal(feed_pl(m, LMC_PULL, &p), LMC_UNDECODABLE);
	/* A second "type" naming another class. */
	pl_begin(&p, "DeRegisterMsg", 5);
	kv_str(&p, "instance_id", "i");
	kv_int(&p, "worker_id", 1);
	kv_str(&p, "ip", "x");
	kv_int(&p, "port", 1);
	kv_str(&p, "type", "RegisterMsg");
	assert_int_equal(feed_pl(m, LMC_PULL, &p), LMC_UNDECODABLE);
	undecodable += 13;

	/* None of it changed anything. */
	assert_int_equal(g(m).registered_workers, 1);
	assert_int_equal(g(m).kv_pool_keys, 0);
	assert_int_equal(g(m).undecodable, undecodable);
	assert_int_equal(g(m).decoded, 1);
	assert_true(g(m).complete);
	lmc_model_free(m);
}

static void test_extra_fields_and_order(void **state)
{
	struct lmc_model *m = lmc_model_new(1000, true);
	struct pl p;

	(void)state;
	/* Unknown fields are skipped (msgspec's default), in the message and
	 * in an op; the tag need not come first. */
	msgpack_sbuffer_init(&p.sb);
	msgpack_packer_init(&p.pk, &p.sb, msgpack_sbuffer_write);
	msgpack_pack_map(&p.pk, 7);
	kv_str(&p, "instance_id", "i");
	kv_str(&p, "type", "RegisterMsg");
	kv_int(&p, "worker_id", 1);
	kv_str(&p, "future", "x");
	kv_str(&p, "ip", "x");
	kv_int(&p, "port", 1);
	kv_str(&p, "peer_init_url", "tcp://x");
	assert_int_equal(feed_pl(m, LMC_REQUEST, &p), LMC_APPLIED);
	assert_int_equal(g(m).registered_workers, 1);

	pl_begin(&p, "BatchedKVOperationMsg", 5);
	kv_str(&p, "instance_id", "i");
	kv_int(&p, "worker_id", 1);
	kv_str(&p, "location", "L");
	pk_str(&p, "operations");
	msgpack_pack_array(&p.pk, 1);
	msgpack_pack_map(&p.pk, 4);
	kv_int(&p, "seq_num", 1);
	kv_str(&p, "note", "x");
	kv_int(&p, "key", 42);
	kv_str(&p, "op_type", "admit");
	pk_str(&p, "extra");
	msgpack_pack_array(&p.pk, 2);
	msgpack_pack_nil(&p.pk);
	msgpack_pack_map(&p.pk, 0);
	assert_int_equal(feed_pl(m, LMC_PULL, &p), LMC_APPLIED);
	assert_int_equal(g(m).kv_pool_keys, 1);

	/* A repeated tag naming the same class is fine; a repeated field
	 * overwrites (worker_id 5, then 1). */
	pl_begin(&p, "DeRegisterMsg", 6);
	kv_str(&p, "instance_id", "i");
	kv_int(&p, "worker_id", 5);
	kv_str(&p, "ip", "x");
	kv_int(&p, "port", 1);
	kv_str(&p, "type", "DeRegisterMsg");
	kv_int(&p, "worker_id", 1);
	assert_int_equal(feed_pl(m, LMC_PULL, &p), LMC_APPLIED);
	assert_int_equal(g(m).registered_workers, 0);

	/* Unknown types are ignored. */
	pl_begin(&p, "QueryWorkerInfoMsg", 1);
	kv_str(&p, "event_id", "e");
	assert_int_equal(feed_pl(m, LMC_REQUEST, &p), LMC_IGNORED);
	assert_int_equal(g(m).decoded, 4);
	lmc_model_free(m);
}

/* ---- the rules ---- */

static void test_registry(void **state)
{
	struct lmc_model *m = lmc_model_new(1000, true);

	(void)state;
	assert_int_equal(g(m).registered_workers, 0);
	assert_true(g(m).full_sync_global_progress == 0.0); /* no workers: 0.0 */
	reg(m, "a", 0);
	reg(m, "a", 1);
	reg(m, "b", 0);
	reg(m, "a", 0); /* duplicate */
	assert_int_equal(g(m).registered_workers, 3);
	heartbeat(m, "a", 1); /* known: nothing */
	heartbeat(m, "c", 7); /* unknown: registered */
	assert_int_equal(g(m).registered_workers, 4);
	assert_int_equal(g(m).workers_learned, 0); /* complete: nothing to learn */
	dereg(m, "a", 1);
	dereg(m, "a", 1); /* unknown now: nothing */
	dereg(m, "zz", 0);
	assert_int_equal(g(m).registered_workers, 3);
	heartbeat(m, "a", 1); /* heartbeat after deregister: back */
	assert_int_equal(g(m).registered_workers, 4);
	assert_true(g(m).full_sync_global_progress == 1.0);
	assert_true(g(m).complete);
	lmc_model_free(m);
}

static void test_many_workers(void **state)
{
	struct lmc_model *m = lmc_model_new(100000, true);
	char name[16];

	(void)state;
	for (int i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), "inst%d", i % 50);
		reg(m, name, i / 50);
		admits(m, name, i / 50, "L", i * 10, 10, 0);
	}
	assert_int_equal(g(m).registered_workers, 500);
	assert_int_equal(g(m).kv_pool_keys, 5000);
	for (int i = 0; i < 500; i += 2) {
		snprintf(name, sizeof(name), "inst%d", i % 50);
		dereg(m, name, i / 50);
	}
	assert_int_equal(g(m).registered_workers, 250);
	assert_int_equal(g(m).kv_pool_keys, 2500);
	assert_int_equal(g(m).keys_stored, 2500);
	lmc_model_free(m);
}

static void test_kv_pool_keys(void **state)
{
	struct lmc_model *m = lmc_model_new(1000, true);
	const struct op mixed[5] = {
		{"admit", 1, 0}, {"admit", 2, 1}, {"admit", 1, 2}, {"evict", 3, 3}, {"evict", 2, 4},
	};

	(void)state;
	reg(m, "i", 0);
	kv(m, "i", 0, "cpu", mixed, 5); /* {1} */
	assert_int_equal(g(m).kv_pool_keys, 1);
	admits(m, "i", 0, "disk", 1, 3, 0); /* same key, other location: counted again */
	assert_int_equal(g(m).kv_pool_keys, 4);
	admits(m, "nobody", 0, "cpu", 100, 5, 0); /* unknown worker: ignored */
	assert_int_equal(g(m).kv_pool_keys, 4);
	kv(m, "i", 0, "cpu", NULL, 0); /* empty batch */
	assert_int_equal(g(m).kv_pool_keys, 4);
	reg(m, "j", 0);
	admits(m, "j", 0, "cpu", 1, 2, 0);
	assert_int_equal(g(m).kv_pool_keys, 6);
	reg(m, "i", 0); /* duplicate register: all of i's locations cleared */
	assert_int_equal(g(m).kv_pool_keys, 2);
	dereg(m, "j", 0);
	assert_int_equal(g(m).kv_pool_keys, 0);
	assert_int_equal(g(m).keys_stored, 0);
	assert_int_equal(g(m).kv_op_seq_discontinuity, 0);
	lmc_model_free(m);
}

static void test_seq_discontinuity(void **state)
{
	struct lmc_model *m = lmc_model_new(1000, true);
	const struct op jump[2] = {{"admit", 1, 10}, {"admit", 2, 11}};
	const struct op two_gaps[3] = {{"admit", 3, 20}, {"admit", 4, 30}, {"admit", 5, 31}};
	const struct op back[1] = {{"evict", 3, 5}};
	const struct op after_gap[1] = {{"admit", 9, 6}};
	const struct op neg[3] = {{"admit", 1, -2}, {"admit", 1, -1}, {"admit", 1, 0}};

	(void)state;
	reg(m, "i", 0);
	admits(m, "i", 0, "L", 0, 3, 57); /* first batch: nothing to compare with */
	assert_int_equal(g(m).kv_op_seq_discontinuity, 0);
	admits(m, "i", 0, "L", 3, 3, 60); /* 60 follows 59 */
	assert_int_equal(g(m).kv_op_seq_discontinuity, 0);
	kv(m, "i", 0, "L", jump, 2); /* 10 after 62 */
	assert_int_equal(g(m).kv_op_seq_discontinuity, 1);
	kv(m, "i", 0, "L", two_gaps, 3); /* two gaps, one batch: +1 */
	assert_int_equal(g(m).kv_op_seq_discontinuity, 2);
	kv(m, "i", 0, "L", back, 1); /* step back */
	assert_int_equal(g(m).kv_op_seq_discontinuity, 3);
	kv(m, "i", 0, "L", after_gap, 1); /* previous advanced to 5, even after the gap */
	assert_int_equal(g(m).kv_op_seq_discontinuity, 3);
	admits(m, "i", 0, "other", 0, 1, 1000); /* per location: a new one is not checked */
	assert_int_equal(g(m).kv_op_seq_discontinuity, 3);
	admits(m, "nobody", 0, "L", 0, 1, 999); /* unknown worker: no check, no state */
	assert_int_equal(g(m).kv_op_seq_discontinuity, 3);
	reg(m, "i", 0); /* duplicate register: seq state gone */
	admits(m, "i", 0, "L", 0, 1, 500);
	assert_int_equal(g(m).kv_op_seq_discontinuity, 3);
	dereg(m, "i", 0);
	reg(m, "i", 0); /* new registration: no previous either */
	kv(m, "i", 0, "L", neg, 3); /* -2, -1, 0: contiguous through zero */
	assert_int_equal(g(m).kv_op_seq_discontinuity, 3);
	lmc_model_free(m);
}

static void test_full_sync(void **state)
{
	struct lmc_model *m = lmc_model_new(1000, true);
	struct lmc_gauges s;

	(void)state;
	reg(m, "i", 0);
	reg(m, "j", 0);
	reg(m, "k", 0);
	admits(m, "i", 0, "cpu", 0, 5, 0);
	admits(m, "i", 0, "disk", 100, 2, 0);

	start(m, "i", 0, "cpu", "s1", 4);
	/* Held until the controller answers. */
	s = g(m);
	assert_int_equal(s.full_sync_workers_syncing, 0);
	assert_int_equal(s.kv_pool_keys, 7);
	ret(m, "s1", true);
	s = g(m);
	assert_int_equal(s.full_sync_workers_syncing, 1);
	assert_int_equal(s.kv_pool_keys, 2); /* cpu cleared, disk kept */
	assert_int_equal(s.full_sync_missing_batches, 4);
	assert_true(s.full_sync_global_progress > 0.6666 && s.full_sync_global_progress < 0.6667);

	/* While syncing, incremental ops are dropped, for every location. */
	admits(m, "i", 0, "disk", 200, 3, 2);
	admits(m, "i", 0, "cpu", 200, 3, 5);
	assert_int_equal(g(m).kv_pool_keys, 2);

	batch(m, "i", 0, "cpu", "s1", 0, 0, 10);
	batch(m, "i", 0, "cpu", "s1", 0, 5, 10);    /* resent: id counted once, keys deduped */
	batch(m, "i", 0, "cpu", "s1", 9, 1000, 1);  /* outside range(4): keys yes, id no */
	batch(m, "i", 0, "cpu", "s1", -1, 2000, 1);
	batch(m, "i", 0, "cpu", "other", 1, 3000, 5); /* wrong sync_id: nothing */
	batch(m, "j", 0, "cpu", "s1", 1, 3000, 5);    /* not syncing: nothing */
	batch(m, "i", 0, "cpu", "s1", 2, 0, 0);	      /* empty batch still counts */
	s = g(m);
	assert_int_equal(s.kv_pool_keys, 2 + 15 + 2);
	assert_int_equal(s.full_sync_missing_batches, 2); /* 1 and 3 */
	assert_int_equal(s.kv_op_seq_discontinuity, 0);	  /* batches are never checked */

	end(m, "i", 0, "cpu", "nope"); /* wrong sync_id */
	assert_int_equal(g(m).full_sync_workers_syncing, 1);
	end(m, "i", 0, "cpu", "s1"); /* completes with batches missing */
	s = g(m);
	assert_int_equal(s.full_sync_workers_syncing, 0);
	assert_int_equal(s.full_sync_workers_completed, 1);
	assert_int_equal(s.full_sync_missing_batches, 0);
	assert_true(s.full_sync_global_progress == 1.0);
	batch(m, "i", 0, "cpu", "s1", 3, 5000, 3); /* completed: no longer taken */
	assert_int_equal(g(m).kv_pool_keys, 19);

	/* Incremental ops flow again; the cleared location has no seq_num
	 * left, so its first batch is not checked. */
	admits(m, "i", 0, "cpu", 7000, 1, 12345);
	assert_int_equal(g(m).kv_op_seq_discontinuity, 0);
	assert_int_equal(g(m).kv_pool_keys, 20);

	/* A second sync of a completed worker is accepted, and resets it. */
	start(m, "i", 0, "disk", "s2", 2);
	ret(m, "s2", true);
	s = g(m);
	assert_int_equal(s.full_sync_workers_syncing, 1);
	assert_int_equal(s.full_sync_workers_completed, 0);
	assert_int_equal(s.full_sync_missing_batches, 2);
	assert_int_equal(s.kv_pool_keys, 18); /* disk's 2 keys gone */

	/* Another sync_id while syncing: LMCache refuses, and says so. */
	start(m, "i", 0, "cpu", "s3", 5);
	ret(m, "s3", false);
	s = g(m);
	assert_int_equal(s.full_sync_missing_batches, 2);
	assert_int_equal(s.kv_pool_keys, 18);

	/* k never syncs: it counts as ready. j syncs and stalls. */
	start(m, "j", 0, "cpu", "s4", 3);
	ret(m, "s4", true);
	s = g(m);
	assert_int_equal(s.full_sync_workers_syncing, 2);
	assert_int_equal(s.full_sync_missing_batches, 5);
	assert_true(s.full_sync_global_progress > 0.3333 && s.full_sync_global_progress < 0.3334);
	/* Deregistering a syncing worker ends it. */
	dereg(m, "j", 0);
	s = g(m);
	assert_int_equal(s.full_sync_workers_syncing, 1);
	assert_int_equal(s.full_sync_missing_batches, 2);
	assert_true(s.full_sync_global_progress == 0.5);
	/* A duplicate register clears keys but keeps the sync. */
	reg(m, "i", 0);
	s = g(m);
	assert_int_equal(s.full_sync_workers_syncing, 1);
	assert_int_equal(s.kv_pool_keys, 0);
	assert_true(s.complete);
	lmc_model_free(m);
}

/* start_sync runs clear_worker_kv only for a location that holds keys: a
 * location emptied by evictions keeps its seq_num through the sync. */
static void test_sync_start_keeps_seq_of_empty_location(void **state)
{
	struct lmc_model *m = lmc_model_new(1000, true);
	const struct op evict[1] = {{"evict", 0, 1}};

	(void)state;
	reg(m, "i", 0);
	admits(m, "i", 0, "cpu", 0, 1, 0);
	kv(m, "i", 0, "cpu", evict, 1);
	assert_int_equal(g(m).kv_pool_keys, 0);
	start(m, "i", 0, "cpu", "s", 1);
	ret(m, "s", true);
	end(m, "i", 0, "cpu", "s");
	admits(m, "i", 0, "cpu", 5, 1, 2); /* 2 follows 1 */
	assert_int_equal(g(m).kv_op_seq_discontinuity, 0);
	start(m, "i", 0, "cpu", "t", 1);
	ret(m, "t", true);
	end(m, "i", 0, "cpu", "t"); /* had a key: seq_num cleared */
	admits(m, "i", 0, "cpu", 5, 1, 50);
	assert_int_equal(g(m).kv_op_seq_discontinuity, 0);
	admits(m, "i", 0, "cpu", 6, 1, 52);
	assert_int_equal(g(m).kv_op_seq_discontinuity, 1);
	lmc_model_free(m);
}

static void test_channels(void **state)
{
	struct lmc_model *m = lmc_model_new(1000, true);
	struct pl p;

	(void)state;
	mk_worker_msg(&p, "RegisterMsg", "i", 0);
	assert_int_equal(feed_pl(m, LMC_PULL, &p), LMC_IGNORED); /* not a WorkerMsg */
	mk_worker_msg(&p, "RegisterMsg", "i", 0);
	assert_int_equal(feed_pl(m, LMC_HEARTBEAT, &p), LMC_IGNORED);
	mk_worker_msg(&p, "RegisterMsg", "i", 0);
	assert_int_equal(feed_pl(m, LMC_REPLY_OUT, &p), LMC_IGNORED);
	assert_int_equal(g(m).registered_workers, 0);
	mk_worker_msg(&p, "HeartbeatMsg", "i", 0);
	assert_int_equal(feed_pl(m, LMC_HEARTBEAT, &p), LMC_APPLIED);
	assert_int_equal(g(m).registered_workers, 1);
	{
		const struct op ops[1] = {{"admit", 1, 0}};

		mk_kv(&p, "i", 0, "L", ops, 1);
		assert_int_equal(feed_pl(m, LMC_REQUEST, &p), LMC_IGNORED);
	}
	mk_deregister(&p, "i", 0);
	assert_int_equal(feed_pl(m, LMC_REQUEST, &p), LMC_IGNORED);
	mk_start(&p, "i", 0, "L", "s", 0, 1);
	assert_int_equal(feed_pl(m, LMC_PULL, &p), LMC_IGNORED);
	mk_ret(&p, "s", true, NULL);
	assert_int_equal(feed_pl(m, LMC_REQUEST, &p), LMC_IGNORED);
	/* FullSyncStatusMsg: read-only in LMCache. */
	pl_begin(&p, "FullSyncStatusMsg", 3);
	kv_str(&p, "instance_id", "i");
	kv_int(&p, "worker_id", 0);
	kv_str(&p, "sync_id", "s");
	assert_int_equal(feed_pl(m, LMC_REQUEST, &p), LMC_IGNORED);
	assert_int_equal(g(m).registered_workers, 1);
	assert_int_equal(g(m).kv_pool_keys, 0);
	assert_int_equal(g(m).full_sync_workers_syncing, 0);
	assert_true(g(m).complete);
	lmc_model_free(m);
}

static void test_late_attach(void **state)
{
	struct lmc_model *m = lmc_model_new(1000, false);
	struct lmc_gauges s;

	(void)state;
	heartbeat(m, "old", 0); /* registered before zmqscope came */
	admits(m, "old", 0, "cpu", 0, 3, 40);
	admits(m, "ghost", 0, "cpu", 0, 3, 40); /* never heard of: ignored */
	reg(m, "new", 0);			/* registered while watched */
	admits(m, "new", 0, "cpu", 0, 2, 0);
	s = g(m);
	assert_false(s.complete);
	assert_int_equal(s.registered_workers, 2);
	assert_int_equal(s.workers_learned, 1);
	assert_int_equal(s.workers_keys_unknown, 1);
	assert_int_equal(s.locations_keys_unknown, 1);
	assert_int_equal(s.kv_pool_keys, 5); /* a lower bound: old's earlier keys unseen */

	/* A full sync of old's cpu: that set is known from here on. */
	start(m, "old", 0, "cpu", "s", 1);
	ret(m, "s", true);
	batch(m, "old", 0, "cpu", "s", 0, 10, 4);
	end(m, "old", 0, "cpu", "s");
	s = g(m);
	assert_int_equal(s.locations_keys_unknown, 0);
	assert_int_equal(s.workers_keys_unknown, 1); /* other locations may exist */
	assert_int_equal(s.kv_pool_keys, 6);
	/* A location not seen before shows up unknown. */
	admits(m, "old", 0, "disk", 0, 1, 0);
	assert_int_equal(g(m).locations_keys_unknown, 1);
	/* A duplicate register clears everything: all known. */
	reg(m, "old", 0);
	s = g(m);
	assert_int_equal(s.locations_keys_unknown, 0);
	assert_int_equal(s.workers_keys_unknown, 0);
	assert_false(s.complete); /* forever: the counters' earlier part is unseen */
	lmc_model_free(m);
}

static void test_missed_start(void **state)
{
	struct lmc_model *m = lmc_model_new(1000, true);

	(void)state;
	reg(m, "i", 0);
	ret(m, "s", false); /* a refusal of a start we never saw: nothing lost */
	assert_true(g(m).complete);
	ret(m, "s", true);
	assert_false(g(m).complete);
	assert_int_equal(g(m).full_sync_workers_syncing, 0);
	lmc_model_free(m);

	/* An accepted start for a worker the model does not have. */
	m = lmc_model_new(1000, true);
	start(m, "x", 0, "cpu", "s", 2);
	ret(m, "x", true); /* other sync_id: the start stays held */
	assert_int_equal(g(m).registered_workers, 0);
	ret(m, "s", true);
	assert_false(g(m).complete);
	assert_int_equal(g(m).registered_workers, 1);
	assert_int_equal(g(m).workers_learned, 1);
	assert_int_equal(g(m).full_sync_workers_syncing, 1);
	assert_int_equal(g(m).full_sync_missing_batches, 2);
	lmc_model_free(m);
}

static void test_key_limit(void **state)
{
	struct lmc_model *m = lmc_model_new(10, true);
	const struct op evict_unstored[2] = {{"evict", 12, 15}, {"evict", 999, 16}};
	struct lmc_gauges s;

	(void)state;
	reg(m, "i", 0);
	admits(m, "i", 0, "cpu", 0, 15, 0);
	s = g(m);
	assert_int_equal(s.keys_stored, 10);
	assert_int_equal(s.kv_pool_keys, 15);
	assert_int_equal(s.keys_over_limit, 5);
	assert_false(s.complete);
	assert_int_equal(s.locations_keys_unknown, 1);
	admits(m, "i", 0, "cpu", 0, 10, 15); /* stored ones again: nothing new */
	assert_int_equal(g(m).keys_over_limit, 5);
	kv(m, "i", 0, "cpu", evict_unstored, 2);
	assert_int_equal(g(m).kv_pool_keys, 13);
	reg(m, "i", 0);
	s = g(m);
	assert_int_equal(s.kv_pool_keys, 0);
	assert_int_equal(s.keys_stored, 0);
	assert_int_equal(s.locations_keys_unknown, 0);
	assert_false(s.complete);
	lmc_model_free(m);
}

static void test_mark_incomplete_and_json(void **state)
{
	struct lmc_model *m = lmc_model_new(10, true);

	(void)state;
	assert_true(g(m).complete);
	lmc_model_mark_incomplete(m);
	assert_false(g(m).complete);
	lmc_model_free(m);

	m = lmc_model_new(10, true);
	assert_int_equal(feed_raw(m, LMC_PULL, "{\"type\": \"DeRegisterMsg\"}", 25), LMC_UNDECODABLE);
	assert_false(g(m).complete);
	assert_int_equal(g(m).undecodable, 1);
	lmc_model_free(m);
}

static void test_memory(void **state)
{
	struct lmc_model *m = lmc_model_new(1000000, true);
	size_t empty, full;

	(void)state;
	empty = g(m).memory_bytes;
	assert_true(empty > 65536); /* the decoder's zone, at least */
	/* The zone grows to fit a large payload (here ~4 MB), within 4 MiB,
	 * and keeps it. */
	admits(m, "nobody", 0, "cpu", 0, 100000, 0);
	assert_int_equal(g(m).memory_bytes, empty - 65536 + (4u << 20));
	empty = g(m).memory_bytes;
	reg(m, "i", 0);
	admits(m, "i", 0, "cpu", 0, 100000, 0);
	full = g(m).memory_bytes;
	/* 100,000 keys in 2^18 slots of 8 bytes, plus the small rest. */
	assert_true(full >= empty + (1u << 18) * 8);
	assert_true(full < empty + (1u << 18) * 8 + 4096);
	dereg(m, "i", 0);
	assert_int_equal(g(m).memory_bytes, empty);
	lmc_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keyset_basics),
		cmocka_unit_test(test_keyset_matches_reference),
		cmocka_unit_test(test_keyset_grows_and_shrinks),
		cmocka_unit_test(test_decode_every_type),
		cmocka_unit_test(test_decode_int_widths),
		cmocka_unit_test(test_int_successor),
		cmocka_unit_test(test_undecodable),
		cmocka_unit_test(test_extra_fields_and_order),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_many_workers),
		cmocka_unit_test(test_kv_pool_keys),
		cmocka_unit_test(test_seq_discontinuity),
		cmocka_unit_test(test_full_sync),
		cmocka_unit_test(test_sync_start_keeps_seq_of_empty_location),
		cmocka_unit_test(test_channels),
		cmocka_unit_test(test_late_attach),
		cmocka_unit_test(test_missed_start),
		cmocka_unit_test(test_key_limit),
		cmocka_unit_test(test_mark_incomplete_and_json),
		cmocka_unit_test(test_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
