// SPDX-License-Identifier: MIT
#include "json_writer.h"

#include <inttypes.h>

void json_init(struct json_writer *w, struct strbuf *out)
{
	*w = (struct json_writer){ .out = out };
}

/*
 * Separates a value from the one before it, unless it follows a key.
 * Levels past JSON_MAX_DEPTH are not tracked (has_items would overflow).
 */
static void before_value(struct json_writer *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth <= 0 || w->depth > JSON_MAX_DEPTH)
		return;
	if (w->has_items[w->depth - 1])
		strbuf_putc(w->out, ',');
	w->has_items[w->depth - 1] = true;
}

static void open_scope(struct json_writer *w, char c)
{
	before_value(w);
	strbuf_putc(w->out, c);
	if (w->depth < JSON_MAX_DEPTH)
		w->has_items[w->depth] = false;
	w->depth++;
}

static void close_scope(struct json_writer *w, char c)
{
	if (w->depth > 0)
		w->depth--;
	strbuf_putc(w->out, c);
}

void json_object_begin(struct json_writer *w)
{
	open_scope(w, '{');
}

void json_object_end(struct json_writer *w)
{
	close_scope(w, '}');
}

void json_array_begin(struct json_writer *w)
{
	open_scope(w, '[');
}

void json_array_end(struct json_writer *w)
{
	close_scope(w, ']');
}

static void write_escaped(struct strbuf *out, const char *s)
{
	strbuf_putc(out, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			strbuf_puts(out, "\\\"");
			break;
		case '\\':
			strbuf_puts(out, "\\\\");
			break;
		case '\n':
			strbuf_puts(out, "\\n");
			break;
		case '\r':
			strbuf_puts(out, "\\r");
			break;
		case '\t':
			strbuf_puts(out, "\\t");
			break;
		default:
			if (*p < 0x20)
				strbuf_printf(out, "\\u%04x", *p);
			else
				strbuf_putc(out, (char)*p);
		}
	}
	strbuf_putc(out, '"');
}

void json_key(struct json_writer *w, const char *key)
{
	before_value(w);
	write_escaped(w->out, key);
	strbuf_putc(w->out, ':');
	w->after_key = true;
}

void json_string(struct json_writer *w, const char *s)
{
	before_value(w);
	if (s)
		write_escaped(w->out, s);
	else
		strbuf_puts(w->out, "null");
}

void json_int(struct json_writer *w, int64_t v)
{
	before_value(w);
	strbuf_printf(w->out, "%" PRId64, v);
}

void json_uint(struct json_writer *w, uint64_t v)
{
	before_value(w);
	strbuf_printf(w->out, "%" PRIu64, v);
}

void json_bool(struct json_writer *w, bool v)
{
	before_value(w);
	strbuf_puts(w->out, v ? "true" : "false");
}

void json_null(struct json_writer *w)
{
	before_value(w);
	strbuf_puts(w->out, "null");
}

void json_kv_string(struct json_writer *w, const char *key, const char *s)
{
	json_key(w, key);
	json_string(w, s);
}

void json_kv_int(struct json_writer *w, const char *key, int64_t v)
{
	json_key(w, key);
	json_int(w, v);
}

void json_kv_uint(struct json_writer *w, const char *key, uint64_t v)
{
	json_key(w, key);
	json_uint(w, v);
}

void json_kv_bool(struct json_writer *w, const char *key, bool v)
{
	json_key(w, key);
	json_bool(w, v);
}
