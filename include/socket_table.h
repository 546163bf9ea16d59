/* SPDX-License-Identifier: MIT */
/*
 * The loader's side of the socket table (bpf/socket_table.bpf.h): the
 * `sockets` index maps a key to a slot of `sock_slots`, which holds the
 * state.  These read it whole, read one socket, and free a process's
 * sockets, keeping the free-slot queue right.
 */
#ifndef ZS_SOCKET_TABLE_H
#define ZS_SOCKET_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include "metrics.h"
#include "zmqscope.h"

struct socket_table {
	int index_fd; /* sockets: key -> slot */
	int slots_fd; /* sock_slots */
	int free_fd;  /* sock_free_slots */
};

/* The table of a loaded skeleton (a macro: this header does not need the skeleton's). */
#define SOCKET_TABLE_OF(skel)                                                              \
	((struct socket_table){ bpf_map__fd((skel)->maps.sockets),                         \
				bpf_map__fd((skel)->maps.sock_slots),                      \
				bpf_map__fd((skel)->maps.sock_free_slots) })

/*
 * Every socket the index names, its state read from its slot: none if the
 * slots cannot be read, NULL only when the list itself cannot be allocated.
 */
struct metrics_socket *socket_table_read_all(const struct socket_table *st, size_t *n);

/* One socket's state: 0, or -ENOENT. */
int socket_table_read(const struct socket_table *st, const struct zs_sock_key *key,
		      struct zs_sock *out);

/* Removes every socket of `tgid` (a process that exited), freeing their slots. */
void socket_table_forget(const struct socket_table *st, uint32_t tgid, size_t max);

/* Pure: whether slot state `s` still belongs to `key` (a slot freed or reused does not). */
int socket_slot_matches(const struct zs_sock *s, const struct zs_sock_key *key);

#endif
