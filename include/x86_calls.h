/* SPDX-License-Identifier: MIT */
/*
 * The direct call targets in a piece of x86-64 machine code.  libzmq's
 * internal socket_base_t::send and ::recv have no exported symbol; the
 * public zmq_msg_send and zmq_msg_recv call them, so their addresses are
 * the targets of `call rel32` instructions in those functions' bodies.
 *
 * The decoder knows the instruction lengths of ordinary compiler output
 * (general-purpose, the common SSE forms, endbr64); it stops at the first
 * byte it cannot size, since every later boundary would be a guess.
 */
#ifndef ZS_X86_CALLS_H
#define ZS_X86_CALLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the instruction at `code`, or 0 if it is not one decoded here. */
size_t x86_insn_length(const uint8_t *code, size_t len);

/*
 * Walks `code` (loaded at `vaddr`) and stores the targets of its `call
 * rel32` instructions, in order, into out[0..max).  Returns how many were
 * found (at most max).
 */
size_t x86_call_targets(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t *out,
			size_t max);

/*
 * The return addresses of the `call rel32` instructions in `code` (loaded
 * at `vaddr`) that call `target`, in order, into out[0..max).  Returns how
 * many were found (at most max); *whole says whether every byte of `code`
 * was decoded and no `jmp rel32` tail-calls `target`, so that every call
 * of it from `code` returns to one of those addresses.
 */
size_t x86_calls_to(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t target,
		    uint64_t *out, size_t max, bool *whole);

/*
 * The target of the first `jmp rel32` in `code`: where a thin wrapper such
 * as zmq_proxy tail-jumps to the function that does the work.  0 if none.
 */
uint64_t x86_first_jump(const uint8_t *code, size_t len, uint64_t vaddr);

/*
 * Picks socket_base_t::send and ::recv from the calls of zmq_msg_send and
 * zmq_msg_recv (PLT targets and `skip`, e.g. zmq_msg_size, already left
 * out).  Targets both make (the check-tag helper, __errno_location) are
 * not it; the first call left in each is.  0, or -ENOENT when either list
 * has nothing left or both pick the same function.
 */
int x86_pick_send_recv(const uint64_t *send_calls, size_t nsend, const uint64_t *recv_calls,
		       size_t nrecv, uint64_t *send, uint64_t *recv);

#endif
