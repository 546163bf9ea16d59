// SPDX-License-Identifier: MIT
/*
 * Metric families from a synthetic snapshot: LMCache's gauges, per-socket
 * series, health series, and the shape of the whole exposition.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"
#include "msgtype.h"

#define T_PULL 7
#define T_PUSH 8
#define T_ROUTER 6

#define PID_A 100
#define PID_B 200

static struct metrics_socket sock(uint32_t tgid, uint64_t handle, uint8_t type, uint8_t role,
				  uint64_t span_start_ns, uint32_t span_frames, uint8_t pending,
				  const char *endpoint)
{
	struct metrics_socket s = { .tgid = tgid, .handle = handle };

	s.s.type = type;
	s.s.role = role;
	s.s.span_start_ns = span_start_ns;
	s.s.span_frames = span_frames;
	s.s.pending = pending;
	snprintf(s.s.endpoint, sizeof(s.s.endpoint), "%s", endpoint);
	return s;
}

static const struct metrics_probe probes_a[] = {
	{ "zmq_msg_recv", "", "/usr/lib/x86_64-linux-gnu/libzmq.so.5", true },
	{ "zmq_msg_recv", ":return", "/usr/lib/x86_64-linux-gnu/libzmq.so.5", false },
	{ "zmq_getsockopt", ":session", "/usr/lib/x86_64-linux-gnu/libzmq.so.5", true },
};

static const struct metrics_map maps[] = {
	{ "zs_socks", 6, 16384, 0 },
	{ "zs_hists", 8192, 8192, 17 },
};

static const struct expo_label user_labels[] = { { "cluster", "prod" }, { "zone", "eu\"1" } };

struct fixture {
	struct metrics_target targets[2];
	struct metrics_socket sockets[8];
	struct metrics_msg_type msg_types[4];
	struct metrics_sock_type sock_types[6];
	struct metrics_hist hists[3];
	struct metrics_snapshot snap;
	struct metrics_config cfg;
};

static struct fixture fx;

/*
 * Target A (pid 100, up) has:
 *   0x1000 PULL   pull      span open, 3 frames, pending
 *   0x2000 ROUTER reply     span open (2 frames), not pending
 *   0x3000 ROUTER reply     no span, pending, endpoint with a quote and a backslash
 *   0x4000 PULL   internal  span open, 5 frames, pending: pyzmq's gc, never counted
 *   0x5000 PUSH   none      span open, pending: not a role LMCache counts
 *   0x6000 PULL   pull      span closed (span_frames left over from the last one)
 * Target B (pid 200, exited):
 *   0x1000 PULL   pull      span open, 10 frames, pending
 * Message types: A's RegisterMsg (id 2) and HeartbeatMsg (id 3), B's LookupMsg (id 2);
 * A's 0x2000 received 5 RegisterMsg, 2 HeartbeatMsg and 1 untyped message.
 * One reply handler histogram for A's RegisterMsg.
 */
static void build_fixture(void)
{
	memset(&fx, 0, sizeof(fx));
	fx.targets[0].pid = PID_A;
	fx.targets[0].up = true;
	fx.targets[0].roles[ZS_ROLE_PULL] = (struct zs_role_totals){ .msgs_rx = 4, .msg_frames_rx = 12 };
	fx.targets[0].roles[ZS_ROLE_REPLY] = (struct zs_role_totals){ .msgs_rx = 7, .msg_frames_rx = 21 };
	fx.targets[0].roles[ZS_ROLE_INTERNAL] = (struct zs_role_totals){ .msgs_rx = 50, .msg_frames_rx = 50 };
	fx.targets[0].roles[ZS_ROLE_NONE] = (struct zs_role_totals){ .msgs_rx = 9, .msg_frames_rx = 9 };
	fx.targets[0].probes = probes_a;
	fx.targets[0].nprobes = sizeof(probes_a) / sizeof(probes_a[0]);
	fx.targets[1].pid = PID_B;
	fx.targets[1].up = false;
	fx.targets[1].roles[ZS_ROLE_PULL] = (struct zs_role_totals){ .msgs_rx = 1, .msg_frames_rx = 30 };

	fx.sockets[0] = sock(PID_A, 0x1000, T_PULL, ZS_ROLE_PULL, 111, 3, 1, "tcp://127.0.0.1:5555");
	fx.sockets[0].s.c = (struct zs_sock_counters){
		.frames_rx = 12, .msgs_rx = 4, .bytes_rx = 4096, .rx_eagain = 3, .rx_errors = 1,
	};
	fx.sockets[1] = sock(PID_A, 0x2000, T_ROUTER, ZS_ROLE_REPLY, 222, 2, 0, "tcp://*:5556");
	fx.sockets[1].s.c = (struct zs_sock_counters){
		.frames_rx = 14, .msgs_rx = 7, .bytes_rx = 700, .frames_tx = 14, .msgs_tx = 7,
		.bytes_tx = 1400, .tx_eagain = 2, .tx_errors = 5,
	};
	fx.sockets[2] = sock(PID_A, 0x3000, T_ROUTER, ZS_ROLE_REPLY, 0, 0, 1, "ipc:///tmp/a\"b\\c");
	fx.sockets[3] = sock(PID_A, 0x4000, T_PULL, ZS_ROLE_INTERNAL, 333, 5, 1, "inproc://gc");
	fx.sockets[4] = sock(PID_A, 0x5000, T_PUSH, ZS_ROLE_NONE, 444, 1, 1, "");
	fx.sockets[5] = sock(PID_A, 0x6000, T_PULL, ZS_ROLE_PULL, 0, 4, 0, "tcp://127.0.0.1:5557");
	fx.sockets[6] = sock(PID_B, 0x1000, T_PULL, ZS_ROLE_PULL, 555, 10, 1, "tcp://127.0.0.1:6000");

	fx.sockets[1].s.gen = 3;

	fx.msg_types[0] = (struct metrics_msg_type){ PID_A, 2, "RegisterMsg" };
	fx.msg_types[1] = (struct metrics_msg_type){ PID_A, 3, "HeartbeatMsg" };
	fx.msg_types[2] = (struct metrics_msg_type){ PID_B, 2, "LookupMsg" };
	fx.sock_types[0] = (struct metrics_sock_type){ PID_A, 2, 0x2000, 3, 5 };
	fx.sock_types[1] = (struct metrics_sock_type){ PID_A, 3, 0x2000, 3, 2 };
	fx.sock_types[2] = (struct metrics_sock_type){ PID_A, ZS_MSGTYPE_UNKNOWN, 0x2000, 3, 1 };
	/* An earlier socket with the same handle (generation 2): not this one's. */
	fx.sock_types[3] = (struct metrics_sock_type){ PID_A, 2, 0x2000, 2, 40 };

	fx.hists[0].key = (struct zs_hist_key){ .tgid = PID_A, .role = ZS_ROLE_REPLY,
						.kind = ZS_SPAN_HANDLER, .msg_type = 2 };
	fx.hists[0].h.slots[5] = 1;   /* 32 ns: folded into the first bucket (1.024 us) */
	fx.hists[0].h.slots[12] = 2;  /* 4.096 us */
	fx.hists[0].h.slots[20] = 3;  /* 1.048576 ms */
	fx.hists[0].h.count = 6;
	fx.hists[0].h.sum_ns = 3000000; /* 3 ms */

	fx.snap = (struct metrics_snapshot){
		.targets = fx.targets,
		.ntargets = 2,
		.sockets = fx.sockets,
		.nsockets = 7,
		.maps = maps,
		.nmaps = 2,
		.msg_types = fx.msg_types,
		.nmsg_types = 3,
		.sock_types = fx.sock_types,
		.nsock_types = 4,
		.hists = fx.hists,
		.nhists = 1,
	};
	fx.cfg = (struct metrics_config){
		.labels = user_labels,
		.nlabels = 1,
		.lmcache_names = true,
		.version = "0.1.0",
		.libbpf_version = "1.1.2",
	};
}

static int setup(void **state)
{
	(void)state;
	build_fixture();
	return 0;
}

static const char *render(struct strbuf *sb)
{
	strbuf_reset(sb);
	metrics_render(&fx.snap, &fx.cfg, sb);
	assert_false(sb->oom);
	return strbuf_str(sb);
}

/* True if `line` (without its newline) is one of the lines of `text`. */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = strstr(text, line); p; p = strstr(p + 1, line))
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static size_t count_lines_containing(const char *text, const char *needle)
{
	size_t count = 0;
	const char *line = text;

	while (*line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		const char *hit = strstr(line, needle);

		if (hit && hit < line + len)
			count++;
		line += len + (end ? 1 : 0);
	}
	return count;
}

#define assert_line(text, line)                                          \
	do {                                                             \
		if (!has_line((text), (line)))                           \
			fail_msg("missing line: %s\n--- in:\n%s", (line), (text)); \
	} while (0)

/* ---- lmcache_gauges_compute ------------------------------------------ */

static void test_gauges_for_target_a(void **state)
{
	struct lmcache_gauges g;

	(void)state;
	lmcache_gauges_compute(&fx.snap, &fx.cfg, &fx.targets[0], &g);
	assert_int_equal(g.pull_message_count, 12); /* roles[PULL].msg_frames_rx */
	assert_int_equal(g.reply_message_count, 7); /* roles[REPLY].msgs_rx */
	assert_int_equal(g.pull_active_requests, 3); /* 0x1000 only: 0x4000 is internal, 0x6000 closed */
	assert_int_equal(g.reply_active_requests, 1); /* 0x2000 only */
	assert_int_equal(g.pull_has_pending, 1);
	assert_int_equal(g.reply_has_pending, 1); /* from 0x3000, with no span */
}

static void test_gauges_ignore_other_pids(void **state)
{
	struct lmcache_gauges g;

	(void)state;
	lmcache_gauges_compute(&fx.snap, &fx.cfg, &fx.targets[1], &g);
	assert_int_equal(g.pull_message_count, 30);
	assert_int_equal(g.reply_message_count, 0);
	assert_int_equal(g.pull_active_requests, 10);
	assert_int_equal(g.reply_active_requests, 0);
	assert_int_equal(g.pull_has_pending, 1);
	assert_int_equal(g.reply_has_pending, 0);
}

static void test_gauges_pending_is_or_per_role(void **state)
{
	struct lmcache_gauges g;

	(void)state;
	/* Nothing pending on A's pull sockets except 0x1000, and internal 0x4000. */
	fx.sockets[0].s.pending = 0;
	lmcache_gauges_compute(&fx.snap, &fx.cfg, &fx.targets[0], &g);
	assert_int_equal(g.pull_has_pending, 0);
	assert_int_equal(g.reply_has_pending, 1);
	fx.sockets[2].s.pending = 0;
	lmcache_gauges_compute(&fx.snap, &fx.cfg, &fx.targets[0], &g);
	assert_int_equal(g.reply_has_pending, 0);
	/* Either of two sockets suffices. */
	fx.sockets[5].s.pending = 1;
	lmcache_gauges_compute(&fx.snap, &fx.cfg, &fx.targets[0], &g);
	assert_int_equal(g.pull_has_pending, 1);
}

static void test_gauges_sum_frames_over_open_pull_spans(void **state)
{
	struct lmcache_gauges g;

	(void)state;
	fx.sockets[5].s.span_start_ns = 999; /* 0x6000 opens a span of 4 frames */
	fx.sockets[2].s.span_start_ns = 1;   /* 0x3000 opens one too */
	lmcache_gauges_compute(&fx.snap, &fx.cfg, &fx.targets[0], &g);
	assert_int_equal(g.pull_active_requests, 3 + 4);
	assert_int_equal(g.reply_active_requests, 2);
}

/* LMCache's reply_socket_has_pending polls the reply ROUTER, not the heartbeat one. */
static void test_heartbeat_socket_left_out_of_reply_pending(void **state)
{
	static struct zs_role_rule rule = { .role = ZS_ROLE_REPLY, .heartbeat = true };
	struct lmcache_gauges g;

	(void)state;
	fx.sockets[1].s.pending = 1; /* 0x2000, RegisterMsg and HeartbeatMsg */
	fx.sockets[2].s.pending = 0;
	/* Mixed traffic: a reply socket. */
	assert_false(metrics_socket_is_heartbeat(&fx.snap, &fx.cfg, &fx.sockets[1]));
	lmcache_gauges_compute(&fx.snap, &fx.cfg, &fx.targets[0], &g);
	assert_int_equal(g.reply_has_pending, 1);
	/* Only heartbeats (the untyped one says nothing): the heartbeat socket. */
	fx.sock_types[0].msgs = 0;
	assert_true(metrics_socket_is_heartbeat(&fx.snap, &fx.cfg, &fx.sockets[1]));
	lmcache_gauges_compute(&fx.snap, &fx.cfg, &fx.targets[0], &g);
	assert_int_equal(g.reply_has_pending, 0);
	/* Its requests still count, as LMCache counts both ROUTERs. */
	assert_int_equal(g.reply_message_count, 7);
	assert_int_equal(g.reply_active_requests, 1);
	/* Another generation's heartbeats are not this socket's. */
	fx.sock_types[1].gen = 2;
	assert_false(metrics_socket_is_heartbeat(&fx.snap, &fx.cfg, &fx.sockets[1]));
	/* Named by --role ENDPOINT=heartbeat, whatever its traffic. */
	snprintf(rule.endpoint, sizeof(rule.endpoint), "%s", "ipc:///tmp/a\"b\\c");
	fx.cfg.roles = &rule;
	fx.cfg.nroles = 1;
	assert_true(metrics_socket_is_heartbeat(&fx.snap, &fx.cfg, &fx.sockets[2]));
	/* A PULL socket is never the heartbeat socket. */
	assert_false(metrics_socket_is_heartbeat(&fx.snap, &fx.cfg, &fx.sockets[0]));
}

static void test_state_complete_needs_pristine_sockets(void **state)
{
	struct metrics_target *a = &fx.targets[0];

	(void)state;
	a->has_state = true;
	a->state.complete = true;
	/* A's sockets were found already in use: what came before is unknown. */
	assert_false(lmcache_state_complete(&fx.snap, a));
	for (size_t i = 0; i < 6; i++)
		fx.sockets[i].s.pristine = 1;
	assert_true(lmcache_state_complete(&fx.snap, a));
	/* Only pull and reply sockets matter: the internal and PUSH ones do not. */
	fx.sockets[3].s.pristine = 0;
	fx.sockets[4].s.pristine = 0;
	assert_true(lmcache_state_complete(&fx.snap, a));
	fx.sockets[5].s.pristine = 0;
	assert_false(lmcache_state_complete(&fx.snap, a));
	fx.sockets[5].s.pristine = 1;
	/* The model's own word: a lost copy. */
	a->state.complete = false;
	assert_false(lmcache_state_complete(&fx.snap, a));
	/* No socket seen at all: nothing says the controller did not run before. */
	a->state.complete = true;
	{
		struct metrics_snapshot none = { .targets = fx.targets, .ntargets = 1 };

		assert_false(lmcache_state_complete(&none, a));
	}
	a->has_state = false;
	assert_false(lmcache_state_complete(&fx.snap, a));
}

static void test_state_gauges_rendered_with_lmcache_labels(void **state)
{
	static struct strbuf sb;
	struct metrics_target *a = &fx.targets[0];
	const char *text;

	(void)state;
	/* Without a model (--no-lmcache-state) there is no state family at all. */
	text = render(&sb);
	assert_null(strstr(text, "registered_workers_count"));
	assert_null(strstr(text, "zmqscope_lmcache_state_complete"));
	a->has_state = true;
	a->state = (struct lmc_gauges){
		.registered_workers = 3, .kv_pool_keys = 50000, .kv_op_seq_discontinuity = 2,
		.full_sync_workers_syncing = 1, .full_sync_workers_completed = 1,
		.full_sync_global_progress = 2.0 / 3.0, .full_sync_missing_batches = 4,
		.complete = true, .undecodable = 5, .decoded = 77, .memory_bytes = 4096,
	};
	a->tap_frames = 80;
	a->tap_dropped = 0;
	text = render(&sb);
	assert_line(text, "# TYPE lmcache:cache_controller_registered_workers_count gauge");
	assert_line(text, "lmcache:cache_controller_registered_workers_count{role=\"controller\","
			  "pid=\"100\",cluster=\"prod\"} 3");
	assert_line(text, "lmcache:cache_controller_kv_pool_keys_count{role=\"controller\","
			  "pid=\"100\",cluster=\"prod\"} 50000");
	assert_line(text, "lmcache:cache_controller_kv_op_seq_discontinuity_count{role=\"controller\","
			  "pid=\"100\",cluster=\"prod\"} 2");
	assert_line(text, "lmcache:cache_controller_full_sync_workers_syncing{role=\"controller\","
			  "pid=\"100\",cluster=\"prod\"} 1");
	assert_line(text, "lmcache:cache_controller_full_sync_workers_completed{role=\"controller\","
			  "pid=\"100\",cluster=\"prod\"} 1");
	assert_non_null(strstr(text, "lmcache:cache_controller_full_sync_global_progress{role=\"controller\","
				     "pid=\"100\",cluster=\"prod\"} 0.666666"));
	assert_line(text, "lmcache:cache_controller_full_sync_missing_batches_total{role=\"controller\","
			  "pid=\"100\",cluster=\"prod\"} 4");
	/* B has no model: no state series for it. */
	assert_null(strstr(text, "registered_workers_count{role=\"controller\",pid=\"200\""));
	/* A's sockets were not seen created, so the state is not known complete. */
	assert_line(text, "zmqscope_lmcache_state_complete{pid=\"100\",cluster=\"prod\"} 0");
	assert_line(text, "# TYPE zmqscope_lmcache_payloads_undecodable_total counter");
	assert_line(text, "zmqscope_lmcache_payloads_undecodable_total{pid=\"100\",cluster=\"prod\"} 5");
	assert_line(text, "zmqscope_tap_frames_total{pid=\"100\",cluster=\"prod\"} 80");
	assert_line(text, "zmqscope_tap_dropped_total{pid=\"100\",cluster=\"prod\"} 0");
	/* --no-lmcache-names keeps zmqscope's own families only. */
	fx.cfg.lmcache_names = false;
	text = render(&sb);
	assert_null(strstr(text, "lmcache:"));
	assert_line(text, "zmqscope_lmcache_state_memory_bytes{pid=\"100\",cluster=\"prod\"} 4096");
	strbuf_free(&sb);
}

static void test_gauges_without_sockets(void **state)
{
	struct metrics_snapshot empty = { .targets = fx.targets, .ntargets = 1 };
	struct lmcache_gauges g;

	(void)state;
	memset(&g, 0xff, sizeof(g));
	lmcache_gauges_compute(&empty, &fx.cfg, &fx.targets[0], &g);
	assert_int_equal(g.pull_message_count, 12);
	assert_int_equal(g.reply_message_count, 7);
	assert_int_equal(g.pull_active_requests, 0);
	assert_int_equal(g.reply_active_requests, 0);
	assert_int_equal(g.pull_has_pending, 0);
	assert_int_equal(g.reply_has_pending, 0);
}

/* ---- metrics_render --------------------------------------------------- */

static void test_render_lmcache_gauges(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	const char *text;

	(void)state;
	text = render(&sb);
	assert_line(text, "# TYPE lmcache:cache_controller_pull_socket_message_count gauge");
	assert_line(text, "lmcache:cache_controller_pull_socket_message_count"
			  "{role=\"controller\",pid=\"100\",cluster=\"prod\"} 12");
	assert_line(text, "lmcache:cache_controller_reply_socket_message_count"
			  "{role=\"controller\",pid=\"100\",cluster=\"prod\"} 7");
	assert_line(text, "lmcache:cache_controller_pull_socket_active_requests"
			  "{role=\"controller\",pid=\"100\",cluster=\"prod\"} 3");
	assert_line(text, "lmcache:cache_controller_reply_socket_active_requests"
			  "{role=\"controller\",pid=\"100\",cluster=\"prod\"} 1");
	assert_line(text, "lmcache:cache_controller_pull_socket_has_pending"
			  "{role=\"controller\",pid=\"100\",cluster=\"prod\"} 1");
	assert_line(text, "lmcache:cache_controller_reply_socket_has_pending"
			  "{role=\"controller\",pid=\"100\",cluster=\"prod\"} 1");
	/* Six families: HELP, TYPE and one sample per target each. */
	assert_int_equal(count_lines_containing(text, "# HELP lmcache:"), 6);
	assert_int_equal(count_lines_containing(text, "# TYPE lmcache:"), 6);
	assert_int_equal(count_lines_containing(text, "{role=\"controller\",pid=\"100\","), 6);
	assert_int_equal(count_lines_containing(text, "lmcache:"), 6 + 6 + 2 * 6);
	strbuf_free(&sb);
}

/*
 * An exited target keeps its last values, with zmqscope_target_up 0, until
 * its TTL runs out (observer.c drops it then).
 */
static void test_render_down_target_keeps_last_values(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	const char *text;

	(void)state;
	text = render(&sb);
	assert_line(text, "zmqscope_target_up{pid=\"100\",cluster=\"prod\"} 1");
	assert_line(text, "zmqscope_target_up{pid=\"200\",cluster=\"prod\"} 0");
	assert_line(text, "lmcache:cache_controller_pull_socket_message_count"
			  "{role=\"controller\",pid=\"200\",cluster=\"prod\"} 30");
	assert_line(text, "lmcache:cache_controller_pull_socket_active_requests"
			  "{role=\"controller\",pid=\"200\",cluster=\"prod\"} 10");
	assert_line(text, "lmcache:cache_controller_reply_socket_message_count"
			  "{role=\"controller\",pid=\"200\",cluster=\"prod\"} 0");
	assert_line(text, "zmqscope_frames_received_total{pid=\"200\",socket=\"0x1000\",type=\"PULL\","
			  "role=\"pull\",endpoint=\"tcp://127.0.0.1:6000\",cluster=\"prod\"} 0");
	strbuf_free(&sb);
}

static void test_render_without_lmcache_names(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	const char *text;

	(void)state;
	fx.cfg.lmcache_names = false;
	text = render(&sb);
	assert_null(strstr(text, "lmcache"));
	assert_null(strstr(text, "role=\"controller\""));
	assert_line(text, "zmqscope_target_up{pid=\"100\",cluster=\"prod\"} 1");
	strbuf_free(&sb);
}

static void test_render_all_user_labels_follow_own_labels(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	const char *text;

	(void)state;
	fx.cfg.nlabels = 2;
	text = render(&sb);
	assert_line(text, "lmcache:cache_controller_reply_socket_message_count"
			  "{role=\"controller\",pid=\"100\",cluster=\"prod\",zone=\"eu\\\"1\"} 7");
	assert_line(text, "zmqscope_map_entries{map=\"zs_socks\",cluster=\"prod\",zone=\"eu\\\"1\"} 6");
	fx.cfg.labels = NULL;
	fx.cfg.nlabels = 0;
	text = render(&sb);
	assert_line(text, "lmcache:cache_controller_reply_socket_message_count"
			  "{role=\"controller\",pid=\"100\"} 7");
	assert_line(text, "zmqscope_build_info{version=\"0.1.0\",libbpf_version=\"1.1.2\"} 1");
	strbuf_free(&sb);
}

static void test_render_per_socket_series(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	const char *text;

	(void)state;
	text = render(&sb);
#define S1 "{pid=\"100\",socket=\"0x1000\",type=\"PULL\",role=\"pull\",endpoint=\"tcp://127.0.0.1:5555\",cluster=\"prod\"}"
#define S1M(t) "{pid=\"100\",socket=\"0x1000\",type=\"PULL\",role=\"pull\",endpoint=\"tcp://127.0.0.1:5555\",msg_type=\"" t "\",cluster=\"prod\"}"
#define S2 "{pid=\"100\",socket=\"0x2000\",type=\"ROUTER\",role=\"reply\",endpoint=\"tcp://*:5556\",cluster=\"prod\"}"
	assert_line(text, "zmqscope_frames_received_total" S1 " 12");
	assert_line(text, "zmqscope_messages_received_total" S1M("unknown") " 4");
	assert_line(text, "zmqscope_bytes_received_total" S1 " 4096");
	assert_line(text, "zmqscope_receive_would_block_total" S1 " 3");
	assert_line(text, "zmqscope_receive_errors_total" S1 " 1");
	assert_line(text, "zmqscope_socket_active_handlers" S1 " 1");
	assert_line(text, "zmqscope_socket_pending" S1 " 1");
	assert_line(text, "zmqscope_frames_sent_total" S2 " 14");
	assert_line(text, "zmqscope_messages_sent_total" S2 " 7");
	assert_line(text, "zmqscope_bytes_sent_total" S2 " 1400");
	assert_line(text, "zmqscope_send_would_block_total" S2 " 2");
	assert_line(text, "zmqscope_send_errors_total" S2 " 5");
	assert_line(text, "zmqscope_socket_active_handlers" S2 " 1");
	assert_line(text, "zmqscope_socket_pending" S2 " 0");
#undef S1
#undef S1M
#undef S2
	/* Escaped endpoint; the internal and none roles are still exported per socket. */
	assert_line(text, "zmqscope_socket_pending{pid=\"100\",socket=\"0x3000\",type=\"ROUTER\","
			  "role=\"reply\",endpoint=\"ipc:///tmp/a\\\"b\\\\c\",cluster=\"prod\"} 1");
	assert_line(text, "zmqscope_socket_active_handlers{pid=\"100\",socket=\"0x4000\",type=\"PULL\","
			  "role=\"internal\",endpoint=\"inproc://gc\",cluster=\"prod\"} 1");
	assert_line(text, "zmqscope_socket_active_handlers{pid=\"100\",socket=\"0x6000\",type=\"PULL\","
			  "role=\"pull\",endpoint=\"tcp://127.0.0.1:5557\",cluster=\"prod\"} 0");
	assert_line(text, "zmqscope_socket_pending{pid=\"100\",socket=\"0x5000\",type=\"PUSH\","
			  "role=\"none\",endpoint=\"\",cluster=\"prod\"} 1");
	/* Sockets of roles without msg_type have one plain line. */
	assert_line(text, "zmqscope_messages_received_total{pid=\"100\",socket=\"0x4000\",type=\"PULL\","
			  "role=\"internal\",endpoint=\"inproc://gc\",cluster=\"prod\"} 0");
	/* 11 families x 7 sockets, and 9 lines of messages_received_total (see below). */
	assert_int_equal(count_lines_containing(text, ",socket=\"0x"), 11 * 7 + 9);
	strbuf_free(&sb);
}

static void test_render_messages_split_by_msg_type(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	const char *text;

	(void)state;
	text = render(&sb);
#define S2M(t) "zmqscope_messages_received_total{pid=\"100\",socket=\"0x2000\",type=\"ROUTER\"," \
	       "role=\"reply\",endpoint=\"tcp://*:5556\",msg_type=\"" t "\",cluster=\"prod\"} "
	assert_line(text, S2M("RegisterMsg") "5");
	assert_line(text, S2M("HeartbeatMsg") "2");
	assert_line(text, S2M("unknown") "1");
	/* Generation 2's 40 messages belong to an earlier socket. */
	assert_int_equal(count_lines_containing(text, "socket=\"0x2000\",type=\"ROUTER\",role=\"reply\","
						      "endpoint=\"tcp://*:5556\",msg_type="),
			 3);
#undef S2M
	/* A reply socket with no per-type entries reports all its messages as unknown. */
	assert_line(text, "zmqscope_messages_received_total{pid=\"100\",socket=\"0x3000\",type=\"ROUTER\","
			  "role=\"reply\",endpoint=\"ipc:///tmp/a\\\"b\\\\c\",msg_type=\"unknown\","
			  "cluster=\"prod\"} 0");
	strbuf_free(&sb);
}

static void test_msg_type_names(void **state)
{
	(void)state;
	assert_string_equal(metrics_msg_type_name(&fx.snap, PID_A, ZS_MSGTYPE_UNKNOWN), "unknown");
	assert_string_equal(metrics_msg_type_name(&fx.snap, PID_A, ZS_MSGTYPE_OTHER), "other");
	assert_string_equal(metrics_msg_type_name(&fx.snap, PID_A, 2), "RegisterMsg");
	assert_string_equal(metrics_msg_type_name(&fx.snap, PID_A, 3), "HeartbeatMsg");
	assert_string_equal(metrics_msg_type_name(&fx.snap, PID_B, 2), "LookupMsg");
	/* Ids are per process, and an id with no name yet reads as other. */
	assert_string_equal(metrics_msg_type_name(&fx.snap, PID_B, 3), "other");
	assert_string_equal(metrics_msg_type_name(&fx.snap, PID_A, 99), "other");
}

static void test_render_handler_histogram(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	const char *text;

	(void)state;
	text = render(&sb);
#define H "zmqscope_handler_duration_seconds"
#define HL "{pid=\"100\",role=\"reply\",msg_type=\"RegisterMsg\",cluster=\"prod\""
	assert_line(text, "# TYPE " H " histogram");
	assert_line(text, H "_bucket" HL ",le=\"1.024e-06\"} 1");
	assert_line(text, H "_bucket" HL ",le=\"2.048e-06\"} 1");
	assert_line(text, H "_bucket" HL ",le=\"4.096e-06\"} 3");
	assert_line(text, H "_bucket" HL ",le=\"0.000524288\"} 3");
	assert_line(text, H "_bucket" HL ",le=\"0.001048576\"} 6");
	assert_line(text, H "_bucket" HL ",le=\"274.877906944\"} 6");
	assert_line(text, H "_bucket" HL ",le=\"+Inf\"} 6");
	assert_line(text, H "_sum" HL "} 0.003");
	assert_line(text, H "_count" HL "} 6");
	/* Slots 10 to 39: 30 buckets, nothing below 1.024 us. */
	assert_int_equal(count_lines_containing(text, H "_bucket{"), ZS_HIST_SLOTS - 10);
	assert_null(strstr(text, "le=\"5.12e-07\""));
#undef H
#undef HL
	/* The request family is announced, with no series yet. */
	assert_line(text, "# TYPE zmqscope_request_duration_seconds histogram");
	assert_int_equal(count_lines_containing(text, "zmqscope_request_duration_seconds_"), 0);
	strbuf_free(&sb);
}

static void test_gauges_explicit_handler_roles(void **state)
{
	struct lmcache_gauges g;

	(void)state;
	/* --handler reply=...: the handler calls in progress replace the spans. */
	fx.targets[0].explicit_roles = 1U << ZS_ROLE_REPLY;
	fx.targets[0].explicit_active[ZS_ROLE_REPLY] = 4;
	fx.targets[0].explicit_active[ZS_ROLE_PULL] = 9; /* not explicit: ignored */
	lmcache_gauges_compute(&fx.snap, &fx.cfg, &fx.targets[0], &g);
	assert_int_equal(g.reply_active_requests, 4);
	assert_int_equal(g.pull_active_requests, 3);
	/* A negative count (a return seen without its entry) reads as 0. */
	fx.targets[0].explicit_roles = 1U << ZS_ROLE_PULL | 1U << ZS_ROLE_REPLY;
	fx.targets[0].explicit_active[ZS_ROLE_REPLY] = -2;
	lmcache_gauges_compute(&fx.snap, &fx.cfg, &fx.targets[0], &g);
	assert_int_equal(g.reply_active_requests, 0);
	assert_int_equal(g.pull_active_requests, 9);
	/* Pending and message counts still come from the sockets and totals. */
	assert_int_equal(g.pull_message_count, 12);
	assert_int_equal(g.reply_message_count, 7);
	assert_int_equal(g.pull_has_pending, 1);
	assert_int_equal(g.reply_has_pending, 1);
}

static void test_render_socket_handle_and_unknown_type(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	const char *text;

	(void)state;
	fx.sockets[0].handle = 0x7f3a1c2d4e50ULL;
	fx.sockets[0].s.type = ZS_TYPE_UNKNOWN;
	text = render(&sb);
	assert_line(text, "zmqscope_frames_received_total{pid=\"100\",socket=\"0x7f3a1c2d4e50\","
			  "type=\"unknown\",role=\"pull\",endpoint=\"tcp://127.0.0.1:5555\","
			  "cluster=\"prod\"} 12");
	strbuf_free(&sb);
}

static void test_render_health_series(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	const char *text;

	(void)state;
	text = render(&sb);
	assert_line(text, "zmqscope_probe_attached{pid=\"100\",probe=\"zmq_msg_recv\","
			  "library=\"/usr/lib/x86_64-linux-gnu/libzmq.so.5\",cluster=\"prod\"} 1");
	assert_line(text, "zmqscope_probe_attached{pid=\"100\",probe=\"zmq_getsockopt:session\","
			  "library=\"/usr/lib/x86_64-linux-gnu/libzmq.so.5\",cluster=\"prod\"} 1");
	assert_line(text, "zmqscope_probe_attached{pid=\"100\",probe=\"zmq_msg_recv:return\","
			  "library=\"/usr/lib/x86_64-linux-gnu/libzmq.so.5\",cluster=\"prod\"} 0");
	assert_int_equal(count_lines_containing(text, "zmqscope_probe_attached{"), 3);
	assert_line(text, "zmqscope_map_entries{map=\"zs_socks\",cluster=\"prod\"} 6");
	assert_line(text, "zmqscope_map_entries{map=\"zs_hists\",cluster=\"prod\"} 8192");
	assert_line(text, "zmqscope_map_max_entries{map=\"zs_socks\",cluster=\"prod\"} 16384");
	assert_line(text, "zmqscope_map_update_failures_total{map=\"zs_hists\",cluster=\"prod\"} 17");
	assert_line(text, "zmqscope_map_update_failures_total{map=\"zs_socks\",cluster=\"prod\"} 0");
	assert_line(text, "# TYPE zmqscope_map_update_failures_total counter");
	assert_line(text, "zmqscope_build_info{version=\"0.1.0\",libbpf_version=\"1.1.2\","
			  "cluster=\"prod\"} 1");
	strbuf_free(&sb);
}

static void test_render_scrape_duration(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	metrics_render_scrape_duration(&fx.cfg, 0.0125, &sb);
	assert_string_equal(strbuf_str(&sb),
			    "# HELP zmqscope_scrape_duration_seconds Time spent reading the maps and "
			    "rendering this response.\n"
			    "# TYPE zmqscope_scrape_duration_seconds gauge\n"
			    "zmqscope_scrape_duration_seconds{cluster=\"prod\"} 0.0125\n");
	strbuf_free(&sb);
}

/*
 * The exposition's shape: every family has exactly one HELP, then its TYPE
 * right after, then only its own samples; every sample belongs to the
 * family announced last, and no family is announced twice.
 */
static void check_structure(const char *text, size_t *nfamilies)
{
	char families[64][128];
	size_t nf = 0;
	char current[128] = "", type[32] = "";
	bool want_type = false;
	const char *line = text;

	assert_true(*text);
	assert_int_equal(text[strlen(text) - 1], '\n');
	while (*line) {
		const char *end = strchr(line, '\n');
		size_t len = (size_t)(end - line);
		char buf[1024], name[128];

		assert_non_null(end);
		assert_true(len > 0 && len < sizeof(buf));
		memcpy(buf, line, len);
		buf[len] = '\0';
		line = end + 1;

		if (!strncmp(buf, "# HELP ", 7)) {
			assert_false(want_type);
			assert_int_equal(sscanf(buf + 7, "%127s", name), 1);
			assert_true(expo_valid_metric_name(name));
			for (size_t i = 0; i < nf; i++)
				if (!strcmp(families[i], name))
					fail_msg("family %s announced twice", name);
			assert_true(nf < 64);
			snprintf(families[nf++], sizeof(families[0]), "%s", name);
			snprintf(current, sizeof(current), "%s", name);
			want_type = true;
			continue;
		}
		if (!strncmp(buf, "# TYPE ", 7)) {
			assert_true(want_type);
			assert_int_equal(sscanf(buf + 7, "%127s %31s", name, type), 2);
			assert_string_equal(name, current);
			assert_true(!strcmp(type, "gauge") || !strcmp(type, "counter") ||
				    !strcmp(type, "histogram"));
			want_type = false;
			continue;
		}
		assert_false(want_type);
		assert_int_not_equal(buf[0], '#');
		/* A sample: NAME[{labels}] VALUE */
		{
			size_t nlen = strcspn(buf, "{ ");
			const char *value = strrchr(buf, ' ');
			char *rest;

			assert_true(nlen < sizeof(name));
			memcpy(name, buf, nlen);
			name[nlen] = '\0';
			if (!strcmp(type, "histogram")) {
				/* NAME_bucket (with le), NAME_sum or NAME_count */
				size_t cl = strlen(current);

				if (strncmp(name, current, cl) ||
				    (strcmp(name + cl, "_bucket") && strcmp(name + cl, "_sum") &&
				     strcmp(name + cl, "_count")))
					fail_msg("sample '%s' outside its histogram %s", buf, current);
				if (!strcmp(name + cl, "_bucket"))
					assert_non_null(strstr(buf, "le=\""));
			} else if (strcmp(name, current)) {
				fail_msg("sample '%s' outside its family (current: %s)", buf, current);
			}
			assert_non_null(value);
			if (buf[nlen] == '{')
				assert_int_equal(value[-1], '}');
			strtod(value + 1, &rest);
			assert_int_equal(*rest, '\0');
		}
	}
	assert_false(want_type);
	*nfamilies = nf;
}

static void test_render_structure(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	size_t nf;

	(void)state;
	check_structure(render(&sb), &nf);
	/* 6 LMCache + 12 per-socket + 2 histogram + 7 health families. */
	assert_int_equal(nf, 6 + 12 + 2 + 7);
	fx.cfg.lmcache_names = false;
	check_structure(render(&sb), &nf);
	assert_int_equal(nf, 12 + 2 + 7);
	fx.cfg.lmcache_names = true;
	/* Families are announced even when nothing is attached. */
	fx.snap.ntargets = 0;
	fx.snap.nsockets = 0;
	fx.snap.nmaps = 0;
	fx.snap.nhists = 0;
	check_structure(render(&sb), &nf);
	assert_int_equal(nf, 6 + 12 + 2 + 7);
	strbuf_free(&sb);
}

/* ---- promtool -------------------------------------------------------- */

/* Runs `promtool check metrics` on `text`; returns its exit status and output. */
static int promtool_check(const char *text, char *out, size_t outlen)
{
	char in_path[] = "/tmp/zs_metrics_XXXXXX", cmd[256];
	FILE *f, *p;
	size_t n;
	int fd, status;

	fd = mkstemp(in_path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s 2>&1", in_path);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, outlen - 1, p);
	out[n] = '\0';
	status = pclose(p);
	unlink(in_path);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_promtool_clean_without_lmcache_names(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	char out[8192];

	(void)state;
	if (access("/usr/bin/promtool", X_OK)) {
		skip();
		return;
	}
	fx.cfg.nlabels = 2;
	fx.cfg.lmcache_names = false;
	render(&sb);
	metrics_render_scrape_duration(&fx.cfg, 0.0125, &sb);
	if (promtool_check(strbuf_str(&sb), out, sizeof(out)) != 0 || out[0])
		fail_msg("promtool complained:\n%s", out);
	strbuf_free(&sb);
}

static void test_promtool_only_lints_lmcache_names(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	char out[8192];
	size_t colon = 0, count_suffix = 0, complaints = 0;

	(void)state;
	if (access("/usr/bin/promtool", X_OK)) {
		skip();
		return;
	}
	fx.cfg.nlabels = 2;
	/* Lint problems exit 3; a parse error would exit 1. */
	assert_int_equal(promtool_check(render(&sb), out, sizeof(out)), 3);
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "lmcache:cache_controller_", 25))
			fail_msg("promtool complained about more than lmcache names: %s", line);
		colon += strstr(line, "should not contain ':'") != NULL;
		count_suffix += strstr(line, "should not have \"_count\" suffix") != NULL;
		complaints++;
	}
	/* The colon in all six names, and _count on the two message counts. */
	assert_int_equal(colon, 6);
	assert_int_equal(count_suffix, 2);
	assert_int_equal(complaints, 8);
	strbuf_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_gauges_for_target_a, setup),
		cmocka_unit_test_setup(test_gauges_ignore_other_pids, setup),
		cmocka_unit_test_setup(test_gauges_pending_is_or_per_role, setup),
		cmocka_unit_test_setup(test_gauges_sum_frames_over_open_pull_spans, setup),
		cmocka_unit_test_setup(test_gauges_without_sockets, setup),
		cmocka_unit_test_setup(test_heartbeat_socket_left_out_of_reply_pending, setup),
		cmocka_unit_test_setup(test_state_complete_needs_pristine_sockets, setup),
		cmocka_unit_test_setup(test_state_gauges_rendered_with_lmcache_labels, setup),
		cmocka_unit_test_setup(test_render_lmcache_gauges, setup),
		cmocka_unit_test_setup(test_render_down_target_keeps_last_values, setup),
		cmocka_unit_test_setup(test_render_without_lmcache_names, setup),
		cmocka_unit_test_setup(test_render_all_user_labels_follow_own_labels, setup),
		cmocka_unit_test_setup(test_render_per_socket_series, setup),
		cmocka_unit_test_setup(test_render_messages_split_by_msg_type, setup),
		cmocka_unit_test_setup(test_msg_type_names, setup),
		cmocka_unit_test_setup(test_render_handler_histogram, setup),
		cmocka_unit_test_setup(test_gauges_explicit_handler_roles, setup),
		cmocka_unit_test_setup(test_render_socket_handle_and_unknown_type, setup),
		cmocka_unit_test_setup(test_render_health_series, setup),
		cmocka_unit_test_setup(test_render_scrape_duration, setup),
		cmocka_unit_test_setup(test_render_structure, setup),
		cmocka_unit_test_setup(test_promtool_clean_without_lmcache_names, setup),
		cmocka_unit_test_setup(test_promtool_only_lints_lmcache_names, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
