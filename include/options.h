/* SPDX-License-Identifier: MIT */
/* Command line: subcommands, selectors, labels, roles and listen address. */
#ifndef ZS_OPTIONS_H
#define ZS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "zmqscope.h"

#define ZS_MAX_PIDS 64
#define ZS_MAX_NAMES 16
#define ZS_MAX_PORTS 16
#define ZS_MAX_LABELS 16
#define ZS_MAX_ROLE_RULES 32
#define ZS_MAX_HANDLERS 8
#define ZS_DEFAULT_LISTEN "127.0.0.1:9850"
#define ZS_DEFAULT_MAX_MSG_TYPES 64
#define ZS_DEFAULT_TTL_SECONDS 300
#define ZS_DEFAULT_MAX_KV_KEYS 10000000UL
#define ZS_DEFAULT_TAP_RING_KB 4096
#define ZS_LAYER_APP 1u	 /* uprobes on libzmq's API */
#define ZS_LAYER_WIRE 2u /* ZMTP from the target's socket syscalls */

enum zs_command {
	ZS_CMD_NONE,
	ZS_CMD_RUN,
	ZS_CMD_START,
	ZS_CMD_STOP,
	ZS_CMD_STATUS,
	ZS_CMD_LIST,
	ZS_CMD_TOP,
};

struct zs_label {
	char name[64];
	char value[256];
};

/* --role ENDPOINT_OR_TYPE=ROLE: a socket type name, or an endpoint string. */
struct zs_role_rule {
	bool by_type;
	uint8_t type;
	uint8_t role;
	bool heartbeat; /* role "heartbeat": a reply socket outside reply_socket_has_pending */
	char endpoint[ZS_ENDPOINT_LEN];
};

/* --handler ROLE=PATH:SYMBOL */
struct zs_handler_spec {
	uint8_t role;
	char path[4096];
	char symbol[256];
};

struct zs_listen {
	char host[64]; /* numeric address, without brackets */
	uint16_t port;
	int family; /* AF_INET or AF_INET6 */
};

struct zs_options {
	enum zs_command cmd;
	pid_t pids[ZS_MAX_PIDS];
	size_t npids;
	char *names[ZS_MAX_NAMES];
	size_t nnames;
	uint16_t ports[ZS_MAX_PORTS];
	size_t nports;
	struct zs_listen listen;
	struct zs_label labels[ZS_MAX_LABELS];
	size_t nlabels;
	struct zs_role_rule roles[ZS_MAX_ROLE_RULES];
	size_t nroles;
	struct zs_handler_spec handlers[ZS_MAX_HANDLERS];
	size_t nhandlers;
	unsigned max_msg_types;
	unsigned max_sockets; /* the sockets map's size; 0: ZS_MAX_SOCKETS */
	unsigned ttl_seconds;
	const char *user;
	const char *web_config_file; /* --web.config.file; NULL: plain HTTP, no auth */
	bool lmcache_names;
	bool no_sessions; /* classic uprobe+uretprobe pairs even where sessions exist */
	bool no_lmcache_state; /* no payload tap, no state gauges */
	unsigned long max_kv_keys;
	unsigned tap_ring_kb;
	bool verbose;
	unsigned layers; /* ZS_LAYER_* bits, from --layer (default app) */
	/* stop / status */
	const char *instance_id;
	bool all;
	bool purge;
	bool json;
	/* top: refresh period */
	unsigned top_interval_ms;
	/* set by `start` for its daemon: where maps and links are pinned */
	char pin_dir[256];
	/* the command's arguments as given, which identify a daemon across restarts */
	char args_text[1024];
};

/*
 * Parses argv (argv[0] is the program, argv[1] the subcommand).  Returns 0,
 * 1 when --help/--usage/--version was printed, or -EINVAL with a one-line
 * message in `err`.
 */
int options_parse(int argc, char **argv, struct zs_options *o, char *err, size_t errlen);
void options_free(struct zs_options *o);

/* The pieces, exposed for unit tests. */
int parse_label(const char *arg, struct zs_label *out, char *err, size_t errlen);
int parse_listen(const char *arg, struct zs_listen *out, char *err, size_t errlen);
int parse_role_rule(const char *arg, struct zs_role_rule *out, char *err, size_t errlen);
int parse_handler_spec(const char *arg, struct zs_handler_spec *out, char *err, size_t errlen);
int parse_pid(const char *arg, pid_t *out);
int parse_uint(const char *arg, unsigned long max, unsigned long *out);
int parse_layers(const char *arg, unsigned *out, char *err, size_t errlen);

/* Socket type names as libzmq spells them (PULL, ROUTER, ...), or "unknown". */
const char *socket_type_name(unsigned type);
int socket_type_from_name(const char *name);
const char *role_name(unsigned role);
int role_from_name(const char *name);

#endif
