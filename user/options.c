// SPDX-License-Identifier: MIT
#include "options.h"

#include <argp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "exposition.h"

static const char *const type_names[ZS_NTYPES] = {
	"PAIR",	  "PUB",    "SUB",    "REQ",	 "REP",	   "DEALER", "ROUTER",
	"PULL",	  "PUSH",   "XPUB",   "XSUB",	 "STREAM", "SERVER", "CLIENT",
	"RADIO",  "DISH",   "GATHER", "SCATTER", "DGRAM",  "PEER",   "CHANNEL",
};

static const char *const role_names[ZS_ROLE_MAX] = {
	[ZS_ROLE_NONE] = "none",
	[ZS_ROLE_PULL] = "pull",
	[ZS_ROLE_REPLY] = "reply",
	[ZS_ROLE_INTERNAL] = "internal",
};

/* Labels zmqscope sets itself; a --label may not shadow them. */
static const char *const reserved_labels[] = {
	"pid", "socket", "type", "role", "endpoint", "msg_type", "probe", "library",
	"le",  "map",	 "version", "libbpf_version", "kind", "site",
};

const char *socket_type_name(unsigned type)
{
	return type < ZS_NTYPES ? type_names[type] : "unknown";
}

int socket_type_from_name(const char *name)
{
	for (int i = 0; i < ZS_NTYPES; i++)
		if (!strcasecmp(name, type_names[i]))
			return i;
	return -1;
}

const char *role_name(unsigned role)
{
	return role < ZS_ROLE_MAX ? role_names[role] : "none";
}

int role_from_name(const char *name)
{
	for (int i = 0; i < ZS_ROLE_MAX; i++)
		if (!strcmp(name, role_names[i]))
			return i;
	return -1;
}

int parse_uint(const char *arg, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!arg || !*arg || *arg == '-' || *arg == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int parse_pid(const char *arg, pid_t *out)
{
	unsigned long v;

	if (parse_uint(arg, INT_MAX, &v) || v == 0)
		return -EINVAL;
	*out = (pid_t)v;
	return 0;
}

static bool is_reserved_label(const char *name)
{
	for (size_t i = 0; i < sizeof(reserved_labels) / sizeof(reserved_labels[0]); i++)
		if (!strcmp(name, reserved_labels[i]))
			return true;
	return false;
}

int parse_label(const char *arg, struct zs_label *out, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	size_t nlen;

	if (!eq)
		return errmsg(err, errlen, -EINVAL, "--label '%s': expected NAME=VALUE", arg);
	nlen = (size_t)(eq - arg);
	if (nlen == 0 || nlen >= sizeof(out->name))
		return errmsg(err, errlen, -EINVAL, "--label '%s': the name must be 1 to %zu characters", arg,
			    sizeof(out->name) - 1);
	memcpy(out->name, arg, nlen);
	out->name[nlen] = '\0';
	if (!expo_valid_label_name(out->name))
		return errmsg(err, errlen, -EINVAL,
			    "--label '%s': '%s' is not a Prometheus label name "
			    "([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)",
			    arg, out->name);
	if (is_reserved_label(out->name))
		return errmsg(err, errlen, -EINVAL, "--label '%s': '%s' is set by zmqscope itself; pick another name",
			    arg, out->name);
	if (strlen(eq + 1) >= sizeof(out->value))
		return errmsg(err, errlen, -EINVAL, "--label '%s': the value is longer than %zu bytes", arg,
			    sizeof(out->value) - 1);
	strcpy(out->value, eq + 1);
	return 0;
}

int parse_listen(const char *arg, struct zs_listen *out, char *err, size_t errlen)
{
	const char *colon, *host = arg;
	size_t hlen;
	unsigned long port;
	unsigned char addr[sizeof(struct in6_addr)];

	if (arg[0] == '[') {
		const char *close = strchr(arg, ']');

		if (!close || close[1] != ':')
			return errmsg(err, errlen, -EINVAL, "--listen '%s': expected [IPV6]:PORT", arg);
		host = arg + 1;
		hlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(arg, ':');
		if (!colon)
			return errmsg(err, errlen, -EINVAL, "--listen '%s': expected ADDR:PORT, e.g. 127.0.0.1:9850",
				    arg);
		if (memchr(arg, ':', (size_t)(colon - arg)))
			return errmsg(err, errlen, -EINVAL, "--listen '%s': write an IPv6 address in brackets, "
				    "e.g. [::1]:9850", arg);
		hlen = (size_t)(colon - arg);
	}
	if (hlen == 0 || hlen >= sizeof(out->host))
		return errmsg(err, errlen, -EINVAL, "--listen '%s': missing or overlong address", arg);
	memcpy(out->host, host, hlen);
	out->host[hlen] = '\0';
	if (parse_uint(colon + 1, 65535, &port) || port == 0)
		return errmsg(err, errlen, -EINVAL, "--listen '%s': the port must be 1-65535", arg);
	out->port = (uint16_t)port;
	if (inet_pton(AF_INET, out->host, addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, out->host, addr) == 1)
		out->family = AF_INET6;
	else
		return errmsg(err, errlen, -EINVAL,
			    "--listen '%s': '%s' is not a numeric IPv4 or IPv6 address", arg,
			    out->host);
	return 0;
}

static int parse_role_value(const char *arg, const char *value, uint8_t *role, char *err,
			    size_t errlen)
{
	int r = role_from_name(value);

	if (r < 0 || r == ZS_ROLE_INTERNAL)
		return errmsg(err, errlen, -EINVAL,
			      "'%s': the role must be pull, reply, heartbeat or none", arg);
	*role = (uint8_t)r;
	return 0;
}

int parse_role_rule(const char *arg, struct zs_role_rule *out, char *err, size_t errlen)
{
	/* Endpoints contain '=' rarely but ':' always, so split at the last '='. */
	const char *eq = strrchr(arg, '=');
	size_t klen;
	char key[ZS_ENDPOINT_LEN];
	int type;

	memset(out, 0, sizeof(*out));
	if (!eq || eq == arg)
		return errmsg(err, errlen, -EINVAL, "--role '%s': expected ENDPOINT_OR_TYPE=ROLE", arg);
	klen = (size_t)(eq - arg);
	if (klen >= sizeof(key))
		return errmsg(err, errlen, -EINVAL, "--role '%s': the endpoint is longer than %d bytes", arg,
			    ZS_ENDPOINT_LEN - 1);
	memcpy(key, arg, klen);
	key[klen] = '\0';
	/* LMCache's heartbeat ROUTER: a reply socket left out of reply_socket_has_pending. */
	out->heartbeat = !strcmp(eq + 1, "heartbeat");
	if (parse_role_value(arg, out->heartbeat ? "reply" : eq + 1, &out->role, err, errlen))
		return -EINVAL;
	type = socket_type_from_name(key);
	if (type >= 0 && out->heartbeat)
		return errmsg(err, errlen, -EINVAL,
			      "--role '%s': heartbeat names one socket: give its endpoint, not a type",
			      arg);
	if (type >= 0) {
		out->by_type = true;
		out->type = (uint8_t)type;
		return 0;
	}
	if (!strstr(key, "://"))
		return errmsg(err, errlen, -EINVAL,
			    "--role '%s': '%s' is neither a socket type (PULL, ROUTER, ...) nor an "
			    "endpoint (tcp://HOST:PORT, ipc://..., inproc://...)",
			    arg, key);
	memcpy(out->endpoint, key, klen + 1);
	return 0;
}

int parse_handler_spec(const char *arg, struct zs_handler_spec *out, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	const char *colon;
	char role[16];
	size_t n;

	memset(out, 0, sizeof(*out));
	if (!eq || (size_t)(eq - arg) >= sizeof(role))
		return errmsg(err, errlen, -EINVAL, "--handler '%s': expected ROLE=PATH:SYMBOL", arg);
	memcpy(role, arg, (size_t)(eq - arg));
	role[eq - arg] = '\0';
	if (parse_role_value(arg, role, &out->role, err, errlen))
		return -EINVAL;
	if (out->role == ZS_ROLE_NONE)
		return errmsg(err, errlen, -EINVAL, "--handler '%s': the role must be pull or reply", arg);
	colon = strrchr(eq + 1, ':');
	if (!colon || colon == eq + 1 || !colon[1])
		return errmsg(err, errlen, -EINVAL, "--handler '%s': expected ROLE=PATH:SYMBOL", arg);
	n = (size_t)(colon - (eq + 1));
	if (n >= sizeof(out->path) || strlen(colon + 1) >= sizeof(out->symbol))
		return errmsg(err, errlen, -EINVAL, "--handler '%s': path or symbol too long", arg);
	memcpy(out->path, eq + 1, n);
	out->path[n] = '\0';
	strcpy(out->symbol, colon + 1);
	return 0;
}

/* --layer: a comma-separated set of app and wire. */
int parse_layers(const char *arg, unsigned *out, char *err, size_t errlen)
{
	unsigned layers = 0;
	const char *p = arg;

	while (*p) {
		size_t n = strcspn(p, ",");

		if (n == 3 && !strncmp(p, "app", 3))
			layers |= ZS_LAYER_APP;
		else if (n == 4 && !strncmp(p, "wire", 4))
			layers |= ZS_LAYER_WIRE;
		else
			return errmsg(err, errlen, -EINVAL,
				      "--layer '%s': expected app, wire or app,wire", arg);
		p += n;
		if (*p == ',' && *++p == '\0')
			layers = 0;
	}
	if (!layers)
		return errmsg(err, errlen, -EINVAL, "--layer '%s': expected app, wire or app,wire",
			      arg);
	*out = layers;
	return 0;
}

/* ---- argp ------------------------------------------------------------- */

enum {
	OPT_NO_LMCACHE = 0x100,
	OPT_HANDLER,
	OPT_MAX_TYPES,
	OPT_TTL,
	OPT_USER,
	OPT_PURGE,
	OPT_JSON,
	OPT_USAGE,
	OPT_ALL,
	OPT_MAX_SOCKETS,
	OPT_NO_SESSIONS,
	OPT_MAX_KV_KEYS,
	OPT_TAP_RING_KB,
	OPT_NO_LMCACHE_STATE,
	OPT_INTERVAL,
	OPT_WEB_CONFIG,
	OPT_LAYER,
};

struct parse_state {
	struct zs_options *o;
	char *err;
	size_t errlen;
	int rc;	      /* first error, or 1 after help */
	int bad_arg; /* argv index argp stopped at */
};

#define HELP_OPTIONS                                                                   \
	{ "help", 'h', NULL, 0, "Show this help and exit", -1 },                        \
	{                                                                              \
		"usage", OPT_USAGE, NULL, 0, "Show a short usage message and exit", -1 \
	}

static const struct argp_option attach_options[] = {
	{ NULL, 0, NULL, 0, "Selecting processes (at least one):", 1 },
	{ "pid", 'p', "PID", 0, "Attach to this process (repeatable)", 1 },
	{ "name", 'n', "REGEX", 0,
	  "Attach to processes whose comm or command line matches (repeatable)", 1 },
	{ "port", 'P', "PORT", 0, "Attach to the process listening on this TCP port (repeatable)",
	  1 },
	{ NULL, 0, NULL, 0, "Metrics:", 2 },
	{ "listen", 'l', "ADDR:PORT", 0,
	  "Serve HTTP here (default " ZS_DEFAULT_LISTEN "; [::1]:PORT for IPv6)", 2 },
	{ "label", 'L', "NAME=VALUE", 0, "Add this label to every series (repeatable)", 2 },
	{ "web.config.file", OPT_WEB_CONFIG, "FILE", 0,
	  "TLS and basic auth for --listen, in the exporter-toolkit YAML format "
	  "(tls_server_config, basic_auth_users)", 2 },
	{ "role", 'r', "ENDPOINT_OR_TYPE=ROLE", 0,
	  "Group sockets of this type (PULL, ROUTER, ...) or endpoint as pull, reply or none, "
	  "or an endpoint as heartbeat: a reply socket left out of reply_socket_has_pending, as "
	  "LMCache does (repeatable; default PULL=pull, ROUTER=reply, REP=reply)",
	  2 },
	{ "handler", OPT_HANDLER, "ROLE=PATH:SYMBOL", 0,
	  "Time ROLE's handlers by this native function instead of inferring them", 2 },
	{ "max-msg-types", OPT_MAX_TYPES, "N", 0,
	  "Distinct msg_type values per process before 'other' (default 64)", 2 },
	{ "max-sockets", OPT_MAX_SOCKETS, "N", 0,
	  "Sockets tracked at most, over all processes (default 16384)", 2 },
	{ "no-uprobe-sessions", OPT_NO_SESSIONS, NULL, 0,
	  "Probe zmq_getsockopt and the sends with uprobe+uretprobe pairs even on kernels "
	  "with uprobe sessions (a return trap per call, and a blocking send's errors "
	  "counted; for comparisons)",
	  3 },
	{ "layer", OPT_LAYER, "app|wire|app,wire", 0,
	  "Where the numbers come from: libzmq's API (app, the default), ZMTP parsed from the "
	  "process's socket syscalls (wire), or both",
	  2 },
	{ "no-lmcache-names", OPT_NO_LMCACHE, NULL, 0,
	  "Do not export the lmcache:cache_controller_* gauges", 2 },
	{ "no-lmcache-state", OPT_NO_LMCACHE_STATE, NULL, 0,
	  "Do not copy LMCache's state messages to rebuild its worker, KV-pool and full-sync "
	  "gauges (the six socket gauges stay)",
	  2 },
	{ "max-kv-keys", OPT_MAX_KV_KEYS, "N", 0,
	  "KV-pool keys held at most, per process, for the kv_pool_keys_count gauge; past it "
	  "the state is marked incomplete (default 10000000, about 16 bytes a key)",
	  2 },
	{ "tap-ring-kb", OPT_TAP_RING_KB, "KIB", 0,
	  "Size of the ring buffer that carries state messages to zmqscope (a power of two, "
	  "4-1048576; default 4096)",
	  2 },
	{ NULL, 0, NULL, 0, "Lifecycle:", 3 },
	{ "ttl", OPT_TTL, "SECONDS", 0,
	  "Keep an exited process's series this long before dropping them (default 300)", 3 },
	{ "user", OPT_USER, "NAME", 0,
	  "After attaching, drop to this user and the least capabilities", 3 },
	{ "verbose", 'v', NULL, 0, "Log attach details and libbpf warnings to stderr", 3 },
	HELP_OPTIONS,
	{ 0 },
};

static const struct argp_option stop_options[] = {
	{ "all", OPT_ALL, NULL, 0, "Stop every running instance", 1 },
	{ "purge", OPT_PURGE, NULL, 0, "Also remove pinned probes and counters", 1 },
	HELP_OPTIONS,
	{ 0 },
};

static const struct argp_option status_options[] = {
	{ "json", OPT_JSON, NULL, 0, "Print JSON instead of text", 1 },
	HELP_OPTIONS,
	{ 0 },
};

static int add_pid(struct parse_state *ps, const char *arg)
{
	struct zs_options *o = ps->o;

	if (o->npids == ZS_MAX_PIDS)
		return errmsg(ps->err, ps->errlen, -EINVAL, "--pid: at most %d processes", ZS_MAX_PIDS);
	if (parse_pid(arg, &o->pids[o->npids]))
		return errmsg(ps->err, ps->errlen, -EINVAL, "--pid '%s': expected a positive process id", arg);
	o->npids++;
	return 0;
}

static int check_regex(const char *arg, char *err, size_t errlen)
{
	regex_t re;
	int rc = regcomp(&re, arg, REG_EXTENDED | REG_NOSUB);

	if (rc) {
		char why[128];

		regerror(rc, &re, why, sizeof(why));
		return errmsg(err, errlen, -EINVAL, "--name '%s': %s (a POSIX extended regex)", arg, why);
	}
	regfree(&re);
	return 0;
}

static int add_label(struct parse_state *ps, const char *arg)
{
	struct zs_options *o = ps->o;
	struct zs_label *l = &o->labels[o->nlabels];

	if (o->nlabels == ZS_MAX_LABELS)
		return errmsg(ps->err, ps->errlen, -EINVAL, "--label: at most %d labels", ZS_MAX_LABELS);
	if (parse_label(arg, l, ps->err, ps->errlen))
		return -EINVAL;
	for (size_t i = 0; i < o->nlabels; i++)
		if (!strcmp(o->labels[i].name, l->name))
			return errmsg(ps->err, ps->errlen, -EINVAL, "--label '%s': '%s' is given twice", arg,
				    l->name);
	o->nlabels++;
	return 0;
}

static int parse_common_key(int key, struct argp_state *state)
{
	struct parse_state *ps = state->input;

	/*
	 * argp_state_help() prints nothing under ARGP_NO_ERRS, which
	 * options_parse() sets: call argp_help() directly.
	 */
	switch (key) {
	case 'h':
		argp_help(state->root_argp, stdout, ARGP_HELP_STD_HELP, state->name);
		ps->rc = 1;
		return 0;
	case OPT_USAGE:
		argp_help(state->root_argp, stdout, ARGP_HELP_USAGE, state->name);
		ps->rc = 1;
		return 0;
	case ARGP_KEY_ERROR:
		ps->bad_arg = state->next;
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static error_t parse_attach_key(int key, char *arg, struct argp_state *state)
{
	struct parse_state *ps = state->input;
	struct zs_options *o = ps->o;
	unsigned long v;
	int err = 0;

	if (ps->rc)
		return 0;
	switch (key) {
	case 'p':
		err = add_pid(ps, arg);
		break;
	case 'n':
		if (o->nnames == ZS_MAX_NAMES)
			err = errmsg(ps->err, ps->errlen, -EINVAL, "--name: at most %d patterns", ZS_MAX_NAMES);
		else if (check_regex(arg, ps->err, ps->errlen))
			err = -EINVAL;
		else
			o->names[o->nnames++] = strdup(arg);
		break;
	case 'P':
		if (o->nports == ZS_MAX_PORTS)
			err = errmsg(ps->err, ps->errlen, -EINVAL, "--port: at most %d ports", ZS_MAX_PORTS);
		else if (parse_uint(arg, 65535, &v) || !v)
			err = errmsg(ps->err, ps->errlen, -EINVAL, "--port '%s': expected 1-65535", arg);
		else
			o->ports[o->nports++] = (uint16_t)v;
		break;
	case 'l':
		err = parse_listen(arg, &o->listen, ps->err, ps->errlen);
		break;
	case 'L':
		err = add_label(ps, arg);
		break;
	case 'r':
		if (o->nroles == ZS_MAX_ROLE_RULES)
			err = errmsg(ps->err, ps->errlen, -EINVAL, "--role: at most %d rules", ZS_MAX_ROLE_RULES);
		else if (!(err = parse_role_rule(arg, &o->roles[o->nroles], ps->err, ps->errlen)))
			o->nroles++;
		break;
	case OPT_HANDLER:
		if (o->nhandlers == ZS_MAX_HANDLERS)
			err = errmsg(ps->err, ps->errlen, -EINVAL, "--handler: at most %d", ZS_MAX_HANDLERS);
		else if (!(err = parse_handler_spec(arg, &o->handlers[o->nhandlers], ps->err,
						    ps->errlen)))
			o->nhandlers++;
		break;
	case OPT_MAX_TYPES:
		if (parse_uint(arg, 1024, &v) || !v)
			err = errmsg(ps->err, ps->errlen, -EINVAL, "--max-msg-types '%s': expected 1-1024", arg);
		else
			o->max_msg_types = (unsigned)v;
		break;
	case OPT_MAX_SOCKETS:
		if (parse_uint(arg, ZS_MAX_SOCKETS, &v) || !v)
			err = errmsg(ps->err, ps->errlen, -EINVAL, "--max-sockets '%s': expected 1-%d", arg,
				   ZS_MAX_SOCKETS);
		else
			o->max_sockets = (unsigned)v;
		break;
	case OPT_TTL:
		if (parse_uint(arg, 86400 * 7, &v))
			err = errmsg(ps->err, ps->errlen, -EINVAL, "--ttl '%s': expected seconds (0-604800)", arg);
		else
			o->ttl_seconds = (unsigned)v;
		break;
	case OPT_USER:
		o->user = arg;
		break;
	case OPT_NO_LMCACHE:
		o->lmcache_names = false;
		break;
	case OPT_NO_SESSIONS:
		o->no_sessions = true;
		break;
	case OPT_NO_LMCACHE_STATE:
		o->no_lmcache_state = true;
		break;
	case OPT_MAX_KV_KEYS:
		if (parse_uint(arg, 1UL << 32, &v) || !v)
			err = errmsg(ps->err, ps->errlen, -EINVAL,
				     "--max-kv-keys '%s': expected 1-4294967296", arg);
		else
			o->max_kv_keys = v;
		break;
	case OPT_TAP_RING_KB:
		if (parse_uint(arg, 1UL << 20, &v) || v < 4 || (v & (v - 1)))
			err = errmsg(ps->err, ps->errlen, -EINVAL,
				     "--tap-ring-kb '%s': expected a power of two from 4 to 1048576",
				     arg);
		else
			o->tap_ring_kb = (unsigned)v;
		break;
	case OPT_WEB_CONFIG:
		o->web_config_file = arg;
		break;
	case OPT_LAYER:
		err = parse_layers(arg, &o->layers, ps->err, ps->errlen);
		break;
	case 'v':
		o->verbose = true;
		break;
	case ARGP_KEY_ARG:
		err = errmsg(ps->err, ps->errlen, -EINVAL, "unexpected argument '%s'; select processes with --pid",
			   arg);
		break;
	case ARGP_KEY_END:
		if (!o->npids && !o->nnames && !o->nports)
			err = errmsg(ps->err, ps->errlen, -EINVAL,
				   "no process selected; use --pid PID, --name REGEX or --port PORT");
		break;
	default:
		return parse_common_key(key, state);
	}
	if (err)
		ps->rc = err;
	return 0;
}

static error_t parse_stop_key(int key, char *arg, struct argp_state *state)
{
	struct parse_state *ps = state->input;
	struct zs_options *o = ps->o;

	if (ps->rc)
		return 0;
	switch (key) {
	case OPT_ALL:
		o->all = true;
		break;
	case OPT_PURGE:
		o->purge = true;
		break;
	case ARGP_KEY_ARG:
		if (o->instance_id)
			ps->rc = errmsg(ps->err, ps->errlen, -EINVAL, "stop takes one ID; or use --all");
		else
			o->instance_id = arg;
		break;
	case ARGP_KEY_END:
		if (!o->all && !o->instance_id)
			ps->rc = errmsg(ps->err, ps->errlen, -EINVAL,
				      "stop needs an ID (see 'zmqscope status') or --all");
		else if (o->all && o->instance_id)
			ps->rc = errmsg(ps->err, ps->errlen, -EINVAL, "give an ID or --all, not both");
		break;
	default:
		return parse_common_key(key, state);
	}
	return 0;
}

static error_t parse_query_key(int key, char *arg, struct argp_state *state)
{
	struct parse_state *ps = state->input;

	if (ps->rc)
		return 0;
	switch (key) {
	case OPT_JSON:
		ps->o->json = true;
		break;
	case ARGP_KEY_ARG:
		ps->rc = errmsg(ps->err, ps->errlen, -EINVAL, "unexpected argument '%s'", arg);
		break;
	default:
		return parse_common_key(key, state);
	}
	return 0;
}

/* top: `top [ID]` reads an instance; with selectors it attaches by itself. */
static const struct argp_option top_options[] = {
	{ "interval", OPT_INTERVAL, "SECONDS", 0, "Refresh every SECONDS (0.2-60, default 1)", 0 },
	{ 0 },
};

static error_t parse_top_attach_key(int key, char *arg, struct argp_state *state)
{
	/* The ID and the "no selector" check belong to top's own parser. */
	if (key == ARGP_KEY_ARG || key == ARGP_KEY_END)
		return ARGP_ERR_UNKNOWN;
	return parse_attach_key(key, arg, state);
}

static const struct argp top_attach_argp = { .options = attach_options,
					     .parser = parse_top_attach_key };

static const struct argp_child top_children[] = {
	{ &top_attach_argp, 0, "Attaching by itself (instead of reading an instance):", 4 },
	{ 0 },
};

static error_t parse_top_key(int key, char *arg, struct argp_state *state)
{
	struct parse_state *ps = state->input;
	struct zs_options *o = ps->o;
	char *end;
	double v;

	if (key == ARGP_KEY_INIT) {
		state->child_inputs[0] = ps;
		return 0;
	}
	if (ps->rc)
		return 0;
	switch (key) {
	case OPT_INTERVAL:
		v = strtod(arg, &end);
		if (end == arg || *end || !(v >= 0.2 && v <= 60))
			ps->rc = errmsg(ps->err, ps->errlen, -EINVAL,
					"--interval '%s': expected seconds between 0.2 and 60", arg);
		else
			o->top_interval_ms = (unsigned)(v * 1000 + 0.5);
		break;
	case ARGP_KEY_ARG:
		if (o->instance_id)
			ps->rc = errmsg(ps->err, ps->errlen, -EINVAL, "top takes one instance ID");
		else
			o->instance_id = arg;
		break;
	case ARGP_KEY_END:
		if (o->instance_id && (o->npids || o->nnames || o->nports))
			ps->rc = errmsg(ps->err, ps->errlen, -EINVAL,
					"give an instance ID or --pid/--name/--port, not both");
		else if (o->user)
			ps->rc = errmsg(ps->err, ps->errlen, -EINVAL,
					"top --user: top keeps its privileges to attach; read a "
					"daemon with 'top ID' instead, which needs none");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp top_argp = {
	.options = top_options,
	.parser = parse_top_key,
	.args_doc = "[ID]\n(--pid PID | --name REGEX | --port PORT)...",
	.doc = "A live terminal view: per socket, message and byte rates, pending and active; "
	"per message type, p50 and p99 handler and request latency.  With an ID (or none, "
	"when one instance runs) it reads that instance's /metrics; with selectors it "
	"attaches by itself.\vKeys: m, b, l, p, e sort by message rate, byte rate, p99 "
	"latency, pid, endpoint; r reverses; q quits.",
	.children = top_children,
};

static const struct argp run_argp = {
	.options = attach_options,
	.parser = parse_attach_key,
	.args_doc = "(--pid PID | --name REGEX | --port PORT)...",
	.doc = "Attach to ZeroMQ processes and serve their socket metrics in the foreground; "
	"Ctrl-C detaches.\vExamples:\n"
	"  zmqscope run --pid 4242\n"
	"  zmqscope run --name 'lmcache.*controller' --label cluster=prod\n"
	"  zmqscope run --port 5555 --listen 0.0.0.0:9850",
};

static const struct argp start_argp = {
	.options = attach_options,
	.parser = parse_attach_key,
	.args_doc = "(--pid PID | --name REGEX | --port PORT)...",
	.doc = "Like 'run', as a background daemon; prints the instance ID.  State lives under "
	"/run/zmqscope/.",
};

static const struct argp stop_argp = {
	.options = stop_options,
	.parser = parse_stop_key,
	.args_doc = "ID | --all",
	.doc = "Stop a daemon started with 'start', detaching its probes.",
};

static const struct argp status_argp = {
	.options = status_options,
	.parser = parse_query_key,
	.args_doc = "",
	.doc = "Show running instances: targets, libraries, probes (address and first instruction), "
	"map fill and listen address.",
};

static const struct argp list_argp = {
	.options = status_options,
	.parser = parse_query_key,
	.args_doc = "",
	.doc = "List processes on this host that map libzmq, and whether zmqscope can attach to them.",
};

static const struct {
	const char *name;
	enum zs_command cmd;
	const struct argp *argp;
} commands[] = {
	{ "run", ZS_CMD_RUN, &run_argp },	  { "start", ZS_CMD_START, &start_argp },
	{ "stop", ZS_CMD_STOP, &stop_argp },	  { "status", ZS_CMD_STATUS, &status_argp },
	{ "list", ZS_CMD_LIST, &list_argp },
	{ "top", ZS_CMD_TOP, &top_argp },
};

static void print_top_help(FILE *f)
{
	fprintf(f,
		"Usage: zmqscope COMMAND [OPTION...]\n"
		"Observe ZeroMQ sockets in running processes from outside, with eBPF uprobes,\n"
		"and serve them as Prometheus metrics.\n\n"
		"Commands:\n"
		"  run      attach and serve metrics in the foreground\n"
		"  start    the same, as a background daemon\n"
		"  stop     stop a daemon (ID or --all)\n"
		"  status   show running instances, probes and maps\n"
		"  list     list processes that map libzmq\n"
		"  top      a live terminal view of an instance or of selected processes\n\n"
		"'zmqscope COMMAND --help' describes each command.  --version prints the version.\n");
}

int options_parse(int argc, char **argv, struct zs_options *o, char *err, size_t errlen)
{
	struct parse_state ps = { .o = o, .err = err, .errlen = errlen, .bad_arg = -1 };
	const struct argp *argp = NULL;
	char *prog, *cmd_name;
	int rc;

	memset(o, 0, sizeof(*o));
	o->lmcache_names = true;
	o->max_msg_types = ZS_DEFAULT_MAX_MSG_TYPES;
	o->layers = ZS_LAYER_APP;
	o->ttl_seconds = ZS_DEFAULT_TTL_SECONDS;
	o->max_kv_keys = ZS_DEFAULT_MAX_KV_KEYS;
	o->tap_ring_kb = ZS_DEFAULT_TAP_RING_KB;
	o->top_interval_ms = 1000;
	parse_listen(ZS_DEFAULT_LISTEN, &o->listen, err, errlen);
	err[0] = '\0';

	if (argc < 2)
		return errmsg(err, errlen, -EINVAL, "no command given; try 'zmqscope --help'");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		print_top_help(stdout);
		return 1;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("zmqscope %s\n", ZS_VERSION);
		return 1;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[1], commands[i].name)) {
			o->cmd = commands[i].cmd;
			argp = commands[i].argp;
		}
	}
	if (!argp)
		return errmsg(err, errlen, -EINVAL, "unknown command '%s'; try 'zmqscope --help'", argv[1]);

	for (int i = 2; i < argc; i++) {
		size_t used = strlen(o->args_text);

		snprintf(o->args_text + used, sizeof(o->args_text) - used, "%s%s", i > 2 ? " " : "",
			 argv[i]);
	}
	if (asprintf(&prog, "zmqscope %s", argv[1]) < 0)
		return -ENOMEM;
	/* argp names the program after argv[0]: make that "zmqscope run". */
	cmd_name = argv[1];
	argv[1] = prog;
	rc = argp_parse(argp, argc - 1, argv + 1, ARGP_NO_EXIT | ARGP_NO_ERRS | ARGP_NO_HELP, NULL,
			&ps);
	argv[1] = cmd_name;
	if (ps.rc == 0 && rc) {
		const char *bad = ps.bad_arg > 0 && ps.bad_arg <= argc - 1 ? argv[ps.bad_arg] : NULL;

		ps.rc = errmsg(err, errlen, -EINVAL, "%s: unrecognized option or missing value%s%s%s; see '%s --help'",
			     prog, bad ? " near '" : "", bad ? bad : "", bad ? "'" : "", prog);
	}
	free(prog);
	return ps.rc;
}

void options_free(struct zs_options *o)
{
	for (size_t i = 0; i < o->nnames; i++)
		free(o->names[i]);
	o->nnames = 0;
}
