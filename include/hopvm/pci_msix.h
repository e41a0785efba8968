/* MSI-X (PCI 3.0, 6.8.2): a device's table of message addresses and data, in one of its
 * memory BARs, and the pending bits of the vectors the guest masked.
 *
 * The device model calls pci_msix_notify(); what sending a message means (a KVM GSI route
 * and an irqfd, in hopvm) is the owner's send callback, so the model runs without KVM. */
#ifndef HOPVM_PCI_MSIX_H
#define HOPVM_PCI_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hopvm/device_state.h"
#include "hopvm/pci.h"

#define PCI_MSIX_MAX_VECTORS 64
#define PCI_MSIX_ENTRY_SIZE 16
#define PCI_MSIX_NO_VECTOR 0xffff	/* virtio's "no vector" */

/* Message Control, at cap + 2. */
#define PCI_MSIX_CONTROL 2
#define PCI_MSIX_CONTROL_ENABLE 0x8000
#define PCI_MSIX_CONTROL_MASK_ALL 0x4000

struct pci_msix_entry {
	uint32_t addr_lo, addr_hi, data, control;	/* control bit 0: masked */
};

struct pci_msix {
	struct pci_device *pci;
	uint8_t cap;			/* the capability's offset in configuration space */
	unsigned nr_vectors;
	pthread_mutex_t lock;		/* the table against the device's I/O thread */
	struct pci_msix_entry table[PCI_MSIX_MAX_VECTORS];
	uint64_t pending;		/* the PBA: a bit per vector */
	void (*send)(void *ctx, unsigned vector, uint64_t addr, uint32_t data);
	void *ctx;
};

/* Adds the capability to pci, its table at table_offset and its PBA at pba_offset of memory
 * BAR bar, nr_vectors (1 to PCI_MSIX_MAX_VECTORS) entries, all masked. */
int pci_msix_init(struct pci_msix *m, struct pci_device *pci, unsigned nr_vectors, unsigned bar,
		  uint32_t table_offset, uint32_t pba_offset,
		  void (*send)(void *ctx, unsigned vector, uint64_t addr, uint32_t data), void *ctx)
	__attribute__((warn_unused_result));
void pci_msix_free(struct pci_msix *m);

/* Every vector masked, nothing pending (the capability's control word is the config space's,
 * which the PCI device's reset restores). */
void pci_msix_reset(struct pci_msix *m);

bool pci_msix_enabled(const struct pci_msix *m);

/* The guest's accesses (4 or 8 bytes, aligned) to the table, at offset from its start, and
 * to the PBA; others are refused. */
int pci_msix_table_read(struct pci_msix *m, uint64_t offset, uint8_t *data, unsigned size);
int pci_msix_table_write(struct pci_msix *m, uint64_t offset, const uint8_t *data,
			 unsigned size);
int pci_msix_pba_read(struct pci_msix *m, uint64_t offset, uint8_t *data, unsigned size);

/* After the guest changed the control word: a vector no longer masked sends what was
 * pending. */
void pci_msix_control_written(struct pci_msix *m);

/* Signals vector: sent now, or pending while masked.  Out-of-range vectors are dropped. */
void pci_msix_notify(struct pci_msix *m, unsigned vector);

/* Migration: the table and the pending bits. */
void pci_msix_save(struct pci_msix *m, struct state_buf *s);
int pci_msix_load(struct pci_msix *m, struct state_buf *s);

#endif
