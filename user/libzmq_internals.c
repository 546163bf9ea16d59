// SPDX-License-Identifier: MIT
#include "libzmq_internals.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "x86_calls.h"

#define MAX_BODY 1024 /* zmq_msg_send/recv are ~100 bytes; a debug build more */
#define MAX_CALLS 16

/* The first bytes of a function's body, as many as the file has; its length. */
static size_t read_body(const struct zmq_object *o, const struct elf_symbol *fn, uint8_t *code)
{
	size_t len = fn->size && fn->size < MAX_BODY ? fn->size : MAX_BODY;

	/* A symbol of unknown size near the end of the file: read less. */
	while (elf_read_at(o->host_path, fn->file_offset, code, len))
		if ((len /= 2) < 16)
			return 0;
	return len;
}

/* The direct calls of one function, minus PLT stubs and zmq_msg_size. */
static size_t own_calls(const struct zmq_object *o, const struct elf_symbol *fn, uint64_t *out)
{
	const struct elf_symbol *size_fn = &o->syms[ZS_FN_MSG_SIZE];
	uint64_t all[MAX_CALLS], off;
	uint8_t *code = malloc(MAX_BODY);
	size_t n, kept = 0;

	if (!code)
		return 0;
	n = x86_call_targets(code, read_body(o, fn, code), fn->vaddr, all, MAX_CALLS);
	free(code);
	for (size_t i = 0; i < n; i++) {
		if (size_fn->found && all[i] == size_fn->vaddr)
			continue;
		if (elf_code_offset(o->host_path, all[i], &off))
			continue;
		out[kept++] = all[i];
	}
	return kept;
}

/*
 * zmq_proxy, zmq_proxy_steerable and zmq_device check their arguments and
 * tail-jump to libzmq's proxy(frontend, backend, capture, ...), whose
 * first instruction is a push the kernel emulates, where theirs is a test
 * it must single-step.  Each wrapper is probed at its target instead; a
 * target already probed for another wrapper is not probed twice.  The
 * proxy function takes (frontend, backend, capture) as zmq_proxy does;
 * zmq_device is redirected only when it shares its target with one of the
 * others, since its own program expects zmq_device's arguments.
 */
static void redirect_proxies(struct zmq_object *o)
{
	static const enum zs_func wrappers[] = { ZS_FN_PROXY, ZS_FN_PROXY_STEERABLE, ZS_FN_DEVICE };
	uint64_t targets[3] = { 0 };
	uint8_t *code = malloc(MAX_BODY);

	if (!code)
		return;
	for (size_t i = 0; i < 3; i++) {
		struct elf_symbol *w = &o->syms[wrappers[i]];
		uint64_t t, off;
		bool dup = false;

		if (!w->found)
			continue;
		t = x86_first_jump(code, read_body(o, w, code), w->vaddr);
		if (!t || elf_code_offset(o->host_path, t, &off))
			continue;
		for (size_t k = 0; k < i; k++)
			dup |= targets[k] == t;
		if (dup) {
			w->found = false; /* its target is probed already */
			continue;
		}
		if (wrappers[i] == ZS_FN_DEVICE)
			continue;
		targets[i] = t;
		w->vaddr = t;
		w->file_offset = off;
		w->size = 0;
		w->name = "zmq::proxy";
	}
	free(code);
}

/*
 * Where the public functions of one direction call the internal function
 * `internal` (see struct public_calls).  A public function the object
 * defines leaves the list incomplete when no call of it is found, or when
 * its body (of known size) could not be decoded to the end, since a call
 * past that point would be taken for a proxy's.
 */
static void find_public_calls(const struct zmq_object *o, const enum zs_func *fns, size_t nfns,
			      const struct elf_symbol *internal, struct public_calls *pc)
{
	uint8_t *code = malloc(MAX_BODY);

	memset(pc, 0, sizeof(*pc));
	if (!code)
		return;
	pc->complete = internal->found;
	for (size_t i = 0; i < nfns && pc->complete; i++) {
		const struct elf_symbol *fn = &o->syms[fns[i]];
		size_t len, n;
		bool whole;

		if (!fn->found)
			continue;
		len = read_body(o, fn, code);
		n = x86_calls_to(code, len, fn->vaddr, internal->vaddr, pc->ret + pc->n,
				 ZS_PUBLIC_CALLS_MAX - pc->n, &whole);
		pc->n += n;
		pc->complete = n > 0 && (whole || !fn->size || len < fn->size);
	}
	free(code);
}

void libzmq_find_internals(struct zmq_object *o)
{
	struct elf_symbol *send = &o->syms[ZS_FN_INTERNAL_SEND], *recv = &o->syms[ZS_FN_INTERNAL_RECV];
	uint64_t sc[MAX_CALLS], rc[MAX_CALLS], s_addr, r_addr;
	size_t ns, nr;

#if defined(__x86_64__)
	redirect_proxies(o);
#endif
	if (send->found && recv->found)
		goto named;
#if !defined(__x86_64__)
	return;
#endif
	if (!o->syms[ZS_FN_MSG_SEND].found || !o->syms[ZS_FN_MSG_RECV].found)
		return;
	ns = own_calls(o, &o->syms[ZS_FN_MSG_SEND], sc);
	nr = own_calls(o, &o->syms[ZS_FN_MSG_RECV], rc);
	if (x86_pick_send_recv(sc, ns, rc, nr, &s_addr, &r_addr))
		return;
	if (elf_code_offset(o->host_path, s_addr, &send->file_offset) ||
	    elf_code_offset(o->host_path, r_addr, &recv->file_offset))
		return;
	send->vaddr = s_addr;
	recv->vaddr = r_addr;
	send->found = recv->found = true;
named:
	send->name = "socket_base_t::send";
	recv->name = "socket_base_t::recv";
#if defined(__x86_64__)
	{
		/* zmq_recvmsg and zmq_sendmsg jump to zmq_msg_recv and zmq_msg_send. */
		static const enum zs_func rx[] = { ZS_FN_MSG_RECV, ZS_FN_RECV, ZS_FN_RECVIOV };
		static const enum zs_func tx[] = { ZS_FN_MSG_SEND, ZS_FN_SEND, ZS_FN_SEND_CONST,
						   ZS_FN_SENDIOV };

		find_public_calls(o, rx, sizeof(rx) / sizeof(rx[0]), recv, &o->rx_calls);
		find_public_calls(o, tx, sizeof(tx) / sizeof(tx[0]), send, &o->tx_calls);
	}
#endif
}

_Static_assert(ZS_PUBLIC_CALLS_MAX <= ZS_CALL_SITES_MAX,
	       "every public call site found must fit a call_sites entry");

int call_sites_entry(const struct public_calls *pc, uint64_t probe_vaddr,
		     struct zs_call_sites *out)
{
	memset(out, 0, sizeof(*out));
	if (!pc->complete || !pc->n)
		return -ENOENT;
	if (pc->n > ZS_CALL_SITES_MAX)
		return -E2BIG;
	for (size_t i = 0; i < pc->n; i++)
		out->delta[i] = (int64_t)(pc->ret[i] - probe_vaddr);
	out->n = (uint32_t)pc->n;
	return 0;
}
