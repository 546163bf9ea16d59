// SPDX-License-Identifier: MIT
#include "socket_refine.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "memory_calibration.h"
#include "observer.h"
#include "zmqscope.h"
#include "zmqscope.skel.h"
#include "socket_table.h"
#include "monotonic.h"

/* Longest wait between two tries on a target whose layout is still open. */
#define REFINE_MAX_WAIT_S 8
/* Tries before giving up on a target whose memory cannot be read. */
#define REFINE_MAX_FAILURES 3
/* And in all: about five minutes of an application that never binds or connects. */
#define REFINE_MAX_TRIES 40

static int run_fixup(struct observer *ob, struct zs_fixup *f)
{
	LIBBPF_OPTS(bpf_test_run_opts, run, .ctx_in = f, .ctx_size_in = sizeof(*f));
	int fd = bpf_program__fd(ob->skel->progs.zs_fixup), rc;

	if (fd < 0)
		return -EOPNOTSUPP;
	rc = bpf_prog_test_run_opts(fd, &run);
	return rc ? -errno : f->result;
}

static int fixup_layout(struct observer *ob, pid_t pid, const struct zmq_layout *l)
{
	struct zs_fixup f = { .op = ZS_FIXUP_LAYOUT, .tgid = (__u32)pid };

	f.type_off = l->type_off;
	f.tag_off = l->tag_off;
	f.endpoint_off = l->endpoint_off;
	return run_fixup(ob, &f);
}

static int fixup_socket(struct observer *ob, pid_t pid, uint64_t handle, int type,
			const char *endpoint, bool create)
{
	struct zs_fixup f = { .op = ZS_FIXUP_SOCKET, .tgid = (__u32)pid, .handle = handle };

	f.type = type >= 0 && type < ZS_NTYPES ? (__u8)type : ZS_TYPE_UNKNOWN;
	f.create = create;
	snprintf(f.endpoint, sizeof(f.endpoint), "%s", endpoint ? endpoint : "");
	return run_fixup(ob, &f);
}

/* Still a socket?  It may have been closed between the search and now. */
static bool still_tagged(pid_t pid, uint64_t handle, int32_t tag_off)
{
	uint32_t tag = 0;
	struct iovec local = { &tag, sizeof(tag) };
	struct iovec remote = { (void *)(uintptr_t)(handle + (uint64_t)tag_off), sizeof(tag) };

	if (tag_off < 0)
		return true;
	return process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)sizeof(tag) &&
	       tag == ZS_SOCKET_TAG;
}

void refine_insert_found(struct observer *ob, struct target *t)
{
	for (size_t o = 0; o < t->nobjs; o++) {
		struct calibration *c = &t->objs[o].cal;
		size_t listed = 0;

		for (size_t i = 0; i < c->nfound; i++) {
			const struct found_socket *f = &c->found[i];

			if (still_tagged(t->pid, f->handle, c->layout.tag_off) &&
			    !fixup_socket(ob, t->pid, f->handle, f->type, f->endpoint, true))
				listed++;
		}
		if (ob->opts->verbose && c->nfound)
			fprintf(stderr, "zmqscope: pid %d: %zu of %zu sockets that existed before the "
					"attach listed\n",
				(int)t->pid, listed, c->nfound);
		calibration_release(c);
	}
}

static bool layout_open(const struct zmq_layout *l)
{
	return l->type_off < 0 || l->tag_off < 0 || l->endpoint_off < 0;
}

/* The handles of this process's sockets in the map, at most `max`. */
static size_t handles_of(int fd, pid_t pid, uint64_t *out, size_t max)
{
	struct zs_sock_key key, next;
	bool first = true;
	size_t n = 0;

	while (n < max && !bpf_map_get_next_key(fd, first ? NULL : &key, &next)) {
		first = false;
		key = next;
		if (next.tgid == (__u32)pid)
			out[n++] = next.handle;
	}
	return n;
}

static bool fill(int32_t *have, int32_t measured)
{
	if (*have >= 0 || measured < 0)
		return false;
	*have = measured;
	return true;
}

/* Puts right what the probes stored before the layout was known. */
static void relabel(struct observer *ob, struct target *t, const struct memory_calibration *mc)
{
	struct socket_table st = SOCKET_TABLE_OF(ob->skel);

	for (size_t i = 0; i < mc->nsockets; i++) {
		const struct found_socket *f = &mc->sockets[i];
		struct zs_sock_key key = { .tgid = (__u32)t->pid, .handle = f->handle };
		struct zs_sock s;
		bool type_wrong, ep_wrong;

		if (socket_table_read(&st, &key, &s))
			continue;
		s.endpoint[sizeof(s.endpoint) - 1] = '\0';
		type_wrong = s.type_source < ZS_TYPESRC_LAYOUT && s.type != f->type;
		ep_wrong = f->endpoint[0] && strcmp(s.endpoint, f->endpoint);
		if (type_wrong || ep_wrong)
			fixup_socket(ob, t->pid, f->handle, type_wrong ? f->type : -1,
				     ep_wrong ? f->endpoint : NULL, false);
	}
}

static void refine_target(struct observer *ob, struct target *t)
{
	static uint64_t handles[MEMCAL_MAX_SOCKETS];
	static struct found_socket found[MEMCAL_MAX_SOCKETS];
	size_t n = handles_of(bpf_map__fd(ob->skel->maps.sockets), t->pid, handles,
			      MEMCAL_MAX_SOCKETS);

	if (!n)
		return;
	for (size_t o = 0; o < t->nobjs; o++) {
		struct attached_object *ao = &t->objs[o];
		struct memory_calibration mc = { .sockets = found, .max = MEMCAL_MAX_SOCKETS };
		struct zmq_layout was = t->layout;
		bool gained = false;
		int rc;

		mc.use_known_offsets = calibration_source_enabled(LAYOUT_TABLE);
		rc = memory_calibrate_handles(t->pid, ao->obj.inode, handles, n, &t->layout, &mc);
		if (rc == -EPERM || rc == -EACCES || rc == -ESRCH)
			t->refine_failures++;
		if (!mc.measured)
			continue;
		gained |= fill(&t->layout.type_off, mc.layout.type_off);
		gained |= fill(&t->layout.tag_off, mc.layout.tag_off);
		gained |= fill(&t->layout.endpoint_off, mc.layout.endpoint_off);
		if (gained) {
			fill(&ao->cal.layout.type_off, t->layout.type_off);
			fill(&ao->cal.layout.tag_off, t->layout.tag_off);
			fill(&ao->cal.layout.endpoint_off, t->layout.endpoint_off);
			if (ao->cal.source == LAYOUT_NONE && ao->cal.layout.type_off >= 0)
				ao->cal.source = LAYOUT_MEMORY;
			snprintf(ao->cal.memory_note, sizeof(ao->cal.memory_note),
				 "measured after the attach on %zu sockets the probes saw: "
				 "type@%d tag@%d endpoint@%d",
				 mc.measured, mc.layout.type_off, mc.layout.tag_off,
				 mc.layout.endpoint_off);
			if (fixup_layout(ob, t->pid, &t->layout))
				t->layout = was;
			else if (ob->opts->verbose)
				fprintf(stderr, "zmqscope: pid %d: %s\n", (int)t->pid,
					ao->cal.memory_note);
		}
		/* Labels from the memory, once the layout can read them. */
		if (mc.layout.endpoint_off >= 0 || mc.layout.type_off >= 0 || gained)
			relabel(ob, t, &mc);
		return;
	}
}

void observer_refine_layouts(struct observer *ob)
{
	double now = monotonic_seconds();

	if (!calibration_allows("handles"))
		return;
	pthread_mutex_lock(&ob->lock);
	for (size_t i = 0; i < ob->ntargets; i++) {
		struct target *t = ob->targets[i];
		double wait;

		if (!t->up || !layout_open(&t->layout) || t->refine_failures >= REFINE_MAX_FAILURES ||
		    t->refine_tries >= REFINE_MAX_TRIES || now < t->refine_next)
			continue;
		refine_target(ob, t);
		/* 1, 2, 4, 8, 8 ... seconds: quick after the attach, cheap when nothing binds. */
		wait = (double)(1U << (t->refine_tries < 3 ? t->refine_tries : 3));
		if (wait > REFINE_MAX_WAIT_S)
			wait = REFINE_MAX_WAIT_S;
		t->refine_tries++;
		t->refine_next = now + wait;
	}
	pthread_mutex_unlock(&ob->lock);
}
