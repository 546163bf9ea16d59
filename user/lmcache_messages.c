// SPDX-License-Identifier: MIT
#include "lmcache_messages.h"

#include <errno.h>
#include <string.h>

/*
 * msgpack-c's C unpacker has no limits (its C++ side has unpack_limit): it
 * allocates an array or map by its declared count, so five bytes can ask
 * for 100 GB.  This walk reads only the headers, iteratively, and accepts
 * a buffer that is exactly one complete object whose every declared count
 * fits in the bytes left (each element takes at least one).  msgpack-c
 * then decodes it with at most ~48 bytes of zone per payload byte.
 */
static int check_bounded(const uint8_t *p, size_t len)
{
	size_t pos = 0, pending = 1;

	while (pending) {
		uint64_t count = 0, skip = 0;
		size_t hdr = 1, w = 0;
		uint8_t b;

		if (pos >= len)
			return -EBADMSG;
		b = p[pos];
		pending--;
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
			/* fixint, nil, bool */
		} else if (b <= 0x8f) {
			count = 2 * (uint64_t)(b & 0x0f);
		} else if (b <= 0x9f) {
			count = b & 0x0f;
		} else if (b <= 0xbf) {
			skip = b & 0x1f;
		} else {
			switch (b) {
			case 0xc4: case 0xd9: w = 1; break;	/* bin8, str8 */
			case 0xc5: case 0xda: w = 2; break;	/* bin16, str16 */
			case 0xc6: case 0xdb: w = 4; break;	/* bin32, str32 */
			case 0xc7: w = 1; skip = 1; break;	/* ext8: length, type */
			case 0xc8: w = 2; skip = 1; break;
			case 0xc9: w = 4; skip = 1; break;
			case 0xca: skip = 4; break;		/* float32 */
			case 0xcb: skip = 8; break;
			case 0xcc: case 0xd0: skip = 1; break;	/* (u)int8 */
			case 0xcd: case 0xd1: skip = 2; break;
			case 0xce: case 0xd2: skip = 4; break;
			case 0xcf: case 0xd3: skip = 8; break;
			case 0xd4: skip = 2; break;		/* fixext: type + data */
			case 0xd5: skip = 3; break;
			case 0xd6: skip = 5; break;
			case 0xd7: skip = 9; break;
			case 0xd8: skip = 17; break;
			case 0xdc: case 0xde: w = 2; break;	/* array16, map16 */
			case 0xdd: case 0xdf: w = 4; break;
			default: return -EBADMSG;		/* 0xc1, never used */
			}
			if (w) {
				uint64_t n = 0;

				if (len - pos - 1 < w)
					return -EBADMSG;
				for (size_t i = 0; i < w; i++)
					n = n << 8 | p[pos + 1 + i];
				hdr += w;
				if (b == 0xdc || b == 0xdd)
					count = n;
				else if (b == 0xde || b == 0xdf)
					count = 2 * n;
				else
					skip += n;
			}
		}
		if (len - pos < hdr || len - pos - hdr < skip)
			return -EBADMSG;
		pos += hdr + (size_t)skip;
		if (count > len - pos || pending + count > len - pos)
			return -EBADMSG;
		pending += (size_t)count;
	}
	return pos == len ? 0 : -EBADMSG;
}

/* ---- field readers, each with msgspec's type rule ---- */

static bool str_is(const msgpack_object *k, const char *name, size_t n)
{
	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
	       memcmp(k->via.str.ptr, name, n) == 0;
}

/* For string literals: the length is a constant. */
#define key_is(k, lit) str_is(k, lit, sizeof(lit) - 1)

static int read_str(const msgpack_object *o, struct lmc_str *out)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return -EBADMSG;
	out->ptr = o->via.str.ptr;
	out->len = o->via.str.size;
	return 0;
}

static int read_opt_str(const msgpack_object *o, struct lmc_str *out)
{
	if (o->type == MSGPACK_OBJECT_NIL) {
		*out = (struct lmc_str){0};
		return 0;
	}
	return read_str(o, out);
}

static int read_int(const msgpack_object *o, struct lmc_int *out)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		*out = (struct lmc_int){.u = o->via.u64, .neg = false};
	else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		*out = (struct lmc_int){.u = (uint64_t)o->via.i64, .neg = o->via.i64 < 0};
	else
		return -EBADMSG;
	return 0;
}

static int read_bool(const msgpack_object *o, bool *out)
{
	if (o->type != MSGPACK_OBJECT_BOOLEAN)
		return -EBADMSG;
	*out = o->via.boolean;
	return 0;
}

/* ---- message layouts ---- */

enum field_kind { F_STR, F_OPT_STR, F_INT, F_BOOL, F_OPS, F_KEYS };

struct field {
	const char *name;
	size_t name_len;
	enum field_kind kind;
	size_t offset; /* into struct lmc_msg */
	bool optional; /* has a default: may be absent */
};

#define NAME(lit) lit, sizeof(lit) - 1
#define FLD(n, k, member) {NAME(n), k, offsetof(struct lmc_msg, member), false}
#define WORKER                                                                                  \
	FLD("instance_id", F_STR, worker.instance_id), FLD("worker_id", F_INT, worker.worker_id)
#define MAX_FIELDS 8

struct layout {
	const char *name;
	size_t name_len;
	struct field fields[MAX_FIELDS];
	size_t n_fields;
};

/* Fields the model does not use are still checked: msgspec rejects the
 * whole message when one is wrong. */
static const struct layout layouts[] = {
	[LMC_MSG_REGISTER] = {NAME("RegisterMsg"),
			      {WORKER, FLD("ip", F_STR, ip), FLD("port", F_INT, port),
			       FLD("peer_init_url", F_OPT_STR, peer_init_url)},
			      5},
	[LMC_MSG_HEARTBEAT] = {NAME("HeartbeatMsg"),
			       {WORKER, FLD("ip", F_STR, ip), FLD("port", F_INT, port),
				FLD("peer_init_url", F_OPT_STR, peer_init_url)},
			       5},
	[LMC_MSG_DEREGISTER] = {NAME("DeRegisterMsg"),
				{WORKER, FLD("ip", F_STR, ip),
				 FLD("port", F_INT, port)},
				4},
	[LMC_MSG_BATCHED_KV_OPERATION] = {NAME("BatchedKVOperationMsg"),
					  {WORKER, FLD("location", F_STR, location),
					   FLD("operations", F_OPS, ops)},
					  4},
	[LMC_MSG_FULL_SYNC_START] = {NAME("FullSyncStartMsg"),
				     {WORKER, FLD("location", F_STR, location),
				      FLD("sync_id", F_STR, sync_id),
				      FLD("total_keys", F_INT, total_keys),
				      FLD("batch_count", F_INT, batch_count)},
				     6},
	[LMC_MSG_FULL_SYNC_BATCH] = {NAME("FullSyncBatchMsg"),
				     {WORKER, FLD("location", F_STR, location),
				      FLD("sync_id", F_STR, sync_id),
				      FLD("batch_id", F_INT, batch_id), FLD("keys", F_KEYS, keys)},
				     6},
	[LMC_MSG_FULL_SYNC_END] = {NAME("FullSyncEndMsg"),
				   {WORKER, FLD("location", F_STR, location),
				    FLD("sync_id", F_STR, sync_id),
				    FLD("actual_total_keys", F_INT, actual_total_keys)},
				   5},
	[LMC_MSG_FULL_SYNC_STATUS] = {NAME("FullSyncStatusMsg"),
				      {WORKER, FLD("sync_id", F_STR, sync_id)},
				      3},
	[LMC_MSG_FULL_SYNC_START_RET] = {NAME("FullSyncStartRetMsg"),
					 {FLD("sync_id", F_STR, sync_id),
					  FLD("accepted", F_BOOL, accepted),
					  {NAME("error_msg"), F_OPT_STR, offsetof(struct lmc_msg, error_msg), true}},
					 3},
};

#define N_LAYOUTS (sizeof(layouts) / sizeof(layouts[0]))

const char *lmc_msg_type_name(enum lmc_msg_type t)
{
	return (size_t)t < N_LAYOUTS && layouts[t].name ? layouts[t].name : "";
}

/* KVOpEvent: an untagged struct of op_type (the OpType enum's values),
 * key and seq_num. */
static int read_op(const msgpack_object *o, struct lmc_kv_op *op)
{
	unsigned seen = 0;

	if (o->type != MSGPACK_OBJECT_MAP)
		return -EBADMSG;
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
		struct lmc_int key;

		if (k->type != MSGPACK_OBJECT_STR)
			return -EBADMSG;
		if (key_is(k, "op_type")) {
			if (key_is(v, "admit"))
				op->evict = false;
			else if (key_is(v, "evict"))
				op->evict = true;
			else
				return -EBADMSG;
			seen |= 1;
		} else if (key_is(k, "key")) {
			if (read_int(v, &key))
				return -EBADMSG;
			op->key = key.u;
			seen |= 2;
		} else if (key_is(k, "seq_num")) {
			if (read_int(v, &op->seq_num))
				return -EBADMSG;
			seen |= 4;
		}
	}
	return seen == 7 ? 0 : -EBADMSG;
}

static int read_ops(msgpack_zone *zone, const msgpack_object *o, struct lmc_msg *m)
{
	uint32_t n;

	if (o->type != MSGPACK_OBJECT_ARRAY)
		return -EBADMSG;
	n = o->via.array.size;
	m->ops = NULL;
	m->n_ops = n;
	if (!n)
		return 0;
	m->ops = msgpack_zone_malloc(zone, (size_t)n * sizeof(*m->ops));
	if (!m->ops)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		if (read_op(&o->via.array.ptr[i], &m->ops[i]))
			return -EBADMSG;
	return 0;
}

static int read_keys(msgpack_zone *zone, const msgpack_object *o, struct lmc_msg *m)
{
	uint32_t n;

	if (o->type != MSGPACK_OBJECT_ARRAY)
		return -EBADMSG;
	n = o->via.array.size;
	m->keys = NULL;
	m->n_keys = n;
	if (!n)
		return 0;
	m->keys = msgpack_zone_malloc(zone, (size_t)n * sizeof(*m->keys));
	if (!m->keys)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct lmc_int k;

		if (read_int(&o->via.array.ptr[i], &k))
			return -EBADMSG;
		m->keys[i] = k.u;
	}
	return 0;
}

static int read_field(msgpack_zone *zone, const struct field *f, const msgpack_object *v,
		      struct lmc_msg *m)
{
	void *dst = (char *)m + f->offset;

	switch (f->kind) {
	case F_STR:
		return read_str(v, dst);
	case F_OPT_STR:
		return read_opt_str(v, dst);
	case F_INT:
		return read_int(v, dst);
	case F_BOOL:
		return read_bool(v, dst);
	case F_OPS:
		return read_ops(zone, v, m);
	case F_KEYS:
		return read_keys(zone, v, m);
	}
	return -EBADMSG;
}

/* msgspec's struct decoding (mpack_decode_struct_map): every key a str;
 * fields by name in any order; unknown names skipped; a repeated name
 * overwrites; a repeated tag must repeat the class name. */
static int decode_fields(msgpack_zone *zone, const msgpack_object *map, const struct layout *l,
			 struct lmc_msg *m)
{
	unsigned seen = 0, required = 0;

	for (size_t f = 0; f < l->n_fields; f++)
		if (!l->fields[f].optional)
			required |= 1u << f;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;

		if (k->type != MSGPACK_OBJECT_STR)
			return -EBADMSG;
		if (key_is(k, "type")) {
			if (!str_is(&map->via.map.ptr[i].val, l->name, l->name_len))
				return -EBADMSG;
			continue;
		}
		for (size_t f = 0; f < l->n_fields; f++) {
			if (!str_is(k, l->fields[f].name, l->fields[f].name_len))
				continue;
			int rc = read_field(zone, &l->fields[f], &map->via.map.ptr[i].val, m);

			if (rc)
				return rc;
			seen |= 1u << f;
			break;
		}
	}
	return (seen & required) == required ? 0 : -EBADMSG;
}

int lmc_msg_decode(msgpack_zone *zone, const void *payload, size_t len, struct lmc_msg *out)
{
	const msgpack_object *tag = NULL;
	msgpack_object root;
	size_t off = 0;
	int rc;

	*out = (struct lmc_msg){0};
	if (!payload || !len)
		return -EBADMSG;
	rc = check_bounded(payload, len);
	if (rc)
		return rc;
	/* NOMEM is also msgpack-c's nesting limit (MSGPACK_EMBED_STACK_SIZE,
	 * 32), far beyond any LMCache message: bad input, like the rest. */
	if (msgpack_unpack(payload, len, &off, zone, &root) != MSGPACK_UNPACK_SUCCESS)
		return -EBADMSG;
	if (root.type != MSGPACK_OBJECT_MAP)
		return -EBADMSG;
	/* The first "type" key is the tag, as msgspec finds it. */
	for (uint32_t i = 0; i < root.via.map.size; i++)
		if (key_is(&root.via.map.ptr[i].key, "type")) {
			tag = &root.via.map.ptr[i].val;
			break;
		}
	if (!tag || tag->type != MSGPACK_OBJECT_STR)
		return -EBADMSG;
	for (size_t t = 1; t < N_LAYOUTS; t++) {
		if (!str_is(tag, layouts[t].name, layouts[t].name_len))
			continue;
		out->type = (enum lmc_msg_type)t;
		rc = decode_fields(zone, &root, &layouts[t], out);
		if (rc) {
			*out = (struct lmc_msg){0};
			return rc;
		}
		break;
	}
	return 0;
}
