/* SPDX-License-Identifier: MIT */
/*
 * The open-file limit.  Each attached process costs tens of descriptors
 * (uprobe links, their perf events), and a unit's default soft limit of
 * 1024 would stop zmqscope at a few dozen targets.
 */
#ifndef ZS_FD_LIMIT_H
#define ZS_FD_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/types.h>

/* Raises the soft RLIMIT_NOFILE to the hard one; `now` gets the result.  0 or -errno. */
int fd_limit_raise(struct rlimit *now);

/* The most one attached process takes (links and their perf events), with room to spare. */
#define ZS_FDS_PER_TARGET 64
/* Kept free for what must not fail for lack of them: scrapes, status, stop. */
#define ZS_FDS_HEADROOM 32

/* 0 if another target fits under the limit with the headroom left, else -EMFILE. */
int fd_limit_room_for_target(void);

/* The one-line error for running out while attaching `pid`; returns rc. */
int fd_limit_describe(int rc, pid_t pid, char *err, size_t errlen);

/* Is this errno running out of descriptors (ours or the system's)? */
static inline bool fd_limit_hit(int err)
{
	return err == -EMFILE || err == -ENFILE;
}

#endif
