// SPDX-License-Identifier: MIT
/* /proc/PID/maps parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc_maps.h"

static void test_libzmq_mapping_with_path(void **state)
{
	struct maps_entry e;

	(void)state;
	assert_int_equal(maps_parse_line("7f3a1c2d4000-7f3a1c34b000 r-xp 00024000 fd:01 1573921"
					 "                    /usr/lib/x86_64-linux-gnu/libzmq.so.5.2.4\n",
					 &e),
			 0);
	assert_int_equal(e.start, 0x7f3a1c2d4000ULL);
	assert_int_equal(e.end, 0x7f3a1c34b000ULL);
	assert_string_equal(e.perms, "r-xp");
	assert_int_equal(e.offset, 0x24000);
	assert_int_equal(e.dev_major, 0xfd);
	assert_int_equal(e.dev_minor, 0x01);
	assert_int_equal(e.inode, 1573921);
	assert_string_equal(e.path, "/usr/lib/x86_64-linux-gnu/libzmq.so.5.2.4");
	assert_false(e.deleted);
	assert_true(maps_is_exec(&e));
	assert_true(maps_is_file(&e));
}

static void test_large_hex_fields(void **state)
{
	struct maps_entry e;

	(void)state;
	assert_int_equal(maps_parse_line("ffffffffff600000-ffffffffff601000 --xp abcdef012 103:1f "
					 "18446744073709551615 /x",
					 &e),
			 0);
	assert_int_equal(e.start, 0xffffffffff600000ULL);
	assert_int_equal(e.end, 0xffffffffff601000ULL);
	assert_int_equal(e.offset, 0xabcdef012ULL);
	assert_int_equal(e.dev_major, 0x103);
	assert_int_equal(e.dev_minor, 0x1f);
	assert_int_equal(e.inode, UINT64_MAX);
	assert_string_equal(e.perms, "--xp");
	assert_string_equal(e.path, "/x");
}

static void test_anonymous_mapping_has_no_path(void **state)
{
	struct maps_entry e;

	(void)state;
	/* The kernel pads the inode column with a space even when no path follows. */
	assert_int_equal(maps_parse_line("7f3a1c000000-7f3a1c021000 rw-p 00000000 00:00 0 \n", &e), 0);
	assert_int_equal(e.start, 0x7f3a1c000000ULL);
	assert_int_equal(e.end, 0x7f3a1c021000ULL);
	assert_string_equal(e.perms, "rw-p");
	assert_int_equal(e.inode, 0);
	assert_string_equal(e.path, "");
	assert_false(maps_is_exec(&e));
	assert_false(maps_is_file(&e));

	/* ... and without the trailing space or newline. */
	assert_int_equal(maps_parse_line("1000-2000 rw-p 00000000 00:00 0", &e), 0);
	assert_int_equal(e.start, 0x1000);
	assert_int_equal(e.end, 0x2000);
	assert_string_equal(e.path, "");
}

static void test_vdso(void **state)
{
	struct maps_entry e;

	(void)state;
	assert_int_equal(maps_parse_line("7ffc5a3f2000-7ffc5a3f4000 r-xp 00000000 00:00 0"
					 "                          [vdso]\n",
					 &e),
			 0);
	assert_string_equal(e.path, "[vdso]");
	assert_true(maps_is_exec(&e));
	assert_false(maps_is_file(&e));
	assert_false(e.deleted);
}

static void test_path_with_spaces(void **state)
{
	struct maps_entry e;

	(void)state;
	assert_int_equal(maps_parse_line("55d0c0a00000-55d0c0a01000 r--p 00001000 08:02 42"
					 "          /opt/my app/lib zmq.so\n",
					 &e),
			 0);
	assert_string_equal(e.path, "/opt/my app/lib zmq.so");
	assert_int_equal(e.offset, 0x1000);
	assert_int_equal(e.dev_major, 8);
	assert_int_equal(e.dev_minor, 2);
	assert_int_equal(e.inode, 42);
	assert_false(e.deleted);
}

static void test_deleted_suffix_stripped(void **state)
{
	struct maps_entry e;

	(void)state;
	assert_int_equal(maps_parse_line("7f0000000000-7f0000001000 r-xp 00002000 fd:00 99"
					 " /usr/lib/libzmq.so.5 (deleted)\n",
					 &e),
			 0);
	assert_string_equal(e.path, "/usr/lib/libzmq.so.5");
	assert_true(e.deleted);
	assert_true(maps_is_file(&e));

	/* "(deleted)" without its leading space is part of the name. */
	assert_int_equal(maps_parse_line("1000-2000 r-xp 0 00:01 5 /tmp/x(deleted)", &e), 0);
	assert_string_equal(e.path, "/tmp/x(deleted)");
	assert_false(e.deleted);
}

static void test_malformed_lines(void **state)
{
	static const char *const bad[] = {
		"",
		"garbage\n",
		"7f00-7f10 r-xp 0 fd:00\n",		   /* no inode */
		"7f00 r-xp 00000000 fd:00 1 /x\n",	   /* no end */
		"7f10-7f00 r-xp 00000000 fd:00 1 /x\n", /* end before start */
		"7f00-7f10 rx 00000000 fd:00 1 /x\n",	   /* short perms */
		"zz00-7f10 r-xp 00000000 fd:00 1 /x\n",
	};
	struct maps_entry e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (maps_parse_line(bad[i], &e) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
}

struct find_exe {
	char exe[PATH_MAX];
	ino_t ino;
	int exec_hits;
	int lines;
};

static int visit_find_exe(const struct maps_entry *e, void *arg)
{
	struct find_exe *f = arg;

	f->lines++;
	if (maps_is_exec(e) && !strcmp(e->path, f->exe)) {
		assert_int_equal(e->inode, (uint64_t)f->ino);
		assert_true(maps_is_file(e));
		assert_true(e->start < e->end);
		f->exec_hits++;
	}
	return 0;
}

static int visit_stop_at_third(const struct maps_entry *e, void *arg)
{
	int *n = arg;

	(void)e;
	return ++*n == 3 ? 42 : 0;
}

static void test_for_each_finds_own_executable(void **state)
{
	struct find_exe f = { 0 };
	struct stat st;
	ssize_t n;

	(void)state;
	n = readlink("/proc/self/exe", f.exe, sizeof(f.exe) - 1);
	assert_true(n > 0);
	f.exe[n] = '\0';
	assert_int_equal(stat(f.exe, &st), 0);
	f.ino = st.st_ino;
	assert_int_equal(maps_for_each(getpid(), visit_find_exe, &f), 0);
	assert_true(f.lines > 5);
	assert_true(f.exec_hits >= 1);
}

static void test_for_each_stops_on_nonzero(void **state)
{
	int n = 0;

	(void)state;
	assert_int_equal(maps_for_each(getpid(), visit_stop_at_third, &n), 42);
	assert_int_equal(n, 3);
}

static void test_for_each_missing_process(void **state)
{
	int n = 0;

	(void)state;
	/* Above pid_max (at most 2^22), so never a live process. */
	assert_int_equal(maps_for_each(99999999, visit_stop_at_third, &n), -ENOENT);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libzmq_mapping_with_path),
		cmocka_unit_test(test_large_hex_fields),
		cmocka_unit_test(test_anonymous_mapping_has_no_path),
		cmocka_unit_test(test_vdso),
		cmocka_unit_test(test_path_with_spaces),
		cmocka_unit_test(test_deleted_suffix_stripped),
		cmocka_unit_test(test_malformed_lines),
		cmocka_unit_test(test_for_each_finds_own_executable),
		cmocka_unit_test(test_for_each_stops_on_nonzero),
		cmocka_unit_test(test_for_each_missing_process),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
