/* SPDX-License-Identifier: MIT */
/*
 * Finding socket_base_t's layout in bytes copied out of a target's memory.
 *
 * A live libzmq socket is a C++ object: its first word points into its
 * class's vtable, and the vtable's RTTI names the class ("N3zmq6pull_tE"),
 * which gives the socket type without running any of the target's code.
 * With a few such objects in hand, the offsets are where the check tag, the
 * type and a std::string holding an endpoint read back in all of them.
 * Everything here works on copies and a read callback, so cmocka can feed it
 * synthetic objects; process_vm_readv lives in memory_calibration.c.
 */
#ifndef ZS_SOCKET_IMAGE_H
#define ZS_SOCKET_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* socket_base_t plus the largest derived class fits with room to spare. */
#define SOCK_IMAGE_BYTES 4096

/* Reads n bytes at a target address: 0, or a negative errno. */
typedef int (*mem_read_fn)(void *ctx, uint64_t addr, void *dst, size_t n);

struct mem_reader {
	mem_read_fn read;
	void *ctx;
	/* Where the library is mapped: a vtable pointer must fall inside. */
	uint64_t lib_lo, lib_hi;
};

struct sock_image {
	uint64_t addr; /* the socket handle: the object's first byte */
	int type;      /* from the class name, 0..20 */
	uint8_t bytes[SOCK_IMAGE_BYTES];
};

/* "N3zmq6pull_tE" (GCC may prefix a '*') -> ZMQ_PULL; -1 for any other class. */
int zmq_class_type(const char *mangled);

/*
 * The socket type of the object at `addr`, from its primary vtable's RTTI
 * (offset-to-top 0), or a negative errno: -ENOENT when it is not a libzmq
 * socket object.
 */
int socket_type_at(const struct mem_reader *r, uint64_t addr);

/*
 * A check tag was found at `tag_addr`; `window` holds the SOCK_IMAGE_BYTES
 * before it (8-aligned, starting at tag_addr - SOCK_IMAGE_BYTES rounded
 * down).  The object it belongs to starts at the nearest word below whose
 * primary vtable names a socket class; returns that address, or 0.
 */
uint64_t socket_start_before(const struct mem_reader *r, uint64_t tag_addr,
			     const uint64_t *window);

/* Where `window` must start for socket_start_before(), or 0 if tag_addr is too low. */
uint64_t socket_window_base(uint64_t tag_addr);

/*
 * Every socket of a context: ctx_t keeps them in a std::vector<socket_base_t *>
 * (begin, end, capacity).  `words` is a copy of the context object; the vector
 * is the one whose elements include `known`, a socket of that context.  Fills
 * up to `max` element values into `out` and returns how many, or -ENOENT.
 */
int context_sockets(const struct mem_reader *r, const uint64_t *words, size_t nwords,
		    uint64_t known, uint64_t *out, size_t max);

/* object_t, the root of every libzmq object: vtable pointer, then its ctx_t *. */
#define SOCK_CTX_OFF 8

/*
 * Offsets common to every image, or -ENOENT.  `hint` (-1 for none) is a
 * table's offset for this version, preferred when it also fits.  The type
 * offset is ambiguous when the images hold too few distinct types to rule
 * out other fields; `why` then says so.
 */
int32_t image_tag_offset(const struct sock_image *im, size_t n);
int32_t image_type_offset(const struct sock_image *im, size_t n, int32_t hint, char *why,
			  size_t whylen);
int32_t image_endpoint_offset(const struct mem_reader *r, const struct sock_image *im, size_t n,
			      int32_t hint);

/*
 * The libstdc++ std::string at `off` in the image, copied into out (at most
 * n-1 bytes, NUL-terminated): 0 when it is a well-formed string that is empty
 * or holds an endpoint ("tcp://..."), else -EINVAL.
 */
int image_string_at(const struct mem_reader *r, const struct sock_image *im, int32_t off, char *out,
		    size_t n);

/* "tcp://", "ipc://", "inproc://"...: does the text start like a ZeroMQ endpoint? */
bool looks_like_endpoint(const char *s);

#endif
