/* SPDX-License-Identifier: MIT */
/*
 * The HTTP endpoint (libmicrohttpd): /metrics, /healthz and an index on the
 * TCP listener; /status and /status.json only on the instance's root-only
 * unix socket, which `zmqscope status` reads.
 */
#ifndef ZS_HTTP_SERVER_H
#define ZS_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "options.h"
#include "strbuf.h"

struct http_routes {
	void *arg;
	void (*metrics)(void *arg, struct strbuf *out);
	void (*status)(void *arg, struct strbuf *out, bool json);
};

struct http_server;

/* Binds `l` (EADDRINUSE etc. reported in `err`) and serves. */
struct http_server *http_server_start_tcp(const struct zs_listen *l, const struct http_routes *r,
					  char *err, size_t errlen);
/* Serves the control routes on a fresh unix socket at `path` (mode 0600). */
struct http_server *http_server_start_unix(const char *path, const struct http_routes *r,
					   char *err, size_t errlen);
void http_server_stop(struct http_server *s);

/* "127.0.0.1:9850" or "[::1]:9850" */
void listen_format(const struct zs_listen *l, char *out, size_t n);

#endif
