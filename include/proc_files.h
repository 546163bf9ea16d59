/* SPDX-License-Identifier: MIT */
/* Small files under /proc: who a process is, and whether it still runs. */
#ifndef ZS_PROC_FILES_H
#define ZS_PROC_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads at most n-1 bytes and NUL-terminates.  Bytes read, or -errno. */
ssize_t read_text_file(const char *path, char *buf, size_t n);

/*
 * Parses /proc/PID/stat text: comm (which may hold spaces and parentheses)
 * and the start time, field 22.  -ESRCH for a zombie, -EIO if malformed.
 * Pure, for the unit tests; comm and start_time may be NULL.
 */
int proc_stat_parse(const char *text, uint64_t *start_time, char *comm, size_t commlen);

/* The same for a live process.  0, -ESRCH when it is gone (or a zombie), or -errno. */
int process_identity(pid_t pid, uint64_t *start_time, char *comm, size_t commlen);

/* Alive and not a zombie: a killed daemon nobody reaps stays one. */
bool process_alive(pid_t pid);

/*
 * VmLib from /proc/PID/status, in kB: it grows when a library is mapped, so
 * an unchanged value means there is nothing new to look for.  -errno on error.
 */
long process_vmlib_kb(pid_t pid);

/* Inode of /proc/PID/exe, or 0 if it cannot be read. */
uint64_t process_exe_inode(pid_t pid);

#endif
