/* Runs inside a Linux guest (statically linked, in the bench's initramfs): reads its disk with
 * O_DIRECT, so every read reaches the virtio device, and prints the guest's own figures.
 *
 *   diskbench DEVICE [SEQ_MIB [RANDOM_READS]]
 * prints: "diskbench: sequential read N MiB/s ..." and "diskbench: random 4 KiB reads N IOPS ...". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define SEQ_BLOCK (1u << 20)
#define RANDOM_BLOCK 4096u

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n = pread(fd, buf, len, (off_t)off);

	if (n != (ssize_t)len) {
		fprintf(stderr, "diskbench: read of %zu bytes at %llu: %s\n", len,
			(unsigned long long)off, n < 0 ? strerror(errno) : "short");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned seq_mib = argc > 2 ? (unsigned)atoi(argv[2]) : 128;
	unsigned nr_random = argc > 3 ? (unsigned)atoi(argv[3]) : 4000;
	uint64_t size = 0, x = 88172645463325252ULL;
	void *buf;
	double t;
	int fd;

	if (argc < 2) {
		fprintf(stderr, "usage: diskbench DEVICE [SEQ_MIB [RANDOM_READS]]\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_DIRECT);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) < 0 || size < SEQ_BLOCK) {
		fprintf(stderr, "diskbench: %s: %s\n", argv[1], fd < 0 ? strerror(errno) :
			"not a block device of 1 MiB or more");
		return 1;
	}
	if (posix_memalign(&buf, 4096, SEQ_BLOCK) != 0)
		return 1;

	t = now_s();
	for (unsigned i = 0; i < seq_mib; i++)
		if (read_at(fd, buf, SEQ_BLOCK, (uint64_t)i * SEQ_BLOCK % (size / SEQ_BLOCK * SEQ_BLOCK)) < 0)
			return 1;
	t = now_s() - t;
	printf("diskbench: sequential read %.1f MiB/s (%u MiB in 1 MiB blocks)\n", seq_mib / t,
	       seq_mib);

	t = now_s();
	for (unsigned i = 0; i < nr_random; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (read_at(fd, buf, RANDOM_BLOCK, x % (size / RANDOM_BLOCK) * RANDOM_BLOCK) < 0)
			return 1;
	}
	t = now_s() - t;
	printf("diskbench: random 4 KiB reads %.0f IOPS (%u reads)\n", nr_random / t, nr_random);
	fflush(stdout);
	free(buf);
	close(fd);
	return 0;
}
