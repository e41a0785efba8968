#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/kvm.h"
#include "hopvm/mptable.h"
#include "hopvm/vm.h"
#include "hopvm/vm_pci.h"

static int kvm_notify_ioeventfd(void *ctx, uint64_t gpa, int fd, bool assign)
{
	struct vm *vm = ctx;
	struct kvm_ioeventfd io = {
		.addr = gpa, .len = 2, .fd = fd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	return kvm_ioeventfd(vm->vm_fd, &io);
}

static void kvm_intx(void *ctx, unsigned irq, int level)
{
	struct vm *vm = ctx;

	if (vm->vm_fd >= 0)
		(void)kvm_irq_line(vm->vm_fd, irq, level);
}

static void kvm_msi(void *ctx, unsigned route, uint64_t addr, uint32_t data)
{
	struct vm *vm = ctx;

	if (irq_msi_send(&vm->irq, route, addr, data) < 0 &&
	    !__atomic_exchange_n(&vm->msi_error_logged, true, __ATOMIC_RELAXED))
		fprintf(stderr, "hopvm: an MSI was lost: %s\n", err_msg());
}

static int add_virtio(struct vm *vm, struct virtio_device *vd)
{
	struct virtio_pci *vp = &vm->virtio[vm->nr_virtio];
	int slot = pci_bus_free_slot(&vm->pci);
	struct virtio_pci_platform plat = {
		.ctx = vm, .ioeventfd = kvm_notify_ioeventfd, .intx = kvm_intx, .msi = kvm_msi,
	};
	int ret;

	if (slot < 0 || slot > MPTABLE_PCI_MAX_SLOT || vm->nr_virtio == VM_MAX_VIRTIO)
		return err_set(-ENOSPC, "no more than %d PCI devices", VM_MAX_VIRTIO);
	plat.intx_irq = MPTABLE_PCI_PIN((unsigned)slot);
	ret = virtio_pci_init(vp, vd, &plat);
	if (ret == 0)
		ret = pci_bus_add(&vm->pci, (unsigned)slot, &vp->pci);
	if (ret < 0) {
		virtio_pci_free(vp);
		return ret;
	}
	vm->nr_virtio++;
	return 0;
}

/* QEMU's pci-testdev, after the virtio functions; it has no interrupt pin. */
static int add_pci_testdev(struct vm *vm)
{
	int slot = pci_bus_free_slot(&vm->pci);
	int ret;

	if (slot < 0)
		return slot;
	ret = pci_testdev_init(&vm->pci_testdev);
	if (ret < 0)
		return ret;
	vm->pci_testdev_ready = true;
	return pci_bus_add(&vm->pci, (unsigned)slot, &vm->pci_testdev.pci);
}

int vm_pci_init(struct vm *vm)
{
	int ret;

	pci_bus_init(&vm->pci);
	vm->pci_ready = true;
	pci_host_bridge_init(&vm->host_bridge);
	ret = pci_bus_add(&vm->pci, 0, &vm->host_bridge);
	for (unsigned i = 0; ret == 0 && i < vm->cfg.nr_disks; i++) {
		ret = virtio_blk_open(&vm->disks[i], vm->cfg.disks[i].path,
				      vm->cfg.disks[i].read_only, i, &vm->mem);
		if (ret == 0) {
			vm->nr_disks++;
			ret = add_virtio(vm, &vm->disks[i].vdev);
		}
	}
	for (unsigned i = 0; ret == 0 && i < vm->cfg.nr_nets; i++) {
		ret = virtio_net_open(&vm->nets[i], &vm->mem, &vm->cfg.nets[i]);
		if (ret == 0) {
			vm->nr_nets++;
			ret = add_virtio(vm, &vm->nets[i].vdev);
		}
	}
	for (unsigned i = 0; ret == 0 && i < vm->cfg.nr_shares; i++) {
		ret = virtio_fs_open(&vm->shares[i], &vm->mem, &vm->cfg.shares[i]);
		if (ret == 0) {
			vm->nr_shares++;
			ret = add_virtio(vm, &vm->shares[i].vdev);
		}
	}
	if (ret == 0 && vm->cfg.rng) {
		virtio_rng_init(&vm->rng, &vm->mem);
		ret = add_virtio(vm, &vm->rng.vdev);
	}
	if (ret == 0 && vm->cfg.virtio_console) {
		if (vm->cfg.virtio_console_channel)
			ret = virtio_console_open(&vm->hvc, &vm->mem, NULL, vm->cfg.virtio_console_fd,
						  vm->cfg.virtio_console_fd);
		else
			ret = virtio_console_open(&vm->hvc, &vm->mem, vm->cfg.virtio_console_path,
						  vm->cfg.console_fd, -1);
		if (ret == 0)
			ret = add_virtio(vm, &vm->hvc.vdev);
	}
	if (ret == 0 && vm->cfg.test_devices)
		ret = add_pci_testdev(vm);
	if (ret == 0)
		ret = bus_register(&vm->pio_bus, PCI_CONFIG_PORT, PCI_CONFIG_NR_PORTS,
				   &pci_config_ops, &vm->pci);
	if (ret == 0)
		ret = bus_register(&vm->mmio_bus, PCI_MMIO_WINDOW_BASE, PCI_MMIO_WINDOW_SIZE,
				   &pci_mmio_window_ops, &vm->pci);
	if (ret == 0)
		ret = bus_register(&vm->pio_bus, PCI_IO_WINDOW_BASE, PCI_IO_WINDOW_SIZE,
				   &pci_io_window_ops, &vm->pci);
	return ret;
}

int vm_pci_attach(struct vm *vm)
{
	int ret;

	irq_router_init(&vm->irq, vm->vm_fd);
	vm->irq_ready = true;
	for (unsigned i = 0; i < vm->nr_virtio; i++) {
		ret = irq_msi_alloc(&vm->irq, vm->virtio[i].msix.nr_vectors);
		if (ret < 0)
			return ret;
		vm->virtio[i].plat.msi_base = (unsigned)ret;
	}
	for (unsigned i = 0; i < vm->nr_virtio; i++) {
		ret = virtio_pci_start(&vm->virtio[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

uint32_t vm_pci_intx_slots(const struct vm *vm)
{
	uint32_t slots = 0;

	for (unsigned s = 1; s <= MPTABLE_PCI_MAX_SLOT; s++)
		if (vm->pci.slots[s] != NULL && vm->pci.slots[s]->config[PCI_INTERRUPT_PIN] != 0)
			slots |= 1U << s;
	return slots;
}

int vm_pci_announce(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_nets; i++) {
		int ret = virtio_net_announce(&vm->nets[i]);

		if (ret < 0)
			return ret;
	}
	return 0;
}

void vm_pci_pause(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_virtio; i++)
		virtio_pci_pause(&vm->virtio[i]);
}

void vm_pci_resume(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_virtio; i++)
		virtio_pci_resume(&vm->virtio[i]);
}

int vm_pci_flush(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_disks; i++)
		if (!vm->disks[i].read_only && fdatasync(vm->disks[i].fd) < 0)
			return err_set(-errno, "disk image '%s': fdatasync: %s", vm->disks[i].path,
				       strerror(errno));
	return 0;
}

void vm_pci_free(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_virtio; i++)
		virtio_pci_free(&vm->virtio[i]);
	vm->nr_virtio = 0;
	for (unsigned i = 0; i < vm->nr_disks; i++)
		virtio_blk_close(&vm->disks[i]);
	vm->nr_disks = 0;
	for (unsigned i = 0; i < vm->nr_nets; i++)
		virtio_net_close(&vm->nets[i]);
	vm->nr_nets = 0;
	for (unsigned i = 0; i < vm->nr_shares; i++)
		virtio_fs_close(&vm->shares[i]);
	vm->nr_shares = 0;
	virtio_console_close(&vm->hvc);	/* closes only a file it opened */
	if (vm->pci_testdev_ready)
		pci_testdev_destroy(&vm->pci_testdev);
	vm->pci_testdev_ready = false;
	if (vm->irq_ready)
		irq_router_free(&vm->irq);
	if (vm->pci_ready)
		pci_bus_free(&vm->pci);
	vm->irq_ready = vm->pci_ready = false;
}
