/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Library changes, as they happen.  ld.so calls _dl_debug_state() before
 * and after it maps or unmaps objects (the rendezvous debuggers break on);
 * a probe there tells the loader to look at the process's maps now, rather
 * than at its next one-second poll, so a copy of libzmq that is loaded
 * briefly is probed while it runs.
 *
 * One 4-byte record per call, with a wakeup: dlopen is rare, and a late
 * wakeup is exactly what this exists to avoid.
 */
#ifndef ZS_LIB_WATCH_BPF_H
#define ZS_LIB_WATCH_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} lib_events SEC(".maps");

SEC("uprobe")
int dl_debug_state(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	/* A full ring already holds a record that will make the loader look. */
	bpf_ringbuf_output(&lib_events, &tgid, sizeof(tgid), 0);
	return 0;
}

#endif
