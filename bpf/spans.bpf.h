/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Handler spans, included by zmqscope.bpf.c after its maps and helpers.
 *
 * A span opens when the final frame of an inbound message arrives.  It
 * closes at the reply (the final frame of a send on the socket), or when
 * the application goes back to its loop.  What "back to the loop" looks
 * like depends on the loop, so each socket learns its rule from its calls:
 *
 *   ZS_LOOP_ASYNCIO  pyzmq asyncio starts every receive with a RCVTIMEO
 *                    read; the EVENTS checks its event loop makes while the
 *                    handler awaits are not the end.
 *   ZS_LOOP_POLL     tornado ZMQStream, zmq_poll loops, czmq zloop,
 *                    zeromq.js: ZMQ_EVENTS or zmq_poll from the thread that
 *                    received, before the next receive, with no RCVTIMEO.
 *   ZS_LOOP_RECV     anything else (a blocking loop): the next receive.
 *
 * The rule is decided at each receive from the checks seen since the last
 * one, so an application that reads RCVTIMEO once at setup is not taken
 * for asyncio forever.  Until a socket has shown its rule, the first loop
 * check after a span opened is dated (loop_mark_ns); the receive that then
 * proves the socket a poll loop ends the span at that date.
 */
#ifndef ZS_SPANS_BPF_H
#define ZS_SPANS_BPF_H

static __always_inline void hist_record(__u32 tgid, __u8 role, __u8 kind, __u32 msg_type,
					__u64 ns)
{
	struct zs_hist_key key = { .tgid = tgid, .role = role, .kind = kind, .msg_type = msg_type };
	struct zs_hist *h = bpf_map_lookup_elem(&hists, &key);
	struct scratch *sc;
	__u32 slot;

	if (!h) {
		/* First span of this kind: only then build the 336-byte zero value. */
		sc = scratch();
		if (!sc)
			return;
		__builtin_memset(&sc->hist, 0, sizeof(sc->hist));
		h = lookup_or_init(&hists, &key, &sc->hist, ZS_DROP_HISTS);
		if (!h)
			return;
	}
	slot = zs_hist_slot(ns);
	if (slot >= ZS_HIST_SLOTS)
		return;
	__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->sum_ns, ns);
	__sync_fetch_and_add(&h->count, 1);
}

static __always_inline __u32 current_tid(void)
{
	return (__u32)bpf_get_current_pid_tgid();
}

/* Closes the socket's open handler span as of `end`. */
static __always_inline void close_span(__u32 tgid, struct zs_sock *s, __u64 end)
{
	__u64 start = s->span_start_ns;

	if (!start)
		return;
	s->span_start_ns = 0;
	s->span_frames = 0;
	s->loop_mark_ns = 0;
	if (typed_role(s->role))
		hist_record(tgid, s->role, ZS_SPAN_HANDLER, s->span_msg_type,
			    end > start ? end - start : 0);
}

/*
 * Closes the socket's open span; `by_reply` when its reply just went out,
 * which also completes the request (received -> replied), however the
 * handler span ended.
 */
static __always_inline void end_span(__u32 tgid, struct zs_sock *s, bool by_reply)
{
	__u64 now = bpf_ktime_get_ns(), req = s->req_start_ns;

	if (by_reply && req) {
		s->req_start_ns = 0;
		if (s->role == ZS_ROLE_REPLY)
			hist_record(tgid, s->role, ZS_SPAN_REQUEST, s->span_msg_type,
				    now > req ? now - req : 0);
	}
	close_span(tgid, s, now);
}

/* The final frame of an inbound message: count it and open a handler span. */
static __always_inline void complete_message(__u32 tgid, struct zs_target *t, struct zs_sock *s,
					     struct zs_thread *th, __u64 ts, __u64 handle)
{
	__u32 frames = s->cur_frames, msg_type = s->cur_msg_type;
	__u8 role = s->role;

	__sync_fetch_and_add(&s->c.msgs_rx, 1);
	s->cur_frames = 0;
	s->cur_msg_type = ZS_MSGTYPE_UNKNOWN;
	s->type_decided = 0;
	if (role >= ZS_ROLE_MAX)
		return;
	__sync_fetch_and_add(&t->roles[role].msgs_rx, 1);
	__sync_fetch_and_add(&t->roles[role].msg_frames_rx, frames);
	if (typed_role(role)) {
		struct zs_sock_type_key key = {
			.tgid = tgid, .msg_type = msg_type, .handle = handle, .gen = s->gen,
		};
		__u64 zero = 0, *n;

		n = lookup_or_init(&sock_type_msgs, &key, &zero, ZS_DROP_SOCK_TYPES);
		if (n)
			__sync_fetch_and_add(n, 1);
		/* Callers without the thread's record fetch it only for --handler's spans. */
		if (!th && (t->cfg.explicit_roles & (1U << role)))
			th = current_thread(true);
		if (th)
			th->last_msg_type[role] = msg_type;
	}
	if (t->cfg.explicit_roles & (1U << role))
		return; /* --handler probes time this role */
	s->span_frames = frames;
	s->span_msg_type = msg_type;
	s->span_start_ns = ts;
	s->req_start_ns = ts;
	s->loop_mark_ns = 0;
}

/*
 * zmq_recv() hides its zmq_msg_t, so a frame it returns stays unresolved
 * until the application asks ZMQ_RCVMORE.  An application that never asks
 * cannot be reading multipart messages: its next call on the socket settles
 * the frame as final, dated when it arrived.
 */
static __always_inline void settle_unresolved_frame(__u32 tgid, struct zs_sock *s, __u64 handle)
{
	struct zs_target *t;

	if (!s->more_unknown)
		return;
	s->more_unknown = 0;
	t = bpf_map_lookup_elem(&targets, &tgid);
	if (t)
		complete_message(tgid, t, s, NULL, s->rx_last_ns, handle);
}

/*
 * ZMQ_EVENTS or a zmq_poll covering the socket.  Only the thread that
 * received can be going back to its loop: another thread's check (a
 * metrics scraper reading EVENTS) says nothing about the handler.
 */
static __always_inline void loop_check(__u32 tgid, struct zs_sock *s)
{
	if (current_tid() != s->rx_tid)
		return;
	s->loop_seen |= ZS_SEEN_CHECK;
	if (!s->span_start_ns || s->loop == ZS_LOOP_ASYNCIO)
		return;
	if (s->loop == ZS_LOOP_POLL)
		close_span(tgid, s, bpf_ktime_get_ns());
	else if (!s->loop_mark_ns)
		s->loop_mark_ns = bpf_ktime_get_ns();
}

/* A RCVTIMEO read: pyzmq asyncio begins its next receive. */
static __always_inline void asyncio_receive_begins(__u32 tgid, struct zs_sock *s, __u64 handle)
{
	s->loop = ZS_LOOP_ASYNCIO;
	s->loop_seen |= ZS_SEEN_RCVTIMEO;
	settle_unresolved_frame(tgid, s, handle);
	end_span(tgid, s, false);
}

/*
 * A receive on the socket: the application is back to read, and what it
 * did since its last receive tells its loop's rule.  Only the first frame
 * of a message decides; the later frames follow without any check.
 */
static __always_inline void receive_begins(__u32 tgid, struct zs_sock *s, __u64 handle)
{
	__u32 tid = current_tid();
	__u64 end;

	settle_unresolved_frame(tgid, s, handle);
	s->pollin_known = 0;
	if (s->cur_frames == 0 && tid == s->rx_tid) {
		if (s->loop_seen & ZS_SEEN_RCVTIMEO)
			s->loop = ZS_LOOP_ASYNCIO;
		else if (s->loop_seen & ZS_SEEN_CHECK)
			s->loop = ZS_LOOP_POLL;
	}
	s->loop_seen = 0;
	s->rx_tid = tid;
	end = s->loop == ZS_LOOP_POLL && s->loop_mark_ns ? s->loop_mark_ns : bpf_ktime_get_ns();
	close_span(tgid, s, end);
}

#endif /* ZS_SPANS_BPF_H */
