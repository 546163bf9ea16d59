/* SPDX-License-Identifier: MIT */
/*
 * libzmq's internal socket_base_t::send and ::recv, which zmq_proxy and
 * zmq_device call directly: see x86_calls.h for how they are found when
 * the library does not export them.
 */
#ifndef ZS_LIBZMQ_INTERNALS_H
#define ZS_LIBZMQ_INTERNALS_H

#include "libzmq_discovery.h"

/*
 * Fills o->syms[ZS_FN_INTERNAL_SEND] and [ZS_FN_INTERNAL_RECV] from the
 * call targets in zmq_msg_send and zmq_msg_recv, unless the symbol table
 * named them already.  Leaves them not found when the code cannot be read
 * or decoded (x86-64 only).
 */
void libzmq_find_internals(struct zmq_object *o);

#endif
