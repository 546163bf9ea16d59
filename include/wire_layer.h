/* SPDX-License-Identifier: MIT */
/*
 * The wire layer's BPF object (bpf/wire.bpf.c): loaded once, its two
 * tracepoint programs attached host-wide, targets added to and removed
 * from its tgid map.  All functions accept a NULL layer (not enabled).
 */
#ifndef ZS_WIRE_LAYER_H
#define ZS_WIRE_LAYER_H

#include <stddef.h>
#include <sys/types.h>

#include "wire_metrics.h"

struct wire_layer;

/* Loads and attaches, trying tp_btf and then raw_tp.  0 or negative errno. */
/* Names the one program kind to try ("tp_btf" or "raw_tp"); unset, both in turn. */
#define WIRE_MECHANISM_ENV "ZMQSCOPE_WIRE_MECHANISM"

int wire_layer_open(struct wire_layer **out, bool verbose, char *err, size_t errlen);
void wire_layer_close(struct wire_layer *wl);

/* "tp_btf (sys_exit)", say: what the programs are attached as. */
const char *wire_layer_mechanism(const struct wire_layer *wl);

/* Starts parsing the process's connections opened from now on. */
int wire_layer_attach(struct wire_layer *wl, pid_t pid, char *err, size_t errlen);
/* Stops parsing; its figures stay until wire_layer_forget(). */
void wire_layer_detach(struct wire_layer *wl, pid_t pid);
void wire_layer_forget(struct wire_layer *wl, pid_t pid);

/* Copies the maps for wire_metrics_render; wire_snapshot_free() releases. */
int wire_layer_snapshot(struct wire_layer *wl, struct wire_snapshot *s);
void wire_snapshot_free(struct wire_snapshot *s);

#endif
