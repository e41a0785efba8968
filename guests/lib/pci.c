/* PCI configuration space by mechanism #1 (ports 0xcf8/0xcfc), bus 0. */
#include "guest.h"

#define PCI_ADDRESS_PORT 0xcf8
#define PCI_DATA_PORT 0xcfc

static void pci_select(unsigned slot, unsigned reg)
{
	outl(PCI_ADDRESS_PORT, 1u << 31 | slot << 11 | (reg & 0xfc));
}

uint32_t pci_config_read(unsigned slot, unsigned reg)
{
	pci_select(slot, reg);
	return inl(PCI_DATA_PORT);
}

void pci_config_write(unsigned slot, unsigned reg, uint32_t value)
{
	pci_select(slot, reg);
	outl(PCI_DATA_PORT, value);
}

int pci_find(uint32_t vendor_device)
{
	for (unsigned slot = 0; slot < 32; slot++)
		if (pci_config_read(slot, 0) == vendor_device)
			return (int)slot;
	return -1;
}
