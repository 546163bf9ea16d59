// SPDX-License-Identifier: MIT
#include "metrics_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errmsg.h"

static int connect_to(const struct zs_listen *l, int timeout_ms)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd, rc;

	if (l->family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(l->port);
		inet_pton(AF_INET6, l->host, &a->sin6_addr);
		/* A daemon listening on every address is reachable on loopback. */
		if (IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr))
			a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(l->port);
		inet_pton(AF_INET, l->host, &a->sin_addr);
		if (a->sin_addr.s_addr == htonl(INADDR_ANY))
			a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS) {
		rc = -errno;
		close(fd);
		return rc;
	}
	{
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		rc = poll(&p, 1, timeout_ms);
		if (rc <= 0) {
			close(fd);
			return rc ? -errno : -ETIMEDOUT;
		}
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr) {
			close(fd);
			return -soerr;
		}
	}
	return fd;
}

int metrics_fetch(const struct zs_listen *l, int timeout_ms, struct strbuf *out, char *err,
		  size_t errlen)
{
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
	struct strbuf raw = STRBUF_INIT;
	const char *body;
	char buf[16384];
	int fd = connect_to(l, timeout_ms), rc = 0;

	if (fd < 0)
		return errmsg(err, errlen, fd, "cannot connect to %s:%u: %s", l->host, l->port,
			      strerror(-fd));
	if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		rc = errmsg(err, errlen, -EIO, "cannot send to %s:%u", l->host, l->port);
		goto out;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, timeout_ms) <= 0) {
			rc = errmsg(err, errlen, -ETIMEDOUT, "%s:%u did not answer in %d ms", l->host,
				    l->port, timeout_ms);
			goto out;
		}
		r = read(fd, buf, sizeof(buf));
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0) {
			rc = errmsg(err, errlen, -errno, "reading from %s:%u: %s", l->host, l->port,
				    strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		strbuf_append(&raw, buf, (size_t)r);
	}
	body = strstr(strbuf_str(&raw), "\r\n\r\n");
	if (raw.oom) {
		rc = errmsg(err, errlen, -ENOMEM, "out of memory reading /metrics");
	} else if (!body || strncmp(strbuf_str(&raw), "HTTP/1.", 7) ||
		   strncmp(strbuf_str(&raw) + 8, " 200", 4)) {
		rc = errmsg(err, errlen, -EPROTO, "%s:%u is not a zmqscope /metrics (no 200 answer)",
			    l->host, l->port);
	} else {
		strbuf_reset(out);
		strbuf_puts(out, body + 4);
	}
out:
	strbuf_free(&raw);
	close(fd);
	return rc;
}
