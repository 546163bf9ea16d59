/* SPDX-License-Identifier: MIT */
/*
 * The wire layer's snapshot -> metric families.  Pure, like metrics.h: the
 * snapshot is plain data copied out of the wire maps, so every series is
 * unit-tested without BPF.
 */
#ifndef ZS_WIRE_METRICS_H
#define ZS_WIRE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "options.h"
#include "strbuf.h"
#include "wire.h"

struct wire_conn_entry {
	struct zs_wire_conn_key key;
	struct zs_wire_conn c;
};

struct wire_ep_entry {
	struct zs_wire_ep ep;
	struct zs_wire_ep_totals t;
};

struct wire_type_entry {
	struct zs_wire_type_key k;
	uint64_t msgs;
};

struct wire_hist_entry {
	struct zs_wire_hist_key k;
	struct zs_hist h;
};

struct wire_snapshot {
	const struct wire_conn_entry *conns; /* live connections */
	size_t nconns;
	const struct wire_ep_entry *eps; /* what closed connections left, and opens */
	size_t neps;
	const struct wire_type_entry *types;
	size_t ntypes;
	const struct wire_hist_entry *hists;
	size_t nhists;
	uint64_t drops[ZS_WIRE_DROP_MAX];
	const uint32_t *pids; /* the targets the wire layer watches */
	size_t npids;
	/* With --layer app,wire: the app layer's sockets, for the queue depth. */
	const struct metrics_socket *app_sockets;
	size_t napp_sockets;
	bool app_layer;
	const struct zs_role_rule *roles; /* --role rules */
	size_t nroles;
};

/* "tcp://127.0.0.1:5555", "tcp://[::1]:5555", "ipc:///tmp/x.ipc", "ipc://@abstract" */
void wire_endpoint_string(const struct zs_wire_ep *ep, char *out, size_t n);

/* The zmq socket type named by a Socket-Type value, or ZS_TYPE_UNKNOWN. */
unsigned wire_socket_type(const char *name);

/* The LMCache role of an endpoint: --role rules, then PULL=pull, ROUTER/REP=reply. */
unsigned wire_role(const struct wire_snapshot *s, const char *local_type, const char *endpoint);

/* A connection whose bytes proved it speaks another protocol: not reported. */
bool wire_conn_not_zmtp(const struct zs_wire_conn *c);

/* One endpoint's figures: what its closed connections left plus its live ones. */
struct wire_ep_view {
	struct zs_wire_ep ep;
	char endpoint[ZS_WIRE_PATH_LEN + 48];
	char local_type[ZMTP_TYPE_LEN];
	struct zmtp_counts in, out;
	uint64_t wire_in, wire_out;
	uint64_t opened, closed, live, handshake_failures;
	uint64_t curve_conns; /* live connections under CURVE */
	unsigned role;
};

/* The endpoints of a snapshot, merged; the caller frees *out. */
size_t wire_ep_views(const struct wire_snapshot *s, struct wire_ep_view **out);

void wire_metrics_render(const struct wire_snapshot *s, const struct metrics_config *cfg,
			 struct strbuf *out);

#endif
