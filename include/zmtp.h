/* SPDX-License-Identifier: MIT */
/*
 * A ZMTP 3.x stream parser (RFC 23/37): one direction of one connection,
 * fed the bytes a read or write syscall moved, in any split.  It counts what
 * it sees (data frames, messages, payload bytes, commands, PING/PONG) and
 * keeps what the handshake said (mechanism, as-server, the READY
 * properties Socket-Type and Identity), and the message type of each
 * message's first non-empty frame, through msgtype.h's parser.
 *
 * Shared by both sides as msgtype.h is.  Three entry points keep the BPF
 * caller's loop small: zmtp_skippable() says how many of the next bytes
 * need not be looked at (a frame body past what anything needs), which the
 * caller then passes to zmtp_skip() without reading them; at a payload's
 * start msgspec's usual type header is taken in one step (zmtp_type_starts);
 * otherwise the next byte goes to zmtp_byte().  So an 8 KiB frame costs a
 * few steps, not 8,192, and a typed message's header one, not 30.
 * No pointers are kept and nothing past the bytes given is touched.
 */
#ifndef ZS_ZMTP_H
#define ZS_ZMTP_H

#include "msgtype.h"

#define ZMTP_GREETING_LEN 64
#define ZMTP_TYPE_LEN 16     /* Socket-Type values: "ROUTER", "DEALER", ... */
#define ZMTP_IDENTITY_LEN 32 /* the first bytes of an Identity */
#define ZMTP_PROP_NAME_LEN 16 /* "socket-type" is the longest we match */

enum zmtp_state {
	ZMTP_ST_GREETING = 0,
	ZMTP_ST_FLAGS,
	ZMTP_ST_SIZE,
	ZMTP_ST_BODY,
	ZMTP_ST_DEAD, /* not ZMTP, or a protocol error: nothing more is parsed */
};

enum zmtp_mechanism {
	ZMTP_MECH_UNKNOWN = 0,
	ZMTP_MECH_NULL = 1,
	ZMTP_MECH_PLAIN = 2,
	ZMTP_MECH_CURVE = 4,
	ZMTP_MECH_OTHER = 8, /* GSSAPI, or anything else */
};

/* Why a stream went dead. */
enum zmtp_fail {
	ZMTP_FAIL_NONE = 0,
	ZMTP_FAIL_SIGNATURE = 1, /* not a ZMTP greeting: some other protocol */
	ZMTP_FAIL_VERSION = 2,	 /* ZMTP 1.0/2.0: not parsed */
	ZMTP_FAIL_FLAGS = 3,	 /* reserved flag bits set */
};

/* The command of the frame being parsed. */
enum zmtp_cmd {
	ZMTP_CMD_NONE = 0,
	ZMTP_CMD_READY,
	ZMTP_CMD_INITIATE, /* PLAIN's client metadata, same layout as READY */
	ZMTP_CMD_ERROR,
	ZMTP_CMD_PING,
	ZMTP_CMD_PONG,
	ZMTP_CMD_MESSAGE, /* CURVE's box around a data frame, when sent as a command */
	ZMTP_CMD_OTHER, /* HELLO, WELCOME, SUBSCRIBE, CURVE's boxes, ... */
};

/* Where a command body is: its name, then (READY, INITIATE) properties. */
enum zmtp_prop_state {
	ZMTP_PS_NAME_LEN = 0,
	ZMTP_PS_NAME,
	ZMTP_PS_PROP_NAME_LEN,
	ZMTP_PS_PROP_NAME,
	ZMTP_PS_VALUE_LEN,
	ZMTP_PS_VALUE,
	ZMTP_PS_SKIP, /* the rest of the body is of no interest */
};

enum zmtp_prop {
	ZMTP_PROP_NONE = 0,
	ZMTP_PROP_SOCKET_TYPE,
	ZMTP_PROP_IDENTITY,
};

/* What a call finished; a bit mask. */
#define ZMTP_EV_MESSAGE 1u   /* a data message ended: msg_type is in `mt` */
#define ZMTP_EV_HANDSHAKE 2u /* READY (or PLAIN's INITIATE) with its properties ended */
#define ZMTP_EV_ERROR 4u     /* an ERROR command ended */
#define ZMTP_EV_DEAD 8u	     /* the stream is not (or no longer) parseable */
#define ZMTP_EV_GREETING 16u /* the 64-byte greeting ended */

struct zmtp_counts {
	__u64 frames;	/* data frames; CURVE's MESSAGE boxes count here */
	__u64 msgs;	/* data messages (frames up to one without MORE) */
	__u64 bytes;	/* payload bytes of data frames */
	__u64 commands; /* command frames, handshake included */
	__u64 pings;
	__u64 pongs;
	__u64 errors; /* ERROR commands */
};

struct zmtp_parser {
	struct zmtp_counts c;
	__u64 left;	  /* body bytes left of the current frame */
	__u64 size;	  /* the current frame's size */
	__u32 pos;	  /* position in the greeting, or in the body's interesting part */
	__u32 prop_left;  /* bytes left of a command name, property name or value */
	__u32 msg_frames; /* frames so far of the message in progress */
	__u32 acc;	  /* a property value's length, as its 4 bytes arrive */
	__u8 state;	  /* enum zmtp_state */
	__u8 flags;	  /* of the current frame */
	__u8 size_left;	  /* size bytes still to come */
	__u8 fail;	  /* enum zmtp_fail */
	__u8 mech_mask;	  /* greeting: the mechanisms the name still matches */
	__u8 mechanism;	  /* enum zmtp_mechanism */
	__u8 major, minor;
	__u8 as_server;
	__u8 cmd;	    /* enum zmtp_cmd */
	__u8 ps;	    /* enum zmtp_prop_state */
	__u8 prop;	    /* enum zmtp_prop being read */
	__u8 cmd_name_len;
	__u8 prop_name_len;
	__u8 payload_done; /* the message's first non-empty frame was looked at */
	__u8 handshake_done;
	__u8 type_len;
	__u8 identity_len;
	__u8 has_identity;
	__u8 pad[3];
	char cmd_name[8];
	char prop_name[ZMTP_PROP_NAME_LEN];
	char socket_type[ZMTP_TYPE_LEN];
	char identity[ZMTP_IDENTITY_LEN];
	struct zs_msgtype_state mt; /* of the message in progress (or just ended) */
};

#define ZMTP_FLAG_MORE 1u
#define ZMTP_FLAG_LONG 2u
#define ZMTP_FLAG_COMMAND 4u

static __always_inline unsigned char zmtp_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* The mechanism names a greeting may carry, one byte at a time (20 bytes, NUL-padded). */
static __always_inline unsigned char zmtp_mech_char(__u32 mech, __u32 i)
{
	switch (mech) {
	case ZMTP_MECH_NULL:
		return i < 4 ? (unsigned char)"NULL"[i & 3] : 0;
	case ZMTP_MECH_PLAIN:
		return i < 5 ? (unsigned char)"PLAIN"[i & 7] : 0;
	default:
		return i < 5 ? (unsigned char)"CURVE"[i & 7] : 0;
	}
}

static __always_inline __u32 zmtp_die(struct zmtp_parser *p, __u8 why)
{
	p->state = ZMTP_ST_DEAD;
	p->fail = why;
	return ZMTP_EV_DEAD;
}

static __always_inline __u32 zmtp_greeting_byte(struct zmtp_parser *p, unsigned char c)
{
	__u32 i = p->pos++;

	if (i == 0) {
		if (c != 0xff)
			return zmtp_die(p, ZMTP_FAIL_SIGNATURE);
		p->mech_mask = ZMTP_MECH_NULL | ZMTP_MECH_PLAIN | ZMTP_MECH_CURVE;
	} else if (i == 9) {
		if (c != 0x7f)
			return zmtp_die(p, ZMTP_FAIL_SIGNATURE);
	} else if (i == 10) {
		p->major = c;
		if (c < 3)
			return zmtp_die(p, ZMTP_FAIL_VERSION);
	} else if (i == 11) {
		p->minor = c;
	} else if (i >= 12 && i < 32) {
		__u32 k = i - 12;

		if ((p->mech_mask & ZMTP_MECH_NULL) && c != zmtp_mech_char(ZMTP_MECH_NULL, k))
			p->mech_mask &= ~ZMTP_MECH_NULL;
		if ((p->mech_mask & ZMTP_MECH_PLAIN) && c != zmtp_mech_char(ZMTP_MECH_PLAIN, k))
			p->mech_mask &= ~ZMTP_MECH_PLAIN;
		if ((p->mech_mask & ZMTP_MECH_CURVE) && c != zmtp_mech_char(ZMTP_MECH_CURVE, k))
			p->mech_mask &= ~ZMTP_MECH_CURVE;
		if (i == 31)
			p->mechanism = p->mech_mask ? p->mech_mask : ZMTP_MECH_OTHER;
	} else if (i == 32) {
		p->as_server = c;
	}
	if (p->pos < ZMTP_GREETING_LEN)
		return 0;
	p->state = ZMTP_ST_FLAGS;
	return ZMTP_EV_GREETING;
}

/* A command's name is known: what to do with its body. */
static __always_inline void zmtp_command_named(struct zmtp_parser *p)
{
	__u32 n = p->cmd_name_len;
	const char *s = p->cmd_name;

	p->cmd = ZMTP_CMD_OTHER;
	if (n == 5 && s[0] == 'R' && s[1] == 'E' && s[2] == 'A' && s[3] == 'D' && s[4] == 'Y')
		p->cmd = ZMTP_CMD_READY;
	else if (n == 8 && s[0] == 'I' && s[1] == 'N' && s[2] == 'I' && s[3] == 'T' &&
		 s[4] == 'I' && s[5] == 'A' && s[6] == 'T' && s[7] == 'E')
		p->cmd = ZMTP_CMD_INITIATE;
	else if (n == 5 && s[0] == 'E' && s[1] == 'R' && s[2] == 'R' && s[3] == 'O' && s[4] == 'R')
		p->cmd = ZMTP_CMD_ERROR;
	else if (n == 4 && s[0] == 'P' && s[1] == 'I' && s[2] == 'N' && s[3] == 'G')
		p->cmd = ZMTP_CMD_PING;
	else if (n == 4 && s[0] == 'P' && s[1] == 'O' && s[2] == 'N' && s[3] == 'G')
		p->cmd = ZMTP_CMD_PONG;
	else if (n == 7 && s[0] == 'M' && s[1] == 'E' && s[2] == 'S' && s[3] == 'S' &&
		 s[4] == 'A' && s[5] == 'G' && s[6] == 'E')
		p->cmd = ZMTP_CMD_MESSAGE;
	/* CURVE's READY and INITIATE carry their metadata in a box: unreadable. */
	if ((p->cmd == ZMTP_CMD_READY || p->cmd == ZMTP_CMD_INITIATE) &&
	    p->mechanism != ZMTP_MECH_CURVE)
		p->ps = ZMTP_PS_PROP_NAME_LEN;
	else
		p->ps = ZMTP_PS_SKIP;
}

static __always_inline void zmtp_prop_named(struct zmtp_parser *p)
{
	const char *s = p->prop_name;

	p->prop = ZMTP_PROP_NONE;
	if (p->prop_name_len == 11 && s[0] == 's' && s[1] == 'o' && s[2] == 'c' && s[3] == 'k' &&
	    s[4] == 'e' && s[5] == 't' && s[6] == '-' && s[7] == 't' && s[8] == 'y' &&
	    s[9] == 'p' && s[10] == 'e')
		p->prop = ZMTP_PROP_SOCKET_TYPE;
	else if (p->prop_name_len == 8 && s[0] == 'i' && s[1] == 'd' && s[2] == 'e' &&
		 s[3] == 'n' && s[4] == 't' && s[5] == 'i' && s[6] == 't' && s[7] == 'y')
		p->prop = ZMTP_PROP_IDENTITY;
	p->ps = ZMTP_PS_VALUE_LEN;
	p->prop_left = 4;
	p->acc = 0;
}

static __always_inline void zmtp_value_started(struct zmtp_parser *p)
{
	if (p->prop == ZMTP_PROP_SOCKET_TYPE)
		p->type_len = 0;
	if (p->prop == ZMTP_PROP_IDENTITY) {
		p->identity_len = 0;
		p->has_identity = 1;
	}
	p->ps = p->prop_left ? ZMTP_PS_VALUE : ZMTP_PS_PROP_NAME_LEN;
}

/* One byte of a command body. */
static __always_inline void zmtp_command_byte(struct zmtp_parser *p, unsigned char c)
{
	switch (p->ps) {
	case ZMTP_PS_NAME_LEN:
		p->cmd_name_len = c;
		p->prop_left = c;
		p->ps = ZMTP_PS_NAME;
		if (!c)
			zmtp_command_named(p);
		return;
	case ZMTP_PS_NAME: {
		__u32 i = p->cmd_name_len - p->prop_left;

		if (i < sizeof(p->cmd_name))
			p->cmd_name[i & 7] = (char)c;
		if (--p->prop_left == 0)
			zmtp_command_named(p);
		return;
	}
	case ZMTP_PS_PROP_NAME_LEN:
		p->prop_left = c;
		p->prop_name_len = c;
		p->ps = ZMTP_PS_PROP_NAME;
		if (!c)
			zmtp_prop_named(p);
		return;
	case ZMTP_PS_PROP_NAME: {
		__u32 i = p->prop_name_len - p->prop_left;

		if (i < ZMTP_PROP_NAME_LEN)
			p->prop_name[i & (ZMTP_PROP_NAME_LEN - 1)] = (char)zmtp_lower(c);
		if (--p->prop_left == 0)
			zmtp_prop_named(p);
		return;
	}
	case ZMTP_PS_VALUE_LEN:
		p->acc = (p->acc << 8) | c;
		if (--p->prop_left == 0) {
			p->prop_left = p->acc;
			zmtp_value_started(p);
		}
		return;
	case ZMTP_PS_VALUE:
		if (p->prop == ZMTP_PROP_SOCKET_TYPE && p->type_len < ZMTP_TYPE_LEN - 1)
			p->socket_type[p->type_len++ & (ZMTP_TYPE_LEN - 1)] = (char)c;
		else if (p->prop == ZMTP_PROP_IDENTITY && p->identity_len < ZMTP_IDENTITY_LEN)
			p->identity[p->identity_len++ & (ZMTP_IDENTITY_LEN - 1)] = (char)c;
		if (--p->prop_left == 0)
			p->ps = ZMTP_PS_PROP_NAME_LEN;
		return;
	default:
		return;
	}
}

/* The current frame's body has ended (or it had none). */
static __always_inline __u32 zmtp_frame_done(struct zmtp_parser *p)
{
	__u32 ev = 0;

	p->state = ZMTP_ST_FLAGS;
	if ((p->flags & ZMTP_FLAG_COMMAND) && p->cmd != ZMTP_CMD_MESSAGE) {
		p->c.commands++;
		if (p->cmd == ZMTP_CMD_PING)
			p->c.pings++;
		else if (p->cmd == ZMTP_CMD_PONG)
			p->c.pongs++;
		else if (p->cmd == ZMTP_CMD_ERROR) {
			p->c.errors++;
			ev |= ZMTP_EV_ERROR;
		} else if (p->cmd == ZMTP_CMD_READY || p->cmd == ZMTP_CMD_INITIATE) {
			/* The client's last word is INITIATE, the server's READY. */
			p->handshake_done = 1;
			ev |= ZMTP_EV_HANDSHAKE;
		}
		return ev;
	}
	p->c.frames++;
	p->c.bytes += p->size;
	/* CURVE boxes hide MORE: each frame is all that can be counted. */
	if (p->mechanism == ZMTP_MECH_CURVE)
		return 0;
	p->msg_frames++;
	if (p->size)
		p->payload_done = 1;
	if (p->flags & ZMTP_FLAG_MORE)
		return 0;
	p->c.msgs++;
	return ZMTP_EV_MESSAGE;
}

/* A frame's size is complete. */
static __always_inline __u32 zmtp_size_done(struct zmtp_parser *p)
{
	p->left = p->size;
	p->pos = 0;
	if (p->flags & ZMTP_FLAG_COMMAND) {
		p->cmd = ZMTP_CMD_NONE;
		p->ps = ZMTP_PS_NAME_LEN;
		p->cmd_name_len = 0;
	}
	if (!p->size)
		return zmtp_frame_done(p);
	p->state = ZMTP_ST_BODY;
	return 0;
}

/* Does the next body byte need looking at? */
static __always_inline int zmtp_body_wants(const struct zmtp_parser *p)
{
	if (p->flags & ZMTP_FLAG_COMMAND)
		return p->ps != ZMTP_PS_SKIP &&
		       !(p->ps == ZMTP_PS_VALUE && p->prop == ZMTP_PROP_NONE);
	if (p->mechanism == ZMTP_MECH_CURVE || p->payload_done)
		return 0;
	return p->pos < ZS_MSGTYPE_PREFIX && p->mt.state != ZS_MT_DONE &&
	       p->mt.state != ZS_MT_FAIL;
}

/* How many of the next bytes may be skipped unseen (0: call zmtp_byte). */
static __always_inline __u64 zmtp_skippable(const struct zmtp_parser *p)
{
	if (p->state == ZMTP_ST_DEAD)
		return ~0ULL;
	if (p->state != ZMTP_ST_BODY || zmtp_body_wants(p))
		return 0;
	/* An uninteresting property value ends before the body does. */
	if ((p->flags & ZMTP_FLAG_COMMAND) && p->ps == ZMTP_PS_VALUE && p->prop_left < p->left)
		return p->prop_left;
	return p->left;
}

/* Passes over n bytes, n <= zmtp_skippable(p). */
static __always_inline __u32 zmtp_skip(struct zmtp_parser *p, __u64 n)
{
	if (p->state != ZMTP_ST_BODY)
		return 0;
	if ((p->flags & ZMTP_FLAG_COMMAND) && p->ps == ZMTP_PS_VALUE) {
		p->prop_left -= (__u32)n;
		if (!p->prop_left)
			p->ps = ZMTP_PS_PROP_NAME_LEN;
	}
	p->left -= n;
	return p->left ? 0 : zmtp_frame_done(p);
}

/* Consumes one byte; returns the ZMTP_EV_* it finished. */
static __always_inline __u32 zmtp_byte(struct zmtp_parser *p, unsigned char c)
{
	switch (p->state) {
	case ZMTP_ST_GREETING:
		return zmtp_greeting_byte(p, c);
	case ZMTP_ST_FLAGS:
		if (c & 0xf8)
			return zmtp_die(p, ZMTP_FAIL_FLAGS);
		/* A data frame after a complete message starts the next one. */
		if (!(c & ZMTP_FLAG_COMMAND) && p->msg_frames == 0) {
			p->payload_done = 0;
			p->mt.state = ZS_MT_START;
			p->mt.count = p->mt.acc = p->mt.len = 0;
			/* The name is a map key: no bytes of an earlier one may linger. */
			__builtin_memset(p->mt.name, 0, sizeof(p->mt.name));
		}
		p->flags = c;
		p->size = 0;
		p->size_left = (c & ZMTP_FLAG_LONG) ? 8 : 1;
		p->state = ZMTP_ST_SIZE;
		return 0;
	case ZMTP_ST_SIZE:
		p->size = (p->size << 8) | c;
		if (--p->size_left)
			return 0;
		return zmtp_size_done(p);
	case ZMTP_ST_BODY:
		if (p->flags & ZMTP_FLAG_COMMAND)
			zmtp_command_byte(p, c);
		else if (zmtp_body_wants(p))
			zs_msgtype_step(&p->mt, c);
		p->pos++;
		if (--p->left)
			return 0;
		return zmtp_frame_done(p);
	default:
		return 0;
	}
}

/*
 * Is the next byte the first of a message's payload, where msgtype.h's
 * machine starts?  zs_msgtype_fixmap_run() may then take several bytes at
 * once (zmtp_type_span, zmtp_type_taken).
 */
static __always_inline int zmtp_type_starts(const struct zmtp_parser *p)
{
	return p->state == ZMTP_ST_BODY && !(p->flags & ZMTP_FLAG_COMMAND) && p->pos == 0 &&
	       p->mt.state == ZS_MT_START && zmtp_body_wants(p);
}

/* How many bytes from `avail` zs_msgtype_fixmap_run() may look at, at a payload's start. */
static __always_inline __u32 zmtp_type_span(const struct zmtp_parser *p, __u64 avail)
{
	if (avail > p->left)
		avail = p->left;
	return avail < ZS_MSGTYPE_FIXMAP_MAX ? (__u32)avail : ZS_MSGTYPE_FIXMAP_MAX;
}

/*
 * zs_msgtype_fixmap_run() took k body bytes of p->mt's message at once:
 * the parser is left as if zmtp_byte() had taken them one by one.  Returns
 * the frame's end if they were its last.
 */
static __always_inline __u32 zmtp_type_taken(struct zmtp_parser *p, __u32 k)
{
	p->pos += k;
	p->left -= k;
	return p->left ? 0 : zmtp_frame_done(p);
}

/* After ZMTP_EV_MESSAGE: clears the per-message state; the caller read `mt` first. */
static __always_inline void zmtp_message_taken(struct zmtp_parser *p)
{
	p->msg_frames = 0;
}

#ifndef __BPF__
/* User space: feeds a buffer; returns the OR of the events (messages are counted). */
static inline __u32 zmtp_feed(struct zmtp_parser *p, const unsigned char *buf, size_t len,
			      void (*on_message)(struct zmtp_parser *, void *), void *arg)
{
	__u32 all = 0;
	size_t i = 0;

	while (i < len) {
		__u64 skip = zmtp_skippable(p);
		__u32 ev = 0, k = 0;

		if (p->state == ZMTP_ST_DEAD)
			break;
		if (skip) {
			__u64 n = skip < len - i ? skip : len - i;

			ev = zmtp_skip(p, n);
			i += n;
		} else {
			if (zmtp_type_starts(p))
				k = zs_msgtype_fixmap_run(&p->mt, buf + i,
							  zmtp_type_span(p, len - i));
			if (k) {
				ev = zmtp_type_taken(p, k);
				i += k;
			} else {
				ev = zmtp_byte(p, buf[i++]);
			}
		}
		if ((ev & ZMTP_EV_MESSAGE) && on_message)
			on_message(p, arg);
		if (ev & ZMTP_EV_MESSAGE)
			zmtp_message_taken(p);
		all |= ev;
	}
	return all;
}
#endif

#endif
