/* Guest physical memory: where guest RAM lives in hopvm's address space, and the one checked
 * way to reach it.
 *
 * RAM is split around the 32-bit MMIO hole as on a PC: the first part from guest-physical 0 up
 * to MEM_HOLE_START, the rest from 4 GiB.  Each part is one region, later one KVM memory slot.
 * Every access hopvm makes on behalf of a guest goes through guest_mem_ptr() or
 * guest_mem_write(), which refuse ranges that leave a region instead of overflowing. */
#ifndef HOPVM_MEMORY_H
#define HOPVM_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEM_PAGE_SIZE 4096ULL
#define MEM_HOLE_START 0xc0000000ULL	/* 3 GiB: LAPIC, IOAPIC and device windows above */
#define MEM_HIGH_START 0x100000000ULL	/* 4 GiB */
#define MEM_MAX_REGIONS 2
#define MEM_MIN_SIZE (1ULL << 20)
#define MEM_MAX_SIZE (1ULL << 40)

struct guest_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

enum guest_mem_backing {
	MEM_BACKING_SMALL_PAGES,	/* 4 KiB pages */
	MEM_BACKING_HUGETLBFS,		/* 2 MiB pages reserved in the host's hugetlbfs pool */
	MEM_BACKING_THP,		/* transparent huge pages, asked for with madvise */
};

struct guest_mem {
	struct guest_region regions[MEM_MAX_REGIONS];
	unsigned nr_regions;
	uint64_t ram_size;
	bool owns_mapping;	/* false when built over a caller's buffer (unit tests) */
	enum guest_mem_backing backing;
	/* While migration logs dirty pages: a bit per page of each region for hopvm's own writes
	 * into guest RAM, which KVM's dirty log does not see.  NULL otherwise. */
	uint64_t *dirty[MEM_MAX_REGIONS];
};

/* Maps ram_size bytes of anonymous memory and lays it out around the MMIO hole.
 * ram_size must be a multiple of 4 KiB between MEM_MIN_SIZE and MEM_MAX_SIZE.  With
 * hugepages, hugetlbfs pages if the host's pool has enough; else (and by default) 2 MiB
 * aligned memory with transparent huge pages asked for; mem->backing says which it got. */
int guest_mem_alloc(struct guest_mem *mem, uint64_t ram_size, bool hugepages)
	__attribute__((warn_unused_result));

/* A sentence for the user about mem->backing. */
const char *guest_mem_backing_text(const struct guest_mem *mem);

/* Uses a caller-owned buffer as RAM starting at guest-physical 0 (for tests without KVM). */
void guest_mem_init_buffer(struct guest_mem *mem, void *buf, uint64_t size);

void guest_mem_free(struct guest_mem *mem);

/* The host address of [gpa, gpa + len), or NULL unless the whole range lies in one region. */
void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* Pages in region r, and words in a bitmap with a bit for each (KVM's dirty log layout). */
uint64_t guest_region_pages(const struct guest_region *r);
uint64_t guest_region_bitmap_words(const struct guest_region *r);

/* Starts and stops recording hopvm's own writes into guest RAM (guest_mem_write(),
 * guest_mem_zero(), guest_mem_mark_dirty()).  Stopping drops what was recorded. */
int guest_mem_dirty_log_start(struct guest_mem *mem) __attribute__((warn_unused_result));
void guest_mem_dirty_log_stop(struct guest_mem *mem);

/* Records a write of [gpa, gpa + len) that hopvm made through a guest_mem_ptr() pointer.  Safe
 * from any thread; does nothing while no log runs. */
void guest_mem_mark_dirty(struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* ORs the pages of region r that hopvm wrote since the last call into bitmap (one bit per
 * page of the region) and forgets them. */
void guest_mem_dirty_collect(struct guest_mem *mem, unsigned r, uint64_t *bitmap);

/* Copies into guest memory; -EFAULT if the range is not wholly RAM. */
int guest_mem_write(struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len)
	__attribute__((warn_unused_result));

/* Sets [gpa, gpa + len) to zero; -EFAULT if the range is not wholly RAM. */
int guest_mem_zero(struct guest_mem *mem, uint64_t gpa, uint64_t len)
	__attribute__((warn_unused_result));

#endif
