/* SPDX-License-Identifier: MIT */
/* Reading a whole BPF hash map from user space, for snapshots. */
#ifndef ZS_MAP_READER_H
#define ZS_MAP_READER_H

#include <stddef.h>

/*
 * Every key and value of the hash map `fd`, into arrays sized to what is
 * there (batch lookups, else a walk of the keys).  Returns the number of
 * entries; the caller frees *keys and *values, which stay NULL when empty.
 */
size_t map_read_all(int fd, size_t key_size, size_t value_size, void **keys, void **values);

#endif
