/* Many clients on one hopvm's control socket at once, each sending status, pause, resume and
 * migrate-status as fast as it gets answers: every request must get a whole, well-formed
 * answer, and hopvm's descriptors, threads and memory must not grow with the requests.
 *
 *   control_storm SOCKET CLIENTS SECONDS|REQUESTS [PID]
 *
 * SECONDS ("3s") bounds the storm by time, REQUESTS ("100000") by the answers counted.  Half
 * the clients keep one connection, the other half connect for every request (as hopvm ctl
 * does).  With PID (hopvm's), its open descriptors, threads and resident memory are printed
 * before, every tenth of the storm, and after.  The VM is left running (a last resume).
 * Exits 0 if every request was answered as expected, 1 otherwise, 2 on bad arguments. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 64

static const char *const requests[] = { "status", "pause", "resume", "migrate-status" };
#define NR_REQUESTS (sizeof(requests) / sizeof(requests[0]))

/* The answers a request may get while others pause and resume the same VM. */
static const char *const expected_errors[NR_REQUESTS] = {
	NULL, "the VM is already paused", "the VM is not paused", NULL,
};

static struct sockaddr_un address;
static double deadline;			/* by time, or 0 */
static long request_budget;		/* by count, or 0 */
static atomic_long answered, taken, bad;
static atomic_long by_kind[NR_REQUESTS][2];	/* [request][0 ok, 1 the expected error] */
static atomic_long slowest_us;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int connect_control(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&address, sizeof(address)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One request and its one-line answer; the answer's text in reply.  -1 if the connection
 * failed. */
static int ask(int fd, const char *cmd, char *reply, size_t len)
{
	char line[128];
	size_t used = 0;
	int n = snprintf(line, sizeof(line), "{\"cmd\": \"%s\"}\n", cmd);

	if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n)
		return -1;
	while (used < len - 1) {
		ssize_t got = read(fd, reply + used, len - 1 - used);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		used += (size_t)got;
		reply[used] = '\0';
		if (memchr(reply, '\n', used) != NULL)
			return 0;
	}
	return -1;
}

static bool more_to_do(void)
{
	if (request_budget > 0)
		return atomic_fetch_add(&taken, 1) < request_budget;
	return now_s() < deadline;
}

static void note_bad(long client, const char *cmd, const char *what)
{
	if (atomic_fetch_add(&bad, 1) < 10)
		fprintf(stderr, "control_storm: client %ld, %s: %s\n", client, cmd, what);
}

static void *client(void *arg)
{
	long id = (long)arg;
	bool reconnect = id % 2 == 1;
	int fd = -1;
	char reply[4096];

	for (unsigned i = (unsigned)id; more_to_do(); i++) {
		unsigned kind = i % NR_REQUESTS;
		double start = now_s();
		long us;

		if (fd < 0 && (fd = connect_control()) < 0) {
			note_bad(id, requests[kind], strerror(errno));
			break;
		}
		if (ask(fd, requests[kind], reply, sizeof(reply)) < 0) {
			note_bad(id, requests[kind], "no answer (the connection ended)");
			break;
		}
		us = (long)((now_s() - start) * 1e6);
		for (long s = atomic_load(&slowest_us); us > s;)
			if (atomic_compare_exchange_weak(&slowest_us, &s, us))
				break;
		atomic_fetch_add(&answered, 1);
		if (strncmp(reply, "{\"ok\": true", 11) == 0)
			atomic_fetch_add(&by_kind[kind][0], 1);
		else if (expected_errors[kind] != NULL && strstr(reply, expected_errors[kind]))
			atomic_fetch_add(&by_kind[kind][1], 1);
		else
			note_bad(id, requests[kind], reply);
		if (reconnect) {
			close(fd);
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* hopvm's open descriptors, threads and resident KiB, on one line. */
static void print_usage(const char *when, long pid)
{
	char path[64], line[256];
	long fds = 0, threads = 0, rss = -1;
	struct dirent *e;
	DIR *d;
	FILE *f;

	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
	if ((d = opendir(path)) != NULL) {
		while ((e = readdir(d)) != NULL)
			fds += e->d_name[0] != '.';
		closedir(d);
	}
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if ((f = fopen(path, "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			sscanf(line, "Threads: %ld", &threads);
			sscanf(line, "VmRSS: %ld", &rss);
		}
		fclose(f);
	}
	printf("control_storm: %s: %ld answered, hopvm has %ld fds, %ld threads, RSS %ld KiB\n",
	       when, atomic_load(&answered), fds, threads, rss);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	pthread_t threads[MAX_CLIENTS];
	long clients, pid = 0, amount;
	char *end, reply[4096];
	double start, seconds;
	int fd;

	if (argc < 4 || argc > 5 || strlen(argv[1]) >= sizeof(address.sun_path)) {
		fprintf(stderr, "usage: control_storm SOCKET CLIENTS SECONDS|REQUESTS [PID]\n");
		return 2;
	}
	address.sun_family = AF_UNIX;
	strcpy(address.sun_path, argv[1]);
	clients = strtol(argv[2], NULL, 10);
	amount = strtol(argv[3], &end, 10);
	if (argc == 5)
		pid = strtol(argv[4], NULL, 10);
	if (clients < 1 || clients > MAX_CLIENTS || amount < 1 || (*end && strcmp(end, "s"))) {
		fprintf(stderr, "control_storm: 1 to %d clients, and a time (3s) or a count\n",
			MAX_CLIENTS);
		return 2;
	}
	start = now_s();
	if (*end == 's')
		deadline = start + (double)amount;
	else
		request_budget = amount;
	print_usage("before", pid);
	for (long i = 0; i < clients; i++)
		pthread_create(&threads[i], NULL, client, (void *)i);
	/* Samples along the way, for memory that grows with the requests. */
	for (int tenth = 1; tenth < 10 && pid > 0; tenth++) {
		while (request_budget ? atomic_load(&answered) < request_budget * tenth / 10 :
					now_s() < start + (deadline - start) * tenth / 10) {
			if (atomic_load(&bad) > 0)
				break;
			usleep(10000);
		}
		print_usage("during", pid);
	}
	for (long i = 0; i < clients; i++)
		pthread_join(threads[i], NULL);
	seconds = now_s() - start;
	/* Running again, whatever the last client asked. */
	if ((fd = connect_control()) < 0 || ask(fd, "resume", reply, sizeof(reply)) < 0 ||
	    (strncmp(reply, "{\"ok\": true", 11) && !strstr(reply, "the VM is not paused")))
		note_bad(-1, "resume", fd < 0 ? strerror(errno) : reply);
	if (fd >= 0)
		close(fd);
	/* The server closes its end of a connection when it next polls (at most 100 ms). */
	usleep(300000);
	print_usage("after", pid);
	printf("control_storm: %ld requests from %ld clients in %.1f s, slowest answer %.1f ms\n",
	       atomic_load(&answered), clients, seconds, atomic_load(&slowest_us) / 1e3);
	for (size_t k = 0; k < NR_REQUESTS; k++)
		printf("control_storm: %s: %ld ok, %ld %s\n", requests[k],
		       atomic_load(&by_kind[k][0]), atomic_load(&by_kind[k][1]),
		       expected_errors[k] ? expected_errors[k] : "errors");
	if (atomic_load(&bad) > 0) {
		printf("control_storm: %ld requests unanswered or answered wrongly\n",
		       atomic_load(&bad));
		return 1;
	}
	printf("control_storm: every request answered\n");
	return 0;
}
