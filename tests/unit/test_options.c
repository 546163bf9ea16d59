// SPDX-License-Identifier: MIT
/* Command line parsing: labels, listen addresses, role rules, handlers, argp. */
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
#include <unistd.h>

#include "options.h"

/* ---- parse_label ------------------------------------------------------ */

static void test_label_valid(void **state)
{
	struct zs_label l;
	char err[256] = "";

	(void)state;
	assert_int_equal(parse_label("cluster=prod", &l, err, sizeof(err)), 0);
	assert_string_equal(l.name, "cluster");
	assert_string_equal(l.value, "prod");
	/* The value is everything after the first '=', and may be empty. */
	assert_int_equal(parse_label("k=a=b c", &l, err, sizeof(err)), 0);
	assert_string_equal(l.name, "k");
	assert_string_equal(l.value, "a=b c");
	assert_int_equal(parse_label("_x=", &l, err, sizeof(err)), 0);
	assert_string_equal(l.name, "_x");
	assert_string_equal(l.value, "");
}

static void test_label_invalid(void **state)
{
	static const char *const bad[] = {
		"novalue",	/* no '=' */
		"=v",		/* empty name */
		"1x=v",		/* not a label name */
		"a-b=v",	/* not a label name */
		"a:b=v",	/* colons are for metric names only */
		"__x=v",	/* reserved for Prometheus */
		"pid=1",	/* set by zmqscope */
		"role=x",	/* set by zmqscope */
		"socket=x",	/* set by zmqscope */
		"le=1",		/* set by zmqscope */
	};
	struct zs_label l;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse_label(bad[i], &l, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, bad[i]));
	}
	err[0] = '\0';
	parse_label("pid=1", &l, err, sizeof(err));
	assert_non_null(strstr(err, "set by zmqscope"));
}

static void test_label_lengths(void **state)
{
	char arg[600], err[1024];
	struct zs_label l;

	(void)state;
	/* 255 value bytes fit, 256 do not. */
	memset(arg, 0, sizeof(arg));
	memcpy(arg, "k=", 2);
	memset(arg + 2, 'v', 255);
	assert_int_equal(parse_label(arg, &l, err, sizeof(err)), 0);
	assert_int_equal(strlen(l.value), 255);
	arg[2 + 255] = 'v';
	assert_int_equal(parse_label(arg, &l, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "longer than 255"));
	/* 63 name bytes fit, 64 do not. */
	memset(arg, 0, sizeof(arg));
	memset(arg, 'n', 63);
	strcat(arg, "=v");
	assert_int_equal(parse_label(arg, &l, err, sizeof(err)), 0);
	assert_int_equal(strlen(l.name), 63);
	memset(arg, 0, sizeof(arg));
	memset(arg, 'n', 64);
	strcat(arg, "=v");
	assert_int_equal(parse_label(arg, &l, err, sizeof(err)), -EINVAL);
}

/* ---- parse_listen ----------------------------------------------------- */

static void test_listen_valid(void **state)
{
	struct zs_listen l;
	char err[256];

	(void)state;
	assert_int_equal(parse_listen("127.0.0.1:9850", &l, err, sizeof(err)), 0);
	assert_string_equal(l.host, "127.0.0.1");
	assert_int_equal(l.port, 9850);
	assert_int_equal(l.family, AF_INET);

	assert_int_equal(parse_listen("[::1]:9850", &l, err, sizeof(err)), 0);
	assert_string_equal(l.host, "::1");
	assert_int_equal(l.port, 9850);
	assert_int_equal(l.family, AF_INET6);

	assert_int_equal(parse_listen("0.0.0.0:1", &l, err, sizeof(err)), 0);
	assert_string_equal(l.host, "0.0.0.0");
	assert_int_equal(l.port, 1);
	assert_int_equal(l.family, AF_INET);

	assert_int_equal(parse_listen("[fe80::1:2]:65535", &l, err, sizeof(err)), 0);
	assert_string_equal(l.host, "fe80::1:2");
	assert_int_equal(l.port, 65535);
	assert_int_equal(l.family, AF_INET6);
}

static void test_listen_invalid(void **state)
{
	static const char *const bad[] = {
		"127.0.0.1:0",	   "127.0.0.1:65536", "127.0.0.1:abc", "127.0.0.1:-1",
		"127.0.0.1:",	   "127.0.0.1",	      "localhost:9850", "[::1]",
		"[::1]9850",	   "[::1:9850",	      ":9850",		"[]:9850",
		"256.0.0.1:9850", "127.0.0.1:98 50", "::1:9850",
	};
	struct zs_listen l;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (parse_listen(bad[i], &l, err, sizeof(err)) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_non_null(strstr(err, bad[i]));
	}
	parse_listen("localhost:9850", &l, err, sizeof(err));
	assert_non_null(strstr(err, "not a numeric IPv4 or IPv6 address"));
	parse_listen("127.0.0.1:0", &l, err, sizeof(err));
	assert_non_null(strstr(err, "1-65535"));
}

/* ---- parse_role_rule -------------------------------------------------- */

static void test_role_rule_by_type(void **state)
{
	struct zs_role_rule r;
	char err[256];

	(void)state;
	assert_int_equal(parse_role_rule("PULL=pull", &r, err, sizeof(err)), 0);
	assert_true(r.by_type);
	assert_int_equal(r.type, 7);
	assert_int_equal(r.role, ZS_ROLE_PULL);
	assert_string_equal(r.endpoint, "");

	/* Socket type names are case-insensitive. */
	assert_int_equal(parse_role_rule("router=reply", &r, err, sizeof(err)), 0);
	assert_true(r.by_type);
	assert_int_equal(r.type, 6);
	assert_int_equal(r.role, ZS_ROLE_REPLY);

	assert_int_equal(parse_role_rule("Dealer=none", &r, err, sizeof(err)), 0);
	assert_true(r.by_type);
	assert_int_equal(r.type, 5);
	assert_int_equal(r.role, ZS_ROLE_NONE);
}

static void test_role_rule_by_endpoint(void **state)
{
	struct zs_role_rule r;
	char err[256];

	(void)state;
	assert_int_equal(parse_role_rule("tcp://127.0.0.1:5555=reply", &r, err, sizeof(err)), 0);
	assert_false(r.by_type);
	assert_int_equal(r.role, ZS_ROLE_REPLY);
	assert_string_equal(r.endpoint, "tcp://127.0.0.1:5555");

	/* Split at the last '=': an endpoint may hold one. */
	assert_int_equal(parse_role_rule("ipc:///tmp/a=b=pull", &r, err, sizeof(err)), 0);
	assert_false(r.by_type);
	assert_int_equal(r.role, ZS_ROLE_PULL);
	assert_string_equal(r.endpoint, "ipc:///tmp/a=b");
}

static void test_role_rule_heartbeat(void **state)
{
	struct zs_role_rule r;
	char err[256];

	(void)state;
	assert_int_equal(parse_role_rule("tcp://127.0.0.1:9001=heartbeat", &r, err, sizeof(err)), 0);
	assert_false(r.by_type);
	assert_true(r.heartbeat);
	/* still a reply socket: its requests count in reply_socket_message_count */
	assert_int_equal(r.role, ZS_ROLE_REPLY);
	assert_string_equal(r.endpoint, "tcp://127.0.0.1:9001");
	assert_int_equal(parse_role_rule("tcp://127.0.0.1:9001=reply", &r, err, sizeof(err)), 0);
	assert_false(r.heartbeat);
}

static void test_role_rule_invalid(void **state)
{
	static const char *const bad[] = {
		"PULL",		     /* no '=' */
		"=pull",	     /* nothing before '=' */
		"PULL=",	     /* no role */
		"PULL=puller",	     /* no such role */
		"PULL=internal",     /* zmqscope's own, not selectable */
		"PULL=Pull",	     /* roles are lower case */
		"127.0.0.1:5555=pull", /* neither a type nor an endpoint */
		"FOO=pull",
	};
	struct zs_role_rule r;
	char err[256];
	char longer[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (parse_role_rule(bad[i], &r, err, sizeof(err)) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_non_null(strstr(err, bad[i]));
	}
	parse_role_rule("FOO=pull", &r, err, sizeof(err));
	assert_non_null(strstr(err, "neither a socket type"));
	parse_role_rule("PULL=bogus", &r, err, sizeof(err));
	assert_non_null(strstr(err, "pull, reply, heartbeat or none"));
	/* heartbeat names one socket, so a type is refused */
	assert_int_equal(parse_role_rule("ROUTER=heartbeat", &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "give its endpoint"));

	/* An endpoint must fit ZS_ENDPOINT_LEN with its NUL. */
	memset(longer, 0, sizeof(longer));
	memcpy(longer, "tcp://", 6);
	memset(longer + 6, 'h', ZS_ENDPOINT_LEN - 1 - 6);
	strcat(longer, "=pull");
	assert_int_equal(parse_role_rule(longer, &r, err, sizeof(err)), 0);
	assert_int_equal(strlen(r.endpoint), ZS_ENDPOINT_LEN - 1);
	memset(longer, 0, sizeof(longer));
	memcpy(longer, "tcp://", 6);
	memset(longer + 6, 'h', ZS_ENDPOINT_LEN - 6);
	strcat(longer, "=pull");
	assert_int_equal(parse_role_rule(longer, &r, err, sizeof(err)), -EINVAL);
}

/* ---- parse_handler_spec ----------------------------------------------- */

static void test_handler_spec_valid(void **state)
{
	struct zs_handler_spec h;
	char err[256];

	(void)state;
	assert_int_equal(parse_handler_spec("reply=/usr/bin/x:handle_message", &h, err, sizeof(err)),
			 0);
	assert_int_equal(h.role, ZS_ROLE_REPLY);
	assert_string_equal(h.path, "/usr/bin/x");
	assert_string_equal(h.symbol, "handle_message");

	/* The symbol follows the last ':'. */
	assert_int_equal(parse_handler_spec("pull=/opt/a:b/lib.so:_ZN3foo3barEv", &h, err,
					    sizeof(err)),
			 0);
	assert_int_equal(h.role, ZS_ROLE_PULL);
	assert_string_equal(h.path, "/opt/a:b/lib.so");
	assert_string_equal(h.symbol, "_ZN3foo3barEv");
}

static void test_handler_spec_invalid(void **state)
{
	static const char *const bad[] = {
		"reply=/usr/bin/x:",		 /* missing symbol */
		"reply=/usr/bin/x",		 /* no ':' */
		"reply=:sym",			 /* missing path */
		"none=/usr/bin/x:handle",	 /* role none cannot have a handler */
		"internal=/usr/bin/x:handle",
		"bogus=/usr/bin/x:handle",
		"/usr/bin/x:handle",		 /* no role */
		"averyveryverylongrole=/x:y",
	};
	struct zs_handler_spec h;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (parse_handler_spec(bad[i], &h, err, sizeof(err)) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_non_null(strstr(err, bad[i]));
	}
	parse_handler_spec("none=/usr/bin/x:handle", &h, err, sizeof(err));
	assert_non_null(strstr(err, "pull or reply"));
}

/* ---- small parsers and names ------------------------------------------ */

static void test_pid_and_uint(void **state)
{
	pid_t pid = 0;
	unsigned long v = 0;

	(void)state;
	assert_int_equal(parse_pid("4242", &pid), 0);
	assert_int_equal(pid, 4242);
	assert_int_equal(parse_pid("0", &pid), -EINVAL);
	assert_int_equal(parse_pid("-1", &pid), -EINVAL);
	assert_int_equal(parse_pid("+5", &pid), -EINVAL);
	assert_int_equal(parse_pid("12x", &pid), -EINVAL);
	assert_int_equal(parse_pid("", &pid), -EINVAL);
	assert_int_equal(parse_pid("2147483648", &pid), -EINVAL);
	assert_int_equal(parse_uint("65535", 65535, &v), 0);
	assert_int_equal(v, 65535);
	assert_int_equal(parse_uint("65536", 65535, &v), -EINVAL);
	assert_int_equal(parse_uint("0x10", 65535, &v), -EINVAL);
	assert_int_equal(parse_uint(NULL, 65535, &v), -EINVAL);
}

static void test_type_and_role_names(void **state)
{
	(void)state;
	assert_string_equal(socket_type_name(0), "PAIR");
	assert_string_equal(socket_type_name(6), "ROUTER");
	assert_string_equal(socket_type_name(7), "PULL");
	assert_string_equal(socket_type_name(20), "CHANNEL");
	assert_string_equal(socket_type_name(21), "unknown");
	assert_string_equal(socket_type_name(ZS_TYPE_UNKNOWN), "unknown");
	assert_int_equal(socket_type_from_name("push"), 8);
	assert_int_equal(socket_type_from_name("REP"), 4);
	assert_int_equal(socket_type_from_name("unknown"), -1);
	assert_string_equal(role_name(ZS_ROLE_PULL), "pull");
	assert_string_equal(role_name(ZS_ROLE_REPLY), "reply");
	assert_string_equal(role_name(ZS_ROLE_INTERNAL), "internal");
	assert_string_equal(role_name(ZS_ROLE_NONE), "none");
	assert_string_equal(role_name(99), "none");
	assert_int_equal(role_from_name("reply"), ZS_ROLE_REPLY);
	assert_int_equal(role_from_name("REPLY"), -1);
}

/* ---- options_parse ---------------------------------------------------- */

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

/* Runs options_parse with stdout sent to a file; returns what it printed. */
static int parse_capturing(int argc, char **argv, struct zs_options *o, char *err, size_t errlen,
			   char *printed, size_t printedlen)
{
	FILE *tmp = tmpfile();
	int saved, rc;
	size_t n;

	assert_non_null(tmp);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fileno(tmp), STDOUT_FILENO), STDOUT_FILENO);
	rc = options_parse(argc, argv, o, err, errlen);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(printed, 1, printedlen - 1, tmp);
	printed[n] = '\0';
	fclose(tmp);
	return rc;
}

static void test_parse_run_fills_options(void **state)
{
	char a0[] = "zmqscope", a1[] = "run", a2[] = "--pid", a3[] = "12", a4[] = "--pid",
	     a5[] = "13", a6[] = "--label", a7[] = "a=b", a8[] = "--listen", a9[] = "[::1]:9000",
	     a10[] = "--no-lmcache-names";
	char *argv[] = { a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, NULL };
	struct zs_options o;
	char err[256];

	(void)state;
	assert_int_equal(options_parse(ARGC(argv), argv, &o, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(o.cmd, ZS_CMD_RUN);
	assert_int_equal(o.npids, 2);
	assert_int_equal(o.pids[0], 12);
	assert_int_equal(o.pids[1], 13);
	assert_int_equal(o.nlabels, 1);
	assert_string_equal(o.labels[0].name, "a");
	assert_string_equal(o.labels[0].value, "b");
	assert_string_equal(o.listen.host, "::1");
	assert_int_equal(o.listen.port, 9000);
	assert_int_equal(o.listen.family, AF_INET6);
	assert_false(o.lmcache_names);
	assert_int_equal(o.nnames, 0);
	assert_int_equal(o.nports, 0);
	assert_int_equal(o.max_msg_types, ZS_DEFAULT_MAX_MSG_TYPES);
	assert_int_equal(o.ttl_seconds, ZS_DEFAULT_TTL_SECONDS);
	/* argv[1] is borrowed during the parse and given back. */
	assert_ptr_equal(argv[1], a1);
	assert_string_equal(argv[1], "run");
	options_free(&o);
}

static void test_parse_defaults(void **state)
{
	char a0[] = "zmqscope", a1[] = "start", a2[] = "--name", a3[] = "lmcache.*",
	     a4[] = "--port", a5[] = "5555", a6[] = "--role", a7[] = "tcp://127.0.0.1:5555=reply",
	     a8[] = "--handler", a9[] = "pull=/usr/lib/x.so:handle", a10[] = "--ttl", a11[] = "0",
	     a12[] = "--max-msg-types", a13[] = "8", a14[] = "-v";
	char *argv[] = { a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, NULL };
	struct zs_options o;
	char err[256];

	(void)state;
	assert_int_equal(options_parse(ARGC(argv), argv, &o, err, sizeof(err)), 0);
	assert_int_equal(o.cmd, ZS_CMD_START);
	assert_int_equal(o.npids, 0);
	assert_int_equal(o.nnames, 1);
	assert_string_equal(o.names[0], "lmcache.*");
	assert_int_equal(o.nports, 1);
	assert_int_equal(o.ports[0], 5555);
	assert_int_equal(o.nroles, 1);
	assert_string_equal(o.roles[0].endpoint, "tcp://127.0.0.1:5555");
	assert_int_equal(o.nhandlers, 1);
	assert_string_equal(o.handlers[0].symbol, "handle");
	assert_int_equal(o.ttl_seconds, 0);
	assert_int_equal(o.max_msg_types, 8);
	assert_true(o.verbose);
	/* Not given: the defaults. */
	assert_true(o.lmcache_names);
	assert_false(o.no_lmcache_state);
	assert_int_equal(o.max_kv_keys, ZS_DEFAULT_MAX_KV_KEYS);
	assert_int_equal(o.tap_ring_kb, ZS_DEFAULT_TAP_RING_KB);
	assert_string_equal(o.listen.host, "127.0.0.1");
	assert_int_equal(o.listen.port, 9850);
	assert_int_equal(o.listen.family, AF_INET);
	options_free(&o);
	assert_int_equal(o.nnames, 0);
}

static void test_parse_state_options(void **state)
{
	char a0[] = "zmqscope", a1[] = "run", a2[] = "--pid", a3[] = "1", a4[] = "--max-kv-keys",
	     a5[] = "500", a6[] = "--tap-ring-kb", a7[] = "16", a8[] = "--no-lmcache-state";
	char *argv[] = { a0, a1, a2, a3, a4, a5, a6, a7, a8, NULL };
	static const char *const bad[][2] = {
		{ "--tap-ring-kb", "3" },     { "--tap-ring-kb", "24" }, { "--tap-ring-kb", "2097152" },
		{ "--max-kv-keys", "0" },     { "--max-kv-keys", "x" },
	};
	struct zs_options o;
	char err[256];

	(void)state;
	assert_int_equal(options_parse(ARGC(argv), argv, &o, err, sizeof(err)), 0);
	assert_int_equal(o.max_kv_keys, 500);
	assert_int_equal(o.tap_ring_kb, 16);
	assert_true(o.no_lmcache_state);
	options_free(&o);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char b2[32], b3[32];
		char *bargv[] = { a0, a1, a2, a3, b2, b3, NULL };

		snprintf(b2, sizeof(b2), "%s", bad[i][0]);
		snprintf(b3, sizeof(b3), "%s", bad[i][1]);
		assert_int_equal(options_parse(ARGC(bargv), bargv, &o, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, bad[i][0]));
		assert_null(strchr(err, '\n'));
		options_free(&o);
	}
}

static void test_parse_duplicate_label_rejected(void **state)
{
	char a0[] = "zmqscope", a1[] = "run", a2[] = "--pid", a3[] = "1", a4[] = "--label",
	     a5[] = "zone=a", a6[] = "--label", a7[] = "zone=b";
	char *argv[] = { a0, a1, a2, a3, a4, a5, a6, a7, NULL };
	struct zs_options o;
	char err[256];

	(void)state;
	assert_int_equal(options_parse(ARGC(argv), argv, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'zone' is given twice"));
	options_free(&o);
}

static void test_parse_bad_label_value_reported(void **state)
{
	char a0[] = "zmqscope", a1[] = "run", a2[] = "--pid", a3[] = "1", a4[] = "--label",
	     a5[] = "pid=7";
	char *argv[] = { a0, a1, a2, a3, a4, a5, NULL };
	struct zs_options o;
	char err[256];

	(void)state;
	assert_int_equal(options_parse(ARGC(argv), argv, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--label 'pid=7'"));
	options_free(&o);
}

static void test_parse_unknown_flag_one_line_error(void **state)
{
	char a0[] = "zmqscope", a1[] = "run", a2[] = "--pid", a3[] = "1", a4[] = "--bogus-flag";
	char *argv[] = { a0, a1, a2, a3, a4, NULL };
	struct zs_options o;
	char err[256], printed[256];

	(void)state;
	assert_int_equal(parse_capturing(ARGC(argv), argv, &o, err, sizeof(err), printed,
					 sizeof(printed)),
			 -EINVAL);
	assert_string_equal(printed, "");
	assert_null(strchr(err, '\n'));
	assert_non_null(strstr(err, "--bogus-flag"));
	assert_non_null(strstr(err, "zmqscope run"));
	assert_ptr_equal(argv[1], a1);
	options_free(&o);
}

static void test_parse_missing_value_names_option(void **state)
{
	char a0[] = "zmqscope", a1[] = "run", a2[] = "--pid";
	char *argv[] = { a0, a1, a2, NULL };
	struct zs_options o;
	char err[256];

	(void)state;
	assert_int_equal(options_parse(ARGC(argv), argv, &o, err, sizeof(err)), -EINVAL);
	assert_null(strchr(err, '\n'));
	assert_non_null(strstr(err, "--pid"));
	options_free(&o);
}

static void test_parse_run_needs_selector(void **state)
{
	char a0[] = "zmqscope", a1[] = "run", a2[] = "--label", a3[] = "a=b";
	char *argv[] = { a0, a1, a2, a3, NULL };
	struct zs_options o;
	char err[256];

	(void)state;
	assert_int_equal(options_parse(ARGC(argv), argv, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no process selected"));
	assert_int_equal(options_parse(2, argv, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no process selected"));
}

static void test_parse_bad_pid(void **state)
{
	char a0[] = "zmqscope", a1[] = "run", a2[] = "--pid", a3[] = "0";
	char *argv[] = { a0, a1, a2, a3, NULL };
	struct zs_options o;
	char err[256];

	(void)state;
	assert_int_equal(options_parse(ARGC(argv), argv, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--pid '0'"));
}

static void test_parse_stop(void **state)
{
	char a0[] = "zmqscope", a1[] = "stop", a2[] = "--all", a3[] = "abc123", a4[] = "--purge";
	char *none[] = { a0, a1, NULL };
	char *all[] = { a0, a1, a2, a4, NULL };
	char *id[] = { a0, a1, a3, NULL };
	char *both[] = { a0, a1, a3, a2, NULL };
	struct zs_options o;
	char err[256];

	(void)state;
	assert_int_equal(options_parse(ARGC(none), none, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "stop needs an ID"));

	assert_int_equal(options_parse(ARGC(all), all, &o, err, sizeof(err)), 0);
	assert_int_equal(o.cmd, ZS_CMD_STOP);
	assert_true(o.all);
	assert_true(o.purge);
	assert_null(o.instance_id);

	assert_int_equal(options_parse(ARGC(id), id, &o, err, sizeof(err)), 0);
	assert_false(o.all);
	assert_string_equal(o.instance_id, "abc123");

	assert_int_equal(options_parse(ARGC(both), both, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not both"));
}

static void test_parse_status_and_list(void **state)
{
	char a0[] = "zmqscope", a1[] = "status", a2[] = "--json", a3[] = "list", a4[] = "extra";
	char *status[] = { a0, a1, a2, NULL };
	char *list[] = { a0, a3, NULL };
	char *extra[] = { a0, a3, a4, NULL };
	struct zs_options o;
	char err[256];

	(void)state;
	assert_int_equal(options_parse(ARGC(status), status, &o, err, sizeof(err)), 0);
	assert_int_equal(o.cmd, ZS_CMD_STATUS);
	assert_true(o.json);
	assert_int_equal(options_parse(ARGC(list), list, &o, err, sizeof(err)), 0);
	assert_int_equal(o.cmd, ZS_CMD_LIST);
	assert_false(o.json);
	assert_int_equal(options_parse(ARGC(extra), extra, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unexpected argument 'extra'"));
}

static void test_parse_top_level_help_returns_1(void **state)
{
	char a0[] = "zmqscope", a1[] = "--help", a2[] = "--version";
	char *help[] = { a0, a1, NULL };
	char *version[] = { a0, a2, NULL };
	struct zs_options o;
	char err[256], printed[4096];

	(void)state;
	assert_int_equal(parse_capturing(ARGC(help), help, &o, err, sizeof(err), printed,
					 sizeof(printed)),
			 1);
	assert_int_equal(strncmp(printed, "Usage: zmqscope COMMAND", 23), 0);
	assert_int_equal(parse_capturing(ARGC(version), version, &o, err, sizeof(err), printed,
					 sizeof(printed)),
			 1);
	assert_string_equal(printed, "zmqscope " ZS_VERSION "\n");
}

static void test_parse_command_help_returns_1_and_prints(void **state)
{
	char a0[] = "zmqscope", a1[] = "run", a2[] = "--help", a3[] = "stop", a4[] = "--usage";
	char *run_help[] = { a0, a1, a2, NULL };
	char *stop_usage[] = { a0, a3, a4, NULL };
	struct zs_options o;
	char err[256], printed[8192];

	(void)state;
	/* --help wins over the missing selector. */
	assert_int_equal(parse_capturing(ARGC(run_help), run_help, &o, err, sizeof(err), printed,
					 sizeof(printed)),
			 1);
	assert_non_null(strstr(printed, "Usage: zmqscope run"));
	assert_non_null(strstr(printed, "--no-lmcache-names"));
	assert_ptr_equal(run_help[1], a1);

	assert_int_equal(parse_capturing(ARGC(stop_usage), stop_usage, &o, err, sizeof(err),
					 printed, sizeof(printed)),
			 1);
	assert_non_null(strstr(printed, "zmqscope stop"));
	assert_non_null(strstr(printed, "--all"));
}

static void test_parse_unknown_command(void **state)
{
	char a0[] = "zmqscope", a1[] = "frobnicate";
	char *argv[] = { a0, a1, NULL };
	char *bare[] = { a0, NULL };
	struct zs_options o;
	char err[256];

	(void)state;
	assert_int_equal(options_parse(ARGC(argv), argv, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown command 'frobnicate'"));
	assert_int_equal(options_parse(ARGC(bare), bare, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no command given"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_valid),
		cmocka_unit_test(test_label_invalid),
		cmocka_unit_test(test_label_lengths),
		cmocka_unit_test(test_listen_valid),
		cmocka_unit_test(test_listen_invalid),
		cmocka_unit_test(test_role_rule_by_type),
		cmocka_unit_test(test_role_rule_by_endpoint),
		cmocka_unit_test(test_role_rule_heartbeat),
		cmocka_unit_test(test_parse_state_options),
		cmocka_unit_test(test_role_rule_invalid),
		cmocka_unit_test(test_handler_spec_valid),
		cmocka_unit_test(test_handler_spec_invalid),
		cmocka_unit_test(test_pid_and_uint),
		cmocka_unit_test(test_type_and_role_names),
		cmocka_unit_test(test_parse_run_fills_options),
		cmocka_unit_test(test_parse_defaults),
		cmocka_unit_test(test_parse_duplicate_label_rejected),
		cmocka_unit_test(test_parse_bad_label_value_reported),
		cmocka_unit_test(test_parse_unknown_flag_one_line_error),
		cmocka_unit_test(test_parse_missing_value_names_option),
		cmocka_unit_test(test_parse_run_needs_selector),
		cmocka_unit_test(test_parse_bad_pid),
		cmocka_unit_test(test_parse_stop),
		cmocka_unit_test(test_parse_status_and_list),
		cmocka_unit_test(test_parse_top_level_help_returns_1),
		cmocka_unit_test(test_parse_command_help_returns_1_and_prints),
		cmocka_unit_test(test_parse_unknown_command),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
