/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Programs for the loops and proxies libzmq runs itself, included at the
 * end of zmqscope.bpf.c.
 *
 * zmq_poll: a poll loop's return to its loop, for every socket it lists.
 *
 * zmq_proxy, zmq_proxy_steerable, zmq_device: the traffic they move goes
 * through libzmq's internal socket_base_t::send and ::recv, which no public
 * probe sees.  The loader finds those two functions as the call targets
 * inside zmq_msg_send and zmq_msg_recv, and probes them too.  They also run
 * under every public send and receive, which are already counted: a hit is
 * counted only when its thread has no public call in flight.  That also
 * catches a proxy that began before the attach, whose entry was never seen.
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

/* A public send or receive is in flight on this thread: its probes count it. */
static __always_inline bool public_call_in_flight(struct zs_thread *th)
{
	__u16 k = th ? th->call.kind : 0;

	return k == ZS_CALL_MSG_RECV || k == ZS_CALL_RECV || k == ZS_CALL_MSG_SEND ||
	       k == ZS_CALL_SEND;
}

/*
 * The socket libzmq's internal send or receive is on, marked a proxy's; NULL
 * under a public receive carried by its session cookie, which leaves no
 * record for public_call_in_flight and counts the frame itself.
 */
static __always_inline struct zs_sock *internal_sock(struct zs_target *t, __u32 tgid,
						     __u64 handle)
{
	struct zs_sock *s = sock_get(t, tgid, handle);

	if (!s || s->public_rx_tid == current_tid())
		return NULL;
	if (s->proxy == ZS_PROXY_NONE)
		s->proxy = ZS_PROXY_INTERNAL;
	return s;
}

/*
 * socket_base_t::send(msg_t *, int flags).  Proxies send blocking, so a
 * send that began is a send that happens (or the context is ending): it is
 * counted here, and needs no return probe.
 */
SEC("uprobe")
int BPF_UPROBE(internal_send_entry, void *sock, void *msg, int flags)
{
	struct zs_thread *th = current_thread(false);
	struct zs_sock_key rx = {};
	struct zs_target *t;
	struct zs_sock *s;
	const void *data;
	__u64 size;

	if (th && th->call.kind == ZS_CALL_SEND_COUNTED && th->call.handle == (__u64)sock) {
		th->call.kind = 0; /* the public send under way was counted at its entry */
		return 0;
	}
	if (public_call_in_flight(th))
		return 0;
	t = current_target(&rx.tgid);
	if (!t)
		return 0;
	s = internal_sock(t, rx.tgid, (__u64)sock);
	if (!s)
		return 0;
	size = msg_data(msg, &data);
	__sync_fetch_and_add(&s->c.frames_tx, 1);
	__sync_fetch_and_add(&s->c.bytes_tx, size);
	if (flags & ZS_ZMQ_SNDMORE)
		return 0;
	__sync_fetch_and_add(&s->c.msgs_tx, 1);
	end_span(rx.tgid, s, true);
	/* The message it received is passed on: that handling is done. */
	rx.handle = th ? th->proxy_rx : 0;
	if (rx.handle && rx.handle != (__u64)sock) {
		struct zs_sock *from = sock_find(&rx);

		if (from)
			end_span(rx.tgid, from, false);
	}
	return 0;
}

/* socket_base_t::recv(msg_t *, int flags); whether the return should run. */
static __always_inline bool internal_recv_entry(void *sock, void *msg, int flags)
{
	struct zs_target *t;
	struct zs_sock *s;
	__u32 tgid;

	if (public_call_in_flight(current_thread(false)))
		return false;
	t = current_target(&tgid);
	if (!t)
		return false;
	s = internal_sock(t, tgid, (__u64)sock);
	if (!s)
		return false;
	receive_begins(tgid, s, (__u64)sock);
	save_call((__u64)sock, (__u64)msg, 0, flags, ZS_CALL_INTERNAL_RECV, 0);
	return true;
}

/* Returns 0 on success (not the size, as zmq_msg_recv does). */
static __always_inline void internal_recv_return(int rc)
{
	struct zs_thread *th = take_call(ZS_CALL_INTERNAL_RECV);
	struct zs_sock_key key = {};
	struct zs_target *t;
	struct zs_sock *s;
	const char *msg;
	const void *data;
	__u64 size;
	__u8 flags = 0;

	if (!th || rc < 0)
		return;
	t = current_target(&key.tgid);
	if (!t)
		return;
	key.handle = th->call.handle;
	s = sock_find(&key);
	if (!s)
		return;
	msg = (const char *)th->call.ptr;
	size = msg_data_flags(msg, &data, &flags);
	__sync_fetch_and_add(&s->c.frames_rx, 1);
	__sync_fetch_and_add(&s->c.bytes_rx, size);
	inspect_rx_frame(key.tgid, t, s, key.handle, data, size, true);
	s->cur_frames++;
	th->proxy_rx = key.handle;
	if (!(flags & ZS_MSG_FLAG_MORE))
		complete_message(key.tgid, t, s, th, bpf_ktime_get_ns(), key.handle);
}

SEC("uprobe")
int BPF_UPROBE(internal_recv_entry_prog, void *sock, void *msg, int flags)
{
	internal_recv_entry(sock, msg, flags);
	return 0;
}

SEC("uretprobe")
int BPF_URETPROBE(internal_recv_return_prog, int rc)
{
	internal_recv_return(rc);
	return 0;
}

/* With uprobe sessions, ordinary receives skip the return trap. */
SEC("uprobe")
int internal_recv_session(struct pt_regs *ctx)
{
	if (bpf_session_is_return()) {
		internal_recv_return((int)PT_REGS_RC(ctx));
		return 0;
	}
	return internal_recv_entry((void *)PT_REGS_PARM1(ctx), (void *)PT_REGS_PARM2(ctx),
				   (int)PT_REGS_PARM3(ctx))
		       ? 0
		       : 1;
}

#endif /* ZS_LOOPS_BPF_H */
