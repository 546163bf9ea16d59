/* SPDX-License-Identifier: MIT */
/*
 * --web.config.file: TLS and basic auth for the metrics listener, in the
 * YAML format of the Prometheus exporter-toolkit (node_exporter et al.):
 *
 *   tls_server_config:
 *     cert_file: server.crt          # relative paths: to the file's directory
 *     key_file: server.key
 *     client_ca_file: ca.crt         # with client_auth_type, for mTLS
 *     client_auth_type: RequireAndVerifyClientCert
 *     min_version: TLS12             # TLS10..TLS13; default TLS12..TLS13
 *     max_version: TLS13
 *   basic_auth_users:
 *     prometheus: $2y$10$...         # bcrypt, e.g. htpasswd -nBC 10 '' | tr -d ':\n'
 *
 * Everything is read and checked at load (files, key pair, CA, hashes), as
 * root before any probe attaches, so a bad file is one error and exit 1.
 * Keys this implementation does not know are rejected, not ignored.
 */
#ifndef ZS_WEB_CONFIG_H
#define ZS_WEB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum web_client_auth {
	WEB_NO_CLIENT_CERT,
	WEB_REQUEST_CLIENT_CERT,
	WEB_REQUIRE_ANY_CLIENT_CERT,
	WEB_VERIFY_CLIENT_CERT_IF_GIVEN,
	WEB_REQUIRE_AND_VERIFY_CLIENT_CERT,
};

struct web_user {
	char *name;
	char *hash;
	/* SHA-256 of the last password that matched: bcrypt runs once, not per scrape. */
	bool cached;
	unsigned char cached_digest[32];
};

struct web_config {
	bool tls;
	char *cert_pem, *key_pem, *client_ca_pem; /* file contents, NUL-terminated */
	enum web_client_auth client_auth;
	char priorities[128]; /* GnuTLS priority string for min/max_version */
	struct web_user *users;
	size_t nusers;
	void *crypt_scratch; /* libxcrypt's struct crypt_data, 32 KiB */
	double bcrypt_per_second; /* also the burst */
	double bcrypt_tokens, bcrypt_refilled;
};

/* 0, or a negative errno with one line in `err` naming the file and the problem. */
int web_config_load(const char *path, struct web_config *c, char *err, size_t errlen);
void web_config_free(struct web_config *c);

/*
 * bcrypt costs tens of milliseconds on the server's one HTTP thread, so
 * clients with wrong passwords could starve the scrapes.  bcrypt may take at
 * most this share of the thread: at load the slowest hash is timed, and
 * bcrypt_per_second follows from it.  A known good password never needs one
 * (the digest cache above).
 */
#define WEB_BCRYPT_SHARE 0.25

enum web_auth_result {
	WEB_AUTH_OK,
	WEB_AUTH_DENIED,
	WEB_AUTH_BUSY, /* this second's bcrypt budget is spent: try again */
};

/*
 * Whether user:password matches basic_auth_users (bcrypt via libxcrypt,
 * compared in constant time).  `now`: monotonic seconds, for the budget.
 * Not thread-safe: one caller at a time.
 */
enum web_auth_result web_config_check_password(struct web_config *c, const char *user,
					       const char *password, double now);

/* The exporter-toolkit spelling: "RequireAndVerifyClientCert", ... */
const char *web_client_auth_name(enum web_client_auth a);

#endif
