// SPDX-License-Identifier: MIT
#include "top_model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 16

struct label {
	char name[32];
	char value[128];
};

struct line {
	char name[96];
	struct label labels[MAX_LABELS];
	size_t nlabels;
	double value;
};

static const char *label(const struct line *l, const char *name)
{
	for (size_t i = 0; i < l->nlabels; i++)
		if (!strcmp(l->labels[i].name, name))
			return l->labels[i].value;
	return "";
}

/* Copies with truncation; the exposition's limits are not ours. */
static void copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src);
}

static int parse_labels(const char **pp, struct line *l)
{
	const char *p = *pp;

	while (*p && *p != '}') {
		struct label *lb = l->nlabels < MAX_LABELS ? &l->labels[l->nlabels] : NULL;
		size_t n = 0;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '}')
			break;
		while (*p && *p != '=') {
			if (lb && n + 1 < sizeof(lb->name))
				lb->name[n++] = *p;
			p++;
		}
		if (lb)
			lb->name[n] = '\0';
		if (p[0] != '=' || p[1] != '"')
			return -EINVAL;
		p += 2;
		n = 0;
		while (*p && *p != '"') {
			char c = *p++;

			if (c == '\\') {
				c = *p++;
				if (c == 'n')
					c = '\n';
				else if (c != '\\' && c != '"')
					return -EINVAL;
			}
			if (lb && n + 1 < sizeof(lb->value))
				lb->value[n++] = c;
		}
		if (*p != '"')
			return -EINVAL;
		p++;
		if (lb) {
			lb->value[n] = '\0';
			l->nlabels++;
		}
	}
	if (*p != '}')
		return -EINVAL;
	*pp = p + 1;
	return 0;
}

static int parse_line(const char *p, struct line *l)
{
	size_t n = 0;
	char *end;

	l->nlabels = 0;
	while (*p && *p != '{' && *p != ' ') {
		if (n + 1 < sizeof(l->name))
			l->name[n++] = *p;
		p++;
	}
	l->name[n] = '\0';
	if (!n)
		return -EINVAL;
	if (*p == '{') {
		p++;
		if (parse_labels(&p, l))
			return -EINVAL;
	}
	if (*p != ' ')
		return -EINVAL;
	l->value = strtod(p, &end);
	if (end == p || (*end && *end != ' '))
		return -EINVAL;
	return 0;
}

static void *grow(void *v, size_t n, size_t size)
{
	/* Doubling at powers of two keeps appends amortised O(1). */
	if (n & (n - 1))
		return v;
	return realloc(v, (n ? n * 2 : 8) * size);
}

static struct top_socket *find_socket(struct top_sample *s, const struct line *l, size_t *hint)
{
	uint32_t pid = (uint32_t)strtoul(label(l, "pid"), NULL, 10);
	const char *sock = label(l, "socket");
	struct top_socket *v;

	/* Families list sockets in the same order: the next one is usually it. */
	for (size_t k = 0; k < s->nsockets; k++) {
		size_t i = (*hint + k) % s->nsockets;

		if (s->sockets[i].pid == pid && !strcmp(s->sockets[i].socket, sock)) {
			*hint = i + 1;
			return &s->sockets[i];
		}
	}
	v = grow(s->sockets, s->nsockets, sizeof(*v));
	if (!v)
		return NULL;
	s->sockets = v;
	v = &s->sockets[s->nsockets++];
	memset(v, 0, sizeof(*v));
	v->pid = pid;
	copy(v->socket, sizeof(v->socket), sock);
	copy(v->type, sizeof(v->type), label(l, "type"));
	copy(v->role, sizeof(v->role), label(l, "role"));
	copy(v->endpoint, sizeof(v->endpoint), label(l, "endpoint"));
	*hint = s->nsockets;
	return v;
}

static struct top_hist *find_hist(struct top_sample *s, enum top_hist_kind kind,
				  const struct line *l, size_t *hint)
{
	uint32_t pid = (uint32_t)strtoul(label(l, "pid"), NULL, 10);
	const char *role = label(l, "role"), *type = label(l, "msg_type");
	struct top_hist *h;

	for (size_t k = 0; k < s->nhists; k++) {
		size_t i = (*hint + k) % s->nhists;

		h = &s->hists[i];
		if (h->kind == kind && h->pid == pid && !strcmp(h->role, role) &&
		    !strcmp(h->msg_type, type)) {
			*hint = i;
			return h;
		}
	}
	h = grow(s->hists, s->nhists, sizeof(*h));
	if (!h)
		return NULL;
	s->hists = h;
	h = &s->hists[s->nhists];
	memset(h, 0, sizeof(*h));
	h->kind = kind;
	h->pid = pid;
	copy(h->role, sizeof(h->role), role);
	copy(h->msg_type, sizeof(h->msg_type), type);
	*hint = s->nhists++;
	return h;
}

static int add_hist_sample(struct top_sample *s, enum top_hist_kind kind, const char *suffix,
			   const struct line *l, size_t *hint)
{
	struct top_hist *h = find_hist(s, kind, l, hint);

	if (!h)
		return -ENOMEM;
	if (!strcmp(suffix, "_bucket")) {
		char *end;
		const char *le = label(l, "le");
		double bound = strtod(le, &end);

		if (end == le || *end)
			return -EINVAL;
		if (h->nbuckets < TOP_MAX_BUCKETS) {
			h->le[h->nbuckets] = bound;
			h->cum[h->nbuckets++] = l->value;
		}
	} else if (!strcmp(suffix, "_count")) {
		h->count = l->value;
	} else if (!strcmp(suffix, "_sum")) {
		h->sum = l->value;
	}
	return 0;
}

static int add_target(struct top_sample *s, const struct line *l)
{
	struct top_target *t = grow(s->targets, s->ntargets, sizeof(*t));

	if (!t)
		return -ENOMEM;
	s->targets = t;
	t = &s->targets[s->ntargets++];
	t->pid = (uint32_t)strtoul(label(l, "pid"), NULL, 10);
	t->up = l->value == 1;
	return 0;
}

static const char *const hist_names[] = {
	[TOP_HANDLER] = "zmqscope_handler_duration_seconds",
	[TOP_REQUEST] = "zmqscope_request_duration_seconds",
};

static int add_line(struct top_sample *s, const struct line *l, size_t *sock_hint,
		    size_t *hist_hint)
{
	static const char *const sock_families[] = {
		"zmqscope_messages_received_total", "zmqscope_messages_sent_total",
		"zmqscope_bytes_received_total",    "zmqscope_bytes_sent_total",
		"zmqscope_socket_pending",	    "zmqscope_socket_active_handlers",
	};

	for (size_t f = 0; f < sizeof(sock_families) / sizeof(sock_families[0]); f++) {
		struct top_socket *so;
		double *fields[6];

		if (strcmp(l->name, sock_families[f]))
			continue;
		so = find_socket(s, l, sock_hint);
		if (!so)
			return -ENOMEM;
		fields[0] = &so->msgs_rx;
		fields[1] = &so->msgs_tx;
		fields[2] = &so->bytes_rx;
		fields[3] = &so->bytes_tx;
		fields[4] = &so->pending;
		fields[5] = &so->active;
		/* messages_received_total is split by msg_type: sum the parts. */
		*fields[f] += l->value;
		return 0;
	}
	for (int k = TOP_HANDLER; k <= TOP_REQUEST; k++) {
		size_t n = strlen(hist_names[k]);

		if (!strncmp(l->name, hist_names[k], n))
			return add_hist_sample(s, (enum top_hist_kind)k, l->name + n, l, hist_hint);
	}
	if (!strcmp(l->name, "zmqscope_target_up"))
		return add_target(s, l);
	return 0;
}

int top_parse(const char *text, struct top_sample *out, int *bad_line)
{
	struct line *l = malloc(sizeof(*l));
	size_t sock_hint = 0, hist_hint = 0;
	int lineno = 0, rc = 0;
	double time = out->time;

	memset(out, 0, sizeof(*out));
	out->time = time;
	if (!l)
		return -ENOMEM;
	while (*text) {
		const char *nl = strchr(text, '\n');
		size_t len = nl ? (size_t)(nl - text) : strlen(text);
		char buf[1024];

		lineno++;
		if (len && text[0] != '#') {
			if (len >= sizeof(buf)) {
				rc = -EINVAL;
				break;
			}
			memcpy(buf, text, len);
			buf[len] = '\0';
			rc = parse_line(buf, l);
			if (!rc)
				rc = add_line(out, l, &sock_hint, &hist_hint);
			if (rc)
				break;
		}
		text += len + (nl ? 1 : 0);
	}
	free(l);
	if (rc) {
		if (bad_line)
			*bad_line = lineno;
		top_sample_free(out);
	}
	return rc;
}

void top_sample_free(struct top_sample *s)
{
	free(s->sockets);
	free(s->hists);
	free(s->targets);
	s->sockets = NULL;
	s->hists = NULL;
	s->targets = NULL;
	s->nsockets = s->nhists = s->ntargets = 0;
}

double top_quantile(double q, const double *le, const double *cum, size_t n)
{
	double rank, lo = 0, below = 0;

	if (!n || !(cum[n - 1] > 0))
		return NAN;
	rank = q * cum[n - 1];
	for (size_t i = 0; i < n; i++) {
		if (cum[i] >= rank) {
			if (isinf(le[i]))
				return i ? le[i - 1] : NAN;
			if (cum[i] == below)
				return le[i];
			return lo + (le[i] - lo) * (rank - below) / (cum[i] - below);
		}
		lo = le[i];
		below = cum[i];
	}
	return lo;
}

static double per_second(double now, double then, double dt)
{
	/* A counter that went down was reset: no rate for this interval. */
	if (dt <= 0 || now < then)
		return NAN;
	return (now - then) / dt;
}

static const struct top_socket *prev_socket(const struct top_sample *prev,
					    const struct top_socket *s, size_t *hint)
{
	for (size_t k = 0; prev && k < prev->nsockets; k++) {
		size_t i = (*hint + k) % prev->nsockets;

		if (prev->sockets[i].pid == s->pid && !strcmp(prev->sockets[i].socket, s->socket)) {
			*hint = i + 1;
			return &prev->sockets[i];
		}
	}
	return NULL;
}

static enum top_sort sort_key;
static bool sort_reverse;

/* Largest first; NAN (no rate yet) last. */
static int cmp_desc(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) - isnan(b);
	return a > b ? -1 : a < b;
}

static int cmp_socket_rows(const void *pa, const void *pb)
{
	const struct top_socket_row *a = pa, *b = pb;
	int c = 0;

	switch (sort_key) {
	case TOP_SORT_MSGS:
	case TOP_SORT_P99:
		c = cmp_desc(a->rx_rate + a->tx_rate, b->rx_rate + b->tx_rate);
		break;
	case TOP_SORT_BYTES:
		c = cmp_desc(a->rxb_rate + a->txb_rate, b->rxb_rate + b->txb_rate);
		break;
	case TOP_SORT_PID:
		c = a->s->pid < b->s->pid ? -1 : a->s->pid > b->s->pid;
		break;
	case TOP_SORT_ENDPOINT:
		c = strcmp(a->s->endpoint, b->s->endpoint);
		break;
	}
	if (!c)
		c = a->s->pid < b->s->pid ? -1 : a->s->pid > b->s->pid;
	if (!c)
		c = strcmp(a->s->socket, b->s->socket);
	return sort_reverse ? -c : c;
}

int top_socket_rows(const struct top_sample *prev, const struct top_sample *cur,
		    enum top_sort sort, bool reverse, struct top_socket_row **out)
{
	struct top_socket_row *rows = calloc(cur->nsockets ? cur->nsockets : 1, sizeof(*rows));
	double dt = prev ? cur->time - prev->time : 0;
	size_t hint = 0;

	if (!rows)
		return -ENOMEM;
	for (size_t i = 0; i < cur->nsockets; i++) {
		const struct top_socket *s = &cur->sockets[i], *p = prev_socket(prev, s, &hint);

		rows[i].s = s;
		rows[i].rx_rate = p ? per_second(s->msgs_rx, p->msgs_rx, dt) : NAN;
		rows[i].tx_rate = p ? per_second(s->msgs_tx, p->msgs_tx, dt) : NAN;
		rows[i].rxb_rate = p ? per_second(s->bytes_rx, p->bytes_rx, dt) : NAN;
		rows[i].txb_rate = p ? per_second(s->bytes_tx, p->bytes_tx, dt) : NAN;
	}
	sort_key = sort;
	sort_reverse = reverse;
	qsort(rows, cur->nsockets, sizeof(*rows), cmp_socket_rows);
	*out = rows;
	return (int)cur->nsockets;
}

static int cmp_latency_rows(const void *pa, const void *pb)
{
	const struct top_latency_row *a = pa, *b = pb;
	int c = 0;

	switch (sort_key) {
	case TOP_SORT_P99:
		c = cmp_desc(a->p99, b->p99);
		break;
	case TOP_SORT_PID:
		c = a->h->pid < b->h->pid ? -1 : a->h->pid > b->h->pid;
		break;
	case TOP_SORT_MSGS:
	case TOP_SORT_BYTES:
	case TOP_SORT_ENDPOINT:
		c = cmp_desc(a->rate, b->rate);
		if (!c)
			c = cmp_desc(a->h->count, b->h->count);
		break;
	}
	if (!c)
		c = (int)a->h->kind - (int)b->h->kind;
	if (!c)
		c = strcmp(a->h->msg_type, b->h->msg_type);
	if (!c)
		c = a->h->pid < b->h->pid ? -1 : a->h->pid > b->h->pid;
	return sort_reverse ? -c : c;
}

int top_latency_rows(const struct top_sample *prev, const struct top_sample *cur,
		     enum top_sort sort, bool reverse, struct top_latency_row **out)
{
	struct top_latency_row *rows = calloc(cur->nhists ? cur->nhists : 1, sizeof(*rows));
	double dt = prev ? cur->time - prev->time : 0;

	if (!rows)
		return -ENOMEM;
	for (size_t i = 0; i < cur->nhists; i++) {
		const struct top_hist *h = &cur->hists[i], *p = NULL;

		for (size_t j = 0; prev && j < prev->nhists && !p; j++) {
			const struct top_hist *c = &prev->hists[j];

			if (c->kind == h->kind && c->pid == h->pid && !strcmp(c->role, h->role) &&
			    !strcmp(c->msg_type, h->msg_type))
				p = c;
		}
		rows[i].h = h;
		rows[i].rate = p ? per_second(h->count, p->count, dt) : NAN;
		rows[i].p50 = top_quantile(0.5, h->le, h->cum, h->nbuckets);
		rows[i].p99 = top_quantile(0.99, h->le, h->cum, h->nbuckets);
	}
	sort_key = sort;
	sort_reverse = reverse;
	qsort(rows, cur->nhists, sizeof(*rows), cmp_latency_rows);
	*out = rows;
	return (int)cur->nhists;
}

static void fmt_scaled(double v, char *out, size_t n, const char *const *units, size_t nunits)
{
	size_t u = 0;

	if (isnan(v)) {
		snprintf(out, n, "-");
		return;
	}
	/* Up to 9999 as is; then K, M, ... with one decimal, under 1000 each. */
	if (v >= 9999.5) {
		v /= 1000;
		u++;
		while (u + 1 < nunits && v >= 999.95) {
			v /= 1000;
			u++;
		}
	}
	if (u == 0 && v < 1000 && v != (double)(long long)v)
		snprintf(out, n, "%.1f", v);
	else if (u == 0)
		snprintf(out, n, "%.0f", v);
	else
		snprintf(out, n, "%.1f%s", v, units[u]);
}

void top_fmt_rate(double v, char *out, size_t n)
{
	static const char *const units[] = { "", "K", "M", "G" };

	fmt_scaled(v, out, n, units, 4);
}

void top_fmt_bytes(double v, char *out, size_t n)
{
	static const char *const units[] = { "", "K", "M", "G", "T" };

	fmt_scaled(v, out, n, units, 5);
}

void top_fmt_seconds(double v, char *out, size_t n)
{
	if (isnan(v))
		snprintf(out, n, "-");
	else if (v < 1e-3)
		snprintf(out, n, "%.0fus", v * 1e6);
	else if (v < 1)
		snprintf(out, n, "%.2fms", v * 1e3);
	else
		snprintf(out, n, "%.2fs", v);
}
