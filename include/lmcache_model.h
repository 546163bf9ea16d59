/* SPDX-License-Identifier: MIT */
/*
 * LMCache's cache-controller state, rebuilt from the controller's own
 * traffic (design.md section 10): the worker registry, the KV pool's key
 * sets, the KV-event sequence checks and the full-sync tracker.  The rules
 * are LMCache's (lmcache/v1/cache_controller/); the payloads are msgspec's
 * msgpack encoding, decoded with msgpack-c.
 *
 * Pure: no BPF, no process work.  The observer feeds it whole payload
 * frames, in the order the controller received or sent them, one model per
 * target process.  Not thread-safe: the caller serialises.
 */
#ifndef ZS_LMCACHE_MODEL_H
#define ZS_LMCACHE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lmc_model;

/* Where a payload was seen.  The rules go by message type; this only
 * decides which types are accepted where, as LMCache's handlers do. */
enum lmc_channel {
	LMC_PULL = 0,	   /* received on the PULL socket */
	LMC_REQUEST = 1,   /* received on a ROUTER (reply or heartbeat) */
	LMC_REPLY_OUT = 2, /* sent by the controller on a ROUTER: its answers */
	LMC_HEARTBEAT = 3, /* received on the heartbeat ROUTER, when the caller
			    * can tell it from the reply ROUTER: LMCache handles
			    * only HeartbeatMsg there (LMC_REQUEST takes every
			    * request type) */
};

/* What became of one payload. */
enum lmc_result {
	LMC_APPLIED = 0,     /* a state message on a channel that handles it: the
			      * rules ran (they may have found nothing to do, as
			      * for an unknown worker) */
	LMC_IGNORED = 1,     /* decoded, but not a type that changes state there */
	LMC_UNDECODABLE = 2, /* not msgpack, truncated, or a known type with bad fields;
			      * also a JSON frame ('{'), which LMCache would decode
			      * and the model cannot: that one marks it incomplete */
};

/*
 * max_kv_keys bounds the keys held over all (worker, location) sets; past
 * it, keys are no longer stored and the state is marked incomplete.
 * `complete` says whether the model starts knowing everything: true when
 * zmqscope saw the controller's sockets created, false after a late attach.
 * NULL on allocation failure.
 */
struct lmc_model *lmc_model_new(size_t max_kv_keys, bool complete);
void lmc_model_free(struct lmc_model *m);

/* One payload frame (the msgpack map, identity and delimiter stripped). */
enum lmc_result lmc_model_feed(struct lmc_model *m, enum lmc_channel ch, const void *payload,
			       size_t len);

/* Something was lost before it reached the model (a ring-buffer drop, a
 * frame cut short): from now on the state is not known to be complete. */
void lmc_model_mark_incomplete(struct lmc_model *m);

/* LMCache's seven state gauges, and what zmqscope knows about them. */
struct lmc_gauges {
	uint64_t registered_workers;	   /* registered_workers_count */
	uint64_t kv_pool_keys;		   /* kv_pool_keys_count; past max_kv_keys, stored
					    * keys + admitted-but-unstored ones (less
					    * evictions of keys not stored): exact unless an
					    * unstored key is admitted twice */
	uint64_t kv_op_seq_discontinuity;  /* kv_op_seq_discontinuity_count */
	uint64_t full_sync_workers_syncing;
	uint64_t full_sync_workers_completed;
	double full_sync_global_progress;  /* 0.0 - 1.0; 0.0 with no workers, as LMCache */
	uint64_t full_sync_missing_batches;
	/* completeness */
	bool complete;			   /* every gauge above is LMCache's exact value */
	uint64_t locations_keys_unknown;   /* (worker, location) sets whose keys are not known */
	uint64_t workers_learned;	   /* workers first seen by a heartbeat after a late attach */
	uint64_t workers_keys_unknown;	   /* learned workers: locations not seen may hold keys */
	/* bookkeeping */
	uint64_t decoded;		   /* payloads applied or ignored */
	uint64_t undecodable;		   /* LMC_UNDECODABLE results */
	uint64_t keys_over_limit;	   /* keys not stored because of max_kv_keys */
	uint64_t keys_stored;		   /* keys held now, over all sets */
	size_t memory_bytes;		   /* what the model holds, allocator overhead excluded */
};

void lmc_model_gauges(const struct lmc_model *m, struct lmc_gauges *out);

/* Recounts what the model keeps running totals of and checks its tables:
 * 0, or -EINVAL if they disagree.  For the tests and the fuzzer. */
int lmc_model_check(const struct lmc_model *m);

#endif
