// SPDX-License-Identifier: GPL-2.0
/*
 * The wire layer: ZMTP 3.x parsed from a target's own socket syscalls, on
 * the raw sys_exit tracepoint.  libzmq's I/O threads make those
 * calls, so the application's threads take no trap.  The tracepoints fire
 * for every process on the host: the first thing each program does is
 * look the tgid up in `wire_targets`, and everything else is for targets.
 *
 * Only sys_exit is used.  The syscall ABI keeps the argument registers
 * across the call, so the pt_regs the exit tracepoint is given still hold
 * (fd, buffer, length) beside the result; a sys_enter program would double
 * the runs on every syscall of every process on the host, and cost the
 * target a per-thread map update and lookup for each read and write (see
 * docs/design-notes.md).  Knowing how many bytes moved, the program runs
 * the parser of include/zmtp.h over them with bpf_loop, reading user memory
 * 64 bytes at a time only where a byte is needed.  Connections are (tgid,
 * fd) pairs created at connect()/accept(): a stream joined mid-way cannot
 * be framed, so a connection opened before the attach is not parsed.
 * close() folds a connection's counts into its endpoint's totals and
 * forgets it.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "wire.h"

#define EINPROGRESS 115
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define SOCK_STREAM 1
#define WIN 64

char LICENSE[] SEC("license") = "GPL";

#if defined(__TARGET_ARCH_x86)
#define SYSCALL_NR(regs) ((regs)->orig_ax)
#define SYSCALL_NR_CORE(regs) BPF_CORE_READ(regs, orig_ax)
#define NR_READ 0
#define NR_WRITE 1
#define NR_CLOSE 3
#define NR_READV 19
#define NR_WRITEV 20
#define NR_CONNECT 42
#define NR_ACCEPT 43
#define NR_SENDTO 44
#define NR_RECVFROM 45
#define NR_SENDMSG 46
#define NR_RECVMSG 47
#define NR_SHUTDOWN 48
#define NR_ACCEPT4 288
#elif defined(__TARGET_ARCH_arm64)
#define SYSCALL_NR(regs) ((regs)->syscallno)
#define SYSCALL_NR_CORE(regs) BPF_CORE_READ(regs, syscallno)
#define NR_READ 63
#define NR_WRITE 64
#define NR_CLOSE 57
#define NR_READV 65
#define NR_WRITEV 66
#define NR_CONNECT 203
#define NR_ACCEPT 202
#define NR_SENDTO 206
#define NR_RECVFROM 207
#define NR_SENDMSG 211
#define NR_RECVMSG 212
#define NR_SHUTDOWN 210
#define NR_ACCEPT4 242
#else
#error "syscall numbers for this architecture are missing"
#endif

/*
 * One bit per possible tgid (PID_MAX_LIMIT is 2^22 on 64-bit), set by the
 * loader: every syscall on the host asks, so the answer is one load, not a
 * hash lookup.  `wire_targets` holds what the targets need beyond that.
 */
__u64 wire_target_bits[ZS_WIRE_TGID_WORDS] SEC(".bss");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZS_WIRE_MAX_TARGETS);
	__type(key, __u32);
	__type(value, __u32); /* connections opened so far */
} wire_targets SEC(".maps");

static __always_inline bool is_target(__u32 tgid)
{
	return (wire_target_bits[(tgid >> 6) & (ZS_WIRE_TGID_WORDS - 1)] >> (tgid & 63)) & 1;
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZS_WIRE_MAX_CONNS);
	__type(key, struct zs_wire_conn_key);
	__type(value, struct zs_wire_conn);
} wire_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZS_WIRE_MAX_EPS);
	__type(key, struct zs_wire_ep);
	__type(value, struct zs_wire_ep_totals);
} wire_eps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZS_WIRE_MAX_TYPES);
	__type(key, struct zs_wire_type_key);
	__type(value, __u64);
} wire_types SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZS_WIRE_MAX_HISTS);
	__type(key, struct zs_wire_hist_key);
	__type(value, struct zs_hist);
} wire_hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ZS_WIRE_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} wire_drops SEC(".maps");

/* Zeroed values too large for the stack. */
struct wire_scratch {
	struct zs_wire_conn conn;
	struct zs_wire_ep_totals totals;
	struct zs_hist hist;
	struct zs_wire_type_key tkey;
	struct zs_wire_hist_key hkey;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wire_scratch);
} wire_scratch_map SEC(".maps");

static __always_inline void drop(__u32 why)
{
	__u64 *n = bpf_map_lookup_elem(&wire_drops, &why);

	if (n)
		__sync_fetch_and_add(n, 1);
}

static __always_inline struct wire_scratch *scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&wire_scratch_map, &zero);
}

/* ---- endpoints -------------------------------------------------------- */

static __always_inline struct sock *fd_sock(int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	struct file *f = NULL;
	struct socket *sock;
	umode_t mode;

	if (fd < 0 || (unsigned int)fd >= max)
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	if (!f)
		return NULL;
	mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(f, private_data);
	return sock ? BPF_CORE_READ(sock, sk) : NULL;
}

static __always_inline void unix_path(struct sock *sk, char *path)
{
	struct unix_address *addr = BPF_CORE_READ((struct unix_sock *)sk, addr);
	int len;

	if (!addr)
		return;
	len = BPF_CORE_READ(addr, len) - (int)sizeof(short);
	if (len <= 0)
		return;
	if (len > ZS_WIRE_PATH_LEN - 1)
		len = ZS_WIRE_PATH_LEN - 1;
	bpf_probe_read_kernel(path, len & (ZS_WIRE_PATH_LEN - 1), addr->name[0].sun_path);
}

/*
 * Fills the endpoint and peer of a connection from its socket: for tcp the
 * local address if it was accepted (the zmq socket's bind), the remote one
 * if it was connected; for ipc the path, which an accepted unix socket
 * shares with its listener and a connected one finds on its peer.
 */
static __always_inline int conn_from_sock(struct sock *sk, __u8 side, struct zs_wire_conn *c)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 type = BPF_CORE_READ(sk, sk_type);
	__u16 lport, rport;

	if (type != SOCK_STREAM)
		return -1;
	c->ep.family = family;
	c->ep.side = side;
	if (family == AF_UNIX) {
		if (side == ZS_WIRE_ACCEPTED) {
			unix_path(sk, c->ep.path);
		} else {
			struct sock *peer = BPF_CORE_READ((struct unix_sock *)sk, peer);

			if (peer)
				unix_path(peer, c->ep.path);
		}
		return 0;
	}
	if (family != AF_INET && family != AF_INET6)
		return -1;
	lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		__u32 laddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 raddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(c->ep.addr, side == ZS_WIRE_ACCEPTED ? &laddr : &raddr, 4);
		__builtin_memcpy(c->raddr, side == ZS_WIRE_ACCEPTED ? &raddr : &laddr, 4);
	} else {
		BPF_CORE_READ_INTO(side == ZS_WIRE_ACCEPTED ? c->ep.addr : c->raddr, sk,
				   __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(side == ZS_WIRE_ACCEPTED ? c->raddr : c->ep.addr, sk,
				   __sk_common.skc_v6_daddr);
	}
	c->ep.port = side == ZS_WIRE_ACCEPTED ? lport : rport;
	c->rport = side == ZS_WIRE_ACCEPTED ? rport : lport;
	return 0;
}

static __always_inline struct zs_wire_ep_totals *ep_totals(struct zs_wire_ep *ep,
							   struct wire_scratch *s)
{
	struct zs_wire_ep_totals *t = bpf_map_lookup_elem(&wire_eps, ep);

	if (t)
		return t;
	__builtin_memset(&s->totals, 0, sizeof(s->totals));
	bpf_map_update_elem(&wire_eps, ep, &s->totals, BPF_NOEXIST); /* or a racing CPU's */
	t = bpf_map_lookup_elem(&wire_eps, ep);
	if (!t)
		drop(ZS_WIRE_DROP_EPS);
	return t;
}

static __always_inline void add_counts(struct zmtp_counts *to, const struct zmtp_counts *from)
{
	__sync_fetch_and_add(&to->frames, from->frames);
	__sync_fetch_and_add(&to->msgs, from->msgs);
	__sync_fetch_and_add(&to->bytes, from->bytes);
	__sync_fetch_and_add(&to->commands, from->commands);
	__sync_fetch_and_add(&to->pings, from->pings);
	__sync_fetch_and_add(&to->pongs, from->pongs);
	__sync_fetch_and_add(&to->errors, from->errors);
}

/* Did either direction prove the stream is some other protocol (HTTP, say)? */
static __always_inline bool not_zmtp(const struct zs_wire_conn *c)
{
	return c->in.fail == ZMTP_FAIL_SIGNATURE || c->out.fail == ZMTP_FAIL_SIGNATURE;
}

/*
 * A connection ends: its counts go to its endpoint, and it is forgotten.
 * One that turned out not to speak ZMTP leaves nothing.
 */
static __always_inline void conn_close(struct zs_wire_conn_key *key, struct wire_scratch *s)
{
	struct zs_wire_conn *c = bpf_map_lookup_elem(&wire_conns, key);
	struct zs_wire_ep_totals *t;

	if (!c)
		return;
	t = not_zmtp(c) ? NULL : ep_totals(&c->ep, s);
	if (t) {
		add_counts(&t->in, &c->in.c);
		add_counts(&t->out, &c->out.c);
		__sync_fetch_and_add(&t->wire_in, c->wire_in);
		__sync_fetch_and_add(&t->wire_out, c->wire_out);
		__sync_fetch_and_add(&t->opened, 1);
		__sync_fetch_and_add(&t->closed, 1);
		if (c->out.socket_type[0])
			__builtin_memcpy(t->local_type, c->out.socket_type, sizeof(t->local_type));
		if (!c->in.handshake_done || !c->out.handshake_done || c->in.c.errors ||
		    c->out.c.errors)
			__sync_fetch_and_add(&t->handshake_failures, 1);
	}
	bpf_map_delete_elem(&wire_conns, key);
}

static __always_inline void conn_open(__u32 tgid, int fd, __u8 side, struct wire_scratch *s)
{
	struct zs_wire_conn_key key = { .tgid = tgid, .fd = fd };
	struct zs_wire_conn *c = &s->conn;
	struct sock *sk;
	__u32 *opened;

	conn_close(&key, s); /* a close we did not see (dup2, close_range) */
	sk = fd_sock(fd);
	if (!sk)
		return;
	__builtin_memset(c, 0, sizeof(*c));
	if (conn_from_sock(sk, side, c))
		return;
	c->ep.tgid = tgid;
	c->sk = (__u64)sk;
	c->opened_ns = bpf_ktime_get_ns();
	opened = bpf_map_lookup_elem(&wire_targets, &tgid);
	if (opened)
		c->seq = __sync_fetch_and_add(opened, 1) + 1;
	if (bpf_map_update_elem(&wire_conns, &key, c, BPF_ANY))
		drop(ZS_WIRE_DROP_CONNS);
}

/* ---- messages ---------------------------------------------------------- */

static __always_inline bool replies_to_requests(const struct zmtp_parser *out)
{
	const char *t = out->socket_type;

	/* This side's own READY said ROUTER or REP. */
	return t[0] == 'R' && ((t[1] == 'O' && t[2] == 'U' && t[3] == 'T' && t[4] == 'E' &&
				t[5] == 'R' && t[6] == 0) ||
			       (t[1] == 'E' && t[2] == 'P' && t[3] == 0));
}

static __always_inline void count_type(struct zs_wire_conn *c, __u32 dir,
				       struct zs_wire_type_key *k)
{
	__u64 one = 1, *n;

	k->ep = c->ep;
	k->dir = dir;
	n = bpf_map_lookup_elem(&wire_types, k);
	if (n) {
		__sync_fetch_and_add(n, 1);
		return;
	}
	if (bpf_map_update_elem(&wire_types, k, &one, BPF_NOEXIST)) {
		n = bpf_map_lookup_elem(&wire_types, k);
		if (n)
			__sync_fetch_and_add(n, 1);
		else
			drop(ZS_WIRE_DROP_TYPES);
	}
}

static __always_inline void record_latency(struct zs_wire_conn *c, struct wire_scratch *s,
					   __u64 now)
{
	struct zs_wire_hist_key *k = &s->hkey;
	__u64 ns = now - c->req_start_ns;
	struct zs_hist *h;
	__u32 slot;

	k->ep = c->ep;
	__builtin_memcpy(k->name, c->req_type, sizeof(k->name));
	h = bpf_map_lookup_elem(&wire_hists, k);
	if (!h) {
		__builtin_memset(&s->hist, 0, sizeof(s->hist));
		bpf_map_update_elem(&wire_hists, k, &s->hist, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&wire_hists, k);
		if (!h) {
			drop(ZS_WIRE_DROP_HISTS);
			return;
		}
	}
	slot = zs_hist_slot(ns);
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->sum_ns, ns);
	if (slot < ZS_HIST_SLOTS)
		__sync_fetch_and_add(&h->slots[slot], 1);
}

/* A message ended in direction `dir`: its type, and the request/reply timing. */
static __always_inline void message_done(struct zs_wire_conn *c, struct zmtp_parser *p,
					 __u32 dir, struct wire_scratch *s)
{
	struct zs_wire_type_key *k = &s->tkey;
	int n = zs_msgtype_result(&p->mt);
	__u64 now;

	__builtin_memset(k->name, 0, sizeof(k->name));
	if (n > 0)
		__builtin_memcpy(k->name, p->mt.name, sizeof(k->name));
	count_type(c, dir, k);
	if (!replies_to_requests(&c->out))
		return;
	now = bpf_ktime_get_ns();
	if (dir == ZS_WIRE_IN) {
		if (!c->req_start_ns) {
			c->req_start_ns = now;
			__builtin_memcpy(c->req_type, k->name, sizeof(c->req_type));
		}
	} else if (c->req_start_ns) {
		record_latency(c, s, now);
		c->req_start_ns = 0;
	}
}

/* ---- the parser loop ---------------------------------------------------- */

struct chunk {
	struct zs_wire_conn *c;
	struct zmtp_parser *p;
	struct wire_scratch *s;
	__u64 buf;
	__u32 len;
	__u32 off;
	__u32 win_off;
	__u32 win_len;
	__u32 dir;
	/*
	 * Up to WIN bytes of the chunk from win_off.  The second half is never
	 * filled: it lets a type header be read from any offset in the first
	 * (bounded by win_len) in a way the verifier can see stays in the array.
	 */
	unsigned char win[2 * WIN];
};

/* Reads the window at the chunk's offset.  0, or -1 with the stream given up. */
static __always_inline int window_at_off(struct chunk *ch)
{
	__u32 n = ch->len - ch->off;

	if (n > WIN)
		n = WIN;
	if (n == 0 || bpf_probe_read_user(ch->win, n, (void *)(ch->buf + ch->off))) {
		drop(ZS_WIRE_DROP_READS);
		ch->p->state = ZMTP_ST_DEAD;
		return -1;
	}
	ch->win_off = ch->off;
	ch->win_len = n;
	return 0;
}

/* Does the window hold `n` bytes from the chunk's offset? */
static __always_inline bool window_holds(const struct chunk *ch, __u32 n)
{
	return ch->off >= ch->win_off && ch->off + n <= ch->win_off + ch->win_len;
}

/*
 * zmtp_byte() as a global function: the verifier checks the state machine
 * once, on its own, not again in every state of the loop around it (inlined,
 * the program came within 4% of the verifier's million instructions).
 */
__noinline int wire_zmtp_byte(struct zmtp_parser *p, __u32 c)
{
	if (!p)
		return 0;
	return (int)zmtp_byte(p, (unsigned char)c);
}

struct type_head {
	unsigned char b[ZS_MSGTYPE_FIXMAP_MAX];
};

/*
 * zs_msgtype_fixmap_run() as a global function, which the verifier checks
 * once on its own: inlined into chunk_step, its name loop multiplied the
 * parser's states past the verifier's limit.
 */
__noinline int wire_type_run(struct zs_msgtype_state *st, const struct type_head *h, __u32 len)
{
	if (!st || !h)
		return 0;
	return (int)zs_msgtype_fixmap_run(st, h->b, len < sizeof(h->b) ? len : sizeof(h->b));
}

/*
 * A payload starts: msgspec's type header in one step, from a window that
 * holds it whole, read again if it does not.  Returns the bytes taken, 0 to
 * go byte by byte, or -1 when the stream was given up.
 */
static __always_inline int type_step(struct chunk *ch, __u32 *ev)
{
	__u32 want = zmtp_type_span(ch->p, ch->len - ch->off), rel;
	int k;

	if (!window_holds(ch, want) && window_at_off(ch))
		return -1;
	rel = ch->off - ch->win_off;
	k = wire_type_run(&ch->p->mt, (const struct type_head *)&ch->win[rel & (WIN - 1)],
			  zmtp_type_span(ch->p, ch->win_len - rel));
	if (k > 0)
		*ev = zmtp_type_taken(ch->p, (__u32)k);
	return k;
}

static long chunk_step(__u64 i, void *arg)
{
	struct chunk *ch = arg;
	struct zmtp_parser *p = ch->p;
	__u32 ev = 0, rel;
	__u64 skip;
	int k = 0;

	(void)i;
	if (ch->off >= ch->len || p->state == ZMTP_ST_DEAD)
		return 1;
	skip = zmtp_skippable(p);
	if (skip) {
		__u32 n = ch->len - ch->off;

		if (skip < n)
			n = (__u32)skip;
		ev = zmtp_skip(p, n);
		ch->off += n;
	} else {
		if (zmtp_type_starts(p))
			k = type_step(ch, &ev);
		if (k < 0)
			return 1;
		if (k) {
			ch->off += k;
		} else {
			if (!window_holds(ch, 1) && window_at_off(ch))
				return 1;
			rel = ch->off - ch->win_off;
			ev = (__u32)wire_zmtp_byte(p, ch->win[rel & (WIN - 1)]);
			ch->off++;
		}
	}
	if (ev & ZMTP_EV_MESSAGE) {
		message_done(ch->c, p, ch->dir, ch->s);
		zmtp_message_taken(p);
	}
	return 0;
}

/*
 * Global, like wire_zmtp_byte: the verifier checks the loop once, not at
 * each of the read, iovec and msghdr paths that parse a chunk.
 */
__noinline int parse_chunk(struct zs_wire_conn *c, __u32 dir, __u64 buf, __u64 len,
			   struct wire_scratch *s)
{
	struct chunk ch;
	long steps;

	if (!c || !s || !len)
		return 0;
	ch = (struct chunk){
		.c = c, .p = dir == ZS_WIRE_IN ? &c->in : &c->out, .s = s,
		.buf = buf, .len = (__u32)len, .dir = dir,
	};
	if (ch.p->state == ZMTP_ST_DEAD)
		return 0;
	steps = bpf_loop(ZS_WIRE_MAX_STEPS, chunk_step, &ch, 0);
	if (steps >= ZS_WIRE_MAX_STEPS && ch.off < ch.len) {
		/* The rest of the chunk was not framed: the stream is lost. */
		drop(ZS_WIRE_DROP_STEPS);
		ch.p->state = ZMTP_ST_DEAD;
	}
	return 0;
}

/* ---- the tracepoint ----------------------------------------------------- */

static __always_inline __u16 op_of(long id)
{
	switch (id) {
	case NR_READ:
	case NR_RECVFROM:
		return ZS_WIRE_OP_READ;
	case NR_WRITE:
	case NR_SENDTO:
		return ZS_WIRE_OP_WRITE;
	case NR_READV:
		return ZS_WIRE_OP_READV;
	case NR_WRITEV:
		return ZS_WIRE_OP_WRITEV;
	case NR_RECVMSG:
		return ZS_WIRE_OP_RECVMSG;
	case NR_SENDMSG:
		return ZS_WIRE_OP_SENDMSG;
	case NR_CONNECT:
		return ZS_WIRE_OP_CONNECT;
	case NR_ACCEPT:
	case NR_ACCEPT4:
		return ZS_WIRE_OP_ACCEPT;
	case NR_CLOSE:
		return ZS_WIRE_OP_CLOSE;
	case NR_SHUTDOWN:
		return ZS_WIRE_OP_SHUTDOWN;
	default:
		return 0;
	}
}

/* Up to ZS_WIRE_MAX_IOV iovecs, `total` bytes in all. */
static __always_inline void parse_iov(struct zs_wire_conn *c, __u32 dir, __u64 iov, __u64 cnt,
				      __u64 total, struct wire_scratch *s)
{
	for (int i = 0; i < ZS_WIRE_MAX_IOV; i++) {
		struct iovec v;
		__u64 n;

		if (i >= cnt || !total)
			return;
		if (bpf_probe_read_user(&v, sizeof(v), (void *)(iov + i * sizeof(v)))) {
			drop(ZS_WIRE_DROP_READS);
			return;
		}
		n = v.iov_len < total ? v.iov_len : total;
		parse_chunk(c, dir, (__u64)v.iov_base, n, s);
		total -= n;
	}
	if (total) {
		(dir == ZS_WIRE_IN ? &c->in : &c->out)->state = ZMTP_ST_DEAD;
		drop(ZS_WIRE_DROP_READS);
	}
}

/*
 * close() has already freed the fd when its exit runs, so another thread
 * may have been given the same number by accept() or connect(), and its
 * exit may have recorded the new connection first.  The entry is the
 * closed connection's only if the fd no longer leads to its socket.
 */
static __always_inline void fd_closed(struct zs_wire_conn_key *key, struct wire_scratch *s)
{
	struct zs_wire_conn *c = bpf_map_lookup_elem(&wire_conns, key);

	if (c && c->sk != (__u64)fd_sock(key->fd))
		conn_close(key, s);
}

/* connect, accept, close or shutdown returned `ret`: a connection begins or ends. */
static __always_inline void on_conn_op(__u32 tgid, __u16 op, long ret, int fd)
{
	struct zs_wire_conn_key key = { .tgid = tgid, .fd = fd };
	struct wire_scratch *s;

	if ((op == ZS_WIRE_OP_CONNECT && ret != 0 && ret != -EINPROGRESS) ||
	    (op == ZS_WIRE_OP_ACCEPT && ret < 0))
		return;
	s = scratch();
	if (!s)
		return;
	switch (op) {
	case ZS_WIRE_OP_CONNECT:
		conn_open(tgid, fd, ZS_WIRE_CONNECTED, s);
		break;
	case ZS_WIRE_OP_ACCEPT:
		conn_open(tgid, (int)ret, ZS_WIRE_ACCEPTED, s);
		break;
	case ZS_WIRE_OP_CLOSE:
		fd_closed(&key, s);
		break;
	default:
		conn_close(&key, s);
	}
}

/* A read or write moved `ret` bytes: parsed if the fd is a connection. */
static __always_inline void on_data(__u32 tgid, __u16 op, long ret, int fd, __u64 buf, __u64 len)
{
	struct zs_wire_conn_key key = { .tgid = tgid, .fd = fd };
	struct wire_scratch *s;
	struct zs_wire_conn *c;
	__u32 dir;

	/* EAGAIN ends every drain of a socket: it stops before any map. */
	if (ret <= 0)
		return;
	c = bpf_map_lookup_elem(&wire_conns, &key);
	/* Reads of eventfds and files stop here. */
	if (!c)
		return;
	s = scratch();
	if (!s)
		return;
	dir = (op == ZS_WIRE_OP_READ || op == ZS_WIRE_OP_READV || op == ZS_WIRE_OP_RECVMSG)
		      ? ZS_WIRE_IN
		      : ZS_WIRE_OUT;
	if (dir == ZS_WIRE_IN)
		__sync_fetch_and_add(&c->wire_in, ret);
	else
		__sync_fetch_and_add(&c->wire_out, ret);
	if (op == ZS_WIRE_OP_READ || op == ZS_WIRE_OP_WRITE) {
		parse_chunk(c, dir, buf, (__u64)ret, s);
	} else if (op == ZS_WIRE_OP_READV || op == ZS_WIRE_OP_WRITEV) {
		parse_iov(c, dir, buf, len, (__u64)ret, s);
	} else {
		struct user_msghdr m;

		if (bpf_probe_read_user(&m, sizeof(m), (void *)buf)) {
			drop(ZS_WIRE_DROP_READS);
			return;
		}
		parse_iov(c, dir, (__u64)m.msg_iov, m.msg_iovlen, (__u64)ret, s);
	}
}

/* A target's syscall of interest returned `ret`; its arguments are still in pt_regs. */
static __always_inline int on_exit(__u32 tgid, __u16 op, long ret, int fd, __u64 buf, __u64 len)
{
	if (zs_wire_op_is_conn(op))
		on_conn_op(tgid, op, ret, fd);
	else
		on_data(tgid, op, ret, fd, buf, len);
	return 0;
}

/*
 * The same program twice: the loader keeps the kind the kernel accepts.
 * Every syscall on the host runs it, so the tgid bit and the syscall
 * number settle most of them before the arguments are read.
 */
SEC("tp_btf/sys_exit")
int BPF_PROG(wire_exit_btf, struct pt_regs *regs, long ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u16 op;

	if (!is_target(tgid))
		return 0;
	op = op_of(SYSCALL_NR(regs));
	if (!op)
		return 0;
	return on_exit(tgid, op, ret, (int)PT_REGS_PARM1_SYSCALL(regs), PT_REGS_PARM2_SYSCALL(regs),
		       PT_REGS_PARM3_SYSCALL(regs));
}

SEC("raw_tp/sys_exit")
int BPF_PROG(wire_exit_raw, struct pt_regs *regs, long ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u16 op;

	if (!is_target(tgid))
		return 0;
	op = op_of(SYSCALL_NR_CORE(regs));
	if (!op)
		return 0;
	return on_exit(tgid, op, ret, (int)PT_REGS_PARM1_CORE_SYSCALL(regs),
		       PT_REGS_PARM2_CORE_SYSCALL(regs), PT_REGS_PARM3_CORE_SYSCALL(regs));
}
