/* SPDX-License-Identifier: MIT */
/*
 * Destroys uprobe links on threads of its own.  The kernel takes 0.1-0.3 s
 * to unregister each uprobe, twenty to a process: done inline, a process
 * exiting would hold the observer's lock for seconds, so scrapes would wait
 * and a process started meanwhile would be attached late.
 *
 * Nearly all of that time is the kernel waiting for an RCU grace period,
 * and concurrent waiters share one: ZS_REAPER_THREADS threads destroy a
 * process's links in about the time one link takes alone.  Measured with
 * 100 targets (2,400 links) at stop: 8 threads 19.3 s, 32 4.95 s, 64 2.64 s,
 * 128 1.23 s, 256 0.72 s (bench/attach_scale.py).  Threads are started only
 * while links wait, each on a 64 KiB stack.
 */
#ifndef ZS_LINK_REAPER_H
#define ZS_LINK_REAPER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct bpf_link;

struct reaper_item {
	struct bpf_link *link; /* destroyed with bpf_link__destroy ... */
	int fd;		       /* ... or a link fd of our own, closed; -1 */
	double due;	       /* CLOCK_MONOTONIC seconds: not before */
};

#define ZS_REAPER_THREADS 128

struct link_reaper {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_attr_t thread_attr;
	pthread_t threads[ZS_REAPER_THREADS];
	size_t nthreads;
	size_t busy; /* links being destroyed right now */
	bool started;
	bool stopping;
	struct reaper_item *items;
	size_t n, cap;
};

void link_reaper_init(struct link_reaper *r);
/*
 * Hands a link over, to be destroyed `delay` seconds from now.  Links of a
 * process that exited wait a little: unregistering a uprobe holds the lock
 * the kernel needs to register the same probe for another process, and a
 * controller that restarts must be attached before its first socket.
 * Destroyed inline if the thread cannot be had.
 */
void link_reaper_put(struct link_reaper *r, struct bpf_link *link, int fd, double delay);
/* Destroys what is left, due or not, then ends the threads. */
void link_reaper_stop(struct link_reaper *r);

#endif
