#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/irq.h"
#include "hopvm/kvm.h"

#define MSI_GSI_BASE IRQ_IRQCHIP_PINS

static void add_pin(struct irq_router *r, unsigned gsi, unsigned chip, unsigned pin)
{
	r->entries[r->nr_entries++] = (struct kvm_irq_routing_entry){
		.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
		.u.irqchip = { .irqchip = chip, .pin = pin },
	};
}

void irq_router_init(struct irq_router *r, int vm_fd)
{
	memset(r, 0, sizeof(*r));
	r->vm_fd = vm_fd;
	pthread_mutex_init(&r->lock, NULL);
	/* What KVM_CREATE_IRQCHIP routes by itself, which KVM_SET_GSI_ROUTING replaces: GSIs
	 * 0-15 to both PICs' pins and the IOAPIC's, 16-23 to the IOAPIC alone. */
	for (unsigned gsi = 0; gsi < IRQ_IRQCHIP_PINS; gsi++) {
		if (gsi < 8)
			add_pin(r, gsi, KVM_IRQCHIP_PIC_MASTER, gsi);
		else if (gsi < 16)
			add_pin(r, gsi, KVM_IRQCHIP_PIC_SLAVE, gsi - 8);
		add_pin(r, gsi, KVM_IRQCHIP_IOAPIC, gsi);
	}
}

void irq_router_free(struct irq_router *r)
{
	for (unsigned i = 0; i < r->nr_msi; i++)
		close(r->msi[i].fd);
	r->nr_msi = 0;
	pthread_mutex_destroy(&r->lock);
}

int irq_msi_alloc(struct irq_router *r, unsigned n)
{
	unsigned first;
	int ret = 0;

	pthread_mutex_lock(&r->lock);
	first = r->nr_msi;
	if (n > IRQ_MAX_MSI - first) {
		pthread_mutex_unlock(&r->lock);
		return err_set(-ENOSPC, "no more than %u MSI vectors in all", IRQ_MAX_MSI);
	}
	for (unsigned i = first; i < first + n && ret == 0; i++) {
		struct irq_msi *m = &r->msi[i];

		m->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (m->fd < 0) {
			ret = err_set(-errno, "eventfd for an MSI vector: %s", strerror(errno));
			break;
		}
		r->nr_msi++;
		/* An irqfd may name a GSI without a route yet: it looks the route up each time. */
		ret = kvm_irqfd(r->vm_fd, &(struct kvm_irqfd){ .fd = (uint32_t)m->fd,
							       .gsi = MSI_GSI_BASE + i });
	}
	pthread_mutex_unlock(&r->lock);
	return ret < 0 ? ret : (int)first;
}

/* Called with the lock held. */
static int route(struct irq_router *r, unsigned i, uint64_t addr, uint32_t data)
{
	struct kvm_irq_routing_entry e = {
		.gsi = MSI_GSI_BASE + i, .type = KVM_IRQ_ROUTING_MSI,
		.u.msi = { .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32),
			   .data = data },
	};
	struct kvm_irq_routing *table;
	unsigned n;
	int ret;

	for (n = 0; n < r->nr_entries && r->entries[n].gsi != e.gsi; n++)
		;
	if (n == r->nr_entries)
		r->nr_entries++;
	r->entries[n] = e;
	table = malloc(sizeof(*table) + sizeof(r->entries[0]) * r->nr_entries);
	if (table == NULL)
		return err_set(-ENOMEM, "out of memory for the GSI routing table");
	table->nr = r->nr_entries;
	table->flags = 0;
	memcpy(table->entries, r->entries, sizeof(r->entries[0]) * r->nr_entries);
	ret = kvm_set_gsi_routing(r->vm_fd, table);
	free(table);
	if (ret == 0) {
		r->msi[i].addr = addr;
		r->msi[i].data = data;
		r->msi[i].routed = true;
	}
	return ret;
}

int irq_msi_send(struct irq_router *r, unsigned i, uint64_t addr, uint32_t data)
{
	struct irq_msi *m;
	int ret = 0;

	if (i >= r->nr_msi)
		return -EINVAL;
	m = &r->msi[i];
	pthread_mutex_lock(&r->lock);
	if (!m->routed || m->addr != addr || m->data != data)
		ret = route(r, i, addr, data);
	pthread_mutex_unlock(&r->lock);
	if (ret == 0 && eventfd_write(m->fd, 1) < 0)
		ret = err_set(-errno, "signalling an MSI irqfd: %s", strerror(errno));
	return ret;
}
