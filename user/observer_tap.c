// SPDX-License-Identifier: MIT
#include "observer_tap.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lmcache_model.h"
#include "observer.h"
#include "payload_tap.h"
#include "zmqscope.skel.h"

/*
 * The messages that change LMCache's controller state, and the one reply
 * that carries a decision (whether a full sync was accepted).  Lookups,
 * status queries and the rest are never copied.
 */
static const struct {
	const char *name;
	uint8_t dirs;
} state_types[] = {
	{ "RegisterMsg", ZS_TAP_DIR_RX },	    { "HeartbeatMsg", ZS_TAP_DIR_RX },
	{ "DeRegisterMsg", ZS_TAP_DIR_RX },	    { "BatchedKVOperationMsg", ZS_TAP_DIR_RX },
	{ "FullSyncStartMsg", ZS_TAP_DIR_RX },	    { "FullSyncBatchMsg", ZS_TAP_DIR_RX },
	{ "FullSyncEndMsg", ZS_TAP_DIR_RX },	    { "FullSyncStartRetMsg", ZS_TAP_DIR_TX },
};

void observer_tap_configure(struct observer *ob)
{
	uint64_t ring = (uint64_t)ob->opts->tap_ring_kb * 1024;

	bpf_map__set_max_entries(ob->skel->maps.tap_ring, (uint32_t)ring);
	/* Half the ring for one frame, so one huge frame cannot starve the rest. */
	ob->skel->rodata->tap_max_frame =
		ring / 2 < ZS_TAP_DEFAULT_MAX_FRAME ? (uint32_t)(ring / 2) : ZS_TAP_DEFAULT_MAX_FRAME;
	/* Woken at a quarter full; otherwise drained on scrapes and once a second. */
	ob->skel->rodata->tap_wakeup_bytes = ring / 4;
}

static struct target *target_of(struct observer *ob, uint32_t tgid)
{
	for (size_t i = 0; i < ob->ntargets; i++)
		if ((uint32_t)ob->targets[i]->pid == tgid)
			return ob->targets[i];
	return NULL;
}

static enum lmc_channel channel_of(const struct zs_tap_hdr *h)
{
	if (h->flags & ZS_TAP_F_TX)
		return LMC_REPLY_OUT;
	return h->role == ZS_ROLE_PULL ? LMC_PULL : LMC_REQUEST;
}

/* A frame of this process never reached its model. */
static void frame_lost(struct observer *ob, uint32_t tgid)
{
	struct target *t = target_of(ob, tgid);

	if (t && t->state)
		lmc_model_mark_incomplete(t->state);
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct observer *ob = ctx;
	const struct zs_tap_hdr *h = data;
	struct fa_out out;
	struct target *t;
	int rc = frame_assembler_add(&ob->tap_frames, data, size, &out);

	if (out.lost)
		frame_lost(ob, out.lost_tgid);
	/* A record that could not be joined (malformed, or no memory for its frame). */
	if (rc && size >= sizeof(*h)) {
		frame_lost(ob, h->tgid);
		return 0;
	}
	if (!out.frame)
		return 0;
	t = target_of(ob, h->tgid);
	if (!t) {
		/* Attached, but not yet in the list: its model learns of the loss when it is. */
		ob->tap_orphans[ob->tap_norphans++ % ZS_TAP_ORPHANS] = h->tgid;
		return 0;
	}
	if (!t->state)
		return 0;
	/* Traffic on a socket that existed before the attach: what came earlier is unknown. */
	if (!(h->flags & ZS_TAP_F_CREATED))
		lmc_model_mark_incomplete(t->state);
	lmc_model_feed(t->state, channel_of(h), out.frame, out.len);
	return 0;
}

int observer_tap_open(struct observer *ob)
{
	int types = bpf_map__fd(ob->skel->maps.tap_types);

	if (ob->opts->no_lmcache_state)
		return 0;
	for (size_t i = 0; i < sizeof(state_types) / sizeof(state_types[0]); i++) {
		struct zs_tap_type_key key = { 0 };

		strncpy(key.name, state_types[i].name, sizeof(key.name) - 1);
		if (bpf_map_update_elem(types, &key, &state_types[i].dirs, BPF_ANY))
			return -errno;
	}
	frame_assembler_init(&ob->tap_frames);
	ob->tap_ring = ring_buffer__new(bpf_map__fd(ob->skel->maps.tap_ring), on_record, ob, NULL);
	return ob->tap_ring ? 0 : -errno;
}

void observer_tap_close(struct observer *ob)
{
	ring_buffer__free(ob->tap_ring);
	ob->tap_ring = NULL;
	frame_assembler_free(&ob->tap_frames);
}

void observer_tap_target_init(struct observer *ob, struct target *t)
{
	if (!ob->tap_ring)
		return;
	/* Complete until shown otherwise: a socket from before the attach, a lost copy. */
	t->state = lmc_model_new(ob->opts->max_kv_keys, true);
	if (!t->state)
		fprintf(stderr, "zmqscope: out of memory for process %d's LMCache state; its state "
				"gauges are not exported\n",
			(int)t->pid);
}

/* Its partial frames, if any, are evicted from the assembler in time. */
void observer_tap_target_free(struct target *t)
{
	lmc_model_free(t->state);
	t->state = NULL;
}

void observer_tap_target_added(struct observer *ob, struct target *t)
{
	size_t n = ob->tap_norphans < ZS_TAP_ORPHANS ? ob->tap_norphans : ZS_TAP_ORPHANS;

	/* An earlier daemon counted this process: what it saw is gone with it. */
	if (t->carried_on && t->state)
		lmc_model_mark_incomplete(t->state);
	for (size_t i = 0; i < n && t->state; i++)
		if (ob->tap_orphans[i] == (uint32_t)t->pid)
			lmc_model_mark_incomplete(t->state);
}

int observer_tap_fd(struct observer *ob)
{
	return ob->tap_ring ? ring_buffer__epoll_fd(ob->tap_ring) : -1;
}

void observer_tap_drain(struct observer *ob)
{
	int fd;

	if (!ob->tap_ring)
		return;
	ring_buffer__consume(ob->tap_ring);
	/* A copy the probes could not make is a hole in the state, wherever it fell. */
	fd = bpf_map__fd(ob->skel->maps.targets);
	for (size_t i = 0; i < ob->ntargets; i++) {
		struct target *t = ob->targets[i];
		uint32_t tgid = (uint32_t)t->pid;
		struct zs_target bt;

		if (!t->state || bpf_map_lookup_elem(fd, &tgid, &bt))
			continue;
		if (bt.tap_dropped != t->tap_dropped_seen) {
			t->tap_dropped_seen = bt.tap_dropped;
			lmc_model_mark_incomplete(t->state);
		}
	}
}

void observer_tap_poll(struct observer *ob)
{
	if (!ob->tap_ring)
		return;
	pthread_mutex_lock(&ob->lock);
	observer_tap_drain(ob);
	pthread_mutex_unlock(&ob->lock);
}
