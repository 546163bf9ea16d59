/* SPDX-License-Identifier: MIT */
/*
 * The call_sites map (bpf/internal_calls.bpf.h): where a libzmq build's
 * public send and receive functions call its internal ones, so that the
 * internal probes alone can carry the public calls.  Entries are made by
 * call_sites_entry() (libzmq_internals.h).
 */
#ifndef ZS_CALL_SITES_H
#define ZS_CALL_SITES_H

#include <stdint.h>

#include "zmqscope.h"

/*
 * The attach cookie for `cs` in the map `map_fd`: the index of an entry
 * with the same content, or of the first empty one, which is filled, plus
 * one.  Entries are never freed: a build is a few dozen bytes, and an
 * earlier daemon's pinned links keep pointing at theirs.  -ENOSPC when the
 * map is full, or a negative errno from the map.
 */
int call_sites_claim(int map_fd, const struct zs_call_sites *cs, uint64_t *cookie);

#endif
