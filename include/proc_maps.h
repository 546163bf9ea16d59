/* SPDX-License-Identifier: MIT */
/* /proc/PID/maps lines. */
#ifndef ZS_PROC_MAPS_H
#define ZS_PROC_MAPS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct maps_entry {
	uint64_t start;
	uint64_t end;
	uint64_t offset;
	uint64_t inode;
	unsigned dev_major;
	unsigned dev_minor;
	char perms[5];
	bool deleted; /* the path ended in " (deleted)", which is stripped */
	char path[PATH_MAX];
};

/* Parses one line (with or without its newline).  0, or -EINVAL. */
int maps_parse_line(const char *line, struct maps_entry *e);

static inline bool maps_is_exec(const struct maps_entry *e)
{
	return e->perms[2] == 'x';
}

/* A mapping backed by a file, not [heap], [vdso], anonymous memory... */
static inline bool maps_is_file(const struct maps_entry *e)
{
	return e->path[0] == '/' && e->inode != 0;
}

typedef int (*maps_visit_fn)(const struct maps_entry *e, void *arg);

/*
 * Calls `visit` for each line of /proc/PID/maps; a non-zero return stops
 * the walk and is returned.  -ENOENT when the process is gone.
 */
int maps_for_each(pid_t pid, maps_visit_fn visit, void *arg);

#endif
