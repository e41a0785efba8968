#include <errno.h>
#include <string.h>

#include "hopvm/error.h"
#include "hopvm/le.h"
#include "hopvm/pci_msix.h"

#define CAP_LEN 12
#define CAP_TABLE 4
#define CAP_PBA 8
#define ENTRY_MASKED 1

int pci_msix_init(struct pci_msix *m, struct pci_device *pci, unsigned nr_vectors, unsigned bar,
		  uint32_t table_offset, uint32_t pba_offset,
		  void (*send)(void *ctx, unsigned vector, uint64_t addr, uint32_t data), void *ctx)
{
	int cap;

	if (nr_vectors == 0 || nr_vectors > PCI_MSIX_MAX_VECTORS || bar >= PCI_BARS ||
	    (table_offset | pba_offset) & 7)
		return err_set(-EINVAL, "PCI device %s: bad MSI-X layout", pci->name);
	cap = pci_device_add_cap(pci, PCI_CAP_ID_MSIX, CAP_LEN);
	if (cap < 0)
		return cap;
	memset(m, 0, sizeof(*m));
	m->pci = pci;
	m->cap = (uint8_t)cap;
	m->nr_vectors = nr_vectors;
	m->send = send;
	m->ctx = ctx;
	pthread_mutex_init(&m->lock, NULL);
	le16_put(pci->config + cap + PCI_MSIX_CONTROL, (uint16_t)(nr_vectors - 1));
	le32_put(pci->config + cap + CAP_TABLE, table_offset | bar);
	le32_put(pci->config + cap + CAP_PBA, pba_offset | bar);
	pci_device_set_wmask(pci, (unsigned)cap + PCI_MSIX_CONTROL, 2,
			     PCI_MSIX_CONTROL_ENABLE | PCI_MSIX_CONTROL_MASK_ALL);
	pci_msix_reset(m);
	return 0;
}

void pci_msix_free(struct pci_msix *m)
{
	if (m->pci != NULL)
		pthread_mutex_destroy(&m->lock);
}

void pci_msix_reset(struct pci_msix *m)
{
	pthread_mutex_lock(&m->lock);
	memset(m->table, 0, sizeof(m->table));
	for (unsigned v = 0; v < m->nr_vectors; v++)
		m->table[v].control = ENTRY_MASKED;
	m->pending = 0;
	pthread_mutex_unlock(&m->lock);
}

static uint16_t control_word(const struct pci_msix *m)
{
	return le16_get(m->pci->config + m->cap + PCI_MSIX_CONTROL);
}

bool pci_msix_enabled(const struct pci_msix *m)
{
	return (control_word(m) & PCI_MSIX_CONTROL_ENABLE) != 0;
}

static bool vector_masked(const struct pci_msix *m, unsigned v)
{
	return (control_word(m) & PCI_MSIX_CONTROL_MASK_ALL) ||
	       (m->table[v].control & ENTRY_MASKED);
}

/* Called with the lock held. */
static void send_vector(struct pci_msix *m, unsigned v)
{
	const struct pci_msix_entry *e = &m->table[v];

	m->pending &= ~(1ULL << v);
	m->send(m->ctx, v, (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data);
}

static void send_unmasked_pending(struct pci_msix *m)
{
	if (!pci_msix_enabled(m))
		return;
	for (unsigned v = 0; v < m->nr_vectors; v++)
		if ((m->pending & (1ULL << v)) && !vector_masked(m, v))
			send_vector(m, v);
}

static bool access_ok(uint64_t offset, unsigned size, uint64_t limit)
{
	return (size == 4 || size == 8) && offset % size == 0 && offset + size <= limit;
}

int pci_msix_table_read(struct pci_msix *m, uint64_t offset, uint8_t *data, unsigned size)
{
	if (!access_ok(offset, size, (uint64_t)m->nr_vectors * PCI_MSIX_ENTRY_SIZE))
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	for (unsigned i = 0; i < size; i += 4) {
		const uint32_t *words = &m->table[(offset + i) / PCI_MSIX_ENTRY_SIZE].addr_lo;

		le32_put(data + i, words[(offset + i) % PCI_MSIX_ENTRY_SIZE / 4]);
	}
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int pci_msix_table_write(struct pci_msix *m, uint64_t offset, const uint8_t *data,
			 unsigned size)
{
	if (!access_ok(offset, size, (uint64_t)m->nr_vectors * PCI_MSIX_ENTRY_SIZE))
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	for (unsigned i = 0; i < size; i += 4) {
		struct pci_msix_entry *e = &m->table[(offset + i) / PCI_MSIX_ENTRY_SIZE];
		uint32_t *words = &e->addr_lo, v = le32_get(data + i);
		unsigned w = (offset + i) % PCI_MSIX_ENTRY_SIZE / 4;

		words[w] = w == 3 ? (v & ENTRY_MASKED) : v;	/* the rest of control is reserved */
	}
	send_unmasked_pending(m);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int pci_msix_pba_read(struct pci_msix *m, uint64_t offset, uint8_t *data, unsigned size)
{
	uint64_t pending;

	if (!access_ok(offset, size, 8))
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	pending = m->pending >> (8 * offset);
	pthread_mutex_unlock(&m->lock);
	for (unsigned i = 0; i < size; i++)
		data[i] = (uint8_t)(pending >> (8 * i));
	return 0;
}

void pci_msix_control_written(struct pci_msix *m)
{
	pthread_mutex_lock(&m->lock);
	send_unmasked_pending(m);
	pthread_mutex_unlock(&m->lock);
}

void pci_msix_notify(struct pci_msix *m, unsigned vector)
{
	if (vector >= m->nr_vectors)
		return;
	pthread_mutex_lock(&m->lock);
	if (vector_masked(m, vector) || !pci_msix_enabled(m))
		m->pending |= 1ULL << vector;
	else
		send_vector(m, vector);
	pthread_mutex_unlock(&m->lock);
}

void pci_msix_save(struct pci_msix *m, struct state_buf *s)
{
	pthread_mutex_lock(&m->lock);
	for (unsigned v = 0; v < m->nr_vectors; v++) {
		const struct pci_msix_entry *e = &m->table[v];

		state_put_u64(s, (uint64_t)e->addr_hi << 32 | e->addr_lo);
		state_put_u64(s, (uint64_t)e->control << 32 | e->data);
	}
	state_put_u64(s, m->pending);
	pthread_mutex_unlock(&m->lock);
}

int pci_msix_load(struct pci_msix *m, struct state_buf *s)
{
	struct pci_msix_entry table[PCI_MSIX_MAX_VECTORS];
	uint64_t pending;

	for (unsigned v = 0; v < m->nr_vectors; v++) {
		uint64_t addr = state_get_u64(s), word = state_get_u64(s);

		table[v] = (struct pci_msix_entry){ (uint32_t)addr, (uint32_t)(addr >> 32),
						    (uint32_t)word, (uint32_t)(word >> 32) };
		if (table[v].control & ~(uint32_t)ENTRY_MASKED)
			return err_set(-EINVAL, "%s: MSI-X vector %u has reserved control bits",
				       m->pci->name, v);
	}
	pending = state_get_u64(s);
	if (s->short_buf)
		return err_set(-EINVAL, "%s: the MSI-X state is cut short", m->pci->name);
	if (m->nr_vectors < 64 && pending >> m->nr_vectors)
		return err_set(-EINVAL, "%s: MSI-X vectors past %u are pending", m->pci->name,
			       m->nr_vectors);
	pthread_mutex_lock(&m->lock);
	memcpy(m->table, table, sizeof(table[0]) * m->nr_vectors);
	m->pending = pending;
	pthread_mutex_unlock(&m->lock);
	return 0;
}
