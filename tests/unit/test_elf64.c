#include <elf.h>
#include <errno.h>

#include "hopvm/boot.h"
#include "hopvm/error.h"
#include "unit.h"

#define RAM_SIZE (2U << 20)
#define LOAD_ADDR 0x100000
#define CODE_SIZE 64
#define BSS_SIZE 4096

/* An image: ELF header, one program header, then the segment's bytes. */
struct image {
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	uint8_t code[CODE_SIZE];
};

static uint8_t ram[RAM_SIZE];
static struct guest_mem mem;

static void make_image(struct image *img)
{
	memset(img, 0, sizeof(*img));
	memcpy(img->eh.e_ident, ELFMAG, SELFMAG);
	img->eh.e_ident[EI_CLASS] = ELFCLASS64;
	img->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	img->eh.e_ident[EI_VERSION] = EV_CURRENT;
	img->eh.e_type = ET_EXEC;
	img->eh.e_machine = EM_X86_64;
	img->eh.e_version = EV_CURRENT;
	img->eh.e_entry = LOAD_ADDR + 8;
	img->eh.e_phoff = offsetof(struct image, ph);
	img->eh.e_ehsize = sizeof(Elf64_Ehdr);
	img->eh.e_phentsize = sizeof(Elf64_Phdr);
	img->eh.e_phnum = 1;
	img->ph.p_type = PT_LOAD;
	img->ph.p_flags = PF_R | PF_X;
	img->ph.p_offset = offsetof(struct image, code);
	img->ph.p_vaddr = img->ph.p_paddr = LOAD_ADDR;
	img->ph.p_filesz = CODE_SIZE;
	img->ph.p_memsz = CODE_SIZE + BSS_SIZE;
	for (unsigned i = 0; i < CODE_SIZE; i++)
		img->code[i] = (uint8_t)(i + 1);
}

static int setup(void **state)
{
	(void)state;
	memset(ram, 0xcc, sizeof(ram));	/* so a missed bss zeroing shows */
	guest_mem_init_buffer(&mem, ram, sizeof(ram));
	err_clear();
	return 0;
}

static int load(const struct image *img, uint64_t *entry)
{
	return elf64_load(&mem, (const uint8_t *)img, sizeof(*img), entry);
}

static void test_good_image_loads(void **state)
{
	struct image img;
	uint64_t entry = 0;

	(void)state;
	make_image(&img);
	assert_int_equal(load(&img, &entry), 0);
	assert_int_equal(entry, LOAD_ADDR + 8);
	assert_memory_equal(ram + LOAD_ADDR, img.code, CODE_SIZE);
	for (unsigned i = 0; i < BSS_SIZE; i++)
		assert_int_equal(ram[LOAD_ADDR + CODE_SIZE + i], 0);
	assert_int_equal(ram[LOAD_ADDR + CODE_SIZE + BSS_SIZE], 0xcc);	/* not past memsz */
}

/* Each case breaks one thing and names a word the error message must contain. */
static void test_malformed_images_refused(void **state)
{
	static const struct {
		const char *what;
		int expected;
	} cases[] = {
		{ "bad magic", -ENOEXEC },
		{ "ELF64", -ENOEXEC },
		{ "little-endian", -ENOEXEC },
		{ "x86-64", -ENOEXEC },
		{ "not an executable", -ENOEXEC },
		{ "no program headers", -ENOEXEC },
		{ "program header size", -ENOEXEC },
		{ "outside the file", -ENOEXEC },	/* program headers */
		{ "file data lies outside", -ENOEXEC },
		{ "file size exceeds memory size", -ENOEXEC },
		{ "boot area", -ENOEXEC },
		{ "does not fit in guest RAM", -E2BIG },
		{ "wraps", -ENOEXEC },
		{ "entry point", -ENOEXEC },
		{ "no loadable segments", -ENOEXEC },
	};
	(void)state;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct image img;
		uint64_t entry = 0x1234;

		make_image(&img);
		switch (i) {
		case 0: img.eh.e_ident[EI_MAG1] = 'X'; break;
		case 1: img.eh.e_ident[EI_CLASS] = ELFCLASS32; break;
		case 2: img.eh.e_ident[EI_DATA] = ELFDATA2MSB; break;
		case 3: img.eh.e_machine = EM_386; break;
		case 4: img.eh.e_type = ET_DYN; break;
		case 5: img.eh.e_phnum = 0; break;
		case 6: img.eh.e_phentsize = 32; break;
		case 7: img.eh.e_phoff = sizeof(img) - 8; break;
		case 8: img.ph.p_filesz = sizeof(img); break;
		case 9: img.ph.p_memsz = CODE_SIZE - 1; break;
		case 10: img.ph.p_paddr = 0x8000; img.eh.e_entry = 0x8000; break;
		case 11: img.ph.p_memsz = RAM_SIZE; break;
		case 12: img.ph.p_paddr = UINT64_MAX - 16; break;
		case 13: img.eh.e_entry = LOAD_ADDR + CODE_SIZE + BSS_SIZE; break;
		case 14: img.ph.p_type = PT_NOTE; break;
		}
		err_clear();
		if (load(&img, &entry) != cases[i].expected)
			fail_msg("case '%s': expected %d, message \"%s\"", cases[i].what,
				 cases[i].expected, err_msg());
		assert_err_mentions(cases[i].what);
		assert_int_equal(entry, 0x1234);
	}
}

static void test_truncated_images(void **state)
{
	struct image img;
	uint64_t entry;

	(void)state;
	make_image(&img);
	for (size_t size = 0; size < offsetof(struct image, code); size++) {
		err_clear();
		assert_int_equal(elf64_load(&mem, (const uint8_t *)&img, size, &entry), -ENOEXEC);
		assert_true(err_msg()[0] != '\0');
	}
}

static void test_boot_load_image_writes_boot_area(void **state)
{
	struct image img;
	struct boot_image image = { (uint8_t *)&img, sizeof(img) };
	struct boot_options opts = { .format = BOOT_FORMAT_AUTO };
	struct boot_info info;

	(void)state;
	make_image(&img);
	assert_int_equal(boot_load_image(&mem, &image, &opts, &info), 0);
	assert_int_equal(info.format, BOOT_FORMAT_ELF64);
	assert_int_equal(info.mode, BOOT_CPU_LONG);
	assert_int_equal(info.entry, LOAD_ADDR + 8);
	assert_int_not_equal(ram[0x1000], 0);	/* the PML4 is there */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_good_image_loads, setup),
		cmocka_unit_test_setup(test_malformed_images_refused, setup),
		cmocka_unit_test_setup(test_truncated_images, setup),
		cmocka_unit_test_setup(test_boot_load_image_writes_boot_area, setup),
	};
	return cmocka_run_group_tests_name("elf64", tests, NULL, NULL);
}
