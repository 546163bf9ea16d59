// SPDX-License-Identifier: MIT
/*
 * Reads the maps on each scrape (nothing is read between scrapes) and
 * reports them as metrics, or as `zmqscope status`.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json_writer.h"
#include "metrics.h"
#include "observer_tap.h"
#include "observer.h"
#include "wire_layer.h"
#include "zmqscope.skel.h"
#include "socket_table.h"
#include "map_reader.h"

struct snapshot {
	struct metrics_socket *sockets;
	size_t nsockets;
	struct metrics_msg_type *msg_types;
	size_t nmsg_types;
	struct metrics_sock_type *sock_types;
	size_t nsock_types;
	struct metrics_hist *hists;
	size_t nhists;
	struct metrics_target *targets;
	struct metrics_probe *probes;
	struct metrics_map maps[8];
	size_t nmaps;
};

static double seconds_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The converters below turn map entries into the snapshot's types. */

static struct metrics_msg_type *read_msg_types(int fd, size_t *n)
{
	struct zs_msg_type_key *keys;
	__u32 *ids;
	struct metrics_msg_type *out;

	*n = map_read_all(fd, sizeof(*keys), sizeof(*ids), (void **)&keys, (void **)&ids);
	out = calloc(*n ? *n : 1, sizeof(*out));
	for (size_t i = 0; out && i < *n; i++) {
		out[i].tgid = keys[i].tgid;
		out[i].id = ids[i];
		memcpy(out[i].name, keys[i].name, sizeof(out[i].name));
		out[i].name[sizeof(out[i].name) - 1] = '\0';
	}
	free(keys);
	free(ids);
	return out;
}

static struct metrics_sock_type *read_sock_types(int fd, size_t *n)
{
	struct zs_sock_type_key *keys;
	__u64 *counts;
	struct metrics_sock_type *out;

	*n = map_read_all(fd, sizeof(*keys), sizeof(*counts), (void **)&keys, (void **)&counts);
	out = calloc(*n ? *n : 1, sizeof(*out));
	for (size_t i = 0; out && i < *n; i++)
		out[i] = (struct metrics_sock_type){ keys[i].tgid, keys[i].msg_type, keys[i].handle,
						     keys[i].gen, counts[i] };
	free(keys);
	free(counts);
	return out;
}

static struct metrics_hist *read_hists(int fd, size_t *n)
{
	struct zs_hist_key *keys;
	struct zs_hist *vals;
	struct metrics_hist *out;

	*n = map_read_all(fd, sizeof(*keys), sizeof(*vals), (void **)&keys, (void **)&vals);
	out = calloc(*n ? *n : 1, sizeof(*out));
	for (size_t i = 0; out && i < *n; i++)
		out[i] = (struct metrics_hist){ keys[i], vals[i] };
	free(keys);
	free(vals);
	return out;
}

static int cmp_socket(const void *a, const void *b)
{
	const struct metrics_socket *x = a, *y = b;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	return x->handle < y->handle ? -1 : x->handle > y->handle;
}

static bool socket_is_live(const struct snapshot *s, const struct metrics_sock_type *st)
{
	struct metrics_socket key = { .tgid = st->tgid, .handle = st->handle };
	const struct metrics_socket *live =
		bsearch(&key, s->sockets, s->nsockets, sizeof(*s->sockets), cmp_socket);

	return live && live->s.gen == st->gen;
}

/*
 * Counts by msg_type outlive a closed socket in BPF (zmq_close cannot walk
 * a map): delete them here, when they are next seen, and keep the rest.
 */
static void drop_orphan_sock_types(int fd, struct snapshot *s)
{
	size_t kept = 0;

	for (size_t i = 0; i < s->nsock_types; i++) {
		const struct metrics_sock_type *st = &s->sock_types[i];
		struct zs_sock_type_key key = {
			.tgid = st->tgid, .msg_type = st->msg_type, .handle = st->handle, .gen = st->gen,
		};

		if (socket_is_live(s, st))
			s->sock_types[kept++] = *st;
		else
			bpf_map_delete_elem(fd, &key);
	}
	s->nsock_types = kept;
}

static bool type_named(const struct snapshot *s, uint32_t tgid, uint32_t id)
{
	if (id < ZS_MSGTYPE_FIRST)
		return true;
	for (size_t i = 0; i < s->nmsg_types; i++)
		if (s->msg_types[i].tgid == tgid && s->msg_types[i].id == id)
			return true;
	return false;
}

static int cmp_hist(const void *a, const void *b)
{
	const struct zs_hist_key *x = &((const struct metrics_hist *)a)->key;
	const struct zs_hist_key *y = &((const struct metrics_hist *)b)->key;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	if (x->role != y->role || x->kind != y->kind)
		return (x->role * 4 + x->kind) - (y->role * 4 + y->kind);
	return x->msg_type < y->msg_type ? -1 : x->msg_type > y->msg_type;
}

static int cmp_sock_type(const void *a, const void *b)
{
	const struct metrics_sock_type *x = a, *y = b;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	if (x->handle != y->handle)
		return x->handle < y->handle ? -1 : 1;
	if (x->gen != y->gen)
		return x->gen < y->gen ? -1 : 1;
	return x->msg_type < y->msg_type ? -1 : x->msg_type > y->msg_type;
}

/* Relabels ids without a name as "other", then merges what became duplicates. */
static void fold_unnamed_types(struct snapshot *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nhists; i++)
		if (!type_named(s, s->hists[i].key.tgid, s->hists[i].key.msg_type))
			s->hists[i].key.msg_type = ZS_MSGTYPE_OTHER;
	qsort(s->hists, s->nhists, sizeof(*s->hists), cmp_hist);
	for (size_t i = 0; i < s->nhists; i++) {
		struct metrics_hist *prev = n ? &s->hists[n - 1] : NULL;

		if (prev && !cmp_hist(prev, &s->hists[i])) {
			prev->h.count += s->hists[i].h.count;
			prev->h.sum_ns += s->hists[i].h.sum_ns;
			for (size_t k = 0; k < ZS_HIST_SLOTS; k++)
				prev->h.slots[k] += s->hists[i].h.slots[k];
		} else {
			s->hists[n++] = s->hists[i];
		}
	}
	s->nhists = n;

	n = 0;
	for (size_t i = 0; i < s->nsock_types; i++)
		if (!type_named(s, s->sock_types[i].tgid, s->sock_types[i].msg_type))
			s->sock_types[i].msg_type = ZS_MSGTYPE_OTHER;
	qsort(s->sock_types, s->nsock_types, sizeof(*s->sock_types), cmp_sock_type);
	for (size_t i = 0; i < s->nsock_types; i++) {
		if (n && !cmp_sock_type(&s->sock_types[n - 1], &s->sock_types[i]))
			s->sock_types[n - 1].msgs += s->sock_types[i].msgs;
		else
			s->sock_types[n++] = s->sock_types[i];
	}
	s->nsock_types = n;
}

static uint64_t count_keys(int fd, size_t key_size)
{
	char cursor[64], next[64];
	uint64_t n = 0;

	if (key_size > sizeof(cursor))
		return 0;
	while (!bpf_map_get_next_key(fd, n ? cursor : NULL, next)) {
		memcpy(cursor, next, key_size);
		n++;
	}
	return n;
}

static void snapshot_free(struct snapshot *s)
{
	free(s->sockets);
	free(s->msg_types);
	free(s->sock_types);
	free(s->hists);
	free(s->targets);
	free(s->probes);
}

/* Caller holds ob->lock: the probes point into the target list. */
static int snapshot_take(struct observer *ob, struct snapshot *s)
{
	struct zmqscope_bpf *skel = ob->skel;
	uint64_t drops[ZS_DROP_MAX] = { 0 };
	size_t nprobes = 0, p = 0;

	memset(s, 0, sizeof(*s));
	s->sockets = socket_table_read_all(&SOCKET_TABLE_OF(skel), &s->nsockets);
	s->sock_types = read_sock_types(bpf_map__fd(skel->maps.sock_type_msgs), &s->nsock_types);
	s->hists = read_hists(bpf_map__fd(skel->maps.hists), &s->nhists);
	/* Names last, so that every id read above has its name... */
	s->msg_types = read_msg_types(bpf_map__fd(skel->maps.msg_types), &s->nmsg_types);
	s->targets = calloc(ob->ntargets ? ob->ntargets : 1, sizeof(*s->targets));
	for (size_t t = 0; t < ob->ntargets; t++) {
		nprobes += ob->targets[t]->loader_path != NULL;
		for (size_t o = 0; o < ob->targets[t]->nobjs; o++)
			nprobes += ob->targets[t]->objs[o].nprobes;
	}
	s->probes = calloc(nprobes ? nprobes : 1, sizeof(*s->probes));
	if (!s->sockets || !s->targets || !s->probes || !s->msg_types || !s->sock_types ||
	    !s->hists) {
		snapshot_free(s);
		return -ENOMEM;
	}
	qsort(s->sockets, s->nsockets, sizeof(*s->sockets), cmp_socket);
	drop_orphan_sock_types(bpf_map__fd(skel->maps.sock_type_msgs), s);
	/* ...but for one a CPU numbered yet has not stored: it counts as "other". */
	fold_unnamed_types(s);

	for (size_t t = 0; t < ob->ntargets; t++) {
		const struct target *tg = ob->targets[t];
		struct metrics_target *mt = &s->targets[t];
		uint32_t tgid = (uint32_t)tg->pid;
		struct zs_target bt;

		mt->pid = tgid;
		mt->up = tg->up;
		/* An exited target's entry stays until its TTL: its last values are shown. */
		if (!bpf_map_lookup_elem(bpf_map__fd(skel->maps.targets), &tgid, &bt)) {
			memcpy(mt->roles, bt.roles, sizeof(mt->roles));
			memcpy(mt->explicit_active, bt.explicit_active, sizeof(mt->explicit_active));
			mt->explicit_roles = bt.cfg.explicit_roles;
			mt->tap_frames = bt.tap_frames;
			mt->tap_dropped = bt.tap_dropped;
		}
		mt->copies_unprobed = tg->objs_unprobed;
		if (tg->state) {
			mt->has_state = true;
			lmc_model_gauges(tg->state, &mt->state);
		}
		mt->probes = &s->probes[p];
		for (size_t o = 0; o < tg->nobjs; o++) {
			for (size_t i = 0; i < tg->objs[o].nprobes; i++, p++) {
				const struct probe_link *pl = &tg->objs[o].probes[i];

				s->probes[p] = (struct metrics_probe){
					.function = pl->function,
					.suffix = probe_kind_suffix(pl->kind),
					.library = tg->objs[o].obj.path,
					.attached = probe_link_attached(pl),
				};
				mt->nprobes++;
			}
		}
		if (tg->loader_path) {
			s->probes[p++] = (struct metrics_probe){
				.function = tg->loader_hook.function,
				.suffix = probe_kind_suffix(tg->loader_hook.kind),
				.library = tg->loader_path,
				.attached = probe_link_attached(&tg->loader_hook),
			};
			mt->nprobes++;
		}
	}
	for (uint32_t i = 0; i < ZS_DROP_MAX; i++)
		bpf_map_lookup_elem(bpf_map__fd(skel->maps.drops), &i, &drops[i]);
	s->maps[s->nmaps++] = (struct metrics_map){ "sockets", s->nsockets,
						    bpf_map__max_entries(skel->maps.sockets),
						    drops[ZS_DROP_SOCKETS] };
	s->maps[s->nmaps++] = (struct metrics_map){
		"threads", count_keys(bpf_map__fd(skel->maps.threads), sizeof(__u64)), ZS_MAX_THREADS,
		drops[ZS_DROP_CALLS]
	};
	s->maps[s->nmaps++] = (struct metrics_map){
		"targets", count_keys(bpf_map__fd(skel->maps.targets), sizeof(__u32)),
		ZS_MAX_TARGETS, __atomic_load_n(&ob->targets_update_failures, __ATOMIC_RELAXED)
	};
	s->maps[s->nmaps++] = (struct metrics_map){ "msg_types", s->nmsg_types, ZS_MAX_MSG_TYPES,
						    drops[ZS_DROP_MSG_TYPES] };
	s->maps[s->nmaps++] = (struct metrics_map){ "sock_type_msgs", s->nsock_types,
						    ZS_MAX_SOCK_TYPES,
						    drops[ZS_DROP_SOCK_TYPES] };
	s->maps[s->nmaps++] = (struct metrics_map){ "hists", s->nhists, ZS_MAX_HISTS,
						    drops[ZS_DROP_HISTS] };
	return 0;
}

static void metrics_config_init(struct observer *ob, struct metrics_config *cfg,
				struct expo_label *labels)
{
	for (size_t i = 0; i < ob->opts->nlabels; i++)
		labels[i] = (struct expo_label){ ob->opts->labels[i].name,
						 ob->opts->labels[i].value };
	*cfg = (struct metrics_config){
		.labels = labels,
		.nlabels = ob->opts->nlabels,
		.lmcache_names = ob->opts->lmcache_names,
		.roles = ob->opts->roles,
		.nroles = ob->opts->nroles,
		.version = ZS_VERSION,
		.libbpf_version = libbpf_version_string(),
	};
}

/* Caller holds ob->lock. */
static void render_wire(struct observer *ob, const struct snapshot *app,
			const struct metrics_config *cfg, struct strbuf *out)
{
	struct wire_snapshot ws;
	uint32_t *pids;

	if (!ob->wire || wire_layer_snapshot(ob->wire, &ws))
		return;
	pids = calloc(ob->ntargets + 1, sizeof(*pids));
	for (size_t t = 0; pids && t < ob->ntargets; t++)
		pids[t] = (uint32_t)ob->targets[t]->pid;
	ws.pids = pids;
	ws.npids = pids ? ob->ntargets : 0;
	ws.app_layer = ob->opts->layers & ZS_LAYER_APP;
	ws.app_sockets = app->sockets;
	ws.napp_sockets = app->nsockets;
	ws.roles = ob->opts->roles;
	ws.nroles = ob->opts->nroles;
	wire_metrics_render(&ws, cfg, out);
	free(pids);
	wire_snapshot_free(&ws);
}

void observer_render_metrics(struct observer *ob, struct strbuf *out)
{
	struct expo_label labels[ZS_MAX_LABELS];
	struct metrics_snapshot ms;
	struct metrics_config cfg;
	struct timespec t0;
	struct snapshot s;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	metrics_config_init(ob, &cfg, labels);
	pthread_mutex_lock(&ob->lock);
	/* The state gauges are as fresh as the scrape: what the ring holds goes in first. */
	observer_tap_drain(ob);
	if (snapshot_take(ob, &s) == 0) {
		ms = (struct metrics_snapshot){
			.targets = s.targets,
			.ntargets = ob->ntargets,
			.sockets = s.sockets,
			.nsockets = s.nsockets,
			.maps = s.maps,
			.nmaps = s.nmaps,
			.msg_types = s.msg_types,
			.nmsg_types = s.nmsg_types,
			.sock_types = s.sock_types,
			.nsock_types = s.nsock_types,
			.hists = s.hists,
			.nhists = s.nhists,
		};
		/* Without the app layer, LMCache's gauges come from the wire. */
		cfg.lmcache_names = ob->opts->lmcache_names && (ob->opts->layers & ZS_LAYER_APP);
		metrics_render(&ms, &cfg, out);
		cfg.lmcache_names = ob->opts->lmcache_names;
		render_wire(ob, &s, &cfg, out);
		snapshot_free(&s);
	}
	pthread_mutex_unlock(&ob->lock);
	metrics_render_scrape_duration(&cfg, seconds_since(&t0), out);
}

/* ---- status ------------------------------------------------------------- */

/* What ends a socket's spans besides a reply (see bpf/spans.bpf.h). */
static const char *loop_rule_name(unsigned rule)
{
	switch (rule) {
	case ZS_LOOP_POLL:
		return "poll";
	case ZS_LOOP_ASYNCIO:
		return "asyncio";
	default:
		return "receive";
	}
}

static const char *proxy_place_name(unsigned place)
{
	static const char *const names[] = { "", "frontend", "backend", "capture", "internal" };

	return place < sizeof(names) / sizeof(names[0]) ? names[place] : "";
}

/* Where a role's handler spans come from: inference, or a --handler probe. */
static void span_source(struct observer *ob, unsigned role, char *out, size_t n)
{
	snprintf(out, n, "inferred from the libzmq calls");
	for (size_t i = 0; i < ob->opts->nhandlers; i++) {
		const struct zs_handler_spec *h = &ob->opts->handlers[i];

		if (h->role == role) {
			snprintf(out, n, "--handler %.*s:%.*s", (int)(n / 2), h->path,
				 (int)(n / 4), h->symbol);
			return;
		}
	}
}

static void status_json(struct observer *ob, const struct snapshot *s, struct strbuf *out)
{
	struct json_writer w;

	json_init(&w, out);
	json_object_begin(&w);
	json_kv_int(&w, "pid", getpid());
	json_kv_string(&w, "listen", ob->listen_text);
	json_kv_int(&w, "started", ob->started.tv_sec);
	json_kv_string(&w, "version", ZS_VERSION);
	json_key(&w, "pinned");
	if (ob->pinned)
		json_string(&w, ob->opts->pin_dir);
	else
		json_null(&w);
	json_key(&w, "layers");
	json_array_begin(&w);
	if (ob->opts->layers & ZS_LAYER_APP)
		json_string(&w, "app");
	if (ob->wire)
		json_string(&w, "wire");
	json_array_end(&w);
	json_kv_string(&w, "wire_mechanism", wire_layer_mechanism(ob->wire));
	json_key(&w, "targets");
	json_array_begin(&w);
	for (size_t t = 0; t < ob->ntargets; t++) {
		const struct target *tg = ob->targets[t];

		json_object_begin(&w);
		json_kv_int(&w, "pid", tg->pid);
		json_kv_string(&w, "comm", tg->comm);
		json_kv_bool(&w, "up", tg->up);
		json_kv_int(&w, "libzmq_copies_unprobed", (int64_t)tg->objs_unprobed);
		json_kv_bool(&w, "library_hook", probe_link_attached(&tg->loader_hook));
		json_kv_bool(&w, "proxy_probes", tg->may_proxy);
		json_key(&w, "libraries");
		json_array_begin(&w);
		for (size_t o = 0; o < tg->nobjs; o++) {
			const struct attached_object *ao = &tg->objs[o];
			char version[32] = "";

			if (ao->cal.have_version)
				snprintf(version, sizeof(version), "%d.%d.%d", ao->cal.version.major,
					 ao->cal.version.minor, ao->cal.version.patch);
			json_object_begin(&w);
			json_kv_string(&w, "path", ao->obj.path);
			json_kv_string(&w, "opened_as", ao->obj.host_path);
			json_kv_bool(&w, "main_binary", ao->obj.main_binary);
			json_kv_bool(&w, "linked_in", ao->obj.linked_in);
			json_kv_string(&w, "version", version);
			json_key(&w, "layout");
			json_object_begin(&w);
			json_kv_string(&w, "source", layout_source_name(ao->cal.source));
			json_kv_int(&w, "type_offset", ao->cal.layout.type_off);
			json_kv_int(&w, "tag_offset", ao->cal.layout.tag_off);
			json_kv_int(&w, "endpoint_offset", ao->cal.layout.endpoint_off);
			/* Every source tried, and what it said: no silent fallback. */
			json_kv_string(&w, "memory", ao->cal.memory_note);
			json_kv_int(&w, "memory_sockets", ao->cal.memory_sockets);
			json_kv_string(&w, "dlopen", ao->cal.dlopen_note);
			json_kv_string(&w, "table", ao->cal.table_note);
			json_object_end(&w);
			/* Public sends and receives carried by the internal probes alone. */
			json_kv_bool(&w, "carried_by_internal", ao->carried);
			json_key(&w, "probes");
			json_array_begin(&w);
			for (size_t i = 0; i < ao->nprobes; i++) {
				const struct probe_link *pl = &ao->probes[i];

				json_object_begin(&w);
				json_kv_string(&w, "function", pl->function);
				json_kv_string(&w, "kind", pl->kind == PROBE_RETURN    ? "uretprobe"
							   : pl->kind == PROBE_SESSION ? "uprobe.session"
										       : "uprobe");
				json_kv_uint(&w, "offset", pl->offset);
				json_kv_uint(&w, "skipped", pl->site.skip);
				json_kv_string(&w, "instruction", pl->site.insn);
				json_kv_string(&w, "cost", probe_cost_name(pl->site.cost));
				json_kv_bool(&w, "attached", probe_link_attached(pl));
				json_kv_bool(&w, "adopted", pl->adopted);
				if (pl->error)
					json_kv_string(&w, "error", strerror(-pl->error));
				json_object_end(&w);
			}
			json_array_end(&w);
			json_object_end(&w);
		}
		json_array_end(&w);
		json_key(&w, "sockets");
		json_array_begin(&w);
		for (size_t i = 0; i < s->nsockets; i++) {
			const struct metrics_socket *ms = &s->sockets[i];
			char handle[24];

			if (ms->tgid != (uint32_t)tg->pid)
				continue;
			snprintf(handle, sizeof(handle), "0x%" PRIx64, ms->handle);
			json_object_begin(&w);
			json_kv_string(&w, "socket", handle);
			json_kv_string(&w, "type", socket_type_name(ms->s.type));
			json_kv_string(&w, "role", role_name(ms->s.role));
			json_kv_string(&w, "endpoint", ms->s.endpoint);
			json_kv_string(&w, "span_rule", loop_rule_name(ms->s.loop));
			json_kv_uint(&w, "frames_received", ms->s.c.frames_rx);
			json_kv_bool(&w, "pristine", ms->s.pristine);
			json_key(&w, "proxy");
			if (ms->s.proxy)
				json_string(&w, proxy_place_name(ms->s.proxy));
			else
				json_null(&w);
			json_object_end(&w);
		}
		json_array_end(&w);
		json_key(&w, "msg_types");
		json_array_begin(&w);
		for (size_t i = 0; i < s->nmsg_types; i++)
			if (s->msg_types[i].tgid == (uint32_t)tg->pid)
				json_string(&w, s->msg_types[i].name);
		json_array_end(&w);
		json_key(&w, "spans");
		json_object_begin(&w);
		for (unsigned role = ZS_ROLE_PULL; role <= ZS_ROLE_REPLY; role++) {
			char source[sizeof(((struct zs_handler_spec *)0)->path) + 300];

			span_source(ob, role, source, sizeof(source));
			json_kv_string(&w, role_name(role), source);
		}
		json_object_end(&w);
		json_object_end(&w);
	}
	json_array_end(&w);
	json_key(&w, "maps");
	json_array_begin(&w);
	for (size_t m = 0; m < s->nmaps; m++) {
		json_object_begin(&w);
		json_kv_string(&w, "name", s->maps[m].name);
		json_kv_uint(&w, "entries", s->maps[m].entries);
		json_kv_uint(&w, "max_entries", s->maps[m].max_entries);
		json_kv_uint(&w, "update_failures", s->maps[m].update_failures);
		json_object_end(&w);
	}
	json_array_end(&w);
	json_object_end(&w);
	strbuf_putc(out, '\n');
}

static void status_text(struct observer *ob, const struct snapshot *s, struct strbuf *out)
{
	strbuf_printf(out, "zmqscope %s (pid %d), serving http://%s/metrics\n", ZS_VERSION,
		      (int)getpid(), ob->listen_text);
	if (ob->pinned)
		strbuf_printf(out, "  pinned under %s: counters survive a restart, probes a crash\n",
			      ob->opts->pin_dir);
	else
		strbuf_puts(out, "  not pinned: probes and counters end with this process\n");
	strbuf_printf(out, "  layers: %s%s%s; wire layer: %s\n",
		      ob->opts->layers & ZS_LAYER_APP ? "app" : "",
		      (ob->opts->layers & ZS_LAYER_APP) && ob->wire ? "," : "",
		      ob->wire ? "wire" : "", wire_layer_mechanism(ob->wire));
	for (size_t t = 0; t < ob->ntargets; t++) {
		const struct target *tg = ob->targets[t];

		strbuf_printf(out, "  target pid %d (%s): %s\n", (int)tg->pid, tg->comm,
			      tg->up ? "attached" : "exited, detached");
		for (size_t o = 0; o < tg->nobjs; o++) {
			const struct attached_object *ao = &tg->objs[o];

			strbuf_printf(out, "    library %s%s\n", ao->obj.path,
				      ao->obj.main_binary ? " (linked into the executable)"
				      : ao->obj.linked_in ? " (linked into this object)"
							  : "");
			if (ao->cal.have_version)
				strbuf_printf(out, "      libzmq %d.%d.%d, ", ao->cal.version.major,
					      ao->cal.version.minor, ao->cal.version.patch);
			else
				strbuf_puts(out, "      libzmq version unknown, ");
			strbuf_printf(out, "layout %s: type@%d tag@%d endpoint@%d\n",
				      layout_source_name(ao->cal.source), ao->cal.layout.type_off,
				      ao->cal.layout.tag_off, ao->cal.layout.endpoint_off);
			calibration_describe(&ao->cal, "        ", out);
			if (ao->carried)
				strbuf_printf(out, "      public sends and receives: not probed; "
						   "socket_base_t::send and ::recv carry them "
						   "(%zu and %zu call sites)\n",
					      ao->obj.tx_calls.n, ao->obj.rx_calls.n);
			for (size_t i = 0; i < ao->nprobes; i++) {
				const struct probe_link *pl = &ao->probes[i];
				char name[48];

				snprintf(name, sizeof(name), "%s%s", pl->function,
					 probe_kind_suffix(pl->kind));
				strbuf_printf(out, "      %-28s +0x%-7" PRIx64 " %-18s %-11s %s\n", name,
					      pl->offset, pl->site.insn, probe_cost_name(pl->site.cost),
					      pl->adopted		   ? "adopted"
					      : probe_link_attached(pl) ? "attached"
									: strerror(-pl->error));
			}
		}
		if (tg->objs_unprobed)
			strbuf_printf(out, "    %zu more copies of libzmq mapped, not probed (at most %d "
					   "at once): their traffic is not counted\n",
				      tg->objs_unprobed, ZS_MAX_OBJECTS);
		strbuf_printf(out, "    library watch: %s\n",
			      !tg->loader_path ? "VmLib polled once a second (no ld.so)"
			      : probe_link_attached(&tg->loader_hook)
				      ? "ld.so _dl_debug_state probed (dlopen, dlclose at once)"
				      : "ld.so probe failed; VmLib polled once a second");
		strbuf_printf(out, "    proxy traffic: %s\n",
			      tg->may_proxy ? "libzmq's internal send and receive probed"
					    : "not probed: nothing mapped imports zmq_proxy, "
					      "zmq_proxy_steerable or zmq_device");
		for (size_t i = 0; i < tg->nhandlers; i++) {
			const struct probe_link *pl = &tg->handlers[i];

			strbuf_printf(out, "    handler %s%s +0x%" PRIx64 " %s %s %s\n",
				      pl->function, probe_kind_suffix(pl->kind), pl->offset,
				      pl->site.insn, probe_cost_name(pl->site.cost),
				      probe_link_attached(pl) ? "attached" : strerror(-pl->error));
		}
		for (size_t i = 0; i < s->nsockets; i++) {
			const struct metrics_socket *ms = &s->sockets[i];

			if (ms->tgid == (uint32_t)tg->pid)
				strbuf_printf(out,
					      "    socket 0x%" PRIx64 " %-6s role=%-8s spans=%-7s %s%s%s\n",
					      ms->handle, socket_type_name(ms->s.type),
					      role_name(ms->s.role), loop_rule_name(ms->s.loop),
					      ms->s.endpoint, ms->s.proxy ? " proxy=" : "",
					      proxy_place_name(ms->s.proxy));
		}
		for (unsigned role = ZS_ROLE_PULL; role <= ZS_ROLE_REPLY; role++) {
			char source[sizeof(((struct zs_handler_spec *)0)->path) + 300];

			span_source(ob, role, source, sizeof(source));
			strbuf_printf(out, "    %s spans: %s\n", role_name(role), source);
		}
		strbuf_puts(out, "    msg_types:");
		for (size_t i = 0, shown = 0; i < s->nmsg_types; i++)
			if (s->msg_types[i].tgid == (uint32_t)tg->pid)
				strbuf_printf(out, "%s %s", shown++ ? "," : "", s->msg_types[i].name);
		strbuf_putc(out, '\n');
	}
	strbuf_puts(out, "  maps:");
	for (size_t m = 0; m < s->nmaps; m++)
		strbuf_printf(out, " %s %" PRIu64 "/%" PRIu64 " (%" PRIu64 " dropped)%s",
			      s->maps[m].name, s->maps[m].entries, s->maps[m].max_entries,
			      s->maps[m].update_failures, m + 1 < s->nmaps ? "," : "\n");
}

void observer_render_status(struct observer *ob, struct strbuf *out, bool json)
{
	struct snapshot s;

	pthread_mutex_lock(&ob->lock);
	if (snapshot_take(ob, &s) == 0) {
		if (json)
			status_json(ob, &s, out);
		else
			status_text(ob, &s, out);
		snapshot_free(&s);
	}
	pthread_mutex_unlock(&ob->lock);
}
