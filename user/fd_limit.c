// SPDX-License-Identifier: MIT
#include "fd_limit.h"

#include <dirent.h>
#include <string.h>

#include "errmsg.h"

int fd_limit_raise(struct rlimit *now)
{
	if (getrlimit(RLIMIT_NOFILE, now))
		return -errno;
	if (now->rlim_cur == now->rlim_max)
		return 0;
	now->rlim_cur = now->rlim_max;
	if (setrlimit(RLIMIT_NOFILE, now)) {
		int rc = -errno;

		getrlimit(RLIMIT_NOFILE, now);
		return rc;
	}
	return 0;
}

int fd_limit_describe(int rc, pid_t pid, char *err, size_t errlen)
{
	struct rlimit nofile = { 0 };

	/* Not the target's fault, and not for good: say which limit, and that it is retried. */
	getrlimit(RLIMIT_NOFILE, &nofile);
	return errmsg(err, errlen, rc,
		      "out of file descriptors attaching process %d (%s, open-file limit %llu): "
		      "raise LimitNOFILE or ulimit -n; zmqscope retries it",
		      (int)pid, strerror(-rc), (unsigned long long)nofile.rlim_cur);
}

int fd_limit_room_for_target(void)
{
	struct rlimit nofile;
	struct dirent *de;
	unsigned long used = 0;
	DIR *d;

	if (getrlimit(RLIMIT_NOFILE, &nofile) || nofile.rlim_cur == RLIM_INFINITY)
		return 0;
	d = opendir("/proc/self/fd");
	if (!d)
		return errno == EMFILE || errno == ENFILE ? -errno : 0;
	while ((de = readdir(d)))
		used += de->d_name[0] != '.';
	closedir(d);
	return used + ZS_FDS_PER_TARGET + ZS_FDS_HEADROOM > nofile.rlim_cur ? -EMFILE : 0;
}
