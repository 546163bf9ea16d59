// SPDX-License-Identifier: MIT
#include "http_guard.h"

#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define SWEEP_INTERVAL_MS 500
#define RECENT_SCRAPERS 16
#define RECENT_SCRAPER_S 900.0 /* longer than any sane scrape interval */

struct tracked {
	struct tracked *prev, *next;
	int fd;
	double started;
	bool shut;
};

struct scraper {
	int family; /* 0: free */
	unsigned char addr[16];
	double last_ok;
};

struct http_guard {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t sweeper;
	bool stopping;
	struct tracked *head;
	unsigned n;
	struct scraper recent[RECENT_SCRAPERS];
};

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The address bytes that identify a client; 0 for what has none (unix sockets). */
static size_t addr_key(const struct sockaddr *sa, int *family, unsigned char out[16])
{
	if (sa && sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		*family = AF_INET;
		return 4;
	}
	if (sa && sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		*family = AF_INET6;
		return 16;
	}
	return 0;
}

static struct scraper *find_scraper(struct http_guard *g, int family, const unsigned char *a,
				    size_t len)
{
	for (int i = 0; i < RECENT_SCRAPERS; i++)
		if (g->recent[i].family == family && !memcmp(g->recent[i].addr, a, len))
			return &g->recent[i];
	return NULL;
}

/*
 * shutdown() rather than close(): the fd stays libmicrohttpd's, which sees
 * EOF or EPIPE on it and tears the connection down in its own thread.  The
 * lock makes this safe: MHD closes the fd only after the CLOSED notification,
 * which takes the same lock to unlink the entry.
 */
static void sweep(struct http_guard *g, double now)
{
	for (struct tracked *t = g->head; t; t = t->next) {
		if (!t->shut && now - t->started > HTTP_GUARD_DEADLINE_S) {
			shutdown(t->fd, SHUT_RDWR);
			t->shut = true;
		}
	}
}

static void *sweeper_main(void *arg)
{
	struct http_guard *g = arg;

	pthread_mutex_lock(&g->lock);
	while (!g->stopping) {
		struct timespec until;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += SWEEP_INTERVAL_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&g->wake, &g->lock, &until);
		if (!g->stopping)
			sweep(g, now_s());
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

struct http_guard *http_guard_new(void)
{
	struct http_guard *g = calloc(1, sizeof(*g));
	pthread_condattr_t ca;
	int rc;

	if (!g)
		return NULL;
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->wake, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&g->sweeper, NULL, sweeper_main, g);
	if (rc) {
		pthread_cond_destroy(&g->wake);
		pthread_mutex_destroy(&g->lock);
		free(g);
		errno = rc;
		return NULL;
	}
	return g;
}

/* After MHD_stop_daemon: every connection has been closed and unlinked. */
void http_guard_free(struct http_guard *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->stopping = true;
	pthread_cond_signal(&g->wake);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->sweeper, NULL);
	while (g->head) {
		struct tracked *t = g->head;

		g->head = t->next;
		free(t);
	}
	pthread_cond_destroy(&g->wake);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

bool http_guard_admit(struct http_guard *g, const struct sockaddr *addr, socklen_t len)
{
	unsigned char a[16];
	int family = 0;
	size_t alen = len >= sizeof(struct sockaddr) ? addr_key(addr, &family, a) : 0;
	bool ok;

	pthread_mutex_lock(&g->lock);
	ok = g->n < HTTP_GUARD_TOTAL - HTTP_GUARD_RESERVED || !alen;
	if (!ok) {
		struct scraper *s = find_scraper(g, family, a, alen);

		ok = s && now_s() - s->last_ok < RECENT_SCRAPER_S;
	}
	pthread_mutex_unlock(&g->lock);
	return ok;
}

void http_guard_opened(struct http_guard *g, struct MHD_Connection *c, void **socket_context)
{
	const union MHD_ConnectionInfo *fd =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct tracked *t = calloc(1, sizeof(*t));

	if (!t || !fd) {
		/* A connection without a deadline is what the guard is for: refuse it. */
		if (fd)
			shutdown(fd->connect_fd, SHUT_RDWR);
		free(t);
		*socket_context = NULL;
		return;
	}
	t->fd = fd->connect_fd;
	t->started = now_s();
	pthread_mutex_lock(&g->lock);
	t->next = g->head;
	if (g->head)
		g->head->prev = t;
	g->head = t;
	g->n++;
	pthread_mutex_unlock(&g->lock);
	*socket_context = t;
}

void http_guard_closed(struct http_guard *g, void **socket_context)
{
	struct tracked *t = *socket_context;

	if (!t)
		return;
	pthread_mutex_lock(&g->lock);
	if (t->prev)
		t->prev->next = t->next;
	else
		g->head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	g->n--;
	pthread_mutex_unlock(&g->lock);
	free(t);
	*socket_context = NULL;
}

void http_guard_request_done(struct http_guard *g, struct MHD_Connection *c, bool scraped)
{
	const union MHD_ConnectionInfo *ctx =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	const union MHD_ConnectionInfo *peer =
		scraped ? MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS) : NULL;
	struct tracked *t = ctx ? ctx->socket_context : NULL;
	double now = now_s();
	unsigned char a[16];
	int family = 0;
	size_t alen = peer ? addr_key(peer->client_addr, &family, a) : 0;

	pthread_mutex_lock(&g->lock);
	if (t)
		t->started = now;
	if (alen) {
		struct scraper *s = find_scraper(g, family, a, alen);

		/* A new address takes a free entry, else the one scraped longest ago. */
		for (int i = 0; !s && i < RECENT_SCRAPERS; i++)
			if (!g->recent[i].family)
				s = &g->recent[i];
		if (!s) {
			s = &g->recent[0];
			for (int i = 1; i < RECENT_SCRAPERS; i++)
				if (g->recent[i].last_ok < s->last_ok)
					s = &g->recent[i];
		}
		s->family = family;
		memcpy(s->addr, a, alen);
		s->last_ok = now;
	}
	pthread_mutex_unlock(&g->lock);
}
