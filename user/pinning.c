// SPDX-License-Identifier: MIT
#include "pinning.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

int pin_prepare(const char *dir)
{
	struct statfs fs;

	if (statfs(ZS_BPFFS, &fs) || fs.f_type != BPF_FS_MAGIC) {
		if (mkdir(ZS_BPFFS, 0700) && errno != EEXIST)
			return -errno;
		if (mount("bpf", ZS_BPFFS, "bpf", 0, "mode=0700"))
			return -errno;
	}
	return mkdir_p(dir);
}

void pin_dir_for(int id, char *out, size_t n)
{
	snprintf(out, n, "%s/%d", ZS_PIN_ROOT, id);
}

bool pin_dir_exists(int id)
{
	char path[PATH_MAX];
	struct stat st;

	pin_dir_for(id, path, sizeof(path));
	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

void pin_link_dir(const char *dir, pid_t pid, uint64_t start_time, char *out, size_t n)
{
	snprintf(out, n, "%s/links/%d-%" PRIu64, dir, (int)pid, start_time);
}

int pin_remove_tree(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int rc = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char child[PATH_MAX];
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(child, sizeof(child), "%s/%s", path, de->d_name) >= (int)sizeof(child))
			continue;
		if (!lstat(child, &st) && S_ISDIR(st.st_mode))
			rc = pin_remove_tree(child) ?: rc;
		else if (unlink(child) && errno != ENOENT)
			rc = -errno;
	}
	closedir(d);
	if (rmdir(path) && errno != ENOENT)
		rc = -errno;
	return rc;
}

bool pin_parse_link_dir_name(const char *name, pid_t *pid, uint64_t *start_time)
{
	char *end;
	long p;
	unsigned long long st;

	errno = 0;
	p = strtol(name, &end, 10);
	if (errno || p <= 0 || p > INT_MAX || *end != '-' || !end[1])
		return false;
	st = strtoull(end + 1, &end, 10);
	if (errno || *end)
		return false;
	*pid = (pid_t)p;
	*start_time = st;
	return true;
}

void pin_for_each_link_dir(const char *dir, pin_link_dir_fn fn, void *arg)
{
	char links[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(links, sizeof(links), "%s/links", dir);
	d = opendir(links);
	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		uint64_t start;
		pid_t pid;

		if (!pin_parse_link_dir_name(de->d_name, &pid, &start))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", links, de->d_name) < (int)sizeof(path))
			fn(pid, start, path, arg);
	}
	closedir(d);
}
