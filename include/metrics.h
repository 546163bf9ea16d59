/* SPDX-License-Identifier: MIT */
/*
 * Turns a snapshot of the BPF maps into metric families.  Pure: the
 * snapshot is plain data, so the semantics of every series (LMCache's
 * gauges above all) are unit-tested without BPF.
 */
#ifndef ZS_METRICS_H
#define ZS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exposition.h"
#include "lmcache_model.h"
#include "options.h"
#include "strbuf.h"
#include "zmqscope.h"

struct metrics_socket {
	uint32_t tgid;
	uint64_t handle;
	struct zs_sock s;
};

/* A handler span is open on the socket: LMCache's active request. */
static inline bool metrics_span_open(const struct zs_sock *s)
{
	return s->span_start_ns != 0;
}

struct metrics_probe {
	const char *function;
	const char *suffix; /* "", ":return" or ":session" */
	const char *library;
	bool attached;
};

struct metrics_target {
	uint32_t pid;
	bool up;
	struct zs_role_totals roles[ZS_ROLE_MAX];
	uint32_t explicit_roles; /* bit per role timed by --handler probes */
	int64_t explicit_active[ZS_ROLE_MAX];
	const struct metrics_probe *probes;
	size_t nprobes;
	/* LMCache's controller state, rebuilt from the payload tap */
	bool has_state;
	struct lmc_gauges state;
	uint64_t tap_frames;  /* copied whole */
	uint64_t tap_dropped; /* not copied: the ring was full, or the frame too large */
	uint64_t copies_unprobed; /* libzmq copies mapped beyond what is probed at once */
};

/* A decoded msg_type name and its per-process id. */
struct metrics_msg_type {
	uint32_t tgid;
	uint32_t id;
	char name[ZS_MSG_TYPE_LEN];
};

/* Messages received on one socket with one msg_type. */
struct metrics_sock_type {
	uint32_t tgid;
	uint32_t msg_type;
	uint64_t handle;
	uint32_t gen;
	uint64_t msgs;
};

struct metrics_hist {
	struct zs_hist_key key;
	struct zs_hist h;
};

struct metrics_map {
	const char *name;
	uint64_t entries;
	uint64_t max_entries;
	uint64_t update_failures;
};

struct metrics_snapshot {
	const struct metrics_target *targets;
	size_t ntargets;
	const struct metrics_socket *sockets; /* grouped by tgid */
	size_t nsockets;
	const struct metrics_map *maps;
	size_t nmaps;
	const struct metrics_msg_type *msg_types;
	size_t nmsg_types;
	const struct metrics_sock_type *sock_types;
	size_t nsock_types;
	const struct metrics_hist *hists;
	size_t nhists;
};

/* The label value of a msg_type id: its name, "unknown" or "other". */
const char *metrics_msg_type_name(const struct metrics_snapshot *snap, uint32_t tgid,
				  uint32_t id);

struct metrics_config {
	const struct expo_label *labels; /* --label pairs, added to every series */
	size_t nlabels;
	bool lmcache_names;
	/* --role rules: those with `heartbeat` name LMCache's heartbeat socket */
	const struct zs_role_rule *roles;
	size_t nroles;
	const char *version;
	const char *libbpf_version;
};

/* LMCache's view of one process: sums over its sockets of each role. */
struct lmcache_gauges {
	uint64_t pull_message_count;
	uint64_t reply_message_count;
	uint64_t pull_active_requests;
	uint64_t reply_active_requests;
	unsigned pull_has_pending;
	unsigned reply_has_pending;
};

void lmcache_gauges_compute(const struct metrics_snapshot *snap, const struct metrics_config *cfg,
			    const struct metrics_target *t, struct lmcache_gauges *out);

/*
 * LMCache's heartbeat ROUTER, which its reply_socket_has_pending leaves
 * out: named by --role ENDPOINT=heartbeat, or told by its traffic (every
 * request it decoded was a HeartbeatMsg).
 */
bool metrics_socket_is_heartbeat(const struct metrics_snapshot *snap,
				 const struct metrics_config *cfg, const struct metrics_socket *ms);

/* Whether the target's state gauges are LMCache's exact values. */
bool lmcache_state_complete(const struct metrics_snapshot *snap, const struct metrics_target *t);

/* metrics_lmcache.c: LMCache's six socket gauges, and its seven state gauges. */
void metrics_render_lmcache(const struct metrics_snapshot *snap, const struct metrics_config *cfg,
			    struct strbuf *out);
void metrics_render_lmcache_state(const struct metrics_snapshot *snap,
				  const struct metrics_config *cfg, struct strbuf *out);

void metrics_render(const struct metrics_snapshot *snap, const struct metrics_config *cfg,
		    struct strbuf *out);

/* Written last, so the figure covers the rest of the scrape. */
void metrics_render_scrape_duration(const struct metrics_config *cfg, double seconds,
				    struct strbuf *out);

#endif
