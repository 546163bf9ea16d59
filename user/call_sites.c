// SPDX-License-Identifier: MIT
#include "call_sites.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <string.h>

int call_sites_claim(int map_fd, const struct zs_call_sites *cs, uint64_t *cookie)
{
	for (uint32_t k = 0; k < ZS_MAX_CALL_SITE_SETS; k++) {
		struct zs_call_sites have;

		if (bpf_map_lookup_elem(map_fd, &k, &have))
			return -errno;
		if (have.n && memcmp(&have, cs, sizeof(have)))
			continue;
		if (!have.n && bpf_map_update_elem(map_fd, &k, cs, BPF_ANY))
			return -errno;
		*cookie = (uint64_t)k + 1;
		return 0;
	}
	return -ENOSPC;
}
