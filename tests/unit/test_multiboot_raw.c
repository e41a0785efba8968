/* The Multiboot v1 and raw loaders, fed crafted images. */
#include <elf.h>
#include <errno.h>

#include "hopvm/boot.h"
#include "hopvm/error.h"
#include "unit.h"

#define RAM_SIZE (4U << 20)
#define MB_MAGIC 0x1badb002U
#define KLUDGE 0x00010000U

static uint8_t ram[RAM_SIZE];
static struct guest_mem mem;

static int setup(void **state)
{
	(void)state;
	memset(ram, 0xcc, sizeof(ram));
	guest_mem_init_buffer(&mem, ram, sizeof(ram));
	err_clear();
	return 0;
}

/* A flat a.out-kludge image: header at offset 16, loaded at 1 MiB, 256 bytes, bss to +4 KiB. */
static void make_aout(uint8_t *img, size_t size)
{
	uint32_t h[8] = { MB_MAGIC, KLUDGE, 0, 0x100010, 0x100000, 0x100100, 0x101000, 0x100040 };

	h[2] = -(h[0] + h[1]);
	memset(img, 0x90, size);
	memcpy(img + 16, h, sizeof(h));
}

static uint32_t ram32(uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, ram + gpa, 4);
	return v;
}

static void test_aout_kludge(void **state)
{
	uint8_t img[512];
	struct boot_info info;
	struct boot_options opts = { .cmdline = "console=ttyS0 quiet",
				     .image_name = "build/guests/kernel.bin" };

	(void)state;
	make_aout(img, sizeof(img));
	assert_int_equal(multiboot_load(&mem, img, sizeof(img), &opts, &info), 0);
	assert_int_equal(info.mode, BOOT_CPU_PROTECTED);
	assert_int_equal(info.entry, 0x100040);
	assert_int_equal(info.eax, 0x2badb002);
	assert_memory_equal(ram + 0x100000, img, 256);
	assert_int_equal(ram[0x100100], 0);	/* bss zeroed */
	assert_int_equal(ram[0x100fff], 0);
	/* The information structure, on the page after the kernel's bss: memory, boot
	 * device, command line (the image's name first, as QEMU and GRUB give it), modules
	 * (none), mmap, loader name; the GDT beside it. */
	assert_int_equal(info.ebx, 0x101000);
	assert_int_equal(ram32(info.ebx), 0x24f);
	assert_int_equal(ram32(info.ebx + 4), 640);
	assert_int_equal(ram32(info.ebx + 8), (RAM_SIZE - 0x100000) >> 10);
	assert_int_equal(ram32(info.ebx + 12), 0x8000ffff);
	assert_string_equal((const char *)ram + ram32(info.ebx + 16),
			    "build/guests/kernel.bin console=ttyS0 quiet");
	assert_int_equal(ram32(info.ebx + 20), 0);
	assert_string_equal((const char *)ram + ram32(info.ebx + 64), "hopvm");
	assert_int_equal(ram32(info.ebx + 44) % 24, 0);	/* mmap_length: whole entries */
	assert_true(info.gdt_addr > info.ebx && info.gdt_addr < info.ebx + 4096);
	assert_int_equal(ram32(info.gdt_addr + 8), 0x0000ffff);	/* 32-bit flat code */
}

/* Low memory is the kernel's: a segment at 0x8000, as some test kernels are linked, loads
 * there, and the information follows it. */
static void test_low_segment(void **state)
{
	uint8_t img[512];
	uint32_t h[8] = { MB_MAGIC, KLUDGE, 0, 0x8010, 0x8000, 0x8100, 0x9000, 0x8040 };
	struct boot_options opts = { .image_name = "x86/msr.flat" };
	struct boot_info info;

	(void)state;
	h[2] = -(h[0] + h[1]);
	memset(img, 0x90, sizeof(img));
	memcpy(img + 16, h, sizeof(h));
	assert_int_equal(multiboot_load(&mem, img, sizeof(img), &opts, &info), 0);
	assert_int_equal(info.entry, 0x8040);
	assert_memory_equal(ram + 0x8000, img, 256);
	assert_int_equal(info.ebx, 0x9000);
	/* No arguments: the name and a space, as QEMU gives with an empty -append. */
	assert_string_equal((const char *)ram + ram32(info.ebx + 16), "x86/msr.flat ");
}

/* Modules go page by page after the kernel, each with its command line; the information
 * lists them in order. */
static void test_modules(void **state)
{
	static uint8_t one[5000], two[16];
	struct boot_module mods[2] = {
		{ { one, sizeof(one) }, "one.bin first=1" },
		{ { two, sizeof(two) }, "two.bin" },
	};
	struct boot_options opts = { .image_name = "k", .cmdline = "a b", .modules = mods,
				     .nr_modules = 2 };
	uint8_t img[512];
	struct boot_info info;
	uint32_t list;

	(void)state;
	memset(one, 0x11, sizeof(one));
	memset(two, 0x22, sizeof(two));
	make_aout(img, sizeof(img));
	assert_int_equal(multiboot_load(&mem, img, sizeof(img), &opts, &info), 0);
	assert_int_equal(ram32(info.ebx) & 0x8, 0x8);
	assert_int_equal(ram32(info.ebx + 20), 2);
	list = ram32(info.ebx + 24);
	assert_int_equal(ram32(list), 0x101000);
	assert_int_equal(ram32(list + 4), 0x101000 + sizeof(one));
	assert_memory_equal(ram + 0x101000, one, sizeof(one));
	assert_string_equal((const char *)ram + ram32(list + 8), "one.bin first=1");
	assert_int_equal(ram32(list + 16), 0x103000);
	assert_memory_equal(ram + 0x103000, two, sizeof(two));
	assert_string_equal((const char *)ram + ram32(list + 24), "two.bin");
	assert_int_equal(info.ebx, 0x104000);
	assert_string_equal((const char *)ram + ram32(info.ebx + 16), "k a b");

	/* A module that does not fit in RAM is named. */
	mods[1].image.size = RAM_SIZE;
	assert_int_equal(multiboot_load(&mem, img, sizeof(img), &opts, &info), -E2BIG);
	assert_err_mentions("Multiboot module 2");
}

static void test_detected_automatically(void **state)
{
	uint8_t img[512];
	struct boot_image image = { img, sizeof(img) };
	struct boot_options opts = { .format = BOOT_FORMAT_AUTO };
	struct boot_info info;

	(void)state;
	make_aout(img, sizeof(img));
	assert_int_equal(boot_load_image(&mem, &image, &opts, &info), 0);
	assert_int_equal(info.format, BOOT_FORMAT_MULTIBOOT);
	/* Modules are Multiboot's alone. */
	opts.format = BOOT_FORMAT_RAW;
	opts.has_load_addr = true;
	opts.load_addr = 0x8000;
	opts.nr_modules = 1;
	opts.modules = &(struct boot_module){ { img, 1 }, "m" };
	assert_int_equal(boot_load_image(&mem, &image, &opts, &info), -EINVAL);
	assert_err_mentions("--module");
}

static void test_bad_multiboot_headers(void **state)
{
	static const char *const words[] = {
		"no Multiboot header",	/* bad checksum */
		"features hopvm lacks",
		"does not match load_addr",
		"past the end of the file",
		"below load_end_addr",
		"entry",
		"does not fit in guest RAM",
		"firmware area",
		"neither ELF",
	};
	(void)state;
	for (unsigned i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		uint8_t img[512];
		uint32_t h[8];
		struct boot_info info;

		make_aout(img, sizeof(img));
		memcpy(h, img + 16, sizeof(h));
		switch (i) {
		case 0: h[2]++; break;
		case 1: h[1] |= 0x8; break;
		case 2: h[3] = 0x200000; break;
		case 3: h[5] = 0x100400; break;
		case 4: h[6] = 0x1000ff; break;
		case 5: h[7] = 0x100200; break;
		case 6: h[6] = 0x10000000; break;
		case 7: h[3] = 0xf0010; h[4] = 0xf0000; h[5] = 0xf0100; h[6] = 0; h[7] = 0xf0040;
			break;
		case 8: h[1] = 0; break;
		}
		if (i != 0)
			h[2] = -(h[0] + h[1]);
		memcpy(img + 16, h, sizeof(h));
		err_clear();
		assert_true(multiboot_load(&mem, img, sizeof(img), &(struct boot_options){ 0 },
					   &info) < 0);
		if (strstr(err_msg(), words[i]) == NULL)
			fail_msg("case %u: \"%s\" lacks \"%s\"", i, err_msg(), words[i]);
	}
}

static void test_elf32_multiboot(void **state)
{
	struct {
		Elf32_Ehdr eh;
		Elf32_Phdr ph;
		uint32_t header[3];
		uint8_t code[32];
	} img;
	struct boot_info info;

	(void)state;
	memset(&img, 0, sizeof(img));
	memcpy(img.eh.e_ident, ELFMAG, SELFMAG);
	img.eh.e_ident[EI_CLASS] = ELFCLASS32;
	img.eh.e_ident[EI_DATA] = ELFDATA2LSB;
	img.eh.e_type = ET_EXEC;
	img.eh.e_machine = EM_386;
	img.eh.e_entry = 0xc0100004;	/* virtual: must become physical */
	img.eh.e_phoff = sizeof(img.eh);
	img.eh.e_phentsize = sizeof(Elf32_Phdr);
	img.eh.e_phnum = 1;
	img.ph.p_type = PT_LOAD;
	img.ph.p_offset = offsetof(__typeof__(img), code);
	img.ph.p_vaddr = 0xc0100000;
	img.ph.p_paddr = 0x100000;
	img.ph.p_filesz = sizeof(img.code);
	img.ph.p_memsz = 64;
	img.header[0] = MB_MAGIC;
	img.header[2] = -MB_MAGIC;
	memset(img.code, 0xf4, sizeof(img.code));
	assert_int_equal(multiboot_load(&mem, (uint8_t *)&img, sizeof(img),
					&(struct boot_options){ 0 }, &info), 0);
	assert_int_equal(info.entry, 0x100004);
	assert_int_equal(ram[0x100000], 0xf4);
	assert_int_equal(ram[0x100020], 0);
	img.eh.e_ident[EI_CLASS] = ELFCLASS64;
	assert_true(multiboot_load(&mem, (uint8_t *)&img, sizeof(img),
				   &(struct boot_options){ 0 }, &info) < 0);
	assert_err_mentions("ELF64");
}

static void test_multiboot_cmdline_limit(void **state)
{
	static char huge[0x10000];
	uint8_t img[512];
	struct boot_info info;
	struct boot_options opts = { .image_name = "k", .cmdline = huge };

	(void)state;
	memset(huge, 'a', sizeof(huge) - 3);
	make_aout(img, sizeof(img));
	/* "k " and 0xfffd bytes with the NUL: exactly the limit. */
	assert_int_equal(multiboot_load(&mem, img, sizeof(img), &opts, &info), 0);
	huge[sizeof(huge) - 3] = 'a';
	assert_int_equal(multiboot_load(&mem, img, sizeof(img), &opts, &info), -E2BIG);
	assert_err_mentions("command line");
}

static void test_raw(void **state)
{
	uint8_t code[4] = { 0xfa, 0xf4, 0xeb, 0xfe };
	struct boot_image image = { code, sizeof(code) };
	struct boot_options opts = { .format = BOOT_FORMAT_RAW, .load_addr = 0x7c00,
				     .has_load_addr = true };
	struct boot_info info;

	(void)state;
	assert_int_equal(boot_load_image(&mem, &image, &opts, &info), 0);
	assert_int_equal(info.mode, BOOT_CPU_REAL);
	assert_int_equal(info.real_cs, 0);
	assert_int_equal(info.entry, 0x7c00);
	assert_memory_equal(ram + 0x7c00, code, 4);
	assert_int_equal(raw_load(&mem, code, 4, 0x12345, &info), 0);
	assert_int_equal(info.real_cs, 0x1000);
	assert_int_equal(raw_load(&mem, code, 4, 0x100000, &info), -EINVAL);
	assert_int_equal(raw_load(&mem, code, 4, 0xefffe, &info), -ENOEXEC);
	assert_err_mentions("firmware area");
	opts.has_load_addr = false;
	assert_int_equal(boot_load_image(&mem, &image, &opts, &info), -EINVAL);
	assert_err_mentions("--load-addr");
}

static void test_format_names(void **state)
{
	enum boot_format f;

	(void)state;
	assert_int_equal(boot_parse_format("multiboot", &f), 0);
	assert_int_equal(f, BOOT_FORMAT_MULTIBOOT);
	assert_string_equal(boot_format_name(BOOT_FORMAT_RAW), "raw");
	assert_int_equal(boot_parse_format("bzimage2", &f), -EINVAL);
	assert_err_mentions("unknown image format");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_aout_kludge, setup),
		cmocka_unit_test_setup(test_detected_automatically, setup),
		cmocka_unit_test_setup(test_low_segment, setup),
		cmocka_unit_test_setup(test_modules, setup),
		cmocka_unit_test_setup(test_bad_multiboot_headers, setup),
		cmocka_unit_test_setup(test_elf32_multiboot, setup),
		cmocka_unit_test_setup(test_multiboot_cmdline_limit, setup),
		cmocka_unit_test_setup(test_raw, setup),
		cmocka_unit_test_setup(test_format_names, setup),
	};
	return cmocka_run_group_tests_name("multiboot_raw", tests, NULL, NULL);
}
