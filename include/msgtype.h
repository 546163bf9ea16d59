/* SPDX-License-Identifier: MIT */
/*
 * The message-type tag at the front of a payload frame, as msgspec's
 * tagged unions write it: a msgpack map whose first key is "type" with a
 * string value, or a JSON object {"type": "..."}.  Anything else is not a
 * tagged message.
 *
 * The parser is a byte-at-a-time state machine, zs_msgtype_step(), shared
 * by both sides.  User space drives it with a loop (zs_msgtype_parse); the
 * BPF side drives it with bpf_loop(), so the verifier checks one step with
 * an unknown byte instead of walking every path through every offset.  It
 * never looks past the bytes it is given and keeps no pointers.
 */
#ifndef ZS_MSGTYPE_H
#define ZS_MSGTYPE_H

#include "zmqscope.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define ZS_MSGTYPE_PREFIX 64 /* bytes of a frame the parser looks at */

enum zs_mt_state {
	ZS_MT_START = 0,
	ZS_MT_MAP_LEN,	   /* map16/map32 element count */
	ZS_MT_KEY_HDR,	   /* header of the first key */
	ZS_MT_KEY_STR8,	   /* its str8 length */
	ZS_MT_KEY_STR16,   /* its str16 length */
	ZS_MT_KEY,	   /* the key's bytes: "type" */
	ZS_MT_VAL_HDR,	   /* header of the value */
	ZS_MT_VAL_STR8,	   /* its str8 length */
	ZS_MT_VAL_STR16,   /* its str16 length */
	ZS_MT_NAME,	   /* msgpack: the name's bytes */
	ZS_MT_JSON_OPEN,   /* JSON: before '{' */
	ZS_MT_JSON_QUOTE,  /* before the first key's quote */
	ZS_MT_JSON_KEY,	   /* type" */
	ZS_MT_JSON_COLON,  /* before ':' */
	ZS_MT_JSON_VALUE,  /* before the value's quote */
	ZS_MT_JSON_NAME,   /* the name, to its closing quote */
	ZS_MT_DONE,	   /* a name was found */
	ZS_MT_FAIL,	   /* not a tagged message */
};

struct zs_msgtype_state {
	__u32 state;
	__u32 count; /* bytes left in a length field, or matched of a keyword */
	__u32 acc;   /* the length being read */
	__u32 len;   /* bytes of the name so far */
	char name[ZS_MSG_TYPE_LEN];
};

static __always_inline int zs_mt_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == ':' || c == '-';
}

static __always_inline int zs_mt_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static __always_inline unsigned char zs_mt_keyword(__u32 i)
{
	/* "type" for msgpack, `type"` for JSON: the first four bytes agree. */
	switch (i) {
	case 0:
		return 't';
	case 1:
		return 'y';
	case 2:
		return 'p';
	case 3:
		return 'e';
	default:
		return '"';
	}
}

static __always_inline __u32 zs_mt_fail(struct zs_msgtype_state *st)
{
	st->state = ZS_MT_FAIL;
	return 1;
}

/* Appends one name byte; finished when `expected` bytes are in (msgpack). */
static __always_inline __u32 zs_mt_append(struct zs_msgtype_state *st, unsigned char c)
{
	if (!zs_mt_name_char(c) || st->len >= ZS_MSG_TYPE_LEN - 1)
		return zs_mt_fail(st);
	st->name[st->len & (ZS_MSG_TYPE_LEN - 1)] = (char)c;
	st->len++;
	return 0;
}

/* Starts a name of n bytes, which must fit the label. */
static __always_inline __u32 zs_mt_name_of(struct zs_msgtype_state *st, __u32 n)
{
	if (n == 0 || n >= ZS_MSG_TYPE_LEN)
		return zs_mt_fail(st);
	st->acc = n;
	st->state = ZS_MT_NAME;
	return 0;
}

/* Consumes one byte.  Returns 1 when the outcome is settled, else 0. */
static __always_inline __u32 zs_msgtype_step(struct zs_msgtype_state *st, unsigned char c)
{
	switch (st->state) {
	case ZS_MT_START:
		if ((c & 0xf0) == 0x80 && (c & 0x0f)) { /* fixmap, not empty */
			st->state = ZS_MT_KEY_HDR;
		} else if (c == 0xde || c == 0xdf) { /* map16, map32 */
			st->count = c == 0xde ? 2 : 4;
			st->acc = 0;
			st->state = ZS_MT_MAP_LEN;
		} else if (c == '{') {
			st->state = ZS_MT_JSON_QUOTE;
		} else if (zs_mt_space(c)) {
			st->state = ZS_MT_JSON_OPEN;
		} else {
			return zs_mt_fail(st);
		}
		return 0;
	case ZS_MT_MAP_LEN:
		st->acc |= c;
		if (--st->count)
			return 0;
		if (!st->acc) /* an empty map has no "type" */
			return zs_mt_fail(st);
		st->state = ZS_MT_KEY_HDR;
		return 0;
	case ZS_MT_KEY_HDR:
		st->count = 0;
		if (c == 0xa4)
			st->state = ZS_MT_KEY;
		else if (c == 0xd9)
			st->state = ZS_MT_KEY_STR8;
		else if (c == 0xda)
			st->state = ZS_MT_KEY_STR16;
		else
			return zs_mt_fail(st);
		return 0;
	case ZS_MT_KEY_STR8:
		if (c != 4)
			return zs_mt_fail(st);
		st->state = ZS_MT_KEY;
		return 0;
	case ZS_MT_KEY_STR16: /* 00 04, big-endian */
		if (c != (st->count ? 4 : 0))
			return zs_mt_fail(st);
		if (st->count++)
			st->state = ZS_MT_KEY, st->count = 0;
		return 0;
	case ZS_MT_KEY:
		if (c != zs_mt_keyword(st->count))
			return zs_mt_fail(st);
		if (++st->count == 4)
			st->state = ZS_MT_VAL_HDR;
		return 0;
	case ZS_MT_VAL_HDR:
		if ((c & 0xe0) == 0xa0)
			return zs_mt_name_of(st, c & 0x1f);
		st->count = 0;
		st->acc = 0;
		if (c == 0xd9)
			st->state = ZS_MT_VAL_STR8;
		else if (c == 0xda)
			st->state = ZS_MT_VAL_STR16;
		else
			return zs_mt_fail(st);
		return 0;
	case ZS_MT_VAL_STR8:
		return zs_mt_name_of(st, c);
	case ZS_MT_VAL_STR16:
		if (st->count++ == 0) {
			if (c) /* 256 bytes or more: no label is that long */
				return zs_mt_fail(st);
			return 0;
		}
		return zs_mt_name_of(st, c);
	case ZS_MT_NAME:
		if (zs_mt_append(st, c))
			return 1;
		if (st->len < st->acc)
			return 0;
		st->state = ZS_MT_DONE;
		return 1;
	case ZS_MT_JSON_OPEN:
		if (c == '{')
			st->state = ZS_MT_JSON_QUOTE;
		else if (!zs_mt_space(c))
			return zs_mt_fail(st);
		return 0;
	case ZS_MT_JSON_QUOTE:
		if (c == '"')
			st->state = ZS_MT_JSON_KEY, st->count = 0;
		else if (!zs_mt_space(c))
			return zs_mt_fail(st);
		return 0;
	case ZS_MT_JSON_KEY:
		if (c != zs_mt_keyword(st->count))
			return zs_mt_fail(st);
		if (++st->count == 5)
			st->state = ZS_MT_JSON_COLON;
		return 0;
	case ZS_MT_JSON_COLON:
		if (c == ':')
			st->state = ZS_MT_JSON_VALUE;
		else if (!zs_mt_space(c))
			return zs_mt_fail(st);
		return 0;
	case ZS_MT_JSON_VALUE:
		if (c == '"')
			st->state = ZS_MT_JSON_NAME;
		else if (!zs_mt_space(c))
			return zs_mt_fail(st);
		return 0;
	case ZS_MT_JSON_NAME:
		if (c != '"')
			return zs_mt_append(st, c);
		if (!st->len)
			return zs_mt_fail(st);
		st->state = ZS_MT_DONE;
		return 1;
	default:
		return 1;
	}
}

/* The most bytes zs_msgtype_fixmap_run() reads: header, "type", and a 31-byte name. */
#define ZS_MSGTYPE_FIXMAP_MAX 38

/*
 * The shape msgspec writes for almost every tagged message: a fixmap whose
 * first key is the fixstr "type" and whose value is a fixstr.  It is settled
 * here, straight from the bytes, on a machine still at its start: on the BPF
 * side that saves a bpf_loop callback per byte, on every message.  Returns
 * how many bytes the byte machine would have taken to settle (DONE or FAIL),
 * leaving `st` exactly as it would, or 0 when the bytes are of another shape
 * or cut short, for the byte machine to run from the start.
 */
static __always_inline __u32 zs_msgtype_fixmap_run(struct zs_msgtype_state *st,
						   const unsigned char *b, __u32 len)
{
	__u32 n;

	if (len < 7 || (b[0] & 0xf0) != 0x80 || !(b[0] & 0x0f) || b[1] != 0xa4 ||
	    b[2] != 't' || b[3] != 'y' || b[4] != 'p' || b[5] != 'e' || (b[6] & 0xe0) != 0xa0)
		return 0;
	n = b[6] & 0x1f;
	if (7 + n > len)
		return 0; /* cut short: the machine says so */
	/* Where the machine stands after the value's header: "type" matched. */
	st->count = 4;
	if (n == 0) {
		zs_mt_fail(st);
		return 7;
	}
	st->acc = n;
	for (__u32 i = 0; i < ZS_MSG_TYPE_LEN - 1; i++) {
		if (i >= n)
			break;
		if (!zs_mt_name_char(b[7 + i])) {
			st->len = i;
			zs_mt_fail(st);
			return 8 + i;
		}
		st->name[i] = (char)b[7 + i];
	}
	st->len = n;
	st->state = ZS_MT_DONE;
	return 7 + n;
}

/* The same, where only the outcome matters: 1 when settled, else 0. */
static __always_inline int zs_msgtype_fixmap(struct zs_msgtype_state *st,
					     const unsigned char *b, __u32 len)
{
	return zs_msgtype_fixmap_run(st, b, len) != 0;
}

/* After the last step: the name's length (its text NUL-terminated), or 0. */
static __always_inline int zs_msgtype_result(struct zs_msgtype_state *st)
{
	if (st->state != ZS_MT_DONE)
		return 0;
	st->name[st->len & (ZS_MSG_TYPE_LEN - 1)] = '\0';
	return (int)st->len;
}

#ifndef __BPF__
/* User space: writes the tag to `name` (ZS_MSG_TYPE_LEN bytes); its length, or 0. */
static inline int zs_msgtype_parse(const unsigned char *buf, unsigned len, char *name)
{
	struct zs_msgtype_state st = { 0 };
	int n;

	if (len > ZS_MSGTYPE_PREFIX)
		len = ZS_MSGTYPE_PREFIX;
	if (!zs_msgtype_fixmap(&st, buf, len))
		for (unsigned i = 0; i < len; i++)
			if (zs_msgtype_step(&st, buf[i]))
				break;
	n = zs_msgtype_result(&st);
	for (int i = 0; i < n; i++)
		name[i] = st.name[i];
	name[n] = '\0'; /* "" on failure: st.name may hold a partial name */
	return n;
}
#endif

#endif
