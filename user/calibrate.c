// SPDX-License-Identifier: MIT
#include "calibrate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calibration_child.h"
#include "elf_symbols.h"
#include "memory_calibration.h"
#include "strbuf.h"


const char *layout_source_name(enum layout_source s)
{
	switch (s) {
	case LAYOUT_MEMORY:
		return "memory";
	case LAYOUT_DLOPEN:
		return "dlopen";
	case LAYOUT_TABLE:
		return "table";
	default:
		return "none";
	}
}

void calibration_log(pid_t pid, const char *path, const struct calibration *c)
{
	struct strbuf sb = { 0 };

	calibration_describe(c, "zmqscope:   ", &sb);
	fprintf(stderr, "zmqscope: pid %d %s: layout from %s: type@%d tag@%d endpoint@%d\n%s",
		(int)pid, path, layout_source_name(c->source), c->layout.type_off,
		c->layout.tag_off, c->layout.endpoint_off, strbuf_str(&sb));
	strbuf_free(&sb);
}

void calibration_describe(const struct calibration *c, const char *indent, struct strbuf *out)
{
	const struct {
		const char *name, *note;
	} lines[] = { { "memory", c->memory_note },
		      { "dlopen", c->dlopen_note },
		      { "table", c->table_note } };

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		if (lines[i].note[0])
			strbuf_printf(out, "%s%s: %s\n", indent, lines[i].name, lines[i].note);
}

void calibration_release(struct calibration *c)
{
	free(c->found);
	c->found = NULL;
	c->nfound = 0;
}

bool calibration_source_enabled(enum layout_source s)
{
	return calibration_allows(layout_source_name(s));
}

bool calibration_allows(const char *name)
{
	const char *env = getenv(CALIBRATION_SOURCES_ENV);
	size_t len = strlen(name);

	if (!env)
		return true;
	for (const char *p = env; *p;) {
		size_t word = strcspn(p, ",");

		if (word == len && !strncmp(p, name, len))
			return true;
		p += word;
		p += *p == ',';
	}
	return false;
}

static void version_from_file(const char *host_path, uint64_t off, struct calibration *out)
{
	uint8_t code[32];

	if (!off || elf_read_at(host_path, off, code, sizeof(code)))
		return;
	if (!zmq_version_from_code(code, sizeof(code), &out->version))
		out->have_version = true;
}

static bool layout_complete(const struct zmq_layout *l)
{
	return l->type_off >= 0 && l->tag_off >= 0 && l->endpoint_off >= 0;
}

/* Fills what `l` lacks from `from`; says which fields it took. */
static void fill_missing(struct zmq_layout *l, const struct zmq_layout *from, char *took,
			 size_t n)
{
	took[0] = '\0';
	if (l->type_off < 0 && from->type_off >= 0)
		l->type_off = from->type_off, strncat(took, " type", n - strlen(took) - 1);
	if (l->tag_off < 0 && from->tag_off >= 0)
		l->tag_off = from->tag_off, strncat(took, " tag", n - strlen(took) - 1);
	if (l->endpoint_off < 0 && from->endpoint_off >= 0)
		l->endpoint_off = from->endpoint_off, strncat(took, " endpoint", n - strlen(took) - 1);
}

/* Two measurements of the same file must agree where both measured. */
static bool layouts_agree(const struct zmq_layout *a, const struct zmq_layout *b)
{
	return (a->type_off < 0 || b->type_off < 0 || a->type_off == b->type_off) &&
	       (a->tag_off < 0 || b->tag_off < 0 || a->tag_off == b->tag_off) &&
	       (a->endpoint_off < 0 || b->endpoint_off < 0 || a->endpoint_off == b->endpoint_off);
}

static void try_memory(pid_t pid, uint64_t inode, const struct zmq_layout *hint,
		       struct calibration *out, struct zmq_layout *got)
{
	struct memory_calibration mc = { 0 };

	*got = ZMQ_LAYOUT_UNKNOWN;
	if (!calibration_source_enabled(LAYOUT_MEMORY)) {
		snprintf(out->memory_note, sizeof(out->memory_note), "disabled by %s",
			 CALIBRATION_SOURCES_ENV);
		return;
	}
	mc.sockets = calloc(MEMCAL_MAX_SOCKETS, sizeof(*mc.sockets));
	mc.max = mc.sockets ? MEMCAL_MAX_SOCKETS : 0;
	mc.use_known_offsets = calibration_source_enabled(LAYOUT_TABLE);
	memory_calibrate(pid, inode, hint, &mc);
	*got = mc.layout;
	out->found = mc.sockets;
	out->nfound = mc.nsockets;
	out->memory_sockets = (unsigned)mc.measured;
	out->memory_bytes = mc.bytes_read;
	out->memory_ms = mc.elapsed_ms;
	if (mc.note[0])
		snprintf(out->memory_note, sizeof(out->memory_note), "%s", mc.note);
	else
		snprintf(out->memory_note, sizeof(out->memory_note),
			 "measured on %zu live sockets (%.1f MiB read, %u ms)", mc.measured,
			 (double)mc.bytes_read / (1 << 20), mc.elapsed_ms);
}

static void try_dlopen(pid_t pid, const char *target_path, int32_t type_hint,
		       struct calibration *out, struct zmq_layout *got)
{
	struct timespec t0, t1;
	char line[256];
	long ms;
	int rc;

	*got = ZMQ_LAYOUT_UNKNOWN;
	if (!calibration_source_enabled(LAYOUT_DLOPEN)) {
		snprintf(out->dlopen_note, sizeof(out->dlopen_note), "disabled by %s",
			 CALIBRATION_SOURCES_ENV);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = calibration_child_run(pid, target_path, type_hint, line, sizeof(line));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
	if (rc) {
		snprintf(out->dlopen_note, sizeof(out->dlopen_note), "calibration child: %s",
			 strerror(-rc));
	} else if (!strncmp(line, "ok ", 3)) {
		struct zmq_version v;
		int type_off, tag_off, ep_off;

		if (sscanf(line + 3, "%d.%d.%d %d %d %d", &v.major, &v.minor, &v.patch, &type_off,
			   &tag_off, &ep_off) != 6) {
			snprintf(out->dlopen_note, sizeof(out->dlopen_note), "calibration child: bad answer");
			return;
		}
		if (!out->have_version)
			out->version = v, out->have_version = true;
		*got = (struct zmq_layout){ type_off, tag_off, ep_off };
		if (type_off >= 0)
			snprintf(out->dlopen_note, sizeof(out->dlopen_note),
				 "measured in the sandboxed child (%ld ms)", ms);
		else
			snprintf(out->dlopen_note, sizeof(out->dlopen_note),
				 "no unique socket-type offset found in this build");
	} else {
		snprintf(out->dlopen_note, sizeof(out->dlopen_note), "%.190s",
			 !strncmp(line, "err ", 4) ? line + 4 : "calibration child failed");
	}
}

/*
 * Memory first.  The child, which runs the library's code, only when memory
 * left a field open that the table cannot fill.  The table last.
 */
int calibrate_library(pid_t pid, const char *target_path, const char *host_path, uint64_t inode,
		      uint64_t version_fn_offset, struct calibration *out)
{
	struct zmq_layout table = ZMQ_LAYOUT_UNKNOWN, mem, dl, l;
	bool have_table;
	char took[32];

	memset(out, 0, sizeof(*out));
	version_from_file(host_path, version_fn_offset, out);
	have_table = calibration_source_enabled(LAYOUT_TABLE) && out->have_version &&
		     !zmq_layout_lookup(&out->version, &table);
	if (!calibration_source_enabled(LAYOUT_TABLE))
		snprintf(out->table_note, sizeof(out->table_note), "disabled by %s",
			 CALIBRATION_SOURCES_ENV);

	try_memory(pid, inode, &table, out, &mem);
	l = mem;
	if (l.type_off >= 0) {
		out->source = LAYOUT_MEMORY;
		if (have_table && !layouts_agree(&mem, &table))
			snprintf(out->table_note, sizeof(out->table_note),
				 "table for %d.%d.%d (type@%d tag@%d endpoint@%d) disagrees; "
				 "the memory is used",
				 out->version.major, out->version.minor, out->version.patch,
				 table.type_off, table.tag_off, table.endpoint_off);
		else if (have_table)
			fill_missing(&l, &table, took, sizeof(took));
		if (have_table && layouts_agree(&mem, &table))
			snprintf(out->table_note, sizeof(out->table_note), "agrees%s%s",
				 took[0] ? "; filled in:" : "", took[0] ? took : "");
		if (layout_complete(&l)) {
			out->layout = l;
			if (!out->dlopen_note[0])
				snprintf(out->dlopen_note, sizeof(out->dlopen_note),
					 "not needed: memory calibration succeeded");
			return 0;
		}
	}

	try_dlopen(pid, target_path, table.type_off, out, &dl);
	if (out->source == LAYOUT_MEMORY) {
		if (!layouts_agree(&mem, &dl))
			snprintf(out->dlopen_note + strlen(out->dlopen_note),
				 sizeof(out->dlopen_note) - strlen(out->dlopen_note),
				 "; disagrees with memory (type@%d tag@%d endpoint@%d)", dl.type_off,
				 dl.tag_off, dl.endpoint_off);
		else
			fill_missing(&l, &dl, took, sizeof(took));
		out->layout = l;
		return 0;
	}
	if (dl.type_off >= 0) {
		out->source = LAYOUT_DLOPEN;
		out->layout = dl;
		if (!have_table && out->have_version && calibration_source_enabled(LAYOUT_TABLE))
			have_table = !zmq_layout_lookup(&out->version, &table);
		if (have_table)
			snprintf(out->table_note, sizeof(out->table_note), "%s",
				 layouts_agree(&dl, &table) ? "agrees" : "disagrees; the child's is used");
		return 0;
	}

	if (!have_table && out->have_version && calibration_source_enabled(LAYOUT_TABLE))
		have_table = !zmq_layout_lookup(&out->version, &table);
	if (!calibration_source_enabled(LAYOUT_TABLE)) {
		snprintf(out->table_note, sizeof(out->table_note), "disabled by %s",
			 CALIBRATION_SOURCES_ENV);
	} else if (have_table) {
		out->source = LAYOUT_TABLE;
		out->layout = table;
		fill_missing(&out->layout, &mem, took, sizeof(took));
		snprintf(out->table_note, sizeof(out->table_note), "used for %d.%d.%d",
			 out->version.major, out->version.minor, out->version.patch);
		return 0;
	} else if (out->have_version) {
		snprintf(out->table_note, sizeof(out->table_note), "no entry for %d.%d.%d",
			 out->version.major, out->version.minor, out->version.patch);
	} else {
		snprintf(out->table_note, sizeof(out->table_note), "library version unknown");
	}
	out->layout = mem;
	return 0;
}

/*
 * A process that has just mapped libzmq has no socket to measure yet, and
 * its first ones follow within milliseconds: the probes must be in first.
 * The table answers at once; the memory and the child are for what it does
 * not know, and the refinement on the probes' handles checks it later.
 */
int calibrate_library_fresh(pid_t pid, const char *target_path, const char *host_path,
			    uint64_t inode, uint64_t version_fn_offset, struct calibration *out)
{
	struct zmq_layout table;

	memset(out, 0, sizeof(*out));
	version_from_file(host_path, version_fn_offset, out);
	if (!calibration_source_enabled(LAYOUT_TABLE) || !out->have_version ||
	    zmq_layout_lookup(&out->version, &table) || !layout_complete(&table))
		return calibrate_library(pid, target_path, host_path, inode, version_fn_offset, out);
	out->source = LAYOUT_TABLE;
	out->layout = table;
	snprintf(out->memory_note, sizeof(out->memory_note),
		 "not tried: the process had just loaded libzmq");
	snprintf(out->dlopen_note, sizeof(out->dlopen_note),
		 "not tried: the process had just loaded libzmq");
	snprintf(out->table_note, sizeof(out->table_note), "used for %d.%d.%d",
		 out->version.major, out->version.minor, out->version.patch);
	return 0;
}
