// SPDX-License-Identifier: MIT
#include "proxy_users.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>

#include "elf_symbols.h"
#include "observer.h"
#include "proc_maps.h"

static const char *const proxy_entry_points[] = { "zmq_proxy", "zmq_proxy_steerable",
						  "zmq_device" };

struct proxy_scan {
	pid_t pid;
	const struct target *t;
	uint64_t last_inode; /* an object's mappings come one after another */
};

static const struct zmq_object *probed_copy(const struct target *t, uint64_t inode)
{
	for (size_t i = 0; i < t->nobjs; i++)
		if (t->objs[i].obj.inode == inode)
			return &t->objs[i].obj;
	return NULL;
}

/* 1 stops the walk: this object may start a proxy. */
static int visit_object(const struct maps_entry *e, void *arg)
{
	struct proxy_scan *ps = arg;
	const struct zmq_object *copy;
	char host_path[PATH_MAX + 32];
	int rc;

	if (!maps_is_exec(e) || !maps_is_file(e) || e->inode == ps->last_inode)
		return 0;
	ps->last_inode = e->inode;
	copy = probed_copy(ps->t, e->inode);
	if (copy)
		return copy->linked_in; /* its own code may call its zmq_proxy */
	if (e->deleted)
		return 1;
	/* Through the target's root: a container's files are not at these paths here. */
	if (snprintf(host_path, sizeof(host_path), "/proc/%d/root%s", (int)ps->pid, e->path) >=
	    (int)sizeof(host_path))
		return 1;
	rc = elf_imports_any(host_path, proxy_entry_points,
			     sizeof(proxy_entry_points) / sizeof(proxy_entry_points[0]));
	/* Not an ELF file (a mapped font, say) cannot call anything; unreadable might. */
	return rc == -ENOEXEC ? 0 : rc != 0;
}

bool process_may_run_proxy(pid_t pid, const struct target *t)
{
	struct proxy_scan ps = { .pid = pid, .t = t };
	int rc = maps_for_each(pid, visit_object, &ps);

	return rc != 0;
}
