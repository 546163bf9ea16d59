// SPDX-License-Identifier: MIT
/*
 * The wire layer's snapshot -> metrics (user/wire_metrics.c): endpoint
 * names, closed and live connections merged per endpoint, connections of
 * other protocols left out, roles, LMCache's gauges from the wire alone,
 * and the queue depth when both layers run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "wire_metrics.h"

static struct zs_wire_ep tcp_ep(uint32_t tgid, uint16_t port)
{
	struct zs_wire_ep ep = { .tgid = tgid, .family = AF_INET, .port = port,
				 .side = ZS_WIRE_ACCEPTED };

	inet_pton(AF_INET, "127.0.0.1", ep.addr);
	return ep;
}

static struct zs_wire_conn conn(struct zs_wire_ep ep, const char *local, const char *peer,
				uint64_t frames_in, uint64_t msgs_in, uint64_t msgs_out)
{
	struct zs_wire_conn c = { .ep = ep, .rport = 40000 };

	inet_pton(AF_INET, "127.0.0.1", c.raddr);
	snprintf(c.out.socket_type, sizeof(c.out.socket_type), "%s", local);
	snprintf(c.in.socket_type, sizeof(c.in.socket_type), "%s", peer);
	c.in.mechanism = c.out.mechanism = ZMTP_MECH_NULL;
	c.in.handshake_done = c.out.handshake_done = 1;
	c.in.c.frames = frames_in;
	c.in.c.msgs = msgs_in;
	c.out.c.msgs = msgs_out;
	c.out.c.frames = msgs_out;
	return c;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = strstr(text, line); p; p = strstr(p + 1, line))
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

#define assert_line(text, line)                                          \
	do {                                                             \
		if (!has_line(text, line))                               \
			fail_msg("missing line: %s\n---\n%s", line, text); \
	} while (0)

static void test_endpoint_strings(void **state)
{
	struct zs_wire_ep ep = tcp_ep(1, 5555);
	char s[128];

	(void)state;
	wire_endpoint_string(&ep, s, sizeof(s));
	assert_string_equal(s, "tcp://127.0.0.1:5555");
	memset(&ep, 0, sizeof(ep));
	ep.family = AF_INET6;
	ep.port = 7;
	inet_pton(AF_INET6, "::1", ep.addr);
	wire_endpoint_string(&ep, s, sizeof(s));
	assert_string_equal(s, "tcp://[::1]:7");
	memset(&ep, 0, sizeof(ep));
	ep.family = AF_UNIX;
	strcpy(ep.path, "/tmp/x.ipc");
	wire_endpoint_string(&ep, s, sizeof(s));
	assert_string_equal(s, "ipc:///tmp/x.ipc");
	memset(ep.path, 0, sizeof(ep.path));
	strcpy(ep.path + 1, "abstract");
	wire_endpoint_string(&ep, s, sizeof(s));
	assert_string_equal(s, "ipc://@abstract");
}

static void test_roles(void **state)
{
	struct zs_role_rule rules[2] = {
		{ .by_type = true, .type = 5 /* DEALER */, .role = ZS_ROLE_REPLY },
		{ .by_type = false, .role = ZS_ROLE_NONE, .endpoint = "tcp://127.0.0.1:9" },
	};
	struct wire_snapshot s = { .roles = rules, .nroles = 2 };

	(void)state;
	assert_int_equal(wire_role(&s, "PULL", "tcp://127.0.0.1:1"), ZS_ROLE_PULL);
	assert_int_equal(wire_role(&s, "ROUTER", "tcp://127.0.0.1:1"), ZS_ROLE_REPLY);
	assert_int_equal(wire_role(&s, "REP", "tcp://127.0.0.1:1"), ZS_ROLE_REPLY);
	assert_int_equal(wire_role(&s, "DEALER", "tcp://127.0.0.1:1"), ZS_ROLE_REPLY);
	assert_int_equal(wire_role(&s, "ROUTER", "tcp://127.0.0.1:9"), ZS_ROLE_NONE);
	assert_int_equal(wire_role(&s, "", "tcp://127.0.0.1:1"), ZS_ROLE_NONE);
}

struct fixture {
	struct wire_conn_entry conns[3];
	struct wire_ep_entry eps[1];
	struct wire_type_entry types[1];
	struct metrics_socket app[1];
	uint32_t pids[1];
	struct wire_snapshot s;
};

static void build(struct fixture *f, bool app)
{
	struct zs_wire_ep pull = tcp_ep(42, 6000), reply = tcp_ep(42, 6001);

	memset(f, 0, sizeof(*f));
	/* PULL: a closed connection left 10 frames; one live with 5 more. */
	f->eps[0].ep = pull;
	f->eps[0].t.in.frames = 10;
	f->eps[0].t.in.msgs = 4;
	f->eps[0].t.opened = f->eps[0].t.closed = 1;
	strcpy(f->eps[0].t.local_type, "PULL");
	f->conns[0] = (struct wire_conn_entry){ { 42, 7 }, conn(pull, "PULL", "PUSH", 5, 2, 0) };
	/* ROUTER: 3 requests in, 2 replies out. */
	f->conns[1] = (struct wire_conn_entry){ { 42, 8 }, conn(reply, "ROUTER", "DEALER", 6, 3, 2) };
	snprintf(f->conns[1].c.in.identity, ZMTP_IDENTITY_LEN, "w\x01");
	f->conns[1].c.in.identity_len = 2;
	/* An HTTP client of the same process: proved not ZMTP, not reported. */
	f->conns[2] = (struct wire_conn_entry){ { 42, 9 }, conn(reply, "", "", 0, 0, 0) };
	f->conns[2].c.in.fail = ZMTP_FAIL_SIGNATURE;
	f->conns[2].c.in.state = ZMTP_ST_DEAD;
	f->types[0].k.ep = reply;
	f->types[0].k.dir = ZS_WIRE_IN;
	strcpy(f->types[0].k.name, "LookupMsg");
	f->types[0].msgs = 3;
	f->app[0].tgid = 42;
	strcpy(f->app[0].s.endpoint, "tcp://127.0.0.1:6000");
	f->app[0].s.c.frames_rx = 11;
	f->pids[0] = 42;
	f->s = (struct wire_snapshot){
		.conns = f->conns, .nconns = 3, .eps = f->eps, .neps = 1, .types = f->types,
		.ntypes = 1, .pids = f->pids, .npids = 1, .app_layer = app,
		.app_sockets = app ? f->app : NULL, .napp_sockets = app ? 1 : 0,
	};
}

static char *render(const struct wire_snapshot *s, bool lmcache)
{
	struct metrics_config cfg = { .lmcache_names = lmcache };
	struct strbuf sb = STRBUF_INIT;

	wire_metrics_render(s, &cfg, &sb);
	assert_false(sb.oom);
	return sb.buf;
}

static void test_views_merge_closed_and_live(void **state)
{
	static struct fixture f;
	struct wire_ep_view *v;
	size_t n;

	(void)state;
	build(&f, false);
	n = wire_ep_views(&f.s, &v);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].in.frames, 15);
	assert_int_equal(v[0].in.msgs, 6);
	assert_int_equal(v[0].opened, 2);
	assert_int_equal(v[0].closed, 1);
	assert_int_equal(v[0].live, 1);
	assert_int_equal(v[0].role, ZS_ROLE_PULL);
	assert_int_equal(v[1].opened, 1); /* the HTTP connection is not one */
	assert_int_equal(v[1].live, 1);
	assert_int_equal(v[1].role, ZS_ROLE_REPLY);
	free(v);
}

static void test_render_wire_alone(void **state)
{
	static struct fixture f;
	char *text;

	(void)state;
	build(&f, false);
	text = render(&f.s, true);
	assert_line(text, "lmcache:cache_controller_pull_socket_message_count{role=\"controller\",pid=\"42\"} 15");
	assert_line(text, "lmcache:cache_controller_reply_socket_message_count{role=\"controller\",pid=\"42\"} 3");
	assert_line(text, "lmcache:cache_controller_reply_socket_active_requests{role=\"controller\",pid=\"42\"} 1");
	assert_null(strstr(text, "has_pending"));
	assert_line(text, "zmqscope_wire_frames_total{pid=\"42\",endpoint=\"tcp://127.0.0.1:6000\",side=\"bind\",socket_type=\"PULL\",direction=\"in\"} 15");
	assert_line(text, "zmqscope_wire_messages_total{pid=\"42\",endpoint=\"tcp://127.0.0.1:6001\",side=\"bind\",socket_type=\"ROUTER\",direction=\"out\"} 2");
	assert_line(text, "zmqscope_wire_connections_opened_total{pid=\"42\",endpoint=\"tcp://127.0.0.1:6000\",side=\"bind\",socket_type=\"PULL\"} 2");
	assert_line(text, "zmqscope_wire_messages_by_type_total{pid=\"42\",endpoint=\"tcp://127.0.0.1:6001\",direction=\"in\",msg_type=\"LookupMsg\"} 3");
	assert_line(text, "zmqscope_wire_connection_info{pid=\"42\",endpoint=\"tcp://127.0.0.1:6001\",peer=\"127.0.0.1:40000\",conn=\"0\",mechanism=\"NULL\",peer_socket_type=\"DEALER\",peer_identity=\"0x7701\",socket_type=\"ROUTER\",handshake=\"done\"} 1");
	/* Two ZMTP connections; the HTTP one has no series at all. */
	assert_int_equal(strstr(text, "zmqscope_wire_connection_info{") ? 1 : 0, 1);
	{
		size_t n = 0;

		for (const char *p = strstr(text, "\nzmqscope_wire_connection_info{"); p;
		     p = strstr(p + 1, "\nzmqscope_wire_connection_info{"))
			n++;
		assert_int_equal(n, 2);
	}
	assert_null(strstr(text, "zmqscope_wire_queue_depth{"));
	free(text);
}

static void test_render_both_layers(void **state)
{
	static struct fixture f;
	char *text;

	(void)state;
	build(&f, true);
	text = render(&f.s, true);
	/* The app layer keeps LMCache's gauges; the wire adds arrived - read. */
	assert_null(strstr(text, "lmcache:"));
	assert_line(text, "zmqscope_wire_queue_depth{pid=\"42\",endpoint=\"tcp://127.0.0.1:6000\",role=\"pull\"} 4");
	/* No app socket with the ROUTER's endpoint: no depth can be known. */
	assert_null(strstr(text, "zmqscope_wire_queue_depth{pid=\"42\",endpoint=\"tcp://127.0.0.1:6001\""));
	free(text);
}

static void test_parse_layers(void **state)
{
	static const struct {
		const char *arg;
		int rc;
		unsigned layers;
	} cases[] = {
		{ "app", 0, ZS_LAYER_APP },
		{ "wire", 0, ZS_LAYER_WIRE },
		{ "app,wire", 0, ZS_LAYER_APP | ZS_LAYER_WIRE },
		{ "wire,app", 0, ZS_LAYER_APP | ZS_LAYER_WIRE },
		{ "", -EINVAL, 0 },
		{ "wire,", -EINVAL, 0 },
		{ ",wire", -EINVAL, 0 },
		{ "wires", -EINVAL, 0 },
		{ "APP", -EINVAL, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned layers = 77;
		char err[256] = "";
		int rc = parse_layers(cases[i].arg, &layers, err, sizeof(err));

		assert_int_equal(rc, cases[i].rc);
		if (rc)
			assert_non_null(strstr(err, "expected app, wire or app,wire"));
		else
			assert_int_equal(layers, cases[i].layers);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint_strings),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_views_merge_closed_and_live),
		cmocka_unit_test(test_render_wire_alone),
		cmocka_unit_test(test_render_both_layers),
		cmocka_unit_test(test_parse_layers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
