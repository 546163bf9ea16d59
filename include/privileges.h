/* SPDX-License-Identifier: MIT */
/*
 * --user NAME: once the probes are attached and the sockets bound,
 * zmqscope becomes NAME and keeps only the capabilities it still needs:
 *
 *   CAP_BPF         read and update the maps (every bpf() call needs it
 *                   while unprivileged BPF is disabled)
 * and, when --name or --port may attach more processes later:
 *   CAP_PERFMON     create uprobes (perf_event_open)
 *   CAP_SYS_PTRACE  read other users' /proc/PID/maps, root and fds
 *   CAP_SYS_CHROOT, CAP_SETUID, CAP_SETGID
 *                   the calibration child enters the target's root and
 *                   becomes its user (kept as ambient capabilities, so the
 *                   re-executed child still has them)
 *
 * Must run before any thread is started: capabilities are per thread.
 */
#ifndef ZS_PRIVILEGES_H
#define ZS_PRIVILEGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bit masks of the capabilities kept, for the two cases. */
uint64_t privileges_needed(bool attaches_later);

int privileges_drop(const char *user, bool attaches_later, char *err, size_t errlen);

#endif
