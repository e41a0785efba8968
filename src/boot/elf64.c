#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hopvm/boot.h"
#include "hopvm/error.h"

static int elf64_check_header(const Elf64_Ehdr *eh, size_t size)
{
	uint64_t table_size, table_end;

	if (size < SELFMAG || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return err_set(-ENOEXEC, "not an ELF image (bad magic), nor Multiboot; for a raw "
			       "binary give --format raw --load-addr ADDR");
	if (size < sizeof(*eh))
		return err_set(-ENOEXEC, "ELF header truncated (%zu bytes)", size);
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return err_set(-ENOEXEC, "not an ELF64 image (ELF class %u)", eh->e_ident[EI_CLASS]);
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return err_set(-ENOEXEC, "ELF image is not little-endian");
	if (eh->e_machine != EM_X86_64)
		return err_set(-ENOEXEC, "ELF image is not for x86-64 (machine %u)", eh->e_machine);
	if (eh->e_type != ET_EXEC)
		return err_set(-ENOEXEC, "ELF image is not an executable (type %u)", eh->e_type);
	if (eh->e_phnum == 0)
		return err_set(-ENOEXEC, "ELF image has no program headers");
	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return err_set(-ENOEXEC, "ELF program header size %u, expected %zu",
			       eh->e_phentsize, sizeof(Elf64_Phdr));
	table_size = (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
	if (__builtin_add_overflow(eh->e_phoff, table_size, &table_end) || table_end > size)
		return err_set(-ENOEXEC, "ELF program headers lie outside the file");
	if (eh->e_phoff % _Alignof(Elf64_Phdr) != 0)
		return err_set(-ENOEXEC, "ELF program headers are misaligned");
	return 0;
}

static int elf64_load_segment(struct guest_mem *mem, const uint8_t *image, size_t size,
			      const Elf64_Phdr *ph, unsigned index)
{
	uint64_t file_end, mem_end;
	char what[32];
	int ret;

	if (__builtin_add_overflow(ph->p_offset, ph->p_filesz, &file_end) || file_end > size)
		return err_set(-ENOEXEC, "ELF segment %u: file data lies outside the file", index);
	if (ph->p_filesz > ph->p_memsz)
		return err_set(-ENOEXEC, "ELF segment %u: file size exceeds memory size", index);
	if (__builtin_add_overflow(ph->p_paddr, ph->p_memsz, &mem_end))
		return err_set(-ENOEXEC, "ELF segment %u: address range wraps", index);
	snprintf(what, sizeof(what), "ELF segment %u", index);
	ret = boot_check_placement(mem, ph->p_paddr, ph->p_memsz, false, what);
	if (ret < 0)
		return ret;
	if (guest_mem_write(mem, ph->p_paddr, image + ph->p_offset, ph->p_filesz) < 0 ||
	    guest_mem_zero(mem, ph->p_paddr + ph->p_filesz, ph->p_memsz - ph->p_filesz) < 0)
		return err_set(-EFAULT, "ELF segment %u: cannot write guest memory", index);
	return 0;
}

int elf64_load(struct guest_mem *mem, const uint8_t *image, size_t size, uint64_t *entry)
{
	Elf64_Ehdr eh;
	bool entry_loaded = false;
	unsigned loaded = 0;
	int ret;

	/* Copies, not casts: the buffer need not be aligned for the ELF structures. */
	memset(&eh, 0, sizeof(eh));
	memcpy(&eh, image, size < sizeof(eh) ? size : sizeof(eh));
	ret = elf64_check_header(&eh, size);
	if (ret < 0)
		return ret;

	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, image + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		ret = elf64_load_segment(mem, image, size, &ph, i);
		if (ret < 0)
			return ret;
		if (eh.e_entry >= ph.p_paddr && eh.e_entry - ph.p_paddr < ph.p_memsz)
			entry_loaded = true;
		loaded++;
	}
	if (loaded == 0)
		return err_set(-ENOEXEC, "ELF image has no loadable segments");
	if (!entry_loaded)
		return err_set(-ENOEXEC, "ELF entry point 0x%llx is in no loaded segment",
			       (unsigned long long)eh.e_entry);
	*entry = eh.e_entry;
	return 0;
}
