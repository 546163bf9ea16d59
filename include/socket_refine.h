/* SPDX-License-Identifier: MIT */
/*
 * What memory calibration tells the BPF side after the attach:
 *  - the live sockets found at attach are listed in the sockets map, with
 *    their type and endpoint, used or not;
 *  - a target whose layout is still incomplete (no socket existed at attach,
 *    none was bound, the library's file could not be loaded) is measured
 *    again on the handles the probes have seen, and the labels written before
 *    (an unknown type, the literal "tcp://127.0.0.1:*") are put right.
 * Every change goes through the zs_fixup program, in place.
 */
#ifndef ZS_SOCKET_REFINE_H
#define ZS_SOCKET_REFINE_H

struct observer;
struct target;

/* After the probes are attached; frees the calibration's list.  Caller holds no lock. */
void refine_insert_found(struct observer *ob, struct target *t);

/* From the main loop's tick; takes the observer's lock. */
void observer_refine_layouts(struct observer *ob);

#endif
