/* SPDX-License-Identifier: MIT */
/*
 * Measures socket_base_t's layout in the target's own memory.
 *
 * Reads, with process_vm_readv and never a write, the sockets the target
 * already has: its anonymous read-write mappings are searched for libzmq's
 * 0xbaddecaf check tag, each hit is traced back to the start of its object,
 * and the object's vtable RTTI names its socket class (socket_image.h).
 * None of the target's code runs, the library's file need not be readable,
 * and a build no table knows is measured like any other.  The search is
 * bounded in bytes read and in time.
 */
#ifndef ZS_MEMORY_CALIBRATION_H
#define ZS_MEMORY_CALIBRATION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "zmq_layout.h"
#include "zmqscope.h"

#define MEMCAL_MAX_SOCKETS 256
#define MEMCAL_MAX_BYTES (256ULL << 20)
#define MEMCAL_MAX_MS 1500

struct found_socket {
	uint64_t handle;
	int type;
	char endpoint[ZS_ENDPOINT_LEN]; /* "" when unbound or the offset is unknown */
};

struct memory_calibration {
	struct zmq_layout layout; /* -1 for what could not be measured */
	struct found_socket *sockets; /* caller's array of `max` entries, or NULL */
	size_t max, nsockets; /* filled entries of `sockets` */
	size_t measured;      /* socket objects the offsets were measured on */
	int use_known_offsets; /* may settle an ambiguous type offset with one a build used */
	uint64_t bytes_read;
	unsigned elapsed_ms;
	int truncated; /* a bound stopped the search early */
	char note[160]; /* what failed, when something did */
};

/*
 * Searches process `pid` for sockets of the libzmq object with inode
 * `lib_inode`.  `hint` is a table's layout for this version (fields -1 when
 * unknown), preferred where the memory agrees.  0 when the type offset was
 * measured, else a negative errno with `note` saying why.
 */
int memory_calibrate(pid_t pid, uint64_t lib_inode, const struct zmq_layout *hint,
		     struct memory_calibration *out);

/*
 * The same from handles already known (the probes saw them in use): no
 * search, just these objects.
 */
int memory_calibrate_handles(pid_t pid, uint64_t lib_inode, const uint64_t *handles, size_t n,
			     const struct zmq_layout *hint, struct memory_calibration *out);

#endif
