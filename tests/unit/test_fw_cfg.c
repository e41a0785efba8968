/* QEMU's fw_cfg device driven as kvm-unit-tests, SeaBIOS and Linux drive it: the selector and
 * data ports, the file directory, DMA into a heap buffer used as guest RAM; its migration
 * state; and --fw-cfg's parser. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hopvm/e820.h"
#include "hopvm/error.h"
#include "hopvm/fw_cfg.h"
#include "hopvm/le.h"
#include "unit.h"

#define RAM_SIZE (2u << 20)
#define ACCESS_GPA 0x1000ULL	/* where the tests put their FWCfgDmaAccess */
#define BUF_GPA 0x2000ULL

struct rig {
	uint8_t *ram;
	struct guest_mem mem;
	struct fw_cfg fw;
};

static void rig_up(struct rig *r, unsigned nr_cpus)
{
	r->ram = calloc(1, RAM_SIZE);
	assert_non_null(r->ram);
	guest_mem_init_buffer(&r->mem, r->ram, RAM_SIZE);
	assert_int_equal(fw_cfg_init(&r->fw, &r->mem, nr_cpus), 0);
}

static void rig_down(struct rig *r)
{
	fw_cfg_destroy(&r->fw);
	guest_mem_free(&r->mem);
	free(r->ram);
}

static void select_item(struct fw_cfg *fw, uint16_t key)
{
	uint8_t b[2];

	le16_put(b, key);
	assert_int_equal(fw_cfg_write(fw, FW_CFG_SELECTOR_OFFSET, b, 2), 0);
}

static void read_data(struct fw_cfg *fw, void *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(fw_cfg_read(fw, FW_CFG_DATA_OFFSET, (uint8_t *)out + i, 1), 0);
}

static uint64_t read_le(struct fw_cfg *fw, uint16_t key, unsigned bytes)
{
	uint8_t b[8] = { 0 };

	select_item(fw, key);
	read_data(fw, b, bytes);
	return le64_get(b);
}

static uint32_t be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void put_be32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* The directory read through the data port, as a guest walks it: the key of name, and its
 * size, or 0 if it is not there. */
static uint16_t find_file(struct fw_cfg *fw, const char *name, uint32_t *size)
{
	uint8_t count[4], e[FW_CFG_FILE_ENTRY_SIZE];
	uint16_t key = 0;

	select_item(fw, FW_CFG_FILE_DIR);
	read_data(fw, count, 4);
	for (uint32_t i = 0; i < be32(count); i++) {
		read_data(fw, e, sizeof(e));
		if (strcmp((const char *)e + 8, name) == 0) {
			key = (uint16_t)(e[4] << 8 | e[5]);
			*size = be32(e);
		}
	}
	return key;
}

static void test_ports(void **state)
{
	struct rig r;
	uint8_t b[8];

	(void)state;
	rig_up(&r, 4);
	/* Powered on with the signature selected, as QEMU's reset leaves it. */
	read_data(&r.fw, b, 4);
	assert_memory_equal(b, "QEMU", 4);
	/* Past the end the data port reads 0. */
	read_data(&r.fw, b, 2);
	assert_int_equal(b[0], 0);
	assert_int_equal(b[1], 0);
	/* A byte read at the selector port reads data too (QEMU's combined port). */
	select_item(&r.fw, FW_CFG_SIGNATURE);
	assert_int_equal(fw_cfg_read(&r.fw, FW_CFG_SELECTOR_OFFSET, b, 1), 0);
	assert_int_equal(b[0], 'Q');
	assert_int_equal(read_le(&r.fw, FW_CFG_ID, 4), FW_CFG_VERSION | FW_CFG_VERSION_DMA);
	assert_int_equal(read_le(&r.fw, FW_CFG_NB_CPUS, 2), 4);
	assert_int_equal(read_le(&r.fw, FW_CFG_MAX_CPUS, 2), 4);
	assert_int_equal(read_le(&r.fw, FW_CFG_RAM_SIZE, 8), RAM_SIZE);
	assert_int_equal(read_le(&r.fw, FW_CFG_NOGRAPHIC, 2), 1);
	assert_int_equal(read_le(&r.fw, FW_CFG_BOOT_MENU, 2), 0);
	/* NUMA without nodes: a zero count, then a zero per CPU. */
	select_item(&r.fw, FW_CFG_NUMA);
	for (unsigned i = 0; i < 5 * 8; i++) {
		read_data(&r.fw, b, 1);
		assert_int_equal(b[0], 0);
	}
	/* The write channel bit reads the same item. */
	assert_int_equal(read_le(&r.fw, FW_CFG_WRITE_CHANNEL | FW_CFG_NB_CPUS, 2), 4);
	/* kvm-unit-tests without fw_cfg read 0xffff here; an unknown key reads 0 instead. */
	assert_int_equal(read_le(&r.fw, 0x1234, 2), 0);
	assert_int_equal(read_le(&r.fw, 0x8000, 4), 0);
	assert_int_equal(r.fw.selector, FW_CFG_INVALID);

	/* The DMA register reads "QEMU CFG", most significant byte first, in any width. */
	assert_int_equal(fw_cfg_read(&r.fw, FW_CFG_DMA_OFFSET, b, 4), 0);
	assert_int_equal(fw_cfg_read(&r.fw, FW_CFG_DMA_OFFSET + 4, b + 4, 4), 0);
	assert_memory_equal(b, "QEMU CFG", 8);
	assert_int_equal(fw_cfg_read(&r.fw, FW_CFG_DMA_OFFSET + 7, b, 1), 0);
	assert_int_equal(b[0], 'G');

	/* Data writes are ignored; what the ports do not have is refused. */
	select_item(&r.fw, FW_CFG_NB_CPUS);
	b[0] = 9;
	assert_int_equal(fw_cfg_write(&r.fw, FW_CFG_DATA_OFFSET, b, 1), 0);
	assert_int_equal(read_le(&r.fw, FW_CFG_NB_CPUS, 2), 4);
	assert_int_equal(fw_cfg_read(&r.fw, FW_CFG_SELECTOR_OFFSET, b, 2), -EINVAL);
	assert_int_equal(fw_cfg_read(&r.fw, 2, b, 1), -EINVAL);
	assert_int_equal(fw_cfg_write(&r.fw, 3, b, 1), -EINVAL);
	assert_int_equal(fw_cfg_write(&r.fw, FW_CFG_DATA_OFFSET, b, 2), -EINVAL);
	assert_int_equal(fw_cfg_write(&r.fw, FW_CFG_SELECTOR_OFFSET, b, 4), -EINVAL);
	assert_int_equal(fw_cfg_write(&r.fw, FW_CFG_DMA_OFFSET + 2, b, 4), -EINVAL);
	assert_int_equal(fw_cfg_write(&r.fw, FW_CFG_DMA_OFFSET, b, 2), -EINVAL);
	assert_int_equal(fw_cfg_read(&r.fw, FW_CFG_DMA_OFFSET + 6, b, 4), -EINVAL);
	rig_down(&r);
}

static void test_file_directory(void **state)
{
	struct rig r;
	struct e820_entry map[E820_MAX_ENTRIES];
	uint8_t count[4], e[FW_CFG_FILE_ENTRY_SIZE], b[64];
	const char *order[] = { "A", "bootorder", "etc/boot-fail-wait", "etc/e820", "opt/a",
				"opt/b", "zz" };
	char long_name[FW_CFG_MAX_NAME + 2];
	uint32_t size = 0;
	uint16_t key;
	unsigned n;

	(void)state;
	rig_up(&r, 1);
	assert_int_equal(fw_cfg_add_file(&r.fw, "opt/b", "bee", 3), 0);
	assert_int_equal(fw_cfg_add_file(&r.fw, "zz", "last", 4), 0);
	assert_int_equal(fw_cfg_add_file(&r.fw, "opt/a", "ay", 2), 0);
	assert_int_equal(fw_cfg_add_file(&r.fw, "A", "", 0), 0);

	/* Sorted by name, keys from 0x20 in that order, as QEMU lays them out. */
	select_item(&r.fw, FW_CFG_FILE_DIR);
	read_data(&r.fw, count, 4);
	assert_int_equal(be32(count), 7);
	for (unsigned i = 0; i < 7; i++) {
		read_data(&r.fw, e, sizeof(e));
		assert_string_equal((const char *)e + 8, order[i]);
		assert_int_equal(e[4] << 8 | e[5], FW_CFG_FILE_FIRST + i);
	}
	read_data(&r.fw, b, 1);
	assert_int_equal(b[0], 0);

	key = find_file(&r.fw, "opt/b", &size);
	assert_int_equal(size, 3);
	select_item(&r.fw, key);
	read_data(&r.fw, b, 4);
	assert_memory_equal(b, "bee\0", 4);
	key = find_file(&r.fw, "zz", &size);
	assert_int_equal(size, 4);
	select_item(&r.fw, key);
	read_data(&r.fw, b, 4);
	assert_memory_equal(b, "last", 4);
	assert_int_not_equal(find_file(&r.fw, "bootorder", &size), 0);
	assert_int_equal(size, 0);
	key = find_file(&r.fw, "etc/boot-fail-wait", &size);
	assert_int_equal(size, 4);
	assert_int_equal(read_le(&r.fw, key, 4), UINT32_MAX);
	assert_int_equal(find_file(&r.fw, "opt/none", &size), 0);

	/* etc/e820 is hopvm's RAM map, in QEMU's 20-byte entries. */
	n = e820_build(&r.mem, map);
	key = find_file(&r.fw, "etc/e820", &size);
	assert_int_equal(size, n * 20);
	select_item(&r.fw, key);
	for (unsigned i = 0; i < n; i++) {
		read_data(&r.fw, b, 20);
		assert_int_equal(le64_get(b), map[i].addr);
		assert_int_equal(le64_get(b + 8), map[i].size);
		assert_int_equal(le32_get(b + 16), map[i].type);
	}
	assert_true(n >= 2);
	assert_int_equal(le64_get(b) + le64_get(b + 8), RAM_SIZE);

	assert_int_equal(fw_cfg_add_file(&r.fw, "opt/a", "x", 1), -EEXIST);
	assert_err_mentions("opt/a");
	assert_int_equal(fw_cfg_add_file(&r.fw, "etc/e820", "x", 1), -EEXIST);
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(fw_cfg_add_file(&r.fw, long_name, "x", 1), -EINVAL);
	long_name[FW_CFG_MAX_NAME] = '\0';
	assert_int_equal(fw_cfg_add_file(&r.fw, long_name, "x", 1), 0);
	assert_int_not_equal(find_file(&r.fw, long_name, &size), 0);
	assert_int_equal(fw_cfg_add_file(&r.fw, "", "x", 1), -EINVAL);
	for (unsigned i = 8; i < FW_CFG_MAX_FILES; i++) {
		snprintf((char *)b, sizeof(b), "opt/fill/%u", i);
		assert_int_equal(fw_cfg_add_file(&r.fw, (const char *)b, "x", 1), 0);
	}
	assert_int_equal(fw_cfg_add_file(&r.fw, "opt/one-too-many", "x", 1), -ENOSPC);
	rig_down(&r);
}

/* Writes a FWCfgDmaAccess at ACCESS_GPA and starts it with the low half alone, as a guest
 * with 32-bit addresses does; returns the control field the device left.  A failed transfer
 * is also a refused write (-EFAULT, or -EPERM for a DMA write), with a message. */
static uint32_t dma(struct rig *r, uint32_t control, uint32_t length, uint64_t addr)
{
	uint8_t *a = r->ram + ACCESS_GPA, low[4];
	int ret;

	put_be32(a, control);
	put_be32(a + 4, length);
	put_be32(a + 8, (uint32_t)(addr >> 32));
	put_be32(a + 12, (uint32_t)addr);
	put_be32(low, (uint32_t)ACCESS_GPA);
	err_clear();
	ret = fw_cfg_write(&r->fw, FW_CFG_DMA_OFFSET + 4, low, 4);
	if (be32(a) == 0) {
		assert_int_equal(ret, 0);
	} else {
		assert_int_equal(ret, (control & FW_CFG_DMA_CTL_READ) ? -EFAULT : -EPERM);
		assert_non_null(strstr(err_msg(), "fw-cfg: a DMA "));
	}
	return be32(a);
}

static void test_dma(void **state)
{
	struct rig r;
	uint8_t *buf, word[4];
	uint64_t dirty[RAM_SIZE / 4096 / 64] = { 0 };
	uint32_t size = 0;
	uint16_t key;

	(void)state;
	rig_up(&r, 2);
	buf = r.ram + BUF_GPA;
	assert_int_equal(fw_cfg_add_file(&r.fw, "opt/hopvm/test", "hello, fw_cfg", 13), 0);
	assert_int_equal(guest_mem_dirty_log_start(&r.mem), 0);

	/* Select and read in one go; the write reaches hopvm's dirty log. */
	assert_int_equal(dma(&r, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT |
			     FW_CFG_DMA_CTL_READ, 4, BUF_GPA), 0);
	assert_memory_equal(buf, "QEMU", 4);
	guest_mem_dirty_collect(&r.mem, 0, dirty);
	assert_true(dirty[0] & (1ULL << (BUF_GPA / 4096)));
	guest_mem_dirty_log_stop(&r.mem);

	/* Without SELECT a read goes on from the offset the last one left. */
	assert_int_equal(dma(&r, FW_CFG_NB_CPUS << 16 | FW_CFG_DMA_CTL_SELECT |
			     FW_CFG_DMA_CTL_READ, 1, BUF_GPA), 0);
	assert_int_equal(dma(&r, FW_CFG_DMA_CTL_READ, 1, BUF_GPA + 1), 0);
	assert_int_equal(le16_get(buf), 2);

	/* Skip, then read past the end: the rest of the buffer is zeroed, as QEMU does. */
	key = find_file(&r.fw, "opt/hopvm/test", &size);
	assert_int_equal(size, 13);
	memset(buf, 0xaa, 32);
	assert_int_equal(dma(&r, (uint32_t)key << 16 | FW_CFG_DMA_CTL_SELECT |
			     FW_CFG_DMA_CTL_SKIP, 7, BUF_GPA), 0);
	assert_int_equal(buf[0], 0xaa);	/* a skip writes nothing */
	assert_int_equal(dma(&r, FW_CFG_DMA_CTL_READ, 16, BUF_GPA), 0);
	assert_memory_equal(buf, "fw_cfg\0\0\0\0\0\0\0\0\0\0", 16);
	assert_int_equal(buf[16], 0xaa);
	/* SELECT alone moves nothing and rewinds the item. */
	assert_int_equal(dma(&r, (uint32_t)key << 16 | FW_CFG_DMA_CTL_SELECT, 100, BUF_GPA), 0);
	read_data(&r.fw, word, 4);
	assert_memory_equal(word, "hell", 4);

	/* Every item is read-only: a write is an error and changes nothing, though the offset
	 * moves on as in QEMU. */
	memcpy(buf, "XXXX", 4);
	assert_int_equal(dma(&r, (uint32_t)key << 16 | FW_CFG_DMA_CTL_SELECT |
			     FW_CFG_DMA_CTL_WRITE, 4, BUF_GPA), FW_CFG_DMA_CTL_ERROR);
	read_data(&r.fw, word, 4);
	assert_memory_equal(word, "o, f", 4);
	select_item(&r.fw, key);
	read_data(&r.fw, word, 4);
	assert_memory_equal(word, "hell", 4);

	/* A buffer leaving RAM, or wrapping around, is an error, never a wild pointer. */
	assert_int_equal(dma(&r, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT |
			     FW_CFG_DMA_CTL_READ, 4, RAM_SIZE - 2), FW_CFG_DMA_CTL_ERROR);
	assert_int_equal(dma(&r, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT |
			     FW_CFG_DMA_CTL_READ, 4, UINT64_MAX - 1), FW_CFG_DMA_CTL_ERROR);
	assert_int_equal(dma(&r, 0x4321u << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ,
			     8, UINT64_MAX - 3), FW_CFG_DMA_CTL_ERROR);

	/* The control structure itself outside RAM: nothing to write, nothing breaks; half
	 * in RAM: its control field, if in RAM, says ERROR. */
	put_be32(word, 0x10);
	assert_int_equal(fw_cfg_write(&r.fw, FW_CFG_DMA_OFFSET, word, 4), 0);
	assert_int_equal(r.fw.dma_addr, 0x10ULL << 32);
	put_be32(word, 0);
	assert_int_equal(fw_cfg_write(&r.fw, FW_CFG_DMA_OFFSET + 4, word, 4), -EFAULT);
	assert_string_equal(err_msg(), "fw-cfg: a DMA request at 0x1000000000 is not wholly in "
			    "guest RAM");
	assert_int_equal(r.fw.dma_addr, 0);
	put_be32(word, RAM_SIZE - 8);
	assert_int_equal(fw_cfg_write(&r.fw, FW_CFG_DMA_OFFSET + 4, word, 4), -EFAULT);
	assert_int_equal(be32(r.ram + RAM_SIZE - 8), FW_CFG_DMA_CTL_ERROR);
	put_be32(word, RAM_SIZE - 2);
	assert_int_equal(fw_cfg_write(&r.fw, FW_CFG_DMA_OFFSET + 4, word, 4), -EFAULT);

	/* The high half, then the low half: a 64-bit address, here 0 + ACCESS_GPA. */
	put_be32(word, 0);
	assert_int_equal(fw_cfg_write(&r.fw, FW_CFG_DMA_OFFSET, word, 4), 0);
	put_be32(r.ram + ACCESS_GPA, FW_CFG_ID << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ);
	put_be32(r.ram + ACCESS_GPA + 4, 4);
	put_be32(r.ram + ACCESS_GPA + 8, 0);
	put_be32(r.ram + ACCESS_GPA + 12, (uint32_t)BUF_GPA);
	put_be32(word, (uint32_t)ACCESS_GPA);
	assert_int_equal(fw_cfg_write(&r.fw, FW_CFG_DMA_OFFSET + 4, word, 4), 0);
	assert_int_equal(be32(r.ram + ACCESS_GPA), 0);
	assert_int_equal(le32_get(buf), FW_CFG_VERSION | FW_CFG_VERSION_DMA);
	rig_down(&r);
}

static void test_save_load(void **state)
{
	struct rig r, other;
	uint8_t saved[64], copy[64], b[4];
	uint32_t size;
	uint16_t key;
	int n;

	(void)state;
	rig_up(&r, 2);
	assert_int_equal(fw_cfg_add_file(&r.fw, "opt/x", "abcdef", 6), 0);
	key = find_file(&r.fw, "opt/x", &size);
	select_item(&r.fw, key);
	read_data(&r.fw, b, 3);
	put_be32(b, 0x7);
	assert_int_equal(fw_cfg_write(&r.fw, FW_CFG_DMA_OFFSET, b, 4), 0);
	n = fw_cfg_save(&r.fw, saved, sizeof(saved));
	assert_true(n > 0);
	assert_int_equal(fw_cfg_save(&r.fw, saved, 4), -ENOSPC);

	/* Reset selects the signature and forgets the address; loading brings both back. */
	fw_cfg_reset(&r.fw);
	read_data(&r.fw, b, 1);
	assert_int_equal(b[0], 'Q');
	assert_int_equal(r.fw.dma_addr, 0);
	assert_int_equal(fw_cfg_load(&r.fw, saved, (size_t)n), 0);
	assert_int_equal(r.fw.dma_addr, 0x7ULL << 32);
	read_data(&r.fw, b, 3);
	assert_memory_equal(b, "def", 3);

	/* Another machine with the same items takes the state. */
	rig_up(&other, 2);
	assert_int_equal(fw_cfg_add_file(&other.fw, "opt/x", "abcdef", 6), 0);
	assert_int_equal(fw_cfg_load(&other.fw, saved, (size_t)n), 0);
	read_data(&other.fw, b, 1);
	assert_int_equal(b[0], 'd');
	rig_down(&other);

	/* Refused, changing nothing: short, an unknown key, an offset past the item, a low
	 * half of the address, and items that differ. */
	fw_cfg_reset(&r.fw);
	assert_int_equal(fw_cfg_load(&r.fw, saved, (size_t)n - 1), -EINVAL);
	memcpy(copy, saved, (size_t)n);
	le64_put(copy, 0x1234);
	assert_int_equal(fw_cfg_load(&r.fw, copy, (size_t)n), -EINVAL);
	assert_err_mentions("0x1234");
	le64_put(copy, 0x10000);
	assert_int_equal(fw_cfg_load(&r.fw, copy, (size_t)n), -EINVAL);
	memcpy(copy, saved, (size_t)n);
	le64_put(copy + 8, 7);
	assert_int_equal(fw_cfg_load(&r.fw, copy, (size_t)n), -EINVAL);
	assert_err_mentions("past its end");
	le64_put(copy + 8, 6);	/* at the end: every byte read */
	assert_int_equal(fw_cfg_load(&r.fw, copy, (size_t)n), 0);
	fw_cfg_reset(&r.fw);
	memcpy(copy, saved, (size_t)n);
	le64_put(copy, FW_CFG_INVALID);
	assert_int_equal(fw_cfg_load(&r.fw, copy, (size_t)n), -EINVAL);
	le64_put(copy + 8, 0);
	assert_int_equal(fw_cfg_load(&r.fw, copy, (size_t)n), 0);
	fw_cfg_reset(&r.fw);
	memcpy(copy, saved, (size_t)n);
	le64_put(copy + 16, 0x700001000ULL);
	assert_int_equal(fw_cfg_load(&r.fw, copy, (size_t)n), -EINVAL);
	assert_err_mentions("DMA address");
	read_data(&r.fw, b, 1);
	assert_int_equal(b[0], 'Q');

	rig_up(&other, 3);
	assert_int_equal(fw_cfg_add_file(&other.fw, "opt/x", "abcdef", 6), 0);
	assert_int_equal(fw_cfg_load(&other.fw, saved, (size_t)n), -EINVAL);
	assert_err_mentions("--fw-cfg");
	rig_down(&other);
	rig_up(&other, 2);
	assert_int_equal(fw_cfg_add_file(&other.fw, "opt/x", "abcdeF", 6), 0);
	assert_int_equal(fw_cfg_load(&other.fw, saved, (size_t)n), -EINVAL);
	rig_down(&other);
	rig_down(&r);
}

static void free_all(struct fw_cfg_user_file *files, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		fw_cfg_user_file_free(&files[i]);
}

static void test_option_parser(void **state)
{
	struct fw_cfg_user_file files[FW_CFG_MAX_USER_FILES];
	char text[128], path[] = "/tmp/hopvm-test-fw-cfg-XXXXXX";
	unsigned n = 0;
	int fd;

	(void)state;
	assert_int_equal(fw_cfg_user_file_parse(files, &n, "name=opt/a,string=hello"), 0);
	assert_int_equal(n, 1);
	assert_string_equal(files[0].name, "opt/a");
	assert_null(files[0].path);
	assert_int_equal(files[0].size, 5);
	assert_memory_equal(files[0].data, "hello", 5);
	assert_false(files[0].unusual_name);
	assert_int_equal(fw_cfg_user_file_load(&files[0]), 0);	/* nothing to read */
	/* QEMU's forms: "name=" left out, ",," for a comma, and the keys in any order. */
	assert_int_equal(fw_cfg_user_file_parse(files, &n, "opt/b,string=a,,b,,"), 0);
	assert_string_equal(files[1].name, "opt/b");
	assert_int_equal(files[1].size, 4);
	assert_memory_equal(files[1].data, "a,b,", 4);
	assert_int_equal(fw_cfg_user_file_parse(files, &n, "file=/some/where,name=etc/mine"), 0);
	assert_string_equal(files[2].name, "etc/mine");
	assert_string_equal(files[2].path, "/some/where");
	assert_null(files[2].data);
	assert_true(files[2].unusual_name);
	assert_int_equal(n, 3);

	/* Refused, with a message, counting nothing. */
	static const struct {
		const char *text, *says;
	} bad[] = {
		{ "", "no name" },
		{ "string=x", "no name" },
		{ "name=,string=x", "no name" },
		{ "name=opt/c", "exactly one" },
		{ "name=opt/c,file=x,string=y", "exactly one" },
		{ "name=opt/c,string=", "empty" },
		{ "name=opt/c,file=", "empty" },
		{ "name=opt/c,size=3", "'size'" },
		{ "name=opt/c,string=x,oops", "'oops'" },
		{ "name=opt/c,name=opt/d,string=x", "name given twice" },
		{ "opt/c,name=opt/d,string=x", "name given twice" },
		{ "name=opt/a,string=again", "opt/a is given twice" },
		{ "name=bootorder,string=x", "makes itself" },
		{ "name=etc/e820,file=x", "makes itself" },
		{ "name=opt/0123456789012345678901234567890123456789012345678901,string=x",
		  "56 bytes" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear();
		if (fw_cfg_user_file_parse(files, &n, bad[i].text) != -EINVAL)
			fail_msg("'%s' was not refused", bad[i].text);
		assert_err_mentions(bad[i].says);
		assert_int_equal(n, 3);
	}
	/* 55 bytes is still a name. */
	assert_int_equal(fw_cfg_user_file_parse(files, &n, "name=opt/012345678901234567890123"
						"456789012345678901234567890,string=x"), 0);
	while (n < FW_CFG_MAX_USER_FILES) {
		snprintf(text, sizeof(text), "name=opt/n%u,string=x", n);
		assert_int_equal(fw_cfg_user_file_parse(files, &n, text), 0);
	}
	assert_int_equal(fw_cfg_user_file_parse(files, &n, "name=opt/z,string=x"), -EINVAL);
	assert_err_mentions("no more than 16");

	/* Loading: a missing file names its path and the reason; a real one is read whole. */
	err_clear();
	assert_int_equal(fw_cfg_user_file_load(&files[2]), -ENOENT);
	assert_err_mentions("/some/where");
	assert_err_mentions("No such file");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "contents\n", 9), 9);
	free(files[2].path);
	files[2].path = strdup(path);
	assert_int_equal(fw_cfg_user_file_load(&files[2]), 0);
	assert_int_equal(files[2].size, 9);
	assert_memory_equal(files[2].data, "contents\n", 9);
	/* Past 16 MiB (a sparse file) it is refused, with the limit. */
	assert_int_equal(ftruncate(fd, FW_CFG_MAX_USER_FILE_SIZE + 1), 0);
	free(files[2].data);
	files[2].data = NULL;
	assert_int_equal(fw_cfg_user_file_load(&files[2]), -EFBIG);
	assert_err_mentions("16 MiB");
	assert_null(files[2].data);
	close(fd);
	unlink(path);
	free(files[2].path);
	files[2].path = strdup("/tmp");
	assert_int_equal(fw_cfg_user_file_load(&files[2]), -EINVAL);
	assert_err_mentions("not a regular file");
	free_all(files, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_file_directory),
		cmocka_unit_test(test_dma),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_option_parser),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
