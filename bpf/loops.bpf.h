/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Programs for the loops and proxies libzmq runs itself, included at the
 * end of zmqscope.bpf.c.
 *
 * zmq_poll: a poll loop's return to its loop, for every socket it lists.
 *
 * zmq_proxy, zmq_proxy_steerable, zmq_device: their sockets, listed at the
 * proxy's entry.  The traffic they move goes through libzmq's internal
 * send and receive, counted in internal_calls.bpf.h.
 */
#ifndef ZS_LOOPS_BPF_H
#define ZS_LOOPS_BPF_H

/* ---- zmq_poll ------------------------------------------------------------ */

struct poll_walk {
	__u64 items;
	__u32 tgid;
};

static long poll_item_step(__u32 i, void *arg)
{
	struct poll_walk *w = arg;
	struct zs_sock_key key = { .tgid = w->tgid };
	struct zs_sock *s;

	if (bpf_probe_read_user(&key.handle, sizeof(key.handle),
				(const void *)(w->items + (__u64)i * ZS_POLLITEM_SIZE)))
		return 1;
	if (!key.handle)
		return 0; /* a plain file descriptor */
	/* Only a socket that received can have a span to end: no discovery. */
	s = sock_find(&key);
	if (s)
		loop_check(w->tgid, s);
	return 0;
}

SEC("uprobe")
int BPF_UPROBE(zmq_poll_entry, void *items, int nitems)
{
	struct poll_walk w = { .items = (__u64)items };

	if (!current_target(&w.tgid) || !items || nitems <= 0)
		return 0;
	bpf_loop(nitems < ZS_MAX_POLL_ITEMS ? nitems : ZS_MAX_POLL_ITEMS, poll_item_step, &w, 0);
	return 0;
}

/* ---- proxies ------------------------------------------------------------- */

static __always_inline void proxy_place(struct zs_target *t, __u32 tgid, void *sock, __u8 place)
{
	struct zs_sock *s = sock_get(t, tgid, (__u64)sock);

	if (s)
		s->proxy = place;
}

static __always_inline int proxy_entry(void *frontend, void *backend, void *capture)
{
	struct zs_target *t;
	__u32 tgid;

	t = current_target(&tgid);
	if (!t)
		return 0;
	/* Listed from the start, even before their first message. */
	proxy_place(t, tgid, frontend, ZS_PROXY_FRONTEND);
	if (backend != frontend)
		proxy_place(t, tgid, backend, ZS_PROXY_BACKEND);
	if (capture)
		proxy_place(t, tgid, capture, ZS_PROXY_CAPTURE);
	return 0;
}

SEC("uprobe")
int BPF_UPROBE(zmq_proxy_entry, void *frontend, void *backend, void *capture)
{
	return proxy_entry(frontend, backend, capture);
}

/* zmq_device(type, frontend, backend) */
SEC("uprobe")
int BPF_UPROBE(zmq_device_entry, int type, void *frontend, void *backend)
{
	return proxy_entry(frontend, backend, NULL);
}

#endif /* ZS_LOOPS_BPF_H */
