/* SPDX-License-Identifier: MIT */
/*
 * The observer's attach and detach steps, shared by observer.c (whole
 * processes) and library_watch.c (copies of libzmq that come and go).
 * Callers hold the observer's lock, or own the target alone.
 */
#ifndef ZS_OBSERVER_ATTACH_H
#define ZS_OBSERVER_ATTACH_H

#include "observer.h"

/* An exited process's probes are inert: they wait this long before they go (link_reaper.h). */
#define EXITED_LINK_GRACE_SECONDS 10.0

/* Measures the socket layout of one copy; `fresh`: a process that has just loaded it. */
void calibrate_object(const struct observer *ob, pid_t pid, struct attached_object *ao,
		      bool fresh);

/*
 * Every probe spec on object `obj_index`; how many links attached.  The
 * internal send and receive probes only where the target may run a proxy;
 * there, with uprobe sessions and every public call site known, they carry
 * the public sends and receives too, which then take no probe.
 */
size_t attach_object(struct observer *ob, const struct target *t, size_t obj_index);

/*
 * The internal send and receive probes alone, once a target turns out to be
 * able to run a proxy: beneath the public probes already attached.
 */
void attach_proxy_probes(struct observer *ob, const struct target *t, size_t obj_index);

/*
 * `program` at `sym`, skipping what the probe site says to skip.  A pinned
 * daemon adopts the link an earlier one left at `pin`, and pins what it attaches.
 */
void attach_at(struct observer *ob, pid_t pid, const char *host_path, const char *target_path,
	       const struct elf_symbol *sym, const char *program, enum probe_kind kind,
	       uint64_t cookie, const char *pin, struct probe_link *p);

/* DIR/links/PID-START/NAME for a pinned daemon, else NULL. */
const char *link_pin(struct observer *ob, const struct target *t, const char *name, char *buf,
		     size_t n);

/* Unpins and hands the link to the reaper, which destroys it after `delay` seconds. */
void detach_link(struct observer *ob, struct probe_link *p, double delay);

/* Its probes detached and its calibration released; the slot is the caller's to remove. */
void release_object(struct observer *ob, struct attached_object *ao, double delay);

#endif
