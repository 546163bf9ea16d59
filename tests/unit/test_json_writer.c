// SPDX-License-Identifier: MIT
/* The streaming JSON writer: commas, nesting, escaping and scalars. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json_writer.h"

/* Python's json module as an independent parser, when there is one. */
static void assert_parses(const char *json)
{
	FILE *p;

	if (access("/usr/bin/python3", X_OK))
		return;
	p = popen("/usr/bin/python3 -c 'import json,sys; json.loads(sys.stdin.read())' "
		  "2>/dev/null",
		  "w");
	assert_non_null(p);
	fputs(json, p);
	if (pclose(p) != 0)
		fail_msg("not valid JSON: %s", json);
}

static void test_empty_containers(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;

	(void)state;
	json_init(&w, &sb);
	json_array_begin(&w);
	json_object_begin(&w);
	json_object_end(&w);
	json_array_begin(&w);
	json_array_end(&w);
	json_array_end(&w);
	assert_string_equal(strbuf_str(&sb), "[{},[]]");
	assert_int_equal(w.depth, 0);
	strbuf_free(&sb);
}

static void test_nested_objects_and_arrays(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;
	const char *want = "{\"id\":\"a1\",\"targets\":[{\"pid\":12,\"up\":true,\"probes\":[]},"
			   "{\"pid\":13,\"up\":false,\"probes\":[\"zmq_msg_recv\",\"zmq_msg_send\"]}],"
			   "\"maps\":{\"socks\":{\"entries\":3,\"max\":16384}},\"user\":null,"
			   "\"n\":[1,-2,3]}";

	(void)state;
	json_init(&w, &sb);
	json_object_begin(&w);
	json_kv_string(&w, "id", "a1");
	json_key(&w, "targets");
	json_array_begin(&w);
	json_object_begin(&w);
	json_kv_int(&w, "pid", 12);
	json_kv_bool(&w, "up", true);
	json_key(&w, "probes");
	json_array_begin(&w);
	json_array_end(&w);
	json_object_end(&w);
	json_object_begin(&w);
	json_kv_uint(&w, "pid", 13);
	json_kv_bool(&w, "up", false);
	json_key(&w, "probes");
	json_array_begin(&w);
	json_string(&w, "zmq_msg_recv");
	json_string(&w, "zmq_msg_send");
	json_array_end(&w);
	json_object_end(&w);
	json_array_end(&w);
	json_key(&w, "maps");
	json_object_begin(&w);
	json_key(&w, "socks");
	json_object_begin(&w);
	json_kv_uint(&w, "entries", 3);
	json_kv_uint(&w, "max", 16384);
	json_object_end(&w);
	json_object_end(&w);
	json_key(&w, "user");
	json_null(&w);
	json_key(&w, "n");
	json_array_begin(&w);
	json_int(&w, 1);
	json_int(&w, -2);
	json_uint(&w, 3);
	json_array_end(&w);
	json_object_end(&w);
	assert_string_equal(strbuf_str(&sb), want);
	assert_int_equal(w.depth, 0);
	assert_parses(strbuf_str(&sb));
	strbuf_free(&sb);
}

static void test_string_escaping(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;

	(void)state;
	json_init(&w, &sb);
	json_array_begin(&w);
	json_string(&w, "quote\" backslash\\ slash/");
	json_string(&w, "nl\n cr\r tab\t");
	json_string(&w, "\x01\x1f\x7f\b\f");
	json_string(&w, "caf\xc3\xa9 \xe2\x82\xac");
	json_string(&w, "");
	json_string(&w, NULL);
	json_array_end(&w);
	assert_string_equal(strbuf_str(&sb), "[\"quote\\\" backslash\\\\ slash/\","
					     "\"nl\\n cr\\r tab\\t\","
					     "\"\\u0001\\u001f\x7f\\u0008\\u000c\","
					     "\"caf\xc3\xa9 \xe2\x82\xac\","
					     "\"\",null]");
	assert_parses(strbuf_str(&sb));
	strbuf_free(&sb);
}

static void test_keys_are_escaped(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;

	(void)state;
	json_init(&w, &sb);
	json_object_begin(&w);
	json_kv_string(&w, "tcp://\"x\"", "v");
	json_kv_int(&w, "a\nb", 1);
	json_object_end(&w);
	assert_string_equal(strbuf_str(&sb), "{\"tcp://\\\"x\\\"\":\"v\",\"a\\nb\":1}");
	assert_parses(strbuf_str(&sb));
	strbuf_free(&sb);
}

static void test_integer_limits(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;

	(void)state;
	json_init(&w, &sb);
	json_object_begin(&w);
	json_kv_uint(&w, "umax", UINT64_MAX);
	json_kv_int(&w, "imax", INT64_MAX);
	json_kv_int(&w, "imin", INT64_MIN);
	json_kv_uint(&w, "zero", 0);
	json_object_end(&w);
	assert_string_equal(strbuf_str(&sb), "{\"umax\":18446744073709551615,"
					     "\"imax\":9223372036854775807,"
					     "\"imin\":-9223372036854775808,\"zero\":0}");
	assert_parses(strbuf_str(&sb));
	strbuf_free(&sb);
}

static void test_top_level_scalars(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;

	(void)state;
	json_init(&w, &sb);
	json_bool(&w, true);
	assert_string_equal(strbuf_str(&sb), "true");
	strbuf_reset(&sb);
	json_init(&w, &sb);
	json_null(&w);
	assert_string_equal(strbuf_str(&sb), "null");
	strbuf_free(&sb);
}

static void test_max_depth_nesting(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;
	char want[128];
	size_t n = 0;

	(void)state;
	json_init(&w, &sb);
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		json_array_begin(&w);
	json_int(&w, 1);
	json_int(&w, 2);
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		json_array_end(&w);
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		want[n++] = '[';
	memcpy(want + n, "1,2", 3);
	n += 3;
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		want[n++] = ']';
	want[n] = '\0';
	assert_string_equal(strbuf_str(&sb), want);
	assert_int_equal(w.depth, 0);
	strbuf_free(&sb);
}

static void test_too_deep_does_not_disturb_outer_levels(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;
	const int deep = JSON_MAX_DEPTH + 1;
	char want[128];
	size_t n = 0;

	(void)state;
	json_init(&w, &sb);
	json_object_begin(&w);
	json_key(&w, "deep");
	for (int i = 0; i < deep; i++)
		json_array_begin(&w);
	for (int i = 0; i < deep; i++)
		json_array_end(&w);
	json_kv_int(&w, "after", 1);
	json_kv_int(&w, "again", 2);
	json_object_end(&w);

	n += (size_t)snprintf(want + n, sizeof(want) - n, "{\"deep\":");
	for (int i = 0; i < deep; i++)
		want[n++] = '[';
	for (int i = 0; i < deep; i++)
		want[n++] = ']';
	snprintf(want + n, sizeof(want) - n, ",\"after\":1,\"again\":2}");
	assert_string_equal(strbuf_str(&sb), want);
	assert_false(w.after_key);
	assert_int_equal(w.depth, 0);
	strbuf_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_containers),
		cmocka_unit_test(test_nested_objects_and_arrays),
		cmocka_unit_test(test_string_escaping),
		cmocka_unit_test(test_keys_are_escaped),
		cmocka_unit_test(test_integer_limits),
		cmocka_unit_test(test_top_level_scalars),
		cmocka_unit_test(test_max_depth_nesting),
		cmocka_unit_test(test_too_deep_does_not_disturb_outer_levels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
