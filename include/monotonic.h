/* SPDX-License-Identifier: MIT */
/* CLOCK_MONOTONIC as seconds: every deadline, delay and duration the loader keeps. */
#ifndef ZS_MONOTONIC_H
#define ZS_MONOTONIC_H

#include <time.h>

static inline double monotonic_seconds(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

#endif
