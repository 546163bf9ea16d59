/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Receives: zmq_msg_recv and zmq_recv, their entries and returns, and the
 * session that carries a zmq_msg_recv in its cookie.  Included by
 * zmqscope.bpf.c after its maps, helpers and the session kfuncs.
 */
#ifndef ZS_RECEIVE_BPF_H
#define ZS_RECEIVE_BPF_H

static __always_inline int recv_entry(__u64 handle, __u64 ptr, __u64 len, __u32 flags,
				      __u16 kind)
{
	struct zs_sock *s;
	__u32 tgid;

	s = call_sock(&tgid, handle);
	if (!s)
		return 0;
	receive_begins(tgid, s, handle);
	return save_call(handle, ptr, len, flags, kind, 0);
}

/*
 * A receive's return: the frame it got (rc its size, or 0 from
 * socket_base_t::recv; -1 if none).  `th` is the thread's record, or NULL
 * where a session cookie carried the call.
 */
static __always_inline int frame_returned(long rc, __u16 kind, const struct zs_call *call,
					  struct zs_thread *th)
{
	struct zs_sock_key key = { .handle = call->handle };
	struct zs_target *t;
	struct zs_sock *s;
	const void *data;
	__u64 size;
	__u8 flags = 0;

	t = current_target(&key.tgid);
	if (!t)
		return 0;
	s = sock_find(&key);
	if (!s)
		return 0;
	s->public_rx_tid = 0;
	if (rc < 0) {
		if (call->flags & ZS_ZMQ_DONTWAIT) {
			/* errno is out of reach; a non-blocking -1 is EAGAIN in practice. */
			__sync_fetch_and_add(&s->c.rx_eagain, 1);
			s->pending = 0;
		} else {
			__sync_fetch_and_add(&s->c.rx_errors, 1);
		}
		return 0;
	}
	__sync_fetch_and_add(&s->c.frames_rx, 1);
	if (kind == ZS_CALL_MSG_RECV) {
		const char *msg = (const char *)call->ptr;

		/* rc is the size for zmq_msg_recv, 0 for socket_base_t::recv carrying it. */
		size = msg_data_flags(msg, &data, &flags);
		__sync_fetch_and_add(&s->c.bytes_rx, size);
		inspect_rx_frame(key.tgid, t, s, key.handle, data, size, true);
		s->cur_frames++;
		if (!(flags & ZS_MSG_FLAG_MORE))
			complete_message(key.tgid, t, s, th, bpf_ktime_get_ns(), key.handle);
	} else {
		__sync_fetch_and_add(&s->c.bytes_rx, rc);
		/* zmq_recv: the frame is in the caller's buffer, cut at its length. */
		size = (__u64)rc < call->size ? (__u64)rc : call->size;
		/* A frame cut at the caller's buffer still has its type, but is no tap copy. */
		inspect_rx_frame(key.tgid, t, s, key.handle, (const void *)call->ptr, size,
				 (__u64)rc <= call->size);
		s->cur_frames++;
		s->more_unknown = 1;
		s->rx_last_ns = bpf_ktime_get_ns();
	}
	return 0;
}

static __always_inline int recv_return(long rc, __u16 kind)
{
	struct zs_thread *th = take_call(kind);

	return th ? frame_returned(rc, kind, &th->call, th) : 0;
}

/*
 * A session's zmq_msg_recv carries its call in the session cookie, as an
 * EVENTS call does (stack_cookie): the socket handle, where the zmq_msg_t
 * sits above the stack pointer the return will see (pyzmq's and most C
 * callers' are locals), and DONTWAIT.  No per-thread record is written at
 * entry or searched for at return.  A message elsewhere (czmq's zframe_t
 * is on the heap) takes the per-thread record.
 */
#define ZS_COOKIE_DONTWAIT ZS_COOKIE_FLAG

static __always_inline __u64 recv_cookie(__u64 handle, __u64 msg, __u64 entry_sp, __u32 flags)
{
	__u64 c = stack_cookie(handle, msg, entry_sp);

	return c && (flags & ZS_ZMQ_DONTWAIT) ? c | ZS_COOKIE_DONTWAIT : c;
}

/* The call a recv_cookie() carries, seen from the stack pointer of its return. */
static __always_inline const struct zs_call *recv_cookie_call(__u64 c, __u64 ret_sp,
							      struct zs_call *call)
{
	call->handle = cookie_handle(c);
	call->ptr = cookie_ptr(c, ret_sp);
	call->flags = c & ZS_COOKIE_DONTWAIT ? ZS_ZMQ_DONTWAIT : 0;
	return call;
}

SEC("uprobe")
int zmq_msg_recv_session(struct pt_regs *ctx)
{
	__u64 *cookie = bpf_session_cookie();
	struct zs_call call = {};
	struct zs_sock *s;
	__u32 tgid;

	if (!cookie)
		return 1;
	if (bpf_session_is_return()) {
		if (!*cookie)
			return recv_return((int)PT_REGS_RC(ctx), ZS_CALL_MSG_RECV);
		return frame_returned((int)PT_REGS_RC(ctx), ZS_CALL_MSG_RECV,
				      recv_cookie_call(*cookie, PT_REGS_SP(ctx), &call), NULL);
	}
	*cookie = 0;
	s = call_sock(&tgid, PT_REGS_PARM2(ctx));
	if (!s)
		return 1;
	receive_begins(tgid, s, PT_REGS_PARM2(ctx));
	*cookie = recv_cookie(PT_REGS_PARM2(ctx), PT_REGS_PARM1(ctx), PT_REGS_SP(ctx),
			      (__u32)PT_REGS_PARM3(ctx));
	/* No record for public_call_in_flight: libzmq's internal recv, nested, looks here. */
	if (*cookie)
		s->public_rx_tid = current_tid();
	else
		save_call(PT_REGS_PARM2(ctx), PT_REGS_PARM1(ctx), 0, (__u32)PT_REGS_PARM3(ctx),
			  ZS_CALL_MSG_RECV, 0);
	return 0;
}

SEC("uprobe")
int BPF_UPROBE(zmq_msg_recv_entry, void *msg, void *sock, int flags)
{
	return recv_entry((__u64)sock, (__u64)msg, 0, flags, ZS_CALL_MSG_RECV);
}

SEC("uretprobe")
int BPF_URETPROBE(zmq_msg_recv_return, int rc)
{
	return recv_return(rc, ZS_CALL_MSG_RECV);
}

SEC("uprobe")
int BPF_UPROBE(zmq_recv_entry, void *sock, void *buf, size_t len, int flags)
{
	return recv_entry((__u64)sock, (__u64)buf, len, flags, ZS_CALL_RECV);
}

SEC("uretprobe")
int BPF_URETPROBE(zmq_recv_return, int rc)
{
	return recv_return(rc, ZS_CALL_RECV);
}

#endif /* ZS_RECEIVE_BPF_H */
