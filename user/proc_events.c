// SPDX-License-Identifier: MIT
#include "proc_events.h"

#include <errno.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <stdalign.h>
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

int proc_events_drain(int fd, proc_event_fn fn, void *arg)
{
	alignas(struct nlmsghdr) char buf[8192];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *nl;

		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		for (nl = (struct nlmsghdr *)buf; NLMSG_OK(nl, (size_t)n); nl = NLMSG_NEXT(nl, n)) {
			struct cn_msg *cn = NLMSG_DATA(nl);
			struct proc_event *ev;

			if (nl->nlmsg_type == NLMSG_ERROR || nl->nlmsg_type == NLMSG_NOOP ||
			    cn->id.idx != CN_IDX_PROC)
				continue;
			ev = (struct proc_event *)cn->data;
			if (ev->what == PROC_EVENT_EXEC)
				fn(PROC_EVENT_KIND_EXEC, ev->event_data.exec.process_tgid, arg);
			else if (ev->what == PROC_EVENT_EXIT &&
				 ev->event_data.exit.process_pid == ev->event_data.exit.process_tgid)
				fn(PROC_EVENT_KIND_EXIT, ev->event_data.exit.process_tgid, arg);
		}
	}
}

void proc_events_close(int fd)
{
	if (fd >= 0)
		close(fd);
}
