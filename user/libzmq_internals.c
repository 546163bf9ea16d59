// SPDX-License-Identifier: MIT
#include "libzmq_internals.h"

#include <stdlib.h>

#include "x86_calls.h"

#define MAX_BODY 1024 /* zmq_msg_send/recv are ~100 bytes; a debug build more */
#define MAX_CALLS 16

/* The direct calls of one function, minus PLT stubs and zmq_msg_size. */
static size_t own_calls(const struct zmq_object *o, const struct elf_symbol *fn, uint64_t *out)
{
	const struct elf_symbol *size_fn = &o->syms[ZS_FN_MSG_SIZE];
	uint64_t all[MAX_CALLS], off;
	uint8_t *code;
	size_t len = fn->size && fn->size < MAX_BODY ? fn->size : MAX_BODY, n, kept = 0;

	code = malloc(len);
	if (!code)
		return 0;
	/* A symbol near the end of the file may be shorter than MAX_BODY. */
	while (len > 16 && elf_read_at(o->host_path, fn->file_offset, code, len))
		len /= 2;
	n = x86_call_targets(code, len, fn->vaddr, all, MAX_CALLS);
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

void libzmq_find_internals(struct zmq_object *o)
{
	struct elf_symbol *send = &o->syms[ZS_FN_INTERNAL_SEND], *recv = &o->syms[ZS_FN_INTERNAL_RECV];
	uint64_t sc[MAX_CALLS], rc[MAX_CALLS], s_addr, r_addr;
	size_t ns, nr;

	if (send->found && recv->found)
		goto named;
#if !defined(__x86_64__)
	return;
#endif
	if ( !o->syms[ZS_FN_MSG_SEND].found ||
	    !o->syms[ZS_FN_MSG_RECV].found)
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
}
