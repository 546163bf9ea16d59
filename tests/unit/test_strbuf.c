// SPDX-License-Identifier: MIT
/* The growable text buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "strbuf.h"

static void test_empty_is_empty_string(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	assert_non_null(strbuf_str(&sb));
	assert_string_equal(strbuf_str(&sb), "");
	assert_int_equal(sb.len, 0);
	strbuf_reset(&sb); /* no buffer yet: must not crash */
	assert_string_equal(strbuf_str(&sb), "");
	strbuf_free(&sb);
}

static void test_appends(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	strbuf_puts(&sb, "abc");
	strbuf_putc(&sb, '-');
	strbuf_append(&sb, "xyz123", 3);
	strbuf_append(&sb, "ignored", 0);
	assert_string_equal(strbuf_str(&sb), "abc-xyz");
	assert_int_equal(sb.len, 7);
	assert_false(sb.oom);
	strbuf_free(&sb);
	assert_null(sb.buf);
	assert_int_equal(sb.len, 0);
	assert_int_equal(sb.cap, 0);
}

static void test_embedded_nul_kept_by_append(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	strbuf_append(&sb, "a\0b", 3);
	assert_int_equal(sb.len, 3);
	assert_memory_equal(sb.buf, "a\0b\0", 4);
	strbuf_free(&sb);
}

static void test_growth_past_initial_capacity(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	char line[32];

	(void)state;
	for (int i = 0; i < 10000; i++)
		strbuf_printf(&sb, "%05d,", i);
	assert_false(sb.oom);
	assert_int_equal(sb.len, 60000);
	assert_true(sb.cap > sb.len);
	assert_int_equal(strlen(strbuf_str(&sb)), 60000);
	/* Spot-check content at the start, across growth points, and at the end. */
	assert_memory_equal(sb.buf, "00000,00001,", 12);
	for (int i = 0; i < 10000; i += 997) {
		snprintf(line, sizeof(line), "%05d,", i);
		assert_memory_equal(sb.buf + (size_t)i * 6, line, 6);
	}
	assert_string_equal(sb.buf + 59994, "09999,");
	strbuf_free(&sb);
}

static void test_many_single_chars(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	for (int i = 0; i < 5000; i++)
		strbuf_putc(&sb, (char)('a' + i % 26));
	assert_int_equal(sb.len, 5000);
	assert_int_equal(strlen(sb.buf), 5000);
	assert_int_equal(sb.buf[0], 'a');
	assert_int_equal(sb.buf[25], 'z');
	assert_int_equal(sb.buf[26], 'a');
	assert_int_equal(sb.buf[4999], 'a' + 4999 % 26);
	strbuf_free(&sb);
}

static void test_one_large_append(void **state)
{
	static char big[100000];
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	memset(big, 'q', sizeof(big) - 1);
	strbuf_puts(&sb, "<");
	strbuf_puts(&sb, big);
	strbuf_puts(&sb, ">");
	assert_int_equal(sb.len, sizeof(big) + 1);
	assert_int_equal(sb.buf[0], '<');
	assert_int_equal(sb.buf[1], 'q');
	assert_int_equal(sb.buf[sizeof(big) - 1], 'q');
	assert_int_equal(sb.buf[sizeof(big)], '>');
	assert_int_equal(sb.buf[sizeof(big) + 1], '\0');
	strbuf_free(&sb);
}

static void test_printf_formats(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	strbuf_printf(&sb, "%s=%d", "pid", 4242);
	strbuf_printf(&sb, " %#" PRIx64, (uint64_t)0xdeadbeef);
	strbuf_printf(&sb, " %.3f", 0.5);
	strbuf_printf(&sb, " [%5s|%-4s]", "ab", "c");
	strbuf_printf(&sb, "%s", "");
	strbuf_printf(&sb, " %" PRIu64, UINT64_MAX);
	assert_string_equal(strbuf_str(&sb),
			    "pid=4242 0xdeadbeef 0.500 [   ab|c   ] 18446744073709551615");
	strbuf_free(&sb);
}

static void test_reset_keeps_buffer_and_clears_text(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	char *before;
	size_t cap;

	(void)state;
	for (int i = 0; i < 100; i++)
		strbuf_puts(&sb, "0123456789");
	before = sb.buf;
	cap = sb.cap;
	strbuf_reset(&sb);
	assert_int_equal(sb.len, 0);
	assert_string_equal(strbuf_str(&sb), "");
	assert_ptr_equal(sb.buf, before);
	assert_int_equal(sb.cap, cap);
	strbuf_puts(&sb, "again");
	assert_string_equal(strbuf_str(&sb), "again");
	assert_int_equal(sb.len, 5);
	strbuf_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_is_empty_string),
		cmocka_unit_test(test_appends),
		cmocka_unit_test(test_embedded_nul_kept_by_append),
		cmocka_unit_test(test_growth_past_initial_capacity),
		cmocka_unit_test(test_many_single_chars),
		cmocka_unit_test(test_one_large_append),
		cmocka_unit_test(test_printf_formats),
		cmocka_unit_test(test_reset_keeps_buffer_and_clears_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
