/* SPDX-License-Identifier: MIT */
/*
 * The observer's side of the payload tap: which msg_types the probes copy,
 * the ring buffer they are copied into, and one LMCache state model per
 * attached process that the copies are fed to (design.md section 10).
 */
#ifndef ZS_OBSERVER_TAP_H
#define ZS_OBSERVER_TAP_H

#include <stdbool.h>

struct observer;
struct target;

/* Before the BPF object is loaded: ring size and the copy bounds. */
void observer_tap_configure(struct observer *ob);
/* After it is loaded: the wanted types, and the ring's consumer.  0 or -errno. */
int observer_tap_open(struct observer *ob);
void observer_tap_close(struct observer *ob);

/* Gives a new target its model, before the probes may copy anything for it. */
void observer_tap_target_init(struct observer *ob, struct target *t);
void observer_tap_target_free(struct target *t);

/* The fd to poll for the probes' wakeups (the ring filling up), or -1. */
int observer_tap_fd(struct observer *ob);
/* Feeds what the ring holds to the models.  Caller holds ob->lock. */
void observer_tap_drain(struct observer *ob);
/* The same, taking the lock: for the main loop's wakeups and ticks. */
void observer_tap_poll(struct observer *ob);
/* A target just joined the list (ob->lock held): copies that came before were lost. */
void observer_tap_target_added(struct observer *ob, struct target *t);

#endif
