// SPDX-License-Identifier: MIT
/* How long `stop` waits: as long as the daemon's fds keep reaching new lows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "stop_progress.h"

static void test_gives_up_after_the_window_without_a_sample(void **state)
{
	struct stop_progress p;

	(void)state;
	stop_progress_init(&p, 1000, 0);
	assert_true(stop_progress_sample(&p, -1, 999));
	assert_false(stop_progress_sample(&p, -1, 1000));
}

static void test_every_new_low_extends_the_wait(void **state)
{
	struct stop_progress p;
	long long t = 0;

	(void)state;
	stop_progress_init(&p, 1000, 0);
	/* 500 links closing one every 900 ms: far past any fixed timeout, never stalled. */
	for (int fds = 500; fds > 0; fds--, t += 900)
		assert_true(stop_progress_sample(&p, fds, t));
	assert_int_equal(p.lowest, 1);
	assert_false(stop_progress_sample(&p, 1, t + 1000));
}

static void test_fds_that_come_back_are_not_progress(void **state)
{
	struct stop_progress p;

	(void)state;
	stop_progress_init(&p, 1000, 0);
	assert_true(stop_progress_sample(&p, 40, 0));
	assert_true(stop_progress_sample(&p, 39, 500));
	/* a scrape opens a socket and closes it: 40 then 39 again, the low stays at 500 ms */
	assert_true(stop_progress_sample(&p, 40, 900));
	assert_true(stop_progress_sample(&p, 39, 1400));
	assert_false(stop_progress_sample(&p, 39, 1500));
}

static void test_an_unreadable_count_keeps_the_last_low(void **state)
{
	struct stop_progress p;

	(void)state;
	stop_progress_init(&p, 1000, 0);
	assert_true(stop_progress_sample(&p, 10, 100));
	assert_true(stop_progress_sample(&p, -13, 1099));
	assert_false(stop_progress_sample(&p, -13, 1100));
	assert_int_equal(p.lowest, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gives_up_after_the_window_without_a_sample),
		cmocka_unit_test(test_every_new_low_extends_the_wait),
		cmocka_unit_test(test_fds_that_come_back_are_not_progress),
		cmocka_unit_test(test_an_unreadable_count_keeps_the_last_low),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
