/* SPDX-License-Identifier: MIT */
/*
 * Process fork/exec/exit notifications from the kernel's proc connector
 * (netlink), so a new controller is attached as soon as it starts.  Where
 * the connector is missing (no CONFIG_PROC_EVENTS, no CAP_NET_ADMIN), the
 * caller falls back to rescanning /proc on its tick.
 */
#ifndef ZS_PROC_EVENTS_H
#define ZS_PROC_EVENTS_H

#include <stddef.h>
#include <sys/types.h>

enum proc_event_kind {
	PROC_EVENT_KIND_EXEC,
	PROC_EVENT_KIND_EXIT,
	PROC_EVENT_KIND_FORK, /* a new process, not a thread */
};

/* Returns a non-blocking netlink fd to poll, or a negative errno. */
int proc_events_open(void);

/* `parent` is the forking process for FORK, 0 otherwise. */
typedef void (*proc_event_fn)(enum proc_event_kind kind, pid_t pid, pid_t parent, void *arg);

/* Reads what is pending and calls `fn` for each fork, exec or exit of a process. */
int proc_events_drain(int fd, proc_event_fn fn, void *arg);

/*
 * The same for `len` bytes already received (one datagram, aligned as a
 * struct nlmsghdr).  Pure, for the unit tests.
 */
void proc_events_parse(const void *buf, size_t len, proc_event_fn fn, void *arg);

void proc_events_close(int fd);

#endif
