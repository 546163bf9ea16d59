// SPDX-License-Identifier: MIT
#include "calibrate.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
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

#include "elf_symbols.h"
#include "memory_calibration.h"
#include "strbuf.h"

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
	case LAYOUT_MEMORY:
		return "memory";
	case LAYOUT_DLOPEN:
		return "dlopen";
	case LAYOUT_TABLE:
		return "table";
	default:
		return "none";
	}
}

void calibration_describe(const struct calibration *c, const char *indent, struct strbuf *out)
{
	const struct {
		const char *name, *note;
	} lines[] = { { "memory", c->memory_note },
		      { "dlopen", c->dlopen_note },
		      { "table", c->table_note } };

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		if (lines[i].note[0])
			strbuf_printf(out, "%s%s: %s\n", indent, lines[i].name, lines[i].note);
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

	/* Needs CAP_SETPCAP, which an --user daemon no longer has: its set is already small. */
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

/*
 * Forks the child (no exec: there is no command line to forge) and reads
 * its one line; the child never outlives the timeout.
 */
static int run_child(pid_t pid, const char *target_path, int32_t type_hint, char *line, size_t n)
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

void calibration_release(struct calibration *c)
{
	free(c->found);
	c->found = NULL;
	c->nfound = 0;
}

bool calibration_source_enabled(enum layout_source s)
{
	return calibration_allows(layout_source_name(s));
}

bool calibration_allows(const char *name)
{
	const char *env = getenv(CALIBRATION_SOURCES_ENV);
	size_t len = strlen(name);

	if (!env)
		return true;
	for (const char *p = env; *p;) {
		size_t word = strcspn(p, ",");

		if (word == len && !strncmp(p, name, len))
			return true;
		p += word;
		p += *p == ',';
	}
	return false;
}

static void version_from_file(const char *host_path, uint64_t off, struct calibration *out)
{
	uint8_t code[32];

	if (!off || elf_read_at(host_path, off, code, sizeof(code)))
		return;
	if (!zmq_version_from_code(code, sizeof(code), &out->version))
		out->have_version = true;
}

static bool layout_complete(const struct zmq_layout *l)
{
	return l->type_off >= 0 && l->tag_off >= 0 && l->endpoint_off >= 0;
}

/* Fills what `l` lacks from `from`; says which fields it took. */
static void fill_missing(struct zmq_layout *l, const struct zmq_layout *from, char *took,
			 size_t n)
{
	took[0] = '\0';
	if (l->type_off < 0 && from->type_off >= 0)
		l->type_off = from->type_off, strncat(took, " type", n - strlen(took) - 1);
	if (l->tag_off < 0 && from->tag_off >= 0)
		l->tag_off = from->tag_off, strncat(took, " tag", n - strlen(took) - 1);
	if (l->endpoint_off < 0 && from->endpoint_off >= 0)
		l->endpoint_off = from->endpoint_off, strncat(took, " endpoint", n - strlen(took) - 1);
}

/* Two measurements of the same file must agree where both measured. */
static bool layouts_agree(const struct zmq_layout *a, const struct zmq_layout *b)
{
	return (a->type_off < 0 || b->type_off < 0 || a->type_off == b->type_off) &&
	       (a->tag_off < 0 || b->tag_off < 0 || a->tag_off == b->tag_off) &&
	       (a->endpoint_off < 0 || b->endpoint_off < 0 || a->endpoint_off == b->endpoint_off);
}

static void try_memory(pid_t pid, uint64_t inode, const struct zmq_layout *hint,
		       struct calibration *out, struct zmq_layout *got)
{
	struct memory_calibration mc = { 0 };

	*got = ZMQ_LAYOUT_UNKNOWN;
	if (!calibration_source_enabled(LAYOUT_MEMORY)) {
		snprintf(out->memory_note, sizeof(out->memory_note), "disabled by %s",
			 CALIBRATION_SOURCES_ENV);
		return;
	}
	mc.sockets = calloc(MEMCAL_MAX_SOCKETS, sizeof(*mc.sockets));
	mc.max = mc.sockets ? MEMCAL_MAX_SOCKETS : 0;
	mc.use_known_offsets = calibration_source_enabled(LAYOUT_TABLE);
	memory_calibrate(pid, inode, hint, &mc);
	*got = mc.layout;
	out->found = mc.sockets;
	out->nfound = mc.nsockets;
	out->memory_sockets = (unsigned)mc.measured;
	out->memory_bytes = mc.bytes_read;
	out->memory_ms = mc.elapsed_ms;
	if (mc.note[0])
		snprintf(out->memory_note, sizeof(out->memory_note), "%s", mc.note);
	else
		snprintf(out->memory_note, sizeof(out->memory_note),
			 "measured on %zu live sockets (%.1f MiB read, %u ms)", mc.measured,
			 (double)mc.bytes_read / (1 << 20), mc.elapsed_ms);
}

static void try_dlopen(pid_t pid, const char *target_path, int32_t type_hint,
		       struct calibration *out, struct zmq_layout *got)
{
	struct timespec t0, t1;
	char line[256];
	long ms;
	int rc;

	*got = ZMQ_LAYOUT_UNKNOWN;
	if (!calibration_source_enabled(LAYOUT_DLOPEN)) {
		snprintf(out->dlopen_note, sizeof(out->dlopen_note), "disabled by %s",
			 CALIBRATION_SOURCES_ENV);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = run_child(pid, target_path, type_hint, line, sizeof(line));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
	if (rc) {
		snprintf(out->dlopen_note, sizeof(out->dlopen_note), "calibration child: %s",
			 strerror(-rc));
	} else if (!strncmp(line, "ok ", 3)) {
		struct zmq_version v;
		int type_off, tag_off, ep_off;

		if (sscanf(line + 3, "%d.%d.%d %d %d %d", &v.major, &v.minor, &v.patch, &type_off,
			   &tag_off, &ep_off) != 6) {
			snprintf(out->dlopen_note, sizeof(out->dlopen_note), "calibration child: bad answer");
			return;
		}
		if (!out->have_version)
			out->version = v, out->have_version = true;
		*got = (struct zmq_layout){ type_off, tag_off, ep_off };
		if (type_off >= 0)
			snprintf(out->dlopen_note, sizeof(out->dlopen_note),
				 "measured in the sandboxed child (%ld ms)", ms);
		else
			snprintf(out->dlopen_note, sizeof(out->dlopen_note),
				 "no unique socket-type offset found in this build");
	} else {
		snprintf(out->dlopen_note, sizeof(out->dlopen_note), "%.190s",
			 !strncmp(line, "err ", 4) ? line + 4 : "calibration child failed");
	}
}

/*
 * Memory first.  The child, which runs the library's code, only when memory
 * left a field open that the table cannot fill.  The table last.
 */
int calibrate_library(pid_t pid, const char *target_path, const char *host_path, uint64_t inode,
		      uint64_t version_fn_offset, struct calibration *out)
{
	struct zmq_layout table = ZMQ_LAYOUT_UNKNOWN, mem, dl, l;
	bool have_table;
	char took[32];

	memset(out, 0, sizeof(*out));
	version_from_file(host_path, version_fn_offset, out);
	have_table = calibration_source_enabled(LAYOUT_TABLE) && out->have_version &&
		     !zmq_layout_lookup(&out->version, &table);
	if (!calibration_source_enabled(LAYOUT_TABLE))
		snprintf(out->table_note, sizeof(out->table_note), "disabled by %s",
			 CALIBRATION_SOURCES_ENV);

	try_memory(pid, inode, &table, out, &mem);
	l = mem;
	if (l.type_off >= 0) {
		out->source = LAYOUT_MEMORY;
		if (have_table && !layouts_agree(&mem, &table))
			snprintf(out->table_note, sizeof(out->table_note),
				 "table for %d.%d.%d (type@%d tag@%d endpoint@%d) disagrees; "
				 "the memory is used",
				 out->version.major, out->version.minor, out->version.patch,
				 table.type_off, table.tag_off, table.endpoint_off);
		else if (have_table)
			fill_missing(&l, &table, took, sizeof(took));
		if (have_table && layouts_agree(&mem, &table))
			snprintf(out->table_note, sizeof(out->table_note), "agrees%s%s",
				 took[0] ? "; filled in:" : "", took[0] ? took : "");
		if (layout_complete(&l)) {
			out->layout = l;
			if (!out->dlopen_note[0])
				snprintf(out->dlopen_note, sizeof(out->dlopen_note),
					 "not needed: memory calibration succeeded");
			return 0;
		}
	}

	try_dlopen(pid, target_path, table.type_off, out, &dl);
	if (out->source == LAYOUT_MEMORY) {
		if (!layouts_agree(&mem, &dl))
			snprintf(out->dlopen_note + strlen(out->dlopen_note),
				 sizeof(out->dlopen_note) - strlen(out->dlopen_note),
				 "; disagrees with memory (type@%d tag@%d endpoint@%d)", dl.type_off,
				 dl.tag_off, dl.endpoint_off);
		else
			fill_missing(&l, &dl, took, sizeof(took));
		out->layout = l;
		return 0;
	}
	if (dl.type_off >= 0) {
		out->source = LAYOUT_DLOPEN;
		out->layout = dl;
		if (!have_table && out->have_version && calibration_source_enabled(LAYOUT_TABLE))
			have_table = !zmq_layout_lookup(&out->version, &table);
		if (have_table)
			snprintf(out->table_note, sizeof(out->table_note), "%s",
				 layouts_agree(&dl, &table) ? "agrees" : "disagrees; the child's is used");
		return 0;
	}

	if (!have_table && out->have_version && calibration_source_enabled(LAYOUT_TABLE))
		have_table = !zmq_layout_lookup(&out->version, &table);
	if (!calibration_source_enabled(LAYOUT_TABLE)) {
		snprintf(out->table_note, sizeof(out->table_note), "disabled by %s",
			 CALIBRATION_SOURCES_ENV);
	} else if (have_table) {
		out->source = LAYOUT_TABLE;
		out->layout = table;
		fill_missing(&out->layout, &mem, took, sizeof(took));
		snprintf(out->table_note, sizeof(out->table_note), "used for %d.%d.%d",
			 out->version.major, out->version.minor, out->version.patch);
		return 0;
	} else if (out->have_version) {
		snprintf(out->table_note, sizeof(out->table_note), "no entry for %d.%d.%d",
			 out->version.major, out->version.minor, out->version.patch);
	} else {
		snprintf(out->table_note, sizeof(out->table_note), "library version unknown");
	}
	out->layout = mem;
	return 0;
}
