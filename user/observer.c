// SPDX-License-Identifier: MIT
#include "observer.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "call_sites.h"
#include "errmsg.h"
#include "exposition.h"
#include "fd_limit.h"
#include "json_writer.h"
#include "libzmq_internals.h"
#include "pinning.h"
#include "proc_files.h"
#include "metrics.h"
#include "observer_tap.h"
#include "wire_layer.h"
#include "probe_specs.h"
#include "proxy_users.h"
#include "zmqscope.skel.h"
#include "socket_table.h"
#include "socket_refine.h"
#include "library_watch.h"
#include "observer_attach.h"


/* Not in Debian 12's uapi headers (kernel 6.1); the values are ABI. */
#define ATTACH_TRACE_UPROBE_MULTI 48
#define ATTACH_TRACE_UPROBE_SESSION 57
#define UPROBE_MULTI_RETURN 1U

/* The uprobe_multi member of union bpf_attr's link_create (kernel >= 6.6). */
struct link_create_uprobe_multi {
	__u32 prog_fd;
	__u32 target_fd;
	__u32 attach_type;
	__u32 flags;
	__u64 path;
	__u64 offsets;
	__u64 ref_ctr_offsets;
	__u64 cookies;
	__u32 cnt;
	__u32 multi_flags;
	__u32 pid;
};

const char *probe_kind_suffix(enum probe_kind kind)
{
	switch (kind) {
	case PROBE_RETURN:
		return ":return";
	case PROBE_SESSION:
		return ":session";
	default:
		return "";
	}
}

static int quiet_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

static int verbose_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* ---- setup -------------------------------------------------------------- */

static int fill_role_maps(struct observer *ob)
{
	int by_type = bpf_map__fd(ob->skel->maps.role_by_type);
	int by_ep = bpf_map__fd(ob->skel->maps.role_by_endpoint);
	uint8_t roles[ZS_NTYPES + 1] = { 0 };

	roles[7] = ZS_ROLE_PULL;  /* PULL */
	roles[6] = ZS_ROLE_REPLY; /* ROUTER */
	roles[4] = ZS_ROLE_REPLY; /* REP */
	for (size_t i = 0; i < ob->opts->nroles; i++)
		if (ob->opts->roles[i].by_type)
			roles[ob->opts->roles[i].type] = ob->opts->roles[i].role;
	for (uint32_t t = 0; t <= ZS_NTYPES; t++)
		if (bpf_map_update_elem(by_type, &t, &roles[t], BPF_ANY))
			return -errno;
	for (size_t i = 0; i < ob->opts->nroles; i++) {
		char key[ZS_ENDPOINT_LEN] = { 0 };

		if (ob->opts->roles[i].by_type)
			continue;
		strncpy(key, ob->opts->roles[i].endpoint, sizeof(key) - 1);
		if (bpf_map_update_elem(by_ep, key, &ob->opts->roles[i].role, BPF_ANY))
			return -errno;
	}
	return 0;
}

/* Every map of ours under DIR/maps/NAME; libbpf reuses what is already there. */
static int set_map_pins(struct observer *ob)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, ob->skel->obj) {
		char path[PATH_MAX];
		int rc;

		if (bpf_map__is_internal(map))
			continue;
		snprintf(path, sizeof(path), "%s/maps/%s", ob->opts->pin_dir, bpf_map__name(map));
		rc = bpf_map__set_pin_path(map, path);
		if (rc)
			return rc;
	}
	return 0;
}

static int prepare_pin_dirs(const char *dir)
{
	char maps[PATH_MAX], links[PATH_MAX];

	snprintf(maps, sizeof(maps), "%s/maps", dir);
	snprintf(links, sizeof(links), "%s/links", dir);
	return pin_prepare(maps) ?: pin_prepare(links);
}

/* Does the running kernel's BTF name this type?  What it names tells what it can do. */
static bool vmlinux_defines(const char *name, int kind)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	bool found;

	if (libbpf_get_error(vmlinux))
		return false;
	found = btf__find_by_name_kind(vmlinux, name, kind) > 0;
	btf__free(vmlinux);
	return found;
}

/*
 * Uprobe sessions came with kernel 6.12, their kfunc is the sign; without
 * them zmq_getsockopt gets the classic pair.  uprobe_multi links came with
 * 6.6, their link type is the sign.
 */
static bool kernel_has_uprobe_sessions(void)
{
	return vmlinux_defines("bpf_session_is_return", BTF_KIND_FUNC);
}

static bool kernel_has_uprobe_multi(void)
{
	return vmlinux_defines("bpf_uprobe_multi_link", BTF_KIND_STRUCT);
}

/*
 * With uprobe_multi, every uprobe program is loaded for it: such a link
 * costs one fd where a perf-event uprobe costs two, and its release skips
 * the perf layer's global event_mutex, under which each perf uprobe waits
 * out its own RCU grace period, one at a time.
 */
static void choose_link_type(struct observer *ob)
{
	struct bpf_program *prog;

	if (!ob->multi)
		return;
	bpf_object__for_each_program(prog, ob->skel->obj)
		if (bpf_program__type(prog) == BPF_PROG_TYPE_KPROBE &&
		    bpf_program__expected_attach_type(prog) !=
			    (enum bpf_attach_type)ATTACH_TRACE_UPROBE_SESSION)
			bpf_program__set_expected_attach_type(
				prog, (enum bpf_attach_type)ATTACH_TRACE_UPROBE_MULTI);
}

/* Where the kernel has uprobe sessions, the entry decides whether a call's return traps. */
static void choose_session_programs(struct observer *ob)
{
	struct zmqscope_bpf *skel = ob->skel;
	struct bpf_program *session[] = { skel->progs.zmq_msg_send_session,
					  skel->progs.zmq_send_session,
					  skel->progs.zmq_msg_recv_session };
	struct bpf_program *pair[] = { skel->progs.zmq_msg_send_entry,
				       skel->progs.zmq_msg_send_return, skel->progs.zmq_send_entry,
				       skel->progs.zmq_send_return, skel->progs.zmq_msg_recv_entry,
				       skel->progs.zmq_msg_recv_return };

	for (size_t i = 0; i < sizeof(session) / sizeof(session[0]); i++) {
		if (ob->sessions)
			bpf_program__set_expected_attach_type(session[i],
							      ATTACH_TRACE_UPROBE_SESSION);
		else
			bpf_program__set_autoload(session[i], false);
	}
	for (size_t i = 0; ob->sessions && i < sizeof(pair) / sizeof(pair[0]); i++)
		bpf_program__set_autoload(pair[i], false);
	if (ob->sessions) {
		bpf_program__set_expected_attach_type(skel->progs.zmq_getsockopt_session,
						      ATTACH_TRACE_UPROBE_SESSION);
		bpf_program__set_autoload(skel->progs.zmq_getsockopt_entry, false);
		bpf_program__set_autoload(skel->progs.zmq_getsockopt_return, false);
		bpf_program__set_expected_attach_type(skel->progs.internal_recv_session,
						      ATTACH_TRACE_UPROBE_SESSION);
		bpf_program__set_autoload(skel->progs.internal_recv_entry_prog, false);
		bpf_program__set_autoload(skel->progs.internal_recv_return_prog, false);
		bpf_program__set_expected_attach_type(skel->progs.internal_send_session,
						      ATTACH_TRACE_UPROBE_SESSION);
		bpf_program__set_autoload(skel->progs.internal_send_entry, false);
	} else {
		bpf_program__set_autoload(skel->progs.zmq_getsockopt_session, false);
		bpf_program__set_autoload(skel->progs.internal_recv_session, false);
		bpf_program__set_autoload(skel->progs.internal_send_session, false);
	}
}

static int open_and_load(struct observer *ob)
{
	int rc;

	ob->skel = zmqscope_bpf__open();
	if (!ob->skel)
		return -errno;
	choose_session_programs(ob);
	choose_link_type(ob);
	/* Before 5.14 no syscall programs: pre-attach sockets and later layouts are then lost. */
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SYSCALL, NULL) != 1)
		bpf_program__set_autoload(ob->skel->progs.zs_fixup, false);
	if (ob->opts->max_sockets) {
		bpf_map__set_max_entries(ob->skel->maps.sockets, ob->opts->max_sockets);
		bpf_map__set_max_entries(ob->skel->maps.sock_slots, ob->opts->max_sockets);
		bpf_map__set_max_entries(ob->skel->maps.sock_free_slots, ob->opts->max_sockets);
	}
	observer_tap_configure(ob);
	if (ob->pinned) {
		rc = set_map_pins(ob);
		if (rc)
			return rc;
	}
	rc = zmqscope_bpf__load(ob->skel);
	return rc < 0 ? rc : rc ? -errno : 0;
}

/* The rings, the wire layer and the BPF object; each close is a no-op for what never opened. */
static void close_loaded_parts(struct observer *ob)
{
	library_watch_close(ob);
	observer_tap_close(ob);
	wire_layer_close(ob->wire);
	ob->wire = NULL;
	zmqscope_bpf__destroy(ob->skel);
	ob->skel = NULL;
}

int observer_open(struct observer *ob, const struct zs_options *opts, char *err, size_t errlen)
{
	int rc;

	memset(ob, 0, sizeof(*ob));
	ob->opts = opts;
	pthread_mutex_init(&ob->lock, NULL);
	link_reaper_init(&ob->reaper);
	clock_gettime(CLOCK_REALTIME, &ob->started);
	libbpf_set_print(opts->verbose ? verbose_libbpf : quiet_libbpf);

	ob->sessions = !opts->no_sessions && kernel_has_uprobe_sessions();
	ob->multi = kernel_has_uprobe_multi();
	if (opts->pin_dir[0]) {
		rc = prepare_pin_dirs(opts->pin_dir);
		if (rc) {
			errmsg(err, errlen, rc, "cannot prepare %s on bpffs: %s", opts->pin_dir,
			     strerror(-rc));
			return rc;
		}
		ob->pinned = true;
	}
	rc = open_and_load(ob);
	if (rc && ob->pinned && rc != -EPERM && rc != -EACCES) {
		/* Maps pinned by a zmqscope of another shape: their counters cannot carry over. */
		fprintf(stderr, "zmqscope: the maps pinned under %s do not fit this version; "
				"starting from zero\n", opts->pin_dir);
		zmqscope_bpf__destroy(ob->skel);
		pin_remove_tree(opts->pin_dir);
		rc = prepare_pin_dirs(opts->pin_dir) ?: open_and_load(ob);
	}
	if (rc) {
		if (rc == -EPERM || rc == -EACCES)
			errmsg(err, errlen, rc,
			       "permission denied loading BPF programs: run as root, or grant "
			     "CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE and CAP_SYS_CHROOT");
		else
			errmsg(err, errlen, rc,
			       "cannot load the BPF programs (%s): the kernel needs BTF and "
			     "uprobes; rerun with --verbose for the verifier's log",
			     strerror(-rc));
		goto fail;
	}
	rc = fill_role_maps(ob);
	if (rc) {
		errmsg(err, errlen, rc, "cannot configure the role maps: %s", strerror(-rc));
		goto fail;
	}
	if (opts->layers & ZS_LAYER_WIRE) {
		rc = wire_layer_open(&ob->wire, opts->verbose, err, errlen);
		if (rc)
			goto fail;
	}
	rc = observer_tap_open(ob);
	if (rc) {
		errmsg(err, errlen, rc, "cannot set up the payload tap's ring buffer: %s; "
			     "--no-lmcache-state runs without it", strerror(-rc));
		goto fail;
	}
	rc = library_watch_open(ob);
	if (rc) {
		errmsg(err, errlen, rc, "cannot set up the library watch's ring buffer: %s",
		       strerror(-rc));
		goto fail;
	}
	return 0;
fail:
	close_loaded_parts(ob);
	return rc;
}

/* ---- attach ------------------------------------------------------------- */

static struct bpf_program *program_named(struct observer *ob, const char *name)
{
	return bpf_object__find_program_by_name(ob->skel->obj, name);
}

/* A uprobe_multi link (entry, return or session) on one function of one process; fd or -errno. */
static int attach_multi(struct bpf_program *prog, enum probe_kind kind, pid_t pid,
			const char *path, uint64_t offset, uint64_t cookie)
{
	union {
		struct link_create_uprobe_multi lc;
		union bpf_attr attr; /* the kernel wants the whole union's size */
	} a;
	__u64 offsets[1] = { offset }, cookies[1] = { cookie };
	int fd;

	memset(&a, 0, sizeof(a));
	a.lc.prog_fd = (__u32)bpf_program__fd(prog);
	a.lc.attach_type =
		kind == PROBE_SESSION ? ATTACH_TRACE_UPROBE_SESSION : ATTACH_TRACE_UPROBE_MULTI;
	a.lc.multi_flags = kind == PROBE_RETURN ? UPROBE_MULTI_RETURN : 0;
	a.lc.path = (__u64)(uintptr_t)path;
	a.lc.offsets = (__u64)(uintptr_t)offsets;
	a.lc.cookies = (__u64)(uintptr_t)cookies;
	a.lc.cnt = 1;
	a.lc.pid = (__u32)pid;
	fd = (int)syscall(__NR_bpf, BPF_LINK_CREATE, &a, sizeof(a));
	return fd < 0 ? -errno : fd;
}

/* Where a function's probe goes (probe_site.h); -EIO, and no skip, if its code cannot be read. */
static int read_probe_site(const char *host_path, const struct elf_symbol *sym,
			   struct probe_site *site)
{
	uint8_t code[16] = { 0 };

	memset(site, 0, sizeof(*site));
	if (elf_read_at(host_path, sym->file_offset, code, sizeof(code)))
		return -EIO;
	probe_site_choose(code, sizeof(code), site);
	return 0;
}

/*
 * Attaches `program` at a function's first instruction worth probing.  A
 * pinned daemon adopts the link an earlier one left at `pin` (after a
 * SIGKILL) instead of attaching twice, and pins what it attaches.
 */
void attach_at(struct observer *ob, pid_t pid, const char *host_path, const char *target_path,
	       const struct elf_symbol *sym, const char *program, enum probe_kind kind,
	       uint64_t cookie, const char *pin, struct probe_link *p)
{
	struct bpf_program *prog = program_named(ob, program);
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = kind == PROBE_RETURN, .bpf_cookie = cookie);

	p->function = sym->name;
	p->program = program;
	p->kind = kind;
	p->fd = -1;
	read_probe_site(host_path, sym, &p->site);
	p->offset = sym->file_offset + p->site.skip;
	if (pin) {
		snprintf(p->pin, sizeof(p->pin), "%s", pin);
		p->fd = bpf_obj_get(pin);
		p->adopted = p->fd >= 0;
	}
	if (!p->adopted && (kind == PROBE_SESSION || ob->multi)) {
		p->fd = attach_multi(prog, kind, pid, host_path, p->offset, cookie);
		p->error = p->fd < 0 ? p->fd : 0;
	} else if (!p->adopted) {
		p->fd = -1;
		p->link = bpf_program__attach_uprobe_opts(prog, pid, host_path, p->offset, &uo);
		p->error = p->link ? 0 : -errno;
	}
	if (probe_link_attached(p) && pin && !p->adopted &&
	    bpf_obj_pin(p->link ? bpf_link__fd(p->link) : p->fd, pin))
		p->pin[0] = '\0'; /* counting works; only the crash survival is lost */
	if (ob->opts->verbose)
		fprintf(stderr, "zmqscope: pid %d %s%s at %s+0x%" PRIx64 " (%s, %s): %s\n",
			(int)pid, p->function, probe_kind_suffix(kind), target_path, p->offset,
			p->site.insn, probe_cost_name(p->site.cost),
			p->adopted ? "adopted" : probe_link_attached(p) ? "attached"
									 : strerror(-p->error));
}

const char *link_pin(struct observer *ob, const struct target *t, const char *name, char *buf,
		     size_t n)
{
	char dir[PATH_MAX];

	if (!ob->pinned)
		return NULL;
	pin_link_dir(ob->opts->pin_dir, t->pid, t->start_time, dir, sizeof(dir));
	if (mkdir(dir, 0700) && errno != EEXIST)
		return NULL;
	if (snprintf(buf, n, "%s/%s", dir, name) >= (int)n)
		return NULL;
	return buf;
}

static bool is_public_send_or_recv(enum zs_func fn)
{
	return fn == ZS_FN_MSG_RECV || fn == ZS_FN_RECV || fn == ZS_FN_MSG_SEND ||
	       fn == ZS_FN_SEND || fn == ZS_FN_SEND_CONST;
}

static void attach_probe(struct observer *ob, const struct target *t,
			 struct attached_object *ao, const struct probe_spec *spec, bool proxy_probes)
{
	const struct elf_symbol *sym = &ao->obj.syms[spec->fn];
	char name[96], buf[PATH_MAX];
	uint64_t cookie = 0;

	/* libzmq's internal send and receive: only what a proxy moves needs them. */
	if ((spec->fn == ZS_FN_INTERNAL_SEND || spec->fn == ZS_FN_INTERNAL_RECV) != proxy_probes)
		return;
	if (ao->carried && is_public_send_or_recv(spec->fn))
		return;
	if (ao->carried && spec->fn == ZS_FN_INTERNAL_RECV)
		cookie = ao->rx_cookie;
	else if (ao->carried && spec->fn == ZS_FN_INTERNAL_SEND)
		cookie = ao->tx_cookie;
	if (!sym->found || ao->nprobes == ZS_MAX_PROBES ||
	    (spec->when == PROBE_WITH_SESSIONS && !ob->sessions) ||
	    (spec->when == PROBE_WITHOUT_SESSIONS && ob->sessions))
		return;
	snprintf(name, sizeof(name), "%u-%s%s", ao->id, sym->name,
		 spec->kind == PROBE_RETURN    ? "-return"
		 : spec->kind == PROBE_SESSION ? "-session"
					       : "");
	attach_at(ob, t->pid, ao->obj.host_path, ao->obj.path, sym, spec->program, spec->kind,
		  cookie, link_pin(ob, t, name, buf, sizeof(buf)), &ao->probes[ao->nprobes++]);
}

/* The call_sites cookie for one internal function, probed where attach_at() will put it. */
static int claim_call_sites(struct observer *ob, const struct attached_object *ao,
			    enum zs_func fn, const struct public_calls *pc, uint64_t *cookie)
{
	const struct elf_symbol *sym = &ao->obj.syms[fn];
	struct zs_call_sites cs;
	struct probe_site site;
	int rc;

	rc = read_probe_site(ao->obj.host_path, sym, &site);
	if (!rc)
		rc = call_sites_entry(pc, sym->vaddr + site.skip, &cs);
	return rc ?: call_sites_claim(bpf_map__fd(ob->skel->maps.call_sites), &cs, cookie);
}

/*
 * Whether the internal probes can carry this library's public sends and
 * receives, which then take no probe of their own: one trap per call, not
 * two.  That needs sessions (a blocking send must skip its return trap, as
 * the public session's does) and every public call site known.
 */
static bool carry_public_calls(struct observer *ob, struct attached_object *ao)
{
	const struct zmq_object *o = &ao->obj;
	int rc;

	if (!ob->sessions || !o->syms[ZS_FN_INTERNAL_RECV].found ||
	    !o->syms[ZS_FN_INTERNAL_SEND].found)
		return false;
	rc = claim_call_sites(ob, ao, ZS_FN_INTERNAL_RECV, &o->rx_calls, &ao->rx_cookie);
	if (!rc)
		rc = claim_call_sites(ob, ao, ZS_FN_INTERNAL_SEND, &o->tx_calls, &ao->tx_cookie);
	if (rc && ob->opts->verbose)
		fprintf(stderr, "zmqscope: %s: public sends and receives keep their own probes (%s)\n",
			o->path, strerror(-rc));
	return !rc;
}

/*
 * --handler ROLE=PATH:SYMBOL: PATH as the target sees it, so a binary inside
 * a container is found through /proc/PID/root like libzmq is.
 */
static int attach_handlers(struct observer *ob, struct target *t, char *err, size_t errlen)
{
	for (size_t i = 0; i < ob->opts->nhandlers; i++) {
		const struct zs_handler_spec *h = &ob->opts->handlers[i];
		struct elf_symbol sym = { .name = h->symbol };
		char host_path[PATH_MAX + 32];
		int rc;

		if (snprintf(host_path, sizeof(host_path), "/proc/%d/root%s", (int)t->pid,
			     h->path) >= (int)sizeof(host_path))
			return errmsg(err, errlen, -ENAMETOOLONG, "--handler path too long: %s", h->path);
		rc = elf_find_symbols(host_path, &sym, 1);
		if (rc < 0)
			return errmsg(err, errlen, rc, "--handler %s: cannot read %s in process %d: %s",
				    h->symbol, h->path, (int)t->pid, strerror(-rc));
		if (!sym.found)
			return errmsg(err, errlen, -ENOENT,
				      "--handler: %s defines no function '%s' (check the name with "
				      "'nm -D' or 'nm')",
				      h->path, h->symbol);
		for (int ret = 0; ret < 2; ret++) {
			struct probe_link *p = &t->handlers[t->nhandlers++];
			char name[320], buf[PATH_MAX];

			snprintf(name, sizeof(name), "handler%zu-%s%s", i, h->symbol,
				 ret ? "-return" : "");
			attach_at(ob, t->pid, host_path, h->path, &sym,
				  ret ? "handler_return" : "handler_entry",
				  ret ? PROBE_RETURN : PROBE_ENTRY, h->role,
				  link_pin(ob, t, name, buf, sizeof(buf)), p);
			/* sym.name points into opts, which outlives the target. */
			if (!probe_link_attached(p))
				return errmsg(err, errlen, p->error, "--handler %s:%s in process %d: %s", h->path,
					    h->symbol, (int)t->pid, strerror(-p->error));
		}
	}
	return 0;
}

/*
 * Detaches a probe; a pinned one is unpinned first, or the pin would keep
 * it.  The kernel's slow part goes to the reaper thread.
 */
void detach_link(struct observer *ob, struct probe_link *p, double delay)
{
	if (p->pin[0])
		unlink(p->pin);
	p->pin[0] = '\0';
	link_reaper_put(&ob->reaper, p->link, p->fd, delay);
	p->link = NULL;
	p->fd = -1;
}

/* Two copies of libzmq in one process must agree, or their sockets would be misread. */
static struct zmq_layout merge_layouts(const struct target *t)
{
	struct zmq_layout l = t->objs[0].cal.layout;

	for (size_t i = 1; i < t->nobjs; i++) {
		const struct zmq_layout *o = &t->objs[i].cal.layout;

		if (o->type_off != l.type_off)
			l.type_off = -1;
		if (o->tag_off != l.tag_off)
			l.tag_off = -1;
		if (o->endpoint_off != l.endpoint_off)
			l.endpoint_off = -1;
	}
	return l;
}

/*
 * Deletes every entry of a map whose key starts with this tgid (all the
 * per-process maps are keyed that way).  Deleting the key a walk stands on
 * restarts the walk, so collect first, then delete.
 */
static void forget_keys_of(int fd, size_t key_size, size_t max, uint32_t tgid)
{
	char *doomed = calloc(max, key_size), cursor[64], next[64];
	bool first = true;
	size_t n = 0;

	if (!doomed || key_size > sizeof(cursor)) {
		free(doomed);
		return;
	}
	while (n < max && !bpf_map_get_next_key(fd, first ? NULL : cursor, next)) {
		uint32_t key_tgid;

		first = false;
		memcpy(cursor, next, key_size);
		memcpy(&key_tgid, next, sizeof(key_tgid));
		if (key_tgid == tgid)
			memcpy(doomed + n++ * key_size, next, key_size);
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(fd, doomed + i * key_size);
	free(doomed);
}

static void forget_process_maps(struct observer *ob, uint32_t tgid)
{
	struct zmqscope_bpf *skel = ob->skel;

	bpf_map_delete_elem(bpf_map__fd(skel->maps.targets), &tgid);
	socket_table_forget(&SOCKET_TABLE_OF(skel), tgid, bpf_map__max_entries(skel->maps.sockets));
	forget_keys_of(bpf_map__fd(skel->maps.msg_types), sizeof(struct zs_msg_type_key),
		       ZS_MAX_MSG_TYPES, tgid);
	forget_keys_of(bpf_map__fd(skel->maps.sock_type_msgs), sizeof(struct zs_sock_type_key),
		       ZS_MAX_SOCK_TYPES, tgid);
	forget_keys_of(bpf_map__fd(skel->maps.hists), sizeof(struct zs_hist_key), ZS_MAX_HISTS,
		       tgid);
}

static void detach_target(struct observer *ob, struct target *t, double delay)
{
	for (size_t i = 0; i < t->nobjs; i++)
		for (size_t p = 0; p < t->objs[i].nprobes; p++)
			detach_link(ob, &t->objs[i].probes[p], delay);
	if (probe_link_attached(&t->loader_hook))
		detach_link(ob, &t->loader_hook, delay);
	for (size_t i = 0; i < t->nhandlers; i++)
		detach_link(ob, &t->handlers[i], delay);
	wire_layer_detach(ob->wire, t->pid);
	if (ob->pinned) {
		char dir[PATH_MAX];

		pin_link_dir(ob->opts->pin_dir, t->pid, t->start_time, dir, sizeof(dir));
		pin_remove_tree(dir);
	}
}

void release_object(struct observer *ob, struct attached_object *ao, double delay)
{
	for (size_t p = 0; p < ao->nprobes; p++)
		detach_link(ob, &ao->probes[p], delay);
	ao->nprobes = 0;
	calibration_release(&ao->cal);
}

/* What the target struct owns besides its links. */
static void target_release_memory(struct target *t)
{
	for (size_t i = 0; i < t->nobjs; i++)
		calibration_release(&t->objs[i].cal);
	free(t->objs);
	t->objs = NULL;
	t->nobjs = 0;
	discovery_memo_free(&t->memo);
	free(t->loader_path);
	t->loader_path = NULL;
	observer_tap_target_free(t);
}

static void target_free(struct observer *ob, struct target *t)
{
	detach_target(ob, t, 0);
	target_release_memory(t);
	if (ob->skel)
		forget_process_maps(ob, (uint32_t)t->pid);
	wire_layer_forget(ob->wire, t->pid);
	free(t);
}

/* The one-line error for what find_zmq_objects() or process_identity() returned. */
static int describe_discovery_error(int rc, pid_t pid, char *err, size_t errlen)
{
	switch (rc) {
	case -ESRCH:
		return errmsg(err, errlen, rc,
			      "no process with pid %d; check the pid with 'zmqscope list'", (int)pid);
	case -EACCES:
	case -EPERM:
		return errmsg(err, errlen, rc,
			      "permission denied reading process %d's memory map: run as root "
			      "or with CAP_SYS_PTRACE",
			      (int)pid);
	case 0:
		return errmsg(err, errlen, -ENOENT,
			      "process %d does not map libzmq (no object defines zmq_msg_recv); "
			      "'zmqscope list' shows the processes that do",
			      (int)pid);
	case -EMFILE:
	case -ENFILE:
		return fd_limit_describe(rc, pid, err, errlen);
	default:
		return errmsg(err, errlen, rc, "cannot inspect process %d: %s", (int)pid,
			      strerror(-rc));
	}
}

/* Removes target i from the list and forgets everything about it. */
static void remove_target(struct observer *ob, size_t i)
{
	target_free(ob, ob->targets[i]);
	memmove(&ob->targets[i], &ob->targets[i + 1],
		(ob->ntargets - i - 1) * sizeof(ob->targets[0]));
	ob->ntargets--;
}

static int add_target(struct observer *ob, struct target *t)
{
	struct target **grown;

	pthread_mutex_lock(&ob->lock);
	/* An exited process with this pid is kept until its TTL: it goes now. */
	for (size_t i = 0; i < ob->ntargets; i++)
		if (ob->targets[i]->pid == t->pid && ob->targets[i] != t)
			remove_target(ob, i--);
	grown = realloc(ob->targets, (ob->ntargets + 1) * sizeof(*grown));
	if (grown) {
		ob->targets = grown;
		ob->targets[ob->ntargets++] = t;
		observer_tap_target_added(ob, t);
	}
	pthread_mutex_unlock(&ob->lock);
	return grown ? 0 : -ENOMEM;
}

bool observer_is_attached(struct observer *ob, pid_t pid, uint64_t start_time)
{
	bool found = false;

	pthread_mutex_lock(&ob->lock);
	for (size_t i = 0; i < ob->ntargets && !found; i++)
		found = ob->targets[i]->pid == pid && ob->targets[i]->up &&
			(!start_time || ob->targets[i]->start_time == start_time);
	pthread_mutex_unlock(&ob->lock);
	return found;
}

/*
 * Puts the process in `targets` for the programs.  Pinned maps may already
 * hold this very process (same start time): a restarted daemon carries its
 * counters on and only refreshes the configuration.  State of an earlier
 * process with this pid must not leak into this one.
 */
static int register_in_bpf(struct observer *ob, struct target *t)
{
	int fd = bpf_map__fd(ob->skel->maps.targets);
	struct zs_target bt = { 0 };
	uint32_t tgid = (uint32_t)t->pid;

	t->carried_on = true;
	if (bpf_map_lookup_elem(fd, &tgid, &bt) || bt.start_time != t->start_time) {
		forget_process_maps(ob, tgid);
		memset(&bt, 0, sizeof(bt));
		t->carried_on = false;
	}
	bt.start_time = t->start_time;
	bt.cfg.type_off = t->layout.type_off;
	bt.cfg.tag_off = t->layout.tag_off;
	bt.cfg.endpoint_off = t->layout.endpoint_off;
	bt.cfg.max_msg_types = ob->opts->max_msg_types;
	bt.cfg.explicit_roles = 0;
	bt.cfg.tap = t->state ? ZS_TAP_ON : 0;
	for (size_t i = 0; i < ob->opts->nhandlers; i++)
		bt.cfg.explicit_roles |= 1U << ob->opts->handlers[i].role;
	if (bpf_map_update_elem(fd, &tgid, &bt, BPF_ANY))
		return -errno;
	return 0;
}

size_t attach_object(struct observer *ob, const struct target *t, size_t obj_index)
{
	struct attached_object *ao = (struct attached_object *)&t->objs[obj_index];
	size_t attached = 0;

	ao->carried = t->may_proxy && carry_public_calls(ob, ao);
	for (size_t s = 0; s < probe_spec_count; s++)
		attach_probe(ob, t, ao, &probe_specs[s], false);
	if (t->may_proxy)
		attach_proxy_probes(ob, t, obj_index);
	for (size_t p = 0; p < ao->nprobes; p++)
		attached += probe_link_attached(&ao->probes[p]);
	return attached;
}

void attach_proxy_probes(struct observer *ob, const struct target *t, size_t obj_index)
{
	struct attached_object *ao = (struct attached_object *)&t->objs[obj_index];

	for (size_t s = 0; s < probe_spec_count; s++)
		attach_probe(ob, t, ao, &probe_specs[s], true);
}

void calibrate_object(const struct observer *ob, pid_t pid, struct attached_object *ao,
		      bool fresh)
{
	const struct elf_symbol *version = &ao->obj.syms[ZS_FN_VERSION];

	(fresh ? calibrate_library_fresh : calibrate_library)(
		pid, ao->obj.path, ao->obj.host_path, ao->obj.inode,
		version->found ? version->file_offset : 0, &ao->cal);
	if (ob->opts->verbose)
		calibration_log(pid, ao->obj.path, &ao->cal);
}

static int attach_pid(struct observer *ob, pid_t pid, bool fresh, char *err, size_t errlen)
{
	bool app = ob->opts->layers & ZS_LAYER_APP;
	struct discovery_memo memo = { 0 };
	struct zmq_object *objs;
	struct target *t;
	size_t attached = 0, beyond = 0;
	int n, rc;

	if (observer_is_attached(ob, pid, 0))
		return 0;
	rc = fd_limit_room_for_target();
	if (rc)
		return fd_limit_describe(rc, pid, err, errlen);
	objs = calloc(ZS_MAX_OBJECTS, sizeof(*objs));
	if (!objs)
		return errmsg(err, errlen, -ENOMEM, "out of memory");
	n = find_new_zmq_objects(pid, &memo, objs, ZS_MAX_OBJECTS, &beyond);
	t = n > 0 ? calloc(1, sizeof(*t)) : NULL;
	if (t)
		t->objs = calloc((size_t)n, sizeof(*t->objs));
	if (n <= 0 || !t || !t->objs) {
		free(objs);
		discovery_memo_free(&memo);
		if (t)
			free(t->objs);
		free(t);
		if (n <= 0)
			return describe_discovery_error(n, pid, err, errlen);
		return errmsg(err, errlen, -ENOMEM, "out of memory");
	}
	t->pid = pid;
	t->memo = memo;
	t->loader_hook.fd = -1;
	rc = process_identity(pid, &t->start_time, t->comm, sizeof(t->comm));
	if (rc) {
		free(objs);
		target_release_memory(t);
		free(t);
		return describe_discovery_error(rc, pid, err, errlen);
	}
	t->exe_inode = process_exe_inode(pid);
	t->vmlib_kb = process_vmlib_kb(pid);
	for (int i = 0; i < n; i++) {
		struct attached_object *ao = &t->objs[t->nobjs++];

		ao->id = t->next_obj_id++;
		ao->obj = objs[i];
		calibrate_object(ob, pid, ao, fresh);
	}
	free(objs);
	library_watch_count_unprobed(t, beyond);
	t->layout = merge_layouts(t);
	/* The process must be known to the programs before the first hit. */
	observer_tap_target_init(ob, t);
	rc = register_in_bpf(ob, t);
	if (rc) {
		target_release_memory(t);
		free(t);
		__atomic_fetch_add(&ob->targets_update_failures, 1, __ATOMIC_RELAXED);
		if (rc == -E2BIG) /* what a full hash map answers */
			return errmsg(err, errlen, rc,
				      "cannot attach process %d: the targets map is full (%u processes "
				      "attached, the most zmqscope observes at once)",
				      (int)pid, bpf_map__max_entries(ob->skel->maps.targets));
		return errmsg(err, errlen, rc, "cannot register process %d in the BPF map: %s", (int)pid,
			    strerror(-rc));
	}
	t->may_proxy = app && process_may_run_proxy(pid, t);
	for (size_t i = 0; app && i < t->nobjs; i++)
		attached += attach_object(ob, t, i);
	if (app && !attached) {
		rc = t->objs[0].nprobes ? t->objs[0].probes[0].error : -ENOENT;
		if (kill(pid, 0) && errno == ESRCH)
			describe_discovery_error(-ESRCH, pid, err, errlen);
		else if (fd_limit_hit(rc))
			fd_limit_describe(rc, pid, err, errlen);
		else
			errmsg(err, errlen, rc, "cannot attach uprobes to process %d (%s): %s", (int)pid,
			     t->objs[0].obj.path,
			     rc == -EPERM || rc == -EACCES
				     ? "permission denied; run as root or with CAP_PERFMON"
				     : strerror(-rc));
		target_free(ob, t);
		return rc ? rc : -EIO;
	}
	if (app)
		library_watch_hook(ob, t);
	rc = app ? attach_handlers(ob, t, err, errlen) : 0;
	if (!rc)
		rc = wire_layer_attach(ob->wire, pid, err, errlen);
	if (rc) {
		target_free(ob, t);
		return rc;
	}
	t->up = true;
	/* Probes first, then the sockets found before them: none falls in between. */
	refine_insert_found(ob, t);
	rc = add_target(ob, t);
	if (rc) {
		target_free(ob, t);
		return errmsg(err, errlen, rc, "out of memory");
	}
	return 0;
}

int observer_attach_pid(struct observer *ob, pid_t pid, char *err, size_t errlen)
{
	return attach_pid(ob, pid, false, err, errlen);
}

int observer_attach_fresh_pid(struct observer *ob, pid_t pid, char *err, size_t errlen)
{
	return attach_pid(ob, pid, true, err, errlen);
}

/* Unreadable without CAP_SYS_PTRACE (after --user): then start time alone decides. */
static bool same_executable(const struct target *t)
{
	uint64_t now = process_exe_inode(t->pid);

	return !now || !t->exe_inode || now == t->exe_inode;
}

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

void observer_forget_image(struct observer *ob, pid_t pid)
{
	pthread_mutex_lock(&ob->lock);
	/* Its counters, start time and all, would otherwise pass for the new image's. */
	for (size_t i = 0; i < ob->ntargets; i++)
		if (ob->targets[i]->pid == pid)
			remove_target(ob, i--);
	pthread_mutex_unlock(&ob->lock);
}

void observer_check_targets(struct observer *ob)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&ob->lock);
	for (size_t i = 0; i < ob->ntargets; i++) {
		struct target *t = ob->targets[i];
		uint64_t start = 0;

		if (!t->up) {
			/* Its last values stay visible, with target_up 0, until the TTL. */
			if (seconds_between(&t->exited_at, &now) >= ob->opts->ttl_seconds)
				remove_target(ob, i--);
			continue;
		}
		/* The same start time and executable: the same process. */
		if (process_identity(t->pid, &start, NULL, 0) == 0 && start == t->start_time &&
		    same_executable(t))
			continue;
		/* Gone, or the pid now names another process. */
		t->up = false;
		t->exited_at = now;
		detach_target(ob, t, EXITED_LINK_GRACE_SECONDS);
	}
	pthread_mutex_unlock(&ob->lock);
}

/*
 * After the first attach of a pinned daemon: links an earlier daemon left
 * for processes that are gone or no longer selected are detached, and map
 * state of processes no longer attached is dropped.
 */
static void drop_stale_link_dir(pid_t pid, uint64_t start_time, const char *path, void *arg)
{
	struct observer *ob = arg;

	if (!observer_is_attached(ob, pid, start_time))
		pin_remove_tree(path);
}

void observer_drop_stale_pins(struct observer *ob)
{
	int fd = bpf_map__fd(ob->skel->maps.targets);
	uint32_t key, next, stale[ZS_MAX_TARGETS];
	bool first = true;
	size_t n = 0;

	if (!ob->pinned)
		return;
	pin_for_each_link_dir(ob->opts->pin_dir, drop_stale_link_dir, ob);
	while (n < ZS_MAX_TARGETS && !bpf_map_get_next_key(fd, first ? NULL : &key, &next)) {
		first = false;
		key = next;
		if (!observer_is_attached(ob, (pid_t)next, 0))
			stale[n++] = next;
	}
	for (size_t i = 0; i < n; i++)
		forget_process_maps(ob, stale[i]);
}

void observer_close(struct observer *ob)
{
	/* Probes go; a pinned daemon's maps stay, so a restart keeps counting on. */
	for (size_t i = 0; i < ob->ntargets; i++) {
		struct target *t = ob->targets[i];

		detach_target(ob, t, 0);
		target_release_memory(t);
		free(t);
	}
	free(ob->targets);
	ob->targets = NULL;
	ob->ntargets = 0;
	/* `stop` reports the probes gone only once they are. */
	link_reaper_stop(&ob->reaper);
	close_loaded_parts(ob);
	pthread_mutex_destroy(&ob->lock);
}
