// SPDX-License-Identifier: MIT
/* Choosing a uprobe site and classifying its instruction's cost. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "probe_site.h"

#define CHOOSE(site, ...)                                                  \
	do {                                                               \
		static const uint8_t code_[] = { __VA_ARGS__ };            \
		probe_site_choose(code_, sizeof(code_), (site));           \
	} while (0)

static void test_push_r12_is_emulated(void **state)
{
	struct probe_site s;

	(void)state;
	CHOOSE(&s, 0x41, 0x54, 0x55, 0x48, 0x89, 0xe5);
	assert_int_equal(s.skip, 0);
	assert_int_equal(s.cost, PROBE_COST_EMULATED);
	assert_int_equal(s.len, 2);
	assert_string_equal(s.insn, "push %r12");
}

static void test_plain_pushes(void **state)
{
	struct probe_site s;

	(void)state;
	CHOOSE(&s, 0x53);
	assert_int_equal(s.cost, PROBE_COST_EMULATED);
	assert_int_equal(s.len, 1);
	assert_string_equal(s.insn, "push %rbx");
	CHOOSE(&s, 0x41, 0x57);
	assert_int_equal(s.len, 2);
	assert_string_equal(s.insn, "push %r15");
	CHOOSE(&s, 0x41, 0x50);
	assert_string_equal(s.insn, "push %r8");
}

static void test_endbr64_then_push_rbp_skips_4(void **state)
{
	struct probe_site s;

	(void)state;
	CHOOSE(&s, 0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x89, 0xe5);
	assert_int_equal(s.skip, 4);
	assert_int_equal(s.cost, PROBE_COST_EMULATED);
	assert_int_equal(s.len, 1);
	assert_string_equal(s.insn, "push %rbp");
}

static void test_lea_is_single_stepped_with_hex(void **state)
{
	struct probe_site s;

	(void)state;
	/* lea 0x1234(%rip),%rax */
	CHOOSE(&s, 0x48, 0x8d, 0x05, 0x34, 0x12, 0x00, 0x00, 0xc3);
	assert_int_equal(s.skip, 0);
	assert_int_equal(s.cost, PROBE_COST_SINGLESTEP);
	assert_int_equal(s.len, 0);
	/* At most the first six bytes. */
	assert_string_equal(s.insn, "48 8d 05 34 12 00");
}

static void test_endbr64_then_lea(void **state)
{
	struct probe_site s;

	(void)state;
	CHOOSE(&s, 0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x8d, 0x05, 0x00, 0x01, 0x00, 0x00);
	assert_int_equal(s.skip, 4);
	assert_int_equal(s.cost, PROBE_COST_SINGLESTEP);
	assert_string_equal(s.insn, "48 8d 05 00 01 00");
}

static void test_short_unknown_insn_hex(void **state)
{
	struct probe_site s;

	(void)state;
	/* A lone REX.B byte is not a push. */
	CHOOSE(&s, 0x41);
	assert_int_equal(s.cost, PROBE_COST_SINGLESTEP);
	assert_string_equal(s.insn, "41");
	/* mov %rdi,%r12 starts with 0x49, not 0x41. */
	CHOOSE(&s, 0x49, 0x89, 0xfc);
	assert_int_equal(s.cost, PROBE_COST_SINGLESTEP);
	assert_string_equal(s.insn, "49 89 fc");
}

static void test_nop5(void **state)
{
	struct probe_site s;

	(void)state;
	CHOOSE(&s, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0x55);
	assert_int_equal(s.skip, 0);
	assert_int_equal(s.cost, PROBE_COST_NOP5);
	assert_int_equal(s.len, 5);
	assert_string_equal(s.insn, "nopl 0x0(%rax,%rax,1)");
	CHOOSE(&s, 0xf3, 0x0f, 0x1e, 0xfa, 0x0f, 0x1f, 0x44, 0x00, 0x00);
	assert_int_equal(s.skip, 4);
	assert_int_equal(s.cost, PROBE_COST_NOP5);
	/* Truncated: only four bytes of it were read. */
	CHOOSE(&s, 0x0f, 0x1f, 0x44, 0x00);
	assert_int_equal(s.cost, PROBE_COST_SINGLESTEP);
}

static void test_one_byte_nop(void **state)
{
	struct probe_site s;

	(void)state;
	CHOOSE(&s, 0x90);
	assert_int_equal(s.cost, PROBE_COST_EMULATED);
	assert_int_equal(s.len, 1);
	assert_string_equal(s.insn, "nop");
}

static void test_relative_jumps_and_calls(void **state)
{
	struct probe_site s;

	(void)state;
	CHOOSE(&s, 0xe9, 0x10, 0x00, 0x00, 0x00);
	assert_int_equal(s.cost, PROBE_COST_EMULATED);
	assert_int_equal(s.len, 5);
	assert_string_equal(s.insn, "jmp .+21");
	CHOOSE(&s, 0xe9, 0xf0, 0xff, 0xff, 0xff);
	assert_string_equal(s.insn, "jmp .-11");
	CHOOSE(&s, 0xe8, 0x00, 0x00, 0x00, 0x00);
	assert_int_equal(s.cost, PROBE_COST_EMULATED);
	assert_string_equal(s.insn, "call .+5");
	CHOOSE(&s, 0xeb, 0xfe);
	assert_int_equal(s.cost, PROBE_COST_EMULATED);
	assert_int_equal(s.len, 2);
	assert_string_equal(s.insn, "jmp .+0");
	CHOOSE(&s, 0x74, 0x05);
	assert_int_equal(s.cost, PROBE_COST_EMULATED);
	assert_int_equal(s.len, 2);
	assert_string_equal(s.insn, "je .+7");
	CHOOSE(&s, 0x7f, 0x80);
	assert_string_equal(s.insn, "jg .-126");
	/* A rel32 cut short is not decoded. */
	CHOOSE(&s, 0xe9, 0x10, 0x00);
	assert_int_equal(s.cost, PROBE_COST_SINGLESTEP);
	assert_int_equal(s.len, 0);
	assert_string_equal(s.insn, "e9 10 00");
}

static void test_empty_and_endbr_only_are_unknown(void **state)
{
	static const uint8_t endbr64[] = { 0xf3, 0x0f, 0x1e, 0xfa };
	static const uint8_t none[1] = { 0x55 };
	struct probe_site s;

	(void)state;
	probe_site_choose(none, 0, &s);
	assert_int_equal(s.skip, 0);
	assert_int_equal(s.cost, PROBE_COST_UNKNOWN);
	assert_int_equal(s.len, 0);
	assert_string_equal(s.insn, "(unreadable)");
	probe_site_choose(endbr64, sizeof(endbr64), &s);
	assert_int_equal(s.skip, 4);
	assert_int_equal(s.cost, PROBE_COST_UNKNOWN);
}

static void test_cost_names(void **state)
{
	(void)state;
	assert_string_equal(probe_cost_name(PROBE_COST_UNKNOWN), "unknown");
	assert_string_equal(probe_cost_name(PROBE_COST_NOP5), "nop5");
	assert_string_equal(probe_cost_name(PROBE_COST_EMULATED), "emulated");
	assert_string_equal(probe_cost_name(PROBE_COST_SINGLESTEP), "single-step");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_push_r12_is_emulated),
		cmocka_unit_test(test_plain_pushes),
		cmocka_unit_test(test_endbr64_then_push_rbp_skips_4),
		cmocka_unit_test(test_lea_is_single_stepped_with_hex),
		cmocka_unit_test(test_endbr64_then_lea),
		cmocka_unit_test(test_short_unknown_insn_hex),
		cmocka_unit_test(test_nop5),
		cmocka_unit_test(test_one_byte_nop),
		cmocka_unit_test(test_relative_jumps_and_calls),
		cmocka_unit_test(test_empty_and_endbr_only_are_unknown),
		cmocka_unit_test(test_cost_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
