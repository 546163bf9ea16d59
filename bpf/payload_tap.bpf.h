/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The payload tap (include/payload_tap.h): frames of the msg_types the
 * loader put in tap_types are copied to tap_ring, cut into records.
 *
 * No wakeup per record: user space drains the ring when it is scraped and
 * once a second, and the probes wake it only when the ring is filling up.
 * A record that does not fit is dropped and counted; the probe never waits
 * and copies nothing more of that frame.
 */
#ifndef ZS_PAYLOAD_TAP_BPF_H
#define ZS_PAYLOAD_TAP_BPF_H

#include "payload_tap.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, ZS_TAP_DEFAULT_RING_KB * 1024);
} tap_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZS_MAX_TAP_TYPES);
	__type(key, struct zs_tap_type_key);
	__type(value, __u8);
} tap_types SEC(".maps");

/* A record is built here before it is output: 4 KiB is too much stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zs_tap_record);
} tap_scratch SEC(".maps");

/* Set by the loader before load. */
const volatile __u32 tap_max_frame = ZS_TAP_DEFAULT_MAX_FRAME;
const volatile __u64 tap_wakeup_bytes = ZS_TAP_DEFAULT_RING_KB * 1024 / 4;

struct tap_copy {
	struct zs_tap_hdr h;
	const __u8 *src;
	__u32 len;
	bool failed;
};

static long tap_copy_chunk(__u32 i, void *arg)
{
	struct tap_copy *c = arg;
	struct zs_tap_record *r;
	__u32 zero = 0, off = i * ZS_TAP_CHUNK, n;
	__u64 wake;

	if (off >= c->len)
		return 1;
	n = c->len - off;
	if (n > ZS_TAP_CHUNK)
		n = ZS_TAP_CHUNK;
	r = bpf_map_lookup_elem(&tap_scratch, &zero);
	if (!r || bpf_probe_read_user(r->data, n, c->src + off)) {
		c->failed = true;
		return 1;
	}
	r->h = c->h;
	r->h.offset = off;
	r->h.chunk_len = (__u16)n;
	wake = bpf_ringbuf_query(&tap_ring, BPF_RB_AVAIL_DATA) >= tap_wakeup_bytes
		       ? BPF_RB_FORCE_WAKEUP
		       : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&tap_ring, r, sizeof(r->h) + n, wake)) {
		c->failed = true;
		return 1;
	}
	return 0;
}

/*
 * Copies a frame named `name` if the loader wants that type in direction
 * `dir`.  `t` NULL: the target, with its tap switch, is looked up here, only
 * for a frame of a wanted type.
 */
static __always_inline void tap_frame(struct zs_target *t, const struct zs_sock *s, __u32 tgid,
				      __u64 handle, const char *name, const void *data, __u64 size,
				      __u8 dir)
{
	struct tap_copy c = {};
	__u8 *want = bpf_map_lookup_elem(&tap_types, name);

	if (!want || !(*want & dir))
		return;
	if (!t) {
		t = bpf_map_lookup_elem(&targets, &tgid);
		if (!t || !(t->cfg.tap & ZS_TAP_ON))
			return;
	}
	if (size > tap_max_frame) {
		__sync_fetch_and_add(&t->tap_dropped, 1);
		return;
	}
	c.h.tgid = tgid;
	c.h.frame_len = (__u32)size;
	c.h.handle = handle;
	c.h.role = s->role;
	c.h.flags = (dir == ZS_TAP_DIR_TX ? ZS_TAP_F_TX : 0) |
		    (s->pristine ? ZS_TAP_F_CREATED : 0);
	c.src = data;
	c.len = (__u32)size;
	bpf_loop((c.len + ZS_TAP_CHUNK - 1) / ZS_TAP_CHUNK, tap_copy_chunk, &c, 0);
	if (c.failed)
		__sync_fetch_and_add(&t->tap_dropped, 1);
	else
		__sync_fetch_and_add(&t->tap_frames, 1);
}

#endif
