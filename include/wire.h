/* SPDX-License-Identifier: MIT */
/*
 * The wire layer's map keys and values, shared by bpf/wire.bpf.c and the
 * loader (user/wire_layer.c).  A connection is a (tgid, fd) seen opened by
 * connect() or accept(); its endpoint, which names the zmq socket it
 * belongs to, is read from its struct sock when it opens.
 */
#ifndef ZS_WIRE_H
#define ZS_WIRE_H

#include "zmqscope.h"
#include "zmtp.h"

#define ZS_WIRE_PATH_LEN 64
#define ZS_WIRE_MAX_TARGETS ZS_MAX_TARGETS
#define ZS_WIRE_TGID_WORDS ((1u << 22) / 64) /* a bit for every tgid up to PID_MAX_LIMIT */
#define ZS_WIRE_MAX_CONNS 16384
#define ZS_WIRE_MAX_EPS 4096
#define ZS_WIRE_MAX_TYPES 8192
#define ZS_WIRE_MAX_HISTS 4096
#define ZS_WIRE_MAX_IOV 4	  /* iovec entries parsed per readv/writev/msghdr */
#define ZS_WIRE_MAX_STEPS 65536 /* parser steps per chunk: far more than 64 KiB needs */

/* How the connection came to be: its endpoint is the local or the remote address. */
enum zs_wire_side {
	ZS_WIRE_ACCEPTED = 1,  /* the endpoint bound: the local address */
	ZS_WIRE_CONNECTED = 2, /* the endpoint connected to: the remote address */
};

enum zs_wire_dir {
	ZS_WIRE_IN = 0,
	ZS_WIRE_OUT = 1,
};

/* Map updates lost to a full map, and chunks the parser gave up on. */
enum zs_wire_drop {
	ZS_WIRE_DROP_CONNS = 0,
	ZS_WIRE_DROP_EPS = 1,
	ZS_WIRE_DROP_TYPES = 2,
	ZS_WIRE_DROP_HISTS = 3,
	ZS_WIRE_DROP_STEPS = 4, /* a chunk needed more than ZS_WIRE_MAX_STEPS */
	ZS_WIRE_DROP_READS = 5, /* user memory that could not be read */
	ZS_WIRE_DROP_MAX = 6,
};

/* Identifies a zmq socket's endpoint in one process. */
struct zs_wire_ep {
	__u32 tgid;
	__u16 family; /* AF_INET, AF_INET6, AF_UNIX */
	__u16 port;   /* host order */
	__u8 side;    /* enum zs_wire_side */
	__u8 pad[3];
	__u8 addr[16]; /* IPv4 in the first four bytes */
	char path[ZS_WIRE_PATH_LEN];
};

struct zs_wire_conn_key {
	__u32 tgid;
	__s32 fd;
};

struct zs_wire_conn {
	struct zs_wire_ep ep;
	__u8 raddr[16]; /* the other end, for tcp */
	__u16 rport;
	__u16 pad;
	__u32 seq; /* connections this process opened before this one, plus one */
	__u64 sk; /* its struct sock: tells a closed fd's connection from a reused one's */
	__u64 opened_ns;
	__u64 wire_in, wire_out; /* bytes moved by the syscalls, greeting included */
	__u64 req_start_ns;	 /* ROUTER/REP: the unanswered request's arrival, or 0 */
	char req_type[ZS_MSG_TYPE_LEN];
	struct zmtp_parser in, out;
};

/* What closed connections leave their endpoint, plus opens and failures. */
struct zs_wire_ep_totals {
	struct zmtp_counts in, out;
	__u64 wire_in, wire_out;
	__u64 opened;
	__u64 closed;
	__u64 handshake_failures; /* closed before both READYs, or an ERROR command */
	char local_type[ZMTP_TYPE_LEN]; /* this side's Socket-Type, from its own READY */
};

struct zs_wire_type_key {
	struct zs_wire_ep ep;
	__u32 dir; /* enum zs_wire_dir */
	char name[ZS_MSG_TYPE_LEN];
};

struct zs_wire_hist_key {
	struct zs_wire_ep ep;
	char name[ZS_MSG_TYPE_LEN];
};

/* The syscalls the wire layer follows: those that move bytes, then those that open or end. */
enum zs_wire_op {
	ZS_WIRE_OP_READ = 1, /* read, recvfrom */
	ZS_WIRE_OP_WRITE,    /* write, sendto */
	ZS_WIRE_OP_READV,
	ZS_WIRE_OP_WRITEV,
	ZS_WIRE_OP_RECVMSG,
	ZS_WIRE_OP_SENDMSG,
	ZS_WIRE_OP_CONNECT,
	ZS_WIRE_OP_ACCEPT,
	ZS_WIRE_OP_CLOSE,
	ZS_WIRE_OP_SHUTDOWN,
};

static inline int zs_wire_op_is_conn(unsigned op)
{
	return op >= ZS_WIRE_OP_CONNECT;
}

#endif
