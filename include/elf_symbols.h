/* SPDX-License-Identifier: MIT */
/* Function symbols of an ELF file, and the file offsets uprobes attach at. */
#ifndef ZS_ELF_SYMBOLS_H
#define ZS_ELF_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct elf_symbol {
	const char *name;     /* in: the symbol to find */
	bool found;	      /* out: defined function in .dynsym or .symtab */
	uint64_t vaddr;	      /* out: st_value */
	uint64_t size;	      /* out: st_size */
	uint64_t file_offset; /* out: where its first byte lies in the file */
};

/*
 * Resolves every query in one pass over .dynsym and .symtab.  Returns how
 * many were found, or a negative errno (-ENOEXEC for a file that is not a
 * usable ELF object).
 */
int elf_find_symbols(const char *path, struct elf_symbol *syms, size_t n);

/* Reads `len` bytes at `offset`.  0, or a negative errno. */
int elf_read_at(const char *path, uint64_t offset, void *buf, size_t len);

/*
 * The file offset of code at `vaddr`, in an executable section other than
 * a PLT.  0, -ENOENT (no such section, or a PLT stub), or a negative errno.
 */
int elf_code_offset(const char *path, uint64_t vaddr, uint64_t *file_offset);

/*
 * Whether the file's dynamic symbols import (use, undefined) any of the
 * `n` names: 1, 0, or a negative errno.
 */
int elf_imports_any(const char *path, const char *const *names, size_t n);

/*
 * The object's DT_SONAME, copied into `buf`: 0, -ENODATA when it has none
 * (an executable, say), -ENAMETOOLONG, or another negative errno.
 */
int elf_soname(const char *path, char *buf, size_t len);

#endif
