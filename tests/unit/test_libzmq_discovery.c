// SPDX-License-Identifier: MIT
/*
 * find_zmq_objects on this very process, which maps the system libzmq.
 * A chrooted target is played by giving a root that prefixes the mapped
 * path: the object's path must then read as the target names it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libzmq_discovery.h"
#include "libzmq_internals.h"
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
	/* libzmq.so.5 calls no zmq_proxy of its own: only its importers can. */
	assert_false(o[0].linked_in);
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

/* Whether `ret` returns from a call inside one of `fns`. */
static bool returns_into(const struct zmq_object *o, uint64_t ret, const enum zs_func *fns,
			 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct elf_symbol *f = &o->syms[fns[i]];

		if (f->found && ret - 5 >= f->vaddr && ret <= f->vaddr + f->size)
			return true;
	}
	return false;
}

/*
 * The system libzmq's public send and receive functions all call the
 * internal ones it finds, and only their calls are listed: what lets the
 * internal probes carry the public calls (bpf/internal_calls.bpf.h).
 */
static void test_public_calls_of_the_internal_functions(void **state)
{
	static const enum zs_func rx[] = { ZS_FN_MSG_RECV, ZS_FN_RECV, ZS_FN_RECVIOV };
	static const enum zs_func tx[] = { ZS_FN_MSG_SEND, ZS_FN_SEND, ZS_FN_SEND_CONST,
					   ZS_FN_SENDIOV };
	struct zmq_object *o = calloc(4, sizeof(*o));
	struct public_calls broken;
	struct zs_call_sites cs;

	(void)state;
	assert_int_equal(find_zmq_objects(getpid(), o, 4), 1);
	assert_true(o->syms[ZS_FN_INTERNAL_RECV].found && o->syms[ZS_FN_INTERNAL_SEND].found);
	assert_true(o->rx_calls.complete && o->tx_calls.complete);
	/* One call each at least, from every public function the build defines. */
	assert_true(o->rx_calls.n >= 3 && o->tx_calls.n >= 4);
	for (size_t i = 0; i < o->rx_calls.n; i++)
		assert_true(returns_into(o, o->rx_calls.ret[i], rx, 3));
	for (size_t i = 0; i < o->tx_calls.n; i++)
		assert_true(returns_into(o, o->tx_calls.ret[i], tx, 4));

	assert_int_equal(call_sites_entry(&o->rx_calls, 0x1000, &cs), 0);
	assert_int_equal(cs.n, o->rx_calls.n);
	for (size_t i = 0; i < cs.n; i++)
		assert_true(cs.delta[i] == (int64_t)(o->rx_calls.ret[i] - 0x1000));
	broken = o->rx_calls;
	broken.complete = false;
	assert_int_equal(call_sites_entry(&broken, 0x1000, &cs), -ENOENT);
	assert_int_equal(cs.n, 0);
	free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_finds_own_libzmq),
		cmocka_unit_test(test_chrooted_path_is_target_relative),
		cmocka_unit_test(test_public_calls_of_the_internal_functions),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
