/* SPDX-License-Identifier: MIT */
/*
 * `zmqscope top`'s model: an exposition parsed into sockets, histograms and
 * targets, and the rates and quantiles between two of them.  Pure: no I/O.
 */
#ifndef ZS_TOP_MODEL_H
#define ZS_TOP_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOP_MAX_BUCKETS 48

enum top_hist_kind { TOP_HANDLER, TOP_REQUEST };

struct top_socket {
	uint32_t pid;
	char socket[24];
	char type[12];
	char role[12];
	char endpoint[128];
	/* counters summed over msg_type; gauges as exported */
	double msgs_rx, msgs_tx, bytes_rx, bytes_tx, pending, active;
};

struct top_hist {
	enum top_hist_kind kind;
	uint32_t pid;
	char role[12];
	char msg_type[64];
	size_t nbuckets;
	double le[TOP_MAX_BUCKETS];  /* ascending upper bounds, +Inf last */
	double cum[TOP_MAX_BUCKETS]; /* cumulative counts */
	double count, sum;
};

struct top_target {
	uint32_t pid;
	bool up;
};

struct top_sample {
	double time; /* seconds, monotonic: set by the caller */
	struct top_socket *sockets;
	size_t nsockets;
	struct top_hist *hists;
	size_t nhists;
	struct top_target *targets;
	size_t ntargets;
};

/* Parses exposition text.  0, or -EINVAL (with the line number in *bad_line), or -ENOMEM. */
int top_parse(const char *text, struct top_sample *out, int *bad_line);
void top_sample_free(struct top_sample *s);

/*
 * histogram_quantile's rule: linear inside the bucket that holds rank q*count,
 * from 0 for the first bucket; the highest finite bound when the rank falls in
 * +Inf.  NAN when the histogram is empty.
 */
double top_quantile(double q, const double *le, const double *cum, size_t n);

struct top_socket_row {
	const struct top_socket *s;
	/* per second since the previous sample; NAN when there is none */
	double rx_rate, tx_rate, rxb_rate, txb_rate;
};

struct top_latency_row {
	const struct top_hist *h;
	double rate;	/* observations per second, NAN without a previous sample */
	double p50, p99; /* over every observation since zmqscope attached */
};

enum top_sort { TOP_SORT_MSGS, TOP_SORT_BYTES, TOP_SORT_P99, TOP_SORT_PID, TOP_SORT_ENDPOINT };

/* Rows for `cur` (prev may be NULL), sorted.  Return the count, or -ENOMEM. */
int top_socket_rows(const struct top_sample *prev, const struct top_sample *cur,
		    enum top_sort sort, bool reverse, struct top_socket_row **out);
int top_latency_rows(const struct top_sample *prev, const struct top_sample *cur,
		     enum top_sort sort, bool reverse, struct top_latency_row **out);

/* Fixed-width text for the screen: "12.3", "4.5K", "1.2M"; "1.50ms", "812us"; "-" for NAN. */
void top_fmt_rate(double v, char *out, size_t n);
void top_fmt_bytes(double v, char *out, size_t n);
void top_fmt_seconds(double v, char *out, size_t n);

#endif
