// SPDX-License-Identifier: MIT
#include "wire_layer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "wire.skel.h"

struct wire_layer {
	struct wire_bpf *skel;
	struct bpf_link *exit;
	const char *mechanism;
};

/*
 * Which program kind this kernel takes is found by trying: tp_btf first
 * (BTF-typed, the cheaper entry), then a plain raw tracepoint.  fentry on
 * the syscall functions would be cheaper still, but is refused here (EPERM)
 * and would need one program per syscall.
 */
static int try_mechanism(struct wire_layer *wl, bool btf)
{
	struct wire_bpf *skel = wire_bpf__open();
	struct bpf_program *exit;
	int rc;

	if (!skel)
		return -errno;
	bpf_program__set_autoload(btf ? skel->progs.wire_exit_raw : skel->progs.wire_exit_btf,
				  false);
	exit = btf ? skel->progs.wire_exit_btf : skel->progs.wire_exit_raw;
	rc = wire_bpf__load(skel);
	if (rc) {
		rc = rc < 0 ? rc : -errno;
		goto fail;
	}
	wl->exit = btf ? bpf_program__attach(exit)
		       : bpf_program__attach_raw_tracepoint(exit, "sys_exit");
	if (!wl->exit) {
		rc = -errno;
		goto fail;
	}
	wl->skel = skel;
	wl->mechanism = btf ? "tp_btf (sys_exit)" : "raw_tp (sys_exit)";
	return 0;
fail:
	wire_bpf__destroy(skel);
	return rc;
}

/*
 * ZMQSCOPE_WIRE_MECHANISM=raw_tp (or tp_btf) lets only that kind be tried:
 * how the tests reach the fallback on a kernel that takes both.
 */
static int try_allowed_mechanism(struct wire_layer *wl, bool btf)
{
	const char *only = getenv(WIRE_MECHANISM_ENV);

	if (only && strcmp(only, btf ? "tp_btf" : "raw_tp"))
		return -ECANCELED;
	return try_mechanism(wl, btf);
}

int wire_layer_open(struct wire_layer **out, bool verbose, char *err, size_t errlen)
{
	struct wire_layer *wl = calloc(1, sizeof(*wl));
	int rc_btf, rc;

	*out = NULL;
	if (!wl)
		return errmsg(err, errlen, -ENOMEM, "out of memory");
	rc_btf = try_allowed_mechanism(wl, true);
	rc = rc_btf ? try_allowed_mechanism(wl, false) : 0;
	if (rc) {
		free(wl);
		return errmsg(err, errlen, rc,
			      "--layer wire: the kernel took neither tp_btf (%s) nor raw_tp (%s) "
			      "programs on sys_exit; use --layer app",
			      strerror(-rc_btf), strerror(-rc));
	}
	if (verbose)
		fprintf(stderr, "zmqscope: wire layer attached as %s\n", wl->mechanism);
	*out = wl;
	return 0;
}

void wire_layer_close(struct wire_layer *wl)
{
	if (!wl)
		return;
	bpf_link__destroy(wl->exit);
	wire_bpf__destroy(wl->skel);
	free(wl);
}

const char *wire_layer_mechanism(const struct wire_layer *wl)
{
	return wl ? wl->mechanism : "off";
}

int wire_layer_attach(struct wire_layer *wl, pid_t pid, char *err, size_t errlen)
{
	uint32_t tgid = (uint32_t)pid, opened = 0;

	if (!wl)
		return 0;
	wire_layer_forget(wl, pid); /* an earlier process with this pid */
	if (tgid >= ZS_WIRE_TGID_WORDS * 64)
		return errmsg(err, errlen, -ERANGE, "process %d: pid above PID_MAX_LIMIT", (int)pid);
	if (bpf_map_update_elem(bpf_map__fd(wl->skel->maps.wire_targets), &tgid, &opened,
				BPF_ANY))
		return errmsg(err, errlen, -errno, "cannot register process %d for the wire layer: %s",
			      (int)pid, strerror(errno));
	/* The programs look at the bit; the map entry is there before it. */
	__atomic_fetch_or(&wl->skel->bss->wire_target_bits[tgid / 64], 1ULL << (tgid % 64),
			  __ATOMIC_SEQ_CST);
	return 0;
}

void wire_layer_detach(struct wire_layer *wl, pid_t pid)
{
	uint32_t tgid = (uint32_t)pid;

	if (!wl || tgid >= ZS_WIRE_TGID_WORDS * 64)
		return;
	__atomic_fetch_and(&wl->skel->bss->wire_target_bits[tgid / 64], ~(1ULL << (tgid % 64)),
			   __ATOMIC_SEQ_CST);
	bpf_map_delete_elem(bpf_map__fd(wl->skel->maps.wire_targets), &tgid);
}

/* Every key of the map, and its value, into arrays; the count. */
static size_t read_all(int fd, size_t ksz, size_t vsz, void **keys, void **vals)
{
	char cursor[256], next[256];
	size_t n = 0, cap = 0;
	bool first = true;

	*keys = *vals = NULL;
	if (ksz > sizeof(cursor))
		return 0;
	while (!bpf_map_get_next_key(fd, first ? NULL : cursor, next)) {
		first = false;
		memcpy(cursor, next, ksz);
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			void *k = realloc(*keys, ncap * ksz), *v;

			if (!k)
				break;
			*keys = k;
			v = realloc(*vals, ncap * vsz);
			if (!v)
				break;
			*vals = v;
			cap = ncap;
		}
		if (bpf_map_lookup_elem(fd, next, (char *)*vals + n * vsz))
			continue;
		memcpy((char *)*keys + n * ksz, next, ksz);
		n++;
	}
	return n;
}

/* Deletes the entries whose key starts with this tgid (every wire key does). */
static void forget_in(int fd, size_t ksz, uint32_t tgid)
{
	char cursor[256], next[256], *doomed = NULL;
	size_t m = 0, cap = 0;
	bool first = true;

	/* Deleting the key a walk stands on restarts it: collect first. */
	while (ksz <= sizeof(cursor) && !bpf_map_get_next_key(fd, first ? NULL : cursor, next)) {
		uint32_t key_tgid;

		first = false;
		memcpy(cursor, next, ksz);
		memcpy(&key_tgid, next, sizeof(key_tgid));
		if (key_tgid != tgid)
			continue;
		if (m == cap) {
			char *g = realloc(doomed, (cap ? cap * 2 : 64) * ksz);

			if (!g)
				break;
			doomed = g;
			cap = cap ? cap * 2 : 64;
		}
		memcpy(doomed + m++ * ksz, next, ksz);
	}
	for (size_t i = 0; i < m; i++)
		bpf_map_delete_elem(fd, doomed + i * ksz);
	free(doomed);
}

void wire_layer_forget(struct wire_layer *wl, pid_t pid)
{
	struct wire_bpf *skel;
	uint32_t tgid = (uint32_t)pid;

	if (!wl)
		return;
	skel = wl->skel;
	wire_layer_detach(wl, pid);
	forget_in(bpf_map__fd(skel->maps.wire_conns), sizeof(struct zs_wire_conn_key), tgid);
	forget_in(bpf_map__fd(skel->maps.wire_eps), sizeof(struct zs_wire_ep), tgid);
	forget_in(bpf_map__fd(skel->maps.wire_types), sizeof(struct zs_wire_type_key), tgid);
	forget_in(bpf_map__fd(skel->maps.wire_hists), sizeof(struct zs_wire_hist_key), tgid);
}

int wire_layer_snapshot(struct wire_layer *wl, struct wire_snapshot *s)
{
	struct wire_bpf *skel = wl->skel;
	struct zs_wire_conn_key *ck;
	struct zs_wire_conn *cv;
	struct zs_wire_ep *ek;
	struct zs_wire_ep_totals *ev;
	struct zs_wire_type_key *tk;
	uint64_t *tv;
	struct zs_wire_hist_key *hk;
	struct zs_hist *hv;
	struct wire_conn_entry *conns;
	struct wire_ep_entry *eps;
	struct wire_type_entry *types;
	struct wire_hist_entry *hists;

	memset(s, 0, sizeof(*s));
	s->nconns = read_all(bpf_map__fd(skel->maps.wire_conns), sizeof(*ck), sizeof(*cv),
			     (void **)&ck, (void **)&cv);
	s->neps = read_all(bpf_map__fd(skel->maps.wire_eps), sizeof(*ek), sizeof(*ev),
			   (void **)&ek, (void **)&ev);
	s->ntypes = read_all(bpf_map__fd(skel->maps.wire_types), sizeof(*tk), sizeof(*tv),
			     (void **)&tk, (void **)&tv);
	s->nhists = read_all(bpf_map__fd(skel->maps.wire_hists), sizeof(*hk), sizeof(*hv),
			     (void **)&hk, (void **)&hv);
	conns = calloc(s->nconns + 1, sizeof(*conns));
	eps = calloc(s->neps + 1, sizeof(*eps));
	types = calloc(s->ntypes + 1, sizeof(*types));
	hists = calloc(s->nhists + 1, sizeof(*hists));
	for (size_t i = 0; conns && i < s->nconns; i++)
		conns[i] = (struct wire_conn_entry){ ck[i], cv[i] };
	for (size_t i = 0; eps && i < s->neps; i++)
		eps[i] = (struct wire_ep_entry){ ek[i], ev[i] };
	for (size_t i = 0; types && i < s->ntypes; i++)
		types[i] = (struct wire_type_entry){ tk[i], tv[i] };
	for (size_t i = 0; hists && i < s->nhists; i++)
		hists[i] = (struct wire_hist_entry){ hk[i], hv[i] };
	free(ck), free(cv), free(ek), free(ev), free(tk), free(tv), free(hk), free(hv);
	s->conns = conns;
	s->eps = eps;
	s->types = types;
	s->hists = hists;
	for (uint32_t i = 0; i < ZS_WIRE_DROP_MAX; i++)
		bpf_map_lookup_elem(bpf_map__fd(skel->maps.wire_drops), &i, &s->drops[i]);
	if (!conns || !eps || !types || !hists) {
		wire_snapshot_free(s);
		return -ENOMEM;
	}
	return 0;
}

void wire_snapshot_free(struct wire_snapshot *s)
{
	free((void *)s->conns);
	free((void *)s->eps);
	free((void *)s->types);
	free((void *)s->hists);
	memset(s, 0, sizeof(*s));
}
