/* Interrupt routing for the VM's in-kernel irqchip: the PIC and IOAPIC pins as KVM sets them
 * up, plus one GSI per MSI-X vector of hopvm's PCI devices, each fed by an irqfd so a device
 * thread interrupts the guest with an eventfd write, not an ioctl.
 *
 * A route is (re)written lazily, when a vector fires with an address and data the table does
 * not hold yet: the guest programs a vector in several writes, and only the whole counts. */
#ifndef HOPVM_IRQ_H
#define HOPVM_IRQ_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define IRQ_IRQCHIP_PINS 24	/* the IOAPIC's; the PICs have the first 16 */
#define IRQ_MAX_MSI 128
#define IRQ_MAX_ROUTES (IRQ_IRQCHIP_PINS + 16 + IRQ_MAX_MSI)

struct irq_msi {
	int fd;			/* the irqfd's eventfd */
	uint64_t addr;
	uint32_t data;
	bool routed;		/* the table holds addr and data */
};

struct irq_router {
	int vm_fd;
	pthread_mutex_t lock;
	unsigned nr_msi;
	struct irq_msi msi[IRQ_MAX_MSI];
	unsigned nr_entries;
	struct kvm_irq_routing_entry entries[IRQ_MAX_ROUTES];
};

void irq_router_init(struct irq_router *r, int vm_fd);
void irq_router_free(struct irq_router *r);

/* Reserves n MSI GSIs with their irqfds and returns the first one's index. */
int irq_msi_alloc(struct irq_router *r, unsigned n) __attribute__((warn_unused_result));

/* Sends message (addr, data) through MSI index i. */
int irq_msi_send(struct irq_router *r, unsigned i, uint64_t addr, uint32_t data);

#endif
