#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hopvm/error.h"
#include "hopvm/memory.h"

#define HUGE_PAGE_SIZE (2ULL << 20)
#define THP_ENABLED_PATH "/sys/kernel/mm/transparent_hugepage/enabled"

static bool thp_disabled(void)
{
	char line[128] = "";
	FILE *f = fopen(THP_ENABLED_PATH, "r");

	if (f == NULL)
		return true;
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	return strstr(line, "[never]") != NULL;
}

/* Anonymous memory starting on a 2 MiB boundary: KVM maps a guest page with one 2 MiB nested
 * page table entry only where guest-physical and host-virtual addresses agree modulo 2 MiB and
 * the host page is huge.  Without that every 4 KiB page costs its own nested page fault, which
 * a guest that has just moved here (all of its RAM new to KVM) pays on its first steps. */
static uint8_t *map_aligned(uint64_t ram_size)
{
	uint64_t span = ram_size + HUGE_PAGE_SIZE;
	uint8_t *raw = mmap(NULL, span, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t start;

	if (raw == MAP_FAILED)
		return MAP_FAILED;
	start = ((uintptr_t)raw + HUGE_PAGE_SIZE - 1) & ~(uintptr_t)(HUGE_PAGE_SIZE - 1);
	if (start > (uintptr_t)raw)
		munmap(raw, start - (uintptr_t)raw);
	munmap((uint8_t *)start + ram_size, (uintptr_t)raw + span - start - ram_size);
	return (uint8_t *)start;
}

/* Transparent huge pages where the host has them on at all, as QEMU asks for its RAM; with
 * hugepages, the hugetlbfs pool first (mmap fails at once if it is short, never later). */
static uint8_t *map_ram(struct guest_mem *mem, uint64_t ram_size, bool hugepages)
{
	uint8_t *host = MAP_FAILED;

	if (hugepages && ram_size % HUGE_PAGE_SIZE == 0)
		host = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (host != MAP_FAILED) {
		mem->backing = MEM_BACKING_HUGETLBFS;
		return host;
	}
	host = map_aligned(ram_size);
	if (host != MAP_FAILED && !thp_disabled() && madvise(host, ram_size, MADV_HUGEPAGE) == 0)
		mem->backing = MEM_BACKING_THP;
	return host;
}

const char *guest_mem_backing_text(const struct guest_mem *mem)
{
	switch (mem->backing) {
	case MEM_BACKING_HUGETLBFS:
		return "guest RAM: 2 MiB pages from hugetlbfs";
	case MEM_BACKING_THP:
		return "guest RAM: transparent huge pages (madvise; no hugetlbfs pages asked for "
		       "or too few)";
	default:
		return "guest RAM: 4 KiB pages (no hugetlbfs pages, and transparent huge pages "
		       "are off)";
	}
}

int guest_mem_alloc(struct guest_mem *mem, uint64_t ram_size, bool hugepages)
{
	uint64_t low_size, high_size;
	uint8_t *host;

	memset(mem, 0, sizeof(*mem));
	if (ram_size % MEM_PAGE_SIZE != 0)
		return err_set(-EINVAL, "guest memory size %llu is not a multiple of 4 KiB",
			       (unsigned long long)ram_size);
	if (ram_size < MEM_MIN_SIZE || ram_size > MEM_MAX_SIZE)
		return err_set(-EINVAL, "guest memory size must be between 1 MiB and 1 TiB");

	/* One mapping for all of RAM: the regions are views into it, so guest RAM stays one
	 * contiguous block for hashing and migration. */
	host = map_ram(mem, ram_size, hugepages);
	if (host == MAP_FAILED)
		return err_set(-errno, "cannot map %llu MiB of guest memory: %s",
			       (unsigned long long)(ram_size >> 20), strerror(errno));

	low_size = ram_size < MEM_HOLE_START ? ram_size : MEM_HOLE_START;
	high_size = ram_size - low_size;
	mem->regions[0] = (struct guest_region){ .gpa = 0, .size = low_size, .host = host };
	mem->nr_regions = 1;
	if (high_size > 0) {
		mem->regions[1] = (struct guest_region){
			.gpa = MEM_HIGH_START, .size = high_size, .host = host + low_size,
		};
		mem->nr_regions = 2;
	}
	mem->ram_size = ram_size;
	mem->owns_mapping = true;
	return 0;
}

void guest_mem_init_buffer(struct guest_mem *mem, void *buf, uint64_t size)
{
	memset(mem, 0, sizeof(*mem));
	mem->regions[0] = (struct guest_region){ .gpa = 0, .size = size, .host = buf };
	mem->nr_regions = 1;
	mem->ram_size = size;
}

void guest_mem_free(struct guest_mem *mem)
{
	guest_mem_dirty_log_stop(mem);
	if (mem->owns_mapping && mem->nr_regions > 0)
		munmap(mem->regions[0].host, mem->ram_size);
	memset(mem, 0, sizeof(*mem));
}

void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		const struct guest_region *r = &mem->regions[i];
		uint64_t end;

		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		if (__builtin_add_overflow(gpa - r->gpa, len, &end) || end > r->size)
			return NULL;
		return r->host + (gpa - r->gpa);
	}
	return NULL;
}

uint64_t guest_region_pages(const struct guest_region *r)
{
	return r->size / MEM_PAGE_SIZE;
}

uint64_t guest_region_bitmap_words(const struct guest_region *r)
{
	return (guest_region_pages(r) + 63) / 64;
}

int guest_mem_dirty_log_start(struct guest_mem *mem)
{
	uint64_t *bits[MEM_MAX_REGIONS] = { NULL };

	/* All or nothing, and published only whole: device threads may be marking pages. */
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		if (mem->dirty[i] != NULL)
			continue;
		bits[i] = calloc(guest_region_bitmap_words(&mem->regions[i]), sizeof(uint64_t));
		if (bits[i] == NULL) {
			for (unsigned j = 0; j < i; j++)
				free(bits[j]);
			return err_set(-ENOMEM, "out of memory for the dirty page bitmap");
		}
	}
	for (unsigned i = 0; i < mem->nr_regions; i++)
		if (bits[i] != NULL)
			__atomic_store_n(&mem->dirty[i], bits[i], __ATOMIC_RELEASE);
	return 0;
}

void guest_mem_dirty_log_stop(struct guest_mem *mem)
{
	for (unsigned i = 0; i < MEM_MAX_REGIONS; i++) {
		free(mem->dirty[i]);
		mem->dirty[i] = NULL;
	}
}

void guest_mem_mark_dirty(struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < mem->nr_regions && len > 0; i++) {
		const struct guest_region *r = &mem->regions[i];
		/* Device threads call this while migration starts the log: the bitmap appears
		 * whole or not at all (it is freed only while they are paused). */
		uint64_t *dirty = __atomic_load_n(&mem->dirty[i], __ATOMIC_ACQUIRE);
		uint64_t first, last;

		if (dirty == NULL || gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		first = (gpa - r->gpa) / MEM_PAGE_SIZE;
		last = (gpa - r->gpa + len - 1) / MEM_PAGE_SIZE;
		if (last >= guest_region_pages(r))
			last = guest_region_pages(r) - 1;
		for (uint64_t p = first; p <= last; p++)
			__atomic_fetch_or(&dirty[p / 64], 1ULL << (p % 64), __ATOMIC_RELAXED);
	}
}

void guest_mem_dirty_collect(struct guest_mem *mem, unsigned r, uint64_t *bitmap)
{
	if (r >= mem->nr_regions || mem->dirty[r] == NULL)
		return;
	for (uint64_t w = 0; w < guest_region_bitmap_words(&mem->regions[r]); w++)
		if (__atomic_load_n(&mem->dirty[r][w], __ATOMIC_RELAXED) != 0)
			bitmap[w] |= __atomic_exchange_n(&mem->dirty[r][w], 0, __ATOMIC_RELAXED);
}

int guest_mem_write(struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len)
{
	void *dst = guest_mem_ptr(mem, gpa, len);

	if (dst == NULL)
		return -EFAULT;
	memcpy(dst, src, len);
	guest_mem_mark_dirty(mem, gpa, len);
	return 0;
}

int guest_mem_zero(struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	void *dst = guest_mem_ptr(mem, gpa, len);

	if (dst == NULL)
		return -EFAULT;
	memset(dst, 0, len);
	guest_mem_mark_dirty(mem, gpa, len);
	return 0;
}
