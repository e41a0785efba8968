/* The guest's side of kvmclock: the time a guest computes from the per-vCPU page KVM keeps in
 * its RAM (struct pvclock_vcpu_time_info, at the address in MSR_KVM_SYSTEM_TIME_NEW) and its
 * TSC.  Migration saves this rather than KVM_GET_CLOCK alone where the two can differ. */
#ifndef HOPVM_KVMCLOCK_H
#define HOPVM_KVMCLOCK_H

#include <stdint.h>

#include "hopvm/memory.h"

#define MSR_KVM_SYSTEM_TIME 0x12
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define KVMCLOCK_PAGE_SIZE 32	/* version, tsc_timestamp, system_time, mul, shift, flags */

/* What the guest reads from its kvmclock at guest TSC value tsc, in ns, into *ns.
 * system_time_msr is the MSR's value (bit 0: enabled).  -ENOENT if the guest has no kvmclock
 * there, -EFAULT if the page is not in RAM, -EAGAIN if KVM was midway through updating it. */
int kvmclock_guest_ns(const struct guest_mem *mem, uint64_t system_time_msr, uint64_t tsc,
		      uint64_t *ns) __attribute__((warn_unused_result));

#endif
