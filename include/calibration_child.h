/* SPDX-License-Identifier: MIT */
/*
 * The dlopen fallback of calibrate.h: the target's library file loaded into a
 * forked child (never exec'd: there is no command line to forge) that enters
 * the target's root, becomes the target's user (nobody for root targets),
 * keeps no capability in any set and sets no_new_privs before dlopen, so the
 * library's constructors run with no more privilege than the target has.  The
 * child creates one socket of each type and finds where the type, the check
 * tag and the last endpoint read back.
 */
#ifndef ZS_CALIBRATION_CHILD_H
#define ZS_CALIBRATION_CHILD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Runs the child for the library `target_path` (as the target names it) of
 * process `pid`; `type_hint` is a table's type offset or -1.  Fills `line`
 * with the child's one answer: "ok MAJ.MIN.PATCH TYPE TAG ENDPOINT" or
 * "err WHY".  0, or a negative errno (-ETIMEDOUT after 5 s).
 */
int calibration_child_run(pid_t pid, const char *target_path, int32_t type_hint, char *line,
			  size_t n);

#endif
