/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What a frame is: its msg_type (the msgspec tag in its first bytes), and
 * whether the payload tap wants a copy.  Included by zmqscope.bpf.c, after
 * the maps and helpers these use.
 */
#ifndef ZS_FRAME_INSPECT_BPF_H
#define ZS_FRAME_INSPECT_BPF_H

/* The id of a type name in this process, handing out a new one if it is new. */
static __always_inline __u32 msg_type_id(struct zs_target *t, struct zs_msg_type_key *key)
{
	__u32 *id = bpf_map_lookup_elem(&msg_types, key);
	__u32 next;

	if (id)
		return *id;
	if (t->next_msg_type >= t->cfg.max_msg_types)
		return ZS_MSGTYPE_OTHER;
	next = ZS_MSGTYPE_FIRST + __sync_fetch_and_add(&t->next_msg_type, 1);
	if (next - ZS_MSGTYPE_FIRST >= t->cfg.max_msg_types)
		return ZS_MSGTYPE_OTHER;
	if (bpf_map_update_elem(&msg_types, key, &next, BPF_NOEXIST)) {
		/* Another CPU named it first (its id wins), or the map is full. */
		id = bpf_map_lookup_elem(&msg_types, key);
		if (id)
			return *id;
		count_drop(ZS_DROP_MSG_TYPES);
		return ZS_MSGTYPE_OTHER;
	}
	return next;
}

struct msgtype_loop {
	struct zs_msgtype_state st;
	unsigned char prefix[ZS_MSGTYPE_PREFIX];
};

static long msgtype_loop_step(__u32 i, void *arg)
{
	struct msgtype_loop *l = arg;

	return zs_msgtype_step(&l->st, l->prefix[i & (ZS_MSGTYPE_PREFIX - 1)]);
}

/* The msgspec tag of a frame, from its first bytes; false if it has none. */
static __always_inline bool frame_type_name(const void *data, __u64 size, struct msgtype_loop *l)
{
	__u64 len = size < ZS_MSGTYPE_PREFIX ? size : ZS_MSGTYPE_PREFIX;

	__builtin_memset(l, 0, sizeof(*l));
	/* Hide the clamp from clang, which would drop the check the verifier needs. */
	asm volatile("" : "+r"(len));
	if (len > ZS_MSGTYPE_PREFIX || bpf_probe_read_user(l->prefix, len, data))
		return false;
	if (!zs_msgtype_fixmap(&l->st, l->prefix, len))
		bpf_loop(len, msgtype_loop_step, l, 0);
	return zs_msgtype_result(&l->st) > 0;
}

/*
 * A received frame of a typed role.  The message's type is the first
 * non-empty frame's, after the identity on a ROUTER socket: [identity, "",
 * payload] there, [payload...] elsewhere.  The tap looks at every such
 * frame: a worker puts several state messages in one multipart message.
 */
static __always_inline void inspect_rx_frame(__u32 tgid, struct zs_target *t, struct zs_sock *s,
					     __u64 handle, const void *data, __u64 size, bool whole)
{
	bool decide = !s->type_decided, tap = whole && (t->cfg.tap & ZS_TAP_ON);
	struct msgtype_loop l;
	struct scratch *sc;

	if (!typed_role(s->role) || !size || !data ||
	    (s->type == ZMQ_ROUTER_TYPE && s->cur_frames == 0) || (!decide && !tap))
		return;
	s->type_decided = 1;
	if (!frame_type_name(data, size, &l))
		return;
	if (tap)
		tap_frame(t, s, tgid, handle, l.st.name, data, size, ZS_TAP_DIR_RX);
	if (!decide)
		return;
	sc = scratch();
	if (!sc)
		return;
	__builtin_memset(&sc->type_key, 0, sizeof(sc->type_key));
	sc->type_key.tgid = tgid;
	__builtin_memcpy(sc->type_key.name, l.st.name, sizeof(sc->type_key.name));
	s->cur_msg_type = msg_type_id(t, &sc->type_key);
}

/*
 * A frame the application sends on a typed role: only the tap wants it, and
 * not a ROUTER's first frame, the peer's identity.  The target is looked up
 * only for a frame the tap wants.
 */
static __always_inline void inspect_tx_frame(__u32 tgid, struct zs_sock *s, __u64 handle,
					     const void *data, __u64 size, bool first)
{
	struct msgtype_loop l;

	if (!typed_role(s->role) || !size || !data || (s->type == ZMQ_ROUTER_TYPE && first))
		return;
	if (frame_type_name(data, size, &l))
		tap_frame(NULL, s, tgid, handle, l.st.name, data, size, ZS_TAP_DIR_TX);
}

#endif
