// SPDX-License-Identifier: MIT
#include "instance.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/pidfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "monotonic.h"
#include "pinning.h"
#include "proc_files.h"
#include "stop_progress.h"

#define MAX_INSTANCES 256

const char *instance_runtime_dir(void)
{
	const char *dir = getenv("ZMQSCOPE_RUNTIME_DIR");

	return dir && *dir ? dir : "/run/zmqscope";
}

/* PID, the listen address, then the start time and exe inode (0 0 from older versions). */
static int read_pid_file(const char *path, pid_t *pid, char *listen, size_t n,
			 struct instance_identity *id)
{
	FILE *f = fopen(path, "re");
	unsigned long long start = 0, exe = 0;
	int p = 0;

	if (!f)
		return -errno;
	if (fscanf(f, "%d", &p) != 1) {
		fclose(f);
		return -EIO;
	}
	listen[0] = '\0';
	if (fscanf(f, " %95s", listen) != 1)
		listen[0] = '\0';
	if (fscanf(f, " %llu %llu", &start, &exe) != 2)
		start = exe = 0;
	(void)n;
	fclose(f);
	*pid = p;
	id->start_time = start;
	id->exe_inode = exe;
	return 0;
}

/*
 * Is the process at `pid` still the instance that wrote the pid file?  A
 * killed daemon's pid can be reused by anything: same start time and same
 * executable, or for a pid file without them, a process named zmqscope.
 */
static bool is_instance(pid_t pid, const struct instance_identity *id)
{
	uint64_t start;
	char comm[32];

	if (pid <= 0 || process_identity(pid, &start, comm, sizeof(comm)))
		return false;
	if (!id->start_time)
		return !strcmp(comm, "zmqscope");
	return start == id->start_time && process_exe_inode(pid) == id->exe_inode;
}

static void paths_for(int id, char *pid_path, size_t pn, char *sock_path, size_t sn)
{
	snprintf(pid_path, pn, "%s/%d.pid", instance_runtime_dir(), id);
	snprintf(sock_path, sn, "%s/%d.sock", instance_runtime_dir(), id);
}

static void args_path_for(int id, char *out, size_t n)
{
	snprintf(out, n, "%s/%d.args", instance_runtime_dir(), id);
}

/* Was ID last started with exactly these arguments? */
static bool args_match(int id, const char *args)
{
	char path[256], buf[4096];

	args_path_for(id, path, sizeof(path));
	return read_text_file(path, buf, sizeof(buf)) >= 0 && !strcmp(buf, args);
}

/* Takes ID unless a live instance holds it.  0, -EBUSY, or -errno. */
static int claim(struct instance *inst, int id, const char *listen_text)
{
	struct instance_identity me = { 0 }, them;
	char line[200], listen[96];
	pid_t pid;
	int fd;

	paths_for(id, inst->pid_path, sizeof(inst->pid_path), inst->sock_path,
		  sizeof(inst->sock_path));
	fd = open(inst->pid_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST) {
		/* Taken, unless its owner died without cleaning up. */
		if (read_pid_file(inst->pid_path, &pid, listen, sizeof(listen), &them) == 0 &&
		    is_instance(pid, &them))
			return -EBUSY;
		unlink(inst->pid_path);
		fd = open(inst->pid_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	}
	if (fd < 0)
		return errno == EEXIST ? -EBUSY : -errno;
	process_identity(getpid(), &me.start_time, NULL, 0);
	me.exe_inode = process_exe_inode(getpid());
	snprintf(line, sizeof(line), "%d\n%s\n%llu %llu\n", (int)getpid(), listen_text,
		 (unsigned long long)me.start_time, (unsigned long long)me.exe_inode);
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		close(fd);
		unlink(inst->pid_path);
		return -EIO;
	}
	close(fd);
	inst->id = id;
	return 0;
}

int instance_register(struct instance *inst, const char *listen_text, const char *args,
		      char *err, size_t errlen)
{
	const char *dir = instance_runtime_dir();
	int rc;

	if (mkdir(dir, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -errno;
	}
	/* A daemon restarted with the same arguments takes its old ID, and its pins. */
	for (int id = 1; args && id <= MAX_INSTANCES; id++)
		if (pin_dir_exists(id) && args_match(id, args) &&
		    claim(inst, id, listen_text) == 0)
			goto claimed;
	/* Otherwise the lowest ID no one uses, nor has left pins under. */
	for (int id = 1; id <= MAX_INSTANCES; id++) {
		if (pin_dir_exists(id))
			continue;
		rc = claim(inst, id, listen_text);
		if (rc == 0)
			goto claimed;
		if (rc != -EBUSY) {
			snprintf(err, errlen, "cannot create %s: %s", inst->pid_path, strerror(-rc));
			return rc;
		}
	}
	snprintf(err, errlen, "too many zmqscope instances under %s", dir);
	return -ENOSPC;
claimed:
	if (args) {
		char path[256];
		FILE *f;

		args_path_for(inst->id, path, sizeof(path));
		f = fopen(path, "we");
		if (f) {
			fputs(args, f);
			fclose(f);
		}
	}
	return 0;
}

int instance_forget_pins(int id)
{
	char pins[PATH_MAX], path[256];

	pin_dir_for(id, pins, sizeof(pins));
	args_path_for(id, path, sizeof(path));
	unlink(path);
	return pin_remove_tree(pins);
}

void instance_forget_stale_args(void)
{
	DIR *d = opendir(instance_runtime_dir());
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end;
		long id = strtol(de->d_name, &end, 10);

		if (id > 0 && !strcmp(end, ".args") && !pin_dir_exists((int)id))
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

int instance_detach_pinned_links(int id)
{
	char links[PATH_MAX];

	pin_dir_for(id, links, sizeof(links));
	strncat(links, "/links", sizeof(links) - strlen(links) - 1);
	return pin_remove_tree(links);
}

void instance_unregister(struct instance *inst)
{
	if (!inst->id)
		return;
	unlink(inst->sock_path);
	unlink(inst->pid_path);
	inst->id = 0;
}

static int cmp_info(const void *a, const void *b)
{
	return ((const struct instance_info *)a)->id - ((const struct instance_info *)b)->id;
}

int instance_list(struct instance_info *out, size_t max)
{
	DIR *d = opendir(instance_runtime_dir());
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)) && n < max) {
		struct instance_info *i = &out[n];
		char pid_path[256], *end;
		long id = strtol(de->d_name, &end, 10);

		if (id <= 0 || strcmp(end, ".pid"))
			continue;
		memset(i, 0, sizeof(*i));
		i->id = (int)id;
		paths_for(i->id, pid_path, sizeof(pid_path), i->sock_path, sizeof(i->sock_path));
		if (read_pid_file(pid_path, &i->pid, i->listen, sizeof(i->listen), &i->identity))
			continue;
		i->alive = is_instance(i->pid, &i->identity);
		n++;
	}
	closedir(d);
	qsort(out, n, sizeof(*out), cmp_info);
	return (int)n;
}

/* Open fds of `pid`, or -errno: every probe link, program and map of a daemon is one. */
static int count_open_fds(pid_t pid)
{
	char path[64];
	struct dirent *d;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((d = readdir(dir)))
		n += d->d_name[0] != '.';
	closedir(dir);
	return n;
}

static long long monotonic_ms(void)
{
	return (long long)(monotonic_seconds() * 1000);
}

int instance_stop(const struct instance_info *info, int stall_ms,
		  void (*report)(const struct instance_info *info, int fds, void *arg), void *arg)
{
	struct timespec nap = { 0, 20 * 1000 * 1000 };
	struct stop_progress progress;
	long long reported;
	int pidfd, rc = 0;

	if (!info->alive)
		return -ESRCH;
	/*
	 * The pidfd pins the process the identity check then looks at: if it
	 * dies in between, the signal fails rather than reaching a reused pid.
	 */
	pidfd = pidfd_open(info->pid, 0);
	if (pidfd < 0 && errno != ENOSYS)
		return errno == ESRCH ? -ESRCH : -errno;
	if (!is_instance(info->pid, &info->identity)) {
		rc = -ESRCH;
		goto out;
	}
	if (pidfd >= 0 ? pidfd_send_signal(pidfd, SIGTERM, NULL, 0) : kill(info->pid, SIGTERM)) {
		rc = errno == ESRCH ? -ESRCH : -errno;
		goto out;
	}
	stop_progress_init(&progress, stall_ms, monotonic_ms());
	reported = progress.since_ms;
	rc = -ETIMEDOUT;
	for (;;) {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		long long now;
		int fds;

		/*
		 * With a pidfd, only its readability means stopped: an exiting
		 * process loses /proc/PID/exe when its mm goes, well before the
		 * kernel has closed its links, so the identity check would call
		 * it gone too early.
		 */
		if (pidfd >= 0 ? poll(&p, 1, 20) > 0 : !is_instance(info->pid, &info->identity)) {
			rc = 0;
			break;
		}
		if (pidfd < 0)
			nanosleep(&nap, NULL);
		fds = count_open_fds(info->pid);
		now = monotonic_ms();
		if (!stop_progress_sample(&progress, fds, now))
			break;
		if (report && now - reported >= 2000) {
			report(info, progress.lowest, arg);
			reported = now;
		}
	}
out:
	if (pidfd >= 0)
		close(pidfd);
	return rc;
}

void instance_remove_stale(const struct instance_info *info)
{
	char pid_path[256], sock_path[256];

	if (info->alive)
		return;
	paths_for(info->id, pid_path, sizeof(pid_path), sock_path, sizeof(sock_path));
	unlink(sock_path);
	unlink(pid_path);
}

int instance_query(const struct instance_info *info, const char *path, struct strbuf *out)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char req[128], buf[4096];
	struct strbuf raw = STRBUF_INIT;
	const char *body;
	int fd, rc = 0;

	if (strlen(info->sock_path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	memcpy(a.sun_path, info->sock_path, strlen(info->sock_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		rc = -errno;
		goto out;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		rc = -EIO;
		goto out;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 5000) <= 0) {
			rc = -ETIMEDOUT;
			goto out;
		}
		r = read(fd, buf, sizeof(buf));
		if (r < 0) {
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		strbuf_append(&raw, buf, (size_t)r);
	}
	body = strstr(strbuf_str(&raw), "\r\n\r\n");
	if (strncmp(strbuf_str(&raw), "HTTP/1.", 7) || !body) {
		rc = -EPROTO;
		goto out;
	}
	strbuf_puts(out, body + 4);
out:
	strbuf_free(&raw);
	close(fd);
	return rc;
}
