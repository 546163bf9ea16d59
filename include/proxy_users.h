/* SPDX-License-Identifier: MIT */
/*
 * Can this process run zmq_proxy?  libzmq's own socket_base_t::send and
 * ::recv are probed to count what a proxy moves, and those probes trap on
 * every send and receive the process makes: two traps per message that a
 * process with no proxy pays for nothing.  A proxy can only be started by
 * code that calls zmq_proxy, zmq_proxy_steerable or zmq_device, so a
 * process none of whose mapped objects imports them needs no such probes.
 */
#ifndef ZS_PROXY_USERS_H
#define ZS_PROXY_USERS_H

#include <stdbool.h>
#include <sys/types.h>

struct target;

/*
 * True when some object the process maps imports a proxy entry point, when
 * libzmq is linked into the executable itself (its calls are internal, not
 * imports), or when an object cannot be read (the safe answer).
 */
bool process_may_run_proxy(pid_t pid, const struct target *t);

#endif
