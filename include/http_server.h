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
struct web_config;

/*
 * Listening comes apart from serving so that zmqscope can bind, then drop
 * privileges, and only then start the server's thread (capabilities are
 * per thread: a thread started earlier would keep root's).
 */

/* A listening TCP socket for `l` (EADDRINUSE etc. reported in `err`); fd or -1. */
int http_listen_tcp(const struct zs_listen *l, char *err, size_t errlen);
/* A listening unix socket at `path`, mode 0600; fd or -1. */
int http_listen_unix(const char *path, char *err, size_t errlen);

/*
 * Serves on a listening fd, which it owns from now on.  `control`: the unix
 * socket's routes.  `web` (TCP only; NULL for plain HTTP): TLS and basic
 * auth, used by the server's one polling thread until http_server_stop().
 */
struct http_server *http_server_serve(int fd, const struct http_routes *r, bool control,
				      const char *unix_path, struct web_config *web, char *err,
				      size_t errlen);
void http_server_stop(struct http_server *s);
/* Whether this libmicrohttpd was built with GnuTLS (Debian's 0.9.75 is). */
bool http_server_tls_supported(void);

/* "127.0.0.1:9850" or "[::1]:9850" */
void listen_format(const struct zs_listen *l, char *out, size_t n);

#endif
