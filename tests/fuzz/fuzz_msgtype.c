// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the message-type tag parser (include/msgtype.h).
 *
 * Every input is parsed by zs_msgtype_parse() and by ref_parse() below, a
 * plain random-access reading of the same grammar written from its spec,
 * not from the state machine; they must agree on the length and the name.
 * On top of that: the length is 0..31, a found name is that many valid
 * characters and a NUL, a miss leaves "", bytes past the 64-byte window
 * change nothing, and the step function driven the way the BPF side
 * drives it (stop at the first settled step, copy the whole name array as
 * a map key) gives the same name, zero-padded.  Any violation aborts.
 *
 *   make fuzz                    # build/fuzz/fuzz_msgtype on a copy of
 *                                # tests/fuzz/corpus, FUZZ_SECONDS (60)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgtype.h"

#define WINDOW 64  /* ZS_MSGTYPE_PREFIX, restated */
#define MAX_NAME 31 /* ZS_MSG_TYPE_LEN - 1, restated */

_Static_assert(WINDOW == ZS_MSGTYPE_PREFIX, "window");
_Static_assert(MAX_NAME == ZS_MSG_TYPE_LEN - 1, "name length");

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the reference ---- */

static int ref_name_char(uint8_t c)
{
	return strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-", c) &&
	       c != '\0';
}

static int ref_json_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A name of n bytes at b[off]: all there, 1..31 of them, all valid. */
static int ref_take(const uint8_t *b, size_t len, size_t off, size_t n, char *out)
{
	if (n < 1 || n > MAX_NAME || off + n > len)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!ref_name_char(b[off + i]))
			return 0;
	memcpy(out, b + off, n);
	out[n] = '\0';
	return (int)n;
}

static int ref_msgpack(const uint8_t *b, size_t len, char *out)
{
	size_t p;
	size_t n;

	/* the map, not empty */
	if (len >= 1 && b[0] >= 0x81 && b[0] <= 0x8f)
		p = 1;
	else if (len >= 3 && b[0] == 0xde && (b[1] | b[2]))
		p = 3;
	else if (len >= 5 && b[0] == 0xdf && (b[1] | b[2] | b[3] | b[4]))
		p = 5;
	else
		return 0;

	/* the first key: "type" as fixstr, str8 or str16 */
	if (p + 1 <= len && b[p] == 0xa4)
		p += 1;
	else if (p + 2 <= len && b[p] == 0xd9 && b[p + 1] == 4)
		p += 2;
	else if (p + 3 <= len && b[p] == 0xda && b[p + 1] == 0 && b[p + 2] == 4)
		p += 3;
	else
		return 0;
	if (p + 4 > len || memcmp(b + p, "type", 4) != 0)
		return 0;
	p += 4;

	/* its value: a string as fixstr, str8 or str16 under 256 */
	if (p + 1 > len)
		return 0;
	if (b[p] >= 0xa0 && b[p] <= 0xbf) {
		n = b[p] - 0xa0u;
		p += 1;
	} else if (b[p] == 0xd9 && p + 2 <= len) {
		n = b[p + 1];
		p += 2;
	} else if (b[p] == 0xda && p + 3 <= len && b[p + 1] == 0) {
		n = b[p + 2];
		p += 3;
	} else {
		return 0;
	}
	return ref_take(b, len, p, n, out);
}

static int ref_json(const uint8_t *b, size_t len, char *out)
{
	size_t p = 0, start;

	while (p < len && ref_json_space(b[p]))
		p++;
	if (p >= len || b[p] != '{')
		return 0;
	p++;
	while (p < len && ref_json_space(b[p]))
		p++;
	if (p + 6 > len || memcmp(b + p, "\"type\"", 6) != 0)
		return 0;
	p += 6;
	while (p < len && ref_json_space(b[p]))
		p++;
	if (p >= len || b[p] != ':')
		return 0;
	p++;
	while (p < len && ref_json_space(b[p]))
		p++;
	if (p >= len || b[p] != '"')
		return 0;
	start = ++p;
	while (p < len && b[p] != '"')
		p++;
	if (p >= len) /* no closing quote in the window */
		return 0;
	return ref_take(b, len, start, p - start, out);
}

static int ref_parse(const uint8_t *b, size_t len, char *out)
{
	int n;

	out[0] = '\0';
	if (len > WINDOW)
		len = WINDOW;
	n = ref_msgpack(b, len, out);
	if (!n)
		n = ref_json(b, len, out);
	if (!n)
		out[0] = '\0';
	return n;
}

/* ---- the checks ---- */

static void fail(const char *what, const uint8_t *data, size_t size)
{
	fprintf(stderr, "fuzz_msgtype: %s on %zu bytes:", what, size);
	for (size_t i = 0; i < size && i < 80; i++)
		fprintf(stderr, " %02x", data[i]);
	fputc('\n', stderr);
	abort();
}

/* Parses into a buffer of exactly ZS_MSG_TYPE_LEN bytes, so ASan sees any overrun. */
static int parse_heap(const uint8_t *data, size_t size, char *copy_out)
{
	char *name = malloc(ZS_MSG_TYPE_LEN);
	int n;

	if (!name)
		abort();
	memset(name, 0xa5, ZS_MSG_TYPE_LEN);
	n = zs_msgtype_parse(data, (unsigned)size, name);
	memcpy(copy_out, name, ZS_MSG_TYPE_LEN);
	free(name);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[ZS_MSG_TYPE_LEN], ref[ZS_MSG_TYPE_LEN], other[ZS_MSG_TYPE_LEN];
	size_t window = size < WINDOW ? size : WINDOW;
	int n, r, m;

	if (size > 0xffffffffu)
		return 0;
	n = parse_heap(data, size, name);

	/* the length and the name's shape */
	if (n < 0 || n > MAX_NAME)
		fail("length out of range", data, size);
	if (name[n] != '\0')
		fail("name not NUL-terminated", data, size);
	for (int i = 0; i < n; i++)
		if (!ref_name_char((uint8_t)name[i]))
			fail("invalid character in name", data, size);

	/* the reference */
	r = ref_parse(data, size, ref);
	if (r != n)
		fail(r > n ? "missed a tag the reference finds" : "found a tag the reference does not",
		     data, size);
	if (memcmp(name, ref, (size_t)n + 1) != 0)
		fail("name differs from the reference", data, size);

	/* only the window matters: the window alone, and the window with another tail */
	m = parse_heap(data, window, other);
	if (m != n || memcmp(other, name, (size_t)n + 1) != 0)
		fail("bytes past the window changed the result", data, size);
	if (size > WINDOW) {
		uint8_t *alt = malloc(size + 1);

		if (!alt)
			abort();
		memcpy(alt, data, WINDOW);
		for (size_t i = WINDOW; i <= size; i++)
			alt[i] = (uint8_t)~data[i < size ? i : size - 1];
		m = parse_heap(alt, size + 1, other);
		free(alt);
		if (m != n || memcmp(other, name, (size_t)n + 1) != 0)
			fail("a different tail changed the result", data, size);
	}

	/* the step function as bpf_loop drives it */
	{
		struct zs_msgtype_state st;

		memset(&st, 0, sizeof(st));
		for (size_t i = 0; i < window; i++)
			if (zs_msgtype_step(&st, data[i]))
				break;
		m = zs_msgtype_result(&st);
		if (m != n)
			fail("step loop disagrees with zs_msgtype_parse", data, size);
		if (m > 0) {
			if (memcmp(st.name, name, (size_t)m + 1) != 0)
				fail("step loop name differs", data, size);
			for (int i = m; i < ZS_MSG_TYPE_LEN; i++)
				if (st.name[i])
					fail("name array not zero-padded (BPF map key)", data, size);
		}
		/* a settled machine stays settled */
		if (st.state == ZS_MT_DONE || st.state == ZS_MT_FAIL) {
			struct zs_msgtype_state before = st;

			if (zs_msgtype_step(&st, size ? data[0] : 0) != 1 ||
			    memcmp(&st, &before, sizeof(st)) != 0)
				fail("settled machine moved", data, size);
		}
	}
	return 0;
}
