// SPDX-License-Identifier: MIT
#include "elf_symbols.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A uprobe wants a file offset: map the address through its PT_LOAD segment. */
static int vaddr_to_offset(Elf *elf, uint64_t vaddr, uint64_t *off)
{
	size_t nphdr;

	if (elf_getphdrnum(elf, &nphdr))
		return -ENOEXEC;
	for (size_t i = 0; i < nphdr; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD ||
		    !(ph.p_flags & PF_X))
			continue;
		if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_memsz) {
			*off = vaddr - ph.p_vaddr + ph.p_offset;
			return 0;
		}
	}
	return -ENOENT;
}

static void scan_symtab(Elf *elf, Elf_Scn *scn, GElf_Shdr *sh, struct elf_symbol *syms, size_t n,
			int *found)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t count;

	if (!data || !sh->sh_entsize)
		return;
	count = sh->sh_size / sh->sh_entsize;
	for (size_t i = 0; i < count && (size_t)*found < n; i++) {
		GElf_Sym sym;
		const char *name;

		if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF ||
		    (GELF_ST_TYPE(sym.st_info) != STT_FUNC &&
		     GELF_ST_TYPE(sym.st_info) != STT_GNU_IFUNC) ||
		    !sym.st_value)
			continue;
		name = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!name)
			continue;
		for (size_t q = 0; q < n; q++) {
			if (syms[q].found || strcmp(name, syms[q].name))
				continue;
			if (vaddr_to_offset(elf, sym.st_value, &syms[q].file_offset))
				break;
			syms[q].vaddr = sym.st_value;
			syms[q].size = sym.st_size;
			syms[q].found = true;
			(*found)++;
			break;
		}
	}
}

/* `path` as an ELF object: 0 with *fd and *elf set (close both), or a negative errno. */
static int open_elf(const char *path, int *fd, Elf **elf)
{
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOEXEC;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return -errno;
	*elf = elf_begin(*fd, ELF_C_READ_MMAP, NULL);
	if (*elf && elf_kind(*elf) == ELF_K_ELF)
		return 0;
	if (*elf)
		elf_end(*elf);
	close(*fd);
	return -ENOEXEC;
}

int elf_find_symbols(const char *path, struct elf_symbol *syms, size_t n)
{
	Elf_Scn *scn = NULL;
	Elf *elf;
	int fd, found = 0, rc;

	for (size_t q = 0; q < n; q++)
		syms[q].found = false;
	rc = open_elf(path, &fd, &elf);
	if (rc)
		return rc;
	/* .dynsym first: it survives stripping, and .symtab only adds locals. */
	for (int pass = 0; pass < 2 && (size_t)found < n; pass++) {
		Elf32_Word want = pass == 0 ? SHT_DYNSYM : SHT_SYMTAB;

		scn = NULL;
		while ((scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;

			if (gelf_getshdr(scn, &sh) && sh.sh_type == want)
				scan_symtab(elf, scn, &sh, syms, n, &found);
		}
	}
	elf_end(elf);
	close(fd);
	return found;
}

int elf_read_at(const char *path, uint64_t offset, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return -errno;
	got = pread(fd, buf, len, (off_t)offset);
	close(fd);
	if (got < 0)
		return -errno;
	return (size_t)got == len ? 0 : -EIO;
}

int elf_code_offset(const char *path, uint64_t vaddr, uint64_t *file_offset)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	Elf *elf;
	int fd, rc;

	rc = open_elf(path, &fd, &elf);
	if (rc)
		return rc;
	rc = -ENOENT;
	if (elf_getshdrstrndx(elf, &shstrndx)) {
		rc = -ENOEXEC;
		goto out;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_EXECINSTR) ||
		    vaddr < sh.sh_addr || vaddr >= sh.sh_addr + sh.sh_size)
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		/* A PLT stub is a jump to another object's function, never ours. */
		if (name && !strncmp(name, ".plt", 4))
			break;
		*file_offset = vaddr - sh.sh_addr + sh.sh_offset;
		rc = 0;
		break;
	}
out:
	elf_end(elf);
	close(fd);
	return rc;
}

/*
 * The next section of `type` after `scn` (NULL: the first) that holds
 * entries, with its header, data and entry count; NULL when there is none.
 */
static Elf_Scn *next_table(Elf *elf, Elf_Scn *scn, Elf32_Word type, GElf_Shdr *sh,
			   Elf_Data **data, size_t *count)
{
	while ((scn = elf_nextscn(elf, scn))) {
		if (gelf_getshdr(scn, sh) && sh->sh_type == type && sh->sh_entsize &&
		    (*data = elf_getdata(scn, NULL))) {
			*count = sh->sh_size / sh->sh_entsize;
			return scn;
		}
	}
	return NULL;
}

int elf_imports_any(const char *path, const char *const *names, size_t n)
{
	Elf_Scn *scn = NULL;
	Elf_Data *data;
	GElf_Shdr sh;
	size_t count;
	Elf *elf;
	int fd, rc;

	rc = open_elf(path, &fd, &elf);
	if (rc)
		return rc;
	while (!rc && (scn = next_table(elf, scn, SHT_DYNSYM, &sh, &data, &count))) {
		for (size_t i = 1; i < count && !rc; i++) {
			const char *name;
			GElf_Sym sym;

			if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx != SHN_UNDEF)
				continue;
			name = elf_strptr(elf, sh.sh_link, sym.st_name);
			for (size_t q = 0; name && q < n && !rc; q++)
				rc = !strcmp(name, names[q]);
		}
	}
	elf_end(elf);
	close(fd);
	return rc;
}

int elf_soname(const char *path, char *buf, size_t len)
{
	Elf_Scn *scn = NULL;
	Elf_Data *data;
	GElf_Shdr sh;
	size_t count;
	Elf *elf;
	int fd, rc;

	rc = open_elf(path, &fd, &elf);
	if (rc)
		return rc;
	rc = -ENODATA;
	while (rc == -ENODATA && (scn = next_table(elf, scn, SHT_DYNAMIC, &sh, &data, &count))) {
		for (size_t i = 0; i < count; i++) {
			const char *name;
			GElf_Dyn dyn;

			if (!gelf_getdyn(data, (int)i, &dyn) || dyn.d_tag == DT_NULL)
				break;
			if (dyn.d_tag != DT_SONAME)
				continue;
			name = elf_strptr(elf, sh.sh_link, dyn.d_un.d_val);
			if (!name)
				rc = -ENOEXEC;
			else
				rc = snprintf(buf, len, "%s", name) < (int)len ? 0 : -ENAMETOOLONG;
			break;
		}
	}
	elf_end(elf);
	close(fd);
	return rc;
}
