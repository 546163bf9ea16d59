/* SPDX-License-Identifier: MIT */
/*
 * Where libzmq keeps a socket's type, check tag and last endpoint inside
 * socket_base_t.  These are private C++ members: their offsets move with
 * the version and the build, so they are measured on the exact library the
 * target maps (calibrate.c) and only looked up here as a fallback.
 */
#ifndef ZS_ZMQ_LAYOUT_H
#define ZS_ZMQ_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

struct zmq_version {
	int major, minor, patch;
};

struct zmq_layout {
	int32_t type_off;     /* -1: unknown */
	int32_t tag_off;      /* -1: unknown */
	int32_t endpoint_off; /* -1: unknown */
};

#define ZMQ_LAYOUT_UNKNOWN ((struct zmq_layout){ -1, -1, -1 })

/* Known offsets for x86-64 builds with libstdc++; -ENOENT if none. */
int zmq_layout_lookup(const struct zmq_version *v, struct zmq_layout *out);

/* The i-th distinct type offset any known build uses, or -1 past the last. */
int32_t zmq_layout_known_type_offset(size_t i);

/*
 * Reads the version from zmq_version()'s machine code, which stores three
 * immediates: movl $MAJOR,(%rdi); movl $MINOR,(%rsi); movl $PATCH,(%rdx).
 * Works without loading the library, e.g. for a static binary.  0 or -ENOENT.
 */
int zmq_version_from_code(const uint8_t *code, size_t len, struct zmq_version *out);

#endif
