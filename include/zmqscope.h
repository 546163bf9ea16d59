/* SPDX-License-Identifier: MIT */
/*
 * Types shared by the BPF programs and the loader.  Everything here is a map
 * key or value, or a constant both sides must agree on; a change to any of
 * them rebuilds both sides (see -MMD in the Makefile).
 */
#ifndef ZMQSCOPE_H
#define ZMQSCOPE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define ZS_ENDPOINT_LEN 64
#define ZS_MSG_TYPE_LEN 32
#define ZS_MAX_SOCKETS 16384
#define ZS_SOCK_HINTS 32768 /* a power of two: the socket lookup's cache (socket_table.bpf.h) */
#define ZS_MAX_THREADS 16384
#define ZS_MAX_TARGETS 256
#define ZS_MAX_ROLE_ENDPOINTS 64
#define ZS_MAX_MSG_TYPES 4096
#define ZS_MAX_SOCK_TYPES 16384
#define ZS_MAX_HISTS 8192

/*
 * log2 histogram of nanoseconds: slot i counts 2^(i-1) < v <= 2^i (slot 0:
 * v <= 1), so each slot's upper edge is exactly 2^i ns.  The last slot
 * takes everything above 2^(ZS_HIST_SLOTS-2) ns (~275 s).
 */
#define ZS_HIST_SLOTS 40

/* Type ids: 0 and 1 are reserved, names get 2 and up. */
#define ZS_MSGTYPE_UNKNOWN 0 /* not decoded: no tag, or not a typed role */
#define ZS_MSGTYPE_OTHER 1   /* past the per-process limit of distinct names */
#define ZS_MSGTYPE_FIRST 2

/* libzmq socket types are 0..20 (PAIR..CHANNEL); anything else is unknown. */
#define ZS_NTYPES 21
#define ZS_TYPE_UNKNOWN 0xff

/* libzmq constants the probes decode. */
#define ZS_ZMQ_DONTWAIT 1
#define ZS_ZMQ_SNDMORE 2
#define ZS_ZMQ_RCVMORE 13
#define ZS_ZMQ_EVENTS 15
#define ZS_ZMQ_TYPE 16
#define ZS_ZMQ_RCVTIMEO 27
#define ZS_ZMQ_POLLIN 1
#define ZS_POLLITEM_SIZE 16 /* zmq_pollitem_t: void *socket; int fd; short events, revents */
#define ZS_MAX_POLL_ITEMS 256 /* zmq_poll items looked at per call */
#define ZS_SOCKET_TAG 0xbaddecafU

/*
 * zmq_msg_t layout, stable from libzmq 4.2 to 4.3.5: a 64-byte union whose
 * last two bytes are the message type and the flags.
 */
#define ZS_MSG_TYPE_OFF 42
#define ZS_MSG_FLAGS_OFF 43
#define ZS_MSG_FLAG_MORE 1
#define ZS_MSG_VSM 101
#define ZS_MSG_LMSG 102
#define ZS_MSG_CMSG 104
#define ZS_MSG_ZCLMSG 105
#define ZS_MSG_VSM_DATA_OFF 8
#define ZS_MSG_VSM_SIZE_OFF 41
#define ZS_MSG_CONTENT_OFF 8 /* content_t *: {void *data; size_t size; ...} */
#define ZS_MSG_CMSG_DATA_OFF 8
#define ZS_MSG_CMSG_SIZE_OFF 16

/*
 * Roles group sockets the way LMCache's SocketType does.  INTERNAL marks
 * traffic that belongs to a binding, not to the application (pyzmq's
 * zero-copy garbage collector), so it never reaches the role totals.
 */
enum zs_role {
	ZS_ROLE_NONE = 0,
	ZS_ROLE_PULL = 1,
	ZS_ROLE_REPLY = 2,
	ZS_ROLE_INTERNAL = 3,
	ZS_ROLE_MAX = 4,
};

/* Where a socket's type came from, best last. */
enum zs_type_source {
	ZS_TYPESRC_NONE = 0,
	ZS_TYPESRC_LAYOUT = 1,	 /* read from socket_base_t at a calibrated offset */
	ZS_TYPESRC_SOCKOPT = 2,	 /* the application asked getsockopt(ZMQ_TYPE) */
	ZS_TYPESRC_CREATED = 3,	 /* seen at zmq_socket() */
};

/* Map updates that failed because a bounded map was full. */
enum zs_drop {
	ZS_DROP_SOCKETS = 0,
	ZS_DROP_CALLS = 1,
	ZS_DROP_MSG_TYPES = 2,
	ZS_DROP_HISTS = 3,
	ZS_DROP_SOCK_TYPES = 4,
	ZS_DROP_MAX = 5,
};

/* What a span measures: see design.md section 4. */
enum zs_span_kind {
	ZS_SPAN_HANDLER = 0, /* final frame received -> reply sent or next read */
	ZS_SPAN_REQUEST = 1, /* reply sockets: final frame received -> reply sent */
	ZS_SPAN_KINDS = 2,
};

/*
 * What ends a socket's handler span besides a reply: how the application
 * goes back to its loop, learnt from its calls (design.md section 4).
 */
enum zs_loop_rule {
	ZS_LOOP_RECV = 0,    /* its next receive (blocking loops; until learnt otherwise) */
	ZS_LOOP_POLL = 1,    /* its next ZMQ_EVENTS or zmq_poll from the receiving thread */
	ZS_LOOP_ASYNCIO = 2, /* its next ZMQ_RCVTIMEO read (pyzmq asyncio's receive) */
};

/* Loop checks seen since the socket's last receive (zs_sock.loop_seen). */
#define ZS_SEEN_CHECK 1	   /* EVENTS or zmq_poll from the receiving thread */
#define ZS_SEEN_RCVTIMEO 2 /* a RCVTIMEO read */

/* The socket's place in a zmq_proxy/zmq_device (zs_sock.proxy). */
enum zs_proxy_place {
	ZS_PROXY_NONE = 0,
	ZS_PROXY_FRONTEND = 1,
	ZS_PROXY_BACKEND = 2,
	ZS_PROXY_CAPTURE = 3,
	ZS_PROXY_INTERNAL = 4, /* moved by libzmq's own send/recv; the proxy began before attach */
};

/* Which libzmq entry point a per-thread in-flight call belongs to. */
enum zs_call_kind {
	ZS_CALL_MSG_RECV = 1,
	ZS_CALL_RECV = 2,
	ZS_CALL_MSG_SEND = 3,
	ZS_CALL_SEND = 4,
	ZS_CALL_GETSOCKOPT = 5,
	ZS_CALL_SOCKET = 6,
	ZS_CALL_BIND = 7,
	ZS_CALL_CONNECT = 8,
	ZS_CALL_INTERNAL_RECV = 9, /* socket_base_t::recv outside any public call */
	ZS_CALL_SEND_COUNTED = 10, /* a blocking send counted at its entry, no return probe */
};

/*
 * Where one libzmq build's public receive (or send) functions call its
 * internal socket_base_t::recv (or ::send): each call's return address less
 * the internal probe's address, the same in every process that maps the
 * build.  Where these are known, the internal probe alone carries the
 * public calls and a proxy's, told apart by the return address at entry,
 * and the public functions take no probe.  Entries are shared by content
 * and never freed; a link's attach cookie is its entry's index plus one,
 * and 0 leaves the public probes on, the internal one counting only what
 * no public call is under (bpf/internal_calls.bpf.h).
 */
#define ZS_CALL_SITES_MAX 8
#define ZS_MAX_CALL_SITE_SETS 64

struct zs_call_sites {
	__u32 n;
	__u32 pad;
	__s64 delta[ZS_CALL_SITES_MAX];
};

/* Written by the loader before it attaches to a process. */
struct zs_target_config {
	__s32 type_off;	    /* options.type in socket_base_t, -1 if unknown */
	__s32 tag_off;	    /* the 0xbaddecaf check tag, -1 if unknown */
	__s32 endpoint_off; /* std::string _last_endpoint data pointer, -1 if unknown */
	__u32 max_msg_types; /* distinct names before ZS_MSGTYPE_OTHER */
	__u32 explicit_roles; /* bit per role whose spans come from --handler probes */
	__u32 tap;	      /* ZS_TAP_* flags (payload_tap.h) */
};

/*
 * A correction the loader measured in user space (memory calibration), run
 * through the zs_fixup program with BPF_PROG_RUN so the entry is changed in
 * place: a user-space map update would replace the whole value and lose the
 * counts the probes add meanwhile.
 */
enum zs_fixup_op {
	ZS_FIXUP_LAYOUT = 1, /* the target's socket_base_t offsets */
	ZS_FIXUP_SOCKET = 2, /* a socket's type and endpoint; created if absent */
};

struct zs_fixup {
	__u32 op;
	__u32 tgid;
	__u64 handle;
	__s32 type_off, tag_off, endpoint_off;
	__u8 type;   /* ZS_TYPE_UNKNOWN: keep what the entry has */
	__u8 create; /* a socket the probes have not seen yet */
	__u8 pad[2];
	char endpoint[ZS_ENDPOINT_LEN]; /* "": keep */
	__s32 result; /* 0, or a negative errno */
	__u32 pad2;
};

/* Totals per role that outlive the sockets they came from. */
struct zs_role_totals {
	__u64 msgs_rx;	     /* complete inbound messages */
	__u64 msg_frames_rx; /* frames of complete inbound messages */
};

struct zs_target {
	struct zs_target_config cfg;
	struct zs_role_totals roles[ZS_ROLE_MAX];
	__s64 explicit_active[ZS_ROLE_MAX]; /* --handler calls in progress */
	__u32 next_msg_type;		    /* ids handed out so far */
	__u32 next_sock_gen;		    /* tells a recycled socket handle apart */
	__u64 start_time; /* the loader's: which incarnation of the pid this is */
	__u64 tap_frames;  /* frames copied whole to the payload tap */
	__u64 tap_dropped; /* frames the tap could not copy whole (ring full, too large) */
};

struct zs_sock_key {
	__u32 tgid;
	__u32 pad;
	__u64 handle;
};

struct zs_sock_counters {
	__u64 frames_rx;
	__u64 msgs_rx;
	__u64 bytes_rx;
	__u64 frames_tx;
	__u64 msgs_tx;
	__u64 bytes_tx;
	__u64 rx_eagain;
	__u64 tx_eagain;
	__u64 rx_errors;
	__u64 tx_errors;
};

struct zs_sock {
	struct zs_sock_key key; /* its own, so that a slot confirms a hint */
	struct zs_sock_counters c;
	__u64 span_start_ns; /* handler span open since; 0 when none is open */
	__u64 rx_last_ns;    /* buffer API: when the unresolved frame arrived */
	__u32 span_frames;   /* frames of the message being handled */
	__u32 cur_frames;    /* frames so far of the message being received */
	__u8 type;
	__u8 type_source;
	__u8 role;
	__u8 pending;	   /* POLLIN as the application last observed it */
	__u8 more_unknown; /* buffer API: a frame whose RCVMORE is not known yet */
	__u8 type_decided; /* the message in progress has its msg_type */
	/*
	 * Seen before it could carry any traffic: at zmq_socket(), or found
	 * never bound nor connected (an empty _last_endpoint).  Every message it
	 * carries is seen, which is what makes LMCache's state complete.
	 */
	__u8 pristine;
	__u8 loop;	   /* enum zs_loop_rule */
	__u8 loop_seen;	   /* ZS_SEEN_* since the last receive */
	__u8 proxy;	   /* enum zs_proxy_place */
	__u8 pollin_known; /* an EVENTS answer said POLLIN, and no read or send since */
	__u8 tx_more;	   /* the last frame sent had SNDMORE: the next is not a first */
	__u32 cur_msg_type;  /* of the message being received */
	__u32 span_msg_type; /* of the message being handled */
	__u32 gen;	     /* this socket's generation in its process */
	__u32 rx_tid;	     /* thread of the last receive */
	__u32 pollin_us;     /* when that POLLIN answer came, ktime >> 10 (wraps) */
	__u32 public_rx_tid; /* thread inside a zmq_msg_recv on it carried by a session cookie */
	__u64 loop_mark_ns;  /* rule not learnt yet: first loop check since the span opened */
	__u64 req_start_ns;  /* reply sockets: request received, reply not sent yet */
	char endpoint[ZS_ENDPOINT_LEN];
};

/* One in-flight libzmq call per thread: the entry probe's view of it. */
struct zs_call {
	__u64 handle;
	__u64 ptr;  /* zmq_msg_t *, buffer, optval or endpoint string */
	__u64 size; /* bytes to send, or the receive buffer's length */
	__u32 flags;
	__u16 kind; /* enum zs_call_kind; 0 once the return probe took it */
	__u16 opt;
};

/*
 * Per-thread state, kept across calls (an LRU map reclaims dead threads):
 * the in-flight call, and what --handler spans need.
 */
struct zs_thread {
	struct zs_call call;
	__u32 last_msg_type[ZS_ROLE_MAX]; /* of the last message this thread received */
	__u32 depth[ZS_ROLE_MAX];	  /* nesting of --handler functions */
	__u64 handler_start_ns[ZS_ROLE_MAX];
	__u64 proxy_rx; /* inside a proxy: the socket this thread last received on */
};

/*
 * Messages received per socket and msg_type, on roles that decode types.
 * `gen` keeps a socket created at a closed one's address from inheriting its
 * counts; the loader deletes entries whose socket is gone.
 */
struct zs_sock_type_key {
	__u32 tgid;
	__u32 msg_type;
	__u64 handle;
	__u32 gen;
	__u32 pad;
};

struct zs_msg_type_key {
	__u32 tgid;
	char name[ZS_MSG_TYPE_LEN];
};

struct zs_hist_key {
	__u32 tgid;
	__u8 role;
	__u8 kind; /* enum zs_span_kind */
	__u16 pad;
	__u32 msg_type;
};

struct zs_hist {
	__u64 count;
	__u64 sum_ns;
	__u64 slots[ZS_HIST_SLOTS];
};

/* floor(log2(v)) for v > 0, in six steps rather than a loop. */
static inline __u32 zs_log2_floor(__u64 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xffffffffULL) << 5;
	v >>= shift;
	r |= shift;
	shift = (v > 0xffff) << 4;
	v >>= shift;
	r |= shift;
	shift = (v > 0xff) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xf) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	return r | (__u32)(v >> 1);
}

/* The slot of a duration: ceil(log2(ns)), capped.  Shared with user space. */
static inline __u32 zs_hist_slot(__u64 ns)
{
	__u32 slot;

	if (ns <= 1)
		return 0;
	slot = zs_log2_floor(ns - 1) + 1;
	return slot < ZS_HIST_SLOTS - 1 ? slot : ZS_HIST_SLOTS - 1;
}

#endif /* ZMQSCOPE_H */
