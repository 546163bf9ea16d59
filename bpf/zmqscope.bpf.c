// SPDX-License-Identifier: GPL-2.0
/*
 * uprobes on libzmq's public API.  Counting happens here, with atomic adds
 * on per-socket entries; the loader only reads the maps when scraped.
 *
 * Every program starts by finding its socket (socket_table.bpf.h), keyed by
 * the calling process: the probes are attached per pid already.  Only a
 * process in `targets` can create state, which keeps a stray hit (another
 * process that maps the same inode) from adding any.
 *
 * Handler spans (design.md section 4): a span opens when the final frame of
 * an inbound message arrives, and closes at the first of the final frame of
 * a send on the same socket, or the application coming back to read it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "zmqscope.h"
#include "msgtype.h"

/* libbpf 1.2 added the uprobe spellings; Debian 12 ships 1.1. */
#ifndef BPF_UPROBE
#define BPF_UPROBE BPF_KPROBE
#define BPF_URETPROBE BPF_KRETPROBE
#endif

#define EEXIST 17 /* errno values are macros, absent from vmlinux.h */
#define ZMQ_ROUTER_TYPE 6

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZS_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct zs_target);
} targets SEC(".maps");

/* An LRU map, never deleted from on the hot path: threads that die are evicted. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ZS_MAX_THREADS);
	__type(key, __u64);
	__type(value, struct zs_thread);
} threads SEC(".maps");

/* Role of each socket type, filled by the loader (defaults and --role TYPE=). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ZS_NTYPES + 1);
	__type(key, __u32);
	__type(value, __u8);
} role_by_type SEC(".maps");

/* --role ENDPOINT=ROLE, keyed by the NUL-padded endpoint string. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZS_MAX_ROLE_ENDPOINTS);
	__type(key, char[ZS_ENDPOINT_LEN]);
	__type(value, __u8);
} role_by_endpoint SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZS_MAX_MSG_TYPES);
	__type(key, struct zs_msg_type_key);
	__type(value, __u32);
} msg_types SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZS_MAX_SOCK_TYPES);
	__type(key, struct zs_sock_type_key);
	__type(value, __u64);
} sock_type_msgs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZS_MAX_HISTS);
	__type(key, struct zs_hist_key);
	__type(value, struct zs_hist);
} hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ZS_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* Values too large for the 512-byte BPF stack are built here. */
struct scratch {
	struct zs_sock sock;
	struct zs_hist hist;
	struct zs_thread thread;
	struct zs_msg_type_key type_key;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

static __always_inline struct scratch *scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch_map, &zero);
}

static __always_inline void count_drop(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &which);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/* Looks up `key`, inserting the zeroed `init` first if it is absent. */
static __always_inline void *lookup_or_init(void *map, const void *key, const void *init,
					    __u32 drop)
{
	void *v = bpf_map_lookup_elem(map, key);
	long err;

	if (v)
		return v;
	err = bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	if (err && err != -EEXIST) {
		count_drop(drop);
		return NULL;
	}
	return bpf_map_lookup_elem(map, key);
}

#include "payload_tap.bpf.h"
#include "socket_table.bpf.h"

static __always_inline bool typed_role(__u8 role)
{
	return role == ZS_ROLE_PULL || role == ZS_ROLE_REPLY;
}

/* pyzmq's garbage collector binds "inproc://pyzmq.gc.<n>" in a private context. */
static __always_inline bool is_pyzmq_gc(const char *ep)
{
	static const char prefix[] = "inproc://pyzmq.gc.";

#pragma unroll
	for (int i = 0; i < (int)sizeof(prefix) - 1; i++)
		if (ep[i] != prefix[i])
			return false;
	return true;
}

static __always_inline __u8 resolve_role(__u8 type, char *ep)
{
	__u8 *role = bpf_map_lookup_elem(&role_by_endpoint, ep);
	__u32 idx;

	if (role)
		return *role;
	if (is_pyzmq_gc(ep))
		return ZS_ROLE_INTERNAL;
	idx = type < ZS_NTYPES ? type : ZS_NTYPES;
	role = bpf_map_lookup_elem(&role_by_type, &idx);
	return role ? *role : ZS_ROLE_NONE;
}

static __always_inline void read_endpoint_ptr(char *dst, const void *src)
{
	if (src)
		bpf_probe_read_user_str(dst, ZS_ENDPOINT_LEN, src);
}

/*
 * A socket seen for the first time: one that existed before the attach, or
 * one whose zmq_socket() we missed.  Its type and endpoint come from the
 * calibrated socket_base_t layout; the check tag confirms the handle really
 * is a live socket before anything is stored for it.
 */
static struct zs_sock *sock_discover(struct zs_target *t, struct zs_sock_key *key)
{
	const char *base = (const char *)key->handle;
	struct scratch *sc = scratch();
	struct zs_sock *s;

	if (!sc)
		return NULL;
	if (t->cfg.tag_off >= 0) {
		__u32 tag = 0;

		if (bpf_probe_read_user(&tag, sizeof(tag), base + t->cfg.tag_off) ||
		    tag != ZS_SOCKET_TAG)
			return NULL;
	}
	s = &sc->sock;
	__builtin_memset(s, 0, sizeof(*s));
	s->type = ZS_TYPE_UNKNOWN;
	if (t->cfg.type_off >= 0) {
		__u8 type = ZS_TYPE_UNKNOWN;

		if (!bpf_probe_read_user(&type, 1, base + t->cfg.type_off) && type < ZS_NTYPES) {
			s->type = type;
			s->type_source = ZS_TYPESRC_LAYOUT;
		}
	}
	if (t->cfg.endpoint_off >= 0) {
		const void *str = NULL;

		/* No traffic flows before a bind or connect: an empty endpoint is a fresh socket. */
		if (!bpf_probe_read_user(&str, sizeof(str), base + t->cfg.endpoint_off) && str)
			s->pristine = bpf_probe_read_user_str(s->endpoint, ZS_ENDPOINT_LEN, str) == 1;
	}
	s->role = resolve_role(s->type, s->endpoint);
	s->gen = __sync_fetch_and_add(&t->next_sock_gen, 1);
	return sock_insert(key, s, false);
}

static __always_inline struct zs_sock *sock_get(struct zs_target *t, __u32 tgid, __u64 handle)
{
	struct zs_sock_key key = { .tgid = tgid, .handle = handle };
	struct zs_sock *s;

	if (!handle)
		return NULL;
	s = sock_find(&key);
	return s ? s : sock_discover(t, &key);
}

static __always_inline struct zs_target *current_target(__u32 *tgid)
{
	*tgid = bpf_get_current_pid_tgid() >> 32;
	return bpf_map_lookup_elem(&targets, tgid);
}

/*
 * The socket a call is on, found first: a hash lookup costs more than the
 * rest of most programs, and pyzmq makes seven trapped calls per message.
 * Links are attached per process, so a known socket means a target; the
 * target itself is looked up only to discover a socket, or by the callee
 * that needs its configuration or totals.
 */
static __always_inline struct zs_sock *call_sock(__u32 *tgid, __u64 handle)
{
	struct zs_sock_key key = { .tgid = bpf_get_current_pid_tgid() >> 32, .handle = handle };
	struct zs_target *t;
	struct zs_sock *s;

	*tgid = key.tgid;
	if (!handle)
		return NULL;
	s = sock_find(&key);
	if (s)
		return s;
	t = bpf_map_lookup_elem(&targets, tgid);
	return t ? sock_discover(t, &key) : NULL;
}

static __always_inline struct zs_thread *current_thread(bool create)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct zs_thread *th = bpf_map_lookup_elem(&threads, &id);
	struct scratch *sc;

	if (th || !create)
		return th;
	sc = scratch();
	if (!sc)
		return NULL;
	__builtin_memset(&sc->thread, 0, sizeof(sc->thread));
	return lookup_or_init(&threads, &id, &sc->thread, ZS_DROP_CALLS);
}

#include "spans.bpf.h"

#include "frame_inspect.bpf.h"

/*
 * Where a zmq_msg_t keeps its bytes (inline, or behind a content pointer),
 * and its flags.  The type, flags and inline fields all sit in the first
 * ZS_MSG_HEAD bytes, so they come in one user read rather than one each:
 * on a receive's return each read is a cache miss right after the trap.
 */
#define ZS_MSG_HEAD 48

static __always_inline __u64 msg_data_flags(const char *msg, const void **data, __u8 *flags)
{
	struct {
		const void *data;
		__u64 size;
	} content = {};
	unsigned char m[ZS_MSG_HEAD];
	const char *cptr;
	__u64 size;

	*data = NULL;
	*flags = 0;
	if (bpf_probe_read_user(m, sizeof(m), msg))
		return 0;
	*flags = m[ZS_MSG_FLAGS_OFF];
	switch (m[ZS_MSG_TYPE_OFF]) {
	case ZS_MSG_VSM:
		*data = msg + ZS_MSG_VSM_DATA_OFF;
		return m[ZS_MSG_VSM_SIZE_OFF];
	case ZS_MSG_LMSG:
	case ZS_MSG_ZCLMSG:
		__builtin_memcpy(&cptr, m + ZS_MSG_CONTENT_OFF, sizeof(cptr));
		if (!cptr || bpf_probe_read_user(&content, sizeof(content), cptr))
			return 0;
		*data = content.data;
		return content.size;
	case ZS_MSG_CMSG:
		__builtin_memcpy((void *)data, m + ZS_MSG_CMSG_DATA_OFF, sizeof(*data));
		__builtin_memcpy(&size, m + ZS_MSG_CMSG_SIZE_OFF, sizeof(size));
		return size;
	default:
		return 0;
	}
}

static __always_inline __u64 msg_data(const char *msg, const void **data)
{
	__u8 flags;

	return msg_data_flags(msg, data, &flags);
}

/* ---- per-thread calls ---------------------------------------------------- */

static __always_inline int save_call(__u64 handle, __u64 ptr, __u64 size, __u32 flags,
				     __u16 kind, __u16 opt)
{
	struct zs_thread *th = current_thread(true);

	if (!th)
		return 0;
	th->call.handle = handle;
	th->call.ptr = ptr;
	th->call.size = size;
	th->call.flags = flags;
	th->call.opt = opt;
	th->call.kind = kind;
	return 0;
}

/* The target and the socket of the call in a thread's record; NULL if either is gone. */
static __always_inline struct zs_sock *recorded_call_sock(const struct zs_thread *th,
							  struct zs_sock_key *key,
							  struct zs_target **t)
{
	*t = current_target(&key->tgid);
	if (!*t)
		return NULL;
	key->handle = th->call.handle;
	return sock_find(key);
}

/* The entry probe's record of this call, consumed; NULL if there is none. */
static __always_inline struct zs_thread *take_call(__u16 kind)
{
	struct zs_thread *th = current_thread(false);

	if (!th || th->call.kind != kind)
		return NULL;
	th->call.kind = 0;
	return th;
}

/* ---- uprobe sessions ----------------------------------------------------- */

/*
 * Kernels with uprobe sessions run one program at both ends of a call, and
 * an entry that returns 1 skips the return trap.  The loader picks these or
 * the entry and return pairs.
 */
extern bool bpf_session_is_return(void) __ksym __weak;
extern __u64 *bpf_session_cookie(void) __ksym __weak;

/*
 * A session's return can find its call in the session cookie alone, with
 * no per-thread record to write and read back: the socket handle (user
 * addresses fit 47 bits), and where the call's out-argument (EVENTS's
 * optval, zmq_msg_recv's zmq_msg_t) sits above the stack pointer the
 * return will see (the entry's, past the return address).  pyzmq's are
 * locals of its caller, a few hundred bytes up.  Bit 63 is the program's
 * own.  Anything else goes through the per-thread record.
 */
#define ZS_COOKIE_HANDLE_BITS 47
#define ZS_COOKIE_DELTA_MAX 0xffffULL
#define ZS_COOKIE_FLAG (1ULL << 63)

/* A cookie for `handle` and `ptr`, given the entry's stack pointer; 0 if they do not fit. */
static __always_inline __u64 stack_cookie(__u64 handle, __u64 ptr, __u64 entry_sp)
{
	__u64 ret_sp = entry_sp + 8, delta = ptr - ret_sp;

	if (!handle || handle >> ZS_COOKIE_HANDLE_BITS || ptr < ret_sp ||
	    delta > ZS_COOKIE_DELTA_MAX)
		return 0;
	return delta << ZS_COOKIE_HANDLE_BITS | handle;
}

static __always_inline __u64 cookie_handle(__u64 cookie)
{
	return cookie & ((1ULL << ZS_COOKIE_HANDLE_BITS) - 1);
}

/* Where the pointer is, from the stack pointer the return sees. */
static __always_inline __u64 cookie_ptr(__u64 cookie, __u64 ret_sp)
{
	return ret_sp + ((cookie & ~ZS_COOKIE_FLAG) >> ZS_COOKIE_HANDLE_BITS);
}

#include "receive.bpf.h"

/* ---- send ---------------------------------------------------------------- */

/* What a send that went through adds; `size` was read at its entry. */
static __always_inline void send_counted(__u32 tgid, struct zs_sock *s, __u64 size, __u32 flags)
{
	__sync_fetch_and_add(&s->c.frames_tx, 1);
	__sync_fetch_and_add(&s->c.bytes_tx, size);
	if (!(flags & ZS_ZMQ_SNDMORE)) {
		__sync_fetch_and_add(&s->c.msgs_tx, 1);
		/* The reply has gone out: the request is handled. */
		end_span(tgid, s, true);
	}
}

/*
 * Whether the return must run.  Only a DONTWAIT send's result changes a
 * count (EAGAIN): with `count_blocking`, a blocking send is counted here and
 * takes no return trap.  Its rare failures (ETERM, EINTR, a REQ out of turn,
 * ROUTER_MANDATORY's EHOSTUNREACH) are then counted as sent.  `nested`: a
 * public function's probe, under which socket_base_t::send's may run.
 */
static __always_inline bool send_begins(__u64 handle, const void *data, __u64 size, __u32 flags,
					__u16 kind, bool count_blocking, bool nested)
{
	struct zs_sock *s;
	__u32 tgid;
	bool first;

	s = call_sock(&tgid, handle);
	if (!s)
		return false;
	settle_unresolved_frame(tgid, s, handle);
	/* REQ_RELAXED drops a pending reply on send: readiness is news again. */
	s->pollin_known = 0;
	first = !s->tx_more;
	s->tx_more = (flags & ZS_ZMQ_SNDMORE) != 0;
	inspect_tx_frame(tgid, s, handle, data, size, first);
	if (count_blocking && !(flags & ZS_ZMQ_DONTWAIT)) {
		send_counted(tgid, s, size, flags);
		/* For socket_base_t::send's probe, which runs next: already counted. */
		if (nested)
			save_call(handle, 0, size, flags, ZS_CALL_SEND_COUNTED, 0);
		return false;
	}
	save_call(handle, 0, size, flags, kind, 0);
	return true;
}

static __always_inline int send_return(long rc, __u16 kind)
{
	struct zs_sock_key key = {};
	struct zs_thread *th;
	struct zs_sock *s;

	th = take_call(kind);
	if (!th)
		return 0;
	key.tgid = bpf_get_current_pid_tgid() >> 32;
	key.handle = th->call.handle;
	s = sock_find(&key);
	if (!s)
		return 0;
	if (rc < 0) {
		if (th->call.flags & ZS_ZMQ_DONTWAIT)
			__sync_fetch_and_add(&s->c.tx_eagain, 1);
		else
			__sync_fetch_and_add(&s->c.tx_errors, 1);
		return 0;
	}
	send_counted(key.tgid, s, th->call.size, th->call.flags);
	return 0;
}

/* Kernels before 6.12: an entry and a return probe, the return on every call. */
SEC("uprobe")
int BPF_UPROBE(zmq_msg_send_entry, void *msg, void *sock, int flags)
{
	const void *data;
	__u64 size = msg_data(msg, &data);

	/* Size and bytes must be read now: a sent message is moved out by return. */
	send_begins((__u64)sock, data, size, flags, ZS_CALL_MSG_SEND, false, true);
	return 0;
}

SEC("uretprobe")
int BPF_URETPROBE(zmq_msg_send_return, int rc)
{
	return send_return(rc, ZS_CALL_MSG_SEND);
}

/* zmq_send_const shares zmq_send's prototype and all of its programs. */
SEC("uprobe")
int BPF_UPROBE(zmq_send_entry, void *sock, const void *buf, size_t len, int flags)
{
	send_begins((__u64)sock, buf, len, flags, ZS_CALL_SEND, false, true);
	return 0;
}

SEC("uretprobe")
int BPF_URETPROBE(zmq_send_return, int rc)
{
	return send_return(rc, ZS_CALL_SEND);
}

/* zmq_msg_send(msg, sock, flags) */
SEC("uprobe")
int zmq_msg_send_session(struct pt_regs *ctx)
{
	const void *data;
	__u64 size;

	if (bpf_session_is_return())
		return send_return((int)PT_REGS_RC(ctx), ZS_CALL_MSG_SEND);
	size = msg_data((void *)PT_REGS_PARM1(ctx), &data);
	return send_begins((__u64)PT_REGS_PARM2(ctx), data, size, (__u32)PT_REGS_PARM3(ctx),
			   ZS_CALL_MSG_SEND, true, true)
		       ? 0
		       : 1;
}

/* zmq_send(sock, buf, len, flags), and zmq_send_const */
SEC("uprobe")
int zmq_send_session(struct pt_regs *ctx)
{
	if (bpf_session_is_return())
		return send_return((int)PT_REGS_RC(ctx), ZS_CALL_SEND);
	return send_begins((__u64)PT_REGS_PARM1(ctx), (const void *)PT_REGS_PARM2(ctx),
			   (__u64)PT_REGS_PARM3(ctx), (__u32)PT_REGS_PARM4(ctx), ZS_CALL_SEND, true,
			   true)
		       ? 0
		       : 1;
}

#include "sockopt.bpf.h"

/* ---- socket lifecycle ---------------------------------------------------- */

SEC("uprobe")
int BPF_UPROBE(zmq_socket_entry, void *zctx, int type)
{
	__u32 tgid;

	if (!current_target(&tgid))
		return 0;
	return save_call(0, 0, 0, type, ZS_CALL_SOCKET, 0);
}

SEC("uretprobe")
int BPF_URETPROBE(zmq_socket_return, void *handle)
{
	struct zs_sock_key key = {};
	struct zs_thread *th;
	struct zs_target *t;
	struct scratch *sc;
	struct zs_sock *s;

	th = take_call(ZS_CALL_SOCKET);
	if (!th || !handle)
		return 0;
	t = current_target(&key.tgid);
	if (!t)
		return 0;
	key.handle = (__u64)handle;
	sc = scratch();
	if (!sc)
		return 0;
	/* A recycled handle starts from zero: overwrite whatever was there. */
	s = &sc->sock;
	__builtin_memset(s, 0, sizeof(*s));
	s->type = th->call.flags < ZS_NTYPES ? th->call.flags : ZS_TYPE_UNKNOWN;
	s->type_source = ZS_TYPESRC_CREATED;
	s->pristine = 1;
	s->role = resolve_role(s->type, s->endpoint);
	s->gen = __sync_fetch_and_add(&t->next_sock_gen, 1);
	sock_insert(&key, s, true);
	return 0;
}

static __always_inline int endpoint_entry(void *sock, const char *addr, __u16 kind)
{
	struct zs_target *t;
	__u32 tgid;

	t = current_target(&tgid);
	if (!t || !sock_get(t, tgid, (__u64)sock))
		return 0;
	return save_call((__u64)sock, (__u64)addr, 0, 0, kind, 0);
}

/*
 * Prefer libzmq's own _last_endpoint: after binding port 0 or a wildcard it
 * holds the address actually bound, the same form a socket found before
 * the attach shows.  The application's string is the fallback.
 */
static __always_inline int endpoint_return(int rc, __u16 kind)
{
	struct zs_sock_key key = {};
	struct zs_thread *th;
	struct zs_target *t;
	struct zs_sock *s;
	const void *str = NULL;

	th = take_call(kind);
	if (!th || rc != 0)
		return 0;
	t = current_target(&key.tgid);
	if (!t)
		return 0;
	key.handle = th->call.handle;
	s = sock_find(&key);
	if (!s)
		return 0;
	if (t->cfg.endpoint_off >= 0)
		bpf_probe_read_user(&str, sizeof(str),
				    (const char *)key.handle + t->cfg.endpoint_off);
	if (!str)
		str = (const void *)th->call.ptr;
	__builtin_memset(s->endpoint, 0, sizeof(s->endpoint));
	read_endpoint_ptr(s->endpoint, str);
	s->role = resolve_role(s->type, s->endpoint);
	return 0;
}

SEC("uprobe")
int BPF_UPROBE(zmq_bind_entry, void *sock, const char *addr)
{
	return endpoint_entry(sock, addr, ZS_CALL_BIND);
}

SEC("uretprobe")
int BPF_URETPROBE(zmq_bind_return, int rc)
{
	return endpoint_return(rc, ZS_CALL_BIND);
}

SEC("uprobe")
int BPF_UPROBE(zmq_connect_entry, void *sock, const char *addr)
{
	return endpoint_entry(sock, addr, ZS_CALL_CONNECT);
}

SEC("uretprobe")
int BPF_URETPROBE(zmq_connect_return, int rc)
{
	return endpoint_return(rc, ZS_CALL_CONNECT);
}

SEC("uprobe")
int BPF_UPROBE(zmq_close_entry, void *sock)
{
	struct zs_sock_key key = { .handle = (__u64)sock };
	struct zs_target *t = current_target(&key.tgid);
	struct zs_sock *s;

	if (!t)
		return 0;
	/* The last frame zmq_recv() returned is final: nothing can follow it now. */
	s = sock_find(&key);
	if (s)
		settle_unresolved_frame(key.tgid, s, key.handle);
	sock_remove(&key);
	return 0;
}

/* ---- --handler ROLE=PATH:SYMBOL ------------------------------------------ */

/*
 * The attach cookie is the role.  Spans are per thread; nested and
 * recursive calls count once, from the outermost entry to its return.
 */
/* The target and role a --handler probe hit belongs to, or NULL. */
static __always_inline struct zs_target *handler_target(struct pt_regs *ctx, __u32 *tgid,
							__u32 *role)
{
	struct zs_target *t = current_target(tgid);

	*role = (__u32)bpf_get_attach_cookie(ctx);
	return t && *role < ZS_ROLE_MAX ? t : NULL;
}

SEC("uprobe")
int BPF_UPROBE(handler_entry)
{
	struct zs_thread *th;
	struct zs_target *t;
	__u32 tgid, role;

	t = handler_target(ctx, &tgid, &role);
	th = t ? current_thread(true) : NULL;
	if (!th || role >= ZS_ROLE_MAX)
		return 0;
	if (th->depth[role]++ == 0) {
		th->handler_start_ns[role] = bpf_ktime_get_ns();
		__sync_fetch_and_add(&t->explicit_active[role], 1);
	}
	return 0;
}

SEC("uretprobe")
int BPF_URETPROBE(handler_return)
{
	struct zs_thread *th;
	struct zs_target *t;
	__u32 tgid, role;

	t = handler_target(ctx, &tgid, &role);
	th = t ? current_thread(false) : NULL;
	/* A call that began before the attach has no entry here: skip it. */
	if (!th || role >= ZS_ROLE_MAX || th->depth[role] == 0)
		return 0;
	if (--th->depth[role])
		return 0;
	__sync_fetch_and_add(&t->explicit_active[role], -1);
	hist_record(tgid, role, ZS_SPAN_HANDLER, th->last_msg_type[role],
		    bpf_ktime_get_ns() - th->handler_start_ns[role]);
	return 0;
}

#include "socket_fixup.bpf.h"
#include "loops.bpf.h"
#include "internal_calls.bpf.h"
#include "lib_watch.bpf.h"
