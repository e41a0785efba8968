/* The Linux bzImage loader, fed crafted setup headers. */
#include <errno.h>
#include <unistd.h>

#include "hopvm/boot.h"
#include "hopvm/error.h"
#include "unit.h"

#define RAM_SIZE (8U << 20)
#define SETUP_SECTS 4
#define SETUP_SIZE ((SETUP_SECTS + 1) * 512)
#define KERNEL_SIZE 8192
#define IMAGE_SIZE (SETUP_SIZE + KERNEL_SIZE)

static uint8_t ram[RAM_SIZE];
static uint8_t img[IMAGE_SIZE];
static struct guest_mem mem;

static void put(size_t off, uint32_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		img[off + i] = (uint8_t)(v >> (8 * i));
}

static uint32_t ram_get(uint64_t gpa, unsigned bytes)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v |= (uint32_t)ram[gpa + i] << (8 * i);
	return v;
}

/* A protocol 2.15 64-bit kernel that decompresses in place at 1 MiB into 64 KiB. */
static int setup(void **state)
{
	(void)state;
	memset(ram, 0xcc, sizeof(ram));
	guest_mem_init_buffer(&mem, ram, sizeof(ram));
	memset(img, 0, sizeof(img));
	img[0x1f1] = SETUP_SECTS;
	put(0x1f4, KERNEL_SIZE / 16, 4);
	put(0x1fe, 0xaa55, 2);
	img[0x200] = 0xeb;
	img[0x201] = 0x6a;	/* the jump over the header: it ends at 0x26c */
	memcpy(img + 0x202, "HdrS", 4);
	put(0x206, 0x020f, 2);
	img[0x211] = 0x01;	/* LOADED_HIGH */
	put(0x22c, 0x7fffffff, 4);	/* initrd_addr_max */
	put(0x236, 0x0003, 2);	/* XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G */
	put(0x238, 2047, 4);	/* cmdline_size */
	put(0x258, 0x100000, 4);	/* pref_address */
	put(0x260, 0x10000, 4);	/* init_size */
	for (size_t i = SETUP_SIZE; i < IMAGE_SIZE; i++)
		img[i] = (uint8_t)i;
	err_clear();
	return 0;
}

static void test_loads_64bit_kernel(void **state)
{
	uint8_t initrd_data[5000];
	struct boot_image initrd = { initrd_data, sizeof(initrd_data) };
	struct boot_info info = { 0 };
	uint32_t initrd_addr;

	(void)state;
	memset(initrd_data, 0x5a, sizeof(initrd_data));
	assert_int_equal(bzimage_load(&mem, img, sizeof(img), &initrd, "console=ttyS0", &info), 0);
	assert_int_equal(info.mode, BOOT_CPU_LONG);
	assert_int_equal(info.entry, 0x100200);
	assert_int_equal(info.rsi, BZIMAGE_ZERO_PAGE_ADDR);
	assert_memory_equal(ram + 0x100000, img + SETUP_SIZE, KERNEL_SIZE);
	assert_string_equal((char *)ram + BZIMAGE_CMDLINE_ADDR, "console=ttyS0");

	/* The zero page: the image's header, and what the loader filled in. */
	assert_memory_equal(ram + BZIMAGE_ZERO_PAGE_ADDR + 0x202, "HdrS", 4);
	assert_int_equal(ram_get(BZIMAGE_ZERO_PAGE_ADDR + 0x206, 2), 0x020f);
	assert_int_equal(ram[BZIMAGE_ZERO_PAGE_ADDR + 0x210], 0xff);	/* type_of_loader */
	assert_int_equal(ram_get(BZIMAGE_ZERO_PAGE_ADDR + 0x228, 4), BZIMAGE_CMDLINE_ADDR);
	assert_int_equal(ram_get(BZIMAGE_ZERO_PAGE_ADDR + 0x21c, 4), sizeof(initrd_data));
	assert_int_equal(ram[BZIMAGE_ZERO_PAGE_ADDR + 0x26c], 0);	/* past the header */
	initrd_addr = ram_get(BZIMAGE_ZERO_PAGE_ADDR + 0x218, 4);
	/* As high as it goes: the last whole pages of RAM. */
	assert_int_equal(initrd_addr, (RAM_SIZE - sizeof(initrd_data)) & ~0xfffU);
	assert_memory_equal(ram + initrd_addr, initrd_data, sizeof(initrd_data));

	/* E820: RAM to 640 KiB, the firmware area reserved, RAM from 1 MiB to the end. */
	assert_int_equal(ram[BZIMAGE_ZERO_PAGE_ADDR + 0x1e8], 3);
	assert_int_equal(ram_get(BZIMAGE_ZERO_PAGE_ADDR + 0x2d0 + 8, 4), 0xa0000);
	assert_int_equal(ram_get(BZIMAGE_ZERO_PAGE_ADDR + 0x2d0 + 16, 4), 1);
	assert_int_equal(ram_get(BZIMAGE_ZERO_PAGE_ADDR + 0x2d0 + 20 + 16, 4), 2);
	assert_int_equal(ram_get(BZIMAGE_ZERO_PAGE_ADDR + 0x2d0 + 40, 4), 0x100000);
	assert_int_equal(ram_get(BZIMAGE_ZERO_PAGE_ADDR + 0x2d0 + 48, 4), RAM_SIZE - 0x100000);
}

static void test_initrd_under_its_limit(void **state)
{
	uint8_t initrd_data[4096];
	struct boot_image initrd = { initrd_data, sizeof(initrd_data) };
	struct boot_info info = { 0 };

	(void)state;
	put(0x22c, 0x3fffff, 4);	/* initrd_addr_max: 4 MiB - 1 */
	assert_int_equal(bzimage_load(&mem, img, sizeof(img), &initrd, "", &info), 0);
	assert_int_equal(ram_get(BZIMAGE_ZERO_PAGE_ADDR + 0x218, 4), 0x3ff000);
}

static void test_initrd_too_big(void **state)
{
	static uint8_t initrd_data[RAM_SIZE - 0x100000];
	struct boot_image initrd = { initrd_data, sizeof(initrd_data) };
	struct boot_info info = { 0 };

	(void)state;
	assert_int_equal(bzimage_load(&mem, img, sizeof(img), &initrd, "", &info), -E2BIG);
	assert_err_mentions("initrd of");
	assert_err_mentions("--mem");
}

static void test_kernel_needs_more_ram(void **state)
{
	struct boot_info info = { 0 };

	(void)state;
	put(0x258, 0x1000000, 4);	/* decompresses at 16 MiB, past this 8 MiB guest */
	assert_int_equal(bzimage_load(&mem, img, sizeof(img), NULL, "", &info), -E2BIG);
	assert_err_mentions("decompresses");
	assert_err_mentions("--mem");
}

static void test_cmdline_limit(void **state)
{
	struct boot_info info = { 0 };

	(void)state;
	put(0x238, 10, 4);
	assert_int_equal(bzimage_load(&mem, img, sizeof(img), NULL, "0123456789", &info), 0);
	assert_int_equal(bzimage_load(&mem, img, sizeof(img), NULL, "0123456789a", &info),
			 -E2BIG);
	assert_err_mentions("limit of 10");
}

static void test_32bit_entry(void **state)
{
	struct boot_info info = { 0 };

	(void)state;
	put(0x236, 0, 2);
	assert_int_equal(bzimage_load(&mem, img, sizeof(img), NULL, "", &info), 0);
	assert_int_equal(info.mode, BOOT_CPU_PROTECTED);
	assert_int_equal(info.entry, 0x100000);
	assert_int_equal(info.rsi, BZIMAGE_ZERO_PAGE_ADDR);
}

static void expect_malformed(const char *what)
{
	struct bzimage_header hdr;

	assert_int_equal(bzimage_parse(img, sizeof(img), &hdr), -ENOEXEC);
	assert_err_mentions(what);
	setup(NULL);
}

static void test_malformed_headers(void **state)
{
	struct bzimage_header hdr;

	(void)state;
	assert_int_equal(bzimage_parse(img, 0x200, &hdr), -ENOEXEC);
	assert_err_mentions("too small");
	put(0x1fe, 0x1234, 2);
	expect_malformed("not a Linux bzImage");
	memcpy(img + 0x202, "HdrX", 4);
	expect_malformed("not a Linux bzImage");
	put(0x206, 0x0205, 2);
	expect_malformed("2.05 is older than 2.06");
	img[0x211] = 0;
	expect_malformed("zImage");
	put(0x1f4, KERNEL_SIZE / 16 + 1, 4);
	expect_malformed("truncated");
	img[0x201] = 0xff;
	expect_malformed("setup header ends at");
	img[0x1f1] = 60;	/* 61 sectors of setup: more than the file */
	expect_malformed("no kernel follows");
}

static void test_detect_and_format(void **state)
{
	struct boot_image image = { img, sizeof(img) };
	struct boot_options opts = { .format = BOOT_FORMAT_AUTO };
	struct boot_info info;
	enum boot_format f;

	(void)state;
	assert_true(bzimage_detect(img, sizeof(img)));
	assert_int_equal(boot_load_image(&mem, &image, &opts, &info), 0);
	assert_int_equal(info.format, BOOT_FORMAT_LINUX);
	assert_string_equal((char *)ram + BZIMAGE_CMDLINE_ADDR, BZIMAGE_DEFAULT_CMDLINE);
	assert_int_equal(boot_parse_format("linux", &f), 0);
	assert_int_equal(f, BOOT_FORMAT_LINUX);

	/* An initrd with anything but Linux is a mistake worth naming. */
	opts.initrd = &image;
	opts.format = BOOT_FORMAT_ELF64;
	assert_int_equal(boot_load_image(&mem, &image, &opts, &info), -EINVAL);
	assert_err_mentions("--initrd applies to Linux kernels only");
}

/* The version string sits in the setup code, kernel_version + 0x200 into the file. */
static void put_version(const char *text)
{
	put(0x20e, 0x300, 2);
	memcpy(img + 0x500, text, strlen(text) + 1);
}

static void expect_bad_version(int err, const char *what)
{
	char out[64];

	assert_int_equal(bzimage_kernel_version(img, sizeof(img), out, sizeof(out)), err);
	assert_err_mentions(what);
	setup(NULL);
}

static void test_kernel_version(void **state)
{
	char out[64];

	(void)state;
	put_version("6.1.0-57-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC");
	assert_int_equal(bzimage_kernel_version(img, sizeof(img), out, sizeof(out)), 0);
	assert_string_equal(out, "6.1.0-57-amd64");
	/* A string of one word is the release itself; it must fit with its NUL. */
	put_version("6.9.0-rc1");
	assert_int_equal(bzimage_kernel_version(img, sizeof(img), out, 10), 0);
	assert_string_equal(out, "6.9.0-rc1");
	assert_int_equal(bzimage_kernel_version(img, sizeof(img), out, 9), -ERANGE);
	assert_err_mentions("'6.9.0-rc1' is longer than 8 bytes");
}

static void test_kernel_version_malformed(void **state)
{
	char out[64];

	(void)state;
	put(0x1fe, 0, 2);
	expect_bad_version(-ENOEXEC, "not a Linux bzImage");
	assert_int_equal(bzimage_kernel_version(img, 0x100, out, sizeof(out)), -ENOEXEC);
	assert_err_mentions("not a Linux bzImage");
	expect_bad_version(-ENOEXEC, "kernel_version is 0");
	put(0x20e, IMAGE_SIZE - 0x200, 2);
	expect_bad_version(-ENOEXEC, "past the end");
	/* Running to the end of the file without a NUL, then 512 bytes without one. */
	put(0x20e, IMAGE_SIZE - 0x200 - 4, 2);
	memset(img + IMAGE_SIZE - 4, 'a', 4);
	expect_bad_version(-ENOEXEC, "no NUL within 4 bytes");
	put(0x20e, 0x300, 2);
	memset(img + 0x500, 'a', 600);
	expect_bad_version(-ENOEXEC, "no NUL within 512 bytes");
	put_version("");
	expect_bad_version(-ENOEXEC, "is empty");
	put_version(" 6.1.0");
	expect_bad_version(-ENOEXEC, "is empty");
	put_version("6.1.0\x01 x");
	expect_bad_version(-ENOEXEC, "non-printable byte 0x01 at 5");
	put_version("6.1.0\xc3\xa9");
	expect_bad_version(-ENOEXEC, "non-printable byte 0xc3");
}

/* The kernel the boot tests use, when it is there. */
static void test_kernel_version_real_image(void **state)
{
	static const char path[] = "/var/cache/hopvm/kernel/boot/vmlinuz-6.1.0-57-amd64";
	struct boot_image image;
	char out[64];

	(void)state;
	if (access(path, R_OK) != 0)
		skip();
	assert_int_equal(boot_image_read(path, &image), 0);
	assert_int_equal(bzimage_kernel_version(image.data, image.size, out, sizeof(out)), 0);
	boot_image_free(&image);
	assert_string_equal(out, "6.1.0-57-amd64");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_loads_64bit_kernel, setup),
		cmocka_unit_test_setup(test_initrd_under_its_limit, setup),
		cmocka_unit_test_setup(test_initrd_too_big, setup),
		cmocka_unit_test_setup(test_kernel_needs_more_ram, setup),
		cmocka_unit_test_setup(test_cmdline_limit, setup),
		cmocka_unit_test_setup(test_32bit_entry, setup),
		cmocka_unit_test_setup(test_malformed_headers, setup),
		cmocka_unit_test_setup(test_detect_and_format, setup),
		cmocka_unit_test_setup(test_kernel_version, setup),
		cmocka_unit_test_setup(test_kernel_version_malformed, setup),
		cmocka_unit_test(test_kernel_version_real_image),
	};
	return cmocka_run_group_tests_name("bzimage", tests, NULL, NULL);
}
