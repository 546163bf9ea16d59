// SPDX-License-Identifier: MIT
#include "wire_metrics.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "exposition.h"

void wire_endpoint_string(const struct zs_wire_ep *ep, char *out, size_t n)
{
	char addr[INET6_ADDRSTRLEN] = "?";

	if (ep->family == AF_UNIX) {
		char path[ZS_WIRE_PATH_LEN];

		memcpy(path, ep->path, sizeof(path));
		path[sizeof(path) - 1] = '\0';
		/* An abstract name starts with NUL; libzmq spells it '@'. */
		if (!path[0] && ep->path[1])
			snprintf(out, n, "ipc://@%.*s", (int)sizeof(path) - 2, ep->path + 1);
		else
			snprintf(out, n, "ipc://%s", path);
		return;
	}
	inet_ntop(ep->family == AF_INET6 ? AF_INET6 : AF_INET, ep->addr, addr, sizeof(addr));
	if (ep->family == AF_INET6)
		snprintf(out, n, "tcp://[%s]:%u", addr, ep->port);
	else
		snprintf(out, n, "tcp://%s:%u", addr, ep->port);
}

unsigned wire_socket_type(const char *name)
{
	int t = name && name[0] ? socket_type_from_name(name) : -1;

	return t < 0 ? ZS_TYPE_UNKNOWN : (unsigned)t;
}

unsigned wire_role(const struct wire_snapshot *s, const char *local_type, const char *endpoint)
{
	unsigned type = wire_socket_type(local_type);

	for (size_t i = 0; i < s->nroles; i++)
		if (!s->roles[i].by_type && !strcmp(s->roles[i].endpoint, endpoint))
			return s->roles[i].role;
	for (size_t i = 0; i < s->nroles; i++)
		if (s->roles[i].by_type && s->roles[i].type == type)
			return s->roles[i].role;
	if (type == 7) /* PULL */
		return ZS_ROLE_PULL;
	if (type == 6 || type == 4) /* ROUTER, REP */
		return ZS_ROLE_REPLY;
	return ZS_ROLE_NONE;
}

static void add_counts(struct zmtp_counts *to, const struct zmtp_counts *from)
{
	to->frames += from->frames;
	to->msgs += from->msgs;
	to->bytes += from->bytes;
	to->commands += from->commands;
	to->pings += from->pings;
	to->pongs += from->pongs;
	to->errors += from->errors;
}

bool wire_conn_not_zmtp(const struct zs_wire_conn *c)
{
	return c->in.fail == ZMTP_FAIL_SIGNATURE || c->out.fail == ZMTP_FAIL_SIGNATURE;
}

static struct wire_ep_view *view_of(struct wire_ep_view *v, size_t *n, const struct zs_wire_ep *ep)
{
	for (size_t i = 0; i < *n; i++)
		if (!memcmp(&v[i].ep, ep, sizeof(*ep)))
			return &v[i];
	memset(&v[*n], 0, sizeof(v[*n]));
	v[*n].ep = *ep;
	wire_endpoint_string(ep, v[*n].endpoint, sizeof(v[*n].endpoint));
	return &v[(*n)++];
}

static void set_type(char *to, const char *from)
{
	if (from[0] && !to[0]) {
		memcpy(to, from, ZMTP_TYPE_LEN);
		to[ZMTP_TYPE_LEN - 1] = '\0';
	}
}

size_t wire_ep_views(const struct wire_snapshot *s, struct wire_ep_view **out)
{
	size_t cap = s->neps + s->nconns, n = 0;
	struct wire_ep_view *v = calloc(cap ? cap : 1, sizeof(*v));

	*out = v;
	if (!v)
		return 0;
	for (size_t i = 0; i < s->neps; i++) {
		struct wire_ep_view *e = view_of(v, &n, &s->eps[i].ep);
		const struct zs_wire_ep_totals *t = &s->eps[i].t;

		add_counts(&e->in, &t->in);
		add_counts(&e->out, &t->out);
		e->wire_in += t->wire_in;
		e->wire_out += t->wire_out;
		e->opened += t->opened;
		e->closed += t->closed;
		e->handshake_failures += t->handshake_failures;
		set_type(e->local_type, t->local_type);
	}
	for (size_t i = 0; i < s->nconns; i++) {
		const struct zs_wire_conn *c = &s->conns[i].c;
		struct wire_ep_view *e;

		if (wire_conn_not_zmtp(c))
			continue;
		e = view_of(v, &n, &c->ep);
		e->opened++;
		add_counts(&e->in, &c->in.c);
		add_counts(&e->out, &c->out.c);
		e->wire_in += c->wire_in;
		e->wire_out += c->wire_out;
		e->live++;
		e->curve_conns += c->in.mechanism == ZMTP_MECH_CURVE;
		set_type(e->local_type, c->out.socket_type);
	}
	for (size_t i = 0; i < n; i++)
		v[i].role = wire_role(s, v[i].local_type, v[i].endpoint);
	return n;
}

static const char *mechanism_name(unsigned m)
{
	switch (m) {
	case ZMTP_MECH_NULL:
		return "NULL";
	case ZMTP_MECH_PLAIN:
		return "PLAIN";
	case ZMTP_MECH_CURVE:
		return "CURVE";
	case ZMTP_MECH_OTHER:
		return "other";
	default:
		return "unknown";
	}
}

/* An Identity as text: printable bytes as they are, anything else as hex. */
static void identity_text(const struct zmtp_parser *p, char *out, size_t n)
{
	size_t len = p->identity_len < ZMTP_IDENTITY_LEN ? p->identity_len : ZMTP_IDENTITY_LEN;
	bool printable = true;

	for (size_t i = 0; i < len; i++)
		printable &= p->identity[i] >= 0x20 && p->identity[i] < 0x7f;
	if (printable) {
		snprintf(out, n, "%.*s", (int)len, p->identity);
		return;
	}
	out[0] = '\0';
	snprintf(out, n, "0x");
	for (size_t i = 0; i < len && 2 + 2 * i + 2 < n; i++)
		snprintf(out + 2 + 2 * i, n - 2 - 2 * i, "%02x", (unsigned char)p->identity[i]);
}

static void peer_text(const struct wire_conn_entry *e, char *out, size_t n)
{
	const struct zs_wire_conn *c = &e->c;
	char addr[INET6_ADDRSTRLEN] = "?";

	if (c->ep.family == AF_UNIX) {
		snprintf(out, n, "fd:%d", e->key.fd);
		return;
	}
	inet_ntop(c->ep.family == AF_INET6 ? AF_INET6 : AF_INET, c->raddr, addr, sizeof(addr));
	snprintf(out, n, c->ep.family == AF_INET6 ? "[%s]:%u" : "%s:%u", addr, c->rport);
}

static const char *side_name(unsigned side)
{
	return side == ZS_WIRE_ACCEPTED ? "bind" : "connect";
}

enum ep_value {
	EV_FRAMES,
	EV_MSGS,
	EV_BYTES,
	EV_STREAM,
	EV_PINGS,
	EV_PONGS,
	EV_COMMANDS,
};

static uint64_t counts_value(const struct zmtp_counts *c, uint64_t stream, enum ep_value v)
{
	switch (v) {
	case EV_FRAMES:
		return c->frames;
	case EV_MSGS:
		return c->msgs;
	case EV_BYTES:
		return c->bytes;
	case EV_STREAM:
		return stream;
	case EV_PINGS:
		return c->pings;
	case EV_PONGS:
		return c->pongs;
	case EV_COMMANDS:
		return c->commands;
	}
	return 0;
}

static const struct {
	const char *name;
	enum ep_value value;
	const char *help;
} ep_families[] = {
	{ "zmqscope_wire_frames_total", EV_FRAMES,
	  "ZMTP data frames on the endpoint's connections (CURVE: encrypted boxes)." },
	{ "zmqscope_wire_messages_total", EV_MSGS,
	  "ZMTP messages (frames up to one without MORE); none under CURVE, which hides MORE." },
	{ "zmqscope_wire_bytes_total", EV_BYTES, "Payload bytes of ZMTP data frames." },
	{ "zmqscope_wire_stream_bytes_total", EV_STREAM,
	  "Bytes the socket syscalls moved: greeting, commands and framing included." },
	{ "zmqscope_wire_commands_total", EV_COMMANDS,
	  "ZMTP command frames: handshake, PING, PONG, ERROR." },
	{ "zmqscope_wire_pings_total", EV_PINGS, "ZMTP PING commands (heartbeats)." },
	{ "zmqscope_wire_pongs_total", EV_PONGS, "ZMTP PONG commands." },
};

static void pid_text(uint32_t tgid, char *out, size_t n)
{
	snprintf(out, n, "%" PRIu32, tgid);
}

static void render_endpoints(const struct wire_snapshot *s, const struct wire_ep_view *v,
			     size_t n, const struct metrics_config *cfg, struct strbuf *out)
{
	char pid[16];

	for (size_t f = 0; f < sizeof(ep_families) / sizeof(ep_families[0]); f++) {
		expo_family(out, ep_families[f].name, EXPO_COUNTER, ep_families[f].help);
		for (size_t i = 0; i < n; i++) {
			for (int d = 0; d < 2; d++) {
				struct expo_label l[] = {
					{ "pid", pid },
					{ "endpoint", v[i].endpoint },
					{ "side", side_name(v[i].ep.side) },
					{ "socket_type", v[i].local_type[0] ? v[i].local_type : "unknown" },
					{ "direction", d ? "out" : "in" },
				};

				pid_text(v[i].ep.tgid, pid, sizeof(pid));
				expo_sample(out, ep_families[f].name, l, 5, cfg->labels, cfg->nlabels,
					    (double)counts_value(d ? &v[i].out : &v[i].in,
								 d ? v[i].wire_out : v[i].wire_in,
								 ep_families[f].value));
			}
		}
	}
	static const struct {
		const char *name;
		enum expo_type type;
		const char *help;
	} conn_families[] = {
		{ "zmqscope_wire_connections_opened_total", EXPO_COUNTER,
		  "Connections accepted on (bind) or connected from (connect) the endpoint." },
		{ "zmqscope_wire_connections_closed_total", EXPO_COUNTER,
		  "Connections closed: disconnects." },
		{ "zmqscope_wire_handshake_failures_total", EXPO_COUNTER,
		  "Connections closed before both sides' READY, or with an ERROR command." },
		{ "zmqscope_wire_connections", EXPO_GAUGE, "Connections open now." },
		{ "zmqscope_wire_curve_connections", EXPO_GAUGE,
		  "Connections open now under CURVE: counted by frame, message types unreadable." },
	};
	for (size_t f = 0; f < sizeof(conn_families) / sizeof(conn_families[0]); f++) {
		expo_family(out, conn_families[f].name, conn_families[f].type, conn_families[f].help);
		for (size_t i = 0; i < n; i++) {
			const uint64_t values[] = { v[i].opened, v[i].closed, v[i].handshake_failures,
						    v[i].live, v[i].curve_conns };
			struct expo_label l[] = {
				{ "pid", pid },
				{ "endpoint", v[i].endpoint },
				{ "side", side_name(v[i].ep.side) },
				{ "socket_type", v[i].local_type[0] ? v[i].local_type : "unknown" },
			};

			pid_text(v[i].ep.tgid, pid, sizeof(pid));
			expo_sample(out, conn_families[f].name, l, 4, cfg->labels, cfg->nlabels,
				    (double)values[f]);
		}
	}
	(void)s;
}

static void render_types(const struct wire_snapshot *s, const struct metrics_config *cfg,
			 struct strbuf *out)
{
	const char *name = "zmqscope_wire_messages_by_type_total";
	char pid[16], endpoint[ZS_WIRE_PATH_LEN + 48], type[ZS_MSG_TYPE_LEN];

	expo_family(out, name, EXPO_COUNTER,
		    "ZMTP messages by the msg_type of their first non-empty frame.");
	for (size_t i = 0; i < s->ntypes; i++) {
		const struct wire_type_entry *t = &s->types[i];
		struct expo_label l[] = {
			{ "pid", pid },
			{ "endpoint", endpoint },
			{ "direction", t->k.dir == ZS_WIRE_OUT ? "out" : "in" },
			{ "msg_type", type },
		};

		memcpy(type, t->k.name, sizeof(type));
		type[sizeof(type) - 1] = '\0';
		if (!type[0])
			snprintf(type, sizeof(type), "unknown");
		pid_text(t->k.ep.tgid, pid, sizeof(pid));
		wire_endpoint_string(&t->k.ep, endpoint, sizeof(endpoint));
		expo_sample(out, name, l, 4, cfg->labels, cfg->nlabels, (double)t->msgs);
	}
}

static void render_hists(const struct wire_snapshot *s, const struct metrics_config *cfg,
			 struct strbuf *out)
{
	const char *name = "zmqscope_wire_request_duration_seconds";
	char pid[16], endpoint[ZS_WIRE_PATH_LEN + 48], type[ZS_MSG_TYPE_LEN];

	expo_family(out, name, EXPO_HISTOGRAM,
		    "ROUTER/REP: from a request's last frame in to its reply's last frame out, on "
		    "the same connection (queueing included).");
	for (size_t i = 0; i < s->nhists; i++) {
		const struct wire_hist_entry *h = &s->hists[i];
		struct expo_label l[] = {
			{ "pid", pid },
			{ "endpoint", endpoint },
			{ "msg_type", type },
		};

		uint64_t slots[ZS_HIST_SLOTS];

		for (size_t k = 0; k < ZS_HIST_SLOTS; k++)
			slots[k] = h->h.slots[k];
		memcpy(type, h->k.name, sizeof(type));
		type[sizeof(type) - 1] = '\0';
		if (!type[0])
			snprintf(type, sizeof(type), "unknown");
		pid_text(h->k.ep.tgid, pid, sizeof(pid));
		wire_endpoint_string(&h->k.ep, endpoint, sizeof(endpoint));
		expo_histogram_log2(out, name, l, 3, cfg->labels, cfg->nlabels, slots,
				    ZS_HIST_SLOTS, 10, 1e9, h->h.sum_ns);
	}
}

static void render_connections(const struct wire_snapshot *s, const struct metrics_config *cfg,
			       struct strbuf *out)
{
	static const struct {
		const char *name;
		enum ep_value value;
		const char *help;
	} families[] = {
		{ "zmqscope_wire_connection_frames_total", EV_FRAMES, "ZMTP data frames on the connection." },
		{ "zmqscope_wire_connection_messages_total", EV_MSGS, "ZMTP messages on the connection." },
		{ "zmqscope_wire_connection_bytes_total", EV_BYTES,
		  "Payload bytes of data frames on the connection." },
	};
	char pid[16], endpoint[ZS_WIRE_PATH_LEN + 48], peer[64], conn[16];

	expo_family(out, "zmqscope_wire_connection_info", EXPO_GAUGE,
		    "1 per open connection; the labels say what its handshake said.");
	for (size_t i = 0; i < s->nconns; i++) {
		const struct wire_conn_entry *e = &s->conns[i];
		char ptype[ZMTP_TYPE_LEN], ltype[ZMTP_TYPE_LEN], ident[2 * ZMTP_IDENTITY_LEN + 3];
		struct expo_label l[] = {
			{ "pid", pid },
			{ "endpoint", endpoint },
			{ "peer", peer },
			{ "conn", conn },
			{ "mechanism", mechanism_name(e->c.in.mechanism) },
			{ "peer_socket_type", ptype },
			{ "peer_identity", ident },
			{ "socket_type", ltype },
			{ "handshake", e->c.in.handshake_done && e->c.out.handshake_done ? "done"
										       : "pending" },
		};

		if (wire_conn_not_zmtp(&e->c))
			continue;
		memcpy(ptype, e->c.in.socket_type, sizeof(ptype));
		ptype[sizeof(ptype) - 1] = '\0';
		memcpy(ltype, e->c.out.socket_type, sizeof(ltype));
		ltype[sizeof(ltype) - 1] = '\0';
		if (!ptype[0])
			snprintf(ptype, sizeof(ptype), "unknown");
		if (!ltype[0])
			snprintf(ltype, sizeof(ltype), "unknown");
		identity_text(&e->c.in, ident, sizeof(ident));
		pid_text(e->key.tgid, pid, sizeof(pid));
		wire_endpoint_string(&e->c.ep, endpoint, sizeof(endpoint));
		peer_text(e, peer, sizeof(peer));
		snprintf(conn, sizeof(conn), "%" PRIu32, e->c.seq);
		expo_sample(out, "zmqscope_wire_connection_info", l, 9, cfg->labels, cfg->nlabels, 1);
	}
	for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
		expo_family(out, families[f].name, EXPO_COUNTER, families[f].help);
		for (size_t i = 0; i < s->nconns; i++) {
			const struct wire_conn_entry *e = &s->conns[i];

			if (wire_conn_not_zmtp(&e->c))
				continue;
			pid_text(e->key.tgid, pid, sizeof(pid));
			wire_endpoint_string(&e->c.ep, endpoint, sizeof(endpoint));
			peer_text(e, peer, sizeof(peer));
			snprintf(conn, sizeof(conn), "%" PRIu32, e->c.seq);
			for (int d = 0; d < 2; d++) {
				struct expo_label l[] = {
					{ "pid", pid },
					{ "endpoint", endpoint },
					{ "peer", peer },
					{ "conn", conn },
					{ "direction", d ? "out" : "in" },
				};

				expo_sample(out, families[f].name, l, 5, cfg->labels, cfg->nlabels,
					    (double)counts_value(d ? &e->c.out.c : &e->c.in.c, 0,
								 families[f].value));
			}
		}
	}
}

/* The app layer's receive count on a socket with this endpoint string, or -1. */
static int64_t app_received(const struct wire_snapshot *s, uint32_t tgid, const char *endpoint,
			    unsigned role)
{
	int64_t n = -1;

	for (size_t i = 0; i < s->napp_sockets; i++) {
		const struct metrics_socket *ms = &s->app_sockets[i];

		if (ms->tgid != tgid || strncmp(ms->s.endpoint, endpoint, sizeof(ms->s.endpoint)))
			continue;
		n = (n < 0 ? 0 : n) +
		    (int64_t)(role == ZS_ROLE_PULL ? ms->s.c.frames_rx : ms->s.c.msgs_rx);
	}
	return n;
}

/*
 * Wire alone: LMCache's message counts are arrivals (frames on pull
 * sockets, messages on reply sockets), and a reply socket's active requests
 * are requests in minus replies out.  What needs the application's thread
 * (a pull handler in progress, has_pending) is not exported.  With both
 * layers the app layer keeps the gauges and the wire adds a queue depth.
 */
static void render_lmcache(const struct wire_snapshot *s, const struct wire_ep_view *v, size_t n,
			   const struct metrics_config *cfg, struct strbuf *out)
{
	static const char *names[] = {
		"lmcache:cache_controller_pull_socket_message_count",
		"lmcache:cache_controller_reply_socket_message_count",
		"lmcache:cache_controller_reply_socket_active_requests",
	};
	static const char *helps[] = {
		"Frames that arrived on the controller's PULL sockets (wire layer).",
		"Requests that arrived on the controller's reply sockets (wire layer).",
		"Requests that arrived on reply sockets and have no reply out yet (wire layer).",
	};

	for (size_t k = 0; k < 3; k++) {
		expo_family(out, names[k], EXPO_GAUGE, helps[k]);
		for (size_t p = 0; p < s->npids; p++) {
			uint64_t pull = 0, req = 0, rep = 0;
			char pid[16];
			struct expo_label l[] = { { "role", "controller" }, { "pid", pid } };

			for (size_t i = 0; i < n; i++) {
				if (v[i].ep.tgid != s->pids[p])
					continue;
				if (v[i].role == ZS_ROLE_PULL)
					pull += v[i].in.frames;
				else if (v[i].role == ZS_ROLE_REPLY) {
					req += v[i].in.msgs;
					rep += v[i].out.msgs;
				}
			}
			pid_text(s->pids[p], pid, sizeof(pid));
			expo_sample(out, names[k], l, 2, cfg->labels, cfg->nlabels,
				    (double)(k == 0 ? pull : k == 1 ? req : req > rep ? req - rep : 0));
		}
	}
}

static void render_queue_depth(const struct wire_snapshot *s, const struct wire_ep_view *v,
			       size_t n, const struct metrics_config *cfg, struct strbuf *out)
{
	const char *name = "zmqscope_wire_queue_depth";
	char pid[16];

	expo_family(out, name, EXPO_GAUGE,
		    "Arrived on the wire minus read by the application (pull: frames, reply: "
		    "messages), per socket endpoint; needs --layer app,wire.");
	for (size_t i = 0; i < n; i++) {
		int64_t read;
		uint64_t arrived;
		struct expo_label l[] = {
			{ "pid", pid },
			{ "endpoint", v[i].endpoint },
			{ "role", role_name(v[i].role) },
		};

		if (v[i].role != ZS_ROLE_PULL && v[i].role != ZS_ROLE_REPLY)
			continue;
		read = app_received(s, v[i].ep.tgid, v[i].endpoint, v[i].role);
		if (read < 0)
			continue;
		arrived = v[i].role == ZS_ROLE_PULL ? v[i].in.frames : v[i].in.msgs;
		pid_text(v[i].ep.tgid, pid, sizeof(pid));
		expo_sample(out, name, l, 3, cfg->labels, cfg->nlabels,
			    arrived > (uint64_t)read ? (double)(arrived - (uint64_t)read) : 0);
	}
}

static void render_health(const struct wire_snapshot *s, const struct metrics_config *cfg,
			  struct strbuf *out)
{
	static const char *why[ZS_WIRE_DROP_MAX] = {
		"conns", "endpoints", "types", "hists", "steps", "reads",
	};
	const char *name = "zmqscope_wire_drops_total";

	expo_family(out, name, EXPO_COUNTER,
		    "Wire updates lost: a full map, a chunk too long to frame, unreadable memory.");
	for (size_t i = 0; i < ZS_WIRE_DROP_MAX; i++) {
		struct expo_label l[] = { { "reason", why[i] } };

		expo_sample(out, name, l, 1, cfg->labels, cfg->nlabels, (double)s->drops[i]);
	}
}

void wire_metrics_render(const struct wire_snapshot *s, const struct metrics_config *cfg,
			 struct strbuf *out)
{
	struct wire_ep_view *v;
	size_t n = wire_ep_views(s, &v);

	if (!v) {
		out->oom = true;
		return;
	}
	if (!s->app_layer && cfg->lmcache_names)
		render_lmcache(s, v, n, cfg, out);
	render_endpoints(s, v, n, cfg, out);
	render_types(s, cfg, out);
	render_hists(s, cfg, out);
	render_connections(s, cfg, out);
	if (s->app_layer)
		render_queue_depth(s, v, n, cfg, out);
	render_health(s, cfg, out);
	free(v);
}
