// SPDX-License-Identifier: MIT
#include "link_reaper.h"

#include <bpf/libbpf.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "monotonic.h"

/* The index of the item due first, or -1. */
static long first_due(const struct link_reaper *r)
{
	long best = -1;

	for (size_t i = 0; i < r->n; i++)
		if (best < 0 || r->items[i].due < r->items[best].due)
			best = (long)i;
	return best;
}

static void destroy(const struct reaper_item *it)
{
	bpf_link__destroy(it->link);
	if (it->fd >= 0)
		close(it->fd);
}

static void *reaper_main(void *arg)
{
	struct link_reaper *r = arg;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		long i = first_due(r);
		struct reaper_item it;

		if (i < 0 && r->stopping)
			break;
		if (i < 0) {
			pthread_cond_wait(&r->wake, &r->lock);
			continue;
		}
		if (!r->stopping && r->items[i].due > monotonic_seconds()) {
			double due = r->items[i].due;
			struct timespec ts = { .tv_sec = (time_t)due,
					       .tv_nsec = (long)((due - (double)(time_t)due) * 1e9) };

			pthread_cond_timedwait(&r->wake, &r->lock, &ts);
			continue;
		}
		it = r->items[i];
		r->items[i] = r->items[--r->n];
		r->busy++;
		pthread_mutex_unlock(&r->lock);
		destroy(&it);
		pthread_mutex_lock(&r->lock);
		r->busy--;
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

void link_reaper_init(struct link_reaper *r)
{
	pthread_condattr_t attr;

	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	/* Due times are monotonic: so is the wait. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&r->wake, &attr);
	pthread_condattr_destroy(&attr);
	/* A reaper only sleeps in close(): a small stack lets many wait at once. */
	pthread_attr_init(&r->thread_attr);
	pthread_attr_setstacksize(&r->thread_attr, 64 * 1024);
}

void link_reaper_put(struct link_reaper *r, struct bpf_link *link, int fd, double delay)
{
	struct reaper_item it = { .link = link, .fd = fd, .due = monotonic_seconds() + delay };

	if (!link && fd < 0)
		return;
	pthread_mutex_lock(&r->lock);
	/* A thread more while links wait and a place is free: no more than the work needs. */
	if (!r->stopping && r->nthreads < ZS_REAPER_THREADS && r->n + 1 + r->busy > r->nthreads &&
	    !pthread_create(&r->threads[r->nthreads], &r->thread_attr, reaper_main, r))
		r->nthreads++;
	r->started = r->nthreads > 0;
	if (r->started && r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		struct reaper_item *grown = realloc(r->items, cap * sizeof(*grown));

		if (grown) {
			r->items = grown;
			r->cap = cap;
		}
	}
	if (r->started && r->n < r->cap) {
		r->items[r->n++] = it;
		pthread_cond_broadcast(&r->wake);
		pthread_mutex_unlock(&r->lock);
		return;
	}
	pthread_mutex_unlock(&r->lock);
	destroy(&it);
}

void link_reaper_stop(struct link_reaper *r)
{
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_broadcast(&r->wake);
	pthread_mutex_unlock(&r->lock);
	for (size_t i = 0; i < r->nthreads; i++)
		pthread_join(r->threads[i], NULL);
	r->nthreads = 0;
	r->started = false;
	free(r->items);
	r->items = NULL;
	r->n = r->cap = 0;
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	pthread_attr_destroy(&r->thread_attr);
}
