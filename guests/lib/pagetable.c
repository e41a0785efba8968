#include "guest.h"
#include "pagetable.h"

#define PTE_P 0x1ULL
#define PTE_W 0x2ULL
#define POOL_PAGES 520

static uint64_t pool[POOL_PAGES][512] __attribute__((aligned(4096)));
static unsigned pool_used;
static uint64_t *pml4;

static uint64_t *new_table(void)
{
	uint64_t *t;

	if (pool_used == POOL_PAGES)
		return 0;
	t = pool[pool_used++];
	for (int i = 0; i < 512; i++)
		t[i] = 0;
	return t;
}

void pt_init(void)
{
	pool_used = 0;
	pml4 = new_table();
}

uint64_t *pt_pte(uint64_t va)
{
	uint64_t *table = pml4;

	for (int shift = 39; shift > 12; shift -= 9) {
		uint64_t *e = &table[(va >> shift) & 511];

		if (!(*e & PTE_P)) {
			uint64_t *t = new_table();

			if (t == 0)
				return 0;
			*e = (uint64_t)(uintptr_t)t | PTE_P | PTE_W;
		}
		table = (uint64_t *)(uintptr_t)(*e & ~0xfffULL);
	}
	return &table[(va >> 12) & 511];
}

int pt_map(uint64_t va, uint64_t pa)
{
	uint64_t *pte = pt_pte(va);

	if (pte == 0)
		return -1;
	*pte = pa | PTE_P | PTE_W;
	invlpg(va);
	return 0;
}

void pt_unmap(uint64_t va)
{
	uint64_t *pte = pt_pte(va);

	if (pte != 0)
		*pte = 0;
	invlpg(va);
}

int pt_identity_map_and_load(uint64_t top)
{
	for (uint64_t a = 0; a < top; a += PAGE_SIZE)
		if (pt_map(a, a) < 0)
			return -1;
	__asm__ volatile("mov %0, %%cr3" : : "r"(pml4) : "memory");
	return 0;
}

unsigned pt_pages_used(void)
{
	return pool_used;
}
