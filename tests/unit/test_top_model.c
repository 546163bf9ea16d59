// SPDX-License-Identifier: MIT
/* zmqscope top's model: parsing an exposition, rates, quantiles, sorting, formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "top_model.h"

/* The shape of a real /metrics (trimmed), with a --label and an escaped endpoint. */
static const char *const EXPO =
	"# HELP zmqscope_messages_received_total Complete (multipart) messages.\n"
	"# TYPE zmqscope_messages_received_total counter\n"
	"zmqscope_messages_received_total{pid=\"42\",socket=\"0x10\",type=\"PULL\",role=\"pull\","
	"endpoint=\"tcp://127.0.0.1:9001\",msg_type=\"RegisterMsg\",cluster=\"prod\"} 40\n"
	"zmqscope_messages_received_total{pid=\"42\",socket=\"0x10\",type=\"PULL\",role=\"pull\","
	"endpoint=\"tcp://127.0.0.1:9001\",msg_type=\"KVAdmitMsg\",cluster=\"prod\"} 60\n"
	"zmqscope_messages_received_total{pid=\"42\",socket=\"0x20\",type=\"ROUTER\",role=\"reply\","
	"endpoint=\"ipc:///tmp/a\\\"b\",msg_type=\"LookupMsg\",cluster=\"prod\"} 7\n"
	"zmqscope_messages_sent_total{pid=\"42\",socket=\"0x10\",type=\"PULL\",role=\"pull\","
	"endpoint=\"tcp://127.0.0.1:9001\",cluster=\"prod\"} 0\n"
	"zmqscope_messages_sent_total{pid=\"42\",socket=\"0x20\",type=\"ROUTER\",role=\"reply\","
	"endpoint=\"ipc:///tmp/a\\\"b\",cluster=\"prod\"} 7\n"
	"zmqscope_bytes_received_total{pid=\"42\",socket=\"0x10\",type=\"PULL\",role=\"pull\","
	"endpoint=\"tcp://127.0.0.1:9001\",cluster=\"prod\"} 12345\n"
	"zmqscope_socket_pending{pid=\"42\",socket=\"0x20\",type=\"ROUTER\",role=\"reply\","
	"endpoint=\"ipc:///tmp/a\\\"b\",cluster=\"prod\"} 1\n"
	"zmqscope_socket_active_handlers{pid=\"42\",socket=\"0x10\",type=\"PULL\",role=\"pull\","
	"endpoint=\"tcp://127.0.0.1:9001\",cluster=\"prod\"} 1\n"
	"# TYPE zmqscope_handler_duration_seconds histogram\n"
	"zmqscope_handler_duration_seconds_bucket{pid=\"42\",role=\"pull\",msg_type=\"RegisterMsg\",le=\"0.001\"} 0\n"
	"zmqscope_handler_duration_seconds_bucket{pid=\"42\",role=\"pull\",msg_type=\"RegisterMsg\",le=\"0.002\"} 10\n"
	"zmqscope_handler_duration_seconds_bucket{pid=\"42\",role=\"pull\",msg_type=\"RegisterMsg\",le=\"0.004\"} 40\n"
	"zmqscope_handler_duration_seconds_bucket{pid=\"42\",role=\"pull\",msg_type=\"RegisterMsg\",le=\"+Inf\"} 40\n"
	"zmqscope_handler_duration_seconds_sum{pid=\"42\",role=\"pull\",msg_type=\"RegisterMsg\"} 0.1\n"
	"zmqscope_handler_duration_seconds_count{pid=\"42\",role=\"pull\",msg_type=\"RegisterMsg\"} 40\n"
	"zmqscope_request_duration_seconds_bucket{pid=\"42\",role=\"reply\",msg_type=\"LookupMsg\",le=\"0.001\"} 7\n"
	"zmqscope_request_duration_seconds_bucket{pid=\"42\",role=\"reply\",msg_type=\"LookupMsg\",le=\"+Inf\"} 7\n"
	"zmqscope_request_duration_seconds_count{pid=\"42\",role=\"reply\",msg_type=\"LookupMsg\"} 7\n"
	"zmqscope_target_up{pid=\"42\",cluster=\"prod\"} 1\n"
	"zmqscope_target_up{pid=\"43\",cluster=\"prod\"} 0\n"
	"zmqscope_scrape_duration_seconds 0.0021\n";

static const struct top_socket *sock(const struct top_sample *s, const char *handle)
{
	for (size_t i = 0; i < s->nsockets; i++)
		if (!strcmp(s->sockets[i].socket, handle))
			return &s->sockets[i];
	return NULL;
}

static void test_parse_sockets_hists_targets(void **state)
{
	struct top_sample s = { 0 };
	const struct top_socket *pull, *router;

	(void)state;
	assert_int_equal(top_parse(EXPO, &s, NULL), 0);
	assert_int_equal(s.nsockets, 2);
	pull = sock(&s, "0x10");
	router = sock(&s, "0x20");
	assert_non_null(pull);
	assert_non_null(router);
	assert_int_equal(pull->pid, 42);
	assert_string_equal(pull->type, "PULL");
	assert_string_equal(pull->role, "pull");
	assert_string_equal(pull->endpoint, "tcp://127.0.0.1:9001");
	/* the msg_type split summed back into the socket */
	assert_true(pull->msgs_rx == 100);
	assert_true(pull->bytes_rx == 12345);
	assert_true(pull->active == 1 && pull->pending == 0);
	assert_string_equal(router->endpoint, "ipc:///tmp/a\"b");
	assert_true(router->msgs_rx == 7 && router->msgs_tx == 7 && router->pending == 1);

	assert_int_equal(s.nhists, 2);
	assert_int_equal(s.hists[0].kind, TOP_HANDLER);
	assert_string_equal(s.hists[0].msg_type, "RegisterMsg");
	assert_int_equal(s.hists[0].nbuckets, 4);
	assert_true(isinf(s.hists[0].le[3]));
	assert_true(s.hists[0].cum[2] == 40 && s.hists[0].count == 40 && s.hists[0].sum == 0.1);
	assert_int_equal(s.hists[1].kind, TOP_REQUEST);
	assert_true(s.hists[1].count == 7);

	assert_int_equal(s.ntargets, 2);
	assert_true(s.targets[0].pid == 42 && s.targets[0].up);
	assert_true(s.targets[1].pid == 43 && !s.targets[1].up);
	top_sample_free(&s);
}

static void test_parse_rejects_broken_lines(void **state)
{
	struct top_sample s = { 0 };
	int line = 0;

	(void)state;
	assert_int_equal(top_parse("a 1\nzmqscope_target_up{pid=\"1} 1\n", &s, &line), -EINVAL);
	assert_int_equal(line, 2);
	assert_int_equal(top_parse("zmqscope_target_up{pid=\"1\"} one\n", &s, &line), -EINVAL);
	assert_int_equal(line, 1);
	assert_int_equal(top_parse("zmqscope_handler_duration_seconds_bucket{le=\"x\"} 1\n", &s,
				   &line),
			 -EINVAL);
	assert_null(s.sockets);
	assert_int_equal(top_parse("", &s, &line), 0);
	assert_int_equal(s.nsockets, 0);
}

static void test_quantile_follows_histogram_quantile(void **state)
{
	const double le[] = { 1, 2, 4, INFINITY };
	const double cum[] = { 0, 10, 10, 10 };
	const double first[] = { 8, 8, 8, 8 };
	const double tail[] = { 0, 0, 5, 10 };
	const double empty[] = { 0, 0, 0, 0 };

	(void)state;
	/* rank 5 of 10 inside (1, 2]: 1 + 1 * 5/10 */
	assert_float_equal(top_quantile(0.5, le, cum, 4), 1.5, 1e-12);
	assert_float_equal(top_quantile(0.99, le, cum, 4), 1.99, 1e-12);
	/* the first bucket starts at 0 */
	assert_float_equal(top_quantile(0.5, le, first, 4), 0.5, 1e-12);
	/* a rank in +Inf gives the highest finite bound */
	assert_float_equal(top_quantile(0.99, le, tail, 4), 4, 1e-12);
	assert_float_equal(top_quantile(0.5, le, tail, 4), 4, 1e-12);
	assert_true(isnan(top_quantile(0.5, le, empty, 4)));
	assert_true(isnan(top_quantile(0.5, le, cum, 0)));
}

static void test_rates_between_samples(void **state)
{
	struct top_sample a = { .time = 10 }, b = { .time = 12 };
	struct top_socket_row *rows;
	struct top_latency_row *lat;
	const char *later =
		"zmqscope_messages_received_total{pid=\"42\",socket=\"0x10\",msg_type=\"A\"} 120\n"
		"zmqscope_messages_received_total{pid=\"42\",socket=\"0x10\",msg_type=\"B\"} 80\n"
		"zmqscope_bytes_received_total{pid=\"42\",socket=\"0x10\"} 22345\n"
		"zmqscope_messages_received_total{pid=\"42\",socket=\"0x20\",msg_type=\"L\"} 3\n"
		"zmqscope_messages_received_total{pid=\"42\",socket=\"0x30\",msg_type=\"L\"} 3\n"
		"zmqscope_handler_duration_seconds_bucket{pid=\"42\",role=\"pull\",msg_type=\"RegisterMsg\",le=\"+Inf\"} 50\n"
		"zmqscope_handler_duration_seconds_count{pid=\"42\",role=\"pull\",msg_type=\"RegisterMsg\"} 50\n";
	int n;

	(void)state;
	assert_int_equal(top_parse(EXPO, &a, NULL), 0);
	assert_int_equal(top_parse(later, &b, NULL), 0);
	assert_true(b.time == 12);
	n = top_socket_rows(&a, &b, TOP_SORT_MSGS, false, &rows);
	assert_int_equal(n, 3);
	/* 0x10: 100 -> 200 messages and 12345 -> 22345 bytes in 2 s */
	assert_string_equal(rows[0].s->socket, "0x10");
	assert_float_equal(rows[0].rx_rate, 50, 1e-9);
	assert_float_equal(rows[0].rxb_rate, 5000, 1e-9);
	assert_float_equal(rows[0].tx_rate, 0, 1e-9);
	/* 0x20 went from 7 to 3: reset, no rate; 0x30 is new: no rate.  Both sort last. */
	assert_true(isnan(rows[1].rx_rate) && isnan(rows[2].rx_rate));
	free(rows);

	n = top_latency_rows(&a, &b, TOP_SORT_MSGS, false, &lat);
	assert_int_equal(n, 1);
	assert_float_equal(lat[0].rate, 5, 1e-9);
	free(lat);
	/* Without a previous sample there are no rates, but quantiles. */
	n = top_latency_rows(NULL, &a, TOP_SORT_MSGS, false, &lat);
	assert_int_equal(n, 2);
	assert_true(isnan(lat[0].rate));
	free(lat);
	top_sample_free(&a);
	top_sample_free(&b);
}

static void test_latency_quantiles_and_sorting(void **state)
{
	struct top_sample s = { 0 };
	struct top_latency_row *lat;
	struct top_socket_row *rows;

	(void)state;
	assert_int_equal(top_parse(EXPO, &s, NULL), 0);
	assert_int_equal(top_latency_rows(NULL, &s, TOP_SORT_P99, false, &lat), 2);
	/* RegisterMsg: 10 in (1ms,2ms], 30 in (2ms,4ms]; rank 20 -> 2 + 2 * 10/30 ms */
	assert_string_equal(lat[0].h->msg_type, "RegisterMsg");
	assert_float_equal(lat[0].p50, 0.002 + 0.002 * 10.0 / 30.0, 1e-12);
	assert_float_equal(lat[0].p99, 0.002 + 0.002 * (39.6 - 10) / 30.0, 1e-12);
	assert_string_equal(lat[1].h->msg_type, "LookupMsg");
	assert_float_equal(lat[1].p99, 0.00099, 1e-12);
	free(lat);
	assert_int_equal(top_latency_rows(NULL, &s, TOP_SORT_P99, true, &lat), 2);
	assert_string_equal(lat[0].h->msg_type, "LookupMsg");
	free(lat);

	assert_int_equal(top_socket_rows(NULL, &s, TOP_SORT_ENDPOINT, false, &rows), 2);
	assert_string_equal(rows[0].s->socket, "0x20"); /* "ipc:" < "tcp:" */
	free(rows);
	assert_int_equal(top_socket_rows(NULL, &s, TOP_SORT_ENDPOINT, true, &rows), 2);
	assert_string_equal(rows[0].s->socket, "0x10");
	free(rows);
	top_sample_free(&s);
}

static void test_formats(void **state)
{
	char b[16];

	(void)state;
	top_fmt_rate(NAN, b, sizeof(b));
	assert_string_equal(b, "-");
	top_fmt_rate(0, b, sizeof(b));
	assert_string_equal(b, "0");
	top_fmt_rate(12.34, b, sizeof(b));
	assert_string_equal(b, "12.3");
	top_fmt_rate(1234.5, b, sizeof(b));
	assert_string_equal(b, "1234");
	top_fmt_rate(123456, b, sizeof(b));
	assert_string_equal(b, "123.5K");
	top_fmt_bytes(5e9, b, sizeof(b));
	assert_string_equal(b, "5.0G");
	top_fmt_seconds(0.000812, b, sizeof(b));
	assert_string_equal(b, "812us");
	top_fmt_seconds(0.0015, b, sizeof(b));
	assert_string_equal(b, "1.50ms");
	top_fmt_seconds(2.5, b, sizeof(b));
	assert_string_equal(b, "2.50s");
	top_fmt_seconds(NAN, b, sizeof(b));
	assert_string_equal(b, "-");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_sockets_hists_targets),
		cmocka_unit_test(test_parse_rejects_broken_lines),
		cmocka_unit_test(test_quantile_follows_histogram_quantile),
		cmocka_unit_test(test_rates_between_samples),
		cmocka_unit_test(test_latency_quantiles_and_sorting),
		cmocka_unit_test(test_formats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
