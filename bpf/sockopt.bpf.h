/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zmq_getsockopt: the EVENTS answers behind has_pending, RCVTIMEO as
 * pyzmq asyncio's start of a receive, RCVMORE for the buffer API, TYPE.
 * Included by zmqscope.bpf.c after its maps, helpers and the session kfuncs.
 */
#ifndef ZS_SOCKOPT_BPF_H
#define ZS_SOCKOPT_BPF_H

/*
 * A POLLIN answer stays true until the application reads (or, for REQ,
 * sends), and both are seen.  So while it is fresh, another EVENTS call
 * cannot change has_pending, and its return is not taken: pyzmq asyncio
 * asks twice in a row for every message it reads.  Freshness bounds what
 * the unseen ways out of POLLIN can leave stale (a LINGER=0 peer that
 * disconnects with messages queued, zmq_recviov) to a millisecond.
 */
#define ZS_POLLIN_FRESH_US 1000

/* ktime in units of 1.024 µs: a shift, not a division, on every EVENTS call. */
static __always_inline __u32 now_us(void)
{
	return (__u32)(bpf_ktime_get_ns() >> 10);
}

static __always_inline bool pollin_still_known(const struct zs_sock *s)
{
	return s->pollin_known && (__u32)(now_us() - s->pollin_us) < ZS_POLLIN_FRESH_US;
}

static __always_inline void events_answered(struct zs_sock *s, int val)
{
	s->pending = (val & ZS_ZMQ_POLLIN) ? 1 : 0;
	s->pollin_known = s->pending;
	if (s->pending)
		s->pollin_us = now_us();
}

#define ZS_COOKIE_EVENTS ZS_COOKIE_FLAG

static __always_inline __u64 events_cookie(__u64 handle, __u64 optval, __u64 entry_sp)
{
	__u64 c = stack_cookie(handle, optval, entry_sp);

	return c ? c | ZS_COOKIE_EVENTS : 0;
}

static __always_inline void events_return_by_cookie(int rc, __u64 cookie, __u64 ret_sp)
{
	struct zs_sock_key key = {
		.tgid = bpf_get_current_pid_tgid() >> 32,
		.handle = cookie_handle(cookie),
	};
	struct zs_sock *s;
	int val = 0;

	if (rc != 0)
		return;
	s = sock_find(&key);
	if (s && !bpf_probe_read_user(&val, sizeof(val), (void *)cookie_ptr(cookie, ret_sp)))
		events_answered(s, val);
}

/*
 * pyzmq's asyncio calls getsockopt four times for every message it receives
 * (RCVTIMEO, EVENTS twice, RCVMORE), and every probe hit is a trap.  Only
 * the EVENTS answers (and TYPE, and RCVMORE for the buffer API) need the
 * return: where the kernel has uprobe sessions, the entry says so and the
 * other calls cost no return trap at all.  Returns whether the return
 * should run; `cookie` is the session's, NULL without sessions.
 */
static __always_inline bool getsockopt_entry(void *sock, int opt, void *optval, __u64 *cookie,
					     __u64 entry_sp)
{
	struct zs_sock *s;
	__u32 tgid;

	if (opt != ZS_ZMQ_EVENTS && opt != ZS_ZMQ_RCVMORE && opt != ZS_ZMQ_TYPE &&
	    opt != ZS_ZMQ_RCVTIMEO)
		return false;
	s = call_sock(&tgid, (__u64)sock);
	if (!s)
		return false;
	switch (opt) {
	case ZS_ZMQ_RCVTIMEO:
		asyncio_receive_begins(tgid, s, (__u64)sock);
		return false;
	case ZS_ZMQ_EVENTS:
		loop_check(tgid, s);
		if (cookie) {
			if (pollin_still_known(s))
				return false;
			*cookie = events_cookie((__u64)sock, (__u64)optval, entry_sp);
			if (*cookie)
				return true;
		}
		break;
	case ZS_ZMQ_RCVMORE:
		/* zmq_msg_recv reads "more" itself: only zmq_recv's frames need it. */
		if (!s->more_unknown)
			return false;
		break;
	case ZS_ZMQ_TYPE:
		if (s->type_source >= ZS_TYPESRC_SOCKOPT)
			return false;
		break;
	}
	save_call((__u64)sock, (__u64)optval, 0, 0, ZS_CALL_GETSOCKOPT, opt);
	return true;
}

static __always_inline void getsockopt_return(int rc)
{
	struct zs_sock_key key = {};
	struct zs_thread *th;
	struct zs_target *t;
	struct zs_sock *s;
	int val = 0;

	th = take_call(ZS_CALL_GETSOCKOPT);
	if (!th || rc != 0)
		return;
	s = recorded_call_sock(th, &key, &t);
	if (!s || bpf_probe_read_user(&val, sizeof(val), (void *)th->call.ptr))
		return;
	switch (th->call.opt) {
	case ZS_ZMQ_EVENTS:
		events_answered(s, val);
		break;
	case ZS_ZMQ_RCVMORE:
		if (s->more_unknown) {
			s->more_unknown = 0;
			if (!val)
				complete_message(key.tgid, t, s, th, s->rx_last_ns, key.handle);
		}
		break;
	case ZS_ZMQ_TYPE:
		if (val >= 0 && val < ZS_NTYPES && s->type_source < ZS_TYPESRC_SOCKOPT) {
			s->type = val;
			s->type_source = ZS_TYPESRC_SOCKOPT;
			s->role = resolve_role(s->type, s->endpoint);
		}
		break;
	}
}

/* Kernels before 6.12: an entry and a return probe, the return on every call. */
SEC("uprobe")
int BPF_UPROBE(zmq_getsockopt_entry, void *sock, int opt, void *optval)
{
	getsockopt_entry(sock, opt, optval, NULL, 0);
	return 0;
}

SEC("uretprobe")
int BPF_URETPROBE(zmq_getsockopt_return, int rc)
{
	getsockopt_return(rc);
	return 0;
}

/* Kernels with uprobe sessions: the entry decides whether the return runs. */
SEC("uprobe")
int zmq_getsockopt_session(struct pt_regs *ctx)
{
	__u64 *cookie = bpf_session_cookie();

	if (!cookie)
		return 1;
	if (bpf_session_is_return()) {
		if (*cookie & ZS_COOKIE_EVENTS)
			events_return_by_cookie((int)PT_REGS_RC(ctx), *cookie, PT_REGS_SP(ctx));
		else
			getsockopt_return((int)PT_REGS_RC(ctx));
		return 0;
	}
	*cookie = 0;
	return getsockopt_entry((void *)PT_REGS_PARM1(ctx), (int)PT_REGS_PARM2(ctx),
				(void *)PT_REGS_PARM3(ctx), cookie, PT_REGS_SP(ctx))
		       ? 0
		       : 1;
}

#endif /* ZS_SOCKOPT_BPF_H */
