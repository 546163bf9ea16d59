// SPDX-License-Identifier: MIT
/*
 * LMCache's thirteen gauges under its own names: the six socket gauges its
 * SocketMetricsContext keeps, from the probes' counts, and the seven state
 * gauges of its controller model, from the payload tap (design.md 4, 10).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"

bool metrics_socket_is_heartbeat(const struct metrics_snapshot *snap,
				 const struct metrics_config *cfg, const struct metrics_socket *ms)
{
	uint64_t heartbeats = 0, others = 0;

	if (ms->s.role != ZS_ROLE_REPLY)
		return false;
	for (size_t i = 0; i < cfg->nroles; i++)
		if (cfg->roles[i].heartbeat && !strcmp(cfg->roles[i].endpoint, ms->s.endpoint))
			return true;
	for (size_t i = 0; i < snap->nsock_types; i++) {
		const struct metrics_sock_type *st = &snap->sock_types[i];

		/* Undecodable requests (garbage, "unknown") say nothing of what the socket is for. */
		if (st->tgid != ms->tgid || st->handle != ms->handle || st->gen != ms->s.gen ||
		    st->msg_type < ZS_MSGTYPE_FIRST)
			continue;
		if (!strcmp(metrics_msg_type_name(snap, st->tgid, st->msg_type), "HeartbeatMsg"))
			heartbeats += st->msgs;
		else
			others += st->msgs;
	}
	return heartbeats && !others;
}

void lmcache_gauges_compute(const struct metrics_snapshot *snap, const struct metrics_config *cfg,
			    const struct metrics_target *t, struct lmcache_gauges *out)
{
	memset(out, 0, sizeof(*out));
	/* LMCache adds len(parts) per pull message, and 1 per request on reply sockets. */
	out->pull_message_count = t->roles[ZS_ROLE_PULL].msg_frames_rx;
	out->reply_message_count = t->roles[ZS_ROLE_REPLY].msgs_rx;
	for (size_t i = 0; i < snap->nsockets; i++) {
		const struct zs_sock *s = &snap->sockets[i].s;

		if (snap->sockets[i].tgid != t->pid)
			continue;
		if (s->role == ZS_ROLE_PULL) {
			if (metrics_span_open(s))
				out->pull_active_requests += s->span_frames;
			out->pull_has_pending |= s->pending;
		} else if (s->role == ZS_ROLE_REPLY) {
			if (metrics_span_open(s))
				out->reply_active_requests++;
			/* LMCache polls its reply ROUTER only, not the heartbeat one. */
			if (!metrics_socket_is_heartbeat(snap, cfg, &snap->sockets[i]))
				out->reply_has_pending |= s->pending;
		}
	}
	/* A role timed by --handler probes counts the handler calls in progress instead. */
	if (t->explicit_roles & (1U << ZS_ROLE_PULL))
		out->pull_active_requests = (uint64_t)(t->explicit_active[ZS_ROLE_PULL] > 0
							       ? t->explicit_active[ZS_ROLE_PULL]
							       : 0);
	if (t->explicit_roles & (1U << ZS_ROLE_REPLY))
		out->reply_active_requests = (uint64_t)(t->explicit_active[ZS_ROLE_REPLY] > 0
								? t->explicit_active[ZS_ROLE_REPLY]
								: 0);
}

/* One gauge per target, labelled as LMCache's are: role="controller" and pid. */
static void controller_sample(struct strbuf *out, const char *name, const struct metrics_config *cfg,
			      uint32_t pid, double value)
{
	char p[16];
	struct expo_label l[] = { { "role", "controller" }, { "pid", p } };

	snprintf(p, sizeof(p), "%" PRIu32, pid);
	expo_sample(out, name, l, 2, cfg->labels, cfg->nlabels, value);
}

void metrics_render_lmcache(const struct metrics_snapshot *snap, const struct metrics_config *cfg,
			    struct strbuf *out)
{
	static const struct {
		const char *name;
		const char *help;
	} gauges[] = {
		{ "lmcache:cache_controller_pull_socket_message_count",
		  "Frames received on the controller's PULL sockets since zmqscope attached "
		  "(LMCache counts every part of a multipart message)." },
		{ "lmcache:cache_controller_reply_socket_message_count",
		  "Requests received on the controller's reply and heartbeat ROUTER sockets since "
		  "zmqscope attached." },
		{ "lmcache:cache_controller_pull_socket_active_requests",
		  "Frames of PULL messages whose handler has not finished." },
		{ "lmcache:cache_controller_reply_socket_active_requests",
		  "Requests on reply sockets whose handler has not finished." },
		{ "lmcache:cache_controller_pull_socket_has_pending",
		  "1 if the controller last saw a message waiting on a PULL socket, else 0." },
		{ "lmcache:cache_controller_reply_socket_has_pending",
		  "1 if the controller last saw a message waiting on its reply ROUTER (not the "
		  "heartbeat one), else 0." },
	};
	struct lmcache_gauges g[snap->ntargets ? snap->ntargets : 1];

	for (size_t t = 0; t < snap->ntargets; t++)
		lmcache_gauges_compute(snap, cfg, &snap->targets[t], &g[t]);
	for (size_t k = 0; k < sizeof(gauges) / sizeof(gauges[0]); k++) {
		expo_family(out, gauges[k].name, EXPO_GAUGE, gauges[k].help);
		for (size_t t = 0; t < snap->ntargets; t++) {
			const uint64_t values[] = {
				g[t].pull_message_count,    g[t].reply_message_count,
				g[t].pull_active_requests,  g[t].reply_active_requests,
				g[t].pull_has_pending,	    g[t].reply_has_pending,
			};

			controller_sample(out, gauges[k].name, cfg, snap->targets[t].pid,
					  (double)values[k]);
		}
	}
}

bool lmcache_state_complete(const struct metrics_snapshot *snap, const struct metrics_target *t)
{
	size_t typed = 0;

	if (!t->has_state || !t->state.complete)
		return false;
	/*
	 * The model is told of every copy from a socket that was not pristine
	 * (zmqscope.h).  Such a socket that carried no state message yet still
	 * hides what it carried before the attach; with no socket seen at all,
	 * nothing says whether the controller ran before zmqscope came.
	 */
	for (size_t i = 0; i < snap->nsockets; i++) {
		const struct zs_sock *s = &snap->sockets[i].s;

		if (snap->sockets[i].tgid != t->pid ||
		    (s->role != ZS_ROLE_PULL && s->role != ZS_ROLE_REPLY))
			continue;
		if (!s->pristine)
			return false;
		typed++;
	}
	return typed > 0;
}

enum state_value {
	ST_WORKERS,
	ST_KV_KEYS,
	ST_SEQ_GAPS,
	ST_SYNCING,
	ST_COMPLETED,
	ST_PROGRESS,
	ST_MISSING,
};

static double state_value(const struct lmc_gauges *g, enum state_value v)
{
	switch (v) {
	case ST_WORKERS:
		return (double)g->registered_workers;
	case ST_KV_KEYS:
		return (double)g->kv_pool_keys;
	case ST_SEQ_GAPS:
		return (double)g->kv_op_seq_discontinuity;
	case ST_SYNCING:
		return (double)g->full_sync_workers_syncing;
	case ST_COMPLETED:
		return (double)g->full_sync_workers_completed;
	case ST_PROGRESS:
		return g->full_sync_global_progress;
	default:
		return (double)g->full_sync_missing_batches;
	}
}

enum book_value {
	BK_COMPLETE,
	BK_UNKNOWN_SETS,
	BK_LEARNED,
	BK_KEYS_STORED,
	BK_MEMORY,
	BK_DECODED,
	BK_UNDECODABLE,
	BK_OVER_LIMIT,
	BK_TAP_FRAMES,
	BK_TAP_DROPPED,
};

static double book_value(const struct metrics_snapshot *snap, const struct metrics_target *t,
			 enum book_value v)
{
	const struct lmc_gauges *g = &t->state;

	switch (v) {
	case BK_COMPLETE:
		return lmcache_state_complete(snap, t);
	case BK_UNKNOWN_SETS:
		return (double)g->locations_keys_unknown;
	case BK_LEARNED:
		return (double)g->workers_learned;
	case BK_KEYS_STORED:
		return (double)g->keys_stored;
	case BK_MEMORY:
		return (double)g->memory_bytes;
	case BK_DECODED:
		return (double)g->decoded;
	case BK_UNDECODABLE:
		return (double)g->undecodable;
	case BK_OVER_LIMIT:
		return (double)g->keys_over_limit;
	case BK_TAP_FRAMES:
		return (double)t->tap_frames;
	default:
		return (double)t->tap_dropped;
	}
}

void metrics_render_lmcache_state(const struct metrics_snapshot *snap,
				  const struct metrics_config *cfg, struct strbuf *out)
{
	static const struct {
		const char *name;
		const char *help;
	} gauges[] = {
		[ST_WORKERS] = { "lmcache:cache_controller_registered_workers_count",
				 "Workers registered with the controller (live; LMCache's own gauge "
				 "reads it through a 30 s cache)." },
		[ST_KV_KEYS] = { "lmcache:cache_controller_kv_pool_keys_count",
				 "Distinct keys in the KV pool, summed over (worker, location)." },
		[ST_SEQ_GAPS] = { "lmcache:cache_controller_kv_op_seq_discontinuity_count",
				  "KV operation batches with a sequence number that did not follow "
				  "the previous one, since zmqscope attached." },
		[ST_SYNCING] = { "lmcache:cache_controller_full_sync_workers_syncing",
				 "Workers in the middle of a full sync." },
		[ST_COMPLETED] = { "lmcache:cache_controller_full_sync_workers_completed",
				   "Workers whose full sync ended." },
		[ST_PROGRESS] = { "lmcache:cache_controller_full_sync_global_progress",
				  "Share of registered workers not waiting for a full sync (0-1)." },
		[ST_MISSING] = { "lmcache:cache_controller_full_sync_missing_batches_total",
				 "Full-sync batches announced but not received, over syncing "
				 "workers." },
	};
	static const struct {
		const char *name;
		enum expo_type type;
		const char *help;
	} book[] = {
		[BK_COMPLETE] = { "zmqscope_lmcache_state_complete", EXPO_GAUGE,
				  "1 if every LMCache state gauge is exact: zmqscope saw the "
				  "controller's sockets created and lost no copy; else 0." },
		[BK_UNKNOWN_SETS] = { "zmqscope_lmcache_kv_locations_keys_unknown", EXPO_GAUGE,
				      "(worker, location) key sets whose keys zmqscope has not "
				      "seen since it attached." },
		[BK_LEARNED] = { "zmqscope_lmcache_workers_learned", EXPO_GAUGE,
				 "Workers first seen through a heartbeat, registered before "
				 "zmqscope attached." },
		[BK_KEYS_STORED] = { "zmqscope_lmcache_kv_keys_stored", EXPO_GAUGE,
				     "Keys zmqscope holds for the KV-pool gauge (--max-kv-keys)." },
		[BK_MEMORY] = { "zmqscope_lmcache_state_memory_bytes", EXPO_GAUGE,
				"Memory held by the rebuilt controller state." },
		[BK_DECODED] = { "zmqscope_lmcache_payloads_decoded_total", EXPO_COUNTER,
				 "State messages decoded." },
		[BK_UNDECODABLE] = { "zmqscope_lmcache_payloads_undecodable_total", EXPO_COUNTER,
				     "State messages that were not valid msgpack or lacked a field." },
		[BK_OVER_LIMIT] = { "zmqscope_lmcache_kv_keys_over_limit_total", EXPO_COUNTER,
				    "Keys not held because --max-kv-keys was reached." },
		[BK_TAP_FRAMES] = { "zmqscope_tap_frames_total", EXPO_COUNTER,
				    "Frames copied whole to zmqscope by the payload tap." },
		[BK_TAP_DROPPED] = { "zmqscope_tap_dropped_total", EXPO_COUNTER,
				     "Frames the payload tap could not copy (ring buffer full, or "
				     "the frame too large)." },
	};
	bool any = false;

	for (size_t t = 0; t < snap->ntargets; t++)
		any |= snap->targets[t].has_state;
	if (!any)
		return;
	for (size_t k = 0; cfg->lmcache_names && k < sizeof(gauges) / sizeof(gauges[0]); k++) {
		expo_family(out, gauges[k].name, EXPO_GAUGE, gauges[k].help);
		for (size_t t = 0; t < snap->ntargets; t++)
			if (snap->targets[t].has_state)
				controller_sample(out, gauges[k].name, cfg, snap->targets[t].pid,
						  state_value(&snap->targets[t].state, k));
	}
	for (size_t k = 0; k < sizeof(book) / sizeof(book[0]); k++) {
		expo_family(out, book[k].name, book[k].type, book[k].help);
		for (size_t t = 0; t < snap->ntargets; t++) {
			char pid[16];
			struct expo_label l[] = { { "pid", pid } };

			if (!snap->targets[t].has_state)
				continue;
			snprintf(pid, sizeof(pid), "%" PRIu32, snap->targets[t].pid);
			expo_sample(out, book[k].name, l, 1, cfg->labels, cfg->nlabels,
				    book_value(snap, &snap->targets[t], k));
		}
	}
}
