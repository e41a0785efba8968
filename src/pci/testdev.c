#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "hopvm/device_state.h"
#include "hopvm/error.h"
#include "hopvm/le.h"
#include "hopvm/pci_testdev.h"

#define TEST_WIDTH 1
#define DATA_MATCH 0xfa
#define DATA_WILDCARD 0xce
#define QEMU_SUBSYSTEM_VENDOR 0x1af4	/* what QEMU gives every PCI device */
#define QEMU_SUBSYSTEM 0x1100

/* Test t is kind t % 3 in BAR t / 3, with its address just past the first half of the BAR. */
static const char *const test_names[PCI_TESTDEV_NR_TESTS] = {
	"mmio-no-eventfd", "mmio-wildcard-eventfd", "mmio-datamatch-eventfd",
	"portio-no-eventfd", "portio-wildcard-eventfd", "portio-datamatch-eventfd",
};

static bool is_wildcard(unsigned t)
{
	return t % PCI_TESTDEV_TESTS_PER_BAR == 1;
}

static bool has_eventfd(unsigned t)
{
	return t % PCI_TESTDEV_TESTS_PER_BAR != 0;
}

static unsigned test_bar(unsigned t)
{
	return t < PCI_TESTDEV_TESTS_PER_BAR ? PCI_TESTDEV_MEM_BAR : PCI_TESTDEV_IO_BAR;
}

static uint32_t test_offset(unsigned t)
{
	uint32_t half = test_bar(t) == PCI_TESTDEV_MEM_BAR ? PCI_TESTDEV_MEM_SIZE / 2
							  : PCI_TESTDEV_IO_SIZE / 2;

	return half + t * TEST_WIDTH;
}

static uint8_t test_data(unsigned t)
{
	return is_wildcard(t) ? DATA_WILDCARD : DATA_MATCH;
}

/* Byte off of the selected test's header, as the guest reads it.  Called with the lock. */
static uint8_t header_byte(const struct pci_testdev *td, uint64_t off)
{
	unsigned t = td->current;
	size_t name_len;
	uint8_t word[4];

	if (t == PCI_TESTDEV_NONE)
		return 0;
	name_len = strlen(test_names[t]);
	if (off >= PCI_TESTDEV_HDR_NAME)
		return off - PCI_TESTDEV_HDR_NAME < name_len
			       ? (uint8_t)test_names[t][off - PCI_TESTDEV_HDR_NAME] : 0;
	switch (off & ~3ULL) {
	case PCI_TESTDEV_HDR_TEST:
		le32_put(word, t | TEST_WIDTH << 8);
		break;
	case PCI_TESTDEV_HDR_OFFSET:
		le32_put(word, test_offset(t));
		break;
	case PCI_TESTDEV_HDR_DATA:
		le32_put(word, test_data(t));
		break;
	default:
		le32_put(word, td->count[t]);
		break;
	}
	return word[off & 3];
}

static void write_byte(struct pci_testdev *td, unsigned bar, uint64_t off, uint8_t value)
{
	unsigned t;

	if (off == PCI_TESTDEV_HDR_TEST) {
		td->current = PCI_TESTDEV_NONE;
		if (value >= PCI_TESTDEV_TESTS_PER_BAR)
			return;
		t = (bar == PCI_TESTDEV_IO_BAR ? PCI_TESTDEV_TESTS_PER_BAR : 0) + value;
		td->count[t] = 0;
		td->current = (uint8_t)t;
		return;
	}
	/* As in QEMU, the selected test counts whichever BAR the write came through. */
	t = td->current;
	if (t == PCI_TESTDEV_NONE || off != test_offset(t))
		return;
	if (is_wildcard(t) || value == test_data(t))
		td->count[t]++;
}

static uint64_t bar_size(unsigned bar)
{
	return bar == PCI_TESTDEV_MEM_BAR ? PCI_TESTDEV_MEM_SIZE : PCI_TESTDEV_IO_SIZE;
}

static int testdev_bar_read(struct pci_device *dev, unsigned bar, uint64_t offset,
			    uint8_t *data, unsigned size)
{
	struct pci_testdev *td = dev->owner;

	if (bar > PCI_TESTDEV_IO_BAR || size > 8 || offset + size > bar_size(bar))
		return -EINVAL;
	pthread_mutex_lock(&td->lock);
	for (unsigned i = 0; i < size; i++)
		data[i] = header_byte(td, offset + i);
	pthread_mutex_unlock(&td->lock);
	return 0;
}

/* Whether QEMU's ioeventfd for the selected test takes this write: one of the test's width
 * at its address in its own BAR, with its data unless it is the wildcard test.  There the
 * write signals the eventfd and never reaches the count. */
static bool eventfd_takes(const struct pci_testdev *td, unsigned bar, uint64_t offset,
			  const uint8_t *data, unsigned size)
{
	unsigned t = td->current;

	return t != PCI_TESTDEV_NONE && has_eventfd(t) && bar == test_bar(t) &&
	       offset == test_offset(t) && size == TEST_WIDTH &&
	       (is_wildcard(t) || data[0] == test_data(t));
}

static int testdev_bar_write(struct pci_device *dev, unsigned bar, uint64_t offset,
			     const uint8_t *data, unsigned size)
{
	struct pci_testdev *td = dev->owner;

	if (bar > PCI_TESTDEV_IO_BAR || size > 8 || offset + size > bar_size(bar))
		return -EINVAL;
	pthread_mutex_lock(&td->lock);
	if (!eventfd_takes(td, bar, offset, data, size))
		for (unsigned i = 0; i < size; i++)
			write_byte(td, bar, offset + i, data[i]);
	pthread_mutex_unlock(&td->lock);
	return 0;
}

static void testdev_reset(struct pci_device *dev)
{
	struct pci_testdev *td = dev->owner;

	pthread_mutex_lock(&td->lock);
	td->current = PCI_TESTDEV_NONE;
	memset(td->count, 0, sizeof(td->count));
	pthread_mutex_unlock(&td->lock);
}

static int testdev_save(struct pci_device *dev, struct state_buf *s)
{
	struct pci_testdev *td = dev->owner;

	pthread_mutex_lock(&td->lock);
	state_put_u8(s, td->current);
	for (unsigned t = 0; t < PCI_TESTDEV_NR_TESTS; t++)
		state_put_u64(s, td->count[t]);
	pthread_mutex_unlock(&td->lock);
	return 0;
}

static int testdev_load(struct pci_device *dev, struct state_buf *s)
{
	struct pci_testdev *td = dev->owner;
	uint64_t count[PCI_TESTDEV_NR_TESTS];
	uint8_t current = state_get_u8(s);

	for (unsigned t = 0; t < PCI_TESTDEV_NR_TESTS; t++)
		count[t] = state_get_u64(s);
	if (s->short_buf)
		return err_set(-EINVAL, "pci-testdev: the saved state is cut short");
	if (current >= PCI_TESTDEV_NR_TESTS && current != PCI_TESTDEV_NONE)
		return err_set(-EINVAL, "pci-testdev: saved test number %u is not one of its %u "
			       "tests", current, PCI_TESTDEV_NR_TESTS);
	for (unsigned t = 0; t < PCI_TESTDEV_NR_TESTS; t++)
		if (count[t] > UINT32_MAX)
			return err_set(-EINVAL, "pci-testdev: saved count 0x%llx of test %s does not "
				       "fit 32 bits", (unsigned long long)count[t], test_names[t]);
	pthread_mutex_lock(&td->lock);
	td->current = current;
	for (unsigned t = 0; t < PCI_TESTDEV_NR_TESTS; t++)
		td->count[t] = (uint32_t)count[t];
	pthread_mutex_unlock(&td->lock);
	return 0;
}

static const struct pci_device_ops testdev_ops = {
	.bar_read = testdev_bar_read,
	.bar_write = testdev_bar_write,
	.reset = testdev_reset,
	.save = testdev_save,
	.load = testdev_load,
};

int pci_testdev_init(struct pci_testdev *td)
{
	int ret;

	memset(td, 0, sizeof(*td));
	pci_device_init(&td->pci, "pci-testdev", PCI_TESTDEV_VENDOR, PCI_TESTDEV_DEVICE,
			PCI_TESTDEV_CLASS, 0);
	le16_put(td->pci.config + PCI_SUBSYSTEM_VENDOR_ID, QEMU_SUBSYSTEM_VENDOR);
	le16_put(td->pci.config + PCI_SUBSYSTEM_ID, QEMU_SUBSYSTEM);
	td->pci.ops = &testdev_ops;
	td->pci.owner = td;
	td->current = PCI_TESTDEV_NONE;
	ret = pci_device_set_bar(&td->pci, PCI_TESTDEV_MEM_BAR, PCI_TESTDEV_MEM_SIZE, 0);
	if (ret == 0)
		ret = pci_device_set_bar(&td->pci, PCI_TESTDEV_IO_BAR, PCI_TESTDEV_IO_SIZE,
					 PCI_BAR_IO);
	if (ret < 0)
		return ret;
	pthread_mutex_init(&td->lock, NULL);
	return 0;
}

void pci_testdev_destroy(struct pci_testdev *td)
{
	pthread_mutex_destroy(&td->lock);
}
