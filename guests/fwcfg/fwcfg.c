/* Reads QEMU's fw_cfg device twice, as kvm-unit-tests and Linux do: through the selector and
 * data ports, then by DMA.  Prints the signature, the CPU count, the RAM size and the file
 * opt/hopvm/test found through the file directory, for the boot test to check; exits 1 if
 * the two ways disagree or a DMA write is not refused. */
#include "guest.h"

#define FW_CFG_PORT_SEL 0x510
#define FW_CFG_PORT_DATA 0x511
#define FW_CFG_PORT_DMA_HIGH 0x514
#define FW_CFG_PORT_DMA_LOW 0x518

#define KEY_SIGNATURE 0x00
#define KEY_ID 0x01
#define KEY_RAM_SIZE 0x03
#define KEY_NB_CPUS 0x05
#define KEY_MAX_CPUS 0x0f
#define KEY_FILE_DIR 0x19

#define DMA_ERROR 0x01
#define DMA_READ 0x02
#define DMA_SKIP 0x04
#define DMA_SELECT 0x08
#define DMA_WRITE 0x10

#define FILE_NAME "opt/hopvm/test"
#define MAX_FILE 256

struct file_entry {
	uint32_t size;		/* big-endian, as the whole directory */
	uint16_t select;
	uint16_t reserved;
	char name[56];
};

struct dma_access {
	uint32_t control;
	uint32_t length;
	uint64_t address;
} __attribute__((packed));

static volatile struct dma_access access __attribute__((aligned(16)));
static uint8_t dir_buf[4 + 32 * sizeof(struct file_entry)];


static uint32_t be32(uint32_t v)
{
	return __builtin_bswap32(v);
}

static int name_is(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

static int same_bytes(const uint8_t *a, const uint8_t *b, uint32_t n)
{
	while (n--)
		if (*a++ != *b++)
			return 0;
	return 1;
}

static void port_read(uint16_t key, void *buf, uint32_t len)
{
	outw(FW_CFG_PORT_SEL, key);
	for (uint32_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = inb(FW_CFG_PORT_DATA);
}

/* One transfer; ELF guests live below 4 GiB, so the high half is 0.  Returns the control
 * field the device left: 0 when done. */
static uint32_t dma(uint32_t control, void *buf, uint32_t len)
{
	access.control = be32(control);
	access.length = be32(len);
	access.address = __builtin_bswap64((uint64_t)(uintptr_t)buf);
	outl(FW_CFG_PORT_DMA_HIGH, 0);
	outl(FW_CFG_PORT_DMA_LOW, be32((uint32_t)(uintptr_t)&access));
	__asm__ volatile("" : : : "memory");
	return be32(access.control);
}

static uint32_t dma_read(uint16_t key, void *buf, uint32_t len)
{
	return dma((uint32_t)key << 16 | DMA_SELECT | DMA_READ, buf, len);
}

static void print_file(const char *how, const uint8_t *data, uint32_t size)
{
	serial_printf("fwcfg: %s %s (%u bytes): '", how, FILE_NAME, size);
	for (uint32_t i = 0; i < size && i < MAX_FILE; i++)
		serial_putc(data[i] >= 0x20 && data[i] < 0x7f ? (char)data[i] : '.');
	serial_puts("'\n");
}

/* By the ports: the directory entry by entry, as a guest short of memory walks it. */
static int by_ports(uint16_t *cpus, uint64_t *ram, uint8_t *file, uint32_t *file_size)
{
	char sig[5] = { 0 };
	uint32_t id = 0, count;
	uint16_t max = 0;
	struct file_entry e;

	port_read(KEY_SIGNATURE, sig, 4);
	port_read(KEY_ID, &id, 4);
	port_read(KEY_NB_CPUS, cpus, 2);
	port_read(KEY_MAX_CPUS, &max, 2);
	port_read(KEY_RAM_SIZE, ram, 8);
	serial_printf("fwcfg: port signature %s, id 0x%x, cpus %u (max %u), ram %llu MiB\n", sig,
		      id, *cpus, max, (unsigned long long)(*ram >> 20));
	port_read(KEY_FILE_DIR, &count, 4);
	count = be32(count);
	for (uint32_t i = 0; i < count; i++) {
		for (uint32_t b = 0; b < sizeof(e); b++)
			((uint8_t *)&e)[b] = inb(FW_CFG_PORT_DATA);
		if (!name_is(e.name, FILE_NAME))
			continue;
		*file_size = be32(e.size);
		port_read(__builtin_bswap16(e.select), file,
			  *file_size < MAX_FILE ? *file_size : MAX_FILE);
		print_file("port", file, *file_size);
		return 0;
	}
	serial_printf("fwcfg: port: no %s among %u files\n", FILE_NAME, count);
	return -1;
}

/* By DMA: the whole directory at once, then the file, skipping its first byte and reading
 * that byte back apart, so SKIP and a read that goes on from the offset are both used. */
static int by_dma(uint16_t *cpus, uint64_t *ram, uint8_t *file, uint32_t *file_size)
{
	char sig[9] = { 0 };
	uint32_t count, err = 0;
	uint8_t first;

	for (int i = 0; i < 8; i++)
		sig[i] = (char)inb((uint16_t)(FW_CFG_PORT_DMA_HIGH + i));
	err |= dma_read(KEY_NB_CPUS, cpus, 2);
	err |= dma_read(KEY_RAM_SIZE, ram, 8);
	err |= dma_read(KEY_FILE_DIR, dir_buf, sizeof(dir_buf));
	if (err != 0) {
		serial_printf("fwcfg: dma: control 0x%x\n", err);
		return -1;
	}
	serial_printf("fwcfg: dma signature %s, cpus %u, ram %llu MiB\n", sig, *cpus,
		      (unsigned long long)(*ram >> 20));
	count = be32(*(uint32_t *)dir_buf);
	for (uint32_t i = 0; i < count && i < 32; i++) {
		const struct file_entry *e = (const struct file_entry *)(dir_buf + 4) + i;
		uint16_t key = __builtin_bswap16(e->select);
		uint32_t n;

		if (!name_is(e->name, FILE_NAME))
			continue;
		*file_size = be32(e->size);
		n = *file_size < MAX_FILE ? *file_size : MAX_FILE;
		err |= dma((uint32_t)key << 16 | DMA_SELECT | DMA_SKIP, file, 1);
		err |= dma(DMA_READ, file + 1, n > 0 ? n - 1 : 0);
		err |= dma((uint32_t)key << 16 | DMA_SELECT | DMA_READ, &first, 1);
		file[0] = first;
		if (err != 0) {
			serial_printf("fwcfg: dma: control 0x%x reading the file\n", err);
			return -1;
		}
		print_file("dma", file, *file_size);
		if (dma((uint32_t)key << 16 | DMA_SELECT | DMA_WRITE, file, 1) != DMA_ERROR) {
			serial_puts("fwcfg: dma: a write was not refused\n");
			return -1;
		}
		serial_puts("fwcfg: dma write refused with ERROR\n");
		return 0;
	}
	serial_printf("fwcfg: dma: no %s among %u files\n", FILE_NAME, count);
	return -1;
}

static uint8_t port_file[MAX_FILE], dma_file[MAX_FILE];

int guest_main(void)
{
	uint16_t port_cpus = 0, dma_cpus = 0;
	uint64_t port_ram = 0, dma_ram = 0;
	uint32_t port_size = 0, dma_size = 0;

	if (by_ports(&port_cpus, &port_ram, port_file, &port_size) < 0 ||
	    by_dma(&dma_cpus, &dma_ram, dma_file, &dma_size) < 0)
		return 1;
	if (port_cpus != dma_cpus || port_ram != dma_ram || port_size != dma_size ||
	    !same_bytes(port_file, dma_file, port_size < MAX_FILE ? port_size : MAX_FILE)) {
		serial_puts("fwcfg: the ports and DMA disagree\n");
		return 1;
	}
	serial_puts("fwcfg: ports and DMA agree\n");
	return 0;
}
