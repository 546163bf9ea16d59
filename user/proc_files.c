// SPDX-License-Identifier: MIT
#include "proc_files.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ssize_t read_text_file(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return -errno;
	got = read(fd, buf, n - 1);
	close(fd);
	if (got < 0)
		return -errno;
	buf[got] = '\0';
	return got;
}

int proc_stat_parse(const char *text, uint64_t *start_time, char *comm, size_t commlen)
{
	const char *open = strchr(text, '('), *close = strrchr(text, ')');
	unsigned long long start = 0;

	/* comm ends at the last ')', whatever it holds. */
	if (!open || !close || close < open)
		return -EIO;
	if (comm && commlen) {
		size_t len = (size_t)(close - open - 1);

		if (len >= commlen)
			len = commlen - 1;
		memcpy(comm, open + 1, len);
		comm[len] = '\0';
	}
	/* After comm: the state is the 3rd field, the start time the 22nd. */
	if (close[1] != ' ' || !close[2])
		return -EIO;
	if (close[2] == 'Z' || close[2] == 'X')
		return -ESRCH;
	if (sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
			      "%*d %*d %*d %llu",
		   &start) != 1)
		return -EIO;
	if (start_time)
		*start_time = start;
	return 0;
}

int process_identity(pid_t pid, uint64_t *start_time, char *comm, size_t commlen)
{
	char path[64], buf[1024];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = read_text_file(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	return proc_stat_parse(buf, start_time, comm, commlen);
}

bool process_alive(pid_t pid)
{
	if (pid <= 0 || (kill(pid, 0) && errno != EPERM))
		return false;
	return process_identity(pid, NULL, NULL, 0) == 0;
}

long process_vmlib_kb(pid_t pid)
{
	char path[64], buf[4096];
	const char *line;
	ssize_t n;
	long kb;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	n = read_text_file(path, buf, sizeof(buf));
	if (n < 0)
		return n;
	line = strstr(buf, "\nVmLib:");
	if (!line || sscanf(line + 7, " %ld", &kb) != 1)
		return -ENOENT;
	return kb;
}

uint64_t process_exe_inode(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	return stat(path, &st) ? 0 : (uint64_t)st.st_ino;
}
