// SPDX-License-Identifier: MIT
#include "socket_image.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libzmq's socket classes, indexed by their ZMQ_* type. */
static const char *const socket_classes[] = {
	"pair_t",   "pub_t",	"sub_t",   "req_t",   "rep_t",	  "dealer_t", "router_t",
	"pull_t",   "push_t",	"xpub_t",  "xsub_t",  "stream_t", "server_t", "client_t",
	"radio_t",  "dish_t",	"gather_t", "scatter_t", "dgram_t", "peer_t", "channel_t",
};
#define NCLASSES ((int)(sizeof(socket_classes) / sizeof(socket_classes[0])))

/* libstdc++'s std::string: data pointer, length, then 16 bytes of inline buffer. */
#define STR_PTR 0
#define STR_LEN 8
#define STR_LOCAL 16
#define STR_SIZE 32
#define STR_SSO_MAX 15
#define ENDPOINT_MAX 1024

int zmq_class_type(const char *mangled)
{
	const char *p = mangled;
	char *end;
	long len;

	if (*p == '*')
		p++;
	if (strncmp(p, "N3zmq", 5))
		return -1;
	p += 5;
	if (!isdigit((unsigned char)*p))
		return -1;
	len = strtol(p, &end, 10);
	if (len <= 0 || len > 32 || strlen(end) != (size_t)len + 1 || end[len] != 'E')
		return -1;
	for (int t = 0; t < NCLASSES; t++)
		if (strlen(socket_classes[t]) == (size_t)len && !strncmp(end, socket_classes[t], len))
			return t;
	return -1;
}

static bool in_library(const struct mem_reader *r, uint64_t a)
{
	return a >= r->lib_lo && a < r->lib_hi;
}

int socket_type_at(const struct mem_reader *r, uint64_t addr)
{
	uint64_t vptr, head[2], name_ptr;
	char name[40];

	if (addr % 8 || r->read(r->ctx, addr, &vptr, sizeof(vptr)) || !in_library(r, vptr) ||
	    vptr % 8)
		return -ENOENT;
	/* Before the vtable's first slot: offset-to-top, then the typeinfo pointer. */
	if (r->read(r->ctx, vptr - 16, head, sizeof(head)) || head[0] != 0 ||
	    !in_library(r, head[1]))
		return -ENOENT;
	/* std::type_info: its own vtable pointer, then the mangled name. */
	if (r->read(r->ctx, head[1] + 8, &name_ptr, sizeof(name_ptr)) || !in_library(r, name_ptr) ||
	    r->read(r->ctx, name_ptr, name, sizeof(name) - 1))
		return -ENOENT;
	name[sizeof(name) - 1] = '\0';
	{
		int t = zmq_class_type(name);

		return t < 0 ? -ENOENT : t;
	}
}

uint64_t socket_window_base(uint64_t tag_addr)
{
	return tag_addr < SOCK_IMAGE_BYTES + 8 ? 0 : (tag_addr & ~7ULL) - SOCK_IMAGE_BYTES;
}

uint64_t socket_start_before(const struct mem_reader *r, uint64_t tag_addr,
			     const uint64_t *window)
{
	uint64_t base = socket_window_base(tag_addr);

	if (!base)
		return 0;
	/* Nearest first: base subobjects' vtables (offset-to-top != 0) are passed over. */
	for (int i = SOCK_IMAGE_BYTES / 8 - 1; i >= 0; i--) {
		uint64_t at = base + (uint64_t)i * 8;

		if (window[i] < r->lib_lo || window[i] >= r->lib_hi || at >= tag_addr)
			continue;
		if (socket_type_at(r, at) >= 0)
			return at;
	}
	return 0;
}

/* More than any real context holds, so a random triple is not read as one. */
#define CONTEXT_MAX_SOCKETS 65536

int context_sockets(const struct mem_reader *r, const uint64_t *words, size_t nwords,
		    uint64_t known, uint64_t *out, size_t max)
{
	for (size_t i = 0; i + 3 <= nwords; i++) {
		uint64_t begin = words[i], end = words[i + 1], cap = words[i + 2];
		size_t count, take;
		bool has_known = false;

		if (!begin || begin % 8 || end < begin || cap < end || (end - begin) % 8 ||
		    (end - begin) / 8 > CONTEXT_MAX_SOCKETS || end == begin)
			continue;
		count = (size_t)((end - begin) / 8);
		take = count < max ? count : max;
		if (r->read(r->ctx, begin, out, take * 8))
			continue;
		for (size_t k = 0; k < take && !has_known; k++)
			has_known = out[k] == known;
		if (has_known)
			return (int)take;
	}
	return -ENOENT;
}

static uint32_t u32_at(const struct sock_image *im, int32_t off)
{
	uint32_t v;

	memcpy(&v, im->bytes + off, sizeof(v));
	return v;
}

static uint64_t u64_at(const struct sock_image *im, int32_t off)
{
	uint64_t v;

	memcpy(&v, im->bytes + off, sizeof(v));
	return v;
}

int32_t image_tag_offset(const struct sock_image *im, size_t n)
{
	if (!n)
		return -ENOENT;
	for (int32_t off = 8; off + 4 <= SOCK_IMAGE_BYTES; off += 4) {
		size_t i = 0;

		while (i < n && u32_at(&im[i], off) == 0xbaddecafU)
			i++;
		if (i == n)
			return off;
	}
	return -ENOENT;
}

static bool type_fits(const struct sock_image *im, size_t n, int32_t off)
{
	for (size_t i = 0; i < n; i++)
		if (im[i].bytes[off] != (uint8_t)im[i].type)
			return false;
	return true;
}

int32_t image_type_offset(const struct sock_image *im, size_t n, int32_t hint, char *why,
			  size_t whylen)
{
	int32_t first = -1;
	size_t candidates = 0, distinct = 0;
	bool seen[NCLASSES] = { false };

	if (!n) {
		snprintf(why, whylen, "no socket to measure");
		return -ENOENT;
	}
	for (size_t i = 0; i < n; i++)
		if (im[i].type >= 0 && im[i].type < NCLASSES && !seen[im[i].type]) {
			seen[im[i].type] = true;
			distinct++;
		}
	if (hint >= 8 && hint < SOCK_IMAGE_BYTES && type_fits(im, n, hint))
		return hint;
	/* options.type is one byte (int8_t); the vtable pointer is never it. */
	for (int32_t off = 8; off < SOCK_IMAGE_BYTES; off++) {
		if (!type_fits(im, n, off))
			continue;
		if (first < 0)
			first = off;
		candidates++;
	}
	if (!candidates) {
		snprintf(why, whylen, "no offset holds the type of all %zu sockets", n);
		return -ENOENT;
	}
	/*
	 * libzmq 4.3 keeps a second copy of the type deeper in the object, so
	 * two fits are normal; options_t, in front, holds the canonical one.
	 * With one type only, constant fields fit as well: refuse to guess.
	 */
	if (candidates > 1 && distinct < 2) {
		snprintf(why, whylen, "%zu offsets fit the type: sockets of one type only", candidates);
		return -ENOENT;
	}
	return first;
}

bool looks_like_endpoint(const char *s)
{
	size_t i = 0;

	while (s[i] >= 'a' && s[i] <= 'z')
		i++;
	return i >= 2 && i <= 8 && !strncmp(s + i, "://", 3) && s[i + 3];
}

int image_string_at(const struct mem_reader *r, const struct sock_image *im, int32_t off, char *out,
		    size_t n)
{
	char text[ENDPOINT_MAX + 1];
	uint64_t ptr, len;

	if (off < 8 || off % 8 || off + STR_SIZE > SOCK_IMAGE_BYTES || !n)
		return -EINVAL;
	ptr = u64_at(im, off + STR_PTR);
	len = u64_at(im, off + STR_LEN);
	if (ptr == im->addr + (uint64_t)off + STR_LOCAL) {
		/* Short strings live inline. */
		if (len > STR_SSO_MAX)
			return -EINVAL;
		memcpy(text, im->bytes + off + STR_LOCAL, len + 1);
	} else {
		/* A string that shrank keeps its heap buffer: any length. */
		if (len > ENDPOINT_MAX || !ptr ||
		    r->read(r->ctx, ptr, text, len + 1))
			return -EINVAL;
	}
	if (text[len] != '\0' || strlen(text) != len)
		return -EINVAL;
	if (len && !looks_like_endpoint(text))
		return -EINVAL;
	snprintf(out, n, "%s", text);
	return 0;
}

/* Every image holds a well-formed string here, and at least one an endpoint. */
static bool endpoint_fits(const struct mem_reader *r, const struct sock_image *im, size_t n,
			  int32_t off)
{
	bool some = false;

	for (size_t i = 0; i < n; i++) {
		char text[ENDPOINT_MAX + 1];

		if (image_string_at(r, &im[i], off, text, sizeof(text)))
			return false;
		some |= text[0] != '\0';
	}
	return some;
}

int32_t image_endpoint_offset(const struct mem_reader *r, const struct sock_image *im, size_t n,
			      int32_t hint)
{
	if (!n)
		return -ENOENT;
	if (hint >= 8 && hint % 8 == 0 && endpoint_fits(r, im, n, hint))
		return hint;
	for (int32_t off = 8; off + STR_SIZE <= SOCK_IMAGE_BYTES; off += 8)
		if (endpoint_fits(r, im, n, off))
			return off;
	return -ENOENT;
}
