// SPDX-License-Identifier: MIT
/* --web.config.file: the exporter-toolkit YAML, its files and bcrypt hashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "web_config.h"

/* A throwaway self-signed P-256 certificate and its key (openssl req -x509), and another key. */
static const char server_crt[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBkjCCATegAwIBAgIUbl15vK2+DceDoeX8ts2De3LGelcwCgYIKoZIzj0EAwIw\n"
	"HTEbMBkGA1UEAwwSem1xc2NvcGUtdW5pdC10ZXN0MCAXDTI2MTIwMTIyMzEwMloY\n"
	"DzIxMjYxMTA3MjIzMTAyWjAdMRswGQYDVQQDDBJ6bXFzY29wZS11bml0LXRlc3Qw\n"
	"WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASflPkrgrD55vEpHE0eI5r4ud8iAfWw\n"
	"neban4qcE6JtsYL3iI+yJ73ZMao4xO/7Fx5fBN90OGel0OKrnF8hj4B9o1MwUTAd\n"
	"BgNVHQ4EFgQUctu31XdsqppoetBCHp2T6rIUcycwHwYDVR0jBBgwFoAUctu31Xds\n"
	"qppoetBCHp2T6rIUcycwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBG\n"
	"AiEAnVU0i8LEpIAm4/3CD3TmmrLTggqnRxU94rmtxTD9z9UCIQD3jJ8dG/eZs9RE\n"
	"slzGFdlHqgj+/YcBRYdJnhj6Fg9PfQ==\n"
	"-----END CERTIFICATE-----\n";
static const char server_key[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgicmibIsARY1AcObp\n"
	"jeYlH7/dNb6tr7ExVe+l1MgK7RehRANCAASflPkrgrD55vEpHE0eI5r4ud8iAfWw\n"
	"neban4qcE6JtsYL3iI+yJ73ZMao4xO/7Fx5fBN90OGel0OKrnF8hj4B9\n"
	"-----END PRIVATE KEY-----\n";
static const char other_key[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg8dAqhFZLSGrimo0T\n"
	"1/cyAYbgOcmSLkX1NHEH8DsVV1+hRANCAASGbV1AYEFm4qKYGNEXB5s9d9G6Kfw0\n"
	"JwDa6dDP2BFW+zxRY9RiwW7+JUWopHpohPVAydvtXYGD2aEv8gnU3Ek1\n"
	"-----END PRIVATE KEY-----\n";

/* htpasswd -nbB -C 4 prometheus 'correct horse' (apr-util's bcrypt, not libxcrypt). */
#define PROM_HASH "$2y$04$yp6hmRht98WCQtnHqjb5QOV2ZgezoQq8fKscJQCzdj8JQUFXDiJmy"
/* The crypt_blowfish/OpenBSD test vector for "U*U", spelled $2b$. */
#define VECTOR_HASH "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"

static char dir[64];

static void put(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Writes web.yml with this text and loads it. */
static int load(const char *yaml, struct web_config *c, char *err, size_t errlen)
{
	char path[128];

	put("web.yml", yaml);
	snprintf(path, sizeof(path), "%s/web.yml", dir);
	err[0] = '\0';
	return web_config_load(path, c, err, errlen);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/zs-webcfg-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	put("server.crt", server_crt);
	put("server.key", server_key);
	put("other.key", other_key);
	put("ca.crt", server_crt);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

/* The error is one line, names the file, and contains `want`. */
static void assert_error(int rc, const char *err, const char *want)
{
	assert_int_not_equal(rc, 0);
	assert_null(strchr(err, '\n'));
	assert_non_null(strstr(err, "--web.config.file "));
	if (!strstr(err, want))
		fail_msg("error '%s' does not say '%s'", err, want);
}

static void test_valid_file(void **state)
{
	struct web_config c;
	char err[512];

	(void)state;
	assert_int_equal(load("# the toolkit's format\n"
			      "tls_server_config:\n"
			      "  cert_file: server.crt\n"
			      "  key_file: server.key\n"
			      "  client_ca_file: ca.crt\n"
			      "  client_auth_type: RequireAndVerifyClientCert\n"
			      "  min_version: TLS13\n"
			      "basic_auth_users:\n"
			      "  prometheus: " PROM_HASH "\n"
			      "  'vector': '" VECTOR_HASH "'\n",
			      &c, err, sizeof(err)),
			 0);
	assert_true(c.tls);
	assert_string_equal(c.cert_pem, server_crt);
	assert_string_equal(c.key_pem, server_key);
	assert_string_equal(c.client_ca_pem, server_crt);
	assert_int_equal(c.client_auth, WEB_REQUIRE_AND_VERIFY_CLIENT_CERT);
	assert_string_equal(c.priorities, "NORMAL:-VERS-ALL:+VERS-TLS1.3");
	assert_int_equal(c.nusers, 2);
	assert_string_equal(c.users[0].name, "prometheus");
	assert_string_equal(c.users[1].hash, VECTOR_HASH);
	web_config_free(&c);
}

static void test_defaults_and_empty(void **state)
{
	struct web_config c;
	char err[512];

	(void)state;
	assert_int_equal(load("", &c, err, sizeof(err)), 0);
	assert_false(c.tls);
	assert_int_equal(c.nusers, 0);
	web_config_free(&c);
	/* Auth alone, without TLS, is allowed (as in the toolkit). */
	assert_int_equal(load("basic_auth_users:\n  a: " PROM_HASH "\ntls_server_config:\n",
			      &c, err, sizeof(err)), 0);
	assert_false(c.tls);
	assert_int_equal(c.nusers, 1);
	web_config_free(&c);
	/* Absolute paths; the toolkit's default TLS 1.2 to 1.3. */
	{
		char yaml[512];

		snprintf(yaml, sizeof(yaml),
			 "tls_server_config: {cert_file: %s/server.crt, key_file: %s/server.key}\n",
			 dir, dir);
		assert_int_equal(load(yaml, &c, err, sizeof(err)), 0);
	}
	assert_true(c.tls);
	assert_int_equal(c.client_auth, WEB_NO_CLIENT_CERT);
	assert_string_equal(c.priorities, "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3");
	web_config_free(&c);
}

/* One check a second after the last: the bcrypt budget never runs out. */
static enum web_auth_result spaced(struct web_config *c, const char *user, const char *pass,
				   double *t)
{
	*t += 1;
	return web_config_check_password(c, user, pass, *t);
}

static void test_passwords(void **state)
{
	struct web_config c;
	char err[512];
	double t = 1000;

	(void)state;
	assert_int_equal(load("basic_auth_users:\n  prometheus: " PROM_HASH "\n  u: " VECTOR_HASH
			      "\n", &c, err, sizeof(err)), 0);
	assert_int_equal(spaced(&c, "prometheus", "correct horse", &t), WEB_AUTH_OK);
	/* Again, from the cache of the last good password. */
	assert_int_equal(spaced(&c, "prometheus", "correct horse", &t), WEB_AUTH_OK);
	assert_int_equal(spaced(&c, "prometheus", "correct horsf", &t), WEB_AUTH_DENIED);
	assert_int_equal(spaced(&c, "prometheus", "", &t), WEB_AUTH_DENIED);
	assert_int_equal(spaced(&c, "u", "correct horse", &t), WEB_AUTH_DENIED);
	assert_int_equal(spaced(&c, "u", "U*U", &t), WEB_AUTH_OK);
	assert_int_equal(spaced(&c, "nobody", "correct horse", &t), WEB_AUTH_DENIED);
	assert_int_equal(spaced(&c, "Prometheus", "correct horse", &t), WEB_AUTH_DENIED);
	assert_int_equal(spaced(&c, NULL, NULL, &t), WEB_AUTH_DENIED);
	web_config_free(&c);
}

static void test_bcrypt_budget(void **state)
{
	struct web_config c;
	char err[512];
	int n = 0;

	(void)state;
	assert_int_equal(load("basic_auth_users:\n  prometheus: " PROM_HASH "\n", &c, err,
			      sizeof(err)), 0);
	/* Timed at load: a cost-4 hash takes about 1 ms, so far more than one a second. */
	assert_true(c.bcrypt_per_second > 1);
	c.bcrypt_per_second = 8;
	assert_int_equal(web_config_check_password(&c, "prometheus", "correct horse", 50.0),
			 WEB_AUTH_OK);
	/* A burst of wrong passwords within one instant: the budget, then BUSY. */
	while (web_config_check_password(&c, "prometheus", "wrong", 50.0) == WEB_AUTH_DENIED)
		n++;
	assert_int_equal(n, 8 - 1);
	assert_int_equal(web_config_check_password(&c, "nobody", "x", 50.0), WEB_AUTH_BUSY);
	/* The known password needs no bcrypt, so the spent budget does not lock it out. */
	assert_int_equal(web_config_check_password(&c, "prometheus", "correct horse", 50.0),
			 WEB_AUTH_OK);
	/* Half a second refills half the budget. */
	n = 0;
	while (web_config_check_password(&c, "prometheus", "wrong", 50.5) == WEB_AUTH_DENIED)
		n++;
	assert_int_equal(n, 8 / 2);
	/* Never more than one second's worth, however long it was idle. */
	n = 0;
	while (web_config_check_password(&c, "prometheus", "wrong", 500.0) == WEB_AUTH_DENIED)
		n++;
	assert_int_equal(n, 8);
	web_config_free(&c);
}

static void test_unknown_keys_rejected(void **state)
{
	struct web_config c;
	char err[512];

	(void)state;
	assert_error(load("tls_config:\n  cert_file: server.crt\n", &c, err, sizeof(err)), err,
		     "line 1: unknown key 'tls_config'");
	assert_error(load("tls_server_config:\n  cert_file: server.crt\n  keyfile: server.key\n",
			  &c, err, sizeof(err)),
		     err, "line 3: unknown key 'tls_server_config.keyfile'");
	/* An empty value does not excuse a misspelt key. */
	assert_error(load("tls_server_config:\n  cert_fle:\n", &c, err, sizeof(err)), err,
		     "line 2: unknown key 'tls_server_config.cert_fle'");
	assert_error(load("http_server_config:\n  http2: false\n", &c, err, sizeof(err)), err,
		     "http_server_config is not supported by zmqscope");
	assert_error(load("tls_server_config:\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", &c, err,
			  sizeof(err)),
		     err, "tls_server_config.cipher_suites is not supported");
	assert_error(load("basic_auth_users:\n  a: " PROM_HASH "\n  a: " PROM_HASH "\n", &c, err,
			  sizeof(err)),
		     err, "'a' is given twice");
	assert_error(load("- a\n- b\n", &c, err, sizeof(err)), err, "expected a mapping");
	assert_error(load("tls_server_config: [\n", &c, err, sizeof(err)), err, "line ");
	assert_error(load("tls_server_config:\n  client_auth_type: Sometimes\n  cert_file: "
			  "server.crt\n  key_file: server.key\n", &c, err, sizeof(err)),
		     err, "client_auth_type 'Sometimes'");
	assert_error(load("tls_server_config:\n  min_version: TLS14\n", &c, err, sizeof(err)), err,
		     "min_version 'TLS14'");
}

static void test_missing_files(void **state)
{
	struct web_config c;
	char err[512], path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/nope.yml", dir);
	assert_error(web_config_load(path, &c, err, sizeof(err)), err, "No such file");
	assert_error(load("tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n",
			  &c, err, sizeof(err)),
		     err, "missing.crt': No such file or directory");
	assert_error(load("tls_server_config:\n  cert_file: server.crt\n", &c, err, sizeof(err)),
		     err, "needs both cert_file and key_file");
	assert_error(load("tls_server_config:\n  cert_file: ''\n  key_file: server.key\n", &c, err,
			  sizeof(err)),
		     err, "cert_file is empty");
}

static void test_bad_tls_material(void **state)
{
	struct web_config c;
	char err[512];

	(void)state;
	assert_error(load("tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n",
			  &c, err, sizeof(err)),
		     err, "not a PEM certificate and its private key");
	assert_error(load("tls_server_config:\n  cert_file: web.yml\n  key_file: server.key\n", &c,
			  err, sizeof(err)),
		     err, "not a PEM certificate");
	assert_error(load("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
			  "  client_ca_file: ca.crt\n", &c, err, sizeof(err)),
		     err, "client_auth_type is not");
	assert_error(load("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
			  "  client_auth_type: RequireAndVerifyClientCert\n", &c, err, sizeof(err)),
		     err, "needs client_ca_file");
	assert_error(load("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
			  "  client_ca_file: server.key\n  client_auth_type: "
			  "VerifyClientCertIfGiven\n", &c, err, sizeof(err)),
		     err, "client_ca_file holds no PEM certificate");
	assert_error(load("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
			  "  min_version: TLS13\n  max_version: TLS12\n", &c, err, sizeof(err)),
		     err, "min_version TLS13 is above max_version TLS12");
}

static void test_bad_hashes(void **state)
{
	static const char *const bad[] = {
		"correct horse",						/* plain text */
		"$1$abcdefgh$QZ6zHYLjN6DBfGxRDdAEm.",			/* md5-crypt */
		"$2y$04$yp6hmRht98WCQtnHqjb5QOV2ZgezoQq8fKscJQCzdj8JQUFXDiJm", /* short */
		"$2y$03$yp6hmRht98WCQtnHqjb5QOV2ZgezoQq8fKscJQCzdj8JQUFXDiJmy", /* cost 3 */
		"$2x$04$yp6hmRht98WCQtnHqjb5QOV2ZgezoQq8fKscJQCzdj8JQUFXDiJmy", /* $2x$ */
		"$2y$04$yp6hmRht98WCQtnHqjb5QOV2ZgezoQq8fKscJQCzdj8JQUFXDiJm!", /* alphabet */
	};
	struct web_config c;
	char err[512], yaml[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(yaml, sizeof(yaml), "basic_auth_users:\n  alice: '%s'\n", bad[i]);
		assert_error(load(yaml, &c, err, sizeof(err)), err,
			     "the hash of 'alice' is not bcrypt");
	}
	assert_error(load("basic_auth_users:\n  alice:\n", &c, err, sizeof(err)), err,
		     "'alice' has no password hash");
	assert_error(load("basic_auth_users:\n  'a:b': " PROM_HASH "\n", &c, err, sizeof(err)), err,
		     "'a:b' is not a user name");
	assert_error(load("basic_auth_users: [alice]\n", &c, err, sizeof(err)), err,
		     "must be a mapping");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_file),
		cmocka_unit_test(test_defaults_and_empty),
		cmocka_unit_test(test_passwords),
		cmocka_unit_test(test_bcrypt_budget),
		cmocka_unit_test(test_unknown_keys_rejected),
		cmocka_unit_test(test_missing_files),
		cmocka_unit_test(test_bad_tls_material),
		cmocka_unit_test(test_bad_hashes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
