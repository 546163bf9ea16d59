// SPDX-License-Identifier: MIT
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "exposition.h"
#include "http_guard.h"
#include "web_config.h"

#define CONNECTION_TIMEOUT_S 10 /* idle; http_guard bounds a whole request */
#define CONNECTION_MEMORY 32768 /* request line and headers; larger gets 4xx */

/* Marks a request that served /metrics (its *con_cls), for the guard. */
static char scrape_served;

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_guard *guard;
	struct web_config *web; /* NULL: plain HTTP, no auth */
	struct http_routes routes;
	bool control;
	char unix_path[108];
};

static const char index_page[] =
	"<!DOCTYPE html>\n<html><head><title>zmqscope</title></head><body>\n"
	"<h1>zmqscope</h1>\n<p>ZeroMQ socket metrics, observed from outside the process with "
	"eBPF uprobes.</p>\n<ul>\n<li><a href=\"/metrics\">/metrics</a>: Prometheus text "
	"exposition</li>\n<li><a href=\"/healthz\">/healthz</a>: liveness</li>\n</ul>\n"
	"</body></html>\n";

void listen_format(const struct zs_listen *l, char *out, size_t n)
{
	if (l->family == AF_INET6)
		snprintf(out, n, "[%s]:%u", l->host, l->port);
	else
		snprintf(out, n, "%s:%u", l->host, l->port);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     struct strbuf *body)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	size_t len = body->len;
	char *buf = body->buf;

	/* MHD frees the text once it is sent. */
	*body = (struct strbuf)STRBUF_INIT;
	r = MHD_create_response_from_buffer(len, buf ? buf : (char *)"",
					    buf ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * basic_auth_users guard every path but /healthz: a liveness probe must not
 * need the scrape password, and "ok" tells nobody anything.
 */
static enum web_auth_result authorized(struct http_server *s, struct MHD_Connection *c,
				       const char *url)
{
	enum web_auth_result ok;
	char *user, *pass = NULL;
	struct timespec now;

	if (s->control || !s->web || !s->web->nusers || !strcmp(url, "/healthz"))
		return WEB_AUTH_OK;
	clock_gettime(CLOCK_MONOTONIC, &now);
	user = MHD_basic_auth_get_username_password(c, &pass);
	ok = web_config_check_password(s->web, user, pass,
				       (double)now.tv_sec + (double)now.tv_nsec / 1e9);
	if (pass) {
		explicit_bzero(pass, strlen(pass));
		MHD_free(pass);
	}
	if (user)
		MHD_free(user);
	return ok;
}

/* 401 with WWW-Authenticate, or 429 when bcrypt's budget for this second is spent. */
static enum MHD_Result deny(struct MHD_Connection *c, enum web_auth_result why)
{
	static const char denied[] = "unauthorized: this endpoint needs basic auth\n";
	static const char busy[] = "too many password checks; retry in a second\n";
	const char *text = why == WEB_AUTH_BUSY ? busy : denied;
	struct MHD_Response *r = MHD_create_response_from_buffer(
		strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
	if (why == WEB_AUTH_BUSY) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
		ret = MHD_queue_response(c, MHD_HTTP_TOO_MANY_REQUESTS, r);
	} else {
		ret = MHD_queue_basic_auth_fail_response(c, "zmqscope", r);
	}
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **state)
{
	struct http_server *s = cls;
	struct strbuf body = STRBUF_INIT;
	enum web_auth_result auth;

	(void)version;
	(void)upload_data;
	auth = authorized(s, c, url);
	if (auth != WEB_AUTH_OK) {
		*upload_size = 0;
		return deny(c, auth);
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		/* Answer at once: nothing here accepts a body. */
		*upload_size = 0;
		strbuf_puts(&body, "method not allowed: use GET or HEAD\n");
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", &body);
	}
	if (!s->control && !strcmp(url, "/metrics")) {
		s->routes.metrics(s->routes.arg, &body);
		if (body.oom) {
			strbuf_free(&body);
			strbuf_puts(&body, "out of memory rendering metrics\n");
			return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", &body);
		}
		*state = &scrape_served;
		return reply(c, MHD_HTTP_OK, EXPO_CONTENT_TYPE, &body);
	}
	if (!s->control && !strcmp(url, "/healthz")) {
		strbuf_puts(&body, "ok\n");
		return reply(c, MHD_HTTP_OK, "text/plain", &body);
	}
	if (!s->control && !strcmp(url, "/")) {
		strbuf_puts(&body, index_page);
		return reply(c, MHD_HTTP_OK, "text/html; charset=utf-8", &body);
	}
	if (s->control && (!strcmp(url, "/status") || !strcmp(url, "/status.json"))) {
		bool json = !strcmp(url, "/status.json");

		s->routes.status(s->routes.arg, &body, json);
		return reply(c, MHD_HTTP_OK, json ? "application/json" : "text/plain", &body);
	}
	strbuf_puts(&body, "not found; try /metrics\n");
	return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", &body);
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct http_server *s = cls;

	return http_guard_admit(s->guard, addr, len) ? MHD_YES : MHD_NO;
}

/*
 * libmicrohttpd only ever asks for a client certificate (GNUTLS_CERT_REQUEST
 * when a trust list is set) and never verifies it.  The session exists but
 * has not started its handshake when a connection is announced: set the
 * policy there, so a bad or missing certificate fails the handshake itself.
 */
static void client_cert_policy(struct http_server *s, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *info;
	gnutls_session_t tls;
	enum web_client_auth a;

	if (!s->web || !s->web->tls || s->web->client_auth == WEB_NO_CLIENT_CERT)
		return;
	info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!info || !info->tls_session)
		return;
	tls = info->tls_session;
	a = s->web->client_auth;
	gnutls_certificate_server_set_request(tls, a == WEB_REQUIRE_ANY_CLIENT_CERT ||
							   a == WEB_REQUIRE_AND_VERIFY_CLIENT_CERT
						   ? GNUTLS_CERT_REQUIRE
						   : GNUTLS_CERT_REQUEST);
	if (a == WEB_VERIFY_CLIENT_CERT_IF_GIVEN || a == WEB_REQUIRE_AND_VERIFY_CLIENT_CERT)
		gnutls_session_set_verify_cert(tls, NULL, 0);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct http_server *s = cls;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		client_cert_policy(s, c);
		http_guard_opened(s->guard, c, socket_context);
	} else {
		http_guard_closed(s->guard, socket_context);
	}
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;

	http_guard_request_done(s->guard, c,
				toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && *state == &scrape_served);
	*state = NULL;
}

static void quiet_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	(void)fmt;
	(void)ap;
}

struct http_server *http_server_serve(int fd, const struct http_routes *r, bool control,
				      const char *unix_path, struct web_config *web, char *err,
				      size_t errlen)
{
	struct http_server *s = calloc(1, sizeof(*s));
	struct MHD_OptionItem tls[6];
	unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	size_t n = 0;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	s->routes = *r;
	s->control = control;
	s->web = control ? NULL : web;
	if (s->web && s->web->tls) {
		flags |= MHD_USE_TLS;
		tls[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, s->web->cert_pem };
		tls[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, s->web->key_pem };
		tls[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
						    s->web->priorities };
		if (s->web->client_ca_pem)
			tls[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0,
							    s->web->client_ca_pem };
	}
	tls[n] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	if (unix_path)
		snprintf(s->unix_path, sizeof(s->unix_path), "%s", unix_path);
	s->guard = http_guard_new();
	if (!s->guard) {
		snprintf(err, errlen, "cannot start the HTTP server: %s", strerror(errno));
		close(fd);
		free(s);
		return NULL;
	}
	s->daemon = MHD_start_daemon(
		flags, 0, on_accept, s, on_request, s, MHD_OPTION_ARRAY, tls,
		MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)HTTP_GUARD_TOTAL, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)HTTP_GUARD_PER_IP, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)CONNECTION_MEMORY, MHD_OPTION_EXTERNAL_LOGGER, quiet_mhd_log, NULL,
		MHD_OPTION_END);
	if (!s->daemon) {
		snprintf(err, errlen, "cannot start the HTTP%s server",
			 s->web && s->web->tls ? "S" : "");
		close(fd);
		http_guard_free(s->guard);
		free(s);
		return NULL;
	}
	return s;
}

int http_listen_tcp(const struct zs_listen *l, char *err, size_t errlen)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sslen;
	char text[96];
	int fd, one = 1;

	listen_format(l, text, sizeof(text));
	if (l->family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(l->port);
		inet_pton(AF_INET6, l->host, &a->sin6_addr);
		sslen = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(l->port);
		inet_pton(AF_INET, l->host, &a->sin_addr);
		sslen = sizeof(*a);
	}
	fd = socket(l->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a socket for %s: %s", text, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l->family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sslen) || listen(fd, 128)) {
		int e = errno;

		snprintf(err, errlen, "cannot listen on %s: %s%s", text, strerror(e),
			 e == EADDRINUSE ? "; pick a free port with --listen ADDR:PORT"
			 : e == EADDRNOTAVAIL ? "; that address is not on this host"
					      : "");
		close(fd);
		return -1;
	}
	return fd;
}

int http_listen_unix(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	mode_t old;
	int fd;

	if (strlen(path) >= sizeof(a.sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s", path);
		return -1;
	}
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create the control socket: %s", strerror(errno));
		return -1;
	}
	unlink(path);
	old = umask(0077);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16)) {
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	return fd;
}

bool http_server_tls_supported(void)
{
	return MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES;
}

void http_server_stop(struct http_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->daemon); /* closes the listening socket too */
	http_guard_free(s->guard);
	if (s->unix_path[0])
		unlink(s->unix_path);
	free(s);
}
