// SPDX-License-Identifier: MIT
/*
 * find_zmq_objects on this very process, which maps the system libzmq.
 * A chrooted target is played by giving a root that prefixes the mapped
 * path: the object's path must then read as the target names it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libzmq_discovery.h"
#include "proc_maps.h"

static void *libzmq;

/* The path /proc/self/maps gives the executable mapping of libzmq. */
static int mapped_libzmq(const struct maps_entry *e, void *arg)
{
	if (maps_is_exec(e) && strstr(e->path, "/libzmq.so")) {
		snprintf(arg, PATH_MAX, "%s", e->path);
		return 1;
	}
	return 0;
}

static int setup(void **state)
{
	(void)state;
	libzmq = dlopen("libzmq.so.5", RTLD_NOW | RTLD_LOCAL);
	return libzmq ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	dlclose(libzmq);
	return 0;
}

static void test_finds_own_libzmq(void **state)
{
	struct zmq_object *o = calloc(4, sizeof(*o));
	char mapped[PATH_MAX] = "";

	(void)state;
	assert_int_equal(maps_for_each(getpid(), mapped_libzmq, mapped), 1);
	assert_int_equal(find_zmq_objects(getpid(), o, 4), 1);
	assert_string_equal(o[0].path, mapped);
	assert_true(o[0].syms[ZS_FN_MSG_RECV].found);
	assert_false(o[0].main_binary);
	free(o);
}

/*
 * A target chrooted at the library path's first directory (/usr): the path
 * loses that prefix and nothing past the shorter string is read (ASan).
 */
static void test_chrooted_path_is_target_relative(void **state)
{
	struct zmq_object *o = calloc(4, sizeof(*o));
	char mapped[PATH_MAX] = "", root[PATH_MAX];
	const char *rel;
	struct stat a, b;

	(void)state;
	assert_int_equal(maps_for_each(getpid(), mapped_libzmq, mapped), 1);
	snprintf(root, sizeof(root), "%s", mapped);
	root[strcspn(root + 1, "/") + 1] = '\0';
	rel = mapped + strlen(root);
	assert_int_equal(find_zmq_objects_rooted(getpid(), root, o, 4), 1);
	assert_string_equal(o[0].path, rel);
	/* Through /proc/self/root + rel (merged /usr), else map_files: the same inode. */
	assert_int_equal(stat(o[0].host_path, &a), 0);
	assert_int_equal(stat(mapped, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_finds_own_libzmq),
		cmocka_unit_test(test_chrooted_path_is_target_relative),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
