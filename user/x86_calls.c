// SPDX-License-Identifier: MIT
#include "x86_calls.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* Bytes a ModRM operand takes (ModRM, SIB, displacement), or 0 if cut short. */
static size_t modrm_length(const uint8_t *c, size_t len)
{
	uint8_t mod, rm;
	size_t n = 1;

	if (len < 1)
		return 0;
	mod = c[0] >> 6;
	rm = c[0] & 7;
	if (mod == 3)
		return 1;
	if (rm == 4) {
		if (len < 2)
			return 0;
		if (mod == 0 && (c[1] & 7) == 5)
			n += 4; /* no base: disp32 */
		n++;
	} else if (mod == 0 && rm == 5) {
		n += 4; /* rip-relative */
	}
	if (mod == 1)
		n += 1;
	else if (mod == 2)
		n += 4;
	return n <= len ? n : 0;
}

/* Two-byte (0x0f) opcodes: ModRM bytes plus immediate, or 0 if unknown. */
static size_t twobyte_length(const uint8_t *c, size_t len)
{
	uint8_t op;
	size_t m;

	if (len < 1)
		return 0;
	op = c[0];
	if (op == 0x05 || op == 0x0b || op == 0xa2 || (op >= 0xc8 && op <= 0xcf))
		return 1; /* syscall, ud2, cpuid, bswap */
	if (op >= 0x80 && op <= 0x8f)
		return len >= 5 ? 5 : 0; /* jcc rel32 */
	if (op == 0x38 || op == 0x3a) {
		if (len < 2)
			return 0;
		m = modrm_length(c + 2, len - 2);
		if (!m)
			return 0;
		m += 2 + (op == 0x3a);
		return m <= len ? m : 0;
	}
	if ((op >= 0x10 && op <= 0x17) || (op >= 0x18 && op <= 0x1f) ||
	    (op >= 0x28 && op <= 0x2f) || (op >= 0x40 && op <= 0x6f) ||
	    (op >= 0x74 && op <= 0x76) || (op >= 0x7e && op <= 0x7f) ||
	    (op >= 0x90 && op <= 0x9f) || op == 0xa3 || op == 0xab || op == 0xaf ||
	    op == 0xb0 || op == 0xb1 || (op >= 0xb6 && op <= 0xb7) || (op >= 0xbc && op <= 0xbf) ||
	    op == 0xc0 || op == 0xc1 || (op >= 0xd0 && op <= 0xfe)) {
		m = modrm_length(c + 1, len - 1);
		return m ? 1 + m : 0;
	}
	if (op == 0x70 || (op >= 0x71 && op <= 0x73) || op == 0xa4 || op == 0xac || op == 0xba ||
	    op == 0xc2 || (op >= 0xc4 && op <= 0xc6)) {
		m = modrm_length(c + 1, len - 1);
		return m && 2 + m <= len ? 2 + m : 0;
	}
	return 0;
}

/* One-byte opcodes after the prefixes; `rexw` and `opsize` change immediates. */
static size_t onebyte_length(const uint8_t *c, size_t len, bool rexw, bool opsize)
{
	size_t imm32 = opsize ? 2 : 4, m, need;
	uint8_t op = c[0];

	if (op == 0x0f)
		return len > 1 && twobyte_length(c + 1, len - 1) ? 1 + twobyte_length(c + 1, len - 1)
								 : 0;
	if (op < 0x40 && (op & 7) < 6) {
		switch (op & 7) {
		case 4:
			return len >= 2 ? 2 : 0;
		case 5:
			return len >= 1 + imm32 ? 1 + imm32 : 0;
		default:
			m = modrm_length(c + 1, len - 1);
			return m ? 1 + m : 0;
		}
	}
	if ((op >= 0x50 && op <= 0x5f) || (op >= 0x90 && op <= 0x99) || op == 0xc3 ||
	    op == 0xc9 || op == 0xcc || op == 0xf4 || op == 0xfc || op == 0xfd)
		return 1;
	if ((op >= 0x70 && op <= 0x7f) || op == 0xeb || op == 0x6a || op == 0xa8 ||
	    (op >= 0xb0 && op <= 0xb7))
		return len >= 2 ? 2 : 0;
	if (op == 0xe8 || op == 0xe9 || op == 0x68)
		return len >= 5 ? 5 : 0;
	if (op == 0xa9)
		return len >= 1 + imm32 ? 1 + imm32 : 0;
	if (op >= 0xb8 && op <= 0xbf) {
		need = 1 + (rexw ? 8 : imm32);
		return len >= need ? need : 0;
	}
	if (op == 0xc2)
		return len >= 3 ? 3 : 0;
	need = 0;
	switch (op) {
	case 0x63: case 0x84: case 0x85: case 0x86: case 0x87: case 0x88: case 0x89:
	case 0x8a: case 0x8b: case 0x8c: case 0x8d: case 0x8e: case 0x8f:
	case 0xd0: case 0xd1: case 0xd2: case 0xd3: case 0xfe: case 0xff:
		break;
	case 0x80: case 0x83: case 0xc0: case 0xc1: case 0xc6: case 0x6b:
		need = 1;
		break;
	case 0x81: case 0xc7: case 0x69:
		need = imm32;
		break;
	case 0xf6: case 0xf7:
		if (len >= 2 && ((c[1] >> 3) & 7) < 2)
			need = op == 0xf6 ? 1 : imm32; /* test r/m, imm */
		break;
	default:
		return 0;
	}
	m = modrm_length(c + 1, len - 1);
	if (!m || 1 + m + need > len)
		return 0;
	return 1 + m + need;
}

size_t x86_insn_length(const uint8_t *code, size_t len)
{
	bool rexw = false, opsize = false;
	size_t p = 0, n;

	/* Legacy prefixes (operand size, rep, segment/notrack), then REX. */
	while (p < len && p < 4 &&
	       (code[p] == 0x66 || code[p] == 0xf2 || code[p] == 0xf3 || code[p] == 0x2e ||
		code[p] == 0x3e || code[p] == 0x64)) {
		opsize |= code[p] == 0x66;
		p++;
	}
	if (p < len && (code[p] & 0xf0) == 0x40) {
		rexw = code[p] & 8;
		p++;
	}
	if (p >= len)
		return 0;
	n = onebyte_length(code + p, len - p, rexw, opsize);
	return n ? p + n : 0;
}

/*
 * Walks the instructions of `code`, storing for each `call rel32` its
 * target into targets[] and its return address into rets[] (either may be
 * NULL), keeping only calls of `only` unless it is 0.  *whole, if given:
 * the walk reached the end, and no `jmp rel32` goes to `only` (a tail call,
 * whose callee returns to wherever the caller would have).
 */
static size_t walk_calls(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t only,
			 uint64_t *targets, uint64_t *rets, size_t max, bool *whole)
{
	size_t off = 0, found = 0;
	bool tail = false;

	while (off < len && found < max) {
		size_t n = x86_insn_length(code + off, len - off);

		if (!n)
			break;
		if (n == 5 && code[off] == 0xe9 && only) {
			int32_t rel;

			memcpy(&rel, code + off + 1, sizeof(rel));
			tail |= vaddr + off + 5 + (uint64_t)(int64_t)rel == only;
		}
		if (n == 5 && code[off] == 0xe8) {
			uint64_t ret = vaddr + off + 5, target;
			int32_t rel;

			memcpy(&rel, code + off + 1, sizeof(rel));
			target = ret + (uint64_t)(int64_t)rel;
			if (!only || target == only) {
				if (targets)
					targets[found] = target;
				if (rets)
					rets[found] = ret;
				found++;
			}
		}
		off += n;
	}
	if (whole)
		*whole = off >= len && !tail;
	return found;
}

size_t x86_call_targets(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t *out,
			size_t max)
{
	return walk_calls(code, len, vaddr, 0, out, NULL, max, NULL);
}

size_t x86_calls_to(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t target,
		    uint64_t *out, size_t max, bool *whole)
{
	*whole = false;
	return target ? walk_calls(code, len, vaddr, target, NULL, out, max, whole) : 0;
}

uint64_t x86_first_jump(const uint8_t *code, size_t len, uint64_t vaddr)
{
	size_t off = 0;

	while (off < len) {
		size_t n = x86_insn_length(code + off, len - off);

		if (!n)
			return 0;
		if (n == 5 && code[off] == 0xe9) {
			int32_t rel;

			memcpy(&rel, code + off + 1, sizeof(rel));
			return vaddr + off + 5 + (uint64_t)(int64_t)rel;
		}
		off += n;
	}
	return 0;
}

static bool contains(const uint64_t *v, size_t n, uint64_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

int x86_pick_send_recv(const uint64_t *send_calls, size_t nsend, const uint64_t *recv_calls,
		       size_t nrecv, uint64_t *send, uint64_t *recv)
{
	*send = *recv = 0;
	for (size_t i = 0; i < nsend && !*send; i++)
		if (!contains(recv_calls, nrecv, send_calls[i]))
			*send = send_calls[i];
	for (size_t i = 0; i < nrecv && !*recv; i++)
		if (!contains(send_calls, nsend, recv_calls[i]))
			*recv = recv_calls[i];
	return *send && *recv && *send != *recv ? 0 : -ENOENT;
}
