// SPDX-License-Identifier: MIT
#include "stop_progress.h"

void stop_progress_init(struct stop_progress *p, int stall_ms, long long now_ms)
{
	p->lowest = -1;
	p->since_ms = now_ms;
	p->stall_ms = stall_ms;
}

bool stop_progress_sample(struct stop_progress *p, int fds, long long now_ms)
{
	/* Only a new low counts: fds that come and go (a scrape's socket) are not progress. */
	if (fds >= 0 && (p->lowest < 0 || fds < p->lowest)) {
		p->lowest = fds;
		p->since_ms = now_ms;
	}
	return now_ms - p->since_ms < p->stall_ms;
}
