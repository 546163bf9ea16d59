// SPDX-License-Identifier: MIT
/*
 * LMCache's controller state (lmcache/v1/cache_controller/), rule for rule:
 * RegistrationController.{register,heartbeat,deregister}, RegistryTree and
 * WorkerNode.handle_batched_kv_operations (utils.py), KVController's
 * handle_batched_kv_operations and handle_full_sync_* (kv_controller.py),
 * FullSyncTracker (full_sync_tracker.py), and which handler takes which
 * type on which socket (controller_manager.py).  The comments name the
 * LMCache behaviour each branch reproduces.
 */
#include "lmcache_model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "kv_keyset.h"
#include "lmcache_messages.h"

/* Bounds on what hostile traffic can make the model allocate besides keys
 * (those are max_kv_keys').  Past one, the state is marked incomplete. */
#define MAX_WORKERS 65536
#define MAX_LOCATIONS 64 /* per worker; LMCache has a handful of backends */
#define MAX_PENDING 64	 /* FullSyncStartMsg waiting for its reply */
/* msgpack-c's zone keeps its first chunk across clears and frees the
 * rest: a payload that spills over costs a malloc, and past glibc's mmap
 * threshold page faults, every time.  So the first chunk grows to fit the
 * payloads seen (objects take up to ~8x their encoding in practice),
 * within a cap; it is counted in memory_bytes. */
#define ZONE_CHUNK_MIN 65536
#define ZONE_CHUNK_MAX (4u << 20)
#define ZONE_PER_BYTE 8

struct location {
	char *name;
	uint32_t name_len;
	bool known;	    /* the set is LMCache's, key for key */
	bool has_seq;	    /* LMCache's seq_tracker has this location */
	struct lmc_int last_seq;
	struct kv_keyset keys;
	uint64_t overflow;  /* admitted past max_kv_keys, not stored (an estimate) */
};

enum sync_state { SYNC_NONE, SYNC_SYNCING, SYNC_COMPLETED };

struct worker {
	char *instance_id;
	uint32_t instance_len;
	struct lmc_int worker_id;
	uint64_t hash;
	/* false for a worker learned from a heartbeat after a late attach:
	 * locations not seen since may hold keys. */
	bool all_locations_known;
	struct location *locs;
	size_t n_locs, cap_locs;
	/* WorkerNode.sync_info; FAILED comes only from a timeout check that
	 * LMCache's controller does not run. */
	enum sync_state sync;
	char *sync_id;
	uint32_t sync_id_len;
	struct lmc_int batch_count;
	struct kv_keyset batches; /* distinct batch ids in [0, batch_count) */
};

struct pending_start {
	char *instance_id, *location, *sync_id; /* one allocation, at instance_id */
	uint32_t instance_len, location_len, sync_id_len;
	size_t bytes;
	struct lmc_int worker_id, batch_count;
};

struct lmc_model {
	size_t max_kv_keys;
	bool complete;
	msgpack_zone zone;
	size_t zone_chunk;
	struct worker **table; /* open addressing by worker hash, at most half full */
	size_t table_cap, n_workers;
	struct pending_start pending[MAX_PENDING]; /* oldest first */
	size_t n_pending;
	uint64_t seq_discontinuity, keys_stored, keys_over_limit, decoded, undecodable;
	uint64_t workers_learned;
	size_t bytes; /* held outside the key sets */
};

/* ---- allocation, counted ---- */

static void *counted_calloc(struct lmc_model *m, size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p)
		m->bytes += n * size;
	return p;
}

static void counted_free(struct lmc_model *m, void *p, size_t size)
{
	if (p)
		m->bytes -= size;
	free(p);
}

static char *counted_strdup(struct lmc_model *m, struct lmc_str s)
{
	char *p = counted_calloc(m, (size_t)s.len + 1, 1);

	if (p && s.len)
		memcpy(p, s.ptr, s.len);
	return p;
}

static bool str_eq(const char *a, uint32_t alen, struct lmc_str b)
{
	return alen == b.len && (b.len == 0 || memcmp(a, b.ptr, b.len) == 0);
}

static void saturating_inc(uint64_t *v)
{
	if (*v != UINT64_MAX)
		(*v)++;
}

/* ---- key sets ---- */

static void key_admit(struct lmc_model *m, struct location *l, uint64_t key)
{
	int rc = 0;

	if (m->keys_stored < m->max_kv_keys) {
		rc = kv_keyset_add(&l->keys, key);
		if (rc >= 0) {
			m->keys_stored += (uint64_t)rc;
			return;
		}
	} else if (kv_keyset_contains(&l->keys, key)) {
		return;
	}
	/* Not stored: counted as one more key, which is exact unless the same
	 * unstored key is admitted twice. */
	saturating_inc(&l->overflow);
	saturating_inc(&m->keys_over_limit);
	l->known = false;
	m->complete = false;
}

static void key_evict(struct lmc_model *m, struct location *l, uint64_t key)
{
	if (kv_keyset_remove(&l->keys, key))
		m->keys_stored--;
	else if (l->overflow)
		l->overflow--; /* assumed to be one of the unstored keys */
}

static void location_clear_keys(struct lmc_model *m, struct location *l)
{
	m->keys_stored -= kv_keyset_count(&l->keys);
	kv_keyset_clear(&l->keys);
	l->overflow = 0;
	l->known = true;
}

/* ---- locations ---- */

static struct location *location_find(struct worker *w, struct lmc_str name)
{
	for (size_t i = 0; i < w->n_locs; i++)
		if (str_eq(w->locs[i].name, w->locs[i].name_len, name))
			return &w->locs[i];
	return NULL;
}

static struct location *location_get(struct lmc_model *m, struct worker *w, struct lmc_str name)
{
	struct location *l = location_find(w, name);

	if (l)
		return l;
	if (w->n_locs == w->cap_locs) {
		size_t cap = w->cap_locs ? w->cap_locs * 2 : 2;
		struct location *locs;

		if (w->n_locs >= MAX_LOCATIONS)
			goto incomplete;
		locs = counted_calloc(m, cap, sizeof(*locs));
		if (!locs)
			goto incomplete;
		if (w->n_locs)
			memcpy(locs, w->locs, w->n_locs * sizeof(*locs));
		counted_free(m, w->locs, w->cap_locs * sizeof(*locs));
		w->locs = locs;
		w->cap_locs = cap;
	}
	l = &w->locs[w->n_locs];
	*l = (struct location){.name_len = name.len, .known = w->all_locations_known};
	l->name = counted_strdup(m, name);
	if (!l->name)
		goto incomplete;
	w->n_locs++;
	return l;
incomplete:
	m->complete = false;
	return NULL;
}

static void location_release(struct lmc_model *m, struct location *l)
{
	location_clear_keys(m, l);
	counted_free(m, l->name, (size_t)l->name_len + 1);
}

/* ---- workers ---- */

static uint64_t worker_hash(struct lmc_str instance_id, struct lmc_int worker_id)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (uint32_t i = 0; i < instance_id.len; i++)
		h = (h ^ (uint8_t)instance_id.ptr[i]) * 0x100000001b3ULL;
	h = (h ^ worker_id.u ^ (worker_id.neg ? 0x8000000000000001ULL : 0)) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

static bool worker_is(const struct worker *w, uint64_t h, const struct lmc_worker_id *id)
{
	return w->hash == h && lmc_int_eq(w->worker_id, id->worker_id) &&
	       str_eq(w->instance_id, w->instance_len, id->instance_id);
}

/* The slot holding the worker, or the empty slot where it would go. */
static size_t worker_slot(const struct lmc_model *m, uint64_t h, const struct lmc_worker_id *id)
{
	size_t mask = m->table_cap - 1, i;

	for (i = h & mask; m->table[i]; i = (i + 1) & mask)
		if (worker_is(m->table[i], h, id))
			break;
	return i;
}

static struct worker *worker_find(const struct lmc_model *m, const struct lmc_worker_id *id)
{
	return m->table[worker_slot(m, worker_hash(id->instance_id, id->worker_id), id)];
}

static int table_grow(struct lmc_model *m)
{
	size_t cap = m->table_cap * 2, mask = cap - 1;
	struct worker **t = counted_calloc(m, cap, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < m->table_cap; i++) {
		struct worker *w = m->table[i];
		size_t j;

		if (!w)
			continue;
		for (j = w->hash & mask; t[j]; j = (j + 1) & mask)
			;
		t[j] = w;
	}
	counted_free(m, m->table, m->table_cap * sizeof(*t));
	m->table = t;
	m->table_cap = cap;
	return 0;
}

/* RegistryTree.register_worker: a fresh node, no keys, no sync state. */
static struct worker *worker_add(struct lmc_model *m, const struct lmc_worker_id *id)
{
	uint64_t h = worker_hash(id->instance_id, id->worker_id);
	struct worker *w;

	if (m->n_workers >= MAX_WORKERS)
		goto incomplete;
	if ((m->n_workers + 1) * 2 > m->table_cap && table_grow(m))
		goto incomplete;
	w = counted_calloc(m, 1, sizeof(*w));
	if (!w)
		goto incomplete;
	w->instance_id = counted_strdup(m, id->instance_id);
	if (!w->instance_id) {
		counted_free(m, w, sizeof(*w));
		goto incomplete;
	}
	w->instance_len = id->instance_id.len;
	w->worker_id = id->worker_id;
	w->hash = h;
	w->all_locations_known = true;
	m->table[worker_slot(m, h, id)] = w;
	m->n_workers++;
	return w;
incomplete:
	m->complete = false;
	return NULL;
}

static void worker_end_sync(struct lmc_model *m, struct worker *w)
{
	counted_free(m, w->sync_id, (size_t)w->sync_id_len + 1);
	w->sync_id = NULL;
	w->sync_id_len = 0;
	kv_keyset_clear(&w->batches);
}

/* clear_worker_kv(location=None): kv_store and seq_tracker emptied. */
static void worker_clear_locations(struct lmc_model *m, struct worker *w)
{
	for (size_t i = 0; i < w->n_locs; i++)
		location_release(m, &w->locs[i]);
	counted_free(m, w->locs, w->cap_locs * sizeof(*w->locs));
	w->locs = NULL;
	w->n_locs = w->cap_locs = 0;
	w->all_locations_known = true;
}

static void worker_destroy(struct lmc_model *m, struct worker *w)
{
	worker_clear_locations(m, w);
	worker_end_sync(m, w);
	counted_free(m, w->instance_id, (size_t)w->instance_len + 1);
	counted_free(m, w, sizeof(*w));
}

static void worker_remove(struct lmc_model *m, struct worker *w)
{
	size_t mask = m->table_cap - 1, i = w->hash & mask, j;

	while (m->table[i] != w)
		i = (i + 1) & mask;
	/* Backward-shift deletion, as in kv_keyset.c. */
	for (j = (i + 1) & mask; m->table[j]; j = (j + 1) & mask) {
		if (((j - (m->table[j]->hash & mask)) & mask) >= ((j - i) & mask)) {
			m->table[i] = m->table[j];
			i = j;
		}
	}
	m->table[i] = NULL;
	m->n_workers--;
	worker_destroy(m, w);
}

/* ---- the rules ---- */

/* RegistrationController.register: a duplicate keeps the node (and its
 * sync state) but clears every location's keys and sequence numbers. */
static void on_register(struct lmc_model *m, const struct lmc_msg *msg)
{
	struct worker *w = worker_find(m, &msg->worker);

	if (w)
		worker_clear_locations(m, w);
	else
		worker_add(m, &msg->worker);
}

/* RegistrationController.heartbeat: an unknown worker is registered.  After
 * a late attach that is how the model learns workers registered before it,
 * whose keys it has not seen. */
static void on_heartbeat(struct lmc_model *m, const struct lmc_msg *msg)
{
	struct worker *w;

	if (worker_find(m, &msg->worker))
		return;
	w = worker_add(m, &msg->worker);
	if (w && !m->complete) {
		w->all_locations_known = false;
		m->workers_learned++;
	}
}

static void on_deregister(struct lmc_model *m, const struct lmc_msg *msg)
{
	struct worker *w = worker_find(m, &msg->worker);

	if (w)
		worker_remove(m, w);
}

/* KVController.handle_batched_kv_operations -> WorkerNode's: nothing for an
 * empty batch, an unknown worker or a syncing one (per worker, whatever the
 * location).  Each op is applied, then checked against the previous seq_num
 * of its location, which every op replaces, gap or not; one batch adds at
 * most one discontinuity. */
static void on_kv_operations(struct lmc_model *m, const struct lmc_msg *msg)
{
	struct worker *w;
	struct location *l;
	bool gap = false;

	if (!msg->n_ops)
		return;
	w = worker_find(m, &msg->worker);
	if (!w || w->sync == SYNC_SYNCING)
		return;
	l = location_get(m, w, msg->location);
	if (!l)
		return;
	for (size_t i = 0; i < msg->n_ops; i++) {
		const struct lmc_kv_op *op = &msg->ops[i];

		if (op->evict)
			key_evict(m, l, op->key);
		else
			key_admit(m, l, op->key);
		if (l->has_seq && !lmc_int_is_next(l->last_seq, op->seq_num))
			gap = true;
		l->last_seq = op->seq_num;
		l->has_seq = true;
	}
	if (gap)
		saturating_inc(&m->seq_discontinuity);
}

static void pending_drop(struct lmc_model *m, size_t i)
{
	counted_free(m, m->pending[i].instance_id, m->pending[i].bytes);
	memmove(&m->pending[i], &m->pending[i + 1], (m->n_pending - i - 1) * sizeof(m->pending[0]));
	m->n_pending--;
}

/* FullSyncStartMsg: LMCache decides at once and says so in the reply, which
 * is what the model goes by; until then the request is held. */
static void on_full_sync_start(struct lmc_model *m, const struct lmc_msg *msg)
{
	const struct lmc_str *s[3] = {&msg->worker.instance_id, &msg->location, &msg->sync_id};
	struct pending_start *p;
	size_t bytes = 3;
	char *buf;

	for (size_t i = 0; i < 3; i++)
		bytes += s[i]->len;
	if (m->n_pending == MAX_PENDING) {
		pending_drop(m, 0); /* its reply is overdue: lost to the model */
		m->complete = false;
	}
	buf = counted_calloc(m, bytes, 1);
	if (!buf) {
		m->complete = false;
		return;
	}
	p = &m->pending[m->n_pending++];
	*p = (struct pending_start){
		.instance_id = buf,
		.location = buf + s[0]->len + 1,
		.sync_id = buf + s[0]->len + 1 + s[1]->len + 1,
		.instance_len = s[0]->len,
		.location_len = s[1]->len,
		.sync_id_len = s[2]->len,
		.bytes = bytes,
		.worker_id = msg->worker.worker_id,
		.batch_count = msg->batch_count,
	};
	if (s[0]->len)
		memcpy(p->instance_id, s[0]->ptr, s[0]->len);
	if (s[1]->len)
		memcpy(p->location, s[1]->ptr, s[1]->len);
	if (s[2]->len)
		memcpy(p->sync_id, s[2]->ptr, s[2]->len);
}

/* An accepted start is FullSyncTracker.start_sync (a new sync_info, state
 * SYNCING, no batches) and then, only if the location holds keys,
 * clear_worker_kv(location): its keys and its seq_num go.  A location
 * with no keys keeps its seq_num. */
static void apply_sync_start(struct lmc_model *m, const struct pending_start *p)
{
	struct lmc_worker_id id = {
		.instance_id = {p->instance_id, p->instance_len},
		.worker_id = p->worker_id,
	};
	struct lmc_str sync_id = {p->sync_id, p->sync_id_len};
	struct worker *w = worker_find(m, &id);
	struct location *l;
	char *copy;

	if (!w) {
		/* LMCache accepts only a worker it has: the model missed it. */
		m->complete = false;
		w = worker_add(m, &id);
		if (!w)
			return;
		w->all_locations_known = false;
		m->workers_learned++;
	} else if (w->sync == SYNC_SYNCING && !str_eq(w->sync_id, w->sync_id_len, sync_id)) {
		m->complete = false; /* LMCache would have refused it */
	}
	copy = counted_strdup(m, sync_id);
	if (!copy) {
		m->complete = false;
		return;
	}
	worker_end_sync(m, w);
	w->sync = SYNC_SYNCING;
	w->sync_id = copy;
	w->sync_id_len = sync_id.len;
	w->batch_count = p->batch_count;
	l = location_get(m, w, (struct lmc_str){p->location, p->location_len});
	if (!l)
		return;
	/* A location the model does not know most likely has keys in LMCache. */
	if (kv_keyset_count(&l->keys) || l->overflow || !l->known)
		l->has_seq = false;
	location_clear_keys(m, l);
}

/* FullSyncStartRetMsg, matched to the oldest held start with its sync_id. */
static void on_full_sync_start_ret(struct lmc_model *m, const struct lmc_msg *msg)
{
	for (size_t i = 0; i < m->n_pending; i++) {
		struct pending_start *p = &m->pending[i];

		if (!str_eq(p->sync_id, p->sync_id_len, msg->sync_id))
			continue;
		if (msg->accepted)
			apply_sync_start(m, p);
		pending_drop(m, i);
		return;
	}
	if (msg->accepted)
		m->complete = false; /* a start the model never saw */
}

/* FullSyncTracker.receive_batch checks worker, sync_id and SYNCING; then
 * the keys are admitted with no sequence check and no seq_num update. */
static void on_full_sync_batch(struct lmc_model *m, const struct lmc_msg *msg)
{
	struct worker *w = worker_find(m, &msg->worker);
	struct location *l;
	size_t room;

	if (!w || w->sync != SYNC_SYNCING || !str_eq(w->sync_id, w->sync_id_len, msg->sync_id))
		return;
	/* Only ids in range(batch_count) count against the missing ones. */
	if (!msg->batch_id.neg && !w->batch_count.neg && msg->batch_id.u < w->batch_count.u &&
	    kv_keyset_add(&w->batches, msg->batch_id.u) < 0)
		m->complete = false;
	if (!msg->n_keys)
		return;
	l = location_get(m, w, msg->location);
	if (!l)
		return;
	room = m->max_kv_keys - m->keys_stored;
	(void)kv_keyset_reserve(&l->keys, msg->n_keys < room ? msg->n_keys : room);
	for (size_t i = 0; i < msg->n_keys; i++)
		key_admit(m, l, msg->keys[i]);
}

/* FullSyncTracker.complete_sync: the sync_id must match; the state is not
 * checked and missing batches do not matter. */
static void on_full_sync_end(struct lmc_model *m, const struct lmc_msg *msg)
{
	struct worker *w = worker_find(m, &msg->worker);

	if (!w || w->sync == SYNC_NONE || !str_eq(w->sync_id, w->sync_id_len, msg->sync_id))
		return;
	w->sync = SYNC_COMPLETED;
	/* The batch ids of a completed sync are never read again. */
	kv_keyset_clear(&w->batches);
}

/* ---- the interface ---- */

struct lmc_model *lmc_model_new(size_t max_kv_keys, bool complete)
{
	struct lmc_model *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->max_kv_keys = max_kv_keys;
	m->complete = complete;
	m->bytes = sizeof(*m);
	m->table_cap = 16;
	m->table = counted_calloc(m, m->table_cap, sizeof(*m->table));
	m->zone_chunk = ZONE_CHUNK_MIN;
	if (!m->table || !msgpack_zone_init(&m->zone, m->zone_chunk)) {
		free(m->table);
		free(m);
		return NULL;
	}
	return m;
}

void lmc_model_free(struct lmc_model *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->table_cap; i++)
		if (m->table[i])
			worker_destroy(m, m->table[i]);
	while (m->n_pending)
		pending_drop(m, m->n_pending - 1);
	free(m->table);
	msgpack_zone_destroy(&m->zone);
	free(m);
}

void lmc_model_mark_incomplete(struct lmc_model *m)
{
	m->complete = false;
}

/* Which types each socket's handler takes (controller_manager.py): others
 * are logged there and change nothing. */
static enum lmc_result apply(struct lmc_model *m, enum lmc_channel ch, const struct lmc_msg *msg)
{
	switch (ch) {
	case LMC_PULL:
		switch (msg->type) {
		case LMC_MSG_DEREGISTER: on_deregister(m, msg); return LMC_APPLIED;
		case LMC_MSG_BATCHED_KV_OPERATION: on_kv_operations(m, msg); return LMC_APPLIED;
		case LMC_MSG_FULL_SYNC_BATCH: on_full_sync_batch(m, msg); return LMC_APPLIED;
		case LMC_MSG_FULL_SYNC_END: on_full_sync_end(m, msg); return LMC_APPLIED;
		default: return LMC_IGNORED;
		}
	case LMC_REQUEST:
		switch (msg->type) {
		case LMC_MSG_REGISTER: on_register(m, msg); return LMC_APPLIED;
		case LMC_MSG_HEARTBEAT: on_heartbeat(m, msg); return LMC_APPLIED;
		case LMC_MSG_FULL_SYNC_START: on_full_sync_start(m, msg); return LMC_APPLIED;
		/* FullSyncStatusMsg only reads the tracker (its can_exit_freeze
		 * flag decides future heartbeat commands, not a gauge). */
		default: return LMC_IGNORED;
		}
	case LMC_HEARTBEAT:
		if (msg->type != LMC_MSG_HEARTBEAT)
			return LMC_IGNORED;
		on_heartbeat(m, msg);
		return LMC_APPLIED;
	case LMC_REPLY_OUT:
		if (msg->type != LMC_MSG_FULL_SYNC_START_RET)
			return LMC_IGNORED;
		on_full_sync_start_ret(m, msg);
		return LMC_APPLIED;
	}
	return LMC_IGNORED;
}

/* Grow-only, and only on success: the old zone stays if the new one fails. */
static void zone_fit(struct lmc_model *m, size_t len)
{
	size_t want = m->zone_chunk;
	msgpack_zone bigger;

	while (want < ZONE_CHUNK_MAX && want / ZONE_PER_BYTE < len)
		want *= 2;
	if (want == m->zone_chunk || !msgpack_zone_init(&bigger, want))
		return;
	msgpack_zone_destroy(&m->zone);
	m->zone = bigger;
	m->zone_chunk = want;
}

enum lmc_result lmc_model_feed(struct lmc_model *m, enum lmc_channel ch, const void *payload,
			       size_t len)
{
	enum lmc_result res = LMC_UNDECODABLE;
	struct lmc_msg msg;
	int rc;

	/* LMCache reads a frame starting with '{' as JSON (from Mooncake and
	 * the like) and may apply it; the model cannot. */
	if (len && *(const uint8_t *)payload == '{' && ch != LMC_REPLY_OUT) {
		m->complete = false;
		saturating_inc(&m->undecodable);
		return LMC_UNDECODABLE;
	}
	zone_fit(m, len);
	rc = lmc_msg_decode(&m->zone, payload, len, &msg);
	if (rc == -ENOMEM)
		m->complete = false; /* LMCache may have applied it */
	if (rc) {
		saturating_inc(&m->undecodable);
	} else {
		res = apply(m, ch, &msg);
		saturating_inc(&m->decoded);
	}
	msgpack_zone_clear(&m->zone);
	return res;
}

void lmc_model_gauges(const struct lmc_model *m, struct lmc_gauges *out)
{
	size_t set_bytes = 0;

	*out = (struct lmc_gauges){
		.registered_workers = m->n_workers,
		.kv_op_seq_discontinuity = m->seq_discontinuity,
		.complete = m->complete,
		.workers_learned = m->workers_learned,
		.decoded = m->decoded,
		.undecodable = m->undecodable,
		.keys_over_limit = m->keys_over_limit,
		.keys_stored = m->keys_stored,
	};
	for (size_t i = 0; i < m->table_cap; i++) {
		const struct worker *w = m->table[i];

		if (!w)
			continue;
		if (!w->all_locations_known)
			out->workers_keys_unknown++;
		for (size_t j = 0; j < w->n_locs; j++) {
			const struct location *l = &w->locs[j];
			uint64_t n = kv_keyset_count(&l->keys) + l->overflow;

			out->kv_pool_keys = n < UINT64_MAX - out->kv_pool_keys ?
						    out->kv_pool_keys + n : UINT64_MAX;
			if (!l->known)
				out->locations_keys_unknown++;
			set_bytes += kv_keyset_bytes(&l->keys);
		}
		set_bytes += kv_keyset_bytes(&w->batches);
		if (w->sync == SYNC_COMPLETED) {
			out->full_sync_workers_completed++;
		} else if (w->sync == SYNC_SYNCING) {
			/* len(set(range(batch_count)) - received_batches) */
			uint64_t expected = w->batch_count.neg ? 0 : w->batch_count.u;
			uint64_t missing = expected - kv_keyset_count(&w->batches);

			out->full_sync_workers_syncing++;
			out->full_sync_missing_batches =
				missing < UINT64_MAX - out->full_sync_missing_batches ?
					out->full_sync_missing_batches + missing :
					UINT64_MAX;
		}
	}
	/* get_global_progress: workers with no sync_info or a COMPLETED one,
	 * over all workers; 0.0 when there are none. */
	if (m->n_workers)
		out->full_sync_global_progress =
			(double)(m->n_workers - out->full_sync_workers_syncing) /
			(double)m->n_workers;
	out->memory_bytes = m->bytes + set_bytes + m->zone_chunk;
}

int lmc_model_check(const struct lmc_model *m)
{
	uint64_t keys = 0;
	size_t workers = 0;

	for (size_t i = 0; i < m->table_cap; i++) {
		const struct worker *w = m->table[i];
		struct lmc_worker_id id;

		if (!w)
			continue;
		workers++;
		id = (struct lmc_worker_id){{w->instance_id, w->instance_len}, w->worker_id};
		if (worker_find(m, &id) != w)
			return -EINVAL;
		if (w->n_locs > w->cap_locs || w->n_locs > MAX_LOCATIONS)
			return -EINVAL;
		if ((w->sync == SYNC_NONE) != (w->sync_id == NULL))
			return -EINVAL;
		if (w->sync == SYNC_SYNCING &&
		    kv_keyset_count(&w->batches) > (w->batch_count.neg ? 0 : w->batch_count.u))
			return -EINVAL;
		for (size_t j = 0; j < w->n_locs; j++)
			keys += kv_keyset_count(&w->locs[j].keys);
	}
	if (workers != m->n_workers || keys != m->keys_stored || keys > m->max_kv_keys ||
	    m->n_workers * 2 > m->table_cap || m->n_pending > MAX_PENDING)
		return -EINVAL;
	return 0;
}
