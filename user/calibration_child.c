// SPDX-License-Identifier: MIT
#include "calibration_child.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CALIBRATE_TIMEOUT_MS 5000
#define SCAN_BYTES 4096
#define NOBODY 65534
/* PAIR..STREAM exist in every libzmq build; the draft types may not. */
#define CALIBRATION_TYPES 12
#define ZMQ_PULL_TYPE 7
#define ZMQ_ROUTER_TYPE 6

/* Reads our own memory without faulting on an unmapped byte. */
static bool safe_read(void *dst, const void *src, size_t n)
{
	struct iovec local = { dst, n }, remote = { (void *)src, n };

	return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n;
}

typedef void *(*ctx_new_fn)(void);
typedef void *(*socket_fn)(void *, int);
typedef int (*bind_fn)(void *, const char *);
typedef void (*version_fn)(int *, int *, int *);

/*
 * libzmq 4.3.4 keeps a second copy of the type further into the object, so
 * several offsets can read back every type.  All of them are right for a
 * socket at creation; the one the table knows, else the first (options_t
 * sits at the front of own_t), is the canonical field.
 */
static int32_t find_type_offset(void *const *socks, int32_t known)
{
	int32_t first = -1;

	for (int32_t off = 0; off < SCAN_BYTES; off++) {
		bool all = true;

		for (int t = 0; t < CALIBRATION_TYPES && all; t++) {
			uint8_t b;

			all = socks[t] && safe_read(&b, (const char *)socks[t] + off, 1) && b == t;
		}
		if (!all)
			continue;
		if (off == known)
			return off;
		if (first < 0)
			first = off;
	}
	return first;
}

static int32_t find_tag_offset(void *const *socks)
{
	for (int32_t off = 0; off < SCAN_BYTES; off += 4) {
		bool all = true;

		for (int t = 0; t < CALIBRATION_TYPES && all; t++) {
			uint32_t v;

			all = safe_read(&v, (const char *)socks[t] + off, 4) && v == 0xbaddecafU;
		}
		if (all)
			return off;
	}
	return -1;
}

/* The offset of a pointer to the bound endpoint's text, the same in both sockets. */
static int32_t find_endpoint_offset(void *a, const char *ua, void *b, const char *ub)
{
	for (int32_t off = 0; off < SCAN_BYTES; off += 8) {
		const char *pa, *pb;
		char text[128];

		if (!safe_read(&pa, (const char *)a + off, sizeof(pa)) ||
		    !safe_read(text, pa, strlen(ua) + 1) || memcmp(text, ua, strlen(ua) + 1))
			continue;
		if (safe_read(&pb, (const char *)b + off, sizeof(pb)) &&
		    safe_read(text, pb, strlen(ub) + 1) && !memcmp(text, ub, strlen(ub) + 1))
			return off;
	}
	return -1;
}

/*
 * Asks the kernel, not /proc: inside a container's root there may be no
 * /proc at all.
 */
static bool caps_all_zero(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return false;
	for (int i = 0; i < 2; i++)
		if (data[i].effective || data[i].permitted || data[i].inheritable)
			return false;
	for (int c = 0; c <= 63; c++)
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) == 1)
			return false;
	return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
}

/*
 * The library's constructors get exactly the target's user and nothing
 * more: no capability in any set, the bounding set emptied as far as we
 * may, and no_new_privs so no setuid file hands any back.
 */
static int drop_everything(uid_t uid, gid_t gid, char *why, size_t n)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct none[2];

	/* Needs the right to shrink the bounding set; an --user daemon lacks it, and its set is small. */
	for (int c = 0; c <= 63; c++)
		prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) ||
	    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) || setgroups(0, NULL) ||
	    setresgid(gid, gid, gid) || setresuid(uid, uid, uid)) {
		snprintf(why, n, "dropping to uid %u: %s", (unsigned)uid, strerror(errno));
		return -1;
	}
	memset(none, 0, sizeof(none));
	if (syscall(SYS_capset, &hdr, none) || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		snprintf(why, n, "dropping capabilities: %s", strerror(errno));
		return -1;
	}
	if (!caps_all_zero()) {
		snprintf(why, n, "the privilege drop did not hold; not loading the library");
		return -1;
	}
	return 0;
}

static int enter_target(pid_t pid, uid_t uid, gid_t gid, char *why, size_t n)
{
	char root[64];
	struct stat here, there;

	snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
	if (stat("/", &here) || stat(root, &there)) {
		snprintf(why, n, "cannot see %s: %s", root, strerror(errno));
		return -1;
	}
	if ((here.st_dev != there.st_dev || here.st_ino != there.st_ino) &&
	    (chroot(root) || chdir("/"))) {
		snprintf(why, n, "chroot into the target's root: %s", strerror(errno));
		return -1;
	}
	return drop_everything(uid, gid, why, n);
}

/*
 * Nothing of the loader may reach the library's code: not its BPF, HTTP or
 * pinned-map descriptors, not its signal setup.  `out` becomes fd 3.
 */
static int isolate(int out)
{
	sigset_t all;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (out != 3 && (dup2(out, 3) < 0 || close(out)))
		return -1;
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
		return -1;
	if (syscall(SYS_close_range, 4U, ~0U, 0U))
		return -1;
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	return 0;
}

/* The forked child: never returns to the loader's code. */
static void child_main(pid_t pid, const char *path, uid_t uid, gid_t gid, int32_t type_hint,
		       int out)
{
	static const char url_a[] = "inproc://zmqscope-calibration-a";
	static const char url_b[] = "inproc://zmqscope-calibration-b";
	void *socks[CALIBRATION_TYPES] = { 0 };
	ctx_new_fn ctx_new;
	socket_fn make_socket;
	bind_fn bind_socket;
	version_fn version;
	int32_t type_off, tag_off, ep_off = -1;
	char why[160] = "";
	int major = 0, minor = 0, patch = 0;
	void *lib, *ctx;

	if (isolate(out))
		_exit(1);
	alarm(CALIBRATE_TIMEOUT_MS / 1000);
	if (enter_target(pid, uid, gid, why, sizeof(why))) {
		dprintf(3, "err %s\n", why);
		_exit(1);
	}
	lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		dprintf(3, "err dlopen: %.150s\n", dlerror());
		_exit(1);
	}
	ctx_new = (ctx_new_fn)dlsym(lib, "zmq_ctx_new");
	make_socket = (socket_fn)dlsym(lib, "zmq_socket");
	bind_socket = (bind_fn)dlsym(lib, "zmq_bind");
	version = (version_fn)dlsym(lib, "zmq_version");
	if (!ctx_new || !make_socket || !bind_socket || !version) {
		dprintf(3, "err the library lacks part of the libzmq API\n");
		_exit(1);
	}
	version(&major, &minor, &patch);
	ctx = ctx_new();
	if (!ctx) {
		dprintf(3, "err zmq_ctx_new failed\n");
		_exit(1);
	}
	for (int t = 0; t < CALIBRATION_TYPES; t++) {
		socks[t] = make_socket(ctx, t);
		if (!socks[t]) {
			dprintf(3, "err zmq_socket(%d) failed\n", t);
			_exit(1);
		}
	}
	type_off = find_type_offset(socks, type_hint);
	tag_off = find_tag_offset(socks);
	if (!bind_socket(socks[ZMQ_PULL_TYPE], url_a) && !bind_socket(socks[ZMQ_ROUTER_TYPE], url_b))
		ep_off = find_endpoint_offset(socks[ZMQ_PULL_TYPE], url_a, socks[ZMQ_ROUTER_TYPE],
					      url_b);
	dprintf(3, "ok %d.%d.%d %d %d %d\n", major, minor, patch, type_off, tag_off, ep_off);
	/* No zmq_ctx_term: the process ends here, and its I/O threads with it. */
	_exit(0);
}

static int target_ids(pid_t pid, uid_t *uid, gid_t *gid)
{
	char path[64], line[256];
	bool have_uid = false, have_gid = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long real, eff;

		if (sscanf(line, "Uid: %lu %lu", &real, &eff) == 2)
			*uid = (uid_t)eff, have_uid = true;
		else if (sscanf(line, "Gid: %lu %lu", &real, &eff) == 2)
			*gid = (gid_t)eff, have_gid = true;
	}
	fclose(f);
	if (!have_uid || !have_gid)
		return -EIO;
	/* A root target's library would run as host root: use nobody instead. */
	if (*uid == 0)
		*uid = NOBODY, *gid = NOBODY;
	return 0;
}

/*
 * Forks the child (no exec: there is no command line to forge) and reads
 * its one line; the child never outlives the timeout.
 */
int calibration_child_run(pid_t pid, const char *target_path, int32_t type_hint, char *line,
			  size_t n)
{
	int fds[2], status, rc;
	uid_t uid = NOBODY;
	gid_t gid = NOBODY;
	pid_t child;
	size_t got = 0;
	struct timespec start, now;

	if ((rc = target_ids(pid, &uid, &gid)))
		return rc;
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	child = fork();
	if (child < 0) {
		rc = -errno;
		close(fds[0]);
		close(fds[1]);
		return rc;
	}
	if (child == 0)
		child_main(pid, target_path, uid, gid, type_hint, fds[1]);
	close(fds[1]);
	clock_gettime(CLOCK_MONOTONIC, &start);
	rc = -EIO;
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		long left;
		ssize_t r;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = CALIBRATE_TIMEOUT_MS - ((now.tv_sec - start.tv_sec) * 1000 +
					       (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			rc = -ETIMEDOUT;
			break;
		}
		r = read(fds[0], line + got, n - 1 - got);
		if (r <= 0) {
			rc = got ? 0 : -EIO;
			break;
		}
		got += (size_t)r;
		if (memchr(line, '\n', got) || got == n - 1) {
			rc = 0;
			break;
		}
	}
	line[got] = '\0';
	line[strcspn(line, "\n")] = '\0';
	close(fds[0]);
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	return rc;
}

