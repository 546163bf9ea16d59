// SPDX-License-Identifier: MIT
/*
 * The message-type tag parser (include/msgtype.h): msgspec tagged unions
 * in msgpack and JSON, every accepted encoding, truncation at every
 * offset, the 64-byte window, and inputs that must not be taken for a tag.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgtype.h"

#define NAME_POISON 0x5a

static int valid_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == ':' || c == '-';
}

/*
 * One parse, with the checks every call gets: a fresh poisoned name buffer,
 * NUL termination, only valid characters, "" on failure, and the same
 * answer on a second call with a differently poisoned buffer.
 */
static int parse(const unsigned char *buf, unsigned len, char out[ZS_MSG_TYPE_LEN])
{
	char again[ZS_MSG_TYPE_LEN];
	int n, m;

	memset(out, NAME_POISON, ZS_MSG_TYPE_LEN);
	n = zs_msgtype_parse(buf, len, out);
	assert_in_range(n, 0, ZS_MSG_TYPE_LEN - 1);
	assert_int_equal(out[n], '\0');
	assert_int_equal(strlen(out), (size_t)n);
	for (int i = 0; i < n; i++)
		assert_true(valid_char((unsigned char)out[i]));

	memset(again, ~NAME_POISON, sizeof(again));
	m = zs_msgtype_parse(buf, len, again);
	assert_int_equal(m, n);
	assert_memory_equal(again, out, (size_t)n + 1);
	return n;
}

/* buf[0..len) holds no tag. */
static void expect_none(const void *buf, size_t len)
{
	char name[ZS_MSG_TYPE_LEN];

	assert_int_equal(parse(buf, (unsigned)len, name), 0);
	assert_string_equal(name, "");
}

#define EXPECT_NONE_LIT(s) expect_none((s), sizeof(s) - 1)

/*
 * buf[0..len) carries the tag `want`, whose last byte is buf[end - 1]:
 * every shorter prefix is no tag, every longer one the same tag.
 */
static void expect_tag(const void *buf, size_t len, const char *want, size_t end)
{
	char name[ZS_MSG_TYPE_LEN];

	assert_true(end <= len);
	for (size_t k = 0; k <= len; k++) {
		int n = parse(buf, (unsigned)k, name);

		if (k < end) {
			if (n != 0)
				fail_msg("prefix of %zu bytes (tag ends at %zu) gave \"%s\"", k, end,
					 name);
			assert_string_equal(name, "");
		} else {
			assert_int_equal(n, (int)strlen(want));
			assert_string_equal(name, want);
		}
	}
}

/* The tag is the whole of a NUL-terminated literal. */
#define EXPECT_TAG_LIT(s, want) expect_tag((s), sizeof(s) - 1, (want), sizeof(s) - 1)

/* ---- msgpack ---- */

enum { MAP_FIX, MAP_16, MAP_32 };
enum { STR_FIX, STR_8, STR_16 };

static size_t put_map(unsigned char *p, int kind)
{
	static const unsigned char fix[] = { 0x81 };
	static const unsigned char m16[] = { 0xde, 0x00, 0x01 };
	static const unsigned char m32[] = { 0xdf, 0x00, 0x00, 0x00, 0x01 };

	switch (kind) {
	case MAP_FIX:
		memcpy(p, fix, sizeof(fix));
		return sizeof(fix);
	case MAP_16:
		memcpy(p, m16, sizeof(m16));
		return sizeof(m16);
	default:
		memcpy(p, m32, sizeof(m32));
		return sizeof(m32);
	}
}

static size_t put_str(unsigned char *p, int kind, const char *s)
{
	size_t n = strlen(s), h;

	switch (kind) {
	case STR_FIX:
		assert_true(n < 32);
		p[0] = (unsigned char)(0xa0 | n);
		h = 1;
		break;
	case STR_8:
		assert_true(n < 256);
		p[0] = 0xd9;
		p[1] = (unsigned char)n;
		h = 2;
		break;
	default:
		assert_true(n < 65536);
		p[0] = 0xda;
		p[1] = (unsigned char)(n >> 8);
		p[2] = (unsigned char)n;
		h = 3;
		break;
	}
	memcpy(p + h, s, n);
	return h + n;
}

static void test_msgpack_all_encodings(void **state)
{
	static const size_t map_len[] = { 1, 3, 5 }, str_hdr[] = { 1, 2, 3 };
	unsigned char buf[128];

	(void)state;
	for (int m = MAP_FIX; m <= MAP_32; m++)
		for (int k = STR_FIX; k <= STR_16; k++)
			for (int v = STR_FIX; v <= STR_16; v++) {
				size_t n = 0, end;

				n += put_map(buf + n, m);
				n += put_str(buf + n, k, "type");
				n += put_str(buf + n, v, "RegisterMsg");
				end = n;
				assert_int_equal(end, map_len[m] + str_hdr[k] + 4 + str_hdr[v] + 11);
				/* the rest of the map: "worker_id": 3 */
				n += put_str(buf + n, STR_FIX, "worker_id");
				buf[n++] = 0x03;
				expect_tag(buf, n, "RegisterMsg", end);
			}
}

static void test_msgpack_literal_encodings(void **state)
{
	/* Written out by hand, independently of put_map/put_str. */
	static const unsigned char fix_fix_fix[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xa1, 'A' };
	static const unsigned char m16_s8_s8[] = { 0xde, 0x00, 0x02, 0xd9, 0x04, 't', 'y',
						   'p',	 'e',  0xd9, 0x02, 'O',	 'k' };
	static const unsigned char m32_s16_s16[] = { 0xdf, 0x00, 0x00, 0x00, 0x07, 0xda,
						     0x00, 0x04, 't',  'y',  'p',  'e',
						     0xda, 0x00, 0x03, 'a',  '.',  'b' };
	/* map16/map32 counts with only a high byte set are still non-zero */
	static const unsigned char m16_high[] = { 0xde, 0x01, 0x00, 0xa4, 't', 'y', 'p', 'e', 0xa1, 'Z' };
	static const unsigned char m32_high[] = { 0xdf, 0x80, 0x00, 0x00, 0x00, 0xa4, 't',
						  'y',	'p',  'e',  0xa2, 'Z',	'z' };
	static const unsigned char fixmap_15[] = { 0x8f, 0xa4, 't', 'y', 'p', 'e', 0xa3, 'x', '-', 'y' };

	(void)state;
	expect_tag(fix_fix_fix, sizeof(fix_fix_fix), "A", sizeof(fix_fix_fix));
	expect_tag(m16_s8_s8, sizeof(m16_s8_s8), "Ok", sizeof(m16_s8_s8));
	expect_tag(m32_s16_s16, sizeof(m32_s16_s16), "a.b", sizeof(m32_s16_s16));
	expect_tag(m16_high, sizeof(m16_high), "Z", sizeof(m16_high));
	expect_tag(m32_high, sizeof(m32_high), "Zz", sizeof(m32_high));
	expect_tag(fixmap_15, sizeof(fixmap_15), "x-y", sizeof(fixmap_15));
}

/* msgpack.packb({"type": "RegisterMsg", "instance_id": "i", "worker_id": 3}) */
static const unsigned char register_msg[] = {
	0x83, 0xa4, 't', 'y', 'p', 'e', 0xab, 'R', 'e', 'g', 'i', 's', 't', 'e',
	'r',  'M',  's', 'g', 0xab, 'i', 'n', 's', 't', 'a', 'n', 'c', 'e', '_',
	'i',  'd',  0xa1, 'i', 0xa9, 'w', 'o', 'r', 'k', 'e', 'r', '_', 'i', 'd',
	0x03,
};

static void test_msgpack_real_payloads(void **state)
{
	/*
	 * msgspec.msgpack.encode of a tag_field="type" struct with a bytes
	 * field, a float and a list: {"type": "KVEvictMsg", "key": b"\x01\x02",
	 * "ts": 1.5, "ids": [1, 2]}
	 */
	static const unsigned char evict[] = {
		0x84, 0xa4, 't',  'y',	'p',  'e',  0xaa, 'K',	'V',  'E',  'v',  'i',
		'c',  't',  'M',  's',	'g',  0xa3, 'k',  'e',	'y',  0xc4, 0x02, 0x01,
		0x02, 0xa2, 't',  's',	0xcb, 0x3f, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0xa3, 'i',  'd',	's',  0x92, 0x01, 0x02,
	};
	/* A tag with the characters msgspec users put in them. */
	static const unsigned char dotted[] = {
		0x82, 0xa4, 't', 'y', 'p', 'e', 0xb1, 'l', 'm', 'c', 'a', 'c', 'h', 'e', ':', 'L',
		'o',  'o',  'k', 'u', 'p', '.', 'v', '2', 0xa1, 'x', 0xc0,
	};
	/* A 16-field struct: msgspec switches to map16. */
	unsigned char big[256];
	size_t n = 0, end;

	(void)state;
	assert_int_equal(sizeof(register_msg), 43);
	expect_tag(register_msg, sizeof(register_msg), "RegisterMsg", 18);
	expect_tag(evict, sizeof(evict), "KVEvictMsg", 17);
	expect_tag(dotted, sizeof(dotted), "lmcache:Lookup.v2", 24);

	big[n++] = 0xde;
	big[n++] = 0x00;
	big[n++] = 0x10;
	n += put_str(big + n, STR_FIX, "type");
	n += put_str(big + n, STR_FIX, "BatchedLookupAndPinMsg");
	end = n;
	for (int i = 0; i < 15; i++) {
		char key[24]; /* room for any int: -O1 with sanitizers checks it */

		snprintf(key, sizeof(key), "field_%02d", i);
		n += put_str(big + n, STR_FIX, key);
		big[n++] = (unsigned char)i;
	}
	assert_true(n > 2 * ZS_MSGTYPE_PREFIX);
	expect_tag(big, n, "BatchedLookupAndPinMsg", end);
}

/* ---- JSON ---- */

static void test_json_variants(void **state)
{
	(void)state;
	EXPECT_TAG_LIT("{\"type\":\"LookupMsg\"", "LookupMsg");
	expect_tag("{\"type\":\"LookupMsg\",\"x\":1}", 26, "LookupMsg", 19);
	/* json.dumps' separators */
	expect_tag("{\"type\": \"LookupMsg\", \"x\": 1}", 29, "LookupMsg", 20);
	/* whitespace everywhere it is allowed */
	EXPECT_TAG_LIT(" \t\r\n{ \t\r\n\"type\" \t\r\n: \t\r\n\"LookupMsg\"", "LookupMsg");
	EXPECT_TAG_LIT("\n{\n  \"type\": \"LookupMsg\"", "LookupMsg");
	EXPECT_TAG_LIT("{\"type\"   :   \"a_b.c:d-9\"", "a_b.c:d-9");
	EXPECT_TAG_LIT("{\"type\":\"X\"", "X");
	expect_tag("{\"type\":\"X\"}\n", 13, "X", 11);
}

static void test_json_hostile(void **state)
{
	(void)state;
	EXPECT_NONE_LIT("{\"type\":\"a b\"}");
	EXPECT_NONE_LIT("{\"type\":\"a\\\"b\"}");	  /* escaped quote */
	EXPECT_NONE_LIT("{\"type\":\"a\\\\b\"}");	  /* escaped backslash */
	EXPECT_NONE_LIT("{\"type\":\"Lookup\\u004dsg\"}"); /* \u escape */
	EXPECT_NONE_LIT("{\"type\":\"A\\nB\"}");
	EXPECT_NONE_LIT("{\"type\":\"caf\xc3\xa9\"}"); /* non-ASCII */
	expect_none("{\"type\":\"a\0b\"}", 14);	   /* NUL in the name */
	EXPECT_NONE_LIT("{\"type\":\"\"}");	   /* empty */
	EXPECT_NONE_LIT("{'type':'X'}");	   /* single quotes */
	EXPECT_NONE_LIT("{\"type\":'X'}");
	EXPECT_NONE_LIT("{type:\"X\"}");	   /* bare key */
	EXPECT_NONE_LIT("{\"meta\":{\"type\":\"X\"},\"type\":\"Y\"}"); /* nested first */
	EXPECT_NONE_LIT("{{\"type\":\"X\"}}");
	EXPECT_NONE_LIT("[{\"type\":\"X\"}]");
	EXPECT_NONE_LIT("{\"x\":1,\"type\":\"X\"}"); /* not the first key */
	EXPECT_NONE_LIT("{\"type\" \"X\"}");	     /* missing colon */
	EXPECT_NONE_LIT("{\"type\"=\"X\"}");
	EXPECT_NONE_LIT("{\"type\"::\"X\"}");
	EXPECT_NONE_LIT("{\"type\":\"X");	     /* missing closing quote */
	EXPECT_NONE_LIT("{\"type\":\"X}");
	EXPECT_NONE_LIT("{\"type\":\"X,\"y\":1}");
	EXPECT_NONE_LIT("{\"typo\":\"X\"}"); /* a different first key */
	EXPECT_NONE_LIT("{\"Type\":\"X\"}");
	EXPECT_NONE_LIT("{\"TYPE\":\"X\"}");
	EXPECT_NONE_LIT("{\"types\":\"X\"}");
	EXPECT_NONE_LIT("{\"typ\":\"X\"}");
	EXPECT_NONE_LIT("{\" type\":\"X\"}");
	EXPECT_NONE_LIT("{\"type \":\"X\"}");
	EXPECT_NONE_LIT("{\"type\":1}"); /* not a string */
	EXPECT_NONE_LIT("{\"type\":null}");
	EXPECT_NONE_LIT("{\"type\":[\"X\"]}");
	EXPECT_NONE_LIT("{\"type\":{\"X\":1}}");
	EXPECT_NONE_LIT("\v{\"type\":\"X\"}"); /* not JSON whitespace here */
	EXPECT_NONE_LIT("\f{\"type\":\"X\"}");
	EXPECT_NONE_LIT("{\"type\":\v\"X\"}");
	EXPECT_NONE_LIT("\xef\xbb\xbf{\"type\":\"X\"}"); /* BOM */
	EXPECT_NONE_LIT("\"type\":\"X\"");		  /* no object */
	EXPECT_NONE_LIT("x{\"type\":\"X\"}");
	EXPECT_NONE_LIT("{}");
	EXPECT_NONE_LIT("{ }");
	EXPECT_NONE_LIT("   ");
}

/* ---- the name's length ---- */

static void name_of_len(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		s[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-"[i % 66];
	s[n] = '\0';
}

static void test_name_lengths(void **state)
{
	unsigned char buf[128];
	char s[64];

	(void)state;
	for (size_t len = 1; len <= 40; len++) {
		int ok = len <= ZS_MSG_TYPE_LEN - 1;
		int json_n;

		name_of_len(s, len);
		for (int k = STR_FIX; k <= STR_16; k++) {
			size_t n = 0;

			if (k == STR_FIX && len >= 32)
				continue; /* fixstr cannot say it */
			n += put_map(buf + n, MAP_FIX);
			n += put_str(buf + n, STR_FIX, "type");
			n += put_str(buf + n, k, s);
			if (ok)
				expect_tag(buf, n, s, n);
			else
				expect_none(buf, n);
		}
		json_n = snprintf((char *)buf, sizeof(buf), "{\"type\":\"%s\"}", s);
		if (ok)
			expect_tag(buf, (size_t)json_n, s, (size_t)json_n - 1);
		else
			expect_none(buf, (size_t)json_n);
	}
}

static void test_name_length_limits(void **state)
{
	/* exactly 1, 31 and 32 bytes, written out */
	static const char n31[] = "abcdefghijklmnopqrstuvwxyz01234";
	static const char n32[] = "abcdefghijklmnopqrstuvwxyz012345";
	unsigned char buf[80];
	size_t n;

	(void)state;
	assert_int_equal(strlen(n31), 31);
	assert_int_equal(strlen(n32), 32);

	EXPECT_TAG_LIT("{\"type\":\"q\"", "q");
	EXPECT_TAG_LIT("{\"type\":\"abcdefghijklmnopqrstuvwxyz01234\"", n31);
	EXPECT_NONE_LIT("{\"type\":\"abcdefghijklmnopqrstuvwxyz012345\"");

	n = 0;
	buf[n++] = 0x81;
	n += put_str(buf + n, STR_FIX, "type");
	buf[n++] = 0xbf; /* fixstr 31 */
	memcpy(buf + n, n31, 31);
	n += 31;
	expect_tag(buf, n, n31, n);

	n = 0;
	buf[n++] = 0x81;
	n += put_str(buf + n, STR_FIX, "type");
	buf[n++] = 0xd9;
	buf[n++] = 32;
	memcpy(buf + n, n32, 32);
	n += 32;
	expect_none(buf, n);
}

static void test_msgpack_oversized_lengths(void **state)
{
	/* str16 of 256 and more: rejected on the high byte */
	static const unsigned char s16_256[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xda, 0x01, 0x00, 'A' };
	static const unsigned char s16_260[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xda, 0x01, 0x04, 'A' };
	/* 259 by the header, and the three bytes a low-byte-only reader would take */
	static const unsigned char s16_259[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xda, 0x01, 0x03, 'a', 'b', 'c' };
	static const unsigned char s8_255[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xd9, 0xff, 'A' };
	static const unsigned char s8_0[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xd9, 0x00, 'A' };
	static const unsigned char s16_0[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xda, 0x00, 0x00, 'A' };
	static const unsigned char fix_0[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xa0, 'A' };
	/* str32 is not an accepted encoding */
	static const unsigned char s32[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xdb, 0x00, 0x00, 0x00, 0x01, 'A' };
	/* the key "type" as str32 */
	static const unsigned char key32[] = { 0x81, 0xdb, 0x00, 0x00, 0x00, 0x04, 't', 'y', 'p', 'e', 0xa1, 'A' };

	(void)state;
	expect_none(s16_256, sizeof(s16_256));
	expect_none(s16_260, sizeof(s16_260));
	expect_none(s16_259, sizeof(s16_259));
	expect_none(s8_255, sizeof(s8_255));
	expect_none(s8_0, sizeof(s8_0));
	expect_none(s16_0, sizeof(s16_0));
	expect_none(fix_0, sizeof(fix_0));
	expect_none(s32, sizeof(s32));
	expect_none(key32, sizeof(key32));
}

/* ---- the 64-byte window ---- */

static void test_window(void **state)
{
	unsigned char buf[256];
	char name[ZS_MSG_TYPE_LEN];
	/* {"type":"RegisterMsg" is 21 bytes; its closing quote ends the tag */
	static const char tag[] = "{\"type\":\"RegisterMsg\"";
	const size_t tag_len = sizeof(tag) - 1;

	(void)state;
	for (size_t pad = 0; pad + tag_len <= 100; pad++) {
		size_t end = pad + tag_len, n;
		int found;

		memset(buf, ' ', pad);
		memcpy(buf + pad, tag, tag_len);
		n = end;
		/* and a long tail, so the buffer is always longer than the window */
		for (; n < sizeof(buf); n++)
			buf[n] = (n & 1) ? '}' : ',';
		found = end <= ZS_MSGTYPE_PREFIX;
		assert_int_equal(parse(buf, sizeof(buf), name), found ? 11 : 0);
		assert_string_equal(name, found ? "RegisterMsg" : "");
		/* the window, not the length, is what limits it */
		assert_int_equal(parse(buf, ZS_MSGTYPE_PREFIX, name), found ? 11 : 0);
		if (found)
			expect_tag(buf, sizeof(buf), "RegisterMsg", end);
	}

	/* A name that would end at byte 65, 66...: a valid 31-byte name cut off. */
	memset(buf, ' ', sizeof(buf));
	memcpy(buf + 30, "{\"type\":\"abcdefghijklmnopqrstuvwxyz01234\"", 41);
	assert_int_equal(parse(buf, sizeof(buf), name), 0);
	assert_int_equal(parse(buf + 7, sizeof(buf) - 7, name), 31);
	assert_string_equal(name, "abcdefghijklmnopqrstuvwxyz01234");

	/* a msgpack tag at the front of a long frame */
	memset(buf, 0xc0, sizeof(buf));
	memcpy(buf, register_msg, sizeof(register_msg));
	assert_int_equal(parse(buf, sizeof(buf), name), 11);
	assert_string_equal(name, "RegisterMsg");
	/* ... and bytes past the window never matter */
	for (size_t i = ZS_MSGTYPE_PREFIX; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7);
	assert_int_equal(parse(buf, sizeof(buf), name), 11);
	assert_string_equal(name, "RegisterMsg");
}

/* ---- msgpack that is not a tag ---- */

static void test_msgpack_hostile(void **state)
{
	static const unsigned char empty_fixmap[] = { 0x80, 0xa4, 't', 'y', 'p', 'e', 0xa1, 'A' };
	static const unsigned char empty_map16[] = { 0xde, 0x00, 0x00, 0xa4, 't', 'y', 'p', 'e', 0xa1, 'A' };
	static const unsigned char empty_map32[] = { 0xdf, 0x00, 0x00, 0x00, 0x00, 0xa4, 't',
						     'y',  'p',	 'e',  0xa1, 'A' };
	static const unsigned char typo[] = { 0x81, 0xa4, 't', 'y', 'p', 'o', 0xa1, 'A' };
	static const unsigned char Type[] = { 0x81, 0xa4, 'T', 'y', 'p', 'e', 0xa1, 'A' };
	static const unsigned char types[] = { 0x81, 0xa5, 't', 'y', 'p', 'e', 's', 0xa1, 'A' };
	static const unsigned char typ[] = { 0x81, 0xa3, 't', 'y', 'p', 0xa1, 'A' };
	static const unsigned char key_s8_5[] = { 0x81, 0xd9, 0x05, 't', 'y', 'p', 'e', 0xa1, 'A' };
	static const unsigned char key_s16_hi[] = { 0x81, 0xda, 0x01, 0x04, 't', 'y', 'p', 'e', 0xa1, 'A' };
	static const unsigned char key_s16_le[] = { 0x81, 0xda, 0x04, 0x00, 't', 'y', 'p', 'e', 0xa1, 'A' };
	static const unsigned char key_bin[] = { 0x81, 0xc4, 0x04, 't', 'y', 'p', 'e', 0xa1, 'A' };
	static const unsigned char val_int[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0x03 };
	static const unsigned char val_uint8[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xcc, 0x41 };
	static const unsigned char val_nil[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xc0, 0xa1, 'A' };
	static const unsigned char val_true[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xc3 };
	static const unsigned char val_bin8[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xc4, 0x03, 'A', 'b', 'c' };
	static const unsigned char val_arr[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0x91, 0xa1, 'A' };
	static const unsigned char val_map[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0x81, 0xa1, 'A', 0x01 };
	static const unsigned char val_ext[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xd4, 0x01, 'A' };
	static const unsigned char name_space[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xa3, 'a', ' ', 'b' };
	static const unsigned char name_quote[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xa3, 'a', '"', 'b' };
	static const unsigned char name_bslash[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xa3, 'a', '\\', 'b' };
	static const unsigned char name_utf8[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xa5, 'c', 'a', 'f', 0xc3, 0xa9 };
	static const unsigned char name_nul[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xa3, 'a', 0x00, 'b' };
	static const unsigned char name_nul_end[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xa2, 'a', 0x00 };
	static const unsigned char name_slash[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xa3, 'a', '/', 'b' };
	static const unsigned char name_del[] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xa2, 'a', 0x7f };
	/* a nested map first, then the tag */
	static const unsigned char nested[] = { 0x82, 0xa4, 'm', 'e', 't', 'a', 0x81, 0xa4, 't',
						'y',  'p',  'e', 0xa1, 'X', 0xa4, 't',	'y',  'p',
						'e',  0xa1, 'Y' };
	/* the tag as the second key */
	static const unsigned char second[] = { 0x82, 0xa1, 'x', 0x01, 0xa4, 't', 'y', 'p', 'e', 0xa1, 'A' };
	/* an array of maps, a bare string, and arrays msgspec makes of array_like structs */
	static const unsigned char array[] = { 0x91, 0x81, 0xa4, 't', 'y', 'p', 'e', 0xa1, 'A' };
	static const unsigned char array_like[] = { 0x93, 0xab, 'R', 'e', 'g', 'i', 's', 't', 'e',
						    'r',  'M',	's', 'g', 0xa1, 'i', 0x03 };
	static const unsigned char bare[] = { 0xa4, 't', 'y', 'p', 'e' };
	static const unsigned char map16_short[] = { 0xde, 0x00 };
	static const unsigned char map32_short[] = { 0xdf, 0x00, 0x00, 0x00 };

	(void)state;
	expect_none(empty_fixmap, sizeof(empty_fixmap));
	expect_none(empty_map16, sizeof(empty_map16));
	expect_none(empty_map32, sizeof(empty_map32));
	expect_none(typo, sizeof(typo));
	expect_none(Type, sizeof(Type));
	expect_none(types, sizeof(types));
	expect_none(typ, sizeof(typ));
	expect_none(key_s8_5, sizeof(key_s8_5));
	expect_none(key_s16_hi, sizeof(key_s16_hi));
	expect_none(key_s16_le, sizeof(key_s16_le));
	expect_none(key_bin, sizeof(key_bin));
	expect_none(val_int, sizeof(val_int));
	expect_none(val_uint8, sizeof(val_uint8));
	expect_none(val_nil, sizeof(val_nil));
	expect_none(val_true, sizeof(val_true));
	expect_none(val_bin8, sizeof(val_bin8));
	expect_none(val_arr, sizeof(val_arr));
	expect_none(val_map, sizeof(val_map));
	expect_none(val_ext, sizeof(val_ext));
	expect_none(name_space, sizeof(name_space));
	expect_none(name_quote, sizeof(name_quote));
	expect_none(name_bslash, sizeof(name_bslash));
	expect_none(name_utf8, sizeof(name_utf8));
	expect_none(name_nul, sizeof(name_nul));
	expect_none(name_nul_end, sizeof(name_nul_end));
	expect_none(name_slash, sizeof(name_slash));
	expect_none(name_del, sizeof(name_del));
	expect_none(nested, sizeof(nested));
	expect_none(second, sizeof(second));
	expect_none(array, sizeof(array));
	expect_none(array_like, sizeof(array_like));
	expect_none(bare, sizeof(bare));
	expect_none(map16_short, sizeof(map16_short));
	expect_none(map32_short, sizeof(map32_short));
}

static void test_tiny_inputs(void **state)
{
	char name[ZS_MSG_TYPE_LEN];

	(void)state;
	memset(name, NAME_POISON, sizeof(name));
	assert_int_equal(zs_msgtype_parse(NULL, 0, name), 0);
	assert_string_equal(name, "");
	expect_none("", 0);
	for (int c = 0; c < 256; c++) {
		unsigned char b[2] = { (unsigned char)c, (unsigned char)c };

		expect_none(b, 1);
		expect_none(b, 2);
	}
}

/* A failure after part of a name was read still leaves "" (it once left that part). */
static void test_failure_clears_name(void **state)
{
	char name[ZS_MSG_TYPE_LEN];

	(void)state;
	memset(name, NAME_POISON, sizeof(name));
	assert_int_equal(zs_msgtype_parse((const unsigned char *)"{\"type\":\"ab", 11, name), 0);
	assert_int_equal(name[0], '\0');
	memset(name, NAME_POISON, sizeof(name));
	assert_int_equal(zs_msgtype_parse((const unsigned char *)"{\"type\":\"ab c\"", 14, name), 0);
	assert_int_equal(name[0], '\0');
}

static void test_determinism(void **state)
{
	/* Interleaved calls with different inputs share no state. */
	static const char json[] = "{\"type\":\"LookupMsg\",\"x\":1}";
	char a[ZS_MSG_TYPE_LEN], b[ZS_MSG_TYPE_LEN];

	(void)state;
	for (int i = 0; i < 100; i++) {
		assert_int_equal(parse(register_msg, sizeof(register_msg), a), 11);
		assert_int_equal(parse((const unsigned char *)json, sizeof(json) - 1, b), 9);
		assert_int_equal(parse((const unsigned char *)"{\"type\":\"", 9, b), 0);
		assert_string_equal(a, "RegisterMsg");
		assert_int_equal(parse((const unsigned char *)json, sizeof(json) - 1, b), 9);
		assert_string_equal(b, "LookupMsg");
	}
}

/*
 * Driving the step function the way the BPF side does (bpf_loop over the
 * bytes, stopping at the first settled step, then copying the whole name
 * array into a map key) gives the same tag, zero-padded to the end: the
 * padding is part of the key.
 */
static void test_step_machine_like_bpf(void **state)
{
	static const char *const inputs[] = {
		"{\"type\":\"LookupMsg\",\"x\":1}",
		"{\"type\":\"abcdefghijklmnopqrstuvwxyz01234\"",
		"{\"type\":\"ab",
		"{\"type\":\"ab c\"",
	};
	static const int want[] = { 9, 31, 0, 0 };

	(void)state;
	for (size_t t = 0; t < sizeof(inputs) / sizeof(inputs[0]); t++) {
		struct zs_msgtype_state st;
		const char *s = inputs[t];
		size_t len = strlen(s);
		int n;

		memset(&st, 0, sizeof(st));
		for (size_t i = 0; i < len && i < ZS_MSGTYPE_PREFIX; i++)
			if (zs_msgtype_step(&st, (unsigned char)s[i]))
				break;
		n = zs_msgtype_result(&st);
		assert_int_equal(n, want[t]);
		if (n > 0)
			for (int i = n; i < ZS_MSG_TYPE_LEN; i++)
				assert_int_equal(st.name[i], 0);
		/* once settled, further steps report settled and change nothing */
		if (st.state == ZS_MT_DONE || st.state == ZS_MT_FAIL) {
			struct zs_msgtype_state before = st;

			for (int c = 0; c < 256; c++)
				assert_int_equal(zs_msgtype_step(&st, (unsigned char)c), 1);
			assert_memory_equal(&st, &before, sizeof(st));
		}
	}
}

/* The byte machine alone, as before the fixmap shortcut: the reference. */
static int parse_by_steps(const unsigned char *buf, unsigned len, char name[ZS_MSG_TYPE_LEN])
{
	struct zs_msgtype_state st;
	int n;

	memset(&st, 0, sizeof(st));
	if (len > ZS_MSGTYPE_PREFIX)
		len = ZS_MSGTYPE_PREFIX;
	for (unsigned i = 0; i < len; i++)
		if (zs_msgtype_step(&st, buf[i]))
			break;
	n = zs_msgtype_result(&st);
	memset(name, 0, ZS_MSG_TYPE_LEN);
	memcpy(name, st.name, (size_t)n);
	return n;
}

/*
 * zs_msgtype_fixmap() settles the common shape without the byte loop.  It
 * must agree with the machine on every input: each byte of fixmap-shaped
 * seeds (a 31-byte name, a name at every length, a bad character) set to
 * each of its 256 values, and each truncation.
 */
static void test_fixmap_shortcut_agrees_with_byte_machine(void **state)
{
	unsigned char seeds[40][48];
	size_t nseeds = 0, lens[40];
	long agreed = 0;

	(void)state;
	for (int n = 0; n <= 31; n++) {
		unsigned char *b = seeds[nseeds];

		memcpy(b, "\x82\xa4type", 6);
		b[6] = (unsigned char)(0xa0 | n);
		for (int i = 0; i < n; i++)
			b[7 + i] = (unsigned char)("KVAdmitMsg_.:-0123456789abcdefg"[i]);
		b[7 + n] = 0xa1;
		lens[nseeds++] = (size_t)n + 8;
	}
	memcpy(seeds[nseeds], "\x81\xa4type\xa4" "Ab c", 11);
	lens[nseeds++] = 11;
	for (size_t k = 0; k < nseeds; k++) {
		for (size_t cut = 0; cut <= lens[k]; cut++) {
			char fast[ZS_MSG_TYPE_LEN] = { 0 }, slow[ZS_MSG_TYPE_LEN];

			assert_int_equal(zs_msgtype_parse(seeds[k], (unsigned)cut, fast),
					 parse_by_steps(seeds[k], (unsigned)cut, slow));
			assert_string_equal(fast, slow);
			agreed++;
		}
		for (size_t pos = 0; pos < lens[k]; pos++) {
			for (int v = 0; v < 256; v++) {
				unsigned char b[48];
				char fast[ZS_MSG_TYPE_LEN] = { 0 }, slow[ZS_MSG_TYPE_LEN];
				int nf, ns;

				memcpy(b, seeds[k], lens[k]);
				b[pos] = (unsigned char)v;
				nf = zs_msgtype_parse(b, (unsigned)lens[k], fast);
				ns = parse_by_steps(b, (unsigned)lens[k], slow);
				if (nf != ns || strcmp(fast, slow))
					fail_msg("seed %zu, byte %zu = 0x%02x: shortcut %d '%s', machine %d '%s'",
						 k, pos, v, nf, fast, ns, slow);
				agreed++;
			}
		}
	}
	/* 33 seeds, each cut at every length and each byte set to every value. */
	assert_true(agreed > 100000);
	agreed = 0;
	/*
	 * zs_msgtype_fixmap_run(), which the wire layer uses mid-stream, must
	 * also leave the machine's whole state as the byte machine would after
	 * the bytes it says it took, and the machine must settle on the last.
	 */
	for (size_t k = 0; k < nseeds; k++) {
		for (size_t pos = 0; pos < lens[k]; pos++) {
			for (int v = 0; v < 256; v++) {
				struct zs_msgtype_state fast = { 0 }, slow = { 0 };
				unsigned char b[48];
				__u32 took, i;

				memcpy(b, seeds[k], lens[k]);
				b[pos] = (unsigned char)v;
				took = zs_msgtype_fixmap_run(&fast, b, (__u32)lens[k]);
				if (!took) {
					assert_int_equal(fast.state, ZS_MT_START);
					continue;
				}
				for (i = 0; i < took - 1; i++)
					assert_int_equal(zs_msgtype_step(&slow, b[i]), 0);
				assert_int_equal(zs_msgtype_step(&slow, b[i]), 1);
				if (memcmp(&fast, &slow, sizeof(fast)))
					fail_msg("seed %zu, byte %zu = 0x%02x: the state after %u bytes "
						 "differs from the machine's",
						 k, pos, v, took);
				agreed++;
			}
		}
	}
	printf("fixmap_run: %ld settled inputs matched the byte machine's state\n", agreed);
	/* Settled: every value of a name byte and the ones of header bytes that keep the shape. */
	assert_true(agreed > 100000);
	{
		char name[ZS_MSG_TYPE_LEN];

		assert_int_equal(zs_msgtype_parse(seeds[10], (unsigned)lens[10], name), 10);
		assert_string_equal(name, "KVAdmitMsg");
		assert_int_equal(zs_msgtype_parse(seeds[31], (unsigned)lens[31], name), 31);
		assert_int_equal(zs_msgtype_parse(seeds[0], (unsigned)lens[0], name), 0);
		assert_int_equal(zs_msgtype_parse(seeds[32], (unsigned)lens[32], name), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msgpack_all_encodings),
		cmocka_unit_test(test_msgpack_literal_encodings),
		cmocka_unit_test(test_msgpack_real_payloads),
		cmocka_unit_test(test_json_variants),
		cmocka_unit_test(test_json_hostile),
		cmocka_unit_test(test_name_lengths),
		cmocka_unit_test(test_name_length_limits),
		cmocka_unit_test(test_msgpack_oversized_lengths),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_msgpack_hostile),
		cmocka_unit_test(test_tiny_inputs),
		cmocka_unit_test(test_failure_clears_name),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_step_machine_like_bpf),
		cmocka_unit_test(test_fixmap_shortcut_agrees_with_byte_machine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
