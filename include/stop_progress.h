/* SPDX-License-Identifier: MIT */
/*
 * How long `zmqscope stop` waits.  A daemon that stops destroys its probe
 * links one batch at a time; with hundreds of targets that takes minutes,
 * and any fixed timeout is wrong for someone.  So the wait is judged by
 * progress: the daemon's open file descriptors (every link, program and map
 * is one) reaching a new low.  It is given up only when no new low has come
 * for the stall window.
 */
#ifndef ZS_STOP_PROGRESS_H
#define ZS_STOP_PROGRESS_H

#include <stdbool.h>

struct stop_progress {
	int lowest;         /* fewest fds seen; -1 before the first sample */
	long long since_ms; /* when `lowest` was reached */
	int stall_ms;
};

void stop_progress_init(struct stop_progress *p, int stall_ms, long long now_ms);

/*
 * One sample: `fds` open now (negative when they could not be counted, which
 * is no progress).  True while the daemon is still to be waited for: a new
 * low was reached within the stall window.
 */
bool stop_progress_sample(struct stop_progress *p, int fds, long long now_ms);

#endif
