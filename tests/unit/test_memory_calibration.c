// SPDX-License-Identifier: MIT
/*
 * socket_base_t's layout from synthetic socket images: a fake address space
 * with a library (vtables, RTTI, class names) and a heap of sockets laid out
 * as libzmq 4.3.5 lays them out (type 332, tag 1624, endpoint 1728).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "socket_image.h"

#define LIB_BASE 0x100000ULL
#define LIB_SIZE 0x2000ULL
#define HEAP_BASE 0x200000ULL
#define SPACE (0x110000ULL + SOCK_IMAGE_BYTES * 8)

#define TYPE_OFF 332
#define TAG_OFF 1624
#define EP_OFF 1728

/* Everything from LIB_BASE on; reads elsewhere fault, as in a real process. */
static uint8_t space[SPACE];

static int fake_read(void *ctx, uint64_t addr, void *dst, size_t n)
{
	(void)ctx;
	if (addr < LIB_BASE || addr + n > LIB_BASE + SPACE || addr + n < addr)
		return -EFAULT;
	memcpy(dst, space + (addr - LIB_BASE), n);
	return 0;
}

static const struct mem_reader reader = { fake_read, NULL, LIB_BASE, LIB_BASE + LIB_SIZE };

static void put64(uint64_t addr, uint64_t v)
{
	memcpy(space + (addr - LIB_BASE), &v, sizeof(v));
}

static void put32(uint64_t addr, uint32_t v)
{
	memcpy(space + (addr - LIB_BASE), &v, sizeof(v));
}

static void put_str(uint64_t addr, const char *s)
{
	memcpy(space + (addr - LIB_BASE), s, strlen(s) + 1);
}

/*
 * A class's RTTI and vtable in the library: name at +0, type_info at +0x40
 * ({vptr, name}), then offset-to-top, typeinfo pointer and the first slot.
 * Returns the vtable address an object's first word points to.
 */
static uint64_t make_class(unsigned slot, const char *mangled, int64_t offset_to_top)
{
	uint64_t base = LIB_BASE + slot * 0x100ULL;

	put_str(base, mangled);
	put64(base + 0x40, LIB_BASE + 0x1f00); /* type_info's own vtable */
	put64(base + 0x48, base);
	put64(base + 0x60, (uint64_t)offset_to_top);
	put64(base + 0x68, base + 0x40);
	return base + 0x70;
}

/* A socket object on the fake heap, with libstdc++'s std::string at EP_OFF. */
static uint64_t make_socket(unsigned slot, uint64_t vtable, int type, const char *endpoint)
{
	uint64_t s = HEAP_BASE + slot * (uint64_t)SOCK_IMAGE_BYTES;
	uint64_t str = s + EP_OFF;
	size_t len = strlen(endpoint);

	memset(space + (s - LIB_BASE), 0xee, SOCK_IMAGE_BYTES);
	put64(s, vtable);
	space[s - LIB_BASE + TYPE_OFF] = (uint8_t)type;
	put32(s + TAG_OFF, 0xbaddecafU);
	put64(str + 8, len);
	if (len <= 15) {
		put64(str, str + 16);
		put_str(str + 16, endpoint);
	} else {
		/* Long strings live in a heap block of their own, past the sockets. */
		uint64_t block = HEAP_BASE + 7 * (uint64_t)SOCK_IMAGE_BYTES + slot * 128ULL;

		put64(str, block);
		put_str(block, endpoint);
	}
	return s;
}

static void load(struct sock_image *im, uint64_t addr)
{
	im->addr = addr;
	im->type = socket_type_at(&reader, addr);
	assert_int_equal(fake_read(NULL, addr, im->bytes, SOCK_IMAGE_BYTES), 0);
}

static uint64_t pull_vt, router_vt, dealer_vt, secondary_vt, mailbox_vt;

static int setup(void **state)
{
	(void)state;
	memset(space, 0, sizeof(space));
	pull_vt = make_class(0, "N3zmq6pull_tE", 0);
	router_vt = make_class(1, "*N3zmq8router_tE", 0);
	dealer_vt = make_class(2, "N3zmq8dealer_tE", 0);
	/* pull_t's vtable for its i_poll_events base, 16 bytes into the object. */
	secondary_vt = make_class(3, "N3zmq6pull_tE", -16);
	mailbox_vt = make_class(4, "N3zmq9mailbox_tE", 0);
	return 0;
}

static void test_class_names(void **state)
{
	(void)state;
	assert_int_equal(zmq_class_type("N3zmq6pair_tE"), 0);
	assert_int_equal(zmq_class_type("N3zmq6pull_tE"), 7);
	assert_int_equal(zmq_class_type("*N3zmq8router_tE"), 6);
	assert_int_equal(zmq_class_type("N3zmq9channel_tE"), 20);
	assert_int_equal(zmq_class_type("N3zmq9mailbox_tE"), -1);
	assert_int_equal(zmq_class_type("N3zmq5pull_tE"), -1);  /* length disagrees */
	assert_int_equal(zmq_class_type("N3zmq6pull_tEx"), -1); /* trailing bytes */
	assert_int_equal(zmq_class_type("N4zmqx6pull_tE"), -1);
	assert_int_equal(zmq_class_type(""), -1);
}

static void test_type_from_rtti(void **state)
{
	uint64_t pull = make_socket(0, pull_vt, 7, "");
	uint64_t other = make_socket(1, mailbox_vt, 7, "");
	uint64_t inner = make_socket(2, secondary_vt, 7, "");
	uint64_t wild = make_socket(3, HEAP_BASE, 7, "");

	(void)state;
	assert_int_equal(socket_type_at(&reader, pull), 7);
	assert_int_equal(socket_type_at(&reader, make_socket(4, router_vt, 6, "")), 6);
	/* Not a socket class, a base subobject, a vtable outside the library. */
	assert_int_equal(socket_type_at(&reader, other), -ENOENT);
	assert_int_equal(socket_type_at(&reader, inner), -ENOENT);
	assert_int_equal(socket_type_at(&reader, wild), -ENOENT);
	/* Misaligned, and unmapped. */
	assert_int_equal(socket_type_at(&reader, pull + 4), -ENOENT);
	assert_int_equal(socket_type_at(&reader, 0x1000), -ENOENT);
}

static void read_window(uint64_t tag_addr, uint64_t *window)
{
	assert_int_equal(fake_read(NULL, socket_window_base(tag_addr), window, SOCK_IMAGE_BYTES), 0);
}

static void test_start_traced_back_from_the_tag(void **state)
{
	uint64_t window[SOCK_IMAGE_BYTES / 8];
	uint64_t s = make_socket(1, pull_vt, 7, "tcp://127.0.0.1:5555");
	uint64_t lone = HEAP_BASE + 3 * (uint64_t)SOCK_IMAGE_BYTES;

	(void)state;
	/* Between the start and the tag: a base subobject's vtable, another class's, a pointer. */
	put64(s + 1000, secondary_vt);
	put64(s + 1200, mailbox_vt);
	put64(s + 1400, LIB_BASE + 0x10);
	read_window(s + TAG_OFF, window);
	assert_int_equal(socket_start_before(&reader, s + TAG_OFF, window), s);
	/* A stray tag with no socket below it. */
	memset(space + (lone - LIB_BASE), 0xee, SOCK_IMAGE_BYTES);
	put32(lone + 2000, 0xbaddecafU);
	read_window(lone + 2000, window);
	assert_int_equal(socket_start_before(&reader, lone + 2000, window), 0);
	/* Too low in the address space for a whole window. */
	assert_int_equal(socket_window_base(SOCK_IMAGE_BYTES), 0);
	assert_int_equal(socket_start_before(&reader, SOCK_IMAGE_BYTES, window), 0);
}

static void test_sockets_of_a_context(void **state)
{
	uint64_t a = make_socket(0, pull_vt, 7, ""), b = make_socket(1, router_vt, 6, "");
	uint64_t c = make_socket(2, dealer_vt, 5, "");
	uint64_t arrays = HEAP_BASE + 7 * (uint64_t)SOCK_IMAGE_BYTES + 2048;
	uint64_t words[16] = { 0 }, got[8];

	(void)state;
	/* Another vector first (a context's empty slots, say), then the sockets' own. */
	put64(arrays, 4);
	put64(arrays + 8, 5);
	put64(arrays + 64, a);
	put64(arrays + 72, b);
	put64(arrays + 80, c);
	words[2] = arrays;
	words[3] = arrays + 16;
	words[4] = arrays + 32;
	words[6] = 0xabadcafe;
	words[8] = arrays + 64;
	words[9] = arrays + 88;
	words[10] = arrays + 96;
	assert_int_equal(context_sockets(&reader, words, 16, b, got, 8), 3);
	assert_int_equal(got[0], a);
	assert_int_equal(got[1], b);
	assert_int_equal(got[2], c);
	/* At most `max`, and none for a socket the context does not hold. */
	assert_int_equal(context_sockets(&reader, words, 16, a, got, 2), 2);
	assert_int_equal(context_sockets(&reader, words, 16, arrays, got, 8), -ENOENT);
	/* A vector whose end runs past its capacity is no vector. */
	words[10] = arrays + 72;
	assert_int_equal(context_sockets(&reader, words, 16, b, got, 8), -ENOENT);
}

static void test_offsets_of_an_unknown_build(void **state)
{
	struct sock_image im[3];
	char why[120] = "", text[80];

	(void)state;
	load(&im[0], make_socket(0, pull_vt, 7, "tcp://127.0.0.1:5555"));
	load(&im[1], make_socket(1, router_vt, 6, "ipc://@zs"));
	load(&im[2], make_socket(2, dealer_vt, 5, ""));
	/* A second copy of the type deeper in, and an always-empty string before the endpoint. */
	for (int i = 0; i < 3; i++) {
		uint64_t other = im[i].addr + EP_OFF - 32;

		im[i].bytes[3300] = (uint8_t)im[i].type;
		memcpy(im[i].bytes + EP_OFF - 32, &(uint64_t){ other + 16 }, 8);
		memset(im[i].bytes + EP_OFF - 24, 0, 24);
	}
	assert_int_equal(im[0].type, 7);
	assert_int_equal(im[1].type, 6);
	assert_int_equal(im[2].type, 5);
	assert_int_equal(image_tag_offset(im, 3), TAG_OFF);
	assert_int_equal(image_type_offset(im, 3, -1, why, sizeof(why)), TYPE_OFF);
	assert_int_equal(image_endpoint_offset(&reader, im, 3, -1), EP_OFF);
	assert_int_equal(image_string_at(&reader, &im[0], EP_OFF, text, sizeof(text)), 0);
	assert_string_equal(text, "tcp://127.0.0.1:5555");
	assert_int_equal(image_string_at(&reader, &im[1], EP_OFF, text, sizeof(text)), 0);
	assert_string_equal(text, "ipc://@zs");
	assert_int_equal(image_string_at(&reader, &im[2], EP_OFF, text, sizeof(text)), 0);
	assert_string_equal(text, "");
	/* A wrong hint is not taken. */
	assert_int_equal(image_type_offset(im, 3, 328, why, sizeof(why)), TYPE_OFF);
	assert_int_equal(image_endpoint_offset(&reader, im, 3, 1664), EP_OFF);
}

static void test_one_type_needs_a_hint(void **state)
{
	struct sock_image im[2];
	char why[120] = "";

	(void)state;
	load(&im[0], make_socket(0, pull_vt, 7, "tcp://127.0.0.1:5555"));
	load(&im[1], make_socket(1, pull_vt, 7, "tcp://127.0.0.1:5556"));
	im[0].bytes[3300] = im[1].bytes[3300] = 7;
	assert_int_equal(image_type_offset(im, 2, -1, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "one type"));
	assert_int_equal(image_type_offset(im, 2, TYPE_OFF, why, sizeof(why)), TYPE_OFF);
	assert_int_equal(image_type_offset(im, 0, -1, why, sizeof(why)), -ENOENT);
}

static void test_no_endpoint_without_a_bound_socket(void **state)
{
	struct sock_image im[2];

	(void)state;
	load(&im[0], make_socket(0, pull_vt, 7, ""));
	load(&im[1], make_socket(1, router_vt, 6, ""));
	assert_int_equal(image_endpoint_offset(&reader, im, 2, -1), -ENOENT);
	assert_int_equal(image_tag_offset(im, 2), TAG_OFF);
}

static void test_malformed_strings(void **state)
{
	struct sock_image im;
	char text[80];
	uint64_t s = make_socket(0, pull_vt, 7, "tcp://127.0.0.1:5555");

	(void)state;
	load(&im, s);
	/* Length that disagrees with the text. */
	memcpy(im.bytes + EP_OFF + 8, &(uint64_t){ 7 }, 8);
	assert_int_equal(image_string_at(&reader, &im, EP_OFF, text, sizeof(text)), -EINVAL);
	/* Inline, but longer than the inline buffer. */
	memcpy(im.bytes + EP_OFF, &(uint64_t){ s + EP_OFF + 16 }, 8);
	memcpy(im.bytes + EP_OFF + 8, &(uint64_t){ 16 }, 8);
	assert_int_equal(image_string_at(&reader, &im, EP_OFF, text, sizeof(text)), -EINVAL);
	/* Text that is no endpoint. */
	load(&im, make_socket(1, pull_vt, 7, "hello, world"));
	assert_int_equal(image_string_at(&reader, &im, EP_OFF, text, sizeof(text)), -EINVAL);
	/* A pointer to nowhere. */
	load(&im, s);
	memcpy(im.bytes + EP_OFF, &(uint64_t){ 0x10 }, 8);
	assert_int_equal(image_string_at(&reader, &im, EP_OFF, text, sizeof(text)), -EINVAL);
	/* Out of the image, misaligned. */
	assert_int_equal(image_string_at(&reader, &im, SOCK_IMAGE_BYTES - 8, text, sizeof(text)),
			 -EINVAL);
	assert_int_equal(image_string_at(&reader, &im, EP_OFF + 4, text, sizeof(text)), -EINVAL);
}

static void test_endpoint_shapes(void **state)
{
	(void)state;
	assert_true(looks_like_endpoint("tcp://127.0.0.1:5555"));
	assert_true(looks_like_endpoint("inproc://pyzmq.gc.0"));
	assert_true(looks_like_endpoint("ipc:///tmp/x"));
	assert_false(looks_like_endpoint("tcp://"));
	assert_false(looks_like_endpoint("TCP://x"));
	assert_false(looks_like_endpoint("127.0.0.1:5555"));
	assert_false(looks_like_endpoint(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_class_names),
		cmocka_unit_test_setup(test_type_from_rtti, setup),
		cmocka_unit_test_setup(test_start_traced_back_from_the_tag, setup),
		cmocka_unit_test_setup(test_sockets_of_a_context, setup),
		cmocka_unit_test_setup(test_offsets_of_an_unknown_build, setup),
		cmocka_unit_test_setup(test_one_type_needs_a_hint, setup),
		cmocka_unit_test_setup(test_no_endpoint_without_a_bound_socket, setup),
		cmocka_unit_test_setup(test_malformed_strings, setup),
		cmocka_unit_test(test_endpoint_shapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
