// SPDX-License-Identifier: MIT
#include "calibrate.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "elf_symbols.h"

#define CALIBRATE_TIMEOUT_MS 5000
#define SCAN_BYTES 4096
#define NOBODY 65534
/* PAIR..STREAM exist in every libzmq build; the draft types may not. */
#define CALIBRATION_TYPES 12
#define ZMQ_PULL_TYPE 7
#define ZMQ_ROUTER_TYPE 6

const char *layout_source_name(enum layout_source s)
{
	switch (s) {
	case LAYOUT_MEASURED:
		return "measured";
	case LAYOUT_TABLE:
		return "table";
	default:
		return "none";
	}
}

/* ---- child ------------------------------------------------------------ */

/* Reads our own memory without faulting on an unmapped byte. */
static bool safe_read(void *dst, const void *src, size_t n)
{
	struct iovec local = { dst, n }, remote = { (void *)src, n };

	return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n;
}

typedef void *(*ctx_new_fn)(void);
typedef void *(*socket_fn)(void *, int);
typedef int (*close_fn)(void *);
typedef int (*term_fn)(void *);
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
	if (setgroups(0, NULL) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid) ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		snprintf(why, n, "dropping privileges: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int calibrate_child_main(int argc, char **argv)
{
	static const char url_a[] = "inproc://zmqscope-calibration-a";
	static const char url_b[] = "inproc://zmqscope-calibration-b";
	void *socks[CALIBRATION_TYPES] = { 0 };
	ctx_new_fn ctx_new;
	socket_fn make_socket;
	close_fn close_socket;
	term_fn term;
	bind_fn bind_socket;
	version_fn version;
	int32_t type_off, tag_off, ep_off = -1;
	char why[160] = "";
	int major = 0, minor = 0, patch = 0;
	void *lib, *ctx;
	pid_t pid;

	if (argc != 6) {
		printf("err usage: __calibrate PID PATH UID GID\n");
		return 2;
	}
	pid = atoi(argv[2]);
	alarm(CALIBRATE_TIMEOUT_MS / 1000);
	if (enter_target(pid, (uid_t)strtoul(argv[4], NULL, 10),
			 (gid_t)strtoul(argv[5], NULL, 10), why, sizeof(why))) {
		printf("err %s\n", why);
		return 1;
	}
	lib = dlopen(argv[3], RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		printf("err dlopen: %s\n", dlerror());
		return 1;
	}
	ctx_new = (ctx_new_fn)dlsym(lib, "zmq_ctx_new");
	make_socket = (socket_fn)dlsym(lib, "zmq_socket");
	close_socket = (close_fn)dlsym(lib, "zmq_close");
	term = (term_fn)dlsym(lib, "zmq_ctx_term");
	bind_socket = (bind_fn)dlsym(lib, "zmq_bind");
	version = (version_fn)dlsym(lib, "zmq_version");
	if (!ctx_new || !make_socket || !close_socket || !term || !bind_socket || !version) {
		printf("err the library lacks part of the libzmq API\n");
		return 1;
	}
	version(&major, &minor, &patch);
	ctx = ctx_new();
	if (!ctx) {
		printf("err zmq_ctx_new failed\n");
		return 1;
	}
	for (int t = 0; t < CALIBRATION_TYPES; t++) {
		socks[t] = make_socket(ctx, t);
		if (!socks[t]) {
			printf("err zmq_socket(%d) failed\n", t);
			return 1;
		}
	}
	{
		struct zmq_version v = { major, minor, patch };
		struct zmq_layout known;

		zmq_layout_lookup(&v, &known);
		type_off = find_type_offset(socks, known.type_off);
	}
	tag_off = find_tag_offset(socks);
	if (!bind_socket(socks[ZMQ_PULL_TYPE], url_a) && !bind_socket(socks[ZMQ_ROUTER_TYPE], url_b))
		ep_off = find_endpoint_offset(socks[ZMQ_PULL_TYPE], url_a, socks[ZMQ_ROUTER_TYPE],
					      url_b);
	printf("ok %d.%d.%d %d %d %d\n", major, minor, patch, type_off, tag_off, ep_off);
	fflush(stdout);
	for (int t = 0; t < CALIBRATION_TYPES; t++)
		close_socket(socks[t]);
	term(ctx);
	return 0;
}

/* ---- parent ----------------------------------------------------------- */

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

/* Runs the child and reads its one line; the child never outlives the timeout. */
static int run_child(pid_t pid, const char *target_path, char *line, size_t n)
{
	char pidbuf[16], uidbuf[16], gidbuf[16];
	int fds[2], status, rc = -EIO;
	uid_t uid = NOBODY;
	gid_t gid = NOBODY;
	pid_t child;
	size_t got = 0;
	struct timespec start, now;

	if ((rc = target_ids(pid, &uid, &gid)))
		return rc;
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
	snprintf(uidbuf, sizeof(uidbuf), "%u", (unsigned)uid);
	snprintf(gidbuf, sizeof(gidbuf), "%u", (unsigned)gid);
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	child = fork();
	if (child < 0) {
		rc = -errno;
		close(fds[0]);
		close(fds[1]);
		return rc;
	}
	if (child == 0) {
		/* Only async-signal-safe calls between fork and exec: the loader has threads. */
		char *const argv[] = { "zmqscope", "__calibrate", pidbuf, (char *)target_path,
				       uidbuf, gidbuf, NULL };
		char *const envp[] = { NULL };

		dup2(fds[1], STDOUT_FILENO);
		execve("/proc/self/exe", argv, envp);
		_exit(127);
	}
	close(fds[1]);
	clock_gettime(CLOCK_MONOTONIC, &start);
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

static void version_from_file(const char *host_path, uint64_t off, struct calibration *out)
{
	uint8_t code[32];

	if (!off || elf_read_at(host_path, off, code, sizeof(code)))
		return;
	if (!zmq_version_from_code(code, sizeof(code), &out->version))
		out->have_version = true;
}

int calibrate_library(pid_t pid, const char *target_path, const char *host_path,
		      uint64_t version_fn_offset, struct calibration *out)
{
	char line[256];
	int rc;

	memset(out, 0, sizeof(*out));
	out->layout = ZMQ_LAYOUT_UNKNOWN;
	rc = run_child(pid, target_path, line, sizeof(line));
	if (rc == 0 && !strncmp(line, "ok ", 3)) {
		struct zmq_version v;
		int type_off, tag_off, ep_off;

		if (sscanf(line + 3, "%d.%d.%d %d %d %d", &v.major, &v.minor, &v.patch, &type_off,
			   &tag_off, &ep_off) == 6) {
			out->version = v;
			out->have_version = true;
			out->layout = (struct zmq_layout){ type_off, tag_off, ep_off };
			if (type_off >= 0) {
				out->source = LAYOUT_MEASURED;
				return 0;
			}
			snprintf(out->note, sizeof(out->note),
				 "no unique socket-type offset found in this build");
		}
	} else if (rc == 0) {
		snprintf(out->note, sizeof(out->note), "%.190s",
			 !strncmp(line, "err ", 4) ? line + 4 : "calibration child failed");
	} else {
		snprintf(out->note, sizeof(out->note), "calibration child: %s", strerror(-rc));
	}
	if (!out->have_version)
		version_from_file(host_path, version_fn_offset, out);
	if (out->have_version && !zmq_layout_lookup(&out->version, &out->layout))
		out->source = LAYOUT_TABLE;
	else
		out->layout = ZMQ_LAYOUT_UNKNOWN;
	return 0;
}
