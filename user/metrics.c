// SPDX-License-Identifier: MIT
#include "metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exposition.h"
#include "msgtype.h"


const char *metrics_msg_type_name(const struct metrics_snapshot *snap, uint32_t tgid,
				  uint32_t id)
{
	if (id == ZS_MSGTYPE_UNKNOWN)
		return "unknown";
	if (id == ZS_MSGTYPE_OTHER)
		return "other";
	for (size_t i = 0; i < snap->nmsg_types; i++)
		if (snap->msg_types[i].tgid == tgid && snap->msg_types[i].id == id)
			return snap->msg_types[i].name;
	return "other";
}

enum sock_value {
	SV_FRAMES_RX,
	SV_MSGS_RX,
	SV_BYTES_RX,
	SV_FRAMES_TX,
	SV_MSGS_TX,
	SV_BYTES_TX,
	SV_RX_EAGAIN,
	SV_TX_EAGAIN,
	SV_RX_ERRORS,
	SV_TX_ERRORS,
	SV_ACTIVE,
	SV_PENDING,
};

static uint64_t sock_value(const struct zs_sock *s, enum sock_value v)
{
	switch (v) {
	case SV_FRAMES_RX:
		return s->c.frames_rx;
	case SV_MSGS_RX:
		return s->c.msgs_rx;
	case SV_BYTES_RX:
		return s->c.bytes_rx;
	case SV_FRAMES_TX:
		return s->c.frames_tx;
	case SV_MSGS_TX:
		return s->c.msgs_tx;
	case SV_BYTES_TX:
		return s->c.bytes_tx;
	case SV_RX_EAGAIN:
		return s->c.rx_eagain;
	case SV_TX_EAGAIN:
		return s->c.tx_eagain;
	case SV_RX_ERRORS:
		return s->c.rx_errors;
	case SV_TX_ERRORS:
		return s->c.tx_errors;
	case SV_ACTIVE:
		return metrics_span_open(s) ? 1 : 0;
	case SV_PENDING:
		return s->pending;
	}
	return 0;
}

/* The snapshot's per-type counts, ordered by socket so each is found by bisection. */
struct sock_type_index {
	const struct metrics_sock_type **v;
	size_t n;
};

static int cmp_sock_key(uint32_t tgid, uint64_t handle, uint32_t gen,
			const struct metrics_sock_type *b)
{
	if (tgid != b->tgid)
		return tgid < b->tgid ? -1 : 1;
	if (handle != b->handle)
		return handle < b->handle ? -1 : 1;
	return gen < b->gen ? -1 : gen > b->gen;
}

static int cmp_sock_type_ptr(const void *a, const void *b)
{
	const struct metrics_sock_type *x = *(const struct metrics_sock_type *const *)a;

	return cmp_sock_key(x->tgid, x->handle, x->gen,
			    *(const struct metrics_sock_type *const *)b);
}

static void sock_type_index_build(const struct metrics_snapshot *snap, struct sock_type_index *ix)
{
	ix->n = 0;
	ix->v = snap->nsock_types ? malloc(snap->nsock_types * sizeof(*ix->v)) : NULL;
	if (!ix->v)
		return;
	for (size_t i = 0; i < snap->nsock_types; i++)
		ix->v[ix->n++] = &snap->sock_types[i];
	qsort(ix->v, ix->n, sizeof(*ix->v), cmp_sock_type_ptr);
}

/* On roles that decode types, a socket's messages are split by msg_type. */
static void render_messages_by_type(const struct metrics_snapshot *snap,
				    const struct sock_type_index *ix,
				    const struct metrics_socket *ms, const char *prefix,
				    const char *suffix, struct strbuf *out)
{
	size_t lo = 0, hi = ix->n;
	bool any = false;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_sock_key(ms->tgid, ms->handle, ms->s.gen, ix->v[mid]) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < ix->n && !cmp_sock_key(ms->tgid, ms->handle, ms->s.gen, ix->v[lo]); lo++) {
		const struct metrics_sock_type *st = ix->v[lo];

		expo_sample_prefixed(out, "zmqscope_messages_received_total", prefix, "msg_type",
				     metrics_msg_type_name(snap, st->tgid, st->msg_type), suffix,
				     st->msgs);
		any = true;
	}
	if (!any)
		expo_sample_prefixed(out, "zmqscope_messages_received_total", prefix, "msg_type",
				     "unknown", suffix, ms->s.c.msgs_rx);
}

/* Each socket's own labels, escaped once for all the families below. */
static char **socket_label_prefixes(const struct metrics_snapshot *snap)
{
	char **prefixes = calloc(snap->nsockets ? snap->nsockets : 1, sizeof(*prefixes));

	for (size_t i = 0; prefixes && i < snap->nsockets; i++) {
		const struct metrics_socket *ms = &snap->sockets[i];
		struct strbuf sb = STRBUF_INIT;
		char pid[16], handle[24], endpoint[ZS_ENDPOINT_LEN];
		struct expo_label l[] = {
			{ "pid", pid },
			{ "socket", handle },
			{ "type", socket_type_name(ms->s.type) },
			{ "role", role_name(ms->s.role) },
			{ "endpoint", endpoint },
		};
		size_t eplen = strnlen(ms->s.endpoint, sizeof(endpoint) - 1);

		/* The probe keeps the first 63 bytes: a longer one is cut between characters. */
		memcpy(endpoint, ms->s.endpoint, eplen);
		endpoint[eplen == sizeof(endpoint) - 1 ? expo_utf8_boundary(endpoint, eplen) : eplen] =
			'\0';
		snprintf(pid, sizeof(pid), "%" PRIu32, ms->tgid);
		snprintf(handle, sizeof(handle), "0x%" PRIx64, ms->handle);
		expo_label_prefix(&sb, l, sizeof(l) / sizeof(l[0]));
		prefixes[i] = sb.oom ? (free(sb.buf), NULL) : sb.buf;
	}
	return prefixes;
}

static void render_sockets(const struct metrics_snapshot *snap, const struct metrics_config *cfg,
			   struct strbuf *out)
{
	static const struct {
		const char *name;
		enum expo_type type;
		enum sock_value value;
		const char *help;
	} families[] = {
		{ "zmqscope_frames_received_total", EXPO_COUNTER, SV_FRAMES_RX,
		  "Frames received on the socket." },
		{ "zmqscope_messages_received_total", EXPO_COUNTER, SV_MSGS_RX,
		  "Complete (multipart) messages received on the socket." },
		{ "zmqscope_bytes_received_total", EXPO_COUNTER, SV_BYTES_RX,
		  "Payload bytes received on the socket." },
		{ "zmqscope_frames_sent_total", EXPO_COUNTER, SV_FRAMES_TX,
		  "Frames sent on the socket." },
		{ "zmqscope_messages_sent_total", EXPO_COUNTER, SV_MSGS_TX,
		  "Complete (multipart) messages sent on the socket." },
		{ "zmqscope_bytes_sent_total", EXPO_COUNTER, SV_BYTES_TX,
		  "Payload bytes sent on the socket." },
		{ "zmqscope_receive_would_block_total", EXPO_COUNTER, SV_RX_EAGAIN,
		  "Non-blocking receives that found nothing to read (EAGAIN)." },
		{ "zmqscope_send_would_block_total", EXPO_COUNTER, SV_TX_EAGAIN,
		  "Non-blocking sends refused at the high-water mark (EAGAIN): back-pressure." },
		{ "zmqscope_receive_errors_total", EXPO_COUNTER, SV_RX_ERRORS,
		  "Blocking receives that failed (interrupted, timed out or context terminated)." },
		{ "zmqscope_send_errors_total", EXPO_COUNTER, SV_TX_ERRORS,
		  "Blocking sends that failed." },
		{ "zmqscope_socket_active_handlers", EXPO_GAUGE, SV_ACTIVE,
		  "1 while a received message is being handled, per the handler-span rules." },
		{ "zmqscope_socket_pending", EXPO_GAUGE, SV_PENDING,
		  "1 if the application last saw a message waiting on the socket (ZMQ_EVENTS)." },
	};

	char **prefixes = socket_label_prefixes(snap);
	struct strbuf suffix = STRBUF_INIT;
	struct sock_type_index ix;

	if (!prefixes) {
		out->oom = true;
		return;
	}
	expo_label_suffix(&suffix, cfg->labels, cfg->nlabels);
	sock_type_index_build(snap, &ix);
	for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
		expo_family(out, families[f].name, families[f].type, families[f].help);
		for (size_t i = 0; i < snap->nsockets; i++) {
			const struct metrics_socket *ms = &snap->sockets[i];

			if (!prefixes[i]) {
				out->oom = true;
				continue;
			}
			if (families[f].value == SV_MSGS_RX &&
			    (ms->s.role == ZS_ROLE_PULL || ms->s.role == ZS_ROLE_REPLY))
				render_messages_by_type(snap, &ix, ms, prefixes[i],
							strbuf_str(&suffix), out);
			else
				expo_sample_prefixed(out, families[f].name, prefixes[i], NULL, NULL,
						     strbuf_str(&suffix),
						     sock_value(&ms->s, families[f].value));
		}
	}
	for (size_t i = 0; i < snap->nsockets; i++)
		free(prefixes[i]);
	free(prefixes);
	free(ix.v);
	strbuf_free(&suffix);
}

static void render_histograms(const struct metrics_snapshot *snap,
			      const struct metrics_config *cfg, struct strbuf *out)
{
	static const struct {
		const char *name;
		const char *help;
	} kinds[ZS_SPAN_KINDS] = {
		[ZS_SPAN_HANDLER] = { "zmqscope_handler_duration_seconds",
				      "Time from a message's final frame received to its handler's "
				      "end (reply sent, or the next read)." },
		[ZS_SPAN_REQUEST] = { "zmqscope_request_duration_seconds",
				      "Reply sockets: time from a request's final frame received to "
				      "the final frame of its reply sent." },
	};
	/* Below ~1 us the buckets say nothing about a handler; fold them. */
	const size_t first_slot = 10;

	for (uint8_t k = 0; k < ZS_SPAN_KINDS; k++) {
		expo_family(out, kinds[k].name, EXPO_HISTOGRAM, kinds[k].help);
		for (size_t i = 0; i < snap->nhists; i++) {
			const struct metrics_hist *mh = &snap->hists[i];
			char pid[16];
			struct expo_label l[] = {
				{ "pid", pid },
				{ "role", role_name(mh->key.role) },
				{ "msg_type",
				  metrics_msg_type_name(snap, mh->key.tgid, mh->key.msg_type) },
			};

			uint64_t slots[ZS_HIST_SLOTS];

			if (mh->key.kind != k)
				continue;
			for (size_t s = 0; s < ZS_HIST_SLOTS; s++)
				slots[s] = mh->h.slots[s];
			snprintf(pid, sizeof(pid), "%" PRIu32, mh->key.tgid);
			expo_histogram_log2(out, kinds[k].name, l, 3, cfg->labels, cfg->nlabels,
					    slots, ZS_HIST_SLOTS, first_slot, 1e9, mh->h.sum_ns);
		}
	}
}

static void render_health(const struct metrics_snapshot *snap, const struct metrics_config *cfg,
			  struct strbuf *out)
{
	char pid[16];

	expo_family(out, "zmqscope_target_up", EXPO_GAUGE,
		    "1 while the process is alive and attached, 0 after it exited.");
	for (size_t t = 0; t < snap->ntargets; t++) {
		struct expo_label l[] = { { "pid", pid } };

		snprintf(pid, sizeof(pid), "%" PRIu32, snap->targets[t].pid);
		expo_sample(out, "zmqscope_target_up", l, 1, cfg->labels, cfg->nlabels, snap->targets[t].up);
	}
	expo_family(out, "zmqscope_probe_attached", EXPO_GAUGE,
		    "1 for each uprobe or uretprobe attached, 0 for one that failed to attach.");
	for (size_t t = 0; t < snap->ntargets; t++) {
		const struct metrics_target *mt = &snap->targets[t];

		snprintf(pid, sizeof(pid), "%" PRIu32, mt->pid);
		for (size_t p = 0; p < mt->nprobes; p++) {
			char probe[64];
			struct expo_label l[] = {
				{ "pid", pid },
				{ "probe", probe },
				{ "library", mt->probes[p].library },
			};

			snprintf(probe, sizeof(probe), "%s%s", mt->probes[p].function,
				 mt->probes[p].suffix ? mt->probes[p].suffix : "");
			expo_sample(out, "zmqscope_probe_attached", l, 3, cfg->labels, cfg->nlabels,
				    mt->probes[p].attached);
		}
	}
	expo_family(out, "zmqscope_libzmq_copies_unprobed", EXPO_GAUGE,
		    "Copies of libzmq the process maps that are not probed: more than zmqscope "
		    "probes at once in one process.  Their traffic is not counted.");
	for (size_t t = 0; t < snap->ntargets; t++) {
		struct expo_label l[] = { { "pid", pid } };

		snprintf(pid, sizeof(pid), "%" PRIu32, snap->targets[t].pid);
		expo_sample(out, "zmqscope_libzmq_copies_unprobed", l, 1, cfg->labels, cfg->nlabels,
			    (double)snap->targets[t].copies_unprobed);
	}
	expo_family(out, "zmqscope_map_entries", EXPO_GAUGE, "Entries in each BPF map.");
	for (size_t m = 0; m < snap->nmaps; m++) {
		struct expo_label l[] = { { "map", snap->maps[m].name } };

		expo_sample(out, "zmqscope_map_entries", l, 1, cfg->labels, cfg->nlabels,
			    (double)snap->maps[m].entries);
	}
	expo_family(out, "zmqscope_map_max_entries", EXPO_GAUGE, "Capacity of each BPF map.");
	for (size_t m = 0; m < snap->nmaps; m++) {
		struct expo_label l[] = { { "map", snap->maps[m].name } };

		expo_sample(out, "zmqscope_map_max_entries", l, 1, cfg->labels, cfg->nlabels,
			    (double)snap->maps[m].max_entries);
	}
	expo_family(out, "zmqscope_map_update_failures_total", EXPO_COUNTER,
		    "Updates dropped because a bounded BPF map was full.");
	for (size_t m = 0; m < snap->nmaps; m++) {
		struct expo_label l[] = { { "map", snap->maps[m].name } };

		expo_sample(out, "zmqscope_map_update_failures_total", l, 1, cfg->labels, cfg->nlabels,
			    (double)snap->maps[m].update_failures);
	}
	expo_family(out, "zmqscope_build_info", EXPO_GAUGE,
		    "Always 1; the labels say which zmqscope and libbpf are running.");
	{
		struct expo_label l[] = {
			{ "version", cfg->version },
			{ "libbpf_version", cfg->libbpf_version },
		};

		expo_sample(out, "zmqscope_build_info", l, 2, cfg->labels, cfg->nlabels, 1);
	}
}

void metrics_render(const struct metrics_snapshot *snap, const struct metrics_config *cfg,
		    struct strbuf *out)
{
	if (cfg->lmcache_names)
		metrics_render_lmcache(snap, cfg, out);
	metrics_render_lmcache_state(snap, cfg, out);
	render_sockets(snap, cfg, out);
	render_histograms(snap, cfg, out);
	render_health(snap, cfg, out);
}

void metrics_render_scrape_duration(const struct metrics_config *cfg, double seconds,
				    struct strbuf *out)
{
	expo_family(out, "zmqscope_scrape_duration_seconds", EXPO_GAUGE,
		    "Time spent reading the maps and rendering this response.");
	expo_sample(out, "zmqscope_scrape_duration_seconds", NULL, 0, cfg->labels, cfg->nlabels,
		    seconds);
}
