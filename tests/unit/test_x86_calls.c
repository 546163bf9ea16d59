// SPDX-License-Identifier: MIT
/* Finding libzmq's internal send/recv as call targets in machine code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>

#include "x86_calls.h"

/* zmq_msg_send of Debian 12's libzmq.so.5.2.4 (libzmq 4.3.4), at 0x81c10. */
static const uint8_t debian_msg_send[] = {
	0x41, 0x55, 0x41, 0x54, 0x55, 0x53, 0x48, 0x83, 0xec, 0x08, 0x48, 0x85, 0xf6, 0x74,
	0x51, 0x49, 0x89, 0xfc, 0x48, 0x89, 0xf7, 0x48, 0x89, 0xf5, 0x41, 0x89, 0xd5, 0xe8,
	0x20, 0xea, 0xfd, 0xff, 0x84, 0xc0, 0x74, 0x3c, 0x4c, 0x89, 0xe7, 0xe8, 0xa4, 0x82,
	0xf9, 0xff, 0x44, 0x89, 0xea, 0x4c, 0x89, 0xe6, 0x48, 0x89, 0xef, 0x48, 0x89, 0xc3,
	0xe8, 0x43, 0x07, 0xfe, 0xff, 0x85, 0xc0, 0x78, 0x2a, 0x48, 0x81, 0xfb, 0xfe, 0xff,
	0xff, 0x7f, 0xb8, 0xff, 0xff, 0xff, 0x7f, 0x0f, 0x46, 0xc3, 0x48, 0x83, 0xc4, 0x08,
	0x5b, 0x5d, 0x41, 0x5c, 0x41, 0x5d, 0xc3, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0xe8, 0xbb,
	0x73, 0xf9, 0xff, 0xc7, 0x00, 0x58, 0x00, 0x00, 0x00, 0x48, 0x83, 0xc4, 0x08, 0xb8,
	0xff, 0xff, 0xff, 0xff, 0x5b, 0x5d, 0x41, 0x5c, 0x41, 0x5d, 0xc3,
};

/* zmq_msg_recv of the same library, at 0x819d0. */
static const uint8_t debian_msg_recv[] = {
	0x41, 0x54, 0x55, 0x53, 0x48, 0x85, 0xf6, 0x74, 0x47, 0x48, 0x89, 0xfd, 0x48, 0x89,
	0xf7, 0x48, 0x89, 0xf3, 0x41, 0x89, 0xd4, 0xe8, 0x66, 0xec, 0xfd, 0xff, 0x84, 0xc0,
	0x74, 0x32, 0x44, 0x89, 0xe2, 0x48, 0x89, 0xee, 0x48, 0x89, 0xdf, 0xe8, 0xa4, 0x16,
	0xfe, 0xff, 0x85, 0xc0, 0x78, 0x2b, 0x48, 0x89, 0xef, 0xe8, 0xd8, 0x84, 0xf9, 0xff,
	0xba, 0xff, 0xff, 0xff, 0x7f, 0x5b, 0x5d, 0x48, 0x39, 0xd0, 0x41, 0x5c, 0x48, 0x0f,
	0x47, 0xc2, 0xc3, 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00, 0xe8, 0x0b, 0x76, 0xf9,
	0xff, 0xc7, 0x00, 0x58, 0x00, 0x00, 0x00, 0x5b, 0xb8, 0xff, 0xff, 0xff, 0xff, 0x5d,
	0x41, 0x5c, 0xc3,
};

/* The first 65 bytes of zmq_msg_send in npm zeromq 6.8's addon (CET build). */
static const uint8_t cet_msg_send[] = {
	0xf3, 0x0f, 0x1e, 0xfa, 0x41, 0x55, 0x41, 0x54, 0x55, 0x53, 0x48, 0x83, 0xec,
	0x08, 0x48, 0x85, 0xf6, 0x74, 0x4d, 0x49, 0x89, 0xfc, 0x48, 0x89, 0xf7, 0x48,
	0x89, 0xf5, 0x41, 0x89, 0xd5, 0xe8, 0x2c, 0xec, 0xfa, 0xff, 0x84, 0xc0, 0x74,
	0x38, 0x4c, 0x89, 0xe7, 0xe8, 0xa0, 0x28, 0xfb, 0xff, 0x44, 0x89, 0xea, 0x4c,
	0x89, 0xe6, 0x48, 0x89, 0xef, 0x48, 0x89, 0xc3, 0xe8, 0xbf, 0xf9, 0xfa, 0xff,
};

static void test_lengths_of_common_instructions(void **state)
{
	static const struct {
		uint8_t code[12];
		size_t len;
	} cases[] = {
		{ { 0x41, 0x55 }, 2 },				    /* push %r13 */
		{ { 0x48, 0x83, 0xec, 0x08 }, 4 },		    /* sub $8,%rsp */
		{ { 0x48, 0x81, 0xfb, 0xfe, 0xff, 0xff, 0x7f }, 7 }, /* cmp $imm32,%rbx */
		{ { 0x0f, 0x46, 0xc3 }, 3 },			    /* cmovbe */
		{ { 0x0f, 0x1f, 0x44, 0x00, 0x00 }, 5 },	    /* nopl 0(%rax,%rax) */
		{ { 0x0f, 0x1f, 0x80, 0, 0, 0, 0 }, 7 },	    /* nopl 0(%rax) disp32 */
		{ { 0xf3, 0x0f, 0x1e, 0xfa }, 4 },		    /* endbr64 */
		{ { 0xc7, 0x00, 0x58, 0, 0, 0 }, 6 },		    /* movl $0x58,(%rax) */
		{ { 0x48, 0x8b, 0x05, 1, 2, 3, 4 }, 7 },	    /* mov rip-relative */
		{ { 0x48, 0x8b, 0x44, 0x24, 0x08 }, 5 },	    /* mov 8(%rsp),%rax */
		{ { 0x0f, 0x85, 1, 2, 3, 4 }, 6 },		    /* jne rel32 */
		{ { 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8 }, 10 },	    /* movabs */
		{ { 0x66, 0x90 }, 2 },				    /* xchg %ax,%ax */
		{ { 0xf6, 0x47, 0x2b, 0x01 }, 4 },		    /* testb $1,0x2b(%rdi) */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(x86_insn_length(cases[i].code, sizeof(cases[i].code)), cases[i].len);
}

static void test_unknown_or_cut_short_is_zero(void **state)
{
	static const uint8_t cut_call[] = { 0xe8, 0x01, 0x02 };
	static const uint8_t x87[] = { 0xd9, 0xc0 };

	(void)state;
	assert_int_equal(x86_insn_length(cut_call, sizeof(cut_call)), 0);
	assert_int_equal(x86_insn_length(x87, sizeof(x87)), 0);
	assert_int_equal(x86_insn_length(x87, 0), 0);
}

static void test_debian_msg_send_calls(void **state)
{
	uint64_t t[8];

	(void)state;
	/* check_tag, zmq_msg_size@plt, socket_base_t::send, __errno_location@plt */
	assert_int_equal(x86_call_targets(debian_msg_send, sizeof(debian_msg_send), 0x81c10, t, 8),
			 4);
	assert_int_equal(t[0], 0x60650);
	assert_int_equal(t[1], 0x19ee0);
	assert_int_equal(t[2], 0x62390);
	assert_int_equal(t[3], 0x19030);
}

static void test_debian_picks_send_and_recv(void **state)
{
	uint64_t s[8], r[8], send, recv;
	size_t ns, nr;

	(void)state;
	ns = x86_call_targets(debian_msg_send, sizeof(debian_msg_send), 0x81c10, s, 8);
	nr = x86_call_targets(debian_msg_recv, sizeof(debian_msg_recv), 0x819d0, r, 8);
	assert_int_equal(nr, 4); /* check_tag, recv, zmq_msg_size@plt, __errno_location@plt */
	/* What the loader passes on: PLT stubs and zmq_msg_size left out. */
	{
		uint64_t s2[] = { s[0], s[2] }, r2[] = { r[0], r[1] };

		(void)ns;
		assert_int_equal(x86_pick_send_recv(s2, 2, r2, 2, &send, &recv), 0);
	}
	assert_int_equal(send, 0x62390);
	assert_int_equal(recv, 0x630a0);
}

static void test_cet_build_decodes_past_endbr64(void **state)
{
	uint64_t t[8];

	(void)state;
	assert_int_equal(x86_call_targets(cet_msg_send, sizeof(cet_msg_send), 0xb6c50, t, 8), 3);
	assert_int_equal(t[0], 0x658a0); /* check_tag@plt */
	assert_int_equal(t[1], 0x69520); /* zmq_msg_size@plt */
	assert_int_equal(t[2], 0x66650); /* socket_base_t::send@plt */
}

static void test_pick_needs_distinct_calls(void **state)
{
	uint64_t same[] = { 0x1000 }, send, recv;
	uint64_t inlined_s[] = { 0x2000 }, inlined_r[] = { 0x3000 };

	(void)state;
	assert_int_equal(x86_pick_send_recv(same, 1, same, 1, &send, &recv), -ENOENT);
	assert_int_equal(x86_pick_send_recv(same, 0, same, 1, &send, &recv), -ENOENT);
	/* check_tag inlined: the first call of each is it. */
	assert_int_equal(x86_pick_send_recv(inlined_s, 1, inlined_r, 1, &send, &recv), 0);
	assert_int_equal(send, 0x2000);
	assert_int_equal(recv, 0x3000);
}

static void test_proxy_wrappers_tail_jump(void **state)
{
	/* Debian's zmq_device (0x83030) and zmq_proxy_steerable (0x83000). */
	static const uint8_t device[] = { 0x48, 0x89, 0xf7, 0x31, 0xc9, 0x48, 0x89, 0xd6,
					  0x31, 0xd2, 0xe9, 0x81, 0xf0, 0xfc, 0xff, 0x90 };
	static const uint8_t steerable[] = { 0x48, 0x85, 0xff, 0x74, 0x0b, 0x48, 0x85, 0xf6,
					     0x74, 0x06, 0xe9, 0xb1, 0xf0, 0xfc, 0xff, 0x90 };

	(void)state;
	assert_int_equal(x86_first_jump(device, sizeof(device), 0x83030), 0x520c0);
	assert_int_equal(x86_first_jump(steerable, sizeof(steerable), 0x83000), 0x520c0);
	/* zmq_msg_send returns; it never tail-jumps. */
	assert_int_equal(x86_first_jump(debian_msg_send, sizeof(debian_msg_send), 0x81c10), 0);
}

/* The return addresses of zmq_msg_recv's call of socket_base_t::recv, and only of that call. */
static void test_return_addresses_of_one_callee(void **state)
{
	static const uint8_t undecodable[] = { 0xd9, 0xc0, 0xe8, 0x00, 0x00, 0x00, 0x00 };
	static const uint8_t tail_call[] = { 0xe8, 0x0b, 0x00, 0x00, 0x00,
					     0xe9, 0x06, 0x00, 0x00, 0x00 };
	uint64_t ret[4] = { 0 };
	bool whole;

	(void)state;
	/* `call 630a0` at 0x819f7, as objdump shows it: returns to 0x819fc. */
	assert_int_equal(x86_calls_to(debian_msg_recv, sizeof(debian_msg_recv), 0x819d0, 0x630a0,
				      ret, 4, &whole),
			 1);
	assert_int_equal(ret[0], 0x819fc);
	assert_true(whole);
	/* socket_base_t::send at 0x62390 is called from zmq_msg_send at 0x81c48. */
	assert_int_equal(x86_calls_to(debian_msg_send, sizeof(debian_msg_send), 0x81c10, 0x62390,
				      ret, 4, &whole),
			 1);
	assert_int_equal(ret[0], 0x81c4d);
	assert_int_equal(x86_calls_to(debian_msg_recv, sizeof(debian_msg_recv), 0x819d0, 0x62390,
				      ret, 4, &whole),
			 0);
	assert_int_equal(x86_calls_to(debian_msg_recv, sizeof(debian_msg_recv), 0x819d0, 0, ret, 4,
				      &whole),
			 0);
	/* A tail call returns to the caller's caller: not a listed address. */
	assert_int_equal(x86_calls_to(tail_call, sizeof(tail_call), 0x1000, 0x1010, ret, 4, &whole),
			 1);
	assert_int_equal(ret[0], 0x1005);
	assert_false(whole);
	/* x87 is not decoded here: the call after it is not seen, and the walk says so. */
	assert_int_equal(x86_calls_to(undecodable, sizeof(undecodable), 0x1000, 0x1007, ret, 4,
				      &whole),
			 0);
	assert_false(whole);
}

static void test_max_bounds_the_output(void **state)
{
	uint64_t t[2];

	(void)state;
	assert_int_equal(x86_call_targets(debian_msg_send, sizeof(debian_msg_send), 0, t, 2), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lengths_of_common_instructions),
		cmocka_unit_test(test_unknown_or_cut_short_is_zero),
		cmocka_unit_test(test_debian_msg_send_calls),
		cmocka_unit_test(test_debian_picks_send_and_recv),
		cmocka_unit_test(test_cet_build_decodes_past_endbr64),
		cmocka_unit_test(test_pick_needs_distinct_calls),
		cmocka_unit_test(test_proxy_wrappers_tail_jump),
		cmocka_unit_test(test_max_bounds_the_output),
		cmocka_unit_test(test_return_addresses_of_one_callee),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
