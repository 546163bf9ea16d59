// SPDX-License-Identifier: MIT
#include "exposition.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_name_start(char c, bool colon_ok)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (colon_ok && c == ':');
}

static bool is_name_char(char c, bool colon_ok)
{
	return is_name_start(c, colon_ok) || (c >= '0' && c <= '9');
}

static bool valid_name(const char *name, bool colon_ok)
{
	if (!name || !is_name_start(name[0], colon_ok))
		return false;
	for (const char *p = name + 1; *p; p++)
		if (!is_name_char(*p, colon_ok))
			return false;
	return true;
}

bool expo_valid_metric_name(const char *name)
{
	return valid_name(name, true);
}

bool expo_valid_label_name(const char *name)
{
	/* Names starting with "__" are reserved for Prometheus itself. */
	return valid_name(name, false) && strncmp(name, "__", 2) != 0;
}

/*
 * How many bytes at s, of the n there, start a well-formed UTF-8 character
 * (Unicode table 3-7: no overlong forms, no surrogates, nothing past
 * U+10FFFF).  *whole says whether they complete it; otherwise they are the
 * longest valid start, 0 for a byte that starts no character.
 */
static size_t utf8_prefix(const unsigned char *s, size_t n, bool *whole)
{
	unsigned char lo = 0x80, hi = 0xBF;
	size_t need, i;

	*whole = false;
	if (!n)
		return 0;
	if (s[0] < 0x80) {
		*whole = true;
		return 1;
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		need = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		need = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		need = 4;
	else
		return 0;
	/* The second byte's range is what rules out overlongs and surrogates. */
	if (s[0] == 0xE0)
		lo = 0xA0;
	else if (s[0] == 0xED)
		hi = 0x9F;
	else if (s[0] == 0xF0)
		lo = 0x90;
	else if (s[0] == 0xF4)
		hi = 0x8F;
	for (i = 1; i < need && i < n; i++) {
		if (s[i] < lo || s[i] > hi)
			return i;
		lo = 0x80;
		hi = 0xBF;
	}
	*whole = i == need;
	return i;
}

size_t expo_utf8_boundary(const char *s, size_t n)
{
	/* Only the last three bytes can hold the start of a cut character. */
	for (size_t back = 1; back <= 3 && back <= n; back++) {
		const unsigned char *c = (const unsigned char *)s + n - back;
		bool whole;

		if (*c < 0x80 || *c >= 0xC0) { /* the last character's first byte */
			size_t got = utf8_prefix(c, back, &whole);

			return got == back && !whole ? n - back : n;
		}
	}
	return n;
}

static void escape(struct strbuf *out, const char *text, bool quote)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t left = strlen(text);

	while (left) {
		bool whole;
		size_t len = utf8_prefix(s, left, &whole);

		if (!whole) {
			strbuf_puts(out, "\xEF\xBF\xBD"); /* U+FFFD for the invalid sequence */
			len = len ? len : 1;
		} else if (*s == '\\') {
			strbuf_puts(out, "\\\\");
		} else if (*s == '\n') {
			strbuf_puts(out, "\\n");
		} else if (*s == '"') {
			strbuf_puts(out, quote ? "\\\"" : "\"");
		} else {
			strbuf_append(out, (const char *)s, len);
		}
		s += len;
		left -= len;
	}
}

void expo_escape_label_value(struct strbuf *out, const char *value)
{
	escape(out, value, true);
}

void expo_escape_help(struct strbuf *out, const char *help)
{
	escape(out, help, false);
}

void expo_family(struct strbuf *out, const char *name, enum expo_type type, const char *help)
{
	static const char *const type_names[] = {
		[EXPO_COUNTER] = "counter",
		[EXPO_GAUGE] = "gauge",
		[EXPO_HISTOGRAM] = "histogram",
	};

	strbuf_printf(out, "# HELP %s ", name);
	expo_escape_help(out, help);
	strbuf_printf(out, "\n# TYPE %s %s\n", name, type_names[type]);
}

static void write_labels(struct strbuf *out, const struct expo_label *a, size_t na,
			 const struct expo_label *b, size_t nb, const char *le)
{
	bool first = true;

	if (!na && !nb && !le)
		return;
	strbuf_putc(out, '{');
	for (size_t run = 0; run < 2; run++) {
		const struct expo_label *l = run ? b : a;
		size_t n = run ? nb : na;

		for (size_t i = 0; i < n; i++) {
			strbuf_printf(out, "%s%s=\"", first ? "" : ",", l[i].name);
			expo_escape_label_value(out, l[i].value ? l[i].value : "");
			strbuf_putc(out, '"');
			first = false;
		}
	}
	if (le)
		strbuf_printf(out, "%sle=\"%s\"", first ? "" : ",", le);
	strbuf_putc(out, '}');
}

/* The shortest text that reads back as the same double: 1.024e-06, not 1.0240000000000001e-06. */
static void format_double(char *dst, size_t n, double v)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(dst, n, "%.*g", prec, v);
		if (strtod(dst, NULL) == v)
			return;
	}
}

static void write_value(struct strbuf *out, double v)
{
	char text[40];

	if (isnan(v))
		strbuf_puts(out, "NaN");
	else if (isinf(v))
		strbuf_puts(out, v > 0 ? "+Inf" : "-Inf");
	else if (fabs(v) < 9007199254740992.0 && v == (double)(int64_t)v)
		strbuf_printf(out, "%lld", (long long)v);
	else {
		format_double(text, sizeof(text), v);
		strbuf_puts(out, text);
	}
}

void expo_sample(struct strbuf *out, const char *name, const struct expo_label *a, size_t na,
		 const struct expo_label *b, size_t nb, double value)
{
	strbuf_puts(out, name);
	write_labels(out, a, na, b, nb, NULL);
	strbuf_putc(out, ' ');
	write_value(out, value);
	strbuf_putc(out, '\n');
}

void expo_label_prefix(struct strbuf *out, const struct expo_label *l, size_t n)
{
	strbuf_putc(out, '{');
	for (size_t i = 0; i < n; i++) {
		strbuf_printf(out, "%s%s=\"", i ? "," : "", l[i].name);
		expo_escape_label_value(out, l[i].value ? l[i].value : "");
		strbuf_putc(out, '"');
	}
}

void expo_label_suffix(struct strbuf *out, const struct expo_label *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		strbuf_printf(out, ",%s=\"", l[i].name);
		expo_escape_label_value(out, l[i].value ? l[i].value : "");
		strbuf_putc(out, '"');
	}
}

void expo_sample_prefixed(struct strbuf *out, const char *name, const char *prefix,
			  const char *extra_name, const char *extra_value, const char *suffix,
			  uint64_t value)
{
	strbuf_puts(out, name);
	strbuf_puts(out, prefix);
	if (extra_name) {
		strbuf_printf(out, "%s%s=\"", prefix[1] ? "," : "", extra_name);
		expo_escape_label_value(out, extra_value);
		strbuf_putc(out, '"');
	}
	/* With no own labels the suffix's leading comma would follow the brace. */
	strbuf_puts(out, prefix[1] || extra_name ? suffix : suffix + (suffix[0] == ','));
	strbuf_puts(out, "} ");
	strbuf_put_u64(out, value);
	strbuf_putc(out, '\n');
}

void expo_histogram_log2(struct strbuf *out, const char *name, const struct expo_label *a,
			 size_t na, const struct expo_label *b, size_t nb, const uint64_t *slots,
			 size_t nslots, size_t first, double units_per_second, uint64_t sum_units)
{
	uint64_t cumulative = 0;
	char le[48];

	if (first >= nslots)
		first = nslots ? nslots - 1 : 0;
	for (size_t i = 0; i < nslots; i++) {
		cumulative += slots[i];
		if (i < first)
			continue;
		if (i + 1 == nslots)
			snprintf(le, sizeof(le), "+Inf");
		else
			format_double(le, sizeof(le), ldexp(1.0, (int)i) / units_per_second);
		strbuf_printf(out, "%s_bucket", name);
		write_labels(out, a, na, b, nb, le);
		strbuf_printf(out, " %llu\n", (unsigned long long)cumulative);
	}
	strbuf_printf(out, "%s_sum", name);
	write_labels(out, a, na, b, nb, NULL);
	strbuf_putc(out, ' ');
	write_value(out, (double)sum_units / units_per_second);
	strbuf_printf(out, "\n%s_count", name);
	write_labels(out, a, na, b, nb, NULL);
	strbuf_printf(out, " %llu\n", (unsigned long long)cumulative);
}
