/* SPDX-License-Identifier: MIT */
/*
 * Copies of libzmq a target loads or unloads after the attach.  ld.so's
 * _dl_debug_state() is probed in each target, so a dlopen or dlclose is
 * acted on within milliseconds; processes without ld.so (static binaries)
 * are looked at when their VmLib changes, once a second.
 */
#ifndef ZS_LIBRARY_WATCH_H
#define ZS_LIBRARY_WATCH_H

#include "observer.h"

/* The ring the hooks write to; 0 or negative errno. */
int library_watch_open(struct observer *ob);
void library_watch_close(struct observer *ob);

/* Probes ld.so in the target; without one, the VmLib poll alone serves. */
void library_watch_hook(struct observer *ob, struct target *t);

/* The fd for poll(), or -1. */
int library_watch_fd(const struct observer *ob);

/* Records how many copies are left unprobed, and says so when that number grew. */
void library_watch_count_unprobed(struct target *t, size_t unprobed);

/* Takes the hooks' records and rescans the processes they name; takes the lock. */
void library_watch_poll(struct observer *ob);

/*
 * Probes the copies each target loaded since the last look and lets go of
 * those it unloaded: targets the hook named, and any whose VmLib changed.
 * Takes the lock.
 */
void observer_rescan_libraries(struct observer *ob);

#endif
