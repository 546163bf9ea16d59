/* SPDX-License-Identifier: MIT */
/* A small streaming JSON writer: commas and escaping are its job. */
#ifndef ZS_JSON_WRITER_H
#define ZS_JSON_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "strbuf.h"

#define JSON_MAX_DEPTH 16

struct json_writer {
	struct strbuf *out;
	int depth;
	bool has_items[JSON_MAX_DEPTH];
	bool after_key;
};

void json_init(struct json_writer *w, struct strbuf *out);
void json_object_begin(struct json_writer *w);
void json_object_end(struct json_writer *w);
void json_array_begin(struct json_writer *w);
void json_array_end(struct json_writer *w);
void json_key(struct json_writer *w, const char *key);
void json_string(struct json_writer *w, const char *s);
void json_int(struct json_writer *w, int64_t v);
void json_uint(struct json_writer *w, uint64_t v);
void json_bool(struct json_writer *w, bool v);
void json_null(struct json_writer *w);

/* Shorthands for "key": value pairs. */
void json_kv_string(struct json_writer *w, const char *key, const char *s);
void json_kv_int(struct json_writer *w, const char *key, int64_t v);
void json_kv_uint(struct json_writer *w, const char *key, uint64_t v);
void json_kv_bool(struct json_writer *w, const char *key, bool v);

#endif
