/* libFuzzer harness for the device state loaders, the code a migration stream's DEVICE
 * sections reach: the first input byte picks a device, built fresh as hopvm builds it, and the
 * rest is handed to its load op.  A refusal must say why.  A state the loader accepts must
 * save again, and that saved state must load into another fresh device and save to the same
 * bytes (but the ACPI PM timer's count, which runs on): a loader that lets in a state the device could never be in shows up here as a save
 * that differs, or as ASan or UBSan stopping the device's code.
 *
 * Built with -DHOPVM_FUZZ_SEEDS it is instead a program that writes a seed per device (its
 * state after a little use) into the folder named by its argument. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
#include "hopvm/virtio_pci.h"
#include "hopvm/virtio_rng.h"

#define RAM_SIZE (1U << 20)
#define STATE_MAX (1U << 20)	/* as much as a DEVICE section may carry */
#define RNG_SLOT 3
#define TESTDEV_SLOT 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *ram, *saved, *again;
static struct guest_mem mem;

/* Every device a stream can carry state for, with what it takes to build and drop one. */
struct rig {
	struct uart_16550 uart;
	struct i8042 kbd;
	struct rtc_cmos rtc;
	struct acpi_pm pm;
	struct fw_cfg fw;
	struct pc_testdev testdev;
	struct pci_bus pci;
	struct pci_device bridge;
	struct virtio_rng rng;
	struct virtio_pci vp;
	struct pci_testdev ptd;
	unsigned which;
	bool fw_up, pci_up, vp_up, ptd_up;
};

enum { UART, I8042, RTC, ACPI_PM, FW_CFG, PC_TESTDEV, PCI_VIRTIO, PCI_TESTDEV, NR_DEVICES };
static const char *const names[NR_DEVICES] = {
	"uart-16550", "i8042", "rtc-cmos", "acpi-pm", "fw-cfg", "pc-testdev", "pci-virtio-rng",
	"pci-testdev",
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

/* The device's ops and its state, built as vm.c and pci/machine.c build them. */
static int rig_build(struct rig *r, unsigned which, const struct device_ops **ops, void **dev)
{
	const struct virtio_pci_platform plat = { .intx = no_intx, .intx_irq = 16 + RNG_SLOT };

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
	if (which == PCI_VIRTIO) {
		virtio_rng_init(&r->rng, &mem);
		if (virtio_pci_init(&r->vp, &r->rng.vdev, &plat) < 0)
			return -1;
		r->vp_up = true;
		if (pci_bus_add(&r->pci, RNG_SLOT, &r->vp.pci) < 0)
			return -1;
	} else {
		if (pci_testdev_init(&r->ptd) < 0)
			return -1;
		r->ptd_up = true;
		if (pci_bus_add(&r->pci, TESTDEV_SLOT, &r->ptd.pci) < 0)
			return -1;
	}
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
	if (r->vp_up)
		virtio_pci_free(&r->vp);
	if (r->ptd_up)
		pci_testdev_destroy(&r->ptd);
	if (r->pci_up)
		pci_bus_free(&r->pci);
	if (r->fw_up)
		fw_cfg_destroy(&r->fw);
}

static void once(void)
{
	if (ram != NULL)
		return;
	ram = calloc(1, RAM_SIZE);
	saved = malloc(STATE_MAX);
	again = malloc(STATE_MAX);
	if (ram == NULL || saved == NULL || again == NULL)
		abort();
	guest_mem_init_buffer(&mem, ram, RAM_SIZE);
}

#ifndef HOPVM_FUZZ_SEEDS

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rig first, second;
	const struct device_ops *ops, *ops2;
	void *dev, *dev2;
	unsigned which;
	int len, len2;

	once();
	if (size < 1)
		return 0;
	which = data[0] % NR_DEVICES;
	if (rig_build(&first, which, &ops, &dev) < 0)
		abort();
	err_clear();
	if (ops->load(dev, data + 1, size - 1) < 0) {
		if (err_msg()[0] == '\0') {
			fprintf(stderr, "%s: a refusal without a message\n", names[which]);
			abort();
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
	/* The PM timer's count goes on between the two saves: only its length must agree. */
	len2 = ops2->save(dev2, again, STATE_MAX);
	if (len2 != len || (which != ACPI_PM && memcmp(saved, again, (size_t)len) != 0)) {
		fprintf(stderr, "%s: saved, loaded and saved again, the state differs\n",
			names[which]);
		abort();
	}
	rig_drop(&second);
	rig_drop(&first);
	return 0;
}

#else

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
		uart_16550_receive(&r->uart, (const uint8_t *)"hi", 2);
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
	case PCI_VIRTIO:
		r->vp.pci.config[PCI_COMMAND] |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
		b[0] = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
		(void)r->vp.pci.ops->bar_write(&r->vp.pci, 0, VIRTIO_PCI_STATUS, b, 1);
		break;
	case PCI_TESTDEV:
		r->ptd.pci.config[PCI_COMMAND] |= PCI_COMMAND_MEMORY | PCI_COMMAND_IO;
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
		if (len < 0 || f == NULL || fwrite(saved, 1, (size_t)len + 1, f) != (size_t)len + 1 ||
		    fclose(f) != 0) {
			fprintf(stderr, "%s: cannot write its seed to %s\n", names[which], path);
			return 1;
		}
		rig_drop(&r);
	}
	return 0;
}

#endif
