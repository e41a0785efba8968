/* The soak's guest side (tests/soak/run), a static program in a Linux guest's initramfs.  It
 * starts two workers and returns, so the guest's init goes on:
 *
 *   soak_guest DISK MIB PAGES_PER_S RECORDS_PER_S
 *
 * - the dirtier: MIB of memory whose every 8 bytes hold their page's number and generation;
 *   it rewrites PAGES_PER_S random pages a second, checking each page's old contents first,
 *   and every SWEEP_S seconds checks all of them.  A page a move lost or took back in time
 *   shows as a "soak-dirtier: BAD" line.  Each sweep prints one "sweep N" line.
 * - the disk writer: numbered 512-byte records "soak record NNNNNNNN" one after another on DISK
 *   from RECORDS_OFFSET, each followed by fdatasync, RECORDS_PER_S a second; every
 *   REPORT_EVERY records it prints the last one synced.  The host reads them back at the end.
 *
 * Both print on stdout (the guest's console).  They run until the guest powers off. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define WORDS (PAGE / 8)
#define SWEEP_S 5
#define RECORD 512
#define RECORDS_OFFSET (1 << 20)	/* clear of what the init writes at sector 8 */
#define REPORT_EVERY 100
#define MAX_BAD_LINES 20

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
	double left = t - now_s();
	struct timespec ts;

	if (left <= 0)
		return;
	ts.tv_sec = (time_t)left;
	ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

static uint64_t pattern(uint64_t page, uint32_t gen, unsigned word)
{
	return ((page << 32) | gen) ^ (word * 0x9E3779B97F4A7C15ULL);
}

static unsigned long bad_pages;

/* True if the page holds generation gen throughout. */
static int page_check(const uint64_t *p, uint64_t page, uint32_t gen)
{
	for (unsigned w = 0; w < WORDS; w++) {
		if (p[w] == pattern(page, gen, w))
			continue;
		if (bad_pages++ < MAX_BAD_LINES)
			printf("soak-dirtier: BAD page %llu word %u: %#llx where generation %u's "
			       "%#llx was due\n", (unsigned long long)page, w,
			       (unsigned long long)p[w], gen,
			       (unsigned long long)pattern(page, gen, w));
		fflush(stdout);
		return 0;
	}
	return 1;
}

static void page_fill(uint64_t *p, uint64_t page, uint32_t gen)
{
	for (unsigned w = 0; w < WORDS; w++)
		p[w] = pattern(page, gen, w);
}

static void dirtier(unsigned long mib, unsigned long rate)
{
	uint64_t pages = mib * (1 << 20) / PAGE, x = 88172645463325252ULL;
	uint64_t *mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	uint32_t *gen = calloc(pages, sizeof(*gen));
	unsigned long checked = 0, sweeps = 0;
	double next_sweep, tick;

	if (mem == MAP_FAILED || gen == NULL) {
		printf("soak-dirtier: BAD: cannot allocate %lu MiB\n", mib);
		exit(1);
	}
	for (uint64_t i = 0; i < pages; i++)
		page_fill(mem + i * WORDS, i, 0);
	printf("soak-dirtier: %lu MiB, %llu pages, %lu rewritten a second\n", mib,
	       (unsigned long long)pages, rate);
	fflush(stdout);
	tick = now_s();
	next_sweep = tick + SWEEP_S;
	for (;;) {
		/* A tenth of a second's pages, then sleep to the next tenth. */
		for (unsigned long n = 0; n < rate / 10; n++) {
			uint64_t i;

			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			i = x % pages;
			page_check(mem + i * WORDS, i, gen[i]);
			page_fill(mem + i * WORDS, i, ++gen[i]);
			checked++;
		}
		if (now_s() >= next_sweep) {
			unsigned long before = bad_pages;

			for (uint64_t i = 0; i < pages; i++)
				page_check(mem + i * WORDS, i, gen[i]);
			sweeps++;
			printf("soak-dirtier: sweep %lu: %llu pages checked, %lu bad; %lu rewrites "
			       "checked\n", sweeps, (unsigned long long)pages, bad_pages - before,
			       checked);
			fflush(stdout);
			next_sweep = now_s() + SWEEP_S;
		}
		tick += 0.1;
		if (tick < now_s())
			tick = now_s();	/* a pause (a move) is not made up for */
		sleep_until(tick);
	}
}

static void disk_writer(const char *disk, unsigned long rate)
{
	int fd = open(disk, O_RDWR | O_CLOEXEC);
	char record[RECORD];
	double next = now_s();

	if (fd < 0) {
		printf("soak-disk: BAD: cannot open %s\n", disk);
		exit(1);
	}
	for (unsigned long n = 0;; n++) {
		memset(record, 0, sizeof(record));
		snprintf(record, sizeof(record), "soak record %08lu\n", n);
		if (pwrite(fd, record, RECORD, RECORDS_OFFSET + (off_t)n * RECORD) != RECORD ||
		    fdatasync(fd) < 0) {
			printf("soak-disk: BAD: record %lu was not written: %m\n", n);
			fflush(stdout);
			exit(1);
		}
		if (n % REPORT_EVERY == 0) {
			printf("soak-disk: record %lu synced\n", n);
			fflush(stdout);
		}
		next += 1.0 / (double)rate;
		if (next < now_s())
			next = now_s();
		sleep_until(next);
	}
}

int main(int argc, char **argv)
{
	unsigned long mib, pages_per_s, records_per_s;

	if (argc != 5) {
		fprintf(stderr, "usage: soak_guest DISK MIB PAGES_PER_S RECORDS_PER_S\n");
		return 2;
	}
	mib = strtoul(argv[2], NULL, 10);
	pages_per_s = strtoul(argv[3], NULL, 10);
	records_per_s = strtoul(argv[4], NULL, 10);
	if (mib == 0 || pages_per_s < 10 || records_per_s == 0) {
		fprintf(stderr, "soak_guest: MIB, PAGES_PER_S (10 or more) and RECORDS_PER_S\n");
		return 2;
	}
	signal(SIGCHLD, SIG_IGN);
	if (fork() == 0) {
		dirtier(mib, pages_per_s);
		return 1;
	}
	if (fork() == 0) {
		disk_writer(argv[1], records_per_s);
		return 1;
	}
	printf("soak: dirtier and disk writer started\n");
	return 0;
}
