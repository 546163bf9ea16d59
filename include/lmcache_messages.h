/* SPDX-License-Identifier: MIT */
/*
 * LMCache's controller messages, decoded from msgspec's msgpack encoding
 * (lmcache/v1/cache_controller/message.py) into C structs, with msgspec's
 * rules: a map with "type" holding the class name; every field without a
 * default present and of its declared type (no int for bool, no float for
 * int, no bin for str); unknown fields ignored; nothing after the map.
 * Only the types the controller model needs are decoded; any other map
 * with a string "type" is LMC_MSG_OTHER.
 *
 * The structs point into the payload and into the zone: both must outlive
 * their use.
 */
#ifndef ZS_LMCACHE_MESSAGES_H
#define ZS_LMCACHE_MESSAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

/* A Python int as msgpack carries it: a uint64, or a negative int64. */
struct lmc_int {
	uint64_t u; /* the value, or its two's complement when neg */
	bool neg;
};

/* Bytes of a str field, not NUL-terminated. */
struct lmc_str {
	const char *ptr;
	uint32_t len;
};

struct lmc_worker_id {
	struct lmc_str instance_id;
	struct lmc_int worker_id;
};

/* KVOpEvent.  LMCache keys are Python ints; the model keeps their low 64
 * bits, which is the whole value for any key msgpack can carry, except
 * that k < 0 and k + 2^64 coincide. */
struct lmc_kv_op {
	bool evict; /* op_type "evict"; "admit" otherwise */
	uint64_t key;
	struct lmc_int seq_num;
};

enum lmc_msg_type {
	LMC_MSG_OTHER = 0, /* a map with a "type" the model does not use */
	LMC_MSG_REGISTER,
	LMC_MSG_HEARTBEAT,
	LMC_MSG_DEREGISTER,
	LMC_MSG_BATCHED_KV_OPERATION,
	LMC_MSG_FULL_SYNC_START,
	LMC_MSG_FULL_SYNC_BATCH,
	LMC_MSG_FULL_SYNC_END,
	LMC_MSG_FULL_SYNC_STATUS,
	LMC_MSG_FULL_SYNC_START_RET,
};

struct lmc_msg {
	enum lmc_msg_type type;
	struct lmc_worker_id worker; /* every type but FullSyncStartRetMsg */
	struct lmc_str ip;	     /* Register, Heartbeat, DeRegister */
	struct lmc_int port;	     /* Register, Heartbeat, DeRegister */
	struct lmc_str peer_init_url; /* Register, Heartbeat; ptr NULL for nil */
	struct lmc_str location;     /* BatchedKVOperation, FullSync{Start,Batch,End} */
	struct lmc_str sync_id;	     /* FullSync* */
	struct lmc_int batch_count;  /* FullSyncStart */
	struct lmc_int total_keys;   /* FullSyncStart */
	struct lmc_int batch_id;     /* FullSyncBatch */
	struct lmc_int actual_total_keys; /* FullSyncEnd */
	bool accepted;		     /* FullSyncStartRet */
	struct lmc_str error_msg;    /* FullSyncStartRet; ptr NULL for nil or absent */
	struct lmc_kv_op *ops;	     /* BatchedKVOperation, in the zone */
	size_t n_ops;
	uint64_t *keys;		     /* FullSyncBatch, low 64 bits, in the zone */
	size_t n_keys;
};

/*
 * Decodes one payload.  0: *out is filled (type LMC_MSG_OTHER for a type
 * not modelled).  -EBADMSG: not one msgpack map, truncated, trailing
 * bytes, no string "type", or a modelled type with a missing or mistyped
 * field.  -ENOMEM: out of memory.  Allocation is bounded by the payload's
 * length: declared container sizes are checked against it before msgpack-c
 * sizes its arrays by them.
 */
int lmc_msg_decode(msgpack_zone *zone, const void *payload, size_t len, struct lmc_msg *out);

/* The class name of a modelled type ("" for LMC_MSG_OTHER). */
const char *lmc_msg_type_name(enum lmc_msg_type t);

static inline bool lmc_int_eq(struct lmc_int a, struct lmc_int b)
{
	return a.neg == b.neg && a.u == b.u;
}

/* a + 1 == b, in Python's unbounded ints. */
static inline bool lmc_int_is_next(struct lmc_int a, struct lmc_int b)
{
	if (a.neg) {
		if (a.u == UINT64_MAX) /* -1 + 1 == 0 */
			return !b.neg && b.u == 0;
		return b.neg && b.u == a.u + 1;
	}
	return a.u != UINT64_MAX && !b.neg && b.u == a.u + 1;
}

#endif
