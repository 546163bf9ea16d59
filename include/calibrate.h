/* SPDX-License-Identifier: MIT */
/*
 * Finds socket_base_t's layout for one libzmq object a target maps, from
 * three sources, best first:
 *
 *  memory  the target's own live sockets, read with process_vm_readv
 *          (memory_calibration.h): runs no code of the target's, needs no
 *          access to the library's file, knows every build;
 *  dlopen  the same file loaded into a forked child that keeps no
 *          capability, only when memory could not measure what is needed;
 *  table   known offsets for the version that zmq_version()'s code names.
 *
 * Each source that was tried leaves a note saying what it found or why it
 * failed, so `status` and -v never fall back silently.
 */
#ifndef ZS_CALIBRATE_H
#define ZS_CALIBRATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "memory_calibration.h"
#include "zmq_layout.h"

enum layout_source {
	LAYOUT_NONE = 0, /* nothing known: types come only from zmq_socket/getsockopt */
	LAYOUT_TABLE,	 /* the version's entry in the known-offsets table */
	LAYOUT_DLOPEN,	 /* measured on this file, loaded in a sandboxed child */
	LAYOUT_MEMORY,	 /* measured on the target's own sockets */
};

#define CAL_NOTE_LEN 200

struct calibration {
	struct zmq_version version;
	bool have_version;
	struct zmq_layout layout;
	enum layout_source source;
	/* What each source said; "" for a source not tried. */
	char memory_note[CAL_NOTE_LEN];
	char dlopen_note[CAL_NOTE_LEN];
	char table_note[CAL_NOTE_LEN];
	unsigned memory_sockets; /* live sockets memory calibration found */
	uint64_t memory_bytes;	 /* bytes it read from the target */
	unsigned memory_ms;
	/* Live sockets memory calibration found, for listing (calloc'd; calibration_release). */
	struct found_socket *found;
	size_t nfound;
};

void calibration_release(struct calibration *c);

/* Test knob, not in --help: ZMQSCOPE_CALIBRATION=dlopen,table limits the sources. */
#define CALIBRATION_SOURCES_ENV "ZMQSCOPE_CALIBRATION"

/*
 * `target_path` is the library as the target sees it, `host_path` the same
 * file reachable from here (/proc/PID/root/...), `inode` its inode (to find
 * its mappings), `version_fn_offset` the file offset of zmq_version (0 if
 * absent).  Always fills `out`; returns 0.
 */
int calibrate_library(pid_t pid, const char *target_path, const char *host_path, uint64_t inode,
		      uint64_t version_fn_offset, struct calibration *out);

/* The same for a process that has only just mapped the library: the table when it knows it. */
int calibrate_library_fresh(pid_t pid, const char *target_path, const char *host_path,
			    uint64_t inode, uint64_t version_fn_offset, struct calibration *out);

const char *layout_source_name(enum layout_source s);

struct strbuf;
/* One line per source tried: "memory: measured on 3 live sockets ...". */
void calibration_describe(const struct calibration *c, const char *indent, struct strbuf *out);
/* The same on stderr, under a line naming the source used: for -v. */
void calibration_log(pid_t pid, const char *path, const struct calibration *c);

/*
 * Is this source allowed by CALIBRATION_SOURCES_ENV (all are when it is
 * unset)?  Names: memory, dlopen, table, and handles (measuring later on
 * the sockets the probes saw).
 */
bool calibration_source_enabled(enum layout_source s);
bool calibration_allows(const char *name);

#endif
