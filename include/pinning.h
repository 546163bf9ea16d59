/* SPDX-License-Identifier: MIT */
/*
 * bpffs pinning for `start`: a daemon's maps and links live under
 *   /sys/fs/bpf/zmqscope/ID/maps/NAME
 *   /sys/fs/bpf/zmqscope/ID/links/PID-STARTTIME/PROBE
 * so counters survive a stop/start (an upgrade), probes keep counting
 * through a SIGKILL, and the next `start` with that ID adopts both.
 * `run` pins nothing: everything goes with the process.
 */
#ifndef ZS_PINNING_H
#define ZS_PINNING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ZS_BPFFS "/sys/fs/bpf"
#define ZS_PIN_ROOT ZS_BPFFS "/zmqscope"

/* Mounts bpffs on /sys/fs/bpf if nothing is there, and makes `dir`.  0 or -errno. */
int pin_prepare(const char *dir);

/* ZS_PIN_ROOT/ID */
void pin_dir_for(int id, char *out, size_t n);
bool pin_dir_exists(int id);

/* DIR/links/PID-STARTTIME */
void pin_link_dir(const char *dir, pid_t pid, uint64_t start_time, char *out, size_t n);

/* Removes a pin directory and everything below it.  0 or -errno. */
int pin_remove_tree(const char *path);

typedef void (*pin_link_dir_fn)(pid_t pid, uint64_t start_time, const char *path, void *arg);

/* Calls `fn` for each DIR/links/PID-STARTTIME directory. */
void pin_for_each_link_dir(const char *dir, pin_link_dir_fn fn, void *arg);

/* "PID-STARTTIME" -> its parts.  Pure, for the unit tests. */
bool pin_parse_link_dir_name(const char *name, pid_t *pid, uint64_t *start_time);

#endif
