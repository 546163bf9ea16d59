/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where a socket's state lives.  Every probed call starts by finding its
 * socket, and pyzmq makes seven trapped calls per pulled message, so this
 * lookup is the hottest path zmqscope has.  A hash lookup on
 * (tgid, handle) costs about 100 ns on these VMs (jhash, a bucket walk and
 * their cache misses); an array lookup is inlined by the verifier and
 * costs about 12 (docs/design-notes.md, "Where a socket's state lives").
 *
 * So the state sits in an array of slots, `sock_slots`, each holding its
 * own key.  `sockets` maps a key to its slot: it alone decides whether a
 * socket exists, and its BPF_NOEXIST insert settles two CPUs discovering
 * one socket at once.  `sock_hints` is a lossy direct-mapped cache in front
 * of it: a multiplicative hash of the key picks an entry holding the slot
 * last found there, and the slot's own key confirms it.  A stale or
 * colliding hint costs one array lookup, then the hash as before.
 *
 * A freed slot has its key cleared before it goes back on `sock_free_slots`,
 * so no hint can confirm it again; slots never used come from
 * `sock_slot_next`.  User space frees the slots of a process that exited
 * (forget_process_maps) the same way.  Included by zmqscope.bpf.c after
 * count_drop.
 */
#ifndef ZS_SOCKET_TABLE_BPF_H
#define ZS_SOCKET_TABLE_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZS_MAX_SOCKETS);
	__type(key, struct zs_sock_key);
	__type(value, __u32); /* the slot */
} sockets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ZS_MAX_SOCKETS);
	__type(key, __u32);
	__type(value, struct zs_sock);
} sock_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ZS_SOCK_HINTS);
	__type(key, __u32);
	__type(value, __u32);
} sock_hints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, ZS_MAX_SOCKETS);
	__type(value, __u32);
} sock_free_slots SEC(".maps");

/* In a map rather than .bss: pinned maps outlive the loader, and so must this. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} sock_slot_next SEC(".maps");

static __always_inline __u32 sock_hint_of(const struct zs_sock_key *key)
{
	__u64 h = (key->handle ^ ((__u64)key->tgid << 40)) * 0x9E3779B97F4A7C15ULL;

	return (__u32)(h >> 40) & (ZS_SOCK_HINTS - 1);
}

static __always_inline bool sock_is(const struct zs_sock *s, const struct zs_sock_key *key)
{
	return s->key.handle == key->handle && s->key.tgid == key->tgid;
}

static __always_inline struct zs_sock *sock_find(const struct zs_sock_key *key)
{
	__u32 h = sock_hint_of(key), *hint, *slot;
	struct zs_sock *s;

	hint = bpf_map_lookup_elem(&sock_hints, &h);
	if (hint) {
		s = bpf_map_lookup_elem(&sock_slots, hint);
		if (s && sock_is(s, key))
			return s;
	}
	slot = bpf_map_lookup_elem(&sockets, key);
	if (!slot)
		return NULL;
	s = bpf_map_lookup_elem(&sock_slots, slot);
	if (s && hint)
		*hint = *slot;
	return s;
}

static __always_inline void sock_slot_release(struct zs_sock *s, __u32 slot)
{
	s->key.tgid = 0;
	s->key.handle = 0;
	bpf_map_push_elem(&sock_free_slots, &slot, 0);
}

/* A slot for a new socket: a freed one first, else one never used; NULL when all are taken. */
static __always_inline struct zs_sock *sock_slot_take(__u32 *slot)
{
	__u32 zero = 0, *next;

	if (!bpf_map_pop_elem(&sock_free_slots, slot))
		return bpf_map_lookup_elem(&sock_slots, slot);
	next = bpf_map_lookup_elem(&sock_slot_next, &zero);
	/* Past the end, stop counting: only racing CPUs can push it further. */
	if (!next || !bpf_map_lookup_elem(&sock_slots, next))
		return NULL;
	*slot = __sync_fetch_and_add(next, 1);
	return bpf_map_lookup_elem(&sock_slots, slot);
}

/*
 * Writes `init` into slot `s` as `key`'s state.  The key goes in last: a
 * stale hint (the same handle, closed and then reused in that process) can
 * confirm the slot only once the rest of its state is there.
 */
static __always_inline void sock_slot_fill(struct zs_sock *s, struct zs_sock *init,
					   const struct zs_sock_key *key)
{
	__builtin_memset(&init->key, 0, sizeof(init->key));
	bpf_probe_read_kernel(s, sizeof(*s), init);
	s->key.tgid = key->tgid;
	s->key.handle = key->handle;
}

/*
 * The socket `key` with the state `init`, or the one that is already
 * there.  `replace` overwrites an existing socket's state: zmq_socket()
 * returning a handle we knew means a close we missed.
 */
static struct zs_sock *sock_insert(const struct zs_sock_key *key, struct zs_sock *init,
				   bool replace)
{
	__u32 *cur = bpf_map_lookup_elem(&sockets, key), slot = 0;
	struct zs_sock *s;
	long err;

	if (cur) {
		s = bpf_map_lookup_elem(&sock_slots, cur);
		if (s && replace)
			sock_slot_fill(s, init, key);
		return s;
	}
	s = sock_slot_take(&slot);
	if (!s) {
		count_drop(ZS_DROP_SOCKETS);
		return NULL;
	}
	/* The state is in place before the index makes it findable. */
	sock_slot_fill(s, init, key);
	err = bpf_map_update_elem(&sockets, key, &slot, BPF_NOEXIST);
	if (!err)
		return s;
	sock_slot_release(s, slot);
	if (err != -EEXIST) {
		count_drop(ZS_DROP_SOCKETS);
		return NULL;
	}
	cur = bpf_map_lookup_elem(&sockets, key);
	return cur ? bpf_map_lookup_elem(&sock_slots, cur) : NULL;
}

static __always_inline void sock_remove(const struct zs_sock_key *key)
{
	__u32 *cur = bpf_map_lookup_elem(&sockets, key), slot;
	struct zs_sock *s;

	if (!cur)
		return;
	slot = *cur;
	/* Whoever deletes the index entry frees the slot, once. */
	if (bpf_map_delete_elem(&sockets, key))
		return;
	s = bpf_map_lookup_elem(&sock_slots, &slot);
	if (s)
		sock_slot_release(s, slot);
}

#endif /* ZS_SOCKET_TABLE_BPF_H */
