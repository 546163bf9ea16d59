/* SPDX-License-Identifier: MIT */
/*
 * The loader's core: one BPF object, and the processes it is attached to.
 * Everything here may be called from the HTTP thread while the main thread
 * attaches or detaches, so the target list is guarded by `lock`.
 */
#ifndef ZS_OBSERVER_H
#define ZS_OBSERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "calibrate.h"
#include "frame_assembler.h"
#include "link_reaper.h"
#include "libzmq_discovery.h"
#include "options.h"
#include "probe_site.h"
#include "strbuf.h"

/*
 * Copies of libzmq probed at once in one process.  Each costs about 20
 * links; one a process unmaps gives its place back.  Any beyond are
 * counted (zmqscope_libzmq_copies_unprobed) and logged, never dropped silently.
 */
#define ZS_MAX_OBJECTS 16
#define ZS_MAX_PROBES 40

enum probe_kind {
	PROBE_ENTRY,
	PROBE_RETURN,
	PROBE_SESSION, /* entry and, when the entry asks for it, return (kernel >= 6.12) */
};

struct probe_link {
	const char *function; /* libzmq symbol */
	const char *program;  /* BPF program */
	enum probe_kind kind;
	uint64_t offset; /* file offset attached at: symbol + site.skip */
	struct probe_site site;
	struct bpf_link *link; /* what libbpf attached ... */
	int fd;		       /* ... or a link fd of our own (sessions, adopted pins); -1 */
	int error;	       /* negative errno when attaching failed */
	bool adopted;	       /* taken over from a pinned link of an earlier daemon */
	char pin[160];	       /* its bpffs pin, when pinned */
};

static inline bool probe_link_attached(const struct probe_link *p)
{
	return p->link || p->fd >= 0;
}

/* "zmq_msg_recv", "zmq_msg_recv:return", "zmq_getsockopt:session" */
const char *probe_kind_suffix(enum probe_kind kind);

struct attached_object {
	unsigned id; /* names its pins; stays with it when earlier copies go */
	struct zmq_object obj;
	struct calibration cal;
	struct probe_link probes[ZS_MAX_PROBES];
	size_t nprobes;
	/*
	 * Its public send and receive functions unprobed, their calls carried
	 * by the internal probes; the attach cookies of those (call_sites.h).
	 */
	bool carried;
	uint64_t rx_cookie, tx_cookie;
};

struct target {
	pid_t pid;
	uint64_t start_time; /* /proc/PID/stat field 22, to notice pid reuse */
	uint64_t exe_inode;  /* and the executable's inode, to be sure */
	long vmlib_kb;	     /* VmLib when its libraries were last looked at */
	char comm[17];
	bool up;
	struct timespec exited_at;
	struct zmq_layout layout; /* what the BPF side uses for this process */
	/* Measuring again on the probes' handles while the layout is incomplete. */
	unsigned refine_tries, refine_failures;
	double refine_next; /* CLOCK_MONOTONIC seconds */
	struct attached_object *objs; /* the copies of libzmq it maps, probed */
	size_t nobjs;
	unsigned next_obj_id;
	size_t objs_unprobed;	     /* more copies mapped than ZS_MAX_OBJECTS */
	struct discovery_memo memo;  /* its executable files already examined */
	struct probe_link loader_hook; /* ld.so's _dl_debug_state: dlopen and dlclose */
	char *loader_path;	       /* that ld.so, as the target names it; NULL: none */
	bool libs_changed;	       /* the hook fired since the last rescan */
	bool may_proxy;		       /* something it maps can start zmq_proxy (proxy_users.h) */
	/* --handler probes: an entry and a return probe per spec */
	struct probe_link handlers[ZS_MAX_HANDLERS * 2];
	size_t nhandlers;
	/* LMCache's controller state, from the payload tap (NULL without it) */
	struct lmc_model *state;
	uint64_t tap_dropped_seen;
	bool carried_on; /* its BPF state was an earlier daemon's */
};

struct zmqscope_bpf;
struct ring_buffer;
struct lmc_model;

#define ZS_TAP_ORPHANS 16
struct wire_layer;

struct observer {
	struct zmqscope_bpf *skel;
	const struct zs_options *opts;
	pthread_mutex_t lock;
	struct link_reaper reaper; /* destroys detached links off the lock */
	struct target **targets;
	size_t ntargets;
	char listen_text[96];
	struct timespec started;
	bool pinned;   /* maps and links live under opts->pin_dir */
	bool sessions; /* the kernel has uprobe sessions (used for zmq_getsockopt) */
	bool multi;    /* uprobe_multi links for every probe (kernel >= 6.6) */
	/* the payload tap (observer_tap.c); NULL with --no-lmcache-state */
	struct ring_buffer *tap_ring;
	struct frame_assembler tap_frames;
	uint32_t tap_orphans[ZS_TAP_ORPHANS]; /* processes whose copies came before their target */
	size_t tap_norphans;
	uint64_t targets_update_failures; /* processes the targets map refused (atomic) */
	struct wire_layer *wire; /* --layer wire; NULL otherwise */
	struct ring_buffer *lib_ring; /* the loader hooks' records (library_watch.c) */
};

/* Loads the BPF object and fills the role maps.  0 or negative errno. */
int observer_open(struct observer *ob, const struct zs_options *opts, char *err, size_t errlen);
void observer_close(struct observer *ob);

/* Finds libzmq in `pid`, calibrates and attaches.  0 or negative errno. */
int observer_attach_pid(struct observer *ob, pid_t pid, char *err, size_t errlen);
/* The same for a process seen without libzmq that has just mapped it: probes first. */
int observer_attach_fresh_pid(struct observer *ob, pid_t pid, char *err, size_t errlen);

/* Is this process (and, when start_time != 0, this incarnation) attached? */
bool observer_is_attached(struct observer *ob, pid_t pid, uint64_t start_time);

/* The process at `pid` exec'd: what was attached is gone with its old image. */
void observer_forget_image(struct observer *ob, pid_t pid);

/* Marks exited targets down and detaches them; drops them after --ttl. */
void observer_check_targets(struct observer *ob);

/* GET /metrics */
void observer_render_metrics(struct observer *ob, struct strbuf *out);
/* zmqscope status, for this instance */
void observer_render_status(struct observer *ob, struct strbuf *out, bool json);

/* A pinned daemon, after its first attach: drops what earlier ones left for others. */
void observer_drop_stale_pins(struct observer *ob);


#endif
