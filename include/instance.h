/* SPDX-License-Identifier: MIT */
/*
 * Running zmqscope instances, each known by a small numeric ID under the
 * runtime directory (/run/zmqscope, or $ZMQSCOPE_RUNTIME_DIR):
 *   ID.pid   the instance's pid and listen address
 *   ID.sock  its control socket, which serves /status
 */
#ifndef ZS_INSTANCE_H
#define ZS_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "strbuf.h"

struct instance {
	int id;
	char pid_path[256];
	char sock_path[256];
};

const char *instance_runtime_dir(void);

/*
 * Claims an ID.  A pinning daemon (`args` = its arguments) takes the ID it
 * had when last started with the same arguments, so it adopts that ID's
 * pins; otherwise, and for `run` (args NULL), the lowest ID that no live
 * instance holds and no pins are left under.
 */
int instance_register(struct instance *inst, const char *listen_text, const char *args,
		      char *err, size_t errlen);
void instance_unregister(struct instance *inst);

/* Who wrote a pid file, so a reused pid is never taken for the instance. */
struct instance_identity {
	uint64_t start_time; /* /proc/PID/stat field 22; 0 in older pid files */
	uint64_t exe_inode;
};

struct instance_info {
	int id;
	pid_t pid;
	struct instance_identity identity;
	bool alive; /* the pid still runs the process that wrote the file */
	char listen[96];
	char sock_path[256];
};

/* Every registered instance, sorted by ID.  Returns the count or -errno. */
int instance_list(struct instance_info *out, size_t max);

/* Unpins ID's links: its probes stop, even if its daemon was killed. */
int instance_detach_pinned_links(int id);
/* Removes everything ID pinned, counters included (stop --purge). */
int instance_forget_pins(int id);
/* Forgets the arguments of IDs that no longer have pins (stop --all --purge). */
void instance_forget_stale_args(void);

/*
 * SIGTERM, then wait for it to exit for as long as it makes progress (its
 * open fds reach a new low at least every `stall_ms`; stop_progress.h).
 * `report`, if set, is told the fds left every 2 s of a long stop.  0,
 * -ESRCH when the instance is not running (its pid gone, or another
 * process's now), -ETIMEDOUT when it stalled, or -errno.  Nothing is
 * signalled unless the pid is still the instance.
 */
int instance_stop(const struct instance_info *info, int stall_ms,
		  void (*report)(const struct instance_info *info, int fds, void *arg), void *arg);

/* Removes a dead instance's pid file and socket. */
void instance_remove_stale(const struct instance_info *info);

/* GET `path` over the instance's control socket; the body goes to `out`. */
int instance_query(const struct instance_info *info, const char *path, struct strbuf *out);

#endif
