/* What the parts of the hostile guest share. */
#ifndef HOSTILE_H
#define HOSTILE_H

#include <stdint.h>

#define HOSTILE_RNG_ID 0x10441af4
#define HOSTILE_BLK_ID 0x10421af4

/* The virtio attacks on every CPU the MP table lists, all at once against the same two
 * devices (smp.c): the number of checks that failed. */
unsigned hostile_smp(uint64_t ram_end, const uint8_t *apic_ids, unsigned nr_cpus);

#endif
