// SPDX-License-Identifier: MIT
/* `run` in the foreground and `start` as a daemon: one serving loop for both. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "http_server.h"
#include "instance.h"
#include "observer.h"

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
	for (size_t i = 0; i < o->npids; i++) {
		int rc = observer_attach_pid(ob, o->pids[i], err, errlen);

		if (rc)
			return rc;
	}
	return 0;
}

/* Runs until SIGINT or SIGTERM.  With ready_fd >= 0 it is start's daemon. */
static int serve(struct zs_options *o, int ready_fd)
{
	struct http_routes routes = { .metrics = render_metrics, .status = render_status };
	struct http_server *http = NULL, *control = NULL;
	struct instance inst = { 0 };
	struct observer ob;
	bool ob_open = false;
	char err[512] = "", id[16];
	sigset_t stop_signals;
	int rc = EXIT_RUNTIME;

	/* Block before any thread exists, so only sigtimedwait() below sees them. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (observer_open(&ob, o, err, sizeof(err)))
		goto cleanup;
	ob_open = true;
	routes.arg = &ob;
	listen_format(&o->listen, ob.listen_text, sizeof(ob.listen_text));
	http = http_server_start_tcp(&o->listen, &routes, err, sizeof(err));
	if (!http)
		goto cleanup;
	if (attach_selected(&ob, o, err, sizeof(err)))
		goto cleanup;
	if (instance_register(&inst, ob.listen_text, err, sizeof(err)))
		goto cleanup;
	control = http_server_start_unix(inst.sock_path, &routes, err, sizeof(err));
	if (!control)
		goto cleanup;

	snprintf(id, sizeof(id), "%d", inst.id);
	if (ready_fd >= 0)
		tell_parent(ready_fd, "ok %s\n", id);
	else
		fprintf(stderr,
			"zmqscope: attached to %zu process(es); serving http://%s/metrics "
			"(instance %d; Ctrl-C detaches)\n",
			ob.ntargets, ob.listen_text, inst.id);

	for (;;) {
		struct timespec tick = { TICK_SECONDS, 0 };
		int sig = sigtimedwait(&stop_signals, NULL, &tick);

		if (sig == SIGINT || sig == SIGTERM)
			break;
		observer_check_targets(&ob);
	}
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
	if (ob_open)
		observer_close(&ob);
	instance_unregister(&inst);
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
