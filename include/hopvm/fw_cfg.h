/* QEMU's firmware configuration device (fw_cfg), as QEMU's docs/specs/fw_cfg.rst describes
 * it for x86: test kernels written for QEMU (kvm-unit-tests among them) read the CPU count,
 * the RAM size and files through it.
 *
 * Registered at FW_CFG_PORT with FW_CFG_NR_PORTS ports:
 *   offset 0  selector, a 16-bit write: selects an item and rewinds its offset
 *   offset 1  data, 8-bit reads: the selected item's next byte, 0 past its end
 *             (an 8-bit read at offset 0 reads data too, as QEMU's combined port does)
 *   offset 4  the DMA address, big-endian: a 32-bit write at 4 sets its high half, one at 8
 *             its low half and starts the transfer of the FWCfgDmaAccess structure there;
 *             reads give the signature "QEMU CFG"
 * Offsets 2 and 3 answer nothing.
 *
 * Items are fixed once the device is set up (fw_cfg_init(), then fw_cfg_add_file()); every
 * item is read-only, so a DMA write comes back with the ERROR bit, as QEMU does for read-only
 * items.  A transfer that fails (a write, a buffer or request outside RAM) also makes the
 * port write that started it return -EPERM or -EFAULT with a message, for hopvm to report.  The state that changes, and migrates, is the selector, its offset and the DMA
 * address's high half.  A mutex makes the device safe from several vCPU threads. */
#ifndef HOPVM_FW_CFG_H
#define HOPVM_FW_CFG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hopvm/device.h"
#include "hopvm/memory.h"

#define FW_CFG_PORT 0x510
#define FW_CFG_NR_PORTS 12
#define FW_CFG_SELECTOR_OFFSET 0
#define FW_CFG_DATA_OFFSET 1
#define FW_CFG_DMA_OFFSET 4

/* Selector keys (QEMU's include/standard-headers/linux/qemu_fw_cfg.h). */
#define FW_CFG_SIGNATURE 0x0000
#define FW_CFG_ID 0x0001
#define FW_CFG_UUID 0x0002
#define FW_CFG_RAM_SIZE 0x0003
#define FW_CFG_NOGRAPHIC 0x0004
#define FW_CFG_NB_CPUS 0x0005
#define FW_CFG_MACHINE_ID 0x0006
#define FW_CFG_NUMA 0x000d
#define FW_CFG_BOOT_MENU 0x000e
#define FW_CFG_MAX_CPUS 0x000f
#define FW_CFG_FILE_DIR 0x0019
#define FW_CFG_FILE_FIRST 0x0020
#define FW_CFG_WRITE_CHANNEL 0x4000	/* ignored: items are written only by DMA */
#define FW_CFG_INVALID 0xffff		/* what the selector holds when no item is selected */

#define FW_CFG_VERSION 0x01		/* FW_CFG_ID: the traditional interface */
#define FW_CFG_VERSION_DMA 0x02		/* FW_CFG_ID: the DMA interface */
#define FW_CFG_DMA_SIGNATURE 0x51454d5520434647ULL	/* "QEMU CFG" */

/* FWCfgDmaAccess: control, length, address; 16 bytes, big-endian. */
#define FW_CFG_DMA_ACCESS_SIZE 16
#define FW_CFG_DMA_CTL_ERROR 0x01
#define FW_CFG_DMA_CTL_READ 0x02
#define FW_CFG_DMA_CTL_SKIP 0x04
#define FW_CFG_DMA_CTL_SELECT 0x08
#define FW_CFG_DMA_CTL_WRITE 0x10

/* A file directory entry: u32 size, u16 select (big-endian), u16 reserved, name[56]. */
#define FW_CFG_FILE_ENTRY_SIZE 64
#define FW_CFG_MAX_NAME 55		/* bytes of a file's name, without its NUL */
#define FW_CFG_MAX_FILES 32		/* QEMU's default number of file slots */

struct fw_cfg_item {
	uint8_t *data;
	uint32_t len;
};

struct fw_cfg_file {
	char name[FW_CFG_MAX_NAME + 1];
	struct fw_cfg_item item;
};

struct fw_cfg {
	pthread_mutex_t lock;
	struct guest_mem *mem;
	struct fw_cfg_item fixed[FW_CFG_FILE_FIRST];	/* by key; FILE_DIR among them */
	struct fw_cfg_file files[FW_CFG_MAX_FILES];	/* sorted by name: key FILE_FIRST + i */
	unsigned nr_files;

	uint16_t selector;
	uint32_t offset;
	uint64_t dma_addr;
};

/* Sets up the device with the machine's items: signature, ID, UUID, RAM size, CPU counts,
 * NUMA (no nodes), boot menu, and the files bootorder (empty), etc/boot-fail-wait and
 * etc/e820 (mem's RAM map).  DMA reaches guest RAM through mem.  -ENOMEM on failure, after
 * which fw_cfg_destroy() still frees what was made. */
int fw_cfg_init(struct fw_cfg *fw, struct guest_mem *mem, unsigned nr_cpus)
	__attribute__((warn_unused_result));
void fw_cfg_destroy(struct fw_cfg *fw);

/* Adds a copy of [data, data + len) as the file name, in the directory's name order (later
 * files' keys move up, as in QEMU).  -EINVAL for an empty or too long name or a file larger
 * than 4 GiB, -EEXIST for a name already there, -ENOSPC past FW_CFG_MAX_FILES. */
int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, size_t len)
	__attribute__((warn_unused_result));

/* Whether fw_cfg_init() makes a file of that name itself. */
bool fw_cfg_is_builtin_file(const char *name);

int fw_cfg_read(void *dev, uint64_t offset, uint8_t *data, unsigned size);
int fw_cfg_write(void *dev, uint64_t offset, const uint8_t *data, unsigned size);
void fw_cfg_reset(void *dev);
int fw_cfg_save(void *dev, uint8_t *buf, size_t len);
int fw_cfg_load(void *dev, const uint8_t *buf, size_t len);

extern const struct device_ops fw_cfg_ops;

/* --fw-cfg name=NAME,file=PATH or name=NAME,string=TEXT, as QEMU's -fw_cfg ("name=" may be
 * left out; ",," in a value is a comma).  file= is read by fw_cfg_user_file_load(); string=
 * gives the text without a NUL, as QEMU does. */
#define FW_CFG_MAX_USER_FILES 16
#define FW_CFG_MAX_USER_FILE_SIZE (16u << 20)

struct fw_cfg_user_file {
	char name[FW_CFG_MAX_NAME + 1];
	char *path;		/* file=, or NULL for string= */
	uint8_t *data;		/* the contents: string= at once, file= once loaded */
	size_t size;
	bool unusual_name;	/* not under "opt/": QEMU warns, so does hopvm */
};

/* Parses one option's value into files[*nr] and counts it, refusing (-EINVAL, with a
 * message) a malformed value, a name too long or taken (by an earlier option or by the
 * device itself), and more than FW_CFG_MAX_USER_FILES options.  Reads no file. */
int fw_cfg_user_file_parse(struct fw_cfg_user_file *files, unsigned *nr, const char *text)
	__attribute__((warn_unused_result));

/* Reads a file= option's file into f->data: -errno with the path and the reason if it
 * cannot be read, -EFBIG past FW_CFG_MAX_USER_FILE_SIZE.  Nothing to do for string=. */
int fw_cfg_user_file_load(struct fw_cfg_user_file *f) __attribute__((warn_unused_result));

void fw_cfg_user_file_free(struct fw_cfg_user_file *f);

#endif
