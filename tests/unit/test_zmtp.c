// SPDX-License-Identifier: MIT
/*
 * The ZMTP stream parser (include/zmtp.h): greetings, handshake commands
 * and their properties, frames of both size forms, MORE and COMMAND,
 * PING/PONG/ERROR, the type of each message's first non-empty frame, and
 * the same result however the stream is split.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zmtp.h"

struct stream {
	unsigned char buf[65536];
	size_t len;
};

static void put(struct stream *s, const void *p, size_t n)
{
	assert_true(s->len + n <= sizeof(s->buf));
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void greeting(struct stream *s, const char *mech, int major, int as_server)
{
	unsigned char g[64] = { 0xff };

	g[9] = 0x7f;
	g[10] = (unsigned char)major;
	g[11] = 1;
	memcpy(g + 12, mech, strlen(mech));
	g[32] = (unsigned char)as_server;
	put(s, g, sizeof(g));
}

static void frame(struct stream *s, const void *body, size_t n, int flags)
{
	unsigned char h[9];

	if (n > 255) {
		h[0] = (unsigned char)(flags | ZMTP_FLAG_LONG);
		for (int i = 0; i < 8; i++)
			h[1 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
		put(s, h, 9);
	} else {
		h[0] = (unsigned char)flags;
		h[1] = (unsigned char)n;
		put(s, h, 2);
	}
	put(s, body, n);
}

/* A command: name, then `extra` bytes of body. */
static void command(struct stream *s, const char *name, const void *extra, size_t n)
{
	unsigned char b[1024];
	size_t len = strlen(name);

	b[0] = (unsigned char)len;
	memcpy(b + 1, name, len);
	memcpy(b + 1 + len, extra, n);
	frame(s, b, 1 + len + n, ZMTP_FLAG_COMMAND);
}

static size_t prop(unsigned char *out, const char *name, const void *value, size_t n)
{
	size_t len = strlen(name);

	out[0] = (unsigned char)len;
	memcpy(out + 1, name, len);
	out[1 + len] = (unsigned char)(n >> 24);
	out[2 + len] = (unsigned char)(n >> 16);
	out[3 + len] = (unsigned char)(n >> 8);
	out[4 + len] = (unsigned char)n;
	memcpy(out + 5 + len, value, n);
	return 5 + len + n;
}

static void ready(struct stream *s, const char *type, const char *identity)
{
	unsigned char props[512];
	size_t n = prop(props, "X-Custom", "something long enough to be skipped", 35);

	n += prop(props + n, "socket-TYPE", type, strlen(type));
	if (identity)
		n += prop(props + n, "Identity", identity, strlen(identity));
	command(s, "READY", props, n);
}

/* msgpack {"type": name} */
static size_t tagged(unsigned char *out, const char *name)
{
	size_t n = strlen(name);

	out[0] = 0x81;
	out[1] = 0xa4;
	memcpy(out + 2, "type", 4);
	out[6] = (unsigned char)(0xa0 | n);
	memcpy(out + 7, name, n);
	return 7 + n;
}

struct seen {
	char types[16][ZS_MSG_TYPE_LEN];
	unsigned frames[16];
	size_t n;
};

static void on_message(struct zmtp_parser *p, void *arg)
{
	struct seen *s = arg;

	if (s->n < 16) {
		int len = zs_msgtype_result(&p->mt);

		snprintf(s->types[s->n], ZS_MSG_TYPE_LEN, "%s", len > 0 ? p->mt.name : "");
		s->frames[s->n] = p->msg_frames;
		s->n++;
	}
}

/* The stream every split test feeds: a DEALER talking to a ROUTER. */
static void dealer_stream(struct stream *s)
{
	static unsigned char big[20000];
	unsigned char b[64];
	size_t n;

	greeting(s, "NULL", 3, 0);
	ready(s, "DEALER", "client-7");
	frame(s, "", 0, ZMTP_FLAG_MORE);
	n = tagged(b, "LookupMsg");
	frame(s, b, n, 0);
	command(s, "PING", "\x00\x0a" "ctx", 5);
	frame(s, "", 0, ZMTP_FLAG_MORE);
	n = tagged(big, "BigMsg");
	frame(s, big, sizeof(big), ZMTP_FLAG_MORE); /* the type is in the first bytes */
	frame(s, "tail", 4, 0);
	command(s, "PONG", "ctx", 3);
	frame(s, "not msgpack", 11, 0);
	command(s, "ERROR", "\x04" "oops", 5);
	(void)n;
}

static void check_dealer(const struct zmtp_parser *p, const struct seen *seen)
{
	assert_int_not_equal(p->state, ZMTP_ST_DEAD);
	assert_int_equal(p->mechanism, ZMTP_MECH_NULL);
	assert_int_equal(p->major, 3);
	assert_int_equal(p->minor, 1);
	assert_int_equal(p->as_server, 0);
	assert_true(p->handshake_done);
	assert_string_equal(p->socket_type, "DEALER");
	assert_int_equal(p->identity_len, 8);
	assert_memory_equal(p->identity, "client-7", 8);
	assert_int_equal(p->c.frames, 6);
	assert_int_equal(p->c.msgs, 3);
	assert_int_equal(p->c.bytes, 7 + 9 + 20000 + 4 + 11);
	assert_int_equal(p->c.commands, 4);
	assert_int_equal(p->c.pings, 1);
	assert_int_equal(p->c.pongs, 1);
	assert_int_equal(p->c.errors, 1);
	assert_int_equal(seen->n, 3);
	assert_string_equal(seen->types[0], "LookupMsg");
	assert_int_equal(seen->frames[0], 2);
	assert_string_equal(seen->types[1], "BigMsg");
	assert_int_equal(seen->frames[1], 3);
	assert_string_equal(seen->types[2], "");
}

static void test_whole_stream(void **state)
{
	static struct stream s;
	struct zmtp_parser p = { 0 };
	struct seen seen = { 0 };
	__u32 ev;

	(void)state;
	s.len = 0;
	dealer_stream(&s);
	ev = zmtp_feed(&p, s.buf, s.len, on_message, &seen);
	assert_true(ev & ZMTP_EV_GREETING);
	assert_true(ev & ZMTP_EV_HANDSHAKE);
	assert_true(ev & ZMTP_EV_MESSAGE);
	assert_true(ev & ZMTP_EV_ERROR);
	check_dealer(&p, &seen);
}

/*
 * Every split into two reads, and every byte a read of its own: the same
 * parse.  After the first read the state is the one a byte at a time
 * reaches, so a message's type header taken in one step (zmtp_type_taken)
 * leaves nothing different, wherever the read ends.
 */
static void test_every_split(void **state)
{
	static struct stream s;
	struct zmtp_parser whole = { 0 }, stepped = { 0 };
	struct seen ws = { 0 }, ss = { 0 };
	size_t fed = 0;

	(void)state;
	s.len = 0;
	dealer_stream(&s);
	zmtp_feed(&whole, s.buf, s.len, on_message, &ws);
	for (size_t cut = 0; cut <= s.len; cut += cut < 400 || cut > s.len - 400 ? 1 : 997) {
		struct zmtp_parser p = { 0 };
		struct seen seen = { 0 };

		zmtp_feed(&p, s.buf, cut, on_message, &seen);
		for (; fed < cut; fed++)
			zmtp_feed(&stepped, s.buf + fed, 1, on_message, &ss);
		assert_memory_equal(&p, &stepped, sizeof(p));
		zmtp_feed(&p, s.buf + cut, s.len - cut, on_message, &seen);
		assert_memory_equal(&p, &whole, sizeof(p));
		check_dealer(&p, &seen);
	}
	{
		struct zmtp_parser p = { 0 };
		struct seen seen = { 0 };

		for (size_t i = 0; i < s.len; i++)
			zmtp_feed(&p, s.buf + i, 1, on_message, &seen);
		assert_memory_equal(&p, &whole, sizeof(p));
		check_dealer(&p, &seen);
	}
}

/* A 20 KB frame's body is passed over, not stepped through. */
static void test_big_frame_is_skipped(void **state)
{
	static struct stream s;
	struct zmtp_parser p = { 0 };
	size_t i = 0, steps = 0;

	(void)state;
	s.len = 0;
	greeting(&s, "NULL", 3, 1);
	ready(&s, "PUSH", NULL);
	{
		static unsigned char big[20000];
		size_t n = tagged(big, "BigMsg");

		(void)n;
		frame(&s, big, sizeof(big), 0);
	}
	while (i < s.len) {
		__u64 skip = zmtp_skippable(&p);

		if (skip) {
			__u64 n = skip < s.len - i ? skip : s.len - i;

			zmtp_skip(&p, n);
			i += n;
		} else {
			zmtp_byte(&p, s.buf[i++]);
		}
		steps++;
	}
	assert_int_equal(p.c.msgs, 1);
	assert_int_equal(p.c.bytes, 20000);
	assert_int_equal(p.as_server, 1);
	assert_string_equal(p.socket_type, "PUSH");
	assert_false(p.has_identity);
	/* greeting 64 + READY's interesting bytes + 9 header + ~14 for the type */
	assert_true(steps < 64 + 60 + 9 + 20);
}

static void test_greetings(void **state)
{
	static const struct {
		const char *mech;
		int major;
		unsigned char mechanism;
		unsigned char fail;
	} cases[] = {
		{ "NULL", 3, ZMTP_MECH_NULL, ZMTP_FAIL_NONE },
		{ "PLAIN", 3, ZMTP_MECH_PLAIN, ZMTP_FAIL_NONE },
		{ "CURVE", 3, ZMTP_MECH_CURVE, ZMTP_FAIL_NONE },
		{ "GSSAPI", 3, ZMTP_MECH_OTHER, ZMTP_FAIL_NONE },
		{ "NUL", 3, ZMTP_MECH_OTHER, ZMTP_FAIL_NONE },
		{ "NULLX", 3, ZMTP_MECH_OTHER, ZMTP_FAIL_NONE },
		{ "NULL", 2, ZMTP_MECH_UNKNOWN, ZMTP_FAIL_VERSION },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct stream s = { .len = 0 };
		struct zmtp_parser p = { 0 };

		greeting(&s, cases[i].mech, cases[i].major, 0);
		zmtp_feed(&p, s.buf, s.len, NULL, NULL);
		assert_int_equal(p.fail, cases[i].fail);
		if (cases[i].fail == ZMTP_FAIL_NONE) {
			assert_int_equal(p.mechanism, cases[i].mechanism);
			assert_int_equal(p.state, ZMTP_ST_FLAGS);
		} else {
			assert_int_equal(p.state, ZMTP_ST_DEAD);
		}
	}
}

/* Other protocols die at once and stay dead, whatever follows. */
static void test_not_zmtp(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
	} inputs[] = {
		{ "GET /metrics HTTP/1.1\r\n", 23 },
		{ "truth\n", 6 },
		{ "\xff\x00\x00\x00\x00\x00\x00\x00\x00\x7e", 10 }, /* 0x7e, not 0x7f */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct zmtp_parser p = { 0 };

		assert_true(zmtp_feed(&p, (const unsigned char *)inputs[i].bytes, inputs[i].len,
				      NULL, NULL) &
			    ZMTP_EV_DEAD);
		assert_int_equal(p.fail, ZMTP_FAIL_SIGNATURE);
		assert_int_equal(zmtp_feed(&p, (const unsigned char *)"\xff", 1, NULL, NULL), 0);
		assert_int_equal(p.c.frames, 0);
	}
}

static void test_reserved_flags(void **state)
{
	struct stream s = { .len = 0 };
	struct zmtp_parser p = { 0 };

	(void)state;
	greeting(&s, "NULL", 3, 0);
	frame(&s, "x", 1, 0x08);
	zmtp_feed(&p, s.buf, s.len, NULL, NULL);
	assert_int_equal(p.fail, ZMTP_FAIL_FLAGS);
	assert_int_equal(p.c.frames, 0);
}

/* CURVE: handshake commands, then boxes that are counted by frame only. */
static void test_curve(void **state)
{
	struct stream s = { .len = 0 };
	struct zmtp_parser p = { 0 };
	struct seen seen = { 0 };
	unsigned char box[100] = { 0 };

	(void)state;
	greeting(&s, "CURVE", 3, 0);
	command(&s, "HELLO", box, 80);
	command(&s, "INITIATE", box, 90); /* metadata inside a box: not read */
	memcpy(box, "\x07MESSAGE", 8);
	frame(&s, box, 60, 0);
	frame(&s, box, 70, 0);
	command(&s, "MESSAGE", box + 8, 40); /* in case a peer flags its boxes as commands */
	zmtp_feed(&p, s.buf, s.len, on_message, &seen);
	assert_int_equal(p.mechanism, ZMTP_MECH_CURVE);
	assert_true(p.handshake_done);
	assert_int_equal(p.socket_type[0], 0);
	assert_int_equal(p.c.commands, 2);
	assert_int_equal(p.c.frames, 3);
	assert_int_equal(p.c.msgs, 0);
	assert_int_equal(seen.n, 0);
}

/* Property values longer than what is kept: cut, and the stream stays framed. */
static void test_long_properties(void **state)
{
	struct stream s = { .len = 0 };
	struct zmtp_parser p = { 0 };
	unsigned char props[700], b[64];
	char id[300];
	size_t n;

	(void)state;
	memset(id, 'i', sizeof(id) - 1);
	id[sizeof(id) - 1] = 0;
	n = prop(props, "Socket-Type", "ROUTERROUTERROUTERROUTER", 24);
	n += prop(props + n, "Identity", id, strlen(id));
	greeting(&s, "PLAIN", 3, 1);
	command(&s, "WELCOME", "", 0);
	command(&s, "READY", props, n);
	frame(&s, b, tagged(b, "After"), 0);
	zmtp_feed(&p, s.buf, s.len, NULL, NULL);
	assert_true(p.handshake_done);
	assert_int_equal(strlen(p.socket_type), ZMTP_TYPE_LEN - 1);
	assert_int_equal(p.identity_len, ZMTP_IDENTITY_LEN);
	assert_int_equal(p.c.msgs, 1);
	assert_string_equal(p.mt.name, "After");
}

/* Names of earlier messages never linger in the map key of a later one. */
static void test_type_name_cleared(void **state)
{
	struct stream s = { .len = 0 };
	struct zmtp_parser p = { 0 };
	struct seen seen = { 0 };
	unsigned char b[64];

	(void)state;
	greeting(&s, "NULL", 3, 0);
	ready(&s, "PUSH", NULL);
	frame(&s, b, tagged(b, "AVeryLongTypeName"), 0);
	frame(&s, b, tagged(b, "Short"), 0);
	zmtp_feed(&p, s.buf, s.len, on_message, &seen);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.types[1], "Short");
	for (size_t i = 5; i < ZS_MSG_TYPE_LEN; i++)
		assert_int_equal(p.mt.name[i], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_stream),
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_big_frame_is_skipped),
		cmocka_unit_test(test_greetings),
		cmocka_unit_test(test_not_zmtp),
		cmocka_unit_test(test_reserved_flags),
		cmocka_unit_test(test_curve),
		cmocka_unit_test(test_long_properties),
		cmocka_unit_test(test_type_name_cleared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
