/* Runs a command and measures, from just before exec: the time to the first byte it prints
 * and the time to its exit.  With --rss RAM_MIB it also samples /proc/PID/smaps while the
 * command runs and reports the largest resident memory outside the guest-RAM mapping (the
 * mapping RAM_MIB in size), the VMM's own overhead.  With --until TEXT the first figure is
 * the time until TEXT first appears in the output instead of the first byte (-1: never).
 *
 *   startup_time [--rss RAM_MIB] [--until TEXT] COMMAND [ARGS...]
 * prints: first_ms EXIT_MS status [overhead_kib] */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Resident KiB outside the mapping of ram_kib KiB; -1 if smaps cannot be read. */
static long overhead_kib(pid_t pid, long ram_kib)
{
	char path[64], line[512];
	long total = 0, guest = 0, size = 0, rss;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Size: %ld kB", &rss) == 1)
			size = rss;
		else if (sscanf(line, "Rss: %ld kB", &rss) == 1) {
			total += rss;
			if (size == ram_kib)
				guest += rss;
		}
	}
	fclose(f);
	return total - guest;
}

int main(int argc, char **argv)
{
	long ram_kib = 0, max_overhead = -1;
	double start, first = -1;
	int out[2], status, argi = 1;
	pid_t pid;
	char buf[4096];
	const char *until = NULL;
	static char seen[1 << 16];	/* the output's tail, for --until */
	size_t seen_len = 0;

	if (argc > argi + 2 && strcmp(argv[argi], "--rss") == 0) {
		ram_kib = atol(argv[argi + 1]) * 1024;
		argi += 2;
	}
	if (argc > argi + 2 && strcmp(argv[argi], "--until") == 0) {
		until = argv[argi + 1];
		argi += 2;
	}
	if (argi >= argc || pipe(out) < 0) {
		fprintf(stderr, "usage: startup_time [--rss RAM_MIB] [--until TEXT] COMMAND...\n");
		return 2;
	}
	start = now_ms();
	pid = fork();
	if (pid == 0) {
		dup2(out[1], 1);
		close(out[0]);
		execvp(argv[argi], argv + argi);
		_exit(127);
	}
	close(out[1]);
	for (;;) {
		struct pollfd p = { .fd = out[0], .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, ram_kib ? 10 : -1) == 0) {
			long o = overhead_kib(pid, ram_kib);

			if (o > max_overhead)
				max_overhead = o;
			continue;
		}
		n = read(out[0], buf, sizeof(buf));
		if (n <= 0)
			break;
		if (first < 0 && until == NULL)
			first = now_ms() - start;
		if (first < 0 && until != NULL) {
			size_t keep = strlen(until);

			if (seen_len + (size_t)n >= sizeof(seen)) {
				/* Keep only what could still hold the start of TEXT. */
				keep = keep < seen_len ? keep : seen_len;
				memmove(seen, seen + seen_len - keep, keep);
				seen_len = keep;
			}
			if ((size_t)n < sizeof(seen) - seen_len - 1) {
				memcpy(seen + seen_len, buf, (size_t)n);
				seen_len += (size_t)n;
				seen[seen_len] = '\0';
				if (memmem(seen, seen_len, until, strlen(until)) != NULL)
					first = now_ms() - start;
			}
		}
		if (ram_kib) {
			long o = overhead_kib(pid, ram_kib);

			if (o > max_overhead)
				max_overhead = o;
		}
	}
	waitpid(pid, &status, 0);
	printf("%.1f %.1f %d", first, now_ms() - start, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	if (ram_kib)
		printf(" %ld", max_overhead);
	printf("\n");
	return 0;
}
