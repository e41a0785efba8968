/* The guest's formula for kvmclock (Linux's pvclock_read_cycles): the page's system_time plus
 * the TSC ticks since tsc_timestamp, shifted and then scaled by mul / 2^32. */
#include <errno.h>

#include "hopvm/kvmclock.h"
#include "hopvm/le.h"

#define PVCLOCK_VERSION 0
#define PVCLOCK_TSC_TIMESTAMP 8
#define PVCLOCK_SYSTEM_TIME 16
#define PVCLOCK_MUL 24
#define PVCLOCK_SHIFT 28

int kvmclock_guest_ns(const struct guest_mem *mem, uint64_t system_time_msr, uint64_t tsc,
		      uint64_t *ns)
{
	const uint8_t *page;
	uint64_t stamp, delta;
	int8_t shift;

	if (!(system_time_msr & 1))
		return -ENOENT;
	page = guest_mem_ptr(mem, system_time_msr & ~1ULL, KVMCLOCK_PAGE_SIZE);
	if (page == NULL)
		return -EFAULT;
	/* An odd version: KVM was writing the page when the vCPU stopped. */
	if (le32_get(page + PVCLOCK_VERSION) & 1)
		return -EAGAIN;
	stamp = le64_get(page + PVCLOCK_TSC_TIMESTAMP);
	delta = tsc > stamp ? tsc - stamp : 0;
	/* KVM's shifts are small; a guest may have scribbled any byte here. */
	shift = (int8_t)page[PVCLOCK_SHIFT];
	if (shift <= -64 || shift >= 64)
		delta = 0;
	else if (shift < 0)
		delta >>= -shift;
	else
		delta <<= shift;
	*ns = le64_get(page + PVCLOCK_SYSTEM_TIME) +
	      (uint64_t)(((unsigned __int128)delta * le32_get(page + PVCLOCK_MUL)) >> 32);
	return 0;
}
