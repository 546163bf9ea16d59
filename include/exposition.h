/* SPDX-License-Identifier: MIT */
/*
 * Prometheus text exposition format 0.0.4: families, samples, escaping and
 * log2 histograms turned into cumulative `le` buckets.
 */
#ifndef ZS_EXPOSITION_H
#define ZS_EXPOSITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

enum expo_type {
	EXPO_COUNTER,
	EXPO_GAUGE,
	EXPO_HISTOGRAM,
};

struct expo_label {
	const char *name;
	const char *value;
};

#define EXPO_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

bool expo_valid_metric_name(const char *name);
bool expo_valid_label_name(const char *name);

/*
 * Both escape as the format asks and write valid UTF-8 whatever they are
 * given: each invalid sequence (a stray byte, an overlong form, a
 * surrogate, a cut character) becomes U+FFFD, as Prometheus rejects a
 * whole scrape over one bad label value.
 */
void expo_escape_label_value(struct strbuf *out, const char *value);
void expo_escape_help(struct strbuf *out, const char *help);

/*
 * For text cut to a fixed size (an endpoint the probe read into 64 bytes):
 * the length of s's first n bytes without a character left incomplete at
 * the end, so the cut falls between characters.
 */
size_t expo_utf8_boundary(const char *s, size_t n);

/* `# HELP` and `# TYPE` lines; every sample of the family must follow. */
void expo_family(struct strbuf *out, const char *name, enum expo_type type, const char *help);

/*
 * One sample.  Labels come in two runs (for instance a series' own labels,
 * then the user's --label pairs); either may be empty.
 */
void expo_sample(struct strbuf *out, const char *name, const struct expo_label *a, size_t na,
		 const struct expo_label *b, size_t nb, double value);

/*
 * For families rendered over many series with the same labels (one per
 * socket, say): a series' own labels are escaped once into `{k="v",...`
 * (left open), the --label pairs once into `,k="v",...`, and each sample
 * then only appends its name, the prefix, an optional extra label, the
 * suffix and an integer.
 */
void expo_label_prefix(struct strbuf *out, const struct expo_label *l, size_t n);
void expo_label_suffix(struct strbuf *out, const struct expo_label *l, size_t n);
void expo_sample_prefixed(struct strbuf *out, const char *name, const char *prefix,
			  const char *extra_name, const char *extra_value, const char *suffix,
			  uint64_t value);

/*
 * A histogram series from log2 slots, slot i counting values v with
 * 2^(i-1) < v <= 2^i (slot 0: v <= 1), in some integer unit (1e9 of them
 * a second for nanoseconds).  Buckets are written from slot `first` on,
 * each `le` being 2^i units in seconds; slots below `first` fold into it,
 * and the last slot is the +Inf bucket.  Dividing, rather than multiplying
 * by 1e-9, keeps 3145728 ns printing as 0.003145728.
 */
void expo_histogram_log2(struct strbuf *out, const char *name, const struct expo_label *a,
			 size_t na, const struct expo_label *b, size_t nb, const uint64_t *slots,
			 size_t nslots, size_t first, double units_per_second, uint64_t sum_units);

#endif
