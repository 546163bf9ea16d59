// SPDX-License-Identifier: MIT
#include "probe_site.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *const reg64[16] = {
	"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15",
};

static bool starts_with(const uint8_t *code, size_t len, const uint8_t *pat, size_t n)
{
	return len >= n && !memcmp(code, pat, n);
}

static void hex_bytes(char *dst, size_t n, const uint8_t *code, size_t len)
{
	size_t used = 0;

	dst[0] = '\0';
	for (size_t i = 0; i < len && i < 6 && used + 4 < n; i++)
		used += (size_t)snprintf(dst + used, n - used, "%s%02x", i ? " " : "", code[i]);
}

/* Decodes the few instruction forms the kernel emulates; everything else is stepped. */
static void classify(const uint8_t *c, size_t len, struct probe_site *s)
{
	static const uint8_t nop5[] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	static const char *const jcc[16] = {
		"jo", "jno", "jb", "jae", "je", "jne", "jbe", "ja",
		"js", "jns", "jp", "jnp", "jl", "jge", "jle", "jg",
	};
	size_t rex = (len > 1 && c[0] == 0x41) ? 1 : 0; /* REX.B: push %r8-%r15 */

	s->cost = PROBE_COST_SINGLESTEP;
	s->len = 0;
	if (!len) {
		s->cost = PROBE_COST_UNKNOWN;
		snprintf(s->insn, sizeof(s->insn), "(unreadable)");
		return;
	}
	if (starts_with(c, len, nop5, sizeof(nop5))) {
		s->cost = PROBE_COST_NOP5;
		s->len = 5;
		snprintf(s->insn, sizeof(s->insn), "nopl 0x0(%%rax,%%rax,1)");
		return;
	}
	if (c[rex] >= 0x50 && c[rex] <= 0x57) {
		s->cost = PROBE_COST_EMULATED;
		s->len = (uint8_t)(rex + 1);
		snprintf(s->insn, sizeof(s->insn), "push %%%s", reg64[(c[rex] - 0x50) + rex * 8]);
		return;
	}
	switch (c[0]) {
	case 0x90:
		s->cost = PROBE_COST_EMULATED;
		s->len = 1;
		snprintf(s->insn, sizeof(s->insn), "nop");
		return;
	case 0xe8:
	case 0xe9:
		if (len >= 5) {
			int32_t rel;

			memcpy(&rel, c + 1, sizeof(rel));
			s->cost = PROBE_COST_EMULATED;
			s->len = 5;
			snprintf(s->insn, sizeof(s->insn), "%s .%+d", c[0] == 0xe8 ? "call" : "jmp",
				 rel + 5);
			return;
		}
		break;
	case 0xeb:
		if (len >= 2) {
			s->cost = PROBE_COST_EMULATED;
			s->len = 2;
			snprintf(s->insn, sizeof(s->insn), "jmp .%+d", (int8_t)c[1] + 2);
			return;
		}
		break;
	default:
		if (c[0] >= 0x70 && c[0] <= 0x7f && len >= 2) {
			s->cost = PROBE_COST_EMULATED;
			s->len = 2;
			snprintf(s->insn, sizeof(s->insn), "%s .%+d", jcc[c[0] - 0x70], (int8_t)c[1] + 2);
			return;
		}
	}
	hex_bytes(s->insn, sizeof(s->insn), c, len);
}

void probe_site_choose(const uint8_t *code, size_t len, struct probe_site *out)
{
	static const uint8_t endbr64[] = { 0xf3, 0x0f, 0x1e, 0xfa };

	memset(out, 0, sizeof(*out));
	if (starts_with(code, len, endbr64, sizeof(endbr64)))
		out->skip = sizeof(endbr64);
	classify(code + out->skip, len - out->skip, out);
}

const char *probe_cost_name(enum probe_cost cost)
{
	switch (cost) {
	case PROBE_COST_NOP5:
		return "nop5";
	case PROBE_COST_EMULATED:
		return "emulated";
	case PROBE_COST_SINGLESTEP:
		return "single-step";
	default:
		return "unknown";
	}
}
