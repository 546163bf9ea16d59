// SPDX-License-Identifier: MIT
/* libzmq version from zmq_version()'s code, and the known socket_base_t layouts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "elf_symbols.h"
#include "zmq_layout.h"

/* zmq_version() in Debian 12's libzmq.so.5.2.4 (4.3.4), byte for byte. */
static const uint8_t debian_434[] = {
	0xc7, 0x07, 0x04, 0x00, 0x00, 0x00, /* movl $4,(%rdi) */
	0xc7, 0x06, 0x03, 0x00, 0x00, 0x00, /* movl $3,(%rsi) */
	0xc7, 0x02, 0x04, 0x00, 0x00, 0x00, /* movl $4,(%rdx) */
	0xc3,				    /* ret */
};

static void test_version_from_debian_434(void **state)
{
	struct zmq_version v = { -1, -1, -1 };

	(void)state;
	assert_int_equal(zmq_version_from_code(debian_434, sizeof(debian_434), &v), 0);
	assert_int_equal(v.major, 4);
	assert_int_equal(v.minor, 3);
	assert_int_equal(v.patch, 4);
	/* The trailing ret is not needed. */
	assert_int_equal(zmq_version_from_code(debian_434, 18, &v), 0);
	assert_int_equal(v.patch, 4);
}

static void test_version_after_endbr64(void **state)
{
	uint8_t code[4 + sizeof(debian_434)] = { 0xf3, 0x0f, 0x1e, 0xfa };
	struct zmq_version v = { -1, -1, -1 };

	(void)state;
	memcpy(code + 4, debian_434, sizeof(debian_434));
	code[4 + 14] = 0x05; /* 4.3.5 */
	assert_int_equal(zmq_version_from_code(code, sizeof(code), &v), 0);
	assert_int_equal(v.major, 4);
	assert_int_equal(v.minor, 3);
	assert_int_equal(v.patch, 5);
}

static void test_version_stores_in_another_order(void **state)
{
	static const uint8_t code[] = {
		0xc7, 0x06, 0x02, 0x00, 0x00, 0x00, /* movl $2,(%rsi): minor */
		0xc7, 0x07, 0x04, 0x00, 0x00, 0x00, /* movl $4,(%rdi): major */
		0xc7, 0x02, 0x0b, 0x00, 0x00, 0x00, /* movl $11,(%rdx): patch */
		0xc3,
	};
	struct zmq_version v = { -1, -1, -1 };

	(void)state;
	assert_int_equal(zmq_version_from_code(code, sizeof(code), &v), 0);
	assert_int_equal(v.major, 4);
	assert_int_equal(v.minor, 2);
	assert_int_equal(v.patch, 11);
}

static void test_version_rejects_other_code(void **state)
{
	static const uint8_t prologue[] = { 0x55, 0x48, 0x89, 0xe5, 0x48, 0x89, 0x7d, 0xf8,
					    0x48, 0x89, 0x75, 0xf0, 0x48, 0x89, 0x55, 0xe8,
					    0x90, 0x90, 0xc3 };
	uint8_t code[sizeof(debian_434)];
	struct zmq_version v = { 7, 7, 7 };

	(void)state;
	assert_int_equal(zmq_version_from_code(prologue, sizeof(prologue), &v), -ENOENT);
	/* Too short for three stores. */
	assert_int_equal(zmq_version_from_code(debian_434, 17, &v), -ENOENT);
	assert_int_equal(zmq_version_from_code(debian_434, 0, &v), -ENOENT);
	/* The same register stored twice. */
	memcpy(code, debian_434, sizeof(code));
	code[7] = 0x07;
	assert_int_equal(zmq_version_from_code(code, sizeof(code), &v), -ENOENT);
	/* A store to another register, (%rcx). */
	memcpy(code, debian_434, sizeof(code));
	code[13] = 0x01;
	assert_int_equal(zmq_version_from_code(code, sizeof(code), &v), -ENOENT);
	/* Untouched on failure. */
	assert_int_equal(v.major, 7);
	assert_int_equal(v.minor, 7);
	assert_int_equal(v.patch, 7);
}

static void test_version_rejects_implausible_values(void **state)
{
	uint8_t code[sizeof(debian_434)];
	struct zmq_version v;

	(void)state;
	memcpy(code, debian_434, sizeof(code));
	code[2] = 0; /* major 0 */
	assert_int_equal(zmq_version_from_code(code, sizeof(code), &v), -ENOENT);
	code[2] = 10; /* major 10 */
	assert_int_equal(zmq_version_from_code(code, sizeof(code), &v), -ENOENT);
	code[2] = 9; /* 9.3.4 is still plausible */
	assert_int_equal(zmq_version_from_code(code, sizeof(code), &v), 0);
	assert_int_equal(v.major, 9);
	memcpy(code, debian_434, sizeof(code));
	code[8] = 100; /* minor 100 */
	assert_int_equal(zmq_version_from_code(code, sizeof(code), &v), -ENOENT);
	memcpy(code, debian_434, sizeof(code));
	memset(code + 14, 0xff, 4); /* patch -1 */
	assert_int_equal(zmq_version_from_code(code, sizeof(code), &v), -ENOENT);
	memcpy(code, debian_434, sizeof(code));
	code[5] = 0x01; /* major 0x01000004 */
	assert_int_equal(zmq_version_from_code(code, sizeof(code), &v), -ENOENT);
}

static void test_layout_lookup(void **state)
{
	struct zmq_layout l;

	(void)state;
	assert_int_equal(zmq_layout_lookup(&(struct zmq_version){ 4, 3, 4 }, &l), 0);
	assert_int_equal(l.type_off, 332);
	assert_int_equal(l.tag_off, 1560);
	assert_int_equal(l.endpoint_off, 1664);

	/* 4.3.5 and master (4.3.6), as measured in three builds' own memory. */
	for (int patch = 5; patch <= 6; patch++) {
		assert_int_equal(zmq_layout_lookup(&(struct zmq_version){ 4, 3, patch }, &l), 0);
		assert_int_equal(l.type_off, 332);
		assert_int_equal(l.tag_off, 1624);
		assert_int_equal(l.endpoint_off, 1728);
	}

	assert_int_equal(zmq_layout_lookup(&(struct zmq_version){ 4, 3, 2 }, &l), 0);
	assert_int_equal(l.type_off, 328);
	assert_int_equal(l.tag_off, -1);
	assert_int_equal(l.endpoint_off, -1);

	assert_int_equal(zmq_layout_lookup(&(struct zmq_version){ 4, 2, 5 }, &l), 0);
	assert_int_equal(l.type_off, 328);
}

static void test_known_type_offsets(void **state)
{
	(void)state;
	/* Each distinct offset once, in table order, then -1. */
	assert_int_equal(zmq_layout_known_type_offset(0), 332);
	assert_int_equal(zmq_layout_known_type_offset(1), 328);
	assert_int_equal(zmq_layout_known_type_offset(2), -1);
	assert_int_equal(zmq_layout_known_type_offset(100), -1);
}

static void test_layout_lookup_unknown_versions(void **state)
{
	static const struct zmq_version unknown[] = {
		{ 4, 4, 0 }, { 4, 3, 7 }, { 4, 1, 8 }, { 3, 2, 5 }, { 5, 0, 0 },
	};
	struct zmq_layout l;

	(void)state;
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		l = (struct zmq_layout){ 1, 2, 3 };
		assert_int_equal(zmq_layout_lookup(&unknown[i], &l), -ENOENT);
		assert_int_equal(l.type_off, -1);
		assert_int_equal(l.tag_off, -1);
		assert_int_equal(l.endpoint_off, -1);
	}
}

/* The same decoding on the libzmq installed here, if any. */
static void test_version_from_installed_libzmq(void **state)
{
	static const char path[] = "/usr/lib/x86_64-linux-gnu/libzmq.so.5";
	struct elf_symbol sym = { .name = "zmq_version" };
	struct zmq_version v;
	uint8_t code[32];

	(void)state;
	if (elf_find_symbols(path, &sym, 1) != 1) {
		skip();
		return;
	}
	assert_int_equal(elf_read_at(path, sym.file_offset, code, sizeof(code)), 0);
	assert_int_equal(zmq_version_from_code(code, sizeof(code), &v), 0);
	assert_int_equal(v.major, 4);
	assert_in_range(v.minor, 0, 99);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_from_debian_434),
		cmocka_unit_test(test_version_after_endbr64),
		cmocka_unit_test(test_version_stores_in_another_order),
		cmocka_unit_test(test_version_rejects_other_code),
		cmocka_unit_test(test_version_rejects_implausible_values),
		cmocka_unit_test(test_layout_lookup),
		cmocka_unit_test(test_layout_lookup_unknown_versions),
		cmocka_unit_test(test_known_type_offsets),
		cmocka_unit_test(test_version_from_installed_libzmq),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
