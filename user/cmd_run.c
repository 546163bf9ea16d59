// SPDX-License-Identifier: MIT
/* `run` in the foreground and `start` as a daemon: one serving loop for both. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "fd_limit.h"
#include "http_server.h"
#include "instance.h"
#include "library_watch.h"
#include "observer.h"
#include "observer_tap.h"
#include "pinning.h"
#include "privileges.h"
#include "target_watch.h"
#include "web_config.h"
#include "monotonic.h"

#define TICK_SECONDS 1

static void render_metrics(void *arg, struct strbuf *out)
{
	observer_render_metrics(arg, out);
}

static void render_status(void *arg, struct strbuf *out, bool json)
{
	observer_render_status(arg, out, json);
}

/* The daemon's first words to `start`: "ok ID" or "err MESSAGE". */
static void tell_parent(int fd, const char *fmt, const char *arg)
{
	char line[600];
	int n;

	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), fmt, arg);
	if (n > 0 && write(fd, line, (size_t)n) < 0)
		return;
}

static int attach_selected(struct observer *ob, const struct zs_options *o, char *err,
			   size_t errlen)
{
	/* A --pid the user named must attach now; --name/--port may wait. */
	for (size_t i = 0; i < o->npids; i++) {
		int rc = observer_attach_pid(ob, o->pids[i], err, errlen);

		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Sleeps in poll() until a stop signal, a process event, the payload tap's
 * ring filling up, a target's dlopen or dlclose, or the next tick.  Idle,
 * that is one wakeup a second and no work between scrapes.
 */
static void main_loop(struct target_watch *w, int sigfd)
{
	double next_tick = monotonic_seconds() + TICK_SECONDS;

	for (;;) {
		/* poll() skips entries whose fd is negative. */
		struct pollfd fds[4] = {
			{ .fd = sigfd, .events = POLLIN },
			{ .fd = target_watch_fd(w), .events = POLLIN },
			{ .fd = observer_tap_fd(w->ob), .events = POLLIN },
			{ .fd = library_watch_fd(w->ob), .events = POLLIN },
		};
		double left = next_tick - monotonic_seconds();
		int timeout = left > 0 ? (int)(left * 1000) + 1 : 0;
		int fast = target_watch_fast_delay_ms(w);
		int n = poll(fds, 4, fast >= 0 && fast < timeout ? fast : timeout);

		if (n < 0 && errno != EINTR)
			return;
		if (n > 0 && (fds[0].revents & POLLIN)) {
			struct signalfd_siginfo si;

			if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				return;
		}
		if (n > 0 && (fds[1].revents & POLLIN))
			target_watch_on_events(w);
		if (n > 0 && (fds[2].revents & POLLIN))
			observer_tap_poll(w->ob);
		if (n > 0 && (fds[3].revents & POLLIN))
			library_watch_poll(w->ob);
		if (fast >= 0)
			target_watch_fast_tick(w);
		if (monotonic_seconds() >= next_tick) {
			observer_tap_poll(w->ob);
			target_watch_tick(w);
			next_tick = monotonic_seconds() + TICK_SECONDS;
		}
	}
}

/*
 * Runs until SIGINT or SIGTERM.  With ready_fd >= 0 it is start's daemon.
 * Everything that needs privilege (BPF, probes, sockets) happens before
 * --user drops it, and the HTTP threads start only after that.
 */
static int serve(struct zs_options *o, int ready_fd)
{
	struct http_routes routes = { .metrics = render_metrics, .status = render_status };
	struct http_server *http = NULL, *control = NULL;
	struct instance inst = { 0 };
	struct target_watch watch;
	struct web_config web = { 0 };
	struct observer ob;
	bool ob_open = false, watching = false;
	char err[512] = "", id[16], listen_text[96];
	sigset_t stop_signals;
	struct rlimit nofile;
	int rc = EXIT_RUNTIME, sigfd = -1, http_fd = -1, control_fd = -1;

	/*
	 * A long-lived agent frees big blocks (vmlinux BTF while loading, the
	 * exposition buffer every scrape).  glibc's dynamic threshold would
	 * raise itself to their size after the first free and serve the next
	 * ones from the heap, where they stay resident: keep it fixed, so they
	 * are mapped and unmapped whole.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);

	/* Every target costs descriptors: use all the hard limit allows. */
	rc = fd_limit_raise(&nofile);
	if (o->verbose)
		fprintf(stderr, "zmqscope: open-file limit %llu%s%s\n",
			(unsigned long long)nofile.rlim_cur, rc ? ", not raised: " : "",
			rc ? strerror(-rc) : "");
	rc = EXIT_RUNTIME;

	/* Block before any thread exists, so only the signalfd sees them. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigfd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
	if (sigfd < 0) {
		snprintf(err, sizeof(err), "signalfd: %s", strerror(errno));
		goto cleanup;
	}

	/* Before anything attaches, and as root: the key may be readable by root only. */
	if (o->web_config_file && web_config_load(o->web_config_file, &web, err, sizeof(err)))
		goto cleanup;
	if (web.tls && !http_server_tls_supported()) {
		snprintf(err, sizeof(err), "--web.config.file %s: this libmicrohttpd is built without "
			 "TLS; install Debian's libmicrohttpd12", o->web_config_file);
		goto cleanup;
	}
	if (web.nusers && !web.tls)
		fprintf(stderr, "zmqscope: warning: basic auth without TLS sends the password in "
				"clear; add tls_server_config to %s\n", o->web_config_file);

	/* The daemon's ID names its pins, so it comes first. */
	listen_format(&o->listen, listen_text, sizeof(listen_text));
	if (instance_register(&inst, listen_text, ready_fd >= 0 ? o->args_text : NULL, err,
			      sizeof(err)))
		goto cleanup;
	if (ready_fd >= 0)
		pin_dir_for(inst.id, o->pin_dir, sizeof(o->pin_dir));
	if (observer_open(&ob, o, err, sizeof(err)))
		goto cleanup;
	ob_open = true;
	routes.arg = &ob;
	memcpy(ob.listen_text, listen_text, sizeof(ob.listen_text));
	http_fd = http_listen_tcp(&o->listen, err, sizeof(err));
	if (http_fd < 0)
		goto cleanup;
	if (target_watch_init(&watch, &ob, err, sizeof(err)))
		goto cleanup;
	watching = true;
	if (attach_selected(&ob, o, err, sizeof(err)))
		goto cleanup;
	target_watch_initial_scan(&watch);
	observer_drop_stale_pins(&ob);
	control_fd = http_listen_unix(inst.sock_path, err, sizeof(err));
	if (control_fd < 0)
		goto cleanup;
	if (o->user &&
	    privileges_drop(o->user, process_selector_dynamic(&watch.sel), err, sizeof(err)))
		goto cleanup;
	http = http_server_serve(http_fd, &routes, false, NULL, o->web_config_file ? &web : NULL, err,
				 sizeof(err));
	http_fd = -1;
	if (!http)
		goto cleanup;
	control = http_server_serve(control_fd, &routes, true, inst.sock_path, NULL, err,
				    sizeof(err));
	control_fd = -1;
	if (!control)
		goto cleanup;

	snprintf(id, sizeof(id), "%d", inst.id);
	if (ready_fd >= 0)
		tell_parent(ready_fd, "ok %s\n", id);
	else
		fprintf(stderr,
			"zmqscope: attached to %zu process(es); serving http%s://%s/metrics "
			"(instance %d; Ctrl-C detaches)\n",
			ob.ntargets, web.tls ? "s" : "", ob.listen_text, inst.id);

	main_loop(&watch, sigfd);
	rc = 0;
cleanup:
	if (rc) {
		if (ready_fd >= 0)
			tell_parent(ready_fd, "err %s\n", err);
		else
			zs_error("%s", err);
	}
	/* The HTTP threads use the observer: stop them first. */
	http_server_stop(control);
	http_server_stop(http);
	if (http_fd >= 0)
		close(http_fd);
	if (control_fd >= 0)
		close(control_fd);
	if (watching)
		target_watch_free(&watch);
	if (ob_open)
		observer_close(&ob);
	instance_unregister(&inst);
	web_config_free(&web);
	if (sigfd >= 0)
		close(sigfd);
	return rc;
}

int cmd_run(struct zs_options *o)
{
	return serve(o, -1);
}

static void detach_from_terminal(void)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	setsid();
	if (chdir("/"))
		return;
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		close(null);
	}
}

int cmd_start(struct zs_options *o)
{
	char line[600];
	size_t got = 0;
	int fds[2], status;
	pid_t child;

	/* The daemon changes to /: a relative --web.config.file must be resolved now. */
	if (o->web_config_file) {
		static char web_path[PATH_MAX];

		if (!realpath(o->web_config_file, web_path)) {
			zs_error("--web.config.file %s: %s", o->web_config_file, strerror(errno));
			return EXIT_RUNTIME;
		}
		o->web_config_file = web_path;
	}
	if (pipe2(fds, O_CLOEXEC)) {
		zs_error("pipe: %s", strerror(errno));
		return EXIT_RUNTIME;
	}
	fflush(NULL);
	child = fork();
	if (child < 0) {
		zs_error("fork: %s", strerror(errno));
		return EXIT_RUNTIME;
	}
	if (child == 0) {
		close(fds[0]);
		if (!o->verbose)
			detach_from_terminal();
		else
			setsid();
		_exit(serve(o, fds[1]));
	}
	close(fds[1]);
	/* Wait for the daemon's verdict: attach errors belong to `start`'s exit code. */
	for (;;) {
		ssize_t r = read(fds[0], line + got, sizeof(line) - 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (memchr(line, '\n', got) || got == sizeof(line) - 1)
			break;
	}
	close(fds[0]);
	line[got] = '\0';
	line[strcspn(line, "\n")] = '\0';
	if (!strncmp(line, "ok ", 3)) {
		printf("%s\n", line + 3);
		return 0;
	}
	waitpid(child, &status, 0);
	if (!strncmp(line, "err ", 4))
		zs_error("%s", line + 4);
	else
		zs_error("the daemon exited before it was ready (status %d)", status);
	return EXIT_RUNTIME;
}
