// SPDX-License-Identifier: MIT
/* Parsing behind --port, --name, process identity and the pinned link directories. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pinning.h"
#include "proc_files.h"
#include "process_selector.h"

static void test_tcp_listening_ipv4(void **state)
{
	/* A real /proc/net/tcp line: 127.0.0.1:9850 listening, inode 123456. */
	const char *line = "   3: 0100007F:267A 00000000:0000 0A 00000000:00000000 00:00000000 "
			   "00000000     0        0 123456 1 0000000000000000 100 0 0 10 0\n";
	uint16_t port = 0;
	uint64_t inode = 0;

	(void)state;
	assert_true(tcp_line_listening(line, &port, &inode));
	assert_int_equal(port, 9850);
	assert_int_equal(inode, 123456);
}

static void test_tcp_listening_ipv6(void **state)
{
	const char *line = "   0: 00000000000000000000000001000000:15B3 "
			   "00000000000000000000000000000000:0000 0A 00000000:00000000 "
			   "00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0\n";
	uint16_t port = 0;
	uint64_t inode = 0;

	(void)state;
	assert_true(tcp_line_listening(line, &port, &inode));
	assert_int_equal(port, 5555);
	assert_int_equal(inode, 777);
}

static void test_tcp_not_listening_or_malformed(void **state)
{
	/* ESTABLISHED (01), the header line, and garbage are not listeners. */
	const char *established = "   4: 0100007F:2689 0100007F:D2F0 01 00000000:00000000 "
				  "00:00000000 00000000     0        0 99 1 0 20 4 30 10 -1\n";
	const char *header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
			     "retrnsmt   uid  timeout inode\n";
	uint16_t port = 1;
	uint64_t inode = 1;

	(void)state;
	assert_false(tcp_line_listening(established, &port, &inode));
	assert_false(tcp_line_listening(header, &port, &inode));
	assert_false(tcp_line_listening("", &port, &inode));
	assert_false(tcp_line_listening("   1: zz:zz", &port, &inode));
	assert_int_equal(port, 1);
	assert_int_equal(inode, 1);
}

static void test_cmdline_to_text(void **state)
{
	char buf[] = "python3\0controller.py\0--pull\0tcp://x\0";

	(void)state;
	cmdline_to_text(buf, sizeof(buf) - 1);
	assert_string_equal(buf, "python3 controller.py --pull tcp://x");
}

static void test_link_dir_names(void **state)
{
	pid_t pid = 0;
	uint64_t start = 0;
	char path[256];

	(void)state;
	assert_true(pin_parse_link_dir_name("4242-1234567", &pid, &start));
	assert_int_equal(pid, 4242);
	assert_int_equal(start, 1234567);
	assert_false(pin_parse_link_dir_name("4242", &pid, &start));
	assert_false(pin_parse_link_dir_name("4242-", &pid, &start));
	assert_false(pin_parse_link_dir_name("-5-6", &pid, &start));
	assert_false(pin_parse_link_dir_name("0-6", &pid, &start));
	assert_false(pin_parse_link_dir_name("12-6x", &pid, &start));
	assert_false(pin_parse_link_dir_name("maps", &pid, &start));
	pin_link_dir("/sys/fs/bpf/zmqscope/3", 4242, 1234567, path, sizeof(path));
	assert_string_equal(path, "/sys/fs/bpf/zmqscope/3/links/4242-1234567");
	pin_dir_for(7, path, sizeof(path));
	assert_string_equal(path, "/sys/fs/bpf/zmqscope/7");
}

static void test_proc_stat_identity(void **state)
{
	/* A comm with a space and a parenthesis: only the last ')' ends it. */
	const char *stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 6043 0 0 0 21 9 0 0 "
			   "20 0 3 0 987654 24236032 4262 18446744073709551615 1 1 0 0 0 0 0 "
			   "4096 16386 0 0 0 17 1 0 0 0 0 0\n";
	uint64_t start = 0;
	char comm[17];

	(void)state;
	assert_int_equal(proc_stat_parse(stat, &start, comm, sizeof(comm)), 0);
	assert_int_equal(start, 987654);
	assert_string_equal(comm, "my (odd) name");
	/* comm is cut to the buffer, like the kernel's 16 bytes. */
	assert_int_equal(proc_stat_parse(stat, NULL, comm, 6), 0);
	assert_string_equal(comm, "my (o");
}

static void test_proc_stat_zombie_and_garbage(void **state)
{
	const char *zombie = "77 (python3) Z 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5555 0 0 0\n";
	uint64_t start = 1;

	(void)state;
	assert_int_equal(proc_stat_parse(zombie, &start, NULL, 0), -ESRCH);
	assert_int_equal(proc_stat_parse("77 python3 S 1", &start, NULL, 0), -EIO);
	assert_int_equal(proc_stat_parse("77 (python3)", &start, NULL, 0), -EIO);
	assert_int_equal(proc_stat_parse("77 (python3) S 1 2 3", &start, NULL, 0), -EIO);
	assert_int_equal(start, 1);
}

static void test_back_references_found(void **state)
{
	(void)state;
	assert_true(regex_has_back_reference("(.*)(.*)(.*)\\3\\2\\1x"));
	assert_true(regex_has_back_reference("(a)\\1"));
	assert_true(regex_has_back_reference("x\\9"));
	assert_true(regex_has_back_reference("[ab]\\1"));
	assert_true(regex_has_back_reference("[]]\\2"));
	/* Escaped backslashes, bracket expressions and \0 are no back-references. */
	assert_false(regex_has_back_reference("controller\\.py"));
	assert_false(regex_has_back_reference("a\\\\1"));
	assert_false(regex_has_back_reference("[\\1]"));
	assert_false(regex_has_back_reference("[]\\1]"));
	assert_false(regex_has_back_reference("[^]\\1]x"));
	assert_false(regex_has_back_reference("[[:digit:]\\1]"));
	assert_false(regex_has_back_reference("[[.].]\\1]"));
	assert_false(regex_has_back_reference("port 5[0-9]{3}"));
	assert_false(regex_has_back_reference(""));
	assert_false(regex_has_back_reference("trailing\\"));
}

static void test_selector_refuses_back_references(void **state)
{
	struct zs_options o;
	struct process_selector s;
	char err[256] = "";

	(void)state;
	memset(&o, 0, sizeof(o));
	o.names[0] = "(.*)(.*)(.*)\\3\\2\\1x";
	o.nnames = 1;
	assert_int_equal(process_selector_init(&s, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "back-reference"));
	assert_null(strchr(err, '\n'));
	o.names[0] = "controller\\.py";
	assert_int_equal(process_selector_init(&s, &o, err, sizeof(err)), 0);
	assert_false(s.name_matches_all);
	process_selector_free(&s);
	o.names[0] = "";
	assert_int_equal(process_selector_init(&s, &o, err, sizeof(err)), 0);
	assert_true(s.name_matches_all);
	process_selector_free(&s);
	o.names[0] = "x|.*";
	assert_int_equal(process_selector_init(&s, &o, err, sizeof(err)), 0);
	assert_true(s.name_matches_all);
	process_selector_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_back_references_found),
		cmocka_unit_test(test_selector_refuses_back_references),
		cmocka_unit_test(test_tcp_listening_ipv4),
		cmocka_unit_test(test_tcp_listening_ipv6),
		cmocka_unit_test(test_tcp_not_listening_or_malformed),
		cmocka_unit_test(test_cmdline_to_text),
		cmocka_unit_test(test_link_dir_names),
		cmocka_unit_test(test_proc_stat_identity),
		cmocka_unit_test(test_proc_stat_zombie_and_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
