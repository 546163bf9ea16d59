/* SPDX-License-Identifier: MIT */
/*
 * libzmq's internal socket_base_t::send and ::recv, which zmq_proxy and
 * zmq_device call directly: see x86_calls.h for how they are found when
 * the library does not export them.
 */
#ifndef ZS_LIBZMQ_INTERNALS_H
#define ZS_LIBZMQ_INTERNALS_H

#include "libzmq_discovery.h"
#include "zmqscope.h"

/*
 * Fills o->syms[ZS_FN_INTERNAL_SEND] and [ZS_FN_INTERNAL_RECV] from the
 * call targets in zmq_msg_send and zmq_msg_recv, unless the symbol table
 * named them already, and o->rx_calls and o->tx_calls with where the public
 * functions call them.  Leaves them not found when the code cannot be read
 * or decoded (x86-64 only).
 */
void libzmq_find_internals(struct zmq_object *o);

/*
 * The call_sites entry for `pc`, an internal function probed at
 * `probe_vaddr`: each return address less the probe's.  -ENOENT if `pc` is
 * not complete or is empty, -E2BIG if it does not fit.
 */
int call_sites_entry(const struct public_calls *pc, uint64_t probe_vaddr,
		     struct zs_call_sites *out);

#endif
