/* SPDX-License-Identifier: MIT */
/*
 * Finds the ELF objects in a process that contain libzmq: the system
 * libzmq.so.5, a copy bundled in pyzmq.libs/, or the main binary when
 * libzmq is linked statically.  Whatever defines zmq_msg_recv counts.
 */
#ifndef ZS_LIBZMQ_DISCOVERY_H
#define ZS_LIBZMQ_DISCOVERY_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "elf_symbols.h"

/* The libzmq entry points zmqscope resolves; zmq_msg_recv must exist. */
enum zs_func {
	ZS_FN_MSG_RECV,
	ZS_FN_RECV,
	ZS_FN_MSG_SEND,
	ZS_FN_SEND,
	ZS_FN_SEND_CONST,
	ZS_FN_GETSOCKOPT,
	ZS_FN_SOCKET,
	ZS_FN_BIND,
	ZS_FN_CONNECT,
	ZS_FN_CLOSE,
	ZS_FN_VERSION,
	ZS_FN_POLL,
	ZS_FN_PROXY,
	ZS_FN_PROXY_STEERABLE,
	ZS_FN_DEVICE,
	ZS_FN_MSG_SIZE,
	/* Not probed: their calls of the internal ones are (libzmq_internals.h). */
	ZS_FN_RECVIOV,
	ZS_FN_SENDIOV,
	/* Internal, rarely exported: found through libzmq_internals.h otherwise. */
	ZS_FN_INTERNAL_SEND,
	ZS_FN_INTERNAL_RECV,
	ZS_FN_COUNT,
};

extern const char *const zs_func_names[ZS_FN_COUNT];

#define ZS_PUBLIC_CALLS_MAX 8

/*
 * The return addresses (vaddrs) of the calls that libzmq's public
 * functions make to its internal socket_base_t::recv or ::send.  Complete
 * when every public receive (or send) function the object defines was
 * read and has at least one: then a call from anywhere else is libzmq's
 * own, a proxy's.
 */
struct public_calls {
	uint64_t ret[ZS_PUBLIC_CALLS_MAX];
	size_t n;
	bool complete;
};

struct zmq_object {
	char path[PATH_MAX];	  /* as the target names it in its maps */
	char host_path[PATH_MAX]; /* the same inode, reachable from here */
	uint64_t inode;
	bool main_binary; /* libzmq linked into the executable itself */
	/*
	 * libzmq is part of a larger object (the executable, a Node addon, an
	 * extension module): that object's own code may call its zmq_proxy,
	 * which no import shows.  False for a library named libzmq*.
	 */
	bool linked_in;
	struct elf_symbol syms[ZS_FN_COUNT];
	/* Where the public functions call the internal receive and send. */
	struct public_calls rx_calls, tx_calls;
};

/*
 * Fills up to `max` objects; returns how many, or a negative errno:
 * -ESRCH if the process is gone, -EACCES if its maps or files are out of
 * reach, -EMFILE (or -ENFILE, -ENOMEM) when we ran out of descriptors
 * opening them.  0 means the process maps no libzmq.
 */
int find_zmq_objects(pid_t pid, struct zmq_object *out, size_t max);

/*
 * The same with the target's root given (as /proc/PID/root reads, NULL to
 * read it): lets the unit tests see a chrooted target in their own process.
 */
int find_zmq_objects_rooted(pid_t pid, const char *root, struct zmq_object *out, size_t max);

/*
 * What a process's earlier scans settled: the inodes of executable files it
 * maps that were examined conclusively (libzmq already attached, or not
 * libzmq at all).  A rescan after each dlopen then parses only new files.
 */
struct discovery_memo {
	uint64_t *inodes;
	size_t n, cap;
};

/*
 * find_zmq_objects() for a rescan: files in `memo` are skipped, and on
 * return `memo` holds every executable file mapped now that is settled.
 * *beyond counts the libzmq objects that did not fit in `max`; they stay
 * out of the memo, so a later rescan with room takes them.
 */
int find_new_zmq_objects(pid_t pid, struct discovery_memo *memo, struct zmq_object *out,
			 size_t max, size_t *beyond);
bool discovery_memo_has(const struct discovery_memo *memo, uint64_t inode);
/* Unsettles a file, so that the next rescan examines it again. */
void discovery_memo_forget(struct discovery_memo *memo, uint64_t inode);
void discovery_memo_free(struct discovery_memo *memo);

/*
 * The dynamic loader the process runs (ld.so), with `sym` resolved in it:
 * ld.so calls _dl_debug_state() around every dlopen and dlclose, which is
 * what debuggers break on.  0, -ENOENT (a static binary), or -errno.
 */
int find_dynamic_loader(pid_t pid, struct elf_symbol *sym, char *path, size_t pathlen,
			char *host_path, size_t hostlen);

/* Does this process map libzmq?  For `list`: the first object's path, or NULL. */
int process_zmq_path(pid_t pid, char *path, size_t n);

#endif
