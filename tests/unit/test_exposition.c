// SPDX-License-Identifier: MIT
/* Prometheus text format 0.0.4: names, escaping, values and log2 histograms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exposition.h"
#include "zmqscope.h"

static char *value_text(double v)
{
	static char text[64];
	struct strbuf sb = STRBUF_INIT;
	const char *s;

	expo_sample(&sb, "m", NULL, 0, NULL, 0, v);
	s = strbuf_str(&sb);
	assert_int_equal(strncmp(s, "m ", 2), 0);
	snprintf(text, sizeof(text), "%s", s + 2);
	strbuf_free(&sb);
	text[strcspn(text, "\n")] = '\0';
	return text;
}

static void test_family_writes_help_then_type(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	expo_family(&sb, "zmqscope_frames_received_total", EXPO_COUNTER, "Frames received.");
	expo_family(&sb, "zmqscope_target_up", EXPO_GAUGE, "1 while attached.");
	expo_family(&sb, "zmqscope_handler_seconds", EXPO_HISTOGRAM, "Handler time.");
	assert_string_equal(strbuf_str(&sb),
			    "# HELP zmqscope_frames_received_total Frames received.\n"
			    "# TYPE zmqscope_frames_received_total counter\n"
			    "# HELP zmqscope_target_up 1 while attached.\n"
			    "# TYPE zmqscope_target_up gauge\n"
			    "# HELP zmqscope_handler_seconds Handler time.\n"
			    "# TYPE zmqscope_handler_seconds histogram\n");
	strbuf_free(&sb);
}

static void test_help_escapes_backslash_and_newline_but_not_quotes(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	expo_escape_help(&sb, "a\\b\nc \"quoted\"");
	assert_string_equal(strbuf_str(&sb), "a\\\\b\\nc \"quoted\"");
	strbuf_reset(&sb);
	expo_family(&sb, "m", EXPO_GAUGE, "line1\nline2 C:\\path \"x\"");
	assert_string_equal(strbuf_str(&sb),
			    "# HELP m line1\\nline2 C:\\\\path \"x\"\n# TYPE m gauge\n");
	strbuf_free(&sb);
}

static void test_label_value_escapes_backslash_quote_newline(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	expo_escape_label_value(&sb, "a\\b\"c\nd\te");
	/* Only \, " and newline are escaped; a tab passes through as is. */
	assert_string_equal(strbuf_str(&sb), "a\\\\b\\\"c\\nd\te");
	strbuf_free(&sb);
}

static char *escaped(const char *value)
{
	static char text[512];
	struct strbuf sb = STRBUF_INIT;

	expo_escape_label_value(&sb, value);
	snprintf(text, sizeof(text), "%s", strbuf_str(&sb));
	strbuf_free(&sb);
	return text;
}

#define FFFD "\xEF\xBF\xBD"

static void test_label_value_keeps_valid_utf8(void **state)
{
	(void)state;
	/* 2-, 3- and 4-byte characters, the edges of the ranges included. */
	assert_string_equal(escaped("ipc:///tmp/\xCE\xA9\xCF\x80-\xE2\x82\xAC-\xF0\x9F\x98\x80"),
			    "ipc:///tmp/\xCE\xA9\xCF\x80-\xE2\x82\xAC-\xF0\x9F\x98\x80");
	assert_string_equal(escaped("\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEF\xBF\xBF"
				    "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF"),
			    "\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEF\xBF\xBF"
			    "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF");
}

static void test_label_value_replaces_invalid_utf8(void **state)
{
	(void)state;
	assert_string_equal(escaped("a\xFF" "b"), "a" FFFD "b");
	assert_string_equal(escaped("\x80"), FFFD);		   /* lone continuation */
	assert_string_equal(escaped("\xC0\xAF"), FFFD FFFD);	   /* overlong '/' */
	assert_string_equal(escaped("\xE0\x80\xAF"), FFFD FFFD FFFD); /* overlong, 3 bytes */
	assert_string_equal(escaped("\xED\xA0\x80"), FFFD FFFD FFFD); /* UTF-16 surrogate */
	assert_string_equal(escaped("\xF4\x90\x80\x80"), FFFD FFFD FFFD FFFD); /* > U+10FFFF */
	assert_string_equal(escaped("\xF5\x80"), FFFD FFFD);
	/* A truncated sequence is one replacement, and what follows survives. */
	assert_string_equal(escaped("x\xE2\x82y"), "x" FFFD "y");
	assert_string_equal(escaped("x\xF0\x9F\x98"), "x" FFFD);
	assert_string_equal(escaped("\xE2\x82\\\""), FFFD "\\\\\\\"");
}

static void test_help_replaces_invalid_utf8(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	expo_escape_help(&sb, "lib \xFE\xE2\x82\xAC");
	assert_string_equal(strbuf_str(&sb), "lib " FFFD "\xE2\x82\xAC");
	strbuf_free(&sb);
}

static void test_utf8_boundary_drops_a_cut_character(void **state)
{
	char ep[ZS_ENDPOINT_LEN];

	(void)state;
	assert_int_equal(expo_utf8_boundary("abc", 3), 3);
	assert_int_equal(expo_utf8_boundary("", 0), 0);
	assert_int_equal(expo_utf8_boundary("ab\xE2\x82\xAC", 5), 5); /* whole euro sign */
	assert_int_equal(expo_utf8_boundary("ab\xE2\x82\xAC", 4), 2); /* cut after 2 of 3 */
	assert_int_equal(expo_utf8_boundary("ab\xE2\x82\xAC", 3), 2); /* cut after 1 of 3 */
	assert_int_equal(expo_utf8_boundary("a\xF0\x9F\x98\x80", 4), 1);
	assert_int_equal(expo_utf8_boundary("a\xCE\xA9", 2), 1);
	/* Bytes that can start no character are not a cut one: the escape replaces them. */
	assert_int_equal(expo_utf8_boundary("a\xFF", 2), 2);
	assert_int_equal(expo_utf8_boundary("a\x80\x80\x80\x80", 5), 5);
	assert_int_equal(expo_utf8_boundary("a\xED\xA0", 3), 3); /* a surrogate, not a cut */

	/* An endpoint the probe cut at ZS_ENDPOINT_LEN - 1 bytes, inside a euro sign. */
	memset(ep, 'x', sizeof(ep));
	memcpy(ep + ZS_ENDPOINT_LEN - 3, "\xE2\x82", 2);
	ep[ZS_ENDPOINT_LEN - 1] = '\0';
	assert_int_equal(expo_utf8_boundary(ep, strlen(ep)), ZS_ENDPOINT_LEN - 3);
}

static void test_metric_names(void **state)
{
	(void)state;
	assert_true(expo_valid_metric_name("zmqscope_target_up"));
	assert_true(expo_valid_metric_name("lmcache:cache_controller_pull_socket_message_count"));
	assert_true(expo_valid_metric_name(":leading_colon"));
	assert_true(expo_valid_metric_name("_x9"));
	assert_true(expo_valid_metric_name("A"));
	assert_false(expo_valid_metric_name(""));
	assert_false(expo_valid_metric_name(NULL));
	assert_false(expo_valid_metric_name("9lives"));
	assert_false(expo_valid_metric_name("has-dash"));
	assert_false(expo_valid_metric_name("has space"));
	assert_false(expo_valid_metric_name("dotted.name"));
}

static void test_label_names(void **state)
{
	(void)state;
	assert_true(expo_valid_label_name("cluster"));
	assert_true(expo_valid_label_name("_x"));
	assert_true(expo_valid_label_name("Zone_2"));
	assert_false(expo_valid_label_name("a:b"));
	assert_false(expo_valid_label_name(":a"));
	assert_false(expo_valid_label_name("__x"));
	assert_false(expo_valid_label_name("__"));
	assert_false(expo_valid_label_name(""));
	assert_false(expo_valid_label_name(NULL));
	assert_false(expo_valid_label_name("1abc"));
	assert_false(expo_valid_label_name("a-b"));
}

static void test_sample_without_labels(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	expo_sample(&sb, "zmqscope_build_info", NULL, 0, NULL, 0, 1);
	assert_string_equal(strbuf_str(&sb), "zmqscope_build_info 1\n");
	strbuf_free(&sb);
}

static void test_sample_joins_both_label_runs_in_order(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	const struct expo_label own[] = { { "pid", "12" }, { "endpoint", "tcp://\"x\"\\y\nz" } };
	const struct expo_label user[] = { { "cluster", "prod" }, { "empty", NULL } };

	(void)state;
	expo_sample(&sb, "m", own, 2, user, 2, 3);
	assert_string_equal(strbuf_str(&sb), "m{pid=\"12\",endpoint=\"tcp://\\\"x\\\"\\\\y\\nz\","
					     "cluster=\"prod\",empty=\"\"} 3\n");
	strbuf_reset(&sb);
	expo_sample(&sb, "m", NULL, 0, user, 1, 4);
	assert_string_equal(strbuf_str(&sb), "m{cluster=\"prod\"} 4\n");
	strbuf_reset(&sb);
	expo_sample(&sb, "m", own, 1, NULL, 0, 5);
	assert_string_equal(strbuf_str(&sb), "m{pid=\"12\"} 5\n");
	strbuf_free(&sb);
}

static void test_value_formatting(void **state)
{
	(void)state;
	assert_string_equal(value_text(3), "3");
	assert_string_equal(value_text(0), "0");
	assert_string_equal(value_text(-2), "-2");
	assert_string_equal(value_text(0.5), "0.5");
	assert_string_equal(value_text(0.1), "0.1");
	assert_string_equal(value_text(1.024e-06), "1.024e-06");
	assert_string_equal(value_text(ldexp(1e-9, 10)), "1.024e-06");
	assert_string_equal(value_text(1234.5), "1234.5");
	assert_string_equal(value_text(18446744073709551615.0), "1.8446744073709552e+19");
	assert_string_equal(value_text(9007199254740991.0), "9007199254740991");
	assert_string_equal(value_text(1e30), "1e+30");
	assert_string_equal(value_text(INFINITY), "+Inf");
	assert_string_equal(value_text(-INFINITY), "-Inf");
	assert_string_equal(value_text(NAN), "NaN");
}

static void test_histogram_small_exact(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	const uint64_t slots[5] = { 1, 2, 3, 4, 5 };
	const struct expo_label own[] = { { "role", "pull" } };
	const struct expo_label user[] = { { "cluster", "x" } };

	(void)state;
	/* Slots 0 and 1 fold into slot 2's bucket; slot 4, the last, is +Inf. */
	expo_histogram_log2(&sb, "h_seconds", own, 1, user, 1, slots, 5, 2, 1e9, 1500);
	assert_string_equal(strbuf_str(&sb),
			    "h_seconds_bucket{role=\"pull\",cluster=\"x\",le=\"4e-09\"} 6\n"
			    "h_seconds_bucket{role=\"pull\",cluster=\"x\",le=\"8e-09\"} 10\n"
			    "h_seconds_bucket{role=\"pull\",cluster=\"x\",le=\"+Inf\"} 15\n"
			    "h_seconds_sum{role=\"pull\",cluster=\"x\"} 1.5e-06\n"
			    "h_seconds_count{role=\"pull\",cluster=\"x\"} 15\n");
	strbuf_free(&sb);
}

static void test_histogram_without_labels_has_only_le(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	const uint64_t slots[3] = { 0, 7, 1 };

	(void)state;
	expo_histogram_log2(&sb, "h", NULL, 0, NULL, 0, slots, 3, 0, 1e9, 0);
	assert_string_equal(strbuf_str(&sb), "h_bucket{le=\"1e-09\"} 0\n"
					     "h_bucket{le=\"2e-09\"} 7\n"
					     "h_bucket{le=\"+Inf\"} 8\n"
					     "h_sum 0\n"
					     "h_count 8\n");
	strbuf_free(&sb);
}

/* Finds the line that starts with `prefix` and returns what follows it. */
static const char *line_after(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, prefix, n))
			return p + n;
	return NULL;
}

static size_t count_substr(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void test_histogram_log2_nanoseconds_edges(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	uint64_t slots[ZS_HIST_SLOTS] = { 0 };
	const struct expo_label own[] = { { "role", "reply" } };
	const char *text, *v;

	(void)state;
	slots[0] = 1;	/* <= 1 ns: below `first`, folded */
	slots[3] = 2;	/* <= 8 ns: below `first`, folded */
	slots[10] = 4;	/* <= 1.024 us */
	slots[11] = 8;
	slots[20] = 16; /* <= 1.048576 ms */
	slots[38] = 32;
	slots[ZS_HIST_SLOTS - 1] = 64; /* above 2^38 ns */
	expo_histogram_log2(&sb, "zmqscope_handler_seconds", own, 1, NULL, 0, slots, ZS_HIST_SLOTS,
			    10, 1e9, 1048576);
	text = strbuf_str(&sb);

	/* One bucket per slot from 10 to 39. */
	assert_int_equal(count_substr(text, "zmqscope_handler_seconds_bucket{"), ZS_HIST_SLOTS - 10);
	assert_null(strstr(text, "le=\"5.12e-07\""));

	v = line_after(text, "zmqscope_handler_seconds_bucket{role=\"reply\",le=\"1.024e-06\"} ");
	assert_non_null(v);
	assert_int_equal(strtoull(v, NULL, 10), 1 + 2 + 4);
	v = line_after(text, "zmqscope_handler_seconds_bucket{role=\"reply\",le=\"2.048e-06\"} ");
	assert_non_null(v);
	assert_int_equal(strtoull(v, NULL, 10), 15);
	v = line_after(text, "zmqscope_handler_seconds_bucket{role=\"reply\",le=\"0.000524288\"} ");
	assert_non_null(v);
	assert_int_equal(strtoull(v, NULL, 10), 15);
	v = line_after(text, "zmqscope_handler_seconds_bucket{role=\"reply\",le=\"0.001048576\"} ");
	assert_non_null(v);
	assert_int_equal(strtoull(v, NULL, 10), 31);
	v = line_after(text, "zmqscope_handler_seconds_bucket{role=\"reply\",le=\"1.073741824\"} ");
	assert_non_null(v);
	assert_int_equal(strtoull(v, NULL, 10), 31);
	v = line_after(text, "zmqscope_handler_seconds_bucket{role=\"reply\",le=\"274.877906944\"} ");
	assert_non_null(v);
	assert_int_equal(strtoull(v, NULL, 10), 63);
	v = line_after(text, "zmqscope_handler_seconds_bucket{role=\"reply\",le=\"+Inf\"} ");
	assert_non_null(v);
	assert_int_equal(strtoull(v, NULL, 10), 127);
	/* 2^39 ns would be the last slot's finite edge: it must not appear. */
	assert_null(strstr(text, "le=\"549.755813888\""));

	v = line_after(text, "zmqscope_handler_seconds_sum{role=\"reply\"} ");
	assert_non_null(v);
	assert_int_equal(strcspn(v, "\n"), strlen("0.001048576"));
	assert_memory_equal(v, "0.001048576", strlen("0.001048576"));
	v = line_after(text, "zmqscope_handler_seconds_count{role=\"reply\"} ");
	assert_non_null(v);
	assert_int_equal(strtoull(v, NULL, 10), 127);

	/* The buckets come in increasing `le` order, +Inf last, then _sum, _count. */
	assert_true(strstr(text, "le=\"1.024e-06\"") < strstr(text, "le=\"0.001048576\""));
	assert_true(strstr(text, "le=\"274.877906944\"") < strstr(text, "le=\"+Inf\""));
	assert_true(strstr(text, "le=\"+Inf\"") < strstr(text, "_sum{"));
	assert_true(strstr(text, "_sum{") < strstr(text, "_count{"));
	strbuf_free(&sb);
}

static void test_prefixed_samples_match_plain_ones(void **state)
{
	struct strbuf prefix = STRBUF_INIT, suffix = STRBUF_INIT, a = STRBUF_INIT,
		      b = STRBUF_INIT, none = STRBUF_INIT, empty = STRBUF_INIT;
	struct expo_label own[] = { { "pid", "7" }, { "endpoint", "tcp://\"x\"" } };
	struct expo_label user[] = { { "cluster", "prod" } };
	struct expo_label own_and_type[] = { own[0], own[1], { "msg_type", "A\\B" } };

	(void)state;
	expo_label_prefix(&prefix, own, 2);
	expo_label_suffix(&suffix, user, 1);
	expo_sample_prefixed(&a, "m_total", strbuf_str(&prefix), NULL, NULL, strbuf_str(&suffix),
			     18446744073709551615ULL);
	expo_sample(&b, "m_total", own, 2, user, 1, 0);
	assert_string_equal(strbuf_str(&a),
			    "m_total{pid=\"7\",endpoint=\"tcp://\\\"x\\\"\",cluster=\"prod\"} "
			    "18446744073709551615\n");
	strbuf_reset(&a);
	strbuf_reset(&b);
	expo_sample_prefixed(&a, "m", strbuf_str(&prefix), "msg_type", "A\\B", strbuf_str(&suffix), 3);
	expo_sample(&b, "m", own_and_type, 3, user, 1, 3);
	assert_string_equal(strbuf_str(&a), strbuf_str(&b));
	/* No own labels: the user labels' leading comma must not follow the brace. */
	expo_label_prefix(&empty, NULL, 0);
	expo_sample_prefixed(&none, "m", strbuf_str(&empty), NULL, NULL, strbuf_str(&suffix), 1);
	assert_string_equal(strbuf_str(&none), "m{cluster=\"prod\"} 1\n");
	strbuf_free(&prefix);
	strbuf_free(&suffix);
	strbuf_free(&a);
	strbuf_free(&b);
	strbuf_free(&none);
	strbuf_free(&empty);
}

static void test_histogram_sum_in_seconds_is_exact(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	uint64_t slots[2] = { 0, 1 };

	(void)state;
	expo_histogram_log2(&sb, "h", NULL, 0, NULL, 0, slots, 2, 1, 1e9, 3145728);
	assert_string_equal(strbuf_str(&sb), "h_bucket{le=\"+Inf\"} 1\n"
					     "h_sum 0.003145728\n"
					     "h_count 1\n");
	strbuf_free(&sb);
}

static void test_histogram_first_past_end_keeps_only_inf(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	const uint64_t slots[4] = { 1, 1, 1, 1 };

	(void)state;
	expo_histogram_log2(&sb, "h", NULL, 0, NULL, 0, slots, 4, 99, 1e9, 4);
	assert_string_equal(strbuf_str(&sb), "h_bucket{le=\"+Inf\"} 4\n"
					     "h_sum 4e-09\n"
					     "h_count 4\n");
	strbuf_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_family_writes_help_then_type),
		cmocka_unit_test(test_help_escapes_backslash_and_newline_but_not_quotes),
		cmocka_unit_test(test_label_value_escapes_backslash_quote_newline),
		cmocka_unit_test(test_label_value_keeps_valid_utf8),
		cmocka_unit_test(test_label_value_replaces_invalid_utf8),
		cmocka_unit_test(test_help_replaces_invalid_utf8),
		cmocka_unit_test(test_utf8_boundary_drops_a_cut_character),
		cmocka_unit_test(test_metric_names),
		cmocka_unit_test(test_label_names),
		cmocka_unit_test(test_sample_without_labels),
		cmocka_unit_test(test_sample_joins_both_label_runs_in_order),
		cmocka_unit_test(test_value_formatting),
		cmocka_unit_test(test_histogram_small_exact),
		cmocka_unit_test(test_histogram_without_labels_has_only_le),
		cmocka_unit_test(test_histogram_log2_nanoseconds_edges),
		cmocka_unit_test(test_prefixed_samples_match_plain_ones),
		cmocka_unit_test(test_histogram_sum_in_seconds_is_exact),
		cmocka_unit_test(test_histogram_first_past_end_keeps_only_inf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
