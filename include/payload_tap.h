/* SPDX-License-Identifier: MIT */
/*
 * The payload tap: copies of the frames whose msg_type the loader asked
 * for (LMCache's state messages, design.md section 10), passed from the
 * probes to user space through a BPF ring buffer.  Shared by both sides.
 *
 * A frame is cut into records of at most ZS_TAP_CHUNK bytes, all from the
 * thread that sent or received it, in order.  User space joins them again
 * per (tgid, socket, direction): a zmq socket is used by one thread at a
 * time, so the chunks of two frames of one socket never interleave.
 */
#ifndef ZS_PAYLOAD_TAP_H
#define ZS_PAYLOAD_TAP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "zmqscope.h"

#define ZS_TAP_RECORD 4096 /* bytes per ring record, header included */
#define ZS_MAX_TAP_TYPES 64
#define ZS_TAP_DEFAULT_RING_KB 4096
#define ZS_TAP_DEFAULT_MAX_FRAME (1U << 20)

/* zs_target_config.tap */
#define ZS_TAP_ON 1U	    /* copy the frames whose type is in tap_types */

/* tap_types values: in which direction a type is wanted */
#define ZS_TAP_DIR_RX 1U
#define ZS_TAP_DIR_TX 2U

/* zs_tap_hdr.flags */
#define ZS_TAP_F_TX 1U	    /* the controller sent it */
#define ZS_TAP_F_CREATED 2U /* the socket is pristine (zmqscope.h): its whole traffic is seen */

struct zs_tap_hdr {
	__u32 tgid;
	__u32 frame_len; /* the whole frame */
	__u64 handle;	 /* the socket */
	__u32 offset;	 /* of this chunk in the frame */
	__u16 chunk_len;
	__u8 role;
	__u8 flags;
};

#define ZS_TAP_CHUNK (ZS_TAP_RECORD - (int)sizeof(struct zs_tap_hdr))

struct zs_tap_record {
	struct zs_tap_hdr h;
	__u8 data[ZS_TAP_CHUNK];
};

/* The key of tap_types: a msg_type name, NUL-padded. */
struct zs_tap_type_key {
	char name[ZS_MSG_TYPE_LEN];
};

#endif
