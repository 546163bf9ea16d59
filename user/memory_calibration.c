// SPDX-License-Identifier: MIT
#include "memory_calibration.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "proc_maps.h"
#include "socket_image.h"

#define CHUNK_BYTES (1U << 20)
#define MAX_REGIONS 4096
#define CONTEXT_BYTES 2048

struct region {
	uint64_t start, end;
};

struct scan {
	pid_t pid;
	uint64_t inode;
	struct mem_reader reader;
	struct region *regions;
	size_t nregions;
	uint64_t bytes_read;
	struct timespec started;
};

static int remote_read(void *ctx, uint64_t addr, void *dst, size_t n)
{
	struct scan *sc = ctx;
	struct iovec local = { dst, n }, remote = { (void *)(uintptr_t)addr, n };
	ssize_t got = process_vm_readv(sc->pid, &local, 1, &remote, 1, 0);

	if (got < 0)
		return -errno;
	sc->bytes_read += (uint64_t)got;
	return got == (ssize_t)n ? 0 : -EFAULT;
}

/* Anonymous read-write memory: malloc's heap and arenas, where sockets live. */
static bool heap_like(const struct maps_entry *e)
{
	return !strcmp(e->perms, "rw-p") && !e->inode &&
	       (!e->path[0] || !strcmp(e->path, "[heap]") || !strncmp(e->path, "[anon:", 6));
}

static int visit_mapping(const struct maps_entry *e, void *arg)
{
	struct scan *sc = arg;

	if (e->inode == sc->inode && maps_is_file(e)) {
		if (!sc->reader.lib_lo || e->start < sc->reader.lib_lo)
			sc->reader.lib_lo = e->start;
		if (e->end > sc->reader.lib_hi)
			sc->reader.lib_hi = e->end;
	}
	if (sc->regions && heap_like(e) && sc->nregions < MAX_REGIONS) {
		/* [heap] first: the main thread's sockets are there. */
		struct region r = { e->start, e->end };

		if (!strcmp(e->path, "[heap]") && sc->nregions) {
			sc->regions[sc->nregions++] = sc->regions[0];
			sc->regions[0] = r;
		} else {
			sc->regions[sc->nregions++] = r;
		}
	}
	return 0;
}

static unsigned elapsed_ms(const struct scan *sc)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (unsigned)((now.tv_sec - sc->started.tv_sec) * 1000 +
			  (now.tv_nsec - sc->started.tv_nsec) / 1000000);
}

static int scan_open(struct scan *sc, pid_t pid, uint64_t inode, bool regions)
{
	int rc;

	memset(sc, 0, sizeof(*sc));
	sc->pid = pid;
	sc->inode = inode;
	sc->reader.read = remote_read;
	sc->reader.ctx = sc;
	clock_gettime(CLOCK_MONOTONIC, &sc->started);
	if (regions && !(sc->regions = calloc(MAX_REGIONS, sizeof(*sc->regions))))
		return -ENOMEM;
	rc = maps_for_each(pid, visit_mapping, sc);
	if (!rc && !sc->reader.lib_hi)
		rc = -ENOENT;
	return rc;
}

/* Adds the object at `addr` if it is a socket: its image, read whole. */
static bool take_socket(struct scan *sc, uint64_t addr, struct sock_image *im, size_t *n)
{
	int type = socket_type_at(&sc->reader, addr);

	for (size_t i = 0; i < *n; i++)
		if (im[i].addr == addr)
			return true;
	if (type < 0 || remote_read(sc, addr, im[*n].bytes, SOCK_IMAGE_BYTES))
		return false;
	im[*n].addr = addr;
	im[*n].type = type;
	(*n)++;
	return true;
}

/*
 * A tag at `tag_addr`: once one socket fixed the tag's distance from the
 * object's start, that distance is tried first; the search below the tag
 * still runs when it fails, and keep_majority_layout() sorts them out.
 */
static void trace_tag(struct scan *sc, uint64_t tag_addr, int32_t *tag_off,
		      struct sock_image *im, size_t *n)
{
	uint64_t window[SOCK_IMAGE_BYTES / 8];
	uint64_t base = socket_window_base(tag_addr), start;

	if (*tag_off > 0 && take_socket(sc, tag_addr - (uint64_t)*tag_off, im, n))
		return;
	if (!base || remote_read(sc, base, window, sizeof(window)))
		return;
	start = socket_start_before(&sc->reader, tag_addr, window);
	if (start && take_socket(sc, start, im, n) && *tag_off <= 0)
		*tag_off = (int32_t)(tag_addr - start);
}

static bool over_budget(const struct scan *sc, int *truncated)
{
	if (sc->bytes_read >= MEMCAL_MAX_BYTES || elapsed_ms(sc) >= MEMCAL_MAX_MS) {
		*truncated = 1;
		return true;
	}
	return false;
}

/* Test knob, not in --help: stop the heap search after this many sockets. */
static size_t search_limit(void)
{
	const char *env = getenv("ZMQSCOPE_MEMCAL_STOP_AFTER");
	long v = env ? strtol(env, NULL, 10) : 0;

	return v > 0 && v < MEMCAL_MAX_SOCKETS ? (size_t)v : MEMCAL_MAX_SOCKETS;
}

static void search_heap(struct scan *sc, struct sock_image *im, size_t *n, int *truncated)
{
	uint32_t *chunk = malloc(CHUNK_BYTES);
	int32_t tag_off = -1;
	size_t limit = search_limit();

	if (!chunk)
		return;
	for (size_t r = 0; r < sc->nregions && *n < limit; r++) {
		for (uint64_t at = sc->regions[r].start; at < sc->regions[r].end;) {
			size_t len = sc->regions[r].end - at < CHUNK_BYTES ? sc->regions[r].end - at
									     : CHUNK_BYTES;

			if (over_budget(sc, truncated))
				goto out;
			/* A mapping can shrink under us: skip what is gone. */
			if (remote_read(sc, at, chunk, len)) {
				at += len;
				continue;
			}
			for (size_t w = 0; w < len / 4 && *n < limit; w++)
				if (chunk[w] == 0xbaddecafU)
					trace_tag(sc, at + w * 4, &tag_off, im, n);
			at += len;
		}
	}
out:
	free(chunk);
}

/*
 * The sockets' contexts list all their sockets, including any the bounded
 * search did not reach.  Only objects that pass the RTTI check are taken.
 */
static void add_context_sockets(struct scan *sc, struct sock_image *im, size_t *n)
{
	uint64_t ctxs[16], elems[MEMCAL_MAX_SOCKETS], words[CONTEXT_BYTES / 8];
	size_t nctx = 0, known = *n;

	for (size_t i = 0; i < known && *n < MEMCAL_MAX_SOCKETS; i++) {
		uint64_t ctx;
		bool seen = false;
		size_t len = sizeof(words);
		int got;

		memcpy(&ctx, im[i].bytes + SOCK_CTX_OFF, sizeof(ctx));
		for (size_t c = 0; c < nctx; c++)
			seen |= ctxs[c] == ctx;
		if (seen || nctx == sizeof(ctxs) / sizeof(ctxs[0]) || !ctx || ctx % 8)
			continue;
		ctxs[nctx++] = ctx;
		/* The object may end before the whole window does: shrink until it reads. */
		while (len >= 256 && remote_read(sc, ctx, words, len))
			len /= 2;
		if (len < 256)
			continue;
		got = context_sockets(&sc->reader, words, len / 8, im[i].addr, elems,
				      MEMCAL_MAX_SOCKETS);
		for (int k = 0; k < got && *n < MEMCAL_MAX_SOCKETS; k++)
			take_socket(sc, elems[k], im, n);
	}
}

/* Keeps the images whose tag sits where most of them have it. */
static void keep_majority_layout(struct sock_image *im, size_t *n)
{
	int32_t best = -1;
	size_t best_count = 0, kept = 0;

	for (size_t i = 0; i < *n; i++) {
		struct sock_image *one = &im[i];
		int32_t off = image_tag_offset(one, 1);
		size_t count = 0;

		for (size_t j = 0; j < *n && off >= 0; j++)
			count += image_tag_offset(&im[j], 1) == off;
		if (count > best_count)
			best = off, best_count = count;
	}
	for (size_t i = 0; i < *n; i++)
		if (image_tag_offset(&im[i], 1) == best)
			memmove(&im[kept++], &im[i], sizeof(im[i]));
	*n = kept;
}

static int measure(struct scan *sc, struct sock_image *im, size_t n, const struct zmq_layout *hint,
		   struct memory_calibration *out)
{
	char why[120] = "", why2[120];
	int32_t known[8];

	for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		known[k] = zmq_layout_known_type_offset(k);
	keep_majority_layout(im, &n);
	out->layout = ZMQ_LAYOUT_UNKNOWN;
	if (!n) {
		snprintf(out->note, sizeof(out->note),
			 "no live socket found in %.1f MiB of the target's heap%s",
			 (double)sc->bytes_read / (1 << 20), out->truncated ? " (search bounded)" : "");
		return -ENOENT;
	}
	out->measured = n;
	out->layout.tag_off = image_tag_offset(im, n);
	out->layout.type_off = image_type_offset(im, n, hint->type_off, why, sizeof(why));
	/* Sockets of one type fit many offsets: one that some libzmq build used decides. */
	for (size_t k = 0; out->use_known_offsets && out->layout.type_off < 0 &&
			   k < sizeof(known) / sizeof(known[0]);
	     k++)
		if (known[k] >= 0 && image_type_offset(im, n, known[k], why2, sizeof(why2)) == known[k])
			out->layout.type_off = known[k];
	out->layout.endpoint_off = image_endpoint_offset(&sc->reader, im, n, hint->endpoint_off);
	if (out->layout.tag_off < 0)
		out->layout.tag_off = -1;
	if (out->layout.endpoint_off < 0)
		out->layout.endpoint_off = -1;
	for (size_t i = 0; i < n && out->sockets && out->nsockets < out->max; i++) {
		struct found_socket *f = &out->sockets[out->nsockets++];

		f->handle = im[i].addr;
		f->type = im[i].type;
		f->endpoint[0] = '\0';
		if (out->layout.endpoint_off >= 0 &&
		    image_string_at(&sc->reader, &im[i], out->layout.endpoint_off, f->endpoint,
				    sizeof(f->endpoint)))
			f->endpoint[0] = '\0';
	}
	if (out->layout.type_off < 0) {
		out->layout.type_off = -1;
		snprintf(out->note, sizeof(out->note), "%zu sockets found, but %s", n, why);
		return -ENOENT;
	}
	if (out->layout.endpoint_off < 0)
		snprintf(out->note, sizeof(out->note),
			 "endpoint offset not measured: none of the %zu sockets is bound or connected",
			 n);
	return 0;
}

static int finish(struct scan *sc, struct memory_calibration *out, int rc)
{
	out->bytes_read = sc->bytes_read;
	out->elapsed_ms = elapsed_ms(sc);
	free(sc->regions);
	return rc;
}

static void reset(struct memory_calibration *out)
{
	out->layout = ZMQ_LAYOUT_UNKNOWN;
	out->nsockets = 0;
	out->measured = 0;
	out->bytes_read = 0;
	out->elapsed_ms = 0;
	out->truncated = 0;
	out->note[0] = '\0';
}

static int open_failed(int rc, struct memory_calibration *out)
{
	snprintf(out->note, sizeof(out->note), "%s",
		 rc == -ENOENT   ? "the library's mappings are gone from the target"
		 : rc == -EACCES || rc == -EPERM
			 ? "the target's memory is out of reach (needs CAP_SYS_PTRACE)"
			 : strerror(-rc));
	return rc;
}

int memory_calibrate(pid_t pid, uint64_t lib_inode, const struct zmq_layout *hint,
		     struct memory_calibration *out)
{
	struct sock_image *im;
	struct scan sc;
	size_t n = 0;
	int rc;

	reset(out);
	rc = scan_open(&sc, pid, lib_inode, true);
	if (rc)
		return finish(&sc, out, open_failed(rc, out));
	im = malloc(MEMCAL_MAX_SOCKETS * sizeof(*im));
	if (!im)
		return finish(&sc, out, -ENOMEM);
	search_heap(&sc, im, &n, &out->truncated);
	add_context_sockets(&sc, im, &n);
	rc = measure(&sc, im, n, hint, out);
	free(im);
	return finish(&sc, out, rc);
}

int memory_calibrate_handles(pid_t pid, uint64_t lib_inode, const uint64_t *handles, size_t n,
			     const struct zmq_layout *hint, struct memory_calibration *out)
{
	struct sock_image *im;
	struct scan sc;
	size_t got = 0;
	int rc;

	reset(out);
	rc = scan_open(&sc, pid, lib_inode, false);
	if (rc)
		return finish(&sc, out, open_failed(rc, out));
	if (n > MEMCAL_MAX_SOCKETS)
		n = MEMCAL_MAX_SOCKETS;
	im = malloc((n ? n : 1) * sizeof(*im));
	if (!im)
		return finish(&sc, out, -ENOMEM);
	for (size_t i = 0; i < n; i++)
		take_socket(&sc, handles[i], im, &got);
	rc = measure(&sc, im, got, hint, out);
	free(im);
	return finish(&sc, out, rc);
}
