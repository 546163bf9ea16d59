/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zs_fixup: the loader's in-place corrections (struct zs_fixup), included
 * at the end of zmqscope.bpf.c for its maps and helpers.  Run by the loader
 * with BPF_PROG_RUN, never attached.
 */
#ifndef ZS_SOCKET_FIXUP_BPF_H
#define ZS_SOCKET_FIXUP_BPF_H

#define ZS_ENOENT 2
#define ZS_ENOMEM 12

static __always_inline int fixup_socket(struct zs_fixup *f, struct zs_target *t)
{
	struct zs_sock_key key = { .tgid = f->tgid, .handle = f->handle };
	struct zs_sock *s = sock_find(&key);
	struct scratch *sc;

	if (!s) {
		if (!f->create)
			return -ZS_ENOENT;
		sc = scratch();
		if (!sc)
			return -ZS_ENOMEM;
		__builtin_memset(&sc->sock, 0, sizeof(sc->sock));
		sc->sock.type = ZS_TYPE_UNKNOWN;
		sc->sock.gen = __sync_fetch_and_add(&t->next_sock_gen, 1);
		/* The probes may have created it since the loader looked: theirs stays. */
		s = sock_insert(&key, &sc->sock, false);
		if (!s)
			return -ZS_ENOMEM;
	}
	if (f->type < ZS_NTYPES && s->type_source < ZS_TYPESRC_LAYOUT) {
		s->type = f->type;
		s->type_source = ZS_TYPESRC_LAYOUT;
	}
	/* The verifier refuses a copy through an offset ctx pointer; the helper is fine. */
	if (f->endpoint[0])
		bpf_probe_read_kernel(s->endpoint, sizeof(s->endpoint), f->endpoint);
	s->role = resolve_role(s->type, s->endpoint);
	return 0;
}

SEC("syscall")
int zs_fixup(struct zs_fixup *f)
{
	__u32 tgid = f->tgid;
	struct zs_target *t = bpf_map_lookup_elem(&targets, &tgid);

	if (!t) {
		f->result = -ZS_ENOENT;
		return 0;
	}
	if (f->op == ZS_FIXUP_LAYOUT) {
		t->cfg.type_off = f->type_off;
		t->cfg.tag_off = f->tag_off;
		t->cfg.endpoint_off = f->endpoint_off;
		f->result = 0;
		return 0;
	}
	f->result = f->op == ZS_FIXUP_SOCKET ? fixup_socket(f, t) : -ZS_ENOENT;
	return 0;
}

#endif
