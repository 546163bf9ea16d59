// SPDX-License-Identifier: MIT
#include "privileges.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

#define BIT(c) (1ULL << (c))
#define CHILD_CAPS (BIT(CAP_SYS_CHROOT) | BIT(CAP_SETUID) | BIT(CAP_SETGID))

uint64_t privileges_needed(bool attaches_later)
{
	uint64_t caps = BIT(CAP_BPF);

	if (attaches_later)
		caps |= BIT(CAP_PERFMON) | BIT(CAP_SYS_PTRACE) | CHILD_CAPS;
	return caps;
}

static int set_caps(uint64_t permitted, uint64_t inheritable)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	for (int i = 0; i < 2; i++) {
		data[i].permitted = (uint32_t)(permitted >> (32 * i));
		data[i].effective = data[i].permitted;
		data[i].inheritable = (uint32_t)(inheritable >> (32 * i));
	}
	return syscall(SYS_capset, &hdr, data) ? -errno : 0;
}

int privileges_drop(const char *user, bool attaches_later, char *err, size_t errlen)
{
	uint64_t keep = privileges_needed(attaches_later);
	struct passwd *pw = getpwnam(user);
	int last_cap = CAP_LAST_CAP;
	FILE *f;

	if (!pw) {
		snprintf(err, errlen, "--user '%s': no such user", user);
		return -ENOENT;
	}
	f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	if (f) {
		if (fscanf(f, "%d", &last_cap) != 1)
			last_cap = CAP_LAST_CAP;
		fclose(f);
	}
	/* Nothing dropped here can come back, not even through exec. */
	for (int c = 0; c <= last_cap; c++)
		if (!(keep & BIT(c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EINVAL)
			goto fail;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || setgroups(0, NULL) ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid))
		goto fail;
	/* The calibration child is forked, never exec'd: nothing is inheritable or ambient. */
	if (set_caps(keep, 0))
		goto fail;
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	return 0;
fail:
	snprintf(err, errlen, "--user '%s': dropping privileges failed: %s", user, strerror(errno));
	return -errno;
}
