// SPDX-License-Identifier: MIT
/* `zmqscope top`'s command line: an instance ID, or selectors, and --interval. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "options.h"

static int parse(struct zs_options *o, char *err, size_t errlen, const char *a1,
		 const char *a2, const char *a3, const char *a4)
{
	char *argv[8] = { (char *)"zmqscope", (char *)"top" };
	int argc = 2;
	const char *rest[] = { a1, a2, a3, a4 };
	/* options keep pointers into argv, as into main's: these outlive the call */
	static char copies[4][64];

	for (int i = 0; i < 4 && rest[i]; i++) {
		strcpy(copies[i], rest[i]);
		argv[argc++] = copies[i];
	}
	return options_parse(argc, argv, o, err, errlen);
}

static void test_top_defaults_and_instance_id(void **state)
{
	struct zs_options o;
	char err[256];

	(void)state;
	assert_int_equal(parse(&o, err, sizeof(err), NULL, NULL, NULL, NULL), 0);
	assert_int_equal(o.cmd, ZS_CMD_TOP);
	assert_null(o.instance_id);
	assert_int_equal(o.top_interval_ms, 1000);
	assert_int_equal(parse(&o, err, sizeof(err), "3", "--interval", "2.5", NULL), 0);
	assert_string_equal(o.instance_id, "3");
	assert_int_equal(o.top_interval_ms, 2500);
	assert_int_equal(parse(&o, err, sizeof(err), "--interval=0.2", "7", NULL, NULL), 0);
	assert_int_equal(o.top_interval_ms, 200);
	assert_string_equal(o.instance_id, "7");
}

static void test_top_with_selectors(void **state)
{
	struct zs_options o;
	char err[256];

	(void)state;
	assert_int_equal(parse(&o, err, sizeof(err), "--pid", "42", "--name", "ctl.*"), 0);
	assert_int_equal(o.npids, 1);
	assert_int_equal(o.pids[0], 42);
	assert_int_equal(o.nnames, 1);
	assert_null(o.instance_id);
	options_free(&o);
	assert_int_equal(parse(&o, err, sizeof(err), "-P", "9001", "--label", "a=b"), 0);
	assert_int_equal(o.nports, 1);
	assert_int_equal(o.nlabels, 1);
}

static void test_top_rejects(void **state)
{
	struct zs_options o;
	char err[256];

	(void)state;
	assert_int_equal(parse(&o, err, sizeof(err), "3", "--pid", "42", NULL), -EINVAL);
	assert_non_null(strstr(err, "not both"));
	assert_int_equal(parse(&o, err, sizeof(err), "3", "4", NULL, NULL), -EINVAL);
	assert_non_null(strstr(err, "one instance ID"));
	assert_int_equal(parse(&o, err, sizeof(err), "--interval", "0.1", NULL, NULL), -EINVAL);
	assert_non_null(strstr(err, "--interval '0.1'"));
	assert_int_equal(parse(&o, err, sizeof(err), "--interval", "fast", NULL, NULL), -EINVAL);
	assert_int_equal(parse(&o, err, sizeof(err), "--interval", "61", NULL, NULL), -EINVAL);
	assert_int_equal(parse(&o, err, sizeof(err), "--pid", "0", NULL, NULL), -EINVAL);
	assert_non_null(strstr(err, "--pid '0'"));
	assert_int_equal(parse(&o, err, sizeof(err), "--pid", "5", "--user", "nobody"), -EINVAL);
	assert_non_null(strstr(err, "top --user"));
	assert_int_equal(parse(&o, err, sizeof(err), "--bogus", NULL, NULL, NULL), -EINVAL);
	assert_non_null(strstr(err, "zmqscope top --help"));
	assert_null(strchr(err, '\n'));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_top_defaults_and_instance_id),
		cmocka_unit_test(test_top_with_selectors),
		cmocka_unit_test(test_top_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
