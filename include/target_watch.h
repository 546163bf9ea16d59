/* SPDX-License-Identifier: MIT */
/*
 * Keeps the attached set in step with the selectors: attaches processes
 * that --name or --port select as they appear (or once they load libzmq),
 * notices exits and pid reuse, and picks up libraries loaded late.
 */
#ifndef ZS_TARGET_WATCH_H
#define ZS_TARGET_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "observer.h"
#include "process_selector.h"

#define ZS_MAX_PENDING 256

struct target_watch {
	struct observer *ob;
	struct process_selector sel;
	int events_fd; /* proc connector, or -1: rescan /proc on every tick */
	struct {
		pid_t pid;     /* selected, but without libzmq so far */
		long vmlib_kb; /* retried only when its libraries change */
		double since;  /* monotonic seconds when it became pending */
		double last_try; /* monotonic seconds of the last attach attempt */
		bool out_of_fds; /* or on every tick: descriptors may free up */
	} pending[ZS_MAX_PENDING];
	size_t npending;
	bool exits_seen; /* an attached process exited: check targets now */
};

int target_watch_init(struct target_watch *w, struct observer *ob, char *err, size_t errlen);
void target_watch_free(struct target_watch *w);

/* Processes selected at startup; 0 is fine for --name/--port (they wait). */
void target_watch_initial_scan(struct target_watch *w);

/* The fd to poll for process events, or -1. */
int target_watch_fd(const struct target_watch *w);
void target_watch_on_events(struct target_watch *w);

/* Once a second. */
void target_watch_tick(struct target_watch *w);

/*
 * A process that just started has its libraries watched closely, so the
 * probes are in before it makes its first socket: only then is LMCache's
 * controller state known from the start.  The delay until the next such
 * look in milliseconds, or -1 when no process is that young.
 */
int target_watch_fast_delay_ms(const struct target_watch *w);
void target_watch_fast_tick(struct target_watch *w);

#endif
