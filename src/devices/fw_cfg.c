#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hopvm/device_state.h"
#include "hopvm/e820.h"
#include "hopvm/error.h"
#include "hopvm/fw_cfg.h"
#include "hopvm/le.h"

#define E820_ENTRY_SIZE 20	/* QEMU's etc/e820 entry: u64 address, u64 length, u32 type */

static uint32_t be32_get(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void be32_put(uint8_t *b, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (24 - 8 * i));
}

static const char *const builtin_files[] = { "bootorder", "etc/boot-fail-wait", "etc/e820" };

bool fw_cfg_is_builtin_file(const char *name)
{
	for (size_t i = 0; i < sizeof(builtin_files) / sizeof(builtin_files[0]); i++)
		if (strcmp(name, builtin_files[i]) == 0)
			return true;
	return false;
}

static int item_set(struct fw_cfg_item *item, const void *data, size_t len)
{
	/* One byte more, so an empty item still has a buffer and malloc(0) never matters. */
	item->data = malloc(len + 1);
	if (item->data == NULL)
		return err_set(-ENOMEM, "fw-cfg: out of memory for an item of %zu bytes", len);
	if (len > 0)
		memcpy(item->data, data, len);
	item->len = (uint32_t)len;
	return 0;
}

static int fixed_u16(struct fw_cfg *fw, uint16_t key, uint16_t v)
{
	uint8_t b[2];

	le16_put(b, v);
	return item_set(&fw->fixed[key], b, sizeof(b));
}

static int fixed_u32(struct fw_cfg *fw, uint16_t key, uint32_t v)
{
	uint8_t b[4];

	le32_put(b, v);
	return item_set(&fw->fixed[key], b, sizeof(b));
}

static int fixed_u64(struct fw_cfg *fw, uint16_t key, uint64_t v)
{
	uint8_t b[8];

	le64_put(b, v);
	return item_set(&fw->fixed[key], b, sizeof(b));
}

/* The directory follows the files: rebuilt after each one is added. */
static int build_dir(struct fw_cfg *fw)
{
	size_t len = 4 + (size_t)fw->nr_files * FW_CFG_FILE_ENTRY_SIZE;
	uint8_t *dir = calloc(1, len);
	struct fw_cfg_item *item = &fw->fixed[FW_CFG_FILE_DIR];

	if (dir == NULL)
		return err_set(-ENOMEM, "fw-cfg: out of memory for the file directory");
	be32_put(dir, fw->nr_files);
	for (unsigned i = 0; i < fw->nr_files; i++) {
		uint8_t *e = dir + 4 + (size_t)i * FW_CFG_FILE_ENTRY_SIZE;
		uint16_t key = (uint16_t)(FW_CFG_FILE_FIRST + i);

		be32_put(e, fw->files[i].item.len);
		e[4] = (uint8_t)(key >> 8);
		e[5] = (uint8_t)key;
		memcpy(e + 8, fw->files[i].name, strlen(fw->files[i].name));
	}
	free(item->data);
	item->data = dir;
	item->len = (uint32_t)len;
	return 0;
}

int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, size_t len)
{
	size_t name_len = strlen(name);
	unsigned at = fw->nr_files;
	struct fw_cfg_item item;
	int ret;

	if (name_len == 0 || name_len > FW_CFG_MAX_NAME)
		return err_set(-EINVAL, "fw-cfg: a file's name has 1 to %d bytes, not %zu",
			       FW_CFG_MAX_NAME, name_len);
	if (len > UINT32_MAX)
		return err_set(-EINVAL, "fw-cfg: %s: %zu bytes is more than an item holds", name,
			       len);
	for (unsigned i = 0; i < fw->nr_files; i++)
		if (strcmp(fw->files[i].name, name) == 0)
			return err_set(-EEXIST, "fw-cfg: there is already a file %s", name);
	if (fw->nr_files == FW_CFG_MAX_FILES)
		return err_set(-ENOSPC, "fw-cfg: no room for %s: at most %d files", name,
			       FW_CFG_MAX_FILES);
	ret = item_set(&item, data, len);
	if (ret < 0)
		return ret;
	while (at > 0 && strcmp(name, fw->files[at - 1].name) < 0)
		at--;
	memmove(&fw->files[at + 1], &fw->files[at], (fw->nr_files - at) * sizeof(fw->files[0]));
	memcpy(fw->files[at].name, name, name_len + 1);
	fw->files[at].item = item;
	fw->nr_files++;
	return build_dir(fw);
}

static int add_e820(struct fw_cfg *fw)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	uint8_t table[E820_MAX_ENTRIES * E820_ENTRY_SIZE];
	unsigned n = e820_build(fw->mem, map);

	for (unsigned i = 0; i < n; i++) {
		uint8_t *e = table + i * E820_ENTRY_SIZE;

		le64_put(e, map[i].addr);
		le64_put(e + 8, map[i].size);
		le32_put(e + 16, map[i].type);
	}
	return fw_cfg_add_file(fw, "etc/e820", table, n * E820_ENTRY_SIZE);
}

int fw_cfg_init(struct fw_cfg *fw, struct guest_mem *mem, unsigned nr_cpus)
{
	static const uint8_t uuid[16];
	/* QEMU's NUMA item: a u64 node count, a u64 node per CPU, a u64 size per node. */
	size_t numa_len = (1 + (size_t)nr_cpus) * 8;
	uint8_t *numa = calloc(1, numa_len);
	uint8_t boot_fail_wait[4];
	int ret;

	memset(fw, 0, sizeof(*fw));
	pthread_mutex_init(&fw->lock, NULL);
	fw->mem = mem;
	if (numa == NULL)
		return err_set(-ENOMEM, "fw-cfg: out of memory for the NUMA item");
	/* No reboot timeout: -1, as QEMU gives without -boot reboot-timeout. */
	le32_put(boot_fail_wait, UINT32_MAX);
	ret = item_set(&fw->fixed[FW_CFG_SIGNATURE], "QEMU", 4);
	if (ret == 0)
		ret = fixed_u32(fw, FW_CFG_ID, FW_CFG_VERSION | FW_CFG_VERSION_DMA);
	if (ret == 0)
		ret = item_set(&fw->fixed[FW_CFG_UUID], uuid, sizeof(uuid));
	if (ret == 0)
		ret = fixed_u64(fw, FW_CFG_RAM_SIZE, mem->ram_size);
	if (ret == 0)	/* hopvm has no display */
		ret = fixed_u16(fw, FW_CFG_NOGRAPHIC, 1);
	if (ret == 0)
		ret = fixed_u16(fw, FW_CFG_NB_CPUS, (uint16_t)nr_cpus);
	if (ret == 0)
		ret = fixed_u32(fw, FW_CFG_MACHINE_ID, 0);
	if (ret == 0)
		ret = item_set(&fw->fixed[FW_CFG_NUMA], numa, numa_len);
	if (ret == 0)
		ret = fixed_u16(fw, FW_CFG_BOOT_MENU, 0);
	/* QEMU's is the APIC ID limit: hopvm numbers APIC IDs from 0 without gaps. */
	if (ret == 0)
		ret = fixed_u16(fw, FW_CFG_MAX_CPUS, (uint16_t)nr_cpus);
	if (ret == 0)
		ret = build_dir(fw);
	if (ret == 0)
		ret = fw_cfg_add_file(fw, "bootorder", NULL, 0);
	if (ret == 0)
		ret = fw_cfg_add_file(fw, "etc/boot-fail-wait", boot_fail_wait,
				      sizeof(boot_fail_wait));
	if (ret == 0)
		ret = add_e820(fw);
	free(numa);
	return ret;
}

void fw_cfg_destroy(struct fw_cfg *fw)
{
	for (unsigned k = 0; k < FW_CFG_FILE_FIRST; k++)
		free(fw->fixed[k].data);
	for (unsigned i = 0; i < fw->nr_files; i++)
		free(fw->files[i].item.data);
	pthread_mutex_destroy(&fw->lock);
	memset(fw, 0, sizeof(*fw));
}

/* The item a key names, or NULL.  The write channel bit selects the same item, as in QEMU;
 * this machine has no architecture-specific items (keys from 0x8000). */
static const struct fw_cfg_item *find_item(const struct fw_cfg *fw, uint16_t key)
{
	uint16_t k = key & (uint16_t)~FW_CFG_WRITE_CHANNEL;

	if (k < FW_CFG_FILE_FIRST)
		return fw->fixed[k].data != NULL ? &fw->fixed[k] : NULL;
	if (k - FW_CFG_FILE_FIRST < (int)fw->nr_files)
		return &fw->files[k - FW_CFG_FILE_FIRST].item;
	return NULL;
}

static void select_key(struct fw_cfg *fw, uint16_t key)
{
	fw->selector = find_item(fw, key) != NULL ? key : FW_CFG_INVALID;
	fw->offset = 0;
}

static uint8_t data_read_byte(struct fw_cfg *fw)
{
	const struct fw_cfg_item *item = find_item(fw, fw->selector);

	if (item == NULL || fw->offset >= item->len)
		return 0;
	return item->data[fw->offset++];
}

static void put_control(struct fw_cfg *fw, uint64_t gpa, uint32_t control)
{
	uint8_t b[4];

	be32_put(b, control);
	/* Outside RAM there is nowhere to tell the guest: it finds its field unchanged. */
	if (guest_mem_write(fw->mem, gpa, b, sizeof(b)) < 0)
		return;
}

/* One FWCfgDmaAccess at gpa.  Whatever the guest put there, the outcome lands in its
 * control field: 0 when done, the ERROR bit when a buffer left RAM or asked for a write.  A
 * failed transfer also returns -EFAULT or -EPERM with a message, for hopvm to report. */
static int dma_transfer(struct fw_cfg *fw, uint64_t gpa)
{
	const uint8_t *access = guest_mem_ptr(fw->mem, gpa, FW_CFG_DMA_ACCESS_SIZE);
	uint32_t control, length, result = 0;
	uint64_t addr;
	const struct fw_cfg_item *item;

	if (access == NULL) {
		put_control(fw, gpa, FW_CFG_DMA_CTL_ERROR);
		return err_set(-EFAULT, "fw-cfg: a DMA request at 0x%llx is not wholly in guest RAM",
			       (unsigned long long)gpa);
	}
	control = be32_get(access);
	length = be32_get(access + 4);
	addr = (uint64_t)be32_get(access + 8) << 32 | be32_get(access + 12);
	if (control & FW_CFG_DMA_CTL_SELECT)
		select_key(fw, (uint16_t)(control >> 16));
	if (!(control & (FW_CFG_DMA_CTL_READ | FW_CFG_DMA_CTL_WRITE | FW_CFG_DMA_CTL_SKIP)))
		length = 0;
	item = find_item(fw, fw->selector);
	while (length > 0 && result == 0) {
		uint32_t n = length;

		if (item == NULL || fw->offset >= item->len) {
			/* Past the end a read gives zeros, as the data port does. */
			if (control & FW_CFG_DMA_CTL_READ) {
				if (guest_mem_zero(fw->mem, addr, n) < 0)
					result = FW_CFG_DMA_CTL_ERROR;
			} else if (control & FW_CFG_DMA_CTL_WRITE) {
				result = FW_CFG_DMA_CTL_ERROR;
			}
		} else {
			if (n > item->len - fw->offset)
				n = item->len - fw->offset;
			if (control & FW_CFG_DMA_CTL_READ) {
				if (guest_mem_write(fw->mem, addr, item->data + fw->offset, n) < 0)
					result = FW_CFG_DMA_CTL_ERROR;
			} else if (control & FW_CFG_DMA_CTL_WRITE) {
				result = FW_CFG_DMA_CTL_ERROR;	/* every item is read-only */
			}
			fw->offset += n;
		}
		if (result == 0) {
			addr += n;
			length -= n;
		}
	}
	put_control(fw, gpa, result);
	if (result == 0)
		return 0;
	if (!(control & FW_CFG_DMA_CTL_READ))
		return err_set(-EPERM, "fw-cfg: a DMA write, and every item is read-only");
	return err_set(-EFAULT, "fw-cfg: a DMA read of %u bytes into 0x%llx leaves guest RAM",
		       length, (unsigned long long)addr);
}

int fw_cfg_read(void *dev, uint64_t offset, uint8_t *data, unsigned size)
{
	struct fw_cfg *fw = dev;

	if (offset >= FW_CFG_DMA_OFFSET && offset < FW_CFG_NR_PORTS &&
	    size <= FW_CFG_NR_PORTS - offset) {
		/* The signature, most significant byte first. */
		for (unsigned i = 0; i < size; i++)
			data[i] = (uint8_t)(FW_CFG_DMA_SIGNATURE >>
					    (56 - 8 * (offset - FW_CFG_DMA_OFFSET + i)));
		return 0;
	}
	if (size != 1 || offset > FW_CFG_DATA_OFFSET)
		return -EINVAL;
	pthread_mutex_lock(&fw->lock);
	data[0] = data_read_byte(fw);
	pthread_mutex_unlock(&fw->lock);
	return 0;
}

int fw_cfg_write(void *dev, uint64_t offset, const uint8_t *data, unsigned size)
{
	struct fw_cfg *fw = dev;

	if (size == 1 && offset <= FW_CFG_DATA_OFFSET)
		return 0;	/* data port writes are ignored since QEMU 2.4 */
	pthread_mutex_lock(&fw->lock);
	if (size == 2 && offset == FW_CFG_SELECTOR_OFFSET) {
		select_key(fw, le16_get(data));
	} else if (size == 4 && offset == FW_CFG_DMA_OFFSET) {
		fw->dma_addr = (uint64_t)be32_get(data) << 32;
	} else if (size == 4 && offset == FW_CFG_DMA_OFFSET + 4) {
		uint64_t gpa = fw->dma_addr | be32_get(data);
		int ret;

		fw->dma_addr = 0;
		ret = dma_transfer(fw, gpa);
		pthread_mutex_unlock(&fw->lock);
		return ret;
	} else {
		pthread_mutex_unlock(&fw->lock);
		return -EINVAL;
	}
	pthread_mutex_unlock(&fw->lock);
	return 0;
}

void fw_cfg_reset(void *dev)
{
	struct fw_cfg *fw = dev;

	pthread_mutex_lock(&fw->lock);
	select_key(fw, FW_CFG_SIGNATURE);
	fw->dma_addr = 0;
	pthread_mutex_unlock(&fw->lock);
}

/* FNV-1a over every item: a destination given other --fw-cfg files, or another machine,
 * would hand a guest in the middle of a read the rest of different data. */
static uint64_t items_hash(const struct fw_cfg *fw)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (unsigned k = 0; k < FW_CFG_FILE_FIRST + fw->nr_files; k++) {
		const struct fw_cfg_item *item = find_item(fw, (uint16_t)k);

		if (item == NULL)
			continue;
		for (uint32_t i = 0; i < item->len; i++)
			h = (h ^ item->data[i]) * 0x100000001b3ULL;
		h = (h ^ k) * 0x100000001b3ULL;
	}
	return h;
}

int fw_cfg_save(void *dev, uint8_t *buf, size_t len)
{
	struct fw_cfg *fw = dev;
	struct state_buf s;

	state_writer(&s, buf, len);
	pthread_mutex_lock(&fw->lock);
	state_put_u64(&s, fw->selector);
	state_put_u64(&s, fw->offset);
	state_put_u64(&s, fw->dma_addr);
	state_put_u64(&s, items_hash(fw));
	pthread_mutex_unlock(&fw->lock);
	return state_saved(&s);
}

int fw_cfg_load(void *dev, const uint8_t *buf, size_t len)
{
	struct fw_cfg *fw = dev;
	const struct fw_cfg_item *item;
	struct state_buf s;
	uint64_t selector, offset, dma_addr, hash;
	int ret;

	state_reader(&s, buf, len);
	selector = state_get_u64(&s);
	offset = state_get_u64(&s);
	dma_addr = state_get_u64(&s);
	hash = state_get_u64(&s);
	ret = state_loaded(&s, "fw-cfg");
	if (ret < 0)
		return ret;
	if (hash != items_hash(fw))
		return err_set(-EINVAL, "fw-cfg: the source's items differ from this machine's "
			       "(give both the same --cpus, --mem and --fw-cfg options)");
	item = selector <= UINT16_MAX ? find_item(fw, (uint16_t)selector) : NULL;
	if (selector == FW_CFG_INVALID ? offset != 0 : item == NULL || offset > item->len)
		return err_set(-EINVAL, "fw-cfg: saved selector 0x%llx at offset %llu names no "
			       "item or runs past its end", (unsigned long long)selector,
			       (unsigned long long)offset);
	/* The low half is never kept: writing it starts the transfer and clears the address. */
	if ((uint32_t)dma_addr != 0)
		return err_set(-EINVAL, "fw-cfg: saved DMA address 0x%llx has a low half, which "
			       "the device never holds", (unsigned long long)dma_addr);
	pthread_mutex_lock(&fw->lock);
	fw->selector = (uint16_t)selector;
	fw->offset = (uint32_t)offset;
	fw->dma_addr = dma_addr;
	pthread_mutex_unlock(&fw->lock);
	return 0;
}

const struct device_ops fw_cfg_ops = {
	.name = "fw-cfg",
	.read = fw_cfg_read,
	.write = fw_cfg_write,
	.reset = fw_cfg_reset,
	.state_version = 1,
	.save = fw_cfg_save,
	.load = fw_cfg_load,
};
