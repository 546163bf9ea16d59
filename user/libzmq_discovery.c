// SPDX-License-Identifier: MIT
#include "libzmq_discovery.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "libzmq_internals.h"
#include "proc_maps.h"

const char *const zs_func_names[ZS_FN_COUNT] = {
	[ZS_FN_MSG_RECV] = "zmq_msg_recv",	   [ZS_FN_RECV] = "zmq_recv",
	[ZS_FN_MSG_SEND] = "zmq_msg_send",	   [ZS_FN_SEND] = "zmq_send",
	[ZS_FN_SEND_CONST] = "zmq_send_const",	   [ZS_FN_GETSOCKOPT] = "zmq_getsockopt",
	[ZS_FN_SOCKET] = "zmq_socket",		   [ZS_FN_BIND] = "zmq_bind",
	[ZS_FN_CONNECT] = "zmq_connect",	   [ZS_FN_CLOSE] = "zmq_close",
	[ZS_FN_VERSION] = "zmq_version",
	[ZS_FN_POLL] = "zmq_poll",
	[ZS_FN_PROXY] = "zmq_proxy",
	[ZS_FN_PROXY_STEERABLE] = "zmq_proxy_steerable",
	[ZS_FN_DEVICE] = "zmq_device",
	[ZS_FN_MSG_SIZE] = "zmq_msg_size",
	[ZS_FN_RECVIOV] = "zmq_recviov",
	[ZS_FN_SENDIOV] = "zmq_sendiov",
	[ZS_FN_INTERNAL_SEND] = "_ZN3zmq13socket_base_t4sendEPNS_5msg_tEi",
	[ZS_FN_INTERNAL_RECV] = "_ZN3zmq13socket_base_t4recvEPNS_5msg_tEi",
};

struct discovery {
	pid_t pid;
	char root[PATH_MAX]; /* the target's root as we see it, "" when it is ours */
	struct zmq_object *out;
	size_t max;
	size_t n;
	uint64_t seen[64]; /* inodes already examined */
	size_t nseen;
	char exe[PATH_MAX];
	int first_error;
	const struct discovery_memo *old; /* settled by earlier scans; NULL: examine all */
	struct discovery_memo next;	  /* settled after this one */
	size_t beyond;			  /* libzmq objects found with no room left */
	int memo_error;
};

bool discovery_memo_has(const struct discovery_memo *memo, uint64_t inode)
{
	for (size_t i = 0; memo && i < memo->n; i++)
		if (memo->inodes[i] == inode)
			return true;
	return false;
}

static void memo_add(struct discovery *d, uint64_t inode)
{
	struct discovery_memo *m = &d->next;

	if (discovery_memo_has(m, inode))
		return;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		uint64_t *grown = realloc(m->inodes, cap * sizeof(*grown));

		if (!grown) {
			d->memo_error = -ENOMEM;
			return;
		}
		m->inodes = grown;
		m->cap = cap;
	}
	m->inodes[m->n++] = inode;
}

void discovery_memo_forget(struct discovery_memo *memo, uint64_t inode)
{
	for (size_t i = 0; i < memo->n; i++)
		if (memo->inodes[i] == inode) {
			memo->inodes[i] = memo->inodes[--memo->n];
			return;
		}
}

void discovery_memo_free(struct discovery_memo *memo)
{
	free(memo->inodes);
	memset(memo, 0, sizeof(*memo));
}

static bool already_seen(struct discovery *d, uint64_t inode)
{
	for (size_t i = 0; i < d->nseen; i++)
		if (d->seen[i] == inode)
			return true;
	if (d->nseen < sizeof(d->seen) / sizeof(d->seen[0]))
		d->seen[d->nseen++] = inode;
	return false;
}

/*
 * Prefer /proc/PID/root/PATH, which also reaches into a container; fall back
 * to /proc/PID/map_files/ when that path now names another file (an
 * upgraded library) or none (deleted).
 */
/*
 * The kernel writes maps paths relative to the reader's root.  For a target
 * chrooted below it (unshare --root), cut that prefix off, leaving the path
 * as the target itself names it; for a pivot_root container the path is
 * already relative to the target's root.
 */
static const char *target_relative(const struct discovery *d, const char *path)
{
	size_t n = strlen(d->root);

	if (n && !strncmp(path, d->root, n) && path[n] == '/')
		return path + n;
	return path;
}

static int host_path_for(const struct discovery *d, const struct maps_entry *e, char *out,
			 size_t n)
{
	struct stat st;
	pid_t pid = d->pid;

	if (snprintf(out, n, "/proc/%d/root%s", (int)pid, target_relative(d, e->path)) >= (int)n)
		return -ENAMETOOLONG;
	if (!e->deleted && !stat(out, &st) && st.st_ino == e->inode &&
	    major(st.st_dev) == e->dev_major && minor(st.st_dev) == e->dev_minor)
		return 0;
	snprintf(out, n, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)pid, e->start, e->end);
	return stat(out, &st) ? -errno : 0;
}

/*
 * Is this a libzmq library of its own (libzmq.so.5, pyzmq's
 * libzmq-<hash>.so), by its SONAME or, without one, its file name?
 */
static bool is_libzmq_library(const char *path)
{
	char name[PATH_MAX];
	const char *slash;

	if (elf_soname(path, name, sizeof(name))) {
		slash = strrchr(path, '/');
		snprintf(name, sizeof(name), "%s", slash ? slash + 1 : path);
	}
	return !strncmp(name, "libzmq", 6);
}

static int visit_mapping(const struct maps_entry *e, void *arg)
{
	struct discovery *d = arg;
	struct zmq_object *o;
	int rc;

	if (!maps_is_exec(e) || !maps_is_file(e) || already_seen(d, e->inode))
		return 0;
	if (discovery_memo_has(d->old, e->inode)) {
		memo_add(d, e->inode);
		return 0;
	}
	if (d->n == d->max) {
		/* Examined only to be counted: a copy left unprobed is said, not hidden. */
		struct elf_symbol recv = { .name = zs_func_names[ZS_FN_MSG_RECV] };
		char host[PATH_MAX];

		if (!host_path_for(d, e, host, sizeof(host)) &&
		    elf_find_symbols(host, &recv, 1) >= 0) {
			if (recv.found)
				d->beyond++;
			else
				memo_add(d, e->inode);
		}
		return 0;
	}
	o = &d->out[d->n];
	memset(o, 0, sizeof(*o));
	rc = host_path_for(d, e, o->host_path, sizeof(o->host_path));
	if (rc) {
		if (!d->first_error)
			d->first_error = rc;
		return 0;
	}
	for (int f = 0; f < ZS_FN_COUNT; f++)
		o->syms[f].name = zs_func_names[f];
	rc = elf_find_symbols(o->host_path, o->syms, ZS_FN_COUNT);
	if (rc < 0) {
		if (rc != -ENOEXEC && !d->first_error)
			d->first_error = rc;
		if (rc == -ENOEXEC)
			memo_add(d, e->inode);
		return 0;
	}
	memo_add(d, e->inode);
	if (!o->syms[ZS_FN_MSG_RECV].found)
		return 0;
	libzmq_find_internals(o);
	/* Shorter than e->path once the chroot prefix is cut: copy the string, not the array. */
	snprintf(o->path, sizeof(o->path), "%s", target_relative(d, e->path));
	o->inode = e->inode;
	o->main_binary = !strcmp(e->path, d->exe);
	o->linked_in = o->main_binary || !is_libzmq_library(o->host_path);
	d->n++;
	return 0;
}

static void read_root(struct discovery *d, const char *root)
{
	char link[64];
	ssize_t len;

	if (root) {
		snprintf(d->root, sizeof(d->root), "%s", root);
	} else {
		snprintf(link, sizeof(link), "/proc/%d/root", (int)d->pid);
		len = readlink(link, d->root, sizeof(d->root) - 1);
		d->root[len > 0 ? len : 0] = '\0';
	}
	if (!strcmp(d->root, "/"))
		d->root[0] = '\0';
}

static int discover(pid_t pid, const char *root, struct discovery_memo *memo,
		    struct zmq_object *out, size_t max, size_t *beyond)
{
	struct discovery *d = calloc(1, sizeof(*d));
	char link[64];
	ssize_t len;
	int rc;

	if (!d)
		return -ENOMEM;
	d->pid = pid;
	d->out = out;
	d->max = max;
	d->old = memo;
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	len = readlink(link, d->exe, sizeof(d->exe) - 1);
	if (len > 0)
		d->exe[len] = '\0';
	read_root(d, root);
	rc = maps_for_each(pid, visit_mapping, d);
	if (rc == -ENOENT)
		rc = -ESRCH;
	else if (!rc && d->n)
		rc = (int)d->n;
	else if (!rc && (d->first_error == -EACCES || d->first_error == -EPERM))
		rc = -EACCES;
	else if (!rc && (d->first_error == -EMFILE || d->first_error == -ENFILE ||
			 d->first_error == -ENOMEM))
		rc = d->first_error; /* an object we could not open may be libzmq: not "none" */
	if (rc >= 0 && d->memo_error)
		rc = d->memo_error;
	if (beyond)
		*beyond = d->beyond;
	if (memo && rc >= 0) {
		discovery_memo_free(memo);
		*memo = d->next;
	} else {
		discovery_memo_free(&d->next);
	}
	free(d);
	return rc;
}

int find_zmq_objects_rooted(pid_t pid, const char *root, struct zmq_object *out, size_t max)
{
	return discover(pid, root, NULL, out, max, NULL);
}

int find_new_zmq_objects(pid_t pid, struct discovery_memo *memo, struct zmq_object *out,
			 size_t max, size_t *beyond)
{
	return discover(pid, NULL, memo, out, max, beyond);
}

int find_zmq_objects(pid_t pid, struct zmq_object *out, size_t max)
{
	return find_zmq_objects_rooted(pid, NULL, out, max);
}

struct loader_search {
	struct discovery d;
	struct elf_symbol *sym;
	char *path, *host_path;
	size_t pathlen, hostlen;
	bool found;
};

/* glibc's ld-linux-*.so.2 and ld.so, musl's ld-musl-*.so.1 */
static bool named_like_a_loader(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return !strncmp(base, "ld-", 3) || !strncmp(base, "ld.so", 5);
}

static int visit_loader_mapping(const struct maps_entry *e, void *arg)
{
	struct loader_search *ls = arg;

	if (ls->found || !maps_is_exec(e) || !maps_is_file(e) || !named_like_a_loader(e->path))
		return 0;
	if (host_path_for(&ls->d, e, ls->host_path, ls->hostlen) ||
	    elf_find_symbols(ls->host_path, ls->sym, 1) < 0 || !ls->sym->found)
		return 0;
	snprintf(ls->path, ls->pathlen, "%s", target_relative(&ls->d, e->path));
	ls->found = true;
	return 0;
}

int find_dynamic_loader(pid_t pid, struct elf_symbol *sym, char *path, size_t pathlen,
			char *host_path, size_t hostlen)
{
	struct loader_search *ls = calloc(1, sizeof(*ls));
	int rc;

	if (!ls)
		return -ENOMEM;
	ls->d.pid = pid;
	ls->sym = sym;
	ls->path = path;
	ls->pathlen = pathlen;
	ls->host_path = host_path;
	ls->hostlen = hostlen;
	read_root(&ls->d, NULL);
	rc = maps_for_each(pid, visit_loader_mapping, ls);
	if (!rc && !ls->found)
		rc = -ENOENT;
	free(ls);
	return rc;
}

int process_zmq_path(pid_t pid, char *path, size_t n)
{
	struct zmq_object *o = calloc(4, sizeof(*o));
	int rc;

	if (!o)
		return -ENOMEM;
	rc = find_zmq_objects(pid, o, 4);
	if (rc > 0)
		snprintf(path, n, "%.*s", (int)(n - 1), o[0].path);
	free(o);
	return rc;
}
