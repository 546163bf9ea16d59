// SPDX-License-Identifier: MIT
#include "target_watch.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fd_limit.h"
#include "library_watch.h"
#include "proc_events.h"
#include "proc_files.h"
#include "socket_refine.h"
#include "monotonic.h"

int target_watch_init(struct target_watch *w, struct observer *ob, char *err, size_t errlen)
{
	int rc;

	memset(w, 0, sizeof(*w));
	w->ob = ob;
	w->events_fd = -1;
	rc = process_selector_init(&w->sel, ob->opts, err, errlen);
	if (rc)
		return rc;
	if (w->sel.name_matches_all)
		fprintf(stderr, "zmqscope: warning: a --name pattern matches the empty string, so "
				"every process that maps libzmq is attached; anchor it (^...$) "
				"to select fewer\n");
	if (process_selector_dynamic(&w->sel))
		w->events_fd = proc_events_open(); /* -errno: fall back to rescans */
	if (w->events_fd < 0)
		w->events_fd = -1;
	return 0;
}

void target_watch_free(struct target_watch *w)
{
	proc_events_close(w->events_fd);
	w->events_fd = -1;
	process_selector_free(&w->sel);
}

int target_watch_fd(const struct target_watch *w)
{
	return w->events_fd;
}

/* How long a new process is watched closely, and how often. */
#define FAST_WATCH_SECONDS 30.0
#define FAST_WATCH_MS 5
#define YOUNG_RETRY_SECONDS 0.1

static bool is_pending(const struct target_watch *w, pid_t pid)
{
	for (size_t i = 0; i < w->npending; i++)
		if (w->pending[i].pid == pid)
			return true;
	return false;
}

static void forget_pending(struct target_watch *w, size_t i)
{
	w->pending[i] = w->pending[--w->npending];
}

/*
 * Tries to attach a selected process.  One that does not map libzmq yet
 * (pyzmq not imported so far) stays pending and is retried on each tick.
 */
static void try_attach(struct target_watch *w, pid_t pid)
{
	char err[512];
	int rc;

	if (observer_is_attached(w->ob, pid, 0))
		return;
	rc = observer_attach_pid(w->ob, pid, err, sizeof(err));
	if (rc == 0) {
		if (w->ob->opts->verbose)
			fprintf(stderr, "zmqscope: attached to pid %d\n", (int)pid);
		return;
	}
	if (rc != -ENOENT && rc != -ESRCH)
		fprintf(stderr, "zmqscope: %s\n", err);
	if ((rc == -ENOENT || fd_limit_hit(rc)) && !is_pending(w, pid) &&
	    w->npending < ZS_MAX_PENDING) {
		w->pending[w->npending].pid = pid;
		w->pending[w->npending].vmlib_kb = process_vmlib_kb(pid);
		w->pending[w->npending].out_of_fds = fd_limit_hit(rc);
		w->pending[w->npending].since = monotonic_seconds();
		w->pending[w->npending].last_try = w->pending[w->npending].since;
		w->npending++;
	}
}

static void on_selected(pid_t pid, void *arg)
{
	try_attach(arg, pid);
}

void target_watch_initial_scan(struct target_watch *w)
{
	process_selector_scan(&w->sel, on_selected, w);
}

static void on_event(enum proc_event_kind kind, pid_t pid, pid_t parent, void *arg)
{
	struct target_watch *w = arg;

	if (kind == PROC_EVENT_KIND_FORK) {
		/*
		 * A child forked without exec (multiprocessing, pre-fork servers)
		 * runs the parent's image, but the probes are per pid.  Only the
		 * children of selected processes are looked at: forks are many.
		 */
		if ((observer_is_attached(w->ob, parent, 0) || is_pending(w, parent)) &&
		    process_matches_name(&w->sel, pid))
			try_attach(w, pid);
	} else if (kind == PROC_EVENT_KIND_EXEC) {
		/* A new image at an attached pid: whatever was attached went with the old one. */
		observer_forget_image(w->ob, pid);
		if (process_matches_name(&w->sel, pid))
			try_attach(w, pid);
	} else if (kind == PROC_EVENT_KIND_EXIT && observer_is_attached(w->ob, pid, 0)) {
		w->exits_seen = true;
	}
}

void target_watch_on_events(struct target_watch *w)
{
	if (w->events_fd < 0)
		return;
	if (proc_events_drain(w->events_fd, on_event, w) < 0) {
		/* Overrun (ENOBUFS): events were lost, so look at everything. */
		target_watch_initial_scan(w);
		w->exits_seen = true;
	}
	if (w->exits_seen) {
		w->exits_seen = false;
		observer_check_targets(w->ob);
	}
}

/* Attaches pending processes that mapped something new; `young_only` for the fast watch. */
static void retry_pending(struct target_watch *w, bool young_only)
{
	double now = monotonic_seconds(), t0;

	for (size_t i = 0; i < w->npending; i++) {
		pid_t pid = w->pending[i].pid;
		long vmlib = process_vmlib_kb(pid);
		char err[512];
		int rc;

		/* A shortage of descriptors is not over in 5 ms: that waits for the tick. */
		if (young_only &&
		    (now - w->pending[i].since > FAST_WATCH_SECONDS || w->pending[i].out_of_fds))
			continue;
		if (vmlib < 0) { /* gone */
			forget_pending(w, i--);
			continue;
		}
		/*
		 * Nothing new mapped: no libzmq yet.  While young it is looked at
		 * every 100 ms anyway: VmLib can change while ld.so is half-way
		 * through mapping a library, and a look then finds nothing.
		 */
		if (vmlib == w->pending[i].vmlib_kb && !w->pending[i].out_of_fds &&
		    !(young_only && now - w->pending[i].last_try >= YOUNG_RETRY_SECONDS))
			continue;
		w->pending[i].last_try = now;
		w->pending[i].vmlib_kb = vmlib;
		t0 = monotonic_seconds();
		rc = observer_attach_fresh_pid(w->ob, pid, err, sizeof(err));
		/* Said once per shortage, not once a second. */
		if (rc && rc != -ENOENT && rc != -ESRCH &&
		    !(fd_limit_hit(rc) && w->pending[i].out_of_fds))
			fprintf(stderr, "zmqscope: %s\n", err);
		w->pending[i].out_of_fds = fd_limit_hit(rc);
		if (rc == 0 && w->ob->opts->verbose)
			fprintf(stderr, "zmqscope: attached to pid %d, %.1f ms after it loaded libzmq\n",
				(int)pid, (monotonic_seconds() - t0) * 1e3);
		if (rc != -ENOENT && !fd_limit_hit(rc))
			forget_pending(w, i--);
	}
}

int target_watch_fast_delay_ms(const struct target_watch *w)
{
	double now = monotonic_seconds();

	for (size_t i = 0; i < w->npending; i++)
		if (now - w->pending[i].since <= FAST_WATCH_SECONDS)
			return FAST_WATCH_MS;
	return -1;
}

void target_watch_fast_tick(struct target_watch *w)
{
	retry_pending(w, true);
}

void target_watch_tick(struct target_watch *w)
{
	observer_check_targets(w->ob);
	observer_rescan_libraries(w->ob);
	observer_refine_layouts(w->ob);
	retry_pending(w, false);
	/*
	 * Without the proc connector every new process is found here; --port
	 * always needs a look, as listening on a port raises no event.
	 */
	if (w->events_fd < 0 || w->sel.nports)
		process_selector_scan(&w->sel, on_selected, w);
}
