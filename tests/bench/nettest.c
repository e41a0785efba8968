/* The network tests' and benchmarks' two ends, one static program: the servers run inside a
 * Linux guest (in its initramfs), the clients in the test's client namespace.
 *
 *   nettest up DEV ADDR/PREFIX         give the guest's DEV its address and bring it (and lo) up
 *   nettest serve                      in the background: echo on 7000, numbered lines on 7001,
 *                                      a sink on 7002 and a source on 7003; prints "serving"
 *   nettest guest DEV ADDR/PREFIX      up, then serve: what a test guest's init runs
 *   nettest echo HOST MIB              sends MIB of pseudo-random bytes to the echo server and
 *                                      reads them back: the checksums must be equal
 *   nettest lines HOST                 reads the numbered lines (one every 10 ms) until SIGTERM
 *                                      or SIGINT; each must be the previous plus one
 *   nettest send HOST SECONDS          throughput to the sink: bytes it counted / time
 *   nettest recv HOST SECONDS          throughput from the source
 *   nettest capture DEV                until SIGTERM, one line per frame DEV sees (wall-clock
 *                                      time, MACs, ARP or the TCP header): to see where a
 *                                      move's gap goes, as tcpdump would
 * A client prints one "nettest: ..." line and exits 0, or says what went wrong and exits 1. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { PORT_ECHO = 7000, PORT_LINES, PORT_SINK, PORT_SOURCE };
#define LINE_INTERVAL_NS 10000000L
#define CHUNK (64 * 1024)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fail(const char *what)
{
	fprintf(stderr, "nettest: %s: %s\n", what, strerror(errno));
	return 1;
}

/* --- the guest's side -------------------------------------------------------------------- */

static int set_flags_up(int s, const char *dev)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -1;
	ifr.ifr_flags |= IFF_UP;
	return ioctl(s, SIOCSIFFLAGS, &ifr);
}

static int cmd_up(const char *dev, const char *cidr)
{
	char addr[64];
	unsigned prefix = 24;
	struct ifreq ifr = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	const char *slash = strchr(cidr, '/');

	snprintf(addr, sizeof(addr), "%.*s", slash ? (int)(slash - cidr) : (int)strlen(cidr), cidr);
	if (slash)
		prefix = (unsigned)atoi(slash + 1);
	if (s < 0 || prefix > 32)
		return fail("socket");
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	sin->sin_family = AF_INET;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1) {
		fprintf(stderr, "nettest: '%s' is not an IPv4 address\n", addr);
		return 1;
	}
	if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
		return fail("SIOCSIFADDR");
	sin->sin_addr.s_addr = htonl(prefix ? ~0U << (32 - prefix) : 0);
	if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
		return fail("SIOCSIFNETMASK");
	if (set_flags_up(s, dev) < 0 || set_flags_up(s, "lo") < 0)
		return fail("SIOCSIFFLAGS");
	if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
		return fail("SIOCGIFHWADDR");
	{
		const unsigned char *m = (const unsigned char *)ifr.ifr_hwaddr.sa_data;

		printf("nettest: %s is %s, MAC %02x:%02x:%02x:%02x:%02x:%02x\n", dev, cidr, m[0],
		       m[1], m[2], m[3], m[4], m[5]);
	}
	close(s);
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void serve_echo(int c)
{
	static char buf[CHUNK];
	ssize_t n;

	while ((n = read(c, buf, sizeof(buf))) > 0)
		if (write_all(c, buf, (size_t)n) < 0)
			break;
}

/* One line every 10 ms on an absolute clock, so the numbers keep time however late one is. */
static void serve_lines(int c)
{
	struct timespec next;
	char line[32];

	clock_gettime(CLOCK_MONOTONIC, &next);
	for (unsigned long i = 0;; i++) {
		int len = snprintf(line, sizeof(line), "%lu\n", i);

		if (write_all(c, line, (size_t)len) < 0)
			return;
		next.tv_nsec += LINE_INTERVAL_NS;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
	}
}

static void serve_sink(int c)
{
	static char buf[CHUNK];
	unsigned long long total = 0;
	char reply[32];
	ssize_t n;

	while ((n = read(c, buf, sizeof(buf))) > 0)
		total += (unsigned long long)n;
	n = snprintf(reply, sizeof(reply), "%llu\n", total);
	(void)write_all(c, reply, (size_t)n);
}

static void serve_source(int c)
{
	static char buf[CHUNK];
	char req[16] = { 0 };
	double end;

	if (read(c, req, sizeof(req) - 1) <= 0)
		return;
	end = now_s() + atof(req);
	memset(buf, 'x', sizeof(buf));
	while (now_s() < end)
		if (write_all(c, buf, sizeof(buf)) < 0)
			return;
}

static int listen_on(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 8) < 0)
		return -1;
	return s;
}

/* A child per service, a grandchild per connection. */
static int cmd_serve(void)
{
	void (*const serve[])(int) = { serve_echo, serve_lines, serve_sink, serve_source };

	signal(SIGCHLD, SIG_IGN);
	for (int i = 0; i < 4; i++) {
		int s = listen_on(PORT_ECHO + i);

		if (s < 0)
			return fail("listen");
		if (fork() != 0) {
			close(s);
			continue;
		}
		for (;;) {
			int c = accept(s, NULL, NULL);

			if (c < 0)
				continue;
			if (fork() == 0) {
				close(s);
				serve[i](c);
				_exit(0);
			}
			close(c);
		}
	}
	printf("nettest: serving on ports %d-%d\n", PORT_ECHO, PORT_SOURCE);
	return 0;
}

/* --- the client's side ------------------------------------------------------------------- */

static int connect_to(const char *host, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1)
		return -1;
	for (int tries = 0; connect(s, (struct sockaddr *)&a, sizeof(a)) < 0; tries++) {
		if (tries == 50)
			return -1;
		close(s);
		usleep(200000);
		s = socket(AF_INET, SOCK_STREAM, 0);
	}
	return s;
}

/* xorshift: the same bytes on both sides without storing them. */
static uint64_t next_random(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static uint64_t hash_bytes(uint64_t h, const unsigned char *p, size_t n)
{
	while (n--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

static int cmd_echo(const char *host, unsigned long mib)
{
	static unsigned char out[CHUNK], in[CHUNK];
	uint64_t total = (uint64_t)mib << 20, sent = 0, got = 0, seed = 88172645463325252ULL;
	uint64_t h_out = 0xcbf29ce484222325ULL, h_in = h_out;
	size_t out_len = 0, out_off = 0;
	double t0 = now_s();
	int s = connect_to(host, PORT_ECHO);

	if (s < 0)
		return fail("connect to the echo server");
	while (got < total) {
		struct pollfd p = { .fd = s, .events = POLLIN | (sent < total ? POLLOUT : 0) };

		if (poll(&p, 1, 30000) <= 0)
			return fail("echo: nothing moved for 30 s");
		if ((p.revents & POLLOUT) && sent < total) {
			ssize_t n;

			if (out_off == out_len) {
				out_len = total - sent < CHUNK ? total - sent : CHUNK;
				for (size_t i = 0; i < out_len; i += 8) {
					uint64_t r = next_random(&seed);

					memcpy(out + i, &r, out_len - i < 8 ? out_len - i : 8);
				}
				h_out = hash_bytes(h_out, out, out_len);
				out_off = 0;
			}
			n = write(s, out + out_off, out_len - out_off);
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return fail("echo: write");
			if (n > 0) {
				out_off += (size_t)n;
				sent += (uint64_t)n;
			}
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(s, in, sizeof(in));

			if (n <= 0) {
				fprintf(stderr, "nettest: echo: the connection ended after %llu of %llu "
					"bytes came back\n", (unsigned long long)got,
					(unsigned long long)total);
				return 1;
			}
			h_in = hash_bytes(h_in, in, (size_t)n);
			got += (uint64_t)n;
		}
	}
	if (h_in != h_out) {
		fprintf(stderr, "nettest: echo: %lu MiB came back different (checksum %016llx, sent "
			"%016llx)\n", mib, (unsigned long long)h_in, (unsigned long long)h_out);
		return 1;
	}
	printf("nettest: echo: %lu MiB sent and received back in %.1f s, checksums equal "
	       "(%016llx)\n", mib, now_s() - t0, (unsigned long long)h_in);
	return 0;
}

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int cmd_lines(const char *host)
{
	char buf[4096], line[32];
	size_t line_len = 0;
	unsigned long expect = 0, count = 0;
	double last = 0, gap_max = 0;
	int s = connect_to(host, PORT_LINES);
	struct sigaction sa = { .sa_handler = on_stop };

	if (s < 0)
		return fail("connect to the lines server");
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	printf("nettest: lines: connected\n");
	fflush(stdout);
	while (!stop_requested) {
		ssize_t n = read(s, buf, sizeof(buf));
		double t = now_s();

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "nettest: lines: the connection ended after %lu lines (%s)\n",
				count, n < 0 ? strerror(errno) : "closed by the guest");
			return 1;
		}
		if (count > 0 && t - last > 0.05) {
			struct timespec wall;

			clock_gettime(CLOCK_REALTIME, &wall);
			printf("nettest: lines: %.0f ms after line %lu, until %lld.%06ld\n",
			       (t - last) * 1000, expect ? expect - 1 : 0, (long long)wall.tv_sec,
			       wall.tv_nsec / 1000);
		}
		if (count > 0 && t - last > gap_max)
			gap_max = t - last;
		last = t;
		for (ssize_t i = 0; i < n; i++) {
			unsigned long v;

			if (buf[i] != '\n') {
				if (line_len + 1 < sizeof(line))
					line[line_len++] = buf[i];
				continue;
			}
			line[line_len] = '\0';
			line_len = 0;
			v = strtoul(line, NULL, 10);
			if (v != expect) {
				fprintf(stderr, "nettest: lines: got %lu where %lu was due (%s)\n", v,
					expect, v < expect ? "repeated" : "missing");
				return 1;
			}
			expect++;
			count++;
		}
	}
	printf("nettest: lines: %lu lines, 0 to %lu, each once and in order, on one connection; "
	       "longest gap %.0f ms\n", count, count ? count - 1 : 0, gap_max * 1000);
	return 0;
}

static int cmd_send(const char *host, double seconds)
{
	static char buf[CHUNK];
	char reply[32] = { 0 };
	double t0, end;
	int s = connect_to(host, PORT_SINK);

	if (s < 0)
		return fail("connect to the sink");
	memset(buf, 'y', sizeof(buf));
	t0 = now_s();
	end = t0 + seconds;
	while (now_s() < end)
		if (write_all(s, buf, sizeof(buf)) < 0)
			return fail("send");
	shutdown(s, SHUT_WR);
	if (read(s, reply, sizeof(reply) - 1) <= 0)
		return fail("send: the sink's count");
	printf("nettest: send: %.1f MiB/s (%s bytes in %.2f s)\n",
	       strtod(reply, NULL) / (now_s() - t0) / 1048576, strtok(reply, "\n"), now_s() - t0);
	return 0;
}

static int cmd_recv(const char *host, double seconds)
{
	static char buf[CHUNK];
	char req[16];
	unsigned long long total = 0;
	double t0;
	ssize_t n;
	int s = connect_to(host, PORT_SOURCE);

	if (s < 0)
		return fail("connect to the source");
	n = snprintf(req, sizeof(req), "%.1f\n", seconds);
	t0 = now_s();
	if (write_all(s, req, (size_t)n) < 0)
		return fail("recv: request");
	while ((n = read(s, buf, sizeof(buf))) > 0)
		total += (unsigned long long)n;
	printf("nettest: recv: %.1f MiB/s (%llu bytes in %.2f s)\n",
	       total / (now_s() - t0) / 1048576, total, now_s() - t0);
	return 0;
}

/* --- capture ----------------------------------------------------------------------------- */

static void print_frame(const unsigned char *f, size_t len, int outgoing)
{
	struct timespec ts;
	unsigned type;

	if (len < 14)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	type = (unsigned)f[12] << 8 | f[13];
	printf("%lld.%06ld %s %02x:%02x > %02x:%02x ", (long long)ts.tv_sec, ts.tv_nsec / 1000,
	       outgoing ? "out" : "in ", f[10], f[11], f[4], f[5]);
	if (type == ETH_P_ARP || type == ETH_P_RARP) {
		printf("%s op %u\n", type == ETH_P_ARP ? "ARP" : "RARP", len >= 22 ? f[21] : 0);
		return;
	}
	if (type != ETH_P_IP || len < 34 || f[23] != IPPROTO_TCP) {
		printf("type 0x%04x len %zu\n", type, len);
		return;
	}
	size_t ihl = (size_t)(f[14] & 15) * 4, tot = (size_t)f[16] << 8 | f[17];
	const unsigned char *t = f + 14 + ihl;

	if (14 + ihl + 20 > len)
		return;
	size_t doff = (size_t)(t[12] >> 4) * 4;
	unsigned fl = t[13];

	printf("TCP %u > %u [%s%s%s%s] seq %u ack %u len %zu\n", (unsigned)t[0] << 8 | t[1],
	       (unsigned)t[2] << 8 | t[3], fl & 2 ? "S" : "", fl & 1 ? "F" : "", fl & 4 ? "R" : "",
	       fl & 8 ? "P" : ".", (unsigned)t[4] << 24 | (unsigned)t[5] << 16 | (unsigned)t[6] << 8 | t[7],
	       (unsigned)t[8] << 24 | (unsigned)t[9] << 16 | (unsigned)t[10] << 8 | t[11],
	       tot > ihl + doff ? tot - ihl - doff : 0);
}

static int cmd_capture(const char *dev)
{
	static unsigned char frame[65536];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	struct sigaction sa = { .sa_handler = on_stop };
	int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));

	if (s < 0)
		return fail("capture: AF_PACKET socket");
	sll.sll_ifindex = (int)if_nametoindex(dev);
	if (sll.sll_ifindex == 0 || bind(s, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return fail(dev);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (!stop_requested) {
		struct sockaddr_ll from;
		socklen_t from_len = sizeof(from);
		ssize_t n = recvfrom(s, frame, sizeof(frame), 0, (struct sockaddr *)&from, &from_len);

		if (n > 0)
			print_frame(frame, (size_t)n, from.sll_pkttype == PACKET_OUTGOING);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(cmd, "up") == 0 && argc == 4)
		return cmd_up(argv[2], argv[3]);
	if (strcmp(cmd, "serve") == 0 && argc == 2)
		return cmd_serve();
	if (strcmp(cmd, "guest") == 0 && argc == 4)
		return cmd_up(argv[2], argv[3]) || cmd_serve();
	if (strcmp(cmd, "echo") == 0 && argc == 4)
		return cmd_echo(argv[2], strtoul(argv[3], NULL, 10));
	if (strcmp(cmd, "lines") == 0 && argc == 3)
		return cmd_lines(argv[2]);
	if (strcmp(cmd, "send") == 0 && argc == 4)
		return cmd_send(argv[2], atof(argv[3]));
	if (strcmp(cmd, "recv") == 0 && argc == 4)
		return cmd_recv(argv[2], atof(argv[3]));
	if (strcmp(cmd, "capture") == 0 && argc == 3)
		return cmd_capture(argv[2]);
	fprintf(stderr, "usage: nettest up DEV ADDR/PREFIX | serve | guest DEV ADDR/PREFIX | "
		"echo HOST MIB | lines HOST | send HOST SECONDS | recv HOST SECONDS | capture DEV\n");
	return 2;
}
