// SPDX-License-Identifier: MIT
#include "process_selector.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc_files.h"

#define TCP_LISTEN 0x0A
#define MAX_NETNS 64
#define MAX_LISTENERS 64

/* The end of the bracket expression opening at p[0] == '[', or NULL if it never closes. */
static const char *bracket_end(const char *p)
{
	p++;
	if (*p == '^')
		p++;
	if (*p == ']') /* first, it is a member */
		p++;
	while (*p && *p != ']') {
		if (p[0] == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
			char close[3] = { p[1], ']', '\0' };
			const char *end = strstr(p + 2, close);

			if (!end)
				return NULL;
			p = end + 2;
		} else {
			p++;
		}
	}
	return *p ? p : NULL;
}

bool regex_has_back_reference(const char *pattern)
{
	for (const char *p = pattern; *p; p++) {
		if (*p == '[') {
			/* Inside brackets a backslash is an ordinary character. */
			const char *end = bracket_end(p);

			if (!end)
				return false;
			p = end;
		} else if (*p == '\\') {
			if (p[1] >= '1' && p[1] <= '9')
				return true;
			if (!p[1])
				return false;
			p++;
		}
	}
	return false;
}

int process_selector_init(struct process_selector *s, const struct zs_options *o, char *err,
			  size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->self = getpid();
	for (size_t i = 0; i < o->nnames; i++) {
		int rc;

		/*
		 * POSIX EREs have none, but glibc accepts \1 and then backtracks:
		 * (.*)(.*)(.*)\3\2\1x takes seconds on 50 bytes, and command lines
		 * run to 4 kB.  Without them glibc's matcher stays polynomial.
		 */
		if (regex_has_back_reference(o->names[i])) {
			snprintf(err, errlen,
				 "--name '%s': back-references (\\1...\\9) are not supported, as "
				 "they can take exponential time; write the pattern without them",
				 o->names[i]);
			process_selector_free(s);
			return -EINVAL;
		}
		rc = regcomp(&s->names[i], o->names[i], REG_EXTENDED | REG_NOSUB);
		if (rc) {
			char why[128];

			regerror(rc, &s->names[i], why, sizeof(why));
			snprintf(err, errlen, "--name '%s': %s", o->names[i], why);
			process_selector_free(s);
			return -EINVAL;
		}
		s->nnames++;
		s->name_matches_all |= !regexec(&s->names[i], "", 0, NULL, 0);
	}
	memcpy(s->ports, o->ports, o->nports * sizeof(o->ports[0]));
	s->nports = o->nports;
	return 0;
}

void process_selector_free(struct process_selector *s)
{
	for (size_t i = 0; i < s->nnames; i++)
		regfree(&s->names[i]);
	s->nnames = 0;
}

void cmdline_to_text(char *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
}

bool process_matches_name(const struct process_selector *s, pid_t pid)
{
	char path[64], comm[64], cmdline[4096];
	ssize_t n;

	if (pid == s->self || !s->nnames)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (read_text_file(path, comm, sizeof(comm)) <= 0)
		return false;
	comm[strcspn(comm, "\n")] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	n = read_text_file(path, cmdline, sizeof(cmdline));
	if (n > 0) {
		/* The final NUL stays the terminator; trailing blanks go. */
		cmdline_to_text(cmdline, (size_t)n);
		while (n > 0 && cmdline[n - 1] == ' ')
			cmdline[--n] = '\0';
	} else {
		cmdline[0] = '\0'; /* kernel threads have none */
	}
	for (size_t i = 0; i < s->nnames; i++)
		if (!regexec(&s->names[i], comm, 0, NULL, 0) ||
		    (cmdline[0] && !regexec(&s->names[i], cmdline, 0, NULL, 0)))
			return true;
	return false;
}

bool tcp_line_listening(const char *line, uint16_t *port, uint64_t *inode)
{
	unsigned int lport, state;
	unsigned long long ino;
	char local[64];

	/* sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode */
	if (sscanf(line, " %*u: %63[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %llu",
		   local, &lport, &state, &ino) != 4)
		return false;
	if (state != TCP_LISTEN || lport > 65535)
		return false;
	*port = (uint16_t)lport;
	*inode = ino;
	return true;
}

/* Inodes of sockets listening on the selected ports, in one network namespace. */
struct netns_listeners {
	uint64_t netns;
	uint64_t inodes[MAX_LISTENERS];
	size_t n;
};

static void read_listeners(const struct process_selector *s, pid_t pid, struct netns_listeners *l)
{
	static const char *const files[] = { "tcp", "tcp6" };
	char path[64], *line = NULL;
	size_t cap = 0;

	for (size_t f = 0; f < 2; f++) {
		FILE *fp;

		snprintf(path, sizeof(path), "/proc/%d/net/%s", (int)pid, files[f]);
		fp = fopen(path, "re");
		if (!fp)
			continue;
		while (getline(&line, &cap, fp) > 0) {
			uint16_t port;
			uint64_t inode;

			if (!tcp_line_listening(line, &port, &inode) || l->n == MAX_LISTENERS)
				continue;
			for (size_t p = 0; p < s->nports; p++)
				if (s->ports[p] == port)
					l->inodes[l->n++] = inode;
		}
		fclose(fp);
	}
	free(line);
}

static bool owns_socket(pid_t pid, const struct netns_listeners *l)
{
	char path[64], link[64];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		unsigned long long ino;
		char fdpath[320];
		ssize_t n;

		snprintf(fdpath, sizeof(fdpath), "%s/%s", path, de->d_name);
		n = readlink(fdpath, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (sscanf(link, "socket:[%llu]", &ino) != 1)
			continue;
		for (size_t i = 0; i < l->n; i++)
			found |= l->inodes[i] == ino;
	}
	closedir(d);
	return found;
}

static bool listens_on_port(const struct process_selector *s, pid_t pid,
			    struct netns_listeners *cache, size_t *ncache)
{
	char path[64];
	struct stat st;
	struct netns_listeners *l = NULL;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	if (stat(path, &st))
		return false;
	for (size_t i = 0; i < *ncache; i++)
		if (cache[i].netns == st.st_ino)
			l = &cache[i];
	if (!l) {
		if (*ncache == MAX_NETNS)
			return false;
		l = &cache[(*ncache)++];
		l->netns = st.st_ino;
		l->n = 0;
		read_listeners(s, pid, l);
	}
	return l->n && owns_socket(pid, l);
}

/*
 * SIGTERM and SIGINT are blocked and read from a signalfd between scans: a
 * walk over thousands of processes gives way to one as soon as it arrives.
 */
static bool stop_signal_pending(void)
{
	sigset_t pending;

	return !sigpending(&pending) &&
	       (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1);
}

void process_selector_scan(const struct process_selector *s, void (*fn)(pid_t pid, void *arg),
			   void *arg)
{
	struct netns_listeners *cache = NULL;
	size_t ncache = 0;
	struct dirent *de;
	DIR *proc;

	if (!process_selector_dynamic(s))
		return;
	if (s->nports)
		cache = calloc(MAX_NETNS, sizeof(*cache));
	proc = opendir("/proc");
	if (!proc) {
		free(cache);
		return;
	}
	while ((de = readdir(proc)) && !stop_signal_pending()) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0 || pid == s->self)
			continue;
		if (process_matches_name(s, (pid_t)pid) ||
		    (cache && listens_on_port(s, (pid_t)pid, cache, &ncache)))
			fn((pid_t)pid, arg);
	}
	closedir(proc);
	free(cache);
}
