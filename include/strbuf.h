/* SPDX-License-Identifier: MIT */
/* A growable, always NUL-terminated text buffer. */
#ifndef ZS_STRBUF_H
#define ZS_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
	bool oom; /* an append failed; the content is truncated */
};

#define STRBUF_INIT { 0 }

void strbuf_reset(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);
void strbuf_append(struct strbuf *sb, const char *s, size_t n);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_putc(struct strbuf *sb, char c);
__attribute__((format(printf, 2, 3))) void strbuf_printf(struct strbuf *sb, const char *fmt, ...);
void strbuf_put_u64(struct strbuf *sb, uint64_t v);
/* Returns the text (never NULL, "" when empty). */
const char *strbuf_str(const struct strbuf *sb);

#endif
