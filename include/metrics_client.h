/* SPDX-License-Identifier: MIT */
/* A minimal HTTP client for an instance's /metrics (used by `top`). */
#ifndef ZS_METRICS_CLIENT_H
#define ZS_METRICS_CLIENT_H

#include <stddef.h>

#include "options.h"
#include "strbuf.h"

/*
 * GET /metrics from `l` (a wildcard address means this host's loopback).
 * The body goes to `out`.  0, or -errno with a one-line reason in `err`.
 */
int metrics_fetch(const struct zs_listen *l, int timeout_ms, struct strbuf *out, char *err,
		  size_t errlen);

#endif
