/* Auto-converge for a migration that does not converge: every vCPU loses a growing share of
 * its time, first 20 %, then 10 points a step up to 99 % (QEMU's steps).  A thread kicks the
 * vCPUs out of the guest once per slice; vcpu.c makes a kicked vCPU sleep its share.  Private
 * to src/migration. */
#ifndef HOPVM_MIGRATION_THROTTLE_H
#define HOPVM_MIGRATION_THROTTLE_H

#include "hopvm/migration.h"

#define THROTTLE_FIRST 20
#define THROTTLE_STEP 10
#define THROTTLE_MAX 99

/* Raises the throttle one step (starting its thread the first time). */
int migration_throttle_raise(struct migration *m) __attribute__((warn_unused_result));

/* The vCPUs run at full speed again; the thread ends. */
void migration_throttle_stop(struct migration *m);

#endif
