// SPDX-License-Identifier: MIT
/*
 * Proc connector datagrams as the kernel frames them: the proc_event sits
 * 36 bytes in, so it is never 8-byte aligned (UBSan would say so).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <stdalign.h>
#include <string.h>

#include "proc_events.h"

struct seen {
	enum proc_event_kind kind[8];
	pid_t pid[8], parent[8];
	int n;
};

static void record(enum proc_event_kind kind, pid_t pid, pid_t parent, void *arg)
{
	struct seen *s = arg;

	if (s->n < 8) {
		s->kind[s->n] = kind;
		s->pid[s->n] = pid;
		s->parent[s->n] = parent;
	}
	s->n++;
}

/* Appends one netlink message holding `ev`; returns the new length. */
static size_t put_event(char *buf, size_t at, const struct proc_event *ev)
{
	struct nlmsghdr nl = { 0 };
	struct cn_msg cn = { 0 };
	size_t len = NLMSG_LENGTH(sizeof(cn) + sizeof(*ev));

	nl.nlmsg_len = (__u32)len;
	nl.nlmsg_type = NLMSG_DONE;
	cn.id.idx = CN_IDX_PROC;
	cn.id.val = CN_VAL_PROC;
	cn.len = sizeof(*ev);
	memcpy(buf + at, &nl, sizeof(nl));
	memcpy(buf + at + NLMSG_HDRLEN, &cn, sizeof(cn));
	memcpy(buf + at + NLMSG_HDRLEN + sizeof(cn), ev, sizeof(*ev));
	return at + NLMSG_ALIGN(len);
}

static void test_exec_and_process_exit(void **state)
{
	alignas(struct nlmsghdr) char buf[1024];
	struct proc_event ev;
	struct seen s = { 0 };
	size_t len = 0;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	ev.what = PROC_EVENT_EXEC;
	ev.event_data.exec.process_pid = 4242;
	ev.event_data.exec.process_tgid = 4242;
	len = put_event(buf, len, &ev);
	memset(&ev, 0, sizeof(ev));
	ev.what = PROC_EVENT_EXIT; /* a thread's exit: not the process's */
	ev.event_data.exit.process_pid = 4300;
	ev.event_data.exit.process_tgid = 4242;
	len = put_event(buf, len, &ev);
	ev.event_data.exit.process_pid = 4242;
	len = put_event(buf, len, &ev);
	proc_events_parse(buf, len, record, &s);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.kind[0], PROC_EVENT_KIND_EXEC);
	assert_int_equal(s.pid[0], 4242);
	assert_int_equal(s.kind[1], PROC_EVENT_KIND_EXIT);
	assert_int_equal(s.pid[1], 4242);
}

/* fork() makes a process; pthread_create a thread (child pid != tgid): only the first counts. */
static void test_process_fork_not_thread(void **state)
{
	alignas(struct nlmsghdr) char buf[1024];
	struct proc_event ev;
	struct seen s = { 0 };
	size_t len = 0;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	ev.what = PROC_EVENT_FORK;
	ev.event_data.fork.parent_pid = 500;
	ev.event_data.fork.parent_tgid = 500;
	ev.event_data.fork.child_pid = 501;
	ev.event_data.fork.child_tgid = 500; /* a thread */
	len = put_event(buf, len, &ev);
	ev.event_data.fork.parent_pid = 502; /* forked from a thread of 500 */
	ev.event_data.fork.child_pid = 503;
	ev.event_data.fork.child_tgid = 503;
	len = put_event(buf, len, &ev);
	proc_events_parse(buf, len, record, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.kind[0], PROC_EVENT_KIND_FORK);
	assert_int_equal(s.pid[0], 503);
	assert_int_equal(s.parent[0], 500);
}

static void test_truncated_event_is_ignored(void **state)
{
	alignas(struct nlmsghdr) char buf[1024];
	struct proc_event ev;
	struct seen s = { 0 };
	size_t len;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	ev.what = PROC_EVENT_EXEC;
	ev.event_data.exec.process_tgid = 77;
	len = put_event(buf, 0, &ev);
	proc_events_parse(buf, len - 8, record, &s); /* cut inside the netlink message */
	assert_int_equal(s.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_and_process_exit),
		cmocka_unit_test(test_process_fork_not_thread),
		cmocka_unit_test(test_truncated_event_is_ignored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
