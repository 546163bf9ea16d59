/* SPDX-License-Identifier: MIT */
/*
 * Measures socket_base_t's layout on the very library file a target maps.
 *
 * The library is loaded into a throwaway child (zmqscope re-executed with
 * the hidden "__calibrate" command), never into the loader: the child enters
 * the target's root, drops to the target's user (or nobody for root) with
 * no_new_privs, so a library's constructors run with no more privilege than
 * the target already has.  The child creates one socket of each type and
 * finds where the type, the check tag and the last endpoint read back.
 */
#ifndef ZS_CALIBRATE_H
#define ZS_CALIBRATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "zmq_layout.h"

enum layout_source {
	LAYOUT_NONE = 0, /* nothing known: types come only from zmq_socket/getsockopt */
	LAYOUT_TABLE,	 /* the version's entry in the known-offsets table */
	LAYOUT_MEASURED, /* calibrated on this file */
};

struct calibration {
	struct zmq_version version;
	bool have_version;
	struct zmq_layout layout;
	enum layout_source source;
	char note[200]; /* why measuring failed, when it did */
};

/*
 * `target_path` is the library as the target sees it, `host_path` the same
 * file reachable from here (/proc/PID/root/...), `version_fn_offset` the
 * file offset of zmq_version (0 if absent).  Always fills `out`; returns 0.
 */
int calibrate_library(pid_t pid, const char *target_path, const char *host_path,
		      uint64_t version_fn_offset, struct calibration *out);

const char *layout_source_name(enum layout_source s);

/* Entry point of the child: zmqscope __calibrate PID PATH UID GID */
int calibrate_child_main(int argc, char **argv);

#endif
