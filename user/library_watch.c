// SPDX-License-Identifier: MIT
#include "library_watch.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "observer_attach.h"
#include "proc_files.h"
#include "socket_refine.h"
#include "zmqscope.skel.h"
#include "monotonic.h"
#include "proxy_users.h"

static int on_lib_event(void *ctx, void *data, size_t size)
{
	struct observer *ob = ctx;
	uint32_t tgid;

	if (size < sizeof(tgid))
		return 0;
	memcpy(&tgid, data, sizeof(tgid));
	for (size_t i = 0; i < ob->ntargets; i++)
		if ((uint32_t)ob->targets[i]->pid == tgid)
			ob->targets[i]->libs_changed = true;
	return 0;
}

int library_watch_open(struct observer *ob)
{
	ob->lib_ring = ring_buffer__new(bpf_map__fd(ob->skel->maps.lib_events), on_lib_event, ob,
					NULL);
	return ob->lib_ring ? 0 : -errno;
}

void library_watch_close(struct observer *ob)
{
	ring_buffer__free(ob->lib_ring);
	ob->lib_ring = NULL;
}

int library_watch_fd(const struct observer *ob)
{
	return ob->lib_ring ? ring_buffer__epoll_fd(ob->lib_ring) : -1;
}

void library_watch_hook(struct observer *ob, struct target *t)
{
	struct elf_symbol sym = { .name = "_dl_debug_state" };
	char path[PATH_MAX], host_path[PATH_MAX], buf[PATH_MAX];

	if (find_dynamic_loader(t->pid, &sym, path, sizeof(path), host_path, sizeof(host_path)))
		return; /* static: VmLib polling is all there is, and all it needs */
	t->loader_path = strdup(path);
	if (!t->loader_path)
		return;
	attach_at(ob, t->pid, host_path, path, &sym, "dl_debug_state", PROBE_ENTRY, 0,
		  link_pin(ob, t, "ld-dl_debug_state", buf, sizeof(buf)), &t->loader_hook);
}

void library_watch_count_unprobed(struct target *t, size_t unprobed)
{
	if (unprobed > t->objs_unprobed)
		fprintf(stderr, "zmqscope: process %d maps %zu more copies of libzmq than the %d "
				"zmqscope probes at once; their traffic is not counted\n",
			(int)t->pid, unprobed, ZS_MAX_OBJECTS);
	t->objs_unprobed = unprobed;
}

static void rescan_libraries(struct observer *ob, bool hooked_only);

void library_watch_poll(struct observer *ob)
{
	if (!ob->lib_ring)
		return;
	pthread_mutex_lock(&ob->lock);
	ring_buffer__consume(ob->lib_ring);
	pthread_mutex_unlock(&ob->lock);
	rescan_libraries(ob, true);
}

/* Copies the process no longer maps: their probes go, and their places. */
static void drop_unmapped_objects(struct observer *ob, struct target *t)
{
	for (size_t o = 0; o < t->nobjs; o++) {
		if (discovery_memo_has(&t->memo, t->objs[o].obj.inode))
			continue;
		if (ob->opts->verbose)
			fprintf(stderr, "zmqscope: pid %d unloaded %s; detached\n", (int)t->pid,
				t->objs[o].obj.path);
		release_object(ob, &t->objs[o], 0);
		memmove(&t->objs[o], &t->objs[o + 1], (t->nobjs - o - 1) * sizeof(t->objs[0]));
		t->nobjs--;
		o--;
	}
}

static void add_objects(struct observer *ob, struct target *t, const struct zmq_object *objs,
			size_t n)
{
	struct attached_object *grown;

	/*
	 * realloc(p, 0) frees p and returns NULL: with every copy unloaded and
	 * nothing new, that left t->objs dangling for target_release_memory.
	 */
	if (!n)
		return;
	grown = realloc(t->objs, (t->nobjs + n) * sizeof(*grown));
	if (!grown)
		return;
	t->objs = grown;
	for (size_t k = 0; k < n; k++) {
		struct attached_object *ao = &t->objs[t->nobjs];
		double t0 = monotonic_seconds(), t1;

		memset(ao, 0, sizeof(*ao));
		ao->id = t->next_obj_id++;
		ao->obj = objs[k];
		calibrate_object(ob, t->pid, ao, true);
		t1 = monotonic_seconds();
		attach_object(ob, t, t->nobjs);
		t->nobjs++;
		if (ob->opts->verbose)
			fprintf(stderr, "zmqscope: pid %d loaded %s; calibrated in %.1f ms, "
					"attached in %.1f ms\n",
				(int)t->pid, objs[k].path, (t1 - t0) * 1e3,
				(monotonic_seconds() - t1) * 1e3);
	}
}

static void rescan_target(struct observer *ob, struct target *t, struct zmq_object *objs)
{
	size_t room, beyond = 0;
	int n;

	/*
	 * The memo keeps the attached copies, so they are not opened again; the
	 * room left is computed once those the process unmapped have gone,
	 * which the scan itself tells (they drop out of the memo).
	 */
	n = find_new_zmq_objects(t->pid, &t->memo, objs, ZS_MAX_OBJECTS, &beyond);
	if (n < 0)
		return;
	/* A module loaded since can start a proxy: the internal probes go on before it can. */
	if (!t->may_proxy && process_may_run_proxy(t->pid, t)) {
		t->may_proxy = true;
		for (size_t o = 0; o < t->nobjs; o++)
			attach_proxy_probes(ob, t, o);
		if (ob->opts->verbose)
			fprintf(stderr, "zmqscope: pid %d can now start zmq_proxy; internal send "
					"and receive probed\n",
				(int)t->pid);
	}
	drop_unmapped_objects(ob, t);
	room = ZS_MAX_OBJECTS - t->nobjs;
	if ((size_t)n > room) {
		/* Not settled: looked at again once a copy goes. */
		for (size_t k = room; k < (size_t)n; k++)
			discovery_memo_forget(&t->memo, objs[k].inode);
		beyond += (size_t)n - room;
		n = (int)room;
	}
	add_objects(ob, t, objs, (size_t)n);
	library_watch_count_unprobed(t, beyond);
	if (n)
		refine_insert_found(ob, t);
}

/* hooked_only: the processes whose ld.so hook fired; the tick looks at the rest. */
static void rescan_libraries(struct observer *ob, bool hooked_only)
{
	struct zmq_object *objs;

	if (!(ob->opts->layers & ZS_LAYER_APP))
		return;
	objs = calloc(ZS_MAX_OBJECTS, sizeof(*objs));
	if (!objs)
		return;
	pthread_mutex_lock(&ob->lock);
	for (size_t i = 0; i < ob->ntargets; i++) {
		struct target *t = ob->targets[i];
		long vmlib;

		if (!t->up || (hooked_only && !t->libs_changed))
			continue;
		/* Parsing maps each tick would be the idle CPU: only when something changed. */
		vmlib = process_vmlib_kb(t->pid);
		if (vmlib == t->vmlib_kb && !t->libs_changed)
			continue;
		t->vmlib_kb = vmlib;
		t->libs_changed = false;
		rescan_target(ob, t, objs);
	}
	pthread_mutex_unlock(&ob->lock);
	free(objs);
}

void observer_rescan_libraries(struct observer *ob)
{
	rescan_libraries(ob, false);
}
