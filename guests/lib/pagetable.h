/* Guest-built 4-level page tables with 4 KiB pages, from a static pool of table pages. */
#ifndef GUEST_PAGETABLE_H
#define GUEST_PAGETABLE_H

#include <stdint.h>

#define PAGE_SIZE 4096ULL

/* Starts an empty address space (the pool holds enough for 4 KiB pages over 1 GiB). */
void pt_init(void);
/* Maps va to pa (read/write) and flushes va from the TLB; -1 when the pool is empty. */
int pt_map(uint64_t va, uint64_t pa);
void pt_unmap(uint64_t va);
/* The PTE for va, creating the tables above it (0 when the pool is empty). */
uint64_t *pt_pte(uint64_t va);
/* Identity-maps [0, top) and switches CR3 to these tables. */
int pt_identity_map_and_load(uint64_t top);
unsigned pt_pages_used(void);

static inline void invlpg(uint64_t va)
{
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

#endif
