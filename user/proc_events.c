// SPDX-License-Identifier: MIT
#include "proc_events.h"

#include <errno.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <stdalign.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One netlink message carrying one connector message: the kernel's framing. */
struct cn_request {
	struct nlmsghdr nl;
	struct cn_msg cn;
	enum proc_cn_mcast_op op;
} __attribute__((packed));

int proc_events_open(void)
{
	struct sockaddr_nl addr = { .nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC,
				    .nl_pid = 0 };
	struct cn_request req;
	int fd, rc;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_CONNECTOR);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		rc = -errno;
		close(fd);
		return rc;
	}
	memset(&req, 0, sizeof(req));
	req.nl.nlmsg_len = sizeof(req);
	req.nl.nlmsg_type = NLMSG_DONE;
	req.nl.nlmsg_pid = (__u32)getpid();
	req.cn.id.idx = CN_IDX_PROC;
	req.cn.id.val = CN_VAL_PROC;
	req.cn.len = sizeof(req.op);
	req.op = PROC_CN_MCAST_LISTEN;
	if (send(fd, &req, sizeof(req), 0) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

void proc_events_parse(const void *buf, size_t len, proc_event_fn fn, void *arg)
{
	const struct nlmsghdr *nl;
	int n = (int)len;

	for (nl = buf; NLMSG_OK(nl, n); nl = NLMSG_NEXT(nl, n)) {
		struct cn_msg cn;
		struct proc_event ev;
		const char *data = NLMSG_DATA(nl);
		size_t avail = NLMSG_PAYLOAD(nl, 0), evlen;

		if (nl->nlmsg_type == NLMSG_ERROR || nl->nlmsg_type == NLMSG_NOOP ||
		    avail < sizeof(cn))
			continue;
		/*
		 * The event follows a 16-byte nlmsghdr and a 20-byte cn_msg: never
		 * aligned for its u64 timestamp, so it is copied out, not cast.
		 */
		memcpy(&cn, data, sizeof(cn));
		evlen = avail - sizeof(cn) < cn.len ? avail - sizeof(cn) : cn.len;
		if (cn.id.idx != CN_IDX_PROC || evlen < offsetof(struct proc_event, event_data))
			continue;
		memset(&ev, 0, sizeof(ev));
		memcpy(&ev, data + sizeof(cn), evlen < sizeof(ev) ? evlen : sizeof(ev));
		/* A short event leaves zeros: pid 0 is no process. */
		if (ev.what == PROC_EVENT_EXEC && ev.event_data.exec.process_tgid > 0)
			fn(PROC_EVENT_KIND_EXEC, ev.event_data.exec.process_tgid, 0, arg);
		else if (ev.what == PROC_EVENT_EXIT && ev.event_data.exit.process_tgid > 0 &&
			 ev.event_data.exit.process_pid == ev.event_data.exit.process_tgid)
			fn(PROC_EVENT_KIND_EXIT, ev.event_data.exit.process_tgid, 0, arg);
		else if (ev.what == PROC_EVENT_FORK && ev.event_data.fork.child_tgid > 0 &&
			 ev.event_data.fork.child_pid == ev.event_data.fork.child_tgid)
			fn(PROC_EVENT_KIND_FORK, ev.event_data.fork.child_tgid,
			   ev.event_data.fork.parent_tgid, arg);
	}
}

int proc_events_drain(int fd, proc_event_fn fn, void *arg)
{
	alignas(struct nlmsghdr) char buf[8192];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		proc_events_parse(buf, (size_t)n, fn, arg);
	}
}

void proc_events_close(int fd)
{
	if (fd >= 0)
		close(fd);
}
