/* SPDX-License-Identifier: MIT */
/*
 * Which processes --name and --port select.  --name matches a POSIX
 * extended regex against the comm or the command line; --port finds the
 * processes with a TCP socket listening on the port, in each process's own
 * network namespace, so a controller in a container is found from the host.
 */
#ifndef ZS_PROCESS_SELECTOR_H
#define ZS_PROCESS_SELECTOR_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "options.h"

struct process_selector {
	regex_t names[ZS_MAX_NAMES];
	size_t nnames;
	bool name_matches_all; /* a --name that matches "" matches every process */
	uint16_t ports[ZS_MAX_PORTS];
	size_t nports;
	pid_t self;
};

int process_selector_init(struct process_selector *s, const struct zs_options *o, char *err,
			  size_t errlen);
void process_selector_free(struct process_selector *s);

static inline bool process_selector_dynamic(const struct process_selector *s)
{
	return s->nnames || s->nports;
}

/*
 * Does the pattern use a back-reference (\1 to \9 outside a bracket
 * expression)?  Pure, for the unit tests.
 */
bool regex_has_back_reference(const char *pattern);

/* Does the process's comm or command line match a --name pattern? */
bool process_matches_name(const struct process_selector *s, pid_t pid);

/* Calls `fn` for every process that --name or --port selects now. */
void process_selector_scan(const struct process_selector *s, void (*fn)(pid_t pid, void *arg),
			   void *arg);

/*
 * One line of /proc/net/tcp or tcp6: true if it is a listening socket,
 * with its local port and inode.  Pure, for the unit tests.
 */
bool tcp_line_listening(const char *line, uint16_t *port, uint64_t *inode);

/* /proc/PID/cmdline separates arguments with NULs; make them spaces. */
void cmdline_to_text(char *buf, size_t len);

#endif
