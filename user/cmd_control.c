// SPDX-License-Identifier: MIT
/* `stop`, `status` and `list`: commands that talk to instances or read /proc. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "instance.h"
#include "json_writer.h"
#include "libzmq_discovery.h"
#include "observer.h"
#include "pinning.h"
#include "proc_files.h"

#define MAX_LISTED 256
/* No new low in the daemon's fds for this long, and `stop` gives up on it. */
#define STOP_STALL_MS 10000

/*
 * Pins of instances stopped earlier, whose .args this runtime directory
 * still holds.  Pins under other IDs belong to other runtime directories
 * (another user of `start`, the test suite): never ours to remove.
 */
static void forget_owned_pins(const struct instance_info *live, int nlive)
{
	DIR *d = opendir(instance_runtime_dir());
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end;
		long id = strtol(de->d_name, &end, 10);
		bool running = false;

		if (id <= 0 || strcmp(end, ".args"))
			continue;
		for (int i = 0; i < nlive; i++)
			running |= live[i].id == id && live[i].alive;
		if (!running)
			instance_forget_pins((int)id);
	}
	closedir(d);
	rmdir(ZS_PIN_ROOT); /* only once empty */
	instance_forget_stale_args();
}

/* The registered instances, or NULL after saying why. */
static struct instance_info *load_instances(int *n)
{
	struct instance_info *list = calloc(MAX_LISTED, sizeof(*list));

	if (!list) {
		zs_error("out of memory");
		return NULL;
	}
	*n = instance_list(list, MAX_LISTED);
	if (*n < 0) {
		zs_error("cannot read %s: %s", instance_runtime_dir(), strerror(-*n));
		free(list);
		return NULL;
	}
	return list;
}

static void report_stopping(const struct instance_info *info, int fds, void *arg)
{
	(void)arg;
	fprintf(stderr, "zmqscope: instance %d (pid %d) is stopping: %d descriptors left\n",
		info->id, (int)info->pid, fds);
}

int cmd_stop(struct zs_options *o)
{
	bool matched = false;
	int n, rc = 0;
	struct instance_info *list = load_instances(&n);

	if (!list)
		return EXIT_RUNTIME;
	for (int i = 0; i < n; i++) {
		char id[16];
		int err;

		snprintf(id, sizeof(id), "%d", list[i].id);
		if (!o->all && strcmp(o->instance_id, id))
			continue;
		matched = true;
		err = instance_stop(&list[i], STOP_STALL_MS, report_stopping, NULL);
		if (err == -ESRCH) {
			zs_error("instance %s was not running (pid %d has exited or is another "
				 "process now); removing what it left",
				 id, (int)list[i].pid);
			list[i].alive = false;
			instance_remove_stale(&list[i]);
			err = 0;
		}
		if (err) {
			if (err == -ETIMEDOUT)
				zs_error("instance %s (pid %d) made no progress stopping for %d s; "
					 "'kill -KILL %d' ends it, then 'zmqscope stop %s' "
					 "removes its pinned probes",
					 id, (int)list[i].pid, STOP_STALL_MS / 1000, (int)list[i].pid,
					 id);
			else
				zs_error("instance %s (pid %d) did not stop: %s", id,
					 (int)list[i].pid, strerror(-err));
			rc = EXIT_RUNTIME;
			continue;
		}
		/* A daemon killed earlier left its probes pinned and counting: not after stop. */
		instance_detach_pinned_links(list[i].id);
		if (o->purge)
			instance_forget_pins(list[i].id);
	}
	if (o->all && o->purge)
		forget_owned_pins(list, n);
	if (!matched && !o->all) {
		zs_error("no instance '%s'; 'zmqscope status' lists the running ones",
			 o->instance_id);
		rc = EXIT_RUNTIME;
	}
	free(list);
	return rc;
}

static void count_link_dir(pid_t pid, uint64_t start_time, const char *path, void *arg)
{
	(void)pid;
	(void)start_time;
	(void)path;
	(*(int *)arg)++;
}

/* A daemon killed with SIGKILL: its pinned probes go on counting, which `status` must say. */
static void describe_dead(struct strbuf *out, const struct instance_info *info)
{
	char pins[PATH_MAX];
	int targets = 0;

	pin_dir_for(info->id, pins, sizeof(pins));
	pin_for_each_link_dir(pins, count_link_dir, &targets);
	strbuf_printf(out, "instance %d: not running (pid %d exited)", info->id, (int)info->pid);
	if (targets)
		strbuf_printf(out, "; its pinned probes on %d process%s are still counting: "
				   "'zmqscope start' with the same arguments takes them over, "
				   "'zmqscope stop %d' detaches them",
			      targets, targets == 1 ? "" : "es", info->id);
	strbuf_putc(out, '\n');
}

int cmd_status(struct zs_options *o)
{
	struct strbuf out = STRBUF_INIT;
	int n, rc = 0, shown = 0;
	struct instance_info *list = load_instances(&n);

	if (!list)
		return EXIT_RUNTIME;
	if (o->json)
		strbuf_puts(&out, "[");
	for (int i = 0; i < n; i++) {
		struct strbuf body = STRBUF_INIT;
		int err;

		if (!list[i].alive) {
			if (!o->json) {
				describe_dead(&out, &list[i]);
				shown++;
			}
			continue;
		}
		err = instance_query(&list[i], o->json ? "/status.json" : "/status", &body);
		if (o->json) {
			strbuf_printf(&out, "%s{\"id\":%d,\"status\":", shown ? "," : "", list[i].id);
			strbuf_puts(&out, err ? "null" : strbuf_str(&body));
			strbuf_puts(&out, "}");
		} else {
			strbuf_printf(&out, "instance %d: ", list[i].id);
			if (err)
				strbuf_printf(&out, "pid %d, not answering on %s: %s\n",
					      (int)list[i].pid, list[i].sock_path, strerror(-err));
			else
				strbuf_puts(&out, strbuf_str(&body));
		}
		if (err)
			rc = EXIT_RUNTIME;
		shown++;
		strbuf_free(&body);
	}
	if (o->json)
		strbuf_puts(&out, "]\n");
	else if (!shown)
		strbuf_puts(&out, "no zmqscope instance is running\n");
	fputs(strbuf_str(&out), stdout);
	strbuf_free(&out);
	free(list);
	return rc;
}

static bool all_digits(const char *s)
{
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

int cmd_list(struct zs_options *o)
{
	struct strbuf out = STRBUF_INIT;
	struct json_writer w;
	struct dirent *de;
	DIR *proc = opendir("/proc");

	if (!proc) {
		zs_error("cannot read /proc: %s", strerror(errno));
		return EXIT_RUNTIME;
	}
	json_init(&w, &out);
	if (o->json)
		json_array_begin(&w);
	else
		strbuf_printf(&out, "%-8s %-16s %-10s %s\n", "PID", "COMM", "ATTACHABLE", "LIBZMQ");
	while ((de = readdir(proc))) {
		char path[4096] = "", comm[17] = "?", why[64] = "yes";
		pid_t pid;
		int rc;

		if (!all_digits(de->d_name))
			continue;
		pid = atoi(de->d_name);
		if (pid == getpid())
			continue;
		rc = process_zmq_path(pid, path, sizeof(path));
		if (rc == 0 || rc == -ESRCH)
			continue;
		if (rc < 0)
			snprintf(why, sizeof(why), "no: %s", rc == -EACCES ? "permission denied"
										: strerror(-rc));
		process_identity(pid, NULL, comm, sizeof(comm));
		if (o->json) {
			json_object_begin(&w);
			json_kv_int(&w, "pid", pid);
			json_kv_string(&w, "comm", comm);
			json_kv_string(&w, "library", path);
			json_kv_bool(&w, "attachable", rc > 0);
			if (rc < 0)
				json_kv_string(&w, "reason", why + 4);
			json_object_end(&w);
		} else {
			strbuf_printf(&out, "%-8d %-16s %-10s %s\n", (int)pid, comm, why,
				      path[0] ? path : "?");
		}
	}
	closedir(proc);
	if (o->json) {
		json_array_end(&w);
		strbuf_putc(&out, '\n');
	}
	fputs(strbuf_str(&out), stdout);
	strbuf_free(&out);
	return 0;
}
