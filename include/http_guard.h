/* SPDX-License-Identifier: MIT */
/*
 * Keeps hostile clients from starving the scrapes (slowloris).
 *
 * libmicrohttpd's connection timeout is an idle timeout: every byte resets
 * it, so a client trickling a header line every few seconds holds its slot
 * forever.  The guard adds what 0.9.75 lacks:
 *  - a deadline for a whole request: from accept (or from the end of the
 *    previous request on a kept-alive connection) to the end of the response.
 *    A sweeper thread shutdown()s the socket of any connection past it;
 *    libmicrohttpd then sees EOF and closes it as usual;
 *  - a reserve: once the server is nearly full, new connections are admitted
 *    only from addresses that recently completed a scrape, so clients from
 *    many addresses cannot take the last slots from Prometheus.
 * The per-address and total limits themselves are libmicrohttpd options
 * (HTTP_GUARD_PER_IP, HTTP_GUARD_TOTAL).
 */
#ifndef ZS_HTTP_GUARD_H
#define ZS_HTTP_GUARD_H

#include <stdbool.h>
#include <sys/socket.h>

#define HTTP_GUARD_PER_IP 16
#define HTTP_GUARD_TOTAL 512 /* as before the guard: fds stay the same */
#define HTTP_GUARD_RESERVED 64 /* of TOTAL, for addresses that scraped recently */
#define HTTP_GUARD_DEADLINE_S 10

struct http_guard;
struct MHD_Connection;

/* Starts the sweeper thread; NULL and errno on failure. */
struct http_guard *http_guard_new(void);
void http_guard_free(struct http_guard *g);

/* MHD_OPTION_APPLY_POLICY_CALLBACK's verdict for a new connection. */
bool http_guard_admit(struct http_guard *g, const struct sockaddr *addr, socklen_t len);
/* MHD_CONNECTION_NOTIFY_STARTED / _CLOSED, with that notification's socket_context. */
void http_guard_opened(struct http_guard *g, struct MHD_Connection *c, void **socket_context);
void http_guard_closed(struct http_guard *g, void **socket_context);
/*
 * A request on `c` ended (MHD_OPTION_NOTIFY_COMPLETED): the connection's
 * deadline restarts.  `scraped`: it was a successful, authorized /metrics,
 * so its address may use the reserve from now on.
 */
void http_guard_request_done(struct http_guard *g, struct MHD_Connection *c, bool scraped);

#endif
