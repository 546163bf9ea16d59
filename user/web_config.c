// SPDX-License-Identifier: MIT
#include "web_config.h"

#include <crypt.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <libgen.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yaml.h>

#include "errmsg.h"

#define MAX_FILE_BYTES (1 << 20)

static const char *const client_auth_names[] = {
	[WEB_NO_CLIENT_CERT] = "NoClientCert",
	[WEB_REQUEST_CLIENT_CERT] = "RequestClientCert",
	[WEB_REQUIRE_ANY_CLIENT_CERT] = "RequireAnyClientCert",
	[WEB_VERIFY_CLIENT_CERT_IF_GIVEN] = "VerifyClientCertIfGiven",
	[WEB_REQUIRE_AND_VERIFY_CLIENT_CERT] = "RequireAndVerifyClientCert",
};

static const char *const tls_versions[] = { "TLS10", "TLS11", "TLS12", "TLS13" };
static const char *const gnutls_versions[] = { "TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3" };

/* exporter-toolkit keys zmqscope does not implement: refused by name, not as typos. */
static const char *const unsupported_tls_keys[] = {
	"cert", "key", "client_ca", "cipher_suites", "curve_preferences",
	"prefer_server_cipher_suites", "client_allowed_sans",
};
static const char *const unsupported_top_keys[] = { "http_server_config", "rate_limit" };
static const char *const tls_keys[] = {
	"cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version", "max_version",
};

struct loader {
	const char *path;
	char dir[PATH_MAX];
	yaml_document_t *doc;
	char *err;
	size_t errlen;
};

const char *web_client_auth_name(enum web_client_auth a)
{
	return (unsigned)a < sizeof(client_auth_names) / sizeof(client_auth_names[0])
		       ? client_auth_names[a]
		       : "unknown";
}

static int client_auth_from_name(const char *s, enum web_client_auth *out)
{
	for (size_t i = 0; i < sizeof(client_auth_names) / sizeof(client_auth_names[0]); i++) {
		if (!strcmp(s, client_auth_names[i])) {
			*out = (enum web_client_auth)i;
			return 0;
		}
	}
	/* The toolkit's old spelling of RequireAnyClientCert. */
	if (!strcmp(s, "RequireClientCert")) {
		*out = WEB_REQUIRE_ANY_CLIENT_CERT;
		return 0;
	}
	return -EINVAL;
}

static int fail(struct loader *l, const yaml_node_t *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "--web.config.file F: line N: WHAT" */
static int fail(struct loader *l, const yaml_node_t *at, const char *fmt, ...)
{
	char what[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (at)
		return errmsg(l->err, l->errlen, -EINVAL, "--web.config.file %s: line %zu: %s",
			      l->path, at->start_mark.line + 1, what);
	return errmsg(l->err, l->errlen, -EINVAL, "--web.config.file %s: %s", l->path, what);
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, list[i]))
			return true;
	return false;
}

static bool is_null(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *v = (const char *)n->data.scalar.value;

	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

static int scalar(struct loader *l, const yaml_node_t *n, const char *key, const char **out)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return fail(l, n, "%s must be a string", key);
	*out = (const char *)n->data.scalar.value;
	return 0;
}

/* A whole (small) file as a NUL-terminated buffer; NULL and errno on failure. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;
	int e;

	if (!f)
		return NULL;
	buf = malloc(MAX_FILE_BYTES + 1);
	if (!buf) {
		fclose(f);
		errno = ENOMEM;
		return NULL;
	}
	n = fread(buf, 1, MAX_FILE_BYTES + 1, f);
	e = ferror(f) ? EIO : n > MAX_FILE_BYTES ? EFBIG : memchr(buf, '\0', n) ? EILSEQ : 0;
	fclose(f);
	if (e) {
		free(buf);
		errno = e;
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* A file named in the config: relative names are to the config file's directory. */
static int read_file(struct loader *l, const yaml_node_t *at, const char *key, const char *name,
		     char **out)
{
	char full[PATH_MAX * 2];
	char *buf;

	if (!*name)
		return fail(l, at, "%s is empty; give a file name", key);
	if (name[0] == '/')
		snprintf(full, sizeof(full), "%s", name);
	else
		snprintf(full, sizeof(full), "%s/%s", l->dir, name);
	buf = slurp(full);
	if (!buf)
		return fail(l, at, "%s '%s': %s", key, full,
			    errno == EFBIG    ? "larger than 1 MiB"
			    : errno == EILSEQ ? "not a PEM file"
					      : strerror(errno));
	free(*out);
	*out = buf;
	return 0;
}

static int tls_version(struct loader *l, const yaml_node_t *v, const char *key, int *out)
{
	const char *s = NULL;

	if (scalar(l, v, key, &s))
		return -EINVAL;
	for (int i = 0; i < 4; i++) {
		if (!strcmp(s, tls_versions[i])) {
			*out = i;
			return 0;
		}
	}
	return fail(l, v, "%s '%s': expected TLS10, TLS11, TLS12 or TLS13", key, s);
}

/* Mapping keys must be strings and appear once (as Go's UnmarshalStrict wants). */
static int check_keys(struct loader *l, const yaml_node_t *map, const char *where)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *k = yaml_document_get_node(l->doc, p->key);

		if (!k || k->type != YAML_SCALAR_NODE)
			return fail(l, k, "%s: a key is not a string", where);
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
			const yaml_node_t *k2 = yaml_document_get_node(l->doc, q->key);

			if (!strcmp((const char *)k->data.scalar.value,
				    (const char *)k2->data.scalar.value))
				return fail(l, k, "%s: '%s' is given twice", where,
					    (const char *)k->data.scalar.value);
		}
	}
	return 0;
}

static int load_tls(struct loader *l, const yaml_node_t *map, struct web_config *c)
{
	const yaml_node_t *ca_at = NULL;
	int minv = 2, maxv = 3;

	if (is_null(map))
		return 0;
	if (map->type != YAML_MAPPING_NODE)
		return fail(l, map, "tls_server_config must be a mapping (cert_file: ..., key_file: ...)");
	if (check_keys(l, map, "tls_server_config"))
		return -EINVAL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *kn = yaml_document_get_node(l->doc, p->key);
		const yaml_node_t *v = yaml_document_get_node(l->doc, p->value);
		const char *k = (const char *)kn->data.scalar.value, *s = NULL;
		int rc = 0;

		if (in_list(k, unsupported_tls_keys,
			    sizeof(unsupported_tls_keys) / sizeof(unsupported_tls_keys[0])))
			return fail(l, kn, "tls_server_config.%s is not supported by zmqscope; "
				    "remove it (cert_file, key_file, client_ca_file, "
				    "client_auth_type, min_version and max_version are)", k);
		if (!in_list(k, tls_keys, sizeof(tls_keys) / sizeof(tls_keys[0])))
			return fail(l, kn, "unknown key 'tls_server_config.%s'; expected cert_file, "
				    "key_file, client_ca_file, client_auth_type, min_version or "
				    "max_version", k);
		if (is_null(v))
			continue;
		c->tls = true;
		if (!strcmp(k, "min_version") || !strcmp(k, "max_version")) {
			rc = tls_version(l, v, k, !strcmp(k, "min_version") ? &minv : &maxv);
		} else if (!(rc = scalar(l, v, k, &s))) {
			if (!strcmp(k, "cert_file"))
				rc = read_file(l, v, k, s, &c->cert_pem);
			else if (!strcmp(k, "key_file"))
				rc = read_file(l, v, k, s, &c->key_pem);
			else if (!strcmp(k, "client_ca_file"))
				rc = read_file(l, v, k, s, &c->client_ca_pem);
			else if (client_auth_from_name(s, &c->client_auth))
				rc = fail(l, v, "client_auth_type '%s': expected NoClientCert, "
					  "RequestClientCert, RequireAnyClientCert, "
					  "VerifyClientCertIfGiven or RequireAndVerifyClientCert", s);
		}
		if (!strcmp(k, "client_ca_file"))
			ca_at = kn;
		if (rc)
			return rc;
	}
	if (!c->tls)
		return 0;
	if (!c->cert_pem || !c->key_pem)
		return fail(l, map, "tls_server_config needs both cert_file and key_file");
	if (minv > maxv)
		return fail(l, map, "min_version %s is above max_version %s", tls_versions[minv],
			    tls_versions[maxv]);
	if (c->client_ca_pem && c->client_auth == WEB_NO_CLIENT_CERT)
		return fail(l, ca_at, "client_ca_file is set but client_auth_type is not; add "
			    "client_auth_type: RequireAndVerifyClientCert");
	if (!c->client_ca_pem && (c->client_auth == WEB_VERIFY_CLIENT_CERT_IF_GIVEN ||
				  c->client_auth == WEB_REQUIRE_AND_VERIFY_CLIENT_CERT))
		return fail(l, map, "client_auth_type %s needs client_ca_file to verify against",
			    web_client_auth_name(c->client_auth));
	snprintf(c->priorities, sizeof(c->priorities), "NORMAL:-VERS-ALL");
	for (int i = minv; i <= maxv; i++) {
		size_t used = strlen(c->priorities);

		snprintf(c->priorities + used, sizeof(c->priorities) - used, ":+VERS-%s",
			 gnutls_versions[i]);
	}
	return 0;
}

/* "$2a$", "$2b$" or "$2y$", a two-digit cost 04-31, 53 characters of bcrypt's base64. */
static bool is_bcrypt(const char *h)
{
	static const char b64[] =
		"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	int cost;

	if (strlen(h) != 60 || h[0] != '$' || h[1] != '2' || !strchr("aby", h[2]) || h[3] != '$' ||
	    h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9' || h[6] != '$')
		return false;
	cost = (h[4] - '0') * 10 + (h[5] - '0');
	if (cost < 4 || cost > 31)
		return false;
	for (int i = 7; i < 60; i++)
		if (!memchr(b64, h[i], sizeof(b64) - 1))
			return false;
	return true;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int load_users(struct loader *l, const yaml_node_t *map, struct web_config *c)
{
	double slowest = 0;
	size_t n;

	if (is_null(map))
		return 0;
	if (map->type != YAML_MAPPING_NODE)
		return fail(l, map, "basic_auth_users must be a mapping of user: bcrypt-hash");
	if (check_keys(l, map, "basic_auth_users"))
		return -EINVAL;
	n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	c->users = calloc(n ? n : 1, sizeof(*c->users));
	if (!c->users)
		return fail(l, NULL, "out of memory");
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *kn = yaml_document_get_node(l->doc, p->key);
		const yaml_node_t *v = yaml_document_get_node(l->doc, p->value);
		const char *user = (const char *)kn->data.scalar.value, *hash;
		struct web_user *u = &c->users[c->nusers];

		if (!*user || strchr(user, ':'))
			return fail(l, kn, "basic_auth_users: '%s' is not a user name (empty, or has "
				    "a ':')", user);
		if (!v || v->type != YAML_SCALAR_NODE || is_null(v))
			return fail(l, kn, "basic_auth_users: '%s' has no password hash", user);
		hash = (const char *)v->data.scalar.value;
		if (!is_bcrypt(hash))
			return fail(l, v, "basic_auth_users: the hash of '%s' is not bcrypt ($2b$ or "
				    "$2y$, 60 characters); make one with: htpasswd -nBC 10 '' | "
				    "tr -d ':\\n'", user);
		u->name = strdup(user);
		u->hash = strdup(hash);
		if (!u->name || !u->hash) {
			free(u->name);
			free(u->hash);
			return fail(l, NULL, "out of memory");
		}
		c->nusers++;
	}
	if (c->nusers) {
		struct crypt_data *cd = calloc(1, sizeof(*cd));

		c->crypt_scratch = cd;
		if (!cd)
			return fail(l, NULL, "out of memory");
		/* libxcrypt must accept each setting, or no password would ever match. */
		for (size_t i = 0; i < c->nusers; i++) {
			double t0 = now_s(), took;

			if (!crypt_rn("", c->users[i].hash, cd, sizeof(*cd)))
				return fail(l, map, "basic_auth_users: libxcrypt rejects the hash of "
					    "'%s': %s", c->users[i].name, strerror(errno));
			took = now_s() - t0;
			if (took > slowest)
				slowest = took;
		}
		c->bcrypt_per_second = WEB_BCRYPT_SHARE / (slowest > 1e-6 ? slowest : 1e-6);
	}
	return 0;
}

/* The PEM files must make a usable server credential: checked here, not at first handshake. */
static int check_tls_material(struct loader *l, struct web_config *c)
{
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	gnutls_datum_t cert = { (unsigned char *)c->cert_pem, (unsigned)strlen(c->cert_pem) };
	gnutls_datum_t key = { (unsigned char *)c->key_pem, (unsigned)strlen(c->key_pem) };
	int rc;

	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return fail(l, NULL, "cannot set up GnuTLS");
	rc = gnutls_certificate_set_x509_key_mem(cred, &cert, &key, GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		gnutls_certificate_free_credentials(cred);
		return fail(l, NULL, "cert_file and key_file are not a PEM certificate and its "
			    "private key: %s", gnutls_strerror(rc));
	}
	if (c->client_ca_pem) {
		gnutls_datum_t ca = { (unsigned char *)c->client_ca_pem,
				      (unsigned)strlen(c->client_ca_pem) };

		rc = gnutls_certificate_set_x509_trust_mem(cred, &ca, GNUTLS_X509_FMT_PEM);
		if (rc <= 0) {
			gnutls_certificate_free_credentials(cred);
			return fail(l, NULL, "client_ca_file holds no PEM certificate%s%s",
				    rc < 0 ? ": " : "", rc < 0 ? gnutls_strerror(rc) : "");
		}
	}
	gnutls_certificate_free_credentials(cred);
	if (gnutls_priority_init(&prio, c->priorities, NULL) < 0)
		return fail(l, NULL, "this GnuTLS does not support the TLS versions asked for");
	gnutls_priority_deinit(prio);
	return 0;
}

static int load_document(struct loader *l, struct web_config *c)
{
	const yaml_node_t *root = yaml_document_get_root_node(l->doc);

	if (!root || is_null(root))
		return 0; /* an empty file configures nothing, as in the toolkit */
	if (root->type != YAML_MAPPING_NODE)
		return fail(l, root, "expected a mapping with tls_server_config and/or "
			    "basic_auth_users");
	if (check_keys(l, root, "the top level"))
		return -EINVAL;
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *kn = yaml_document_get_node(l->doc, p->key);
		const yaml_node_t *v = yaml_document_get_node(l->doc, p->value);
		const char *k = (const char *)kn->data.scalar.value;
		int rc;

		if (!strcmp(k, "tls_server_config"))
			rc = load_tls(l, v, c);
		else if (!strcmp(k, "basic_auth_users"))
			rc = load_users(l, v, c);
		else if (in_list(k, unsupported_top_keys,
				 sizeof(unsupported_top_keys) / sizeof(unsupported_top_keys[0])))
			rc = fail(l, kn, "%s is not supported by zmqscope; remove it", k);
		else
			rc = fail(l, kn, "unknown key '%s'; expected tls_server_config or "
				  "basic_auth_users", k);
		if (rc)
			return rc;
	}
	return c->tls ? check_tls_material(l, c) : 0;
}

int web_config_load(const char *path, struct web_config *c, char *err, size_t errlen)
{
	struct loader l = { .path = path, .err = err, .errlen = errlen };
	yaml_parser_t parser;
	yaml_document_t doc;
	char *text, copy[PATH_MAX];
	int rc;
	memset(c, 0, sizeof(*c));
	if (strlen(path) >= sizeof(copy))
		return errmsg(err, errlen, -ENAMETOOLONG, "--web.config.file: path too long");
	strcpy(copy, path);
	snprintf(l.dir, sizeof(l.dir), "%s", dirname(copy));
	text = slurp(path);
	if (!text)
		return errmsg(err, errlen, -EINVAL, "--web.config.file %s: %s", path,
			      errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
	if (!yaml_parser_initialize(&parser)) {
		free(text);
		return errmsg(err, errlen, -ENOMEM, "--web.config.file %s: out of memory", path);
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
	if (!yaml_parser_load(&parser, &doc)) {
		rc = errmsg(err, errlen, -EINVAL, "--web.config.file %s: line %zu: %s%s%s", path,
			    parser.problem_mark.line + 1, parser.problem ? parser.problem : "bad YAML",
			    parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		free(text);
		return rc;
	}
	l.doc = &doc;
	rc = load_document(&l, c);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	free(text);
	if (rc)
		web_config_free(c);
	return rc;
}

void web_config_free(struct web_config *c)
{
	free(c->cert_pem);
	if (c->key_pem) {
		explicit_bzero(c->key_pem, strlen(c->key_pem));
		free(c->key_pem);
	}
	free(c->client_ca_pem);
	for (size_t i = 0; i < c->nusers; i++) {
		free(c->users[i].name);
		free(c->users[i].hash);
	}
	free(c->users);
	if (c->crypt_scratch) {
		explicit_bzero(c->crypt_scratch, sizeof(struct crypt_data));
		free(c->crypt_scratch);
	}
	memset(c, 0, sizeof(*c));
}

static bool same_bytes(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

/* A token bucket: bcrypt_per_second a second, holding at most as many (at least one). */
static bool take_bcrypt_token(struct web_config *c, double now)
{
	double cap = c->bcrypt_per_second > 1 ? c->bcrypt_per_second : 1;

	if (now > c->bcrypt_refilled) {
		c->bcrypt_tokens += (now - c->bcrypt_refilled) * c->bcrypt_per_second;
		if (c->bcrypt_tokens > cap)
			c->bcrypt_tokens = cap;
		c->bcrypt_refilled = now;
	}
	if (c->bcrypt_tokens < 1)
		return false;
	c->bcrypt_tokens -= 1;
	return true;
}

enum web_auth_result web_config_check_password(struct web_config *c, const char *user,
					       const char *password, double now)
{
	struct web_user *u = NULL;
	unsigned char digest[32];
	const char *out;
	bool ok, hashed;

	if (!c->nusers || !user || !password)
		return WEB_AUTH_DENIED;
	for (size_t i = 0; i < c->nusers && !u; i++)
		if (!strcmp(c->users[i].name, user))
			u = &c->users[i];
	hashed = gnutls_hash_fast(GNUTLS_DIG_SHA256, password, strlen(password), digest) == 0;
	if (u && u->cached && hashed && same_bytes(digest, u->cached_digest, sizeof(digest))) {
		explicit_bzero(digest, sizeof(digest));
		return WEB_AUTH_OK;
	}
	if (!take_bcrypt_token(c, now)) {
		explicit_bzero(digest, sizeof(digest));
		return WEB_AUTH_BUSY;
	}
	/* An unknown user costs a bcrypt too, so timing does not tell names apart. */
	out = crypt_rn(password, u ? u->hash : c->users[0].hash, c->crypt_scratch,
		       sizeof(struct crypt_data));
	ok = u && out && strlen(out) == strlen(u->hash) && same_bytes(out, u->hash, strlen(u->hash));
	if (ok && hashed) {
		memcpy(u->cached_digest, digest, sizeof(digest));
		u->cached = true;
	}
	explicit_bzero(digest, sizeof(digest));
	return ok ? WEB_AUTH_OK : WEB_AUTH_DENIED;
}
