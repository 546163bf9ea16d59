// SPDX-License-Identifier: MIT
/*
 * `top`: a live terminal view.  The numbers come from an exposition, either
 * a running instance's /metrics or this process's own observer, so the view
 * shows exactly what Prometheus would scrape.  top_model.c does the sums.
 */
#include <curses.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "instance.h"
#include "metrics_client.h"
#include "observer.h"
#include "target_watch.h"
#include "top_model.h"
#include "monotonic.h"

#define FETCH_TIMEOUT_MS 3000
#define WATCH_TICK_SECONDS 1.0

struct top_source {
	/* reading an instance */
	int instance_id;
	struct zs_listen listen;
	/* or attached by itself */
	bool attached;
	struct observer ob;
	struct target_watch watch;
	bool watching;
	double next_watch_tick;
	char title[160];
};

struct top_view {
	enum top_sort sort;
	bool reverse;
	struct top_sample prev, cur;
	bool have_prev, have_cur;
	char error[256];
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int pick_instance(struct zs_options *o, struct top_source *src)
{
	struct instance_info list[64];
	int n = instance_list(list, 64), alive = 0, found = -1;
	char err[128];

	if (n < 0) {
		zs_error("cannot read %s: %s", instance_runtime_dir(), strerror(-n));
		return EXIT_RUNTIME;
	}
	for (int i = 0; i < n; i++) {
		char id[16];

		if (!list[i].alive)
			continue;
		alive++;
		snprintf(id, sizeof(id), "%d", list[i].id);
		if (o->instance_id ? !strcmp(o->instance_id, id) : found < 0)
			found = i;
	}
	if (o->instance_id && found < 0) {
		zs_error("no instance '%s'; 'zmqscope status' lists the running ones",
			 o->instance_id);
		return EXIT_RUNTIME;
	}
	if (!o->instance_id && alive != 1) {
		if (alive)
			zs_error("%d instances are running; give one ID (see 'zmqscope status')",
				 alive);
		else
			zs_error("no zmqscope instance is running; start one, or give --pid, "
				 "--name or --port to attach directly");
		return EXIT_RUNTIME;
	}
	if (parse_listen(list[found].listen, &src->listen, err, sizeof(err))) {
		zs_error("instance %d has an unreadable listen address '%s'", list[found].id,
			 list[found].listen);
		return EXIT_RUNTIME;
	}
	src->instance_id = list[found].id;
	snprintf(src->title, sizeof(src->title), "instance %d at %s", list[found].id,
		 list[found].listen);
	return 0;
}

static int attach_by_itself(struct zs_options *o, struct top_source *src)
{
	char err[512] = "";

	if (observer_open(&src->ob, o, err, sizeof(err)))
		goto fail;
	src->attached = true;
	if (target_watch_init(&src->watch, &src->ob, err, sizeof(err)))
		goto fail;
	src->watching = true;
	/* A --pid the user named must attach now; --name/--port may wait. */
	for (size_t i = 0; i < o->npids; i++)
		if (observer_attach_pid(&src->ob, o->pids[i], err, sizeof(err)))
			goto fail;
	target_watch_initial_scan(&src->watch);
	src->next_watch_tick = monotonic_seconds() + WATCH_TICK_SECONDS;
	snprintf(src->title, sizeof(src->title), "attached: %.120s", o->args_text);
	return 0;
fail:
	zs_error("%s", err);
	return EXIT_RUNTIME;
}

static void source_close(struct top_source *src)
{
	if (src->watching)
		target_watch_free(&src->watch);
	if (src->attached)
		observer_close(&src->ob);
}

/* Takes a new sample; the previous one is kept for the rates. */
static int source_sample(struct top_source *src, struct top_view *v)
{
	struct strbuf text = STRBUF_INIT;
	struct top_sample next = { 0 };
	int rc = 0, bad = 0;

	if (src->attached)
		observer_render_metrics(&src->ob, &text);
	else
		rc = metrics_fetch(&src->listen, FETCH_TIMEOUT_MS, &text, v->error,
				   sizeof(v->error));
	next.time = monotonic_seconds();
	if (!rc) {
		rc = top_parse(strbuf_str(&text), &next, &bad);
		if (rc)
			snprintf(v->error, sizeof(v->error), "cannot parse /metrics line %d", bad);
	}
	strbuf_free(&text);
	if (rc)
		return rc;
	v->error[0] = '\0';
	if (v->have_prev)
		top_sample_free(&v->prev);
	v->prev = v->cur;
	v->have_prev = v->have_cur;
	v->cur = next;
	v->have_cur = true;
	return 0;
}

static const char *sort_name(enum top_sort s)
{
	switch (s) {
	case TOP_SORT_MSGS:
		return "msg/s";
	case TOP_SORT_BYTES:
		return "bytes/s";
	case TOP_SORT_P99:
		return "p99";
	case TOP_SORT_PID:
		return "pid";
	case TOP_SORT_ENDPOINT:
		return "endpoint";
	}
	return "?";
}

/* The endpoint's tail fits the column: the port is what tells sockets apart. */
static void short_endpoint(const char *ep, char *out, size_t width)
{
	size_t len;

	if (!strncmp(ep, "tcp://", 6))
		ep += 6;
	len = strlen(ep);
	if (len <= width)
		memcpy(out, ep, len + 1); /* fits: out holds width + 1 bytes */
	else
		snprintf(out, width + 1, "~%s", ep + len - (width - 1));
}

static const char *short_role(const char *role)
{
	return !strcmp(role, "internal") ? "intl" : role;
}

static void put_line(int y, const char *text, bool header)
{
	if (y >= LINES)
		return;
	if (header)
		attron(A_REVERSE);
	mvaddnstr(y, 0, text, COLS);
	if (header) {
		/* the bar runs to the right edge */
		for (int x = (int)strlen(text); x < COLS; x++)
			mvaddch(y, x, ' ');
		attroff(A_REVERSE);
	}
}

static void draw(const struct top_source *src, const struct top_view *v, double interval)
{
	struct top_socket_row *rows = NULL;
	struct top_latency_row *lat = NULL;
	const struct top_sample *prev = v->have_prev ? &v->prev : NULL;
	char line[512];
	int nsock = 0, nlat = 0, y = 0, up = 0, down = 0;
	int avail, sock_rows, lat_rows;

	erase();
	if (v->have_cur) {
		nsock = top_socket_rows(prev, &v->cur, v->sort, v->reverse, &rows);
		nlat = top_latency_rows(prev, &v->cur, v->sort, v->reverse, &lat);
		for (size_t i = 0; i < v->cur.ntargets; i++)
			v->cur.targets[i].up ? up++ : down++;
	}
	nsock = nsock < 0 ? 0 : nsock;
	nlat = nlat < 0 ? 0 : nlat;
	snprintf(line, sizeof(line), "zmqscope top  %s  every %.1fs  sort %s%s", src->title,
		 interval, sort_name(v->sort), v->reverse ? " rev" : "");
	put_line(y++, line, false);
	if (v->error[0])
		snprintf(line, sizeof(line), "error: %s", v->error);
	else
		snprintf(line, sizeof(line), "targets: %d up, %d exited   sockets: %d   "
			 "latency series: %d", up, down, nsock, nlat);
	put_line(y++, line, false);

	/* title, status, two headers, the gap between the tables, the key line */
	avail = LINES - 6;
	if (avail < 0)
		avail = 0;
	if (nsock + nlat <= avail) {
		sock_rows = nsock;
		lat_rows = nlat;
	} else {
		sock_rows = nsock < avail / 2 ? nsock : (avail - nlat > avail / 2 ? avail - nlat : avail / 2);
		if (sock_rows > nsock)
			sock_rows = nsock;
		lat_rows = avail - sock_rows < nlat ? avail - sock_rows : nlat;
	}
	snprintf(line, sizeof(line), "%6s %-5s %-6s %-15s %7s %7s %6s %6s %8s %s %s", "PID", "ROLE",
		 "TYPE", "ENDPOINT", "RX/s", "TX/s", "RXB/s", "TXB/s", "RX_MSGS", "P", "A");
	put_line(y++, line, true);
	for (int i = 0; i < sock_rows; i++) {
		const struct top_socket_row *r = &rows[i];
		char ep[16], rx[16], tx[16], rxb[16], txb[16];

		short_endpoint(r->s->endpoint, ep, 15);
		top_fmt_rate(r->rx_rate, rx, sizeof(rx));
		top_fmt_rate(r->tx_rate, tx, sizeof(tx));
		top_fmt_bytes(r->rxb_rate, rxb, sizeof(rxb));
		top_fmt_bytes(r->txb_rate, txb, sizeof(txb));
		snprintf(line, sizeof(line), "%6u %-5.5s %-6.6s %-15s %7s %7s %6s %6s %8.0f %d %d",
			 r->s->pid, short_role(r->s->role), r->s->type, ep, rx, tx, rxb, txb,
			 r->s->msgs_rx, (int)r->s->pending, (int)r->s->active);
		put_line(y++, line, false);
	}
	y++;
	snprintf(line, sizeof(line), "%-3s %6s %-5s %-21s %8s %7s %8s %8s%s", "LAT", "PID", "ROLE",
		 "MSG_TYPE", "COUNT", "RATE/s", "P50", "P99",
		 nsock > sock_rows ? "  +sockets" : "");
	put_line(y++, line, true);
	for (int i = 0; i < lat_rows; i++) {
		const struct top_latency_row *r = &lat[i];
		char rate[16], p50[16], p99[16];

		top_fmt_rate(r->rate, rate, sizeof(rate));
		top_fmt_seconds(r->p50, p50, sizeof(p50));
		top_fmt_seconds(r->p99, p99, sizeof(p99));
		snprintf(line, sizeof(line), "%-3s %6u %-5.5s %-21.21s %8.0f %7s %8s %8s",
			 r->h->kind == TOP_HANDLER ? "hnd" : "req", r->h->pid,
			 short_role(r->h->role), r->h->msg_type, r->h->count, rate, p50, p99);
		put_line(y++, line, false);
	}
	snprintf(line, sizeof(line), "q quit  sort: m msg/s  b bytes/s  l p99  p pid  e endpoint"
		 "  r rev%s", nlat > lat_rows ? "  +more" : "");
	put_line(LINES - 1, line, false);
	refresh();
	free(rows);
	free(lat);
}

/* Returns false when the user quit. */
static bool handle_key(int ch, struct top_view *v)
{
	switch (ch) {
	case 'q':
	case 'Q':
		return false;
	case 'm':
		v->sort = TOP_SORT_MSGS;
		break;
	case 'b':
		v->sort = TOP_SORT_BYTES;
		break;
	case 'l':
		v->sort = TOP_SORT_P99;
		break;
	case 'p':
		v->sort = TOP_SORT_PID;
		break;
	case 'e':
		v->sort = TOP_SORT_ENDPOINT;
		break;
	case 'r':
		v->reverse = !v->reverse;
		break;
	default:
		break;
	}
	return true;
}

static void run_screen(struct top_source *src, struct top_view *v, double interval)
{
	double next_sample = monotonic_seconds() + interval;

	initscr();
	cbreak();
	noecho();
	curs_set(0);
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	draw(src, v, interval);
	while (!stop_requested) {
		struct pollfd fds[2] = {
			{ .fd = STDIN_FILENO, .events = POLLIN },
			{ .fd = src->watching ? target_watch_fd(&src->watch) : -1, .events = POLLIN },
		};
		double now = monotonic_seconds(), wake = next_sample;
		bool redraw = false;
		int ch;

		if (src->watching && src->next_watch_tick < wake)
			wake = src->next_watch_tick;
		poll(fds, 2, wake > now ? (int)((wake - now) * 1000) + 1 : 0);
		/* A resize arrives as KEY_RESIZE, after SIGWINCH interrupted poll. */
		while ((ch = getch()) != ERR) {
			if (!handle_key(ch, v))
				goto out;
			redraw = true;
		}
		if (src->watching && (fds[1].revents & POLLIN))
			target_watch_on_events(&src->watch);
		now = monotonic_seconds();
		if (src->watching && now >= src->next_watch_tick) {
			target_watch_tick(&src->watch);
			src->next_watch_tick = now + WATCH_TICK_SECONDS;
		}
		if (now >= next_sample) {
			source_sample(src, v);
			next_sample = now + interval;
			redraw = true;
		}
		if (redraw)
			draw(src, v, interval);
	}
out:
	endwin();
}

int cmd_top(struct zs_options *o)
{
	static struct top_source src;
	struct top_view view = { .sort = TOP_SORT_MSGS };
	struct sigaction sa = { .sa_handler = on_stop_signal };
	double interval = o->top_interval_ms / 1000.0;
	int rc;

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		zs_error("top needs a terminal; for a script, read http://ADDR/metrics instead");
		return EXIT_USAGE;
	}
	if (o->npids || o->nnames || o->nports)
		rc = attach_by_itself(o, &src);
	else
		rc = pick_instance(o, &src);
	if (rc) {
		source_close(&src);
		return rc;
	}
	/* The first sample decides whether there is anything to show at all. */
	if (source_sample(&src, &view)) {
		zs_error("%s", view.error);
		source_close(&src);
		return EXIT_RUNTIME;
	}
	/* Ctrl-C and SIGTERM end the screen through endwin, not mid-frame. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	run_screen(&src, &view, interval);
	if (view.have_prev)
		top_sample_free(&view.prev);
	if (view.have_cur)
		top_sample_free(&view.cur);
	source_close(&src);
	return 0;
}
