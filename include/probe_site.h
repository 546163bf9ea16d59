/* SPDX-License-Identifier: MIT */
/*
 * Where exactly to put a uprobe in a function, and what it will cost.
 *
 * On x86-64 the kernel emulates a few instructions under a uprobe (push of
 * a register, relative jmp/call/jcc, nop) and single-steps every other one,
 * which on the VMs measured here costs ~20 us a hit instead of ~0.6 us.
 * An endbr64 is always single-stepped, so a site that begins with one moves
 * to the next instruction: the CPU's indirect-branch check happens before
 * the breakpoint either way, and the stack is unchanged, so entry and return
 * probes there see the same registers and return address.
 */
#ifndef ZS_PROBE_SITE_H
#define ZS_PROBE_SITE_H

#include <stddef.h>
#include <stdint.h>

enum probe_cost {
	PROBE_COST_UNKNOWN = 0,
	PROBE_COST_NOP5,       /* 5-byte nop: newer kernels patch it into a call */
	PROBE_COST_EMULATED,   /* decoded and emulated by the kernel */
	PROBE_COST_SINGLESTEP, /* executed out of line with a trap: slow */
};

struct probe_site {
	uint32_t skip;	      /* bytes to add to the symbol's offset */
	enum probe_cost cost; /* of the instruction at the site */
	uint8_t len;	      /* its length, 0 if not decoded */
	char insn[48];	      /* e.g. "push %r12", or its bytes in hex */
};

/* `code` holds the function's first bytes (16 is plenty). */
void probe_site_choose(const uint8_t *code, size_t len, struct probe_site *out);

const char *probe_cost_name(enum probe_cost cost);

#endif
