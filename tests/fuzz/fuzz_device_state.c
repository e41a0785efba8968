/* libFuzzer harness for the device state loaders, the code a migration stream's DEVICE
 * sections reach: the first input byte picks a device, built fresh as hopvm builds it, and the
 * rest is handed to its load op.  The devices: the 16550, the i8042, the CMOS clock, the ACPI
 * PM block, fw_cfg, pc-testdev, and the PCI bus (whose state carries each function's
 * configuration space, a virtio function's transport, queues and MSI-X table and the device's
 * own state) with virtio-rng, pci-testdev, two virtio-blk disks (one read-only), virtio-net,
 * virtio-console, or all of them in the slots hopvm gives them.  (debug-exit has no state.)
 *
 * What it checks:
 *   - a refusal says why, and leaves the device as it was (the devices outside PCI: the PCI
 *     bus loads slot by slot, and a VM whose state does not load is dropped whole);
 *   - an accepted state saves, that saved state loads into another fresh device, and it saves
 *     to the same bytes (all but the ACPI PM timer's count, which runs on);
 *   - the device then works from the state it took: its registers are read, the virtio
 *     functions serve every queue the state enabled (over a guest RAM of zeros), and it still
 *     saves.
 * A loader that lets in a state the device could never be in shows up as a save that differs,
 * or as ASan or UBSan stopping the device's code.
 *
 * Built with -DHOPVM_FUZZ_SEEDS it is instead a program that writes a seed per device (its
 * state after a little use: a virtio function's driver has set it up, features, queues and
 * an MSI-X vector) into the folder named by its argument. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hopvm/acpi_pm.h"
#include "hopvm/error.h"
#include "hopvm/fw_cfg.h"
#include "hopvm/i8042.h"
#include "hopvm/le.h"
#include "hopvm/pc_testdev.h"
#include "hopvm/pci.h"
#include "hopvm/pci_testdev.h"
#include "hopvm/rtc_cmos.h"
#include "hopvm/uart_16550.h"
#include "hopvm/virtio_blk.h"
#include "hopvm/virtio_console.h"
#include "hopvm/virtio_net.h"
#include "hopvm/virtio_pci.h"
#include "hopvm/virtio_rng.h"

#define RAM_SIZE (256U << 10)
#define STATE_MAX (1U << 20)	/* as much as a DEVICE section may carry */
#define IMAGE_SIZE (64U << 10)
#define ACPI_PM_TICKS_LEN 8	/* the timer's count ends its state */
#define MAX_FUNCTIONS 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *ram, *before, *saved, *again;
static struct guest_mem mem;
static char image_path[64];
static int net_fds[2];	/* the device's end and the host's, which is drained */

enum {
	UART, I8042, RTC, ACPI_PM, FW_CFG, PC_TESTDEV, PCI_RNG, PCI_TESTDEV, PCI_BLK, PCI_NET,
	PCI_CONSOLE, PCI_MACHINE, NR_DEVICES
};
static const char *const names[NR_DEVICES] = {
	"uart-16550", "i8042", "rtc-cmos", "acpi-pm", "fw-cfg", "pc-testdev", "pci-virtio-rng",
	"pci-testdev", "pci-virtio-blk", "pci-virtio-net", "pci-virtio-console", "pci-machine",
};

/* What a PCI bus holds besides its host bridge. */
enum function { BLK, BLK_RO, NET, RNG, CONSOLE, TESTDEV };

/* Each bus's functions, in slots 1 on: the machine's in hopvm's order (vm_pci_init(): disks,
 * network, entropy, console, then the test device).  -1 ends a list. */
static const int buses[][MAX_FUNCTIONS + 1] = {
	[PCI_RNG - PCI_RNG] = { RNG, -1 },
	[PCI_TESTDEV - PCI_RNG] = { TESTDEV, -1 },
	[PCI_BLK - PCI_RNG] = { BLK, BLK_RO, -1 },
	[PCI_NET - PCI_RNG] = { NET, -1 },
	[PCI_CONSOLE - PCI_RNG] = { CONSOLE, -1 },
	[PCI_MACHINE - PCI_RNG] = { BLK, BLK_RO, NET, RNG, CONSOLE, TESTDEV, -1 },
};

/* Every device a stream can carry state for, with what it takes to build and drop one. */
struct rig {
	unsigned which;
	struct uart_16550 uart;
	struct i8042 kbd;
	struct rtc_cmos rtc;
	struct acpi_pm pm;
	struct fw_cfg fw;
	struct pc_testdev testdev;
	struct pci_bus pci;
	struct pci_device bridge;
	struct virtio_blk blk[2];
	struct virtio_net net;
	struct virtio_rng rng;
	struct virtio_console con;
	struct pci_testdev ptd;
	struct virtio_pci vp[MAX_FUNCTIONS];
	unsigned nr_vp, nr_blk;
	bool fw_up, pci_up, net_up, con_up, ptd_up;
};

static void no_irq(void *ctx, int level)
{
	(void)ctx;
	(void)level;
}

static void no_line(void *ctx, unsigned line, int level)
{
	(void)ctx;
	(void)line;
	(void)level;
}

static void no_quiesce(void *ctx, bool quiet)
{
	(void)ctx;
	(void)quiet;
}

static void no_event(void *ctx)
{
	(void)ctx;
}

static void no_sleep(void *ctx, unsigned slp_typ)
{
	(void)ctx;
	(void)slp_typ;
}

static void no_tx(void *ctx, uint8_t byte)
{
	(void)ctx;
	(void)byte;
}

static void no_intx(void *ctx, unsigned irq, int level)
{
	(void)ctx;
	(void)irq;
	(void)level;
}

/* One PCI function in slot, as pci/machine.c adds it. */
static int add_function(struct rig *r, enum function f, unsigned slot)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	const struct virtio_pci_platform plat = { .intx = no_intx, .intx_irq = 16 + slot };
	struct virtio_device *vd;
	struct virtio_pci *vp;

	switch (f) {
	case TESTDEV:
		if (pci_testdev_init(&r->ptd) < 0)
			return -1;
		r->ptd_up = true;
		return pci_bus_add(&r->pci, slot, &r->ptd.pci);
	case BLK:
	case BLK_RO:
		if (virtio_blk_open(&r->blk[r->nr_blk], image_path, f == BLK_RO, r->nr_blk,
				    &mem) < 0)
			return -1;
		vd = &r->blk[r->nr_blk++].vdev;
		break;
	case NET:
		if (virtio_net_init_fd(&r->net, &mem, net_fds[0], mac, "fuzz") < 0)
			return -1;
		r->net_up = true;
		vd = &r->net.vdev;
		break;
	case RNG:
		virtio_rng_init(&r->rng, &mem);
		vd = &r->rng.vdev;
		break;
	default:
		if (virtio_console_open(&r->con, &mem, NULL, net_fds[0], -1) < 0)
			return -1;
		r->con_up = true;
		vd = &r->con.vdev;
		break;
	}
	vp = &r->vp[r->nr_vp];
	if (virtio_pci_init(vp, vd, &plat) < 0)
		return -1;
	r->nr_vp++;
	return pci_bus_add(&r->pci, slot, &vp->pci);
}

/* The device's ops and its state, built as vm.c and pci/machine.c build them. */
static int rig_build(struct rig *r, unsigned which, const struct device_ops **ops, void **dev)
{
	memset(r, 0, sizeof(*r));
	r->which = which;
	switch (which) {
	case UART:
		uart_16550_init(&r->uart, no_tx, no_irq, NULL);
		*ops = &uart_16550_ops, *dev = &r->uart;
		return 0;
	case I8042:
		i8042_init(&r->kbd, no_irq, no_event, NULL);
		*ops = &i8042_ops, *dev = &r->kbd;
		return 0;
	case RTC:
		rtc_cmos_init(&r->rtc, NULL, NULL);
		*ops = &rtc_cmos_ops, *dev = &r->rtc;
		return 0;
	case ACPI_PM:
		acpi_pm_init(&r->pm, no_irq, no_sleep, NULL);
		*ops = &acpi_pm_ops, *dev = &r->pm;
		return 0;
	case FW_CFG:
		if (fw_cfg_init(&r->fw, &mem, 2) < 0)
			return -1;
		r->fw_up = true;
		*ops = &fw_cfg_ops, *dev = &r->fw;
		return 0;
	case PC_TESTDEV:
		pc_testdev_init(&r->testdev, &mem, no_line, no_quiesce, NULL);
		*ops = &pc_testdev_ops, *dev = &r->testdev;
		return 0;
	}
	pci_bus_init(&r->pci);
	r->pci_up = true;
	pci_host_bridge_init(&r->bridge);
	if (pci_bus_add(&r->pci, 0, &r->bridge) < 0)
		return -1;
	for (unsigned i = 0; buses[which - PCI_RNG][i] >= 0; i++)
		if (add_function(r, (enum function)buses[which - PCI_RNG][i], 1 + i) < 0)
			return -1;
	*ops = &pci_config_ops, *dev = &r->pci;
	return 0;
}

static void rig_drop(struct rig *r)
{
	switch (r->which) {
	case UART:
		uart_16550_destroy(&r->uart);
		break;
	case I8042:
		i8042_destroy(&r->kbd);
		break;
	case RTC:
		rtc_cmos_destroy(&r->rtc);
		break;
	case ACPI_PM:
		acpi_pm_destroy(&r->pm);
		break;
	case PC_TESTDEV:
		pc_testdev_destroy(&r->testdev);
		break;
	}
	for (unsigned i = 0; i < r->nr_vp; i++)
		virtio_pci_free(&r->vp[i]);
	for (unsigned i = 0; i < r->nr_blk; i++)
		virtio_blk_close(&r->blk[i]);
	if (r->net_up)
		virtio_net_close(&r->net);
	if (r->con_up)
		virtio_console_close(&r->con);
	if (r->ptd_up)
		pci_testdev_destroy(&r->ptd);
	if (r->pci_up)
		pci_bus_free(&r->pci);
	if (r->fw_up)
		fw_cfg_destroy(&r->fw);
}

static void once(void)
{
	int fd;

	if (ram != NULL)
		return;
	/* Guest RAM ends exactly at the end of a heap buffer, so ASan sees any overrun. */
	ram = malloc(RAM_SIZE);
	before = malloc(STATE_MAX);
	saved = malloc(STATE_MAX);
	again = malloc(STATE_MAX);
	fd = memfd_create("fuzz-disk", 0);
	if (ram == NULL || before == NULL || saved == NULL || again == NULL || fd < 0 ||
	    ftruncate(fd, IMAGE_SIZE) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, net_fds) < 0)
		abort();
	memset(ram, 0, RAM_SIZE);
	guest_mem_init_buffer(&mem, ram, RAM_SIZE);
	snprintf(image_path, sizeof(image_path), "/proc/self/fd/%d", fd);
}

/* What the virtio functions wrote to the host (frames, console output) is dropped. */
static void drain(void)
{
	static uint8_t buf[VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME];

	while (read(net_fds[1], buf, sizeof(buf)) > 0)
		;
}

#ifndef HOPVM_FUZZ_SEEDS

/* A PCI bus's configuration spaces, read dword by dword through ports 0xcf8 and 0xcfc. */
static void read_config_spaces(struct rig *r)
{
	uint8_t b[4];

	for (unsigned slot = 0; slot < PCI_SLOTS; slot++) {
		if (r->pci.slots[slot] == NULL)
			continue;
		for (unsigned reg = 0; reg < PCI_CONFIG_SPACE; reg += 4) {
			le32_put(b, 0x80000000U | slot << 11 | reg);
			(void)pci_config_ops.write(&r->pci, 0, b, 4);
			(void)pci_config_ops.read(&r->pci, 4, b, 4);
		}
	}
}

/* The device at work on the state it took: what a guest would do first after the move. */
static void use(struct rig *r, const struct device_ops *ops, void *dev)
{
	static const uint8_t hi[] = "hi";
	uint8_t b[8];

	switch (r->which) {
	case UART:
		(void)uart_16550_receive(&r->uart, hi, 2);
		for (unsigned off = 0; off < UART_16550_NR_PORTS; off++)
			(void)ops->read(dev, off, b, 1);
		b[0] = 'x';
		(void)ops->write(dev, 0, b, 1);
		break;
	case I8042:
		(void)ops->read(dev, 4, b, 1);
		(void)ops->read(dev, 0, b, 1);
		break;
	case RTC:
		(void)ops->read(dev, 1, b, 1);	/* the register the state selected */
		for (unsigned i = 0; i < RTC_CMOS_SIZE; i++) {
			b[0] = (uint8_t)i;
			(void)ops->write(dev, 0, b, 1);
			(void)ops->read(dev, 1, b, 1);
		}
		break;
	case ACPI_PM:
		for (unsigned off = 0; off < ACPI_PM_TMR_OFFSET; off += 2)
			(void)ops->read(dev, off, b, 2);
		(void)ops->read(dev, ACPI_PM_TMR_OFFSET, b, 4);
		break;
	case FW_CFG:
		for (unsigned i = 0; i < 16; i++)	/* on from the saved item and offset */
			(void)ops->read(dev, FW_CFG_DATA_OFFSET, b, 1);
		(void)ops->read(dev, FW_CFG_DMA_OFFSET, b, 4);
		break;
	case PC_TESTDEV:
		(void)ops->read(dev, PC_TESTDEV_SCRATCH, b, 4);
		(void)pc_testdev_iomem_ops.read(dev, 0, b, 8);
		(void)pc_testdev_iomem_ops.read(dev, PC_TESTDEV_IOMEM_SIZE - 8, b, 8);
		break;
	default:
		read_config_spaces(r);
		memset(ram, 0, RAM_SIZE);
		/* What a device says once it has said already: the polls print nothing. */
		r->net.logged = ~0U;
		for (unsigned i = 0; i < r->nr_vp; i++) {
			r->vp[i].broken_reported = r->vp[i].misuse_reported = true;
			virtio_pci_poll(&r->vp[i]);
		}
		drain();
		break;
	}
}

/* Two saved states the same?  The ACPI PM timer's count goes on between two saves. */
static bool same_state(unsigned which, const uint8_t *a, int a_len, const uint8_t *b,
		       int b_len)
{
	size_t n = (size_t)a_len;

	if (a_len != b_len)
		return false;
	if (which == ACPI_PM)
		n = n >= ACPI_PM_TICKS_LEN ? n - ACPI_PM_TICKS_LEN : 0;
	return memcmp(a, b, n) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rig first, second;
	const struct device_ops *ops, *ops2;
	void *dev, *dev2;
	unsigned which;
	int len, len2, before_len = 0;

	once();
	if (size < 1)
		return 0;
	which = data[0] % NR_DEVICES;
	if (rig_build(&first, which, &ops, &dev) < 0) {
		fprintf(stderr, "%s: cannot be built: %s\n", names[which], err_msg());
		abort();
	}
	if (which < PCI_RNG)
		before_len = ops->save(dev, before, STATE_MAX);
	err_clear();
	if (ops->load(dev, data + 1, size - 1) < 0) {
		if (err_msg()[0] == '\0') {
			fprintf(stderr, "%s: a refusal without a message\n", names[which]);
			abort();
		}
		if (which < PCI_RNG) {
			len = ops->save(dev, saved, STATE_MAX);
			if (!same_state(which, before, before_len, saved, len)) {
				fprintf(stderr, "%s: a refused state changed the device\n",
					names[which]);
				abort();
			}
		}
		rig_drop(&first);
		return 0;
	}
	len = ops->save(dev, saved, STATE_MAX);
	if (len < 0) {
		fprintf(stderr, "%s: a loaded state does not save: %s\n", names[which], err_msg());
		abort();
	}
	if (rig_build(&second, which, &ops2, &dev2) < 0)
		abort();
	if (ops2->load(dev2, saved, (size_t)len) < 0) {
		fprintf(stderr, "%s: its own saved state is refused: %s\n", names[which],
			err_msg());
		abort();
	}
	len2 = ops2->save(dev2, again, STATE_MAX);
	if (!same_state(which, saved, len, again, len2)) {
		fprintf(stderr, "%s: saved, loaded and saved again, the state differs\n",
			names[which]);
		abort();
	}
	rig_drop(&second);

	use(&first, ops, dev);
	if (ops->save(dev, saved, STATE_MAX) < 0) {
		fprintf(stderr, "%s: after some use the state does not save: %s\n", names[which],
			err_msg());
		abort();
	}
	rig_drop(&first);
	return 0;
}

#else

static void bar0_write(struct virtio_pci *vp, unsigned off, uint64_t value, unsigned size)
{
	uint8_t b[8];

	le64_put(b, value);
	(void)vp->pci.ops->bar_write(&vp->pci, 0, off, b, size);
}

/* A driver's set-up of a virtio function: every feature offered taken, each queue of 16
 * entries at rings of its own in RAM, an MSI-X vector for the configuration and each queue,
 * DRIVER_OK; then the device serves its (empty) queues once. */
static void driver_up(struct virtio_pci *vp, uint64_t rings)
{
	struct virtio_device *vd = vp->vd;
	uint64_t features = vd->host_features | VIRTIO_PCI_TRANSPORT_FEATURES;
	uint8_t status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	vp->pci.config[PCI_COMMAND] |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	bar0_write(vp, VIRTIO_PCI_STATUS, status, 1);
	for (unsigned half = 0; half < 2; half++) {
		bar0_write(vp, VIRTIO_PCI_GFSELECT, half, 4);
		bar0_write(vp, VIRTIO_PCI_GF, (uint32_t)(features >> (32 * half)), 4);
	}
	status |= VIRTIO_STATUS_FEATURES_OK;
	bar0_write(vp, VIRTIO_PCI_STATUS, status, 1);
	bar0_write(vp, VIRTIO_PCI_MSIX_CONFIG, 0, 2);
	for (unsigned q = 0; q < vd->ops->nr_queues; q++) {
		uint64_t at = rings + q * 0x1000;

		bar0_write(vp, VIRTIO_PCI_Q_SELECT, q, 2);
		bar0_write(vp, VIRTIO_PCI_Q_SIZE, 16, 2);
		bar0_write(vp, VIRTIO_PCI_Q_DESC, at, 8);
		bar0_write(vp, VIRTIO_PCI_Q_AVAIL, at + 0x400, 8);
		bar0_write(vp, VIRTIO_PCI_Q_USED, at + 0x800, 8);
		bar0_write(vp, VIRTIO_PCI_Q_MSIX, (q + 1) % vp->msix.nr_vectors, 2);
		bar0_write(vp, VIRTIO_PCI_Q_ENABLE, 1, 2);
	}
	bar0_write(vp, VIRTIO_PCI_MSIX_TABLE, 0xfee00000, 4);
	bar0_write(vp, VIRTIO_PCI_MSIX_TABLE + 8, 0x4041, 4);
	bar0_write(vp, VIRTIO_PCI_MSIX_TABLE + 12, 0, 4);	/* unmasked */
	bar0_write(vp, VIRTIO_PCI_STATUS, status | VIRTIO_STATUS_DRIVER_OK, 1);
	virtio_pci_poll(vp);
}

/* A little use first, so the seeds hold more than power-on state. */
static void use(struct rig *r, unsigned which)
{
	uint8_t b[4] = { 0 };

	switch (which) {
	case UART:
		b[0] = 0x83;
		(void)uart_16550_write(&r->uart, 3, b, 1);	/* DLAB */
		b[0] = 1;
		(void)uart_16550_write(&r->uart, 0, b, 1);	/* 115200 baud */
		b[0] = 0x03;
		(void)uart_16550_write(&r->uart, 3, b, 1);
		b[0] = 0x0b;
		(void)uart_16550_write(&r->uart, 4, b, 1);	/* DTR, RTS, OUT2 */
		(void)uart_16550_receive(&r->uart, (const uint8_t *)"hi", 2);
		break;
	case I8042:
		b[0] = 0x20;	/* read the controller's configuration byte */
		(void)i8042_write(&r->kbd, 4, b, 1);
		break;
	case RTC:
		b[0] = 0x0b;
		(void)rtc_cmos_write(&r->rtc, 0, b, 1);
		b[0] = 0x02;	/* 24-hour mode */
		(void)rtc_cmos_write(&r->rtc, 1, b, 1);
		break;
	case ACPI_PM:
		le16_put(b, 0x0100);	/* the power button's enable */
		(void)acpi_pm_write(&r->pm, 2, b, 2);
		break;
	case FW_CFG:
		le16_put(b, FW_CFG_SIGNATURE);
		(void)fw_cfg_ops.write(&r->fw, 0, b, 2);
		(void)fw_cfg_ops.read(&r->fw, 1, b, 1);
		break;
	case PC_TESTDEV:
		le32_put(b, 0xc0ffee11);
		(void)pc_testdev_ops.write(&r->testdev, 0, b, 4);
		break;
	default:
		for (unsigned i = 0; i < r->nr_vp; i++)
			driver_up(&r->vp[i], 0x8000 * (i + 1));
		if (r->ptd_up)
			r->ptd.pci.config[PCI_COMMAND] |= PCI_COMMAND_MEMORY | PCI_COMMAND_IO;
		drain();
		break;
	}
}

int main(int argc, char **argv)
{
	static struct rig r;
	const struct device_ops *ops;
	void *dev;

	if (argc != 2) {
		fprintf(stderr, "usage: %s FOLDER\n", argv[0]);
		return 2;
	}
	once();
	for (unsigned which = 0; which < NR_DEVICES; which++) {
		char path[512];
		FILE *f;
		int len;

		if (rig_build(&r, which, &ops, &dev) < 0) {
			fprintf(stderr, "%s: %s\n", names[which], err_msg());
			return 1;
		}
		use(&r, which);
		saved[0] = (uint8_t)which;
		len = ops->save(dev, saved + 1, STATE_MAX - 1);
		snprintf(path, sizeof(path), "%s/%s", argv[1], names[which]);
		f = fopen(path, "wb");
		if (len < 0 || f == NULL ||
		    fwrite(saved, 1, (size_t)len + 1, f) != (size_t)len + 1 || fclose(f) != 0) {
			fprintf(stderr, "%s: cannot write its seed to %s\n", names[which], path);
			return 1;
		}
		rig_drop(&r);
	}
	return 0;
}

#endif
