/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libzmq's internal socket_base_t::send(msg_t *, int) and ::recv(msg_t *,
 * int).  Every public send and receive calls them, and so do zmq_proxy,
 * zmq_proxy_steerable and zmq_device, whose traffic no public probe sees.
 * The loader finds them as the call targets inside zmq_msg_send and
 * zmq_msg_recv.  Included by zmqscope.bpf.c after loops.bpf.h.
 *
 * A link's attach cookie says how the library is probed:
 *
 *  - N > 0: entry N-1 of call_sites lists where the public functions call
 *    this one.  The public send and receive functions take no probe.  A
 *    call that returns into one of them is counted here as the public call
 *    it is; any other call is libzmq's own, a proxy's.  Each message then
 *    costs one trap here instead of one on the public function and one more
 *    here beneath it.
 *  - 0: the public functions keep their probes and count.  A hit here counts
 *    only when no public call is in flight on its thread.  The loader falls
 *    back to this where the call sites are not all known, where a process
 *    could start a proxy only after its public probes were on, and on
 *    kernels without uprobe sessions.
 *
 * Either way a proxy that began before the attach, whose entry was never
 * seen, is counted.
 */
#ifndef ZS_INTERNAL_CALLS_BPF_H
#define ZS_INTERNAL_CALLS_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ZS_MAX_CALL_SITE_SETS);
	__type(key, __u32);
	__type(value, struct zs_call_sites);
} call_sites SEC(".maps");

enum internal_caller {
	ZS_CALLER_NESTED,  /* cookie 0: under a public function's own probe, if any */
	ZS_CALLER_PUBLIC,  /* a public function, which takes no probe */
	ZS_CALLER_LIBZMQ,  /* libzmq itself: a proxy */
};

/*
 * Who called: at the function's first instruction, the word at the stack
 * pointer is the return address, and the probe's address is the
 * instruction pointer (the uprobe rewinds it before the program runs).
 */
static __always_inline enum internal_caller internal_caller(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx), ret = 0;
	__u32 k = (__u32)cookie - 1;
	struct zs_call_sites *cs;
	__s64 d;

	if (!cookie)
		return ZS_CALLER_NESTED;
	cs = bpf_map_lookup_elem(&call_sites, &k);
	if (!cs || bpf_probe_read_user(&ret, sizeof(ret), (void *)PT_REGS_SP(ctx)))
		return ZS_CALLER_LIBZMQ;
	d = (__s64)(ret - PT_REGS_IP(ctx));
	for (int i = 0; i < ZS_CALL_SITES_MAX; i++)
		if (i < cs->n && cs->delta[i] == d)
			return ZS_CALLER_PUBLIC;
	return ZS_CALLER_LIBZMQ;
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

/* ---- send ---------------------------------------------------------------- */

/*
 * A proxy's send.  Proxies send blocking, so a send that began is a send
 * that happens (or the context is ending): it is counted at entry.
 */
static __always_inline void proxy_send(void *sock, void *msg, int flags, struct zs_thread *th)
{
	struct zs_sock_key rx = {};
	struct zs_target *t;
	struct zs_sock *s;
	const void *data;
	__u64 size;

	t = current_target(&rx.tgid);
	if (!t)
		return;
	s = internal_sock(t, rx.tgid, (__u64)sock);
	if (!s)
		return;
	size = msg_data(msg, &data);
	__sync_fetch_and_add(&s->c.frames_tx, 1);
	__sync_fetch_and_add(&s->c.bytes_tx, size);
	if (flags & ZS_ZMQ_SNDMORE)
		return;
	__sync_fetch_and_add(&s->c.msgs_tx, 1);
	end_span(rx.tgid, s, true);
	/* The message it received is passed on: that handling is done. */
	rx.handle = th ? th->proxy_rx : 0;
	if (rx.handle && rx.handle != (__u64)sock) {
		struct zs_sock *from = sock_find(&rx);

		if (from)
			end_span(rx.tgid, from, false);
	}
}

/* Under a public send's own probe: only what no public call is under counts. */
static __always_inline void nested_send(void *sock, void *msg, int flags)
{
	struct zs_thread *th = current_thread(false);

	if (th && th->call.kind == ZS_CALL_SEND_COUNTED && th->call.handle == (__u64)sock) {
		th->call.kind = 0; /* the public send under way was counted at its entry */
		return;
	}
	if (!public_call_in_flight(th))
		proxy_send(sock, msg, flags, th);
}

SEC("uprobe")
int BPF_UPROBE(internal_send_entry, void *sock, void *msg, int flags)
{
	nested_send(sock, msg, flags);
	return 0;
}

/* With uprobe sessions: a public send carried here takes its return only for DONTWAIT. */
SEC("uprobe")
int internal_send_session(struct pt_regs *ctx)
{
	void *sock = (void *)PT_REGS_PARM1(ctx), *msg = (void *)PT_REGS_PARM2(ctx);
	int flags = (int)PT_REGS_PARM3(ctx);
	const void *data;
	__u64 size;

	if (bpf_session_is_return())
		return send_return((int)PT_REGS_RC(ctx), ZS_CALL_MSG_SEND);
	switch (internal_caller(ctx)) {
	case ZS_CALLER_PUBLIC:
		/* Read now: a sent message is moved out by the return. */
		size = msg_data(msg, &data);
		return send_begins((__u64)sock, data, size, (__u32)flags, ZS_CALL_MSG_SEND, true,
				   false)
			       ? 0
			       : 1;
	case ZS_CALLER_LIBZMQ:
		proxy_send(sock, msg, flags, current_thread(false));
		return 1;
	default:
		nested_send(sock, msg, flags);
		return 1;
	}
}

/* ---- receive ------------------------------------------------------------- */

/* A proxy's receive (`nested`: unless a public one is in flight); whether the return should run. */
static __always_inline bool proxy_recv_entry(void *sock, void *msg, int flags, bool nested)
{
	struct zs_target *t;
	struct zs_sock *s;
	__u32 tgid;

	if (nested && public_call_in_flight(current_thread(false)))
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

/* The proxy's frame, at the return (0 on success, not the size). */
static __always_inline void proxy_recv_return(int rc, struct zs_thread *th)
{
	struct zs_sock_key key = {};
	struct zs_target *t;
	struct zs_sock *s;
	const void *data;
	__u64 size;
	__u8 flags = 0;

	if (rc < 0)
		return;
	s = recorded_call_sock(th, &key, &t);
	if (!s)
		return;
	size = msg_data_flags((const char *)th->call.ptr, &data, &flags);
	__sync_fetch_and_add(&s->c.frames_rx, 1);
	__sync_fetch_and_add(&s->c.bytes_rx, size);
	inspect_rx_frame(key.tgid, t, s, key.handle, data, size, true);
	s->cur_frames++;
	th->proxy_rx = key.handle;
	if (!(flags & ZS_MSG_FLAG_MORE))
		complete_message(key.tgid, t, s, th, bpf_ktime_get_ns(), key.handle);
}

/*
 * A public receive carried here, as zmq_msg_recv's session takes it: the
 * call in the session cookie when its message is on the stack, else in the
 * thread's record.  Whether the return should run.
 */
static __always_inline bool carried_recv_entry(struct pt_regs *ctx, __u64 *cookie)
{
	__u64 handle = PT_REGS_PARM1(ctx), msg = PT_REGS_PARM2(ctx);
	__u32 flags = (__u32)PT_REGS_PARM3(ctx), tgid;
	struct zs_sock *s;

	s = call_sock(&tgid, handle);
	if (!s)
		return false;
	receive_begins(tgid, s, handle);
	*cookie = recv_cookie(handle, msg, PT_REGS_SP(ctx), flags);
	if (!*cookie)
		save_call(handle, msg, 0, flags, ZS_CALL_MSG_RECV, 0);
	return true;
}

static __always_inline int internal_recv_returned(struct pt_regs *ctx, __u64 c)
{
	int rc = (int)PT_REGS_RC(ctx);
	struct zs_call call = {};
	struct zs_thread *th;

	if (c)
		return frame_returned(rc, ZS_CALL_MSG_RECV,
				      recv_cookie_call(c, PT_REGS_SP(ctx), &call), NULL);
	th = current_thread(false);
	if (!th)
		return 0;
	if (th->call.kind == ZS_CALL_MSG_RECV) {
		th->call.kind = 0;
		return frame_returned(rc, ZS_CALL_MSG_RECV, &th->call, th);
	}
	if (th->call.kind == ZS_CALL_INTERNAL_RECV) {
		th->call.kind = 0;
		proxy_recv_return(rc, th);
	}
	return 0;
}

SEC("uprobe")
int BPF_UPROBE(internal_recv_entry_prog, void *sock, void *msg, int flags)
{
	proxy_recv_entry(sock, msg, flags, true);
	return 0;
}

SEC("uretprobe")
int BPF_URETPROBE(internal_recv_return_prog, int rc)
{
	struct zs_thread *th = take_call(ZS_CALL_INTERNAL_RECV);

	if (th)
		proxy_recv_return(rc, th);
	return 0;
}

/* With uprobe sessions, a receive that needs no return skips its trap. */
SEC("uprobe")
int internal_recv_session(struct pt_regs *ctx)
{
	void *sock = (void *)PT_REGS_PARM1(ctx), *msg = (void *)PT_REGS_PARM2(ctx);
	__u64 *cookie = bpf_session_cookie();
	int flags = (int)PT_REGS_PARM3(ctx);
	bool ret;

	if (!cookie)
		return 1;
	if (bpf_session_is_return())
		return internal_recv_returned(ctx, *cookie);
	*cookie = 0;
	switch (internal_caller(ctx)) {
	case ZS_CALLER_PUBLIC:
		ret = carried_recv_entry(ctx, cookie);
		break;
	case ZS_CALLER_LIBZMQ:
		ret = proxy_recv_entry(sock, msg, flags, false);
		break;
	default:
		ret = proxy_recv_entry(sock, msg, flags, true);
		break;
	}
	return ret ? 0 : 1;
}

#endif /* ZS_INTERNAL_CALLS_BPF_H */
