/* SPDX-License-Identifier: MIT */
/* Which BPF program goes on which libzmq function, and when. */
#ifndef ZS_PROBE_SPECS_H
#define ZS_PROBE_SPECS_H

#include <stddef.h>

#include "observer.h"

struct probe_spec {
	enum zs_func fn;
	enum probe_kind kind;
	const char *program;
	/* Kernels with uprobe sessions get one program where others get a pair. */
	enum { PROBE_ALWAYS, PROBE_WITH_SESSIONS, PROBE_WITHOUT_SESSIONS } when;
};

extern const struct probe_spec probe_specs[];
extern const size_t probe_spec_count;

#endif
