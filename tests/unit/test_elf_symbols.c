// SPDX-License-Identifier: MIT
/*
 * ELF symbol lookup on objects compiled by the test itself: a shared
 * library, a stripped copy and a non-PIE executable, whose text segment's
 * address and file offset differ.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elf_symbols.h"

/* A function whose bytes are known: endbr64; push %r12; pop %r12; ret. */
#define MARKER_ASM                                                                  \
	"__asm__(\".text\\n.globl marker_fn\\n.type marker_fn,@function\\nmarker_fn:\\n" \
	".byte 0xf3,0x0f,0x1e,0xfa,0x41,0x54,0x41,0x5c,0xc3\\n"                          \
	".size marker_fn, .-marker_fn\\n\");\n"
static const uint8_t marker_bytes[] = { 0xf3, 0x0f, 0x1e, 0xfa, 0x41, 0x54, 0x41, 0x5c, 0xc3 };

static const char lib_source[] =
	"#include <stdio.h>\n"
	"int zmq_msg_recv(void *a, void *b, int c) { (void)a; (void)b; return c; }\n"
	"int other_function(int x) { return x * 3 + 1; }\n"
	"int data_object[4] = { 1, 2, 3, 4 };\n"
	"static __attribute__((used, noinline)) int local_helper(int x) { return x ^ 0x55; }\n"
	"int calls_puts(void) { return puts(\"hi\") + local_helper(1); }\n"
	"static int impl(void) { return 7; }\n"
	"static int (*resolve(void))(void) { return impl; }\n"
	"int ifunc_fn(void) __attribute__((ifunc(\"resolve\")));\n" MARKER_ASM;

static const char exe_source[] = "int main_helper(int x);\n"
				 "int main_helper(int x) { return x + 1; }\n"
				 "int main(void) { return main_helper(-1); }\n" MARKER_ASM;

static char dir[] = "/tmp/zs_elf_test_XXXXXX";
static char lib[PATH_MAX], stripped[PATH_MAX], exe[PATH_MAX], text[PATH_MAX], empty[PATH_MAX];

static int run(const char *fmt, ...)
{
	char cmd[4 * PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(content, f);
	return fclose(f);
}

static int setup(void **state)
{
	char src[PATH_MAX];

	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(lib, sizeof(lib), "%s/lib.so", dir);
	snprintf(stripped, sizeof(stripped), "%s/stripped.so", dir);
	snprintf(exe, sizeof(exe), "%s/prog", dir);
	snprintf(text, sizeof(text), "%s/not_elf.txt", dir);
	snprintf(empty, sizeof(empty), "%s/empty", dir);

	snprintf(src, sizeof(src), "%s/lib.c", dir);
	if (write_file(src, lib_source) ||
	    run("cc -O1 -shared -fPIC -Wl,-soname,libzs-test.so.1 -o %s %s", lib, src) ||
	    run("strip --strip-all -o %s %s", stripped, lib))
		return -1;
	snprintf(src, sizeof(src), "%s/prog.c", dir);
	if (write_file(src, exe_source) || run("cc -O1 -no-pie -fno-pie -o %s %s", exe, src))
		return -1;
	if (write_file(text, "this is not an ELF file, just some text\n") || write_file(empty, ""))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return run("rm -rf '%s'", dir);
}

/* st_value as `nm` reports it, or UINT64_MAX. */
static uint64_t nm_address(const char *path, const char *symbol)
{
	char cmd[2 * PATH_MAX], line[512], name[256], type;
	uint64_t addr = UINT64_MAX, a;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "nm --defined-only '%s' 2>/dev/null; nm -D --defined-only '%s' 2>/dev/null", path, path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p))
		if (sscanf(line, "%" SCNx64 " %c %255s", &a, &type, name) == 3 && !strcmp(name, symbol))
			addr = a;
	pclose(p);
	return addr;
}

/* The file offset of `vaddr` per `readelf -lW`'s executable LOAD segment. */
static uint64_t readelf_offset(const char *path, uint64_t vaddr)
{
	char cmd[PATH_MAX + 64], line[512], flags[16];
	uint64_t off, va, pa, filesz, memsz, result = UINT64_MAX;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "readelf -lW '%s'", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		/* LOAD 0x001000 0x0000000000401000 0x0000000000401000 0x000155 0x000155 R E 0x1000 */
		char r, e;

		if (sscanf(line, " LOAD %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64
				 " %c %c %15s",
			   &off, &va, &pa, &filesz, &memsz, &r, &e, flags) < 7)
			continue;
		if (e == 'E' && vaddr >= va && vaddr < va + memsz)
			result = vaddr - va + off;
	}
	pclose(p);
	return result;
}

static void test_finds_functions_in_shared_object(void **state)
{
	struct elf_symbol q[] = {
		{ .name = "zmq_msg_recv" },
		{ .name = "other_function" },
		{ .name = "marker_fn" },
		{ .name = "no_such_symbol" },
	};
	uint8_t code[sizeof(marker_bytes)];

	(void)state;
	assert_int_equal(elf_find_symbols(lib, q, 4), 3);
	assert_true(q[0].found);
	assert_true(q[1].found);
	assert_true(q[2].found);
	assert_false(q[3].found);

	for (int i = 0; i < 3; i++) {
		uint64_t want = nm_address(lib, q[i].name);

		assert_int_not_equal(want, UINT64_MAX);
		assert_int_equal(q[i].vaddr, want);
		assert_int_equal(q[i].file_offset, readelf_offset(lib, want));
		assert_true(q[i].size > 0);
	}
	assert_int_equal(q[2].size, sizeof(marker_bytes));
	assert_int_equal(elf_read_at(lib, q[2].file_offset, code, sizeof(code)), 0);
	assert_memory_equal(code, marker_bytes, sizeof(marker_bytes));
}

static void test_data_and_undefined_symbols_not_reported(void **state)
{
	struct elf_symbol q[] = {
		{ .name = "data_object" }, /* STT_OBJECT */
		{ .name = "puts" },	   /* undefined: lives in libc */
		{ .name = "" },
	};

	(void)state;
	assert_true(nm_address(lib, "data_object") != UINT64_MAX);
	assert_int_equal(elf_find_symbols(lib, q, 3), 0);
	assert_false(q[0].found);
	assert_false(q[1].found);
	assert_false(q[2].found);
}

static void test_imports_are_undefined_uses_only(void **state)
{
	const char *puts_or_proxy[] = { "zmq_proxy", "puts" };
	const char *defined[] = { "zmq_msg_recv", "other_function" };
	const char *absent[] = { "zmq_proxy", "zmq_device" };

	(void)state;
	/* calls_puts uses puts from libc: an import; what the library defines is not. */
	assert_int_equal(elf_imports_any(lib, puts_or_proxy, 2), 1);
	assert_int_equal(elf_imports_any(lib, defined, 2), 0);
	assert_int_equal(elf_imports_any(lib, absent, 2), 0);
	assert_int_equal(elf_imports_any("/nonexistent/lib.so", absent, 2), -ENOENT);
}

static void test_soname_of_library_not_executable(void **state)
{
	char name[64], tiny[8];

	(void)state;
	assert_int_equal(elf_soname(lib, name, sizeof(name)), 0);
	assert_string_equal(name, "libzs-test.so.1");
	/* strip keeps the dynamic section: the name is what the loader goes by. */
	assert_int_equal(elf_soname(stripped, name, sizeof(name)), 0);
	assert_string_equal(name, "libzs-test.so.1");
	assert_int_equal(elf_soname(lib, tiny, sizeof(tiny)), -ENAMETOOLONG);
	assert_int_equal(elf_soname(exe, name, sizeof(name)), -ENODATA);
	assert_int_equal(elf_soname(text, name, sizeof(name)), -ENOEXEC);
	assert_int_equal(elf_soname("/nonexistent/lib.so", name, sizeof(name)), -ENOENT);
}

static void test_ifunc_is_a_function(void **state)
{
	struct elf_symbol q[] = { { .name = "ifunc_fn" } };

	(void)state;
	assert_int_equal(elf_find_symbols(lib, q, 1), 1);
	assert_true(q[0].found);
	assert_int_equal(q[0].vaddr, nm_address(lib, "ifunc_fn"));
}

static void test_local_function_only_in_symtab(void **state)
{
	struct elf_symbol q[] = { { .name = "local_helper" }, { .name = "zmq_msg_recv" } };
	struct elf_symbol s[] = { { .name = "local_helper" }, { .name = "zmq_msg_recv" } };
	uint8_t a[16], b[16];

	(void)state;
	assert_int_equal(elf_find_symbols(lib, q, 2), 2);
	assert_int_equal(q[0].vaddr, nm_address(lib, "local_helper"));

	/* Stripping drops .symtab; .dynsym still has the exported function. */
	assert_int_equal(elf_find_symbols(stripped, s, 2), 1);
	assert_false(s[0].found);
	assert_true(s[1].found);
	assert_int_equal(s[1].vaddr, q[1].vaddr);
	assert_int_equal(s[1].file_offset, q[1].file_offset);
	assert_int_equal(elf_read_at(lib, q[1].file_offset, a, sizeof(a)), 0);
	assert_int_equal(elf_read_at(stripped, s[1].file_offset, b, sizeof(b)), 0);
	assert_memory_equal(a, b, sizeof(a));
}

static void test_non_pie_executable_offsets(void **state)
{
	struct elf_symbol q[] = { { .name = "marker_fn" }, { .name = "main_helper" } };
	uint8_t code[sizeof(marker_bytes)];

	(void)state;
	/* A non-PIE executable has no .dynsym entry for these: only .symtab. */
	assert_int_equal(elf_find_symbols(exe, q, 2), 2);
	assert_int_equal(q[0].vaddr, nm_address(exe, "marker_fn"));
	/* Linked at 0x400000: the file offset is not the address. */
	assert_true(q[0].vaddr >= 0x400000);
	assert_true(q[0].file_offset < q[0].vaddr);
	assert_int_equal(q[0].file_offset, readelf_offset(exe, q[0].vaddr));
	assert_int_equal(q[1].file_offset, readelf_offset(exe, q[1].vaddr));
	assert_int_equal(elf_read_at(exe, q[0].file_offset, code, sizeof(code)), 0);
	assert_memory_equal(code, marker_bytes, sizeof(marker_bytes));
}

static void test_not_elf_and_missing(void **state)
{
	struct elf_symbol q[] = { { .name = "zmq_msg_recv", .found = true } };
	char missing[PATH_MAX + 16];

	(void)state;
	assert_int_equal(elf_find_symbols(text, q, 1), -ENOEXEC);
	assert_false(q[0].found);
	assert_int_equal(elf_find_symbols(empty, q, 1), -ENOEXEC);
	snprintf(missing, sizeof(missing), "%s/missing.so", dir);
	assert_int_equal(elf_find_symbols(missing, q, 1), -ENOENT);
}

static void test_read_at(void **state)
{
	char buf[8];
	char missing[PATH_MAX + 16];

	(void)state;
	assert_int_equal(elf_read_at(text, 8, buf, 6), 0);
	assert_memory_equal(buf, "not an", 6);
	/* Fewer bytes than asked for is an error, not a short read. */
	assert_int_equal(elf_read_at(text, 38, buf, 8), -EIO);
	snprintf(missing, sizeof(missing), "%s/missing.so", dir);
	assert_int_equal(elf_read_at(missing, 0, buf, 1), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_finds_functions_in_shared_object),
		cmocka_unit_test(test_data_and_undefined_symbols_not_reported),
		cmocka_unit_test(test_imports_are_undefined_uses_only),
		cmocka_unit_test(test_soname_of_library_not_executable),
		cmocka_unit_test(test_ifunc_is_a_function),
		cmocka_unit_test(test_local_function_only_in_symtab),
		cmocka_unit_test(test_non_pie_executable_offsets),
		cmocka_unit_test(test_not_elf_and_missing),
		cmocka_unit_test(test_read_at),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
