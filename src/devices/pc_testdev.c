#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hopvm/device_state.h"
#include "hopvm/error.h"
#include "hopvm/le.h"
#include "hopvm/pc_testdev.h"

#define SCRATCH_LEN 4
#define HUGETLB_PAGE_SIZE (2ULL << 20)

void pc_testdev_init(struct pc_testdev *td, struct guest_mem *mem,
		     void (*set_irq)(void *ctx, unsigned line, int level),
		     void (*quiesce)(void *ctx, bool quiet), void *ctx)
{
	memset(td, 0, sizeof(*td));
	pthread_mutex_init(&td->lock, NULL);
	td->mem = mem;
	td->set_irq = set_irq;
	td->quiesce = quiesce;
	td->ctx = ctx;
}

void pc_testdev_destroy(struct pc_testdev *td)
{
	pthread_mutex_destroy(&td->lock);
}

/* Where an access of size bytes at offset lies in the scratch register, or -1: it must stay
 * inside one of the register's two windows. */
static int scratch_byte(uint64_t offset, unsigned size)
{
	uint64_t base;

	if (size != 1 && size != 2 && size != 4)
		return -1;
	if (offset < PC_TESTDEV_SCRATCH + SCRATCH_LEN)
		base = PC_TESTDEV_SCRATCH;
	else if (offset >= PC_TESTDEV_SCRATCH_BYTES &&
		 offset < PC_TESTDEV_SCRATCH_BYTES + SCRATCH_LEN)
		base = PC_TESTDEV_SCRATCH_BYTES;
	else
		return -1;
	return offset - base + size <= SCRATCH_LEN ? (int)(offset - base) : -1;
}

static int pc_testdev_read(void *dev, uint64_t offset, uint8_t *data, unsigned size)
{
	struct pc_testdev *td = dev;
	int at = scratch_byte(offset, size);
	uint8_t bytes[SCRATCH_LEN];

	if (offset == PC_TESTDEV_FLUSH && size == 4) {
		memset(data, 0, size);
		return 0;
	}
	if (at < 0)
		return -EINVAL;
	pthread_mutex_lock(&td->lock);
	le32_put(bytes, td->scratch);
	pthread_mutex_unlock(&td->lock);
	memcpy(data, bytes + at, size);
	return 0;
}

static int pc_testdev_write(void *dev, uint64_t offset, const uint8_t *data, unsigned size)
{
	struct pc_testdev *td = dev;
	int at = scratch_byte(offset, size);
	uint8_t bytes[SCRATCH_LEN];

	if (offset == PC_TESTDEV_FLUSH && size == 4)
		return pc_testdev_flush_page(td, le32_get(data));
	if (at < 0)
		return -EINVAL;
	pthread_mutex_lock(&td->lock);
	le32_put(bytes, td->scratch);
	memcpy(bytes + at, data, size);
	td->scratch = le32_get(bytes);
	pthread_mutex_unlock(&td->lock);
	return 0;
}

/* The host range to change for the guest page at host: the host page holding it, or the huge
 * page for hugetlbfs RAM, which the kernel changes only whole. */
static void host_span(const struct guest_mem *mem, uint8_t *host, uintptr_t *start, size_t *len)
{
	size_t span = mem->backing == MEM_BACKING_HUGETLBFS ? HUGETLB_PAGE_SIZE
							       : (size_t)sysconf(_SC_PAGESIZE);

	*start = (uintptr_t)host & ~(uintptr_t)(span - 1);
	*len = span;
}

int pc_testdev_flush_page(struct pc_testdev *td, uint64_t gpa)
{
	uint64_t page = gpa & ~(MEM_PAGE_SIZE - 1);
	uint8_t *host = guest_mem_ptr(td->mem, page, MEM_PAGE_SIZE);
	uintptr_t start;
	size_t len;
	int ret = 0;

	if (host == NULL)
		return err_set(-EFAULT, "pc-testdev: page flush of 0x%llx, which is not guest RAM",
			       (unsigned long long)gpa);
	host_span(td->mem, host, &start, &len);
	if (td->quiesce != NULL)
		td->quiesce(td->ctx, true);
	/* Taking access away and giving it back, as QEMU does: the kernel changes the page
	 * table entries, KVM's MMU notifier zaps its own, and the anonymous page itself (its
	 * contents) stays.  QEMU takes every access; taking only writes invalidates as much,
	 * and lets the threads that only read RAM (a migration's sender) go on. */
	if (mprotect((void *)start, len, PROT_READ) < 0)
		ret = err_set(-errno, "pc-testdev: page flush of 0x%llx: mprotect: %s",
			      (unsigned long long)gpa, strerror(errno));
	else if (mprotect((void *)start, len, PROT_READ | PROT_WRITE) < 0)
		ret = err_set(-errno, "pc-testdev: page flush of 0x%llx: mprotect (restoring "
			      "access): %s", (unsigned long long)gpa, strerror(errno));
	/* KVM's dirty log keeps what was written before the zap, but a spare resend of the page
	 * costs less than reasoning about every kind of host MMU: count it as written. */
	guest_mem_mark_dirty(td->mem, page, MEM_PAGE_SIZE);
	if (td->quiesce != NULL)
		td->quiesce(td->ctx, false);
	return ret;
}

static void pc_testdev_reset(void *dev)
{
	struct pc_testdev *td = dev;

	pthread_mutex_lock(&td->lock);
	td->scratch = 0;
	memset(td->iomem, 0, sizeof(td->iomem));
	pthread_mutex_unlock(&td->lock);
}

static int pc_testdev_save(void *dev, uint8_t *buf, size_t len)
{
	struct pc_testdev *td = dev;
	struct state_buf s;

	state_writer(&s, buf, len);
	pthread_mutex_lock(&td->lock);
	state_put_u64(&s, td->scratch);
	state_put_bytes(&s, td->iomem, sizeof(td->iomem));
	pthread_mutex_unlock(&td->lock);
	return state_saved(&s);
}

static int pc_testdev_load(void *dev, const uint8_t *buf, size_t len)
{
	struct pc_testdev *td = dev;
	uint8_t *iomem = malloc(PC_TESTDEV_IOMEM_SIZE);
	struct state_buf s;
	uint64_t scratch;
	int ret;

	if (iomem == NULL)
		return err_set(-ENOMEM, "pc-testdev: out of memory for its saved window");
	state_reader(&s, buf, len);
	scratch = state_get_u64(&s);
	state_get_bytes(&s, iomem, PC_TESTDEV_IOMEM_SIZE);
	ret = state_loaded(&s, "pc-testdev");
	if (ret == 0 && scratch > UINT32_MAX)
		ret = err_set(-EINVAL, "pc-testdev: saved scratch value 0x%llx does not fit its "
			      "32-bit register", (unsigned long long)scratch);
	if (ret == 0) {
		pthread_mutex_lock(&td->lock);
		td->scratch = (uint32_t)scratch;
		memcpy(td->iomem, iomem, sizeof(td->iomem));
		pthread_mutex_unlock(&td->lock);
	}
	free(iomem);
	return ret;
}

const struct device_ops pc_testdev_ops = {
	.name = "pc-testdev",
	.read = pc_testdev_read,
	.write = pc_testdev_write,
	.reset = pc_testdev_reset,
	.state_version = 1,
	.save = pc_testdev_save,
	.load = pc_testdev_load,
};

/* QEMU's IRQ block takes bytes only, and QEMU's memory core splits a wider access into bytes
 * at consecutive ports: a 2- or 4-byte OUT sets one line per byte, from the port's own line
 * up, each to its byte's value (kvm-unit-tests' realmode.c pulses IRQ 11 with "outl" to port
 * 0x200b: line 11 gets 1 then 0, lines 12-14 get 0 twice).  Reads give 0 at any width. */
static bool irq_access_size(unsigned size)
{
	return size == 1 || size == 2 || size == 4;
}

static int irq_read(void *dev, uint64_t offset, uint8_t *data, unsigned size)
{
	(void)dev;
	(void)offset;
	if (!irq_access_size(size))
		return -EINVAL;
	memset(data, 0, size);
	return 0;
}

static int irq_write(void *dev, uint64_t offset, const uint8_t *data, unsigned size)
{
	struct pc_testdev *td = dev;

	if (!irq_access_size(size) || offset >= PC_TESTDEV_NR_IRQS)
		return -EINVAL;
	for (unsigned i = 0; i < size && offset + i < PC_TESTDEV_NR_IRQS; i++)
		if (td->set_irq != NULL)
			td->set_irq(td->ctx, (unsigned)offset + i, data[i] != 0);
	return 0;
}

/* The window's state travels with pc_testdev_ops; these ranges only reach it. */
const struct device_ops pc_testdev_irq_ops = {
	.name = "pc-testdev-irq",
	.read = irq_read,
	.write = irq_write,
};

static bool iomem_fits(uint64_t offset, unsigned size)
{
	return size >= 1 && size <= 8 && offset < PC_TESTDEV_IOMEM_SIZE &&
	       size <= PC_TESTDEV_IOMEM_SIZE - offset;
}

static int iomem_read(void *dev, uint64_t offset, uint8_t *data, unsigned size)
{
	struct pc_testdev *td = dev;

	if (!iomem_fits(offset, size))
		return -EINVAL;
	pthread_mutex_lock(&td->lock);
	memcpy(data, td->iomem + offset, size);
	pthread_mutex_unlock(&td->lock);
	return 0;
}

static int iomem_write(void *dev, uint64_t offset, const uint8_t *data, unsigned size)
{
	struct pc_testdev *td = dev;

	if (!iomem_fits(offset, size))
		return -EINVAL;
	pthread_mutex_lock(&td->lock);
	memcpy(td->iomem + offset, data, size);
	pthread_mutex_unlock(&td->lock);
	return 0;
}

const struct device_ops pc_testdev_iomem_ops = {
	.name = "pc-testdev-iomem",
	.read = iomem_read,
	.write = iomem_write,
};
