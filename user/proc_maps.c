// SPDX-License-Identifier: MIT
#include "proc_maps.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int maps_parse_line(const char *line, struct maps_entry *e)
{
	static const char deleted[] = " (deleted)";
	int path_at = -1;
	size_t len;

	memset(e, 0, sizeof(*e));
	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %" SCNu64 " %n", &e->start,
		   &e->end, e->perms, &e->offset, &e->dev_major, &e->dev_minor, &e->inode,
		   &path_at) < 7)
		return -EINVAL;
	if (e->end < e->start || strlen(e->perms) != 4)
		return -EINVAL;
	if (path_at < 0) /* %n is not reached when the line ends after the inode */
		return 0;
	len = strcspn(line + path_at, "\n");
	if (len >= sizeof(e->path))
		return -EINVAL;
	memcpy(e->path, line + path_at, len);
	e->path[len] = '\0';
	if (len >= sizeof(deleted) - 1 && !strcmp(e->path + len - (sizeof(deleted) - 1), deleted)) {
		e->path[len - (sizeof(deleted) - 1)] = '\0';
		e->deleted = true;
	}
	return 0;
}

int maps_for_each(pid_t pid, maps_visit_fn visit, void *arg)
{
	char path[64], *line = NULL;
	struct maps_entry *e;
	size_t cap = 0;
	FILE *f;
	int rc = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	e = malloc(sizeof(*e));
	if (!e) {
		rc = -ENOMEM;
		goto out;
	}
	while (getline(&line, &cap, f) > 0) {
		if (maps_parse_line(line, e))
			continue;
		rc = visit(e, arg);
		if (rc)
			break;
	}
out:
	free(e);
	free(line);
	fclose(f);
	return rc;
}
