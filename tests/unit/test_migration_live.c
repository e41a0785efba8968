/* What live migration adds to the stream and needs no KVM for: target addresses, the
 * destination's replies over a real socket pair, hopvm's own dirty page bitmap, the page-by-page
 * RAM hash, SYNC sections and the status JSON. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/migration.h"
#include "hopvm/migration_stream.h"
#include "unit.h"

static void expect_target_refused(const char *text, const char *message)
{
	struct mig_target t;

	assert_int_equal(mig_target_parse(text, &t), -EINVAL);
	assert_string_equal(err_msg(), message);
}

static void test_parses_targets(void **state)
{
	struct mig_target t;

	(void)state;
	assert_int_equal(mig_target_parse("tcp:10.77.0.2:4444", &t), 0);
	assert_int_equal(t.kind, MIG_TARGET_TCP);
	assert_string_equal(t.host, "10.77.0.2");
	assert_string_equal(t.port, "4444");
	assert_int_equal(mig_target_parse("tcp:[fe80::1]:80", &t), 0);
	assert_string_equal(t.host, "fe80::1");
	assert_string_equal(t.port, "80");
	assert_int_equal(mig_target_parse("tcp:host.example:65535", &t), 0);
	assert_string_equal(t.host, "host.example");
	assert_int_equal(mig_target_parse("file:/tmp/snap", &t), 0);
	assert_int_equal(t.kind, MIG_TARGET_FILE);
	assert_string_equal(t.path, "/tmp/snap");

	expect_target_refused("tcp:host", "'tcp:host' has no port: tcp:HOST:PORT");
	expect_target_refused("tcp::4444", "'tcp::4444' needs a host of 1 to 255 characters");
	expect_target_refused("tcp:h:0", "'0' is not a port from 1 to 65535");
	expect_target_refused("tcp:h:65536", "'65536' is not a port from 1 to 65535");
	expect_target_refused("tcp:h:44x", "'44x' is not a port from 1 to 65535");
	expect_target_refused("tcp:[::1:4444", "'tcp:[::1:4444' is not tcp:[IPV6]:PORT");
	assert_int_equal(mig_target_parse("exec:ssh b.example nc -U /run/mig.sock", &t), 0);
	assert_int_equal(t.kind, MIG_TARGET_EXEC);
	assert_string_equal(t.path, "ssh b.example nc -U /run/mig.sock");
	assert_int_equal(mig_target_parse("fd:7", &t), 0);
	assert_int_equal(t.kind, MIG_TARGET_FD);
	assert_int_equal(t.fd, 7);

	expect_target_refused("file:", "'file:' is none of tcp:HOST:PORT, exec:COMMAND, fd:N, "
			      "file:PATH");
	expect_target_refused("udp:h:1", "'udp:h:1' is none of tcp:HOST:PORT, exec:COMMAND, "
			      "fd:N, file:PATH");
	/* Found by make fuzz: a bracket or a colon outside brackets made a host that printed
	 * back as a target the parser refused. */
	expect_target_refused("tcp::]:80", "'tcp::]:80': a host has no brackets or colons, "
			      "an IPv6 address goes in brackets: tcp:[IPV6]:PORT");
	expect_target_refused("tcp:fe80::1:80", "'tcp:fe80::1:80': a host has no brackets or "
			      "colons, an IPv6 address goes in brackets: tcp:[IPV6]:PORT");
	expect_target_refused("tcp:[[::1]:80", "'tcp:[[::1]:80': a host has no brackets or "
			      "colons, an IPv6 address goes in brackets: tcp:[IPV6]:PORT");
	expect_target_refused("exec: ", "'exec: ' names no command: exec:COMMAND");
	expect_target_refused("fd:", "'fd:' is not fd:N with N an open socket's number");
	expect_target_refused("fd:-1", "'fd:-1' is not fd:N with N an open socket's number");
	expect_target_refused("fd:3x", "'fd:3x' is not fd:N with N an open socket's number");
}

static void test_target_texts(void **state)
{
	const char *texts[] = { "tcp:10.0.0.1:80", "tcp:[fe80::1]:80", "exec:cat >x",
				"fd:3", "file:/tmp/s" };
	struct mig_target t;
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int_equal(mig_target_parse(texts[i], &t), 0);
		mig_target_text(&t, buf, sizeof(buf));
		assert_string_equal(buf, texts[i]);
	}
}

/* hopvm ctl turns a tcp: target's host into an address (a running hopvm looks up none). */
static void test_targets_resolved_for_the_vm(void **state)
{
	char out[64] = "untouched";

	(void)state;
	assert_int_equal(mig_target_resolve("tcp:127.0.0.1:4444", out, sizeof(out)), 1);
	assert_string_equal(out, "tcp:127.0.0.1:4444");
	assert_int_equal(mig_target_resolve("tcp:[::1]:80", out, sizeof(out)), 1);
	assert_string_equal(out, "tcp:[::1]:80");
	strcpy(out, "untouched");
	assert_int_equal(mig_target_resolve("file:/tmp/snap", out, sizeof(out)), 0);
	assert_int_equal(mig_target_resolve("exec:cat", out, sizeof(out)), 0);
	assert_string_equal(out, "untouched");
}

/* exec: runs the command with one socket as its stdin and stdout; fd: takes only sockets. */
static void test_exec_and_fd_channels(void **state)
{
	char buf[16] = "";
	pid_t child;
	int fd, fds[2], status;

	(void)state;
	fd = mig_exec_spawn("read line; echo \"got $line\"; exit 4", 5000, &child);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "ping\n", 5), 5);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), 9);
	assert_string_equal(buf, "got ping\n");
	close(fd);
	status = mig_child_end(child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 4);
	err_set(-EIO, "the destination hung up");
	mig_child_explain(status);
	assert_string_equal(err_msg(), "the destination hung up (the exec: command exited with "
			    "status 4)");

	/* A command that never reads nor ends is stopped. */
	fd = mig_exec_spawn("exec sleep 60", 5000, &child);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mig_child_end(child), -1);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	assert_int_equal(mig_fd_socket(fds[0], 1000), fds[0]);
	close(fds[0]);
	close(fds[1]);
	assert_true(pipe(fds) == 0);
	assert_int_equal(mig_fd_socket(fds[0], 1000), -ENOTSOCK);
	snprintf(buf, sizeof(buf), "%d", fds[0]);
	assert_non_null(strstr(err_msg(), buf));
	assert_non_null(strstr(err_msg(), " is not a socket (fd:N carries the conversation both "
			       "ways)"));
	close(fds[0]);
	close(fds[1]);
	assert_int_equal(mig_fd_socket(999, 1000), -EBADF);
	assert_string_equal(err_msg(), "file descriptor 999 is not open");
}

static void socket_pair(struct mig_sock *a, struct mig_sock *b)
{
	int fds[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	assert_int_equal(mig_sock_init(a, fds[0]), 0);
	assert_int_equal(mig_sock_init(b, fds[1]), 0);
}

static void test_replies_cross_a_socket(void **state)
{
	struct mig_sock a, b;
	enum mig_reply_kind kind;
	char message[MIG_REPLY_MAX + 1];
	const uint8_t bad[12] = { 'H', 'V', 'M', 'R', 99, 0, 0, 0, 0, 0, 0, 0 };

	(void)state;
	socket_pair(&a, &b);
	assert_int_equal(mig_reply_send(&a, MIG_REPLY_REFUSE, "another machine\n\x01"), 0);
	assert_int_equal(mig_reply_send(&a, MIG_REPLY_READY, NULL), 0);
	assert_int_equal(mig_reply_recv(&b, &kind, message, sizeof(message)), 0);
	assert_int_equal(kind, MIG_REPLY_REFUSE);
	assert_string_equal(message, "another machine??");	/* nothing unprintable gets through */
	assert_int_equal(mig_reply_recv(&b, &kind, message, sizeof(message)), 0);
	assert_int_equal(kind, MIG_REPLY_READY);
	assert_string_equal(message, "");

	/* An unknown kind, then the peer gone. */
	assert_int_equal(mig_sock_write(&a, bad, sizeof(bad)), 0);
	assert_int_equal(mig_sock_flush(&a), 0);
	assert_int_equal(mig_reply_recv(&b, &kind, message, sizeof(message)), -EBADMSG);
	mig_sock_close(&a);
	assert_int_equal(mig_reply_recv(&b, &kind, message, sizeof(message)), -ECONNABORTED);
	mig_sock_close(&b);
}

/* A connection that fails is said in words: who did what, how far into the stream. */
static void test_broken_connections_explained(void **state)
{
	struct mig_sock a, b;
	uint8_t buf[64] = { 0 };

	(void)state;
	socket_pair(&a, &b);
	/* Nothing wrong with the connection: the message stays. */
	assert_int_equal(err_set(-EINVAL, "some other failure"), -EINVAL);
	assert_int_equal(mig_sock_explain(&b, -EINVAL, "source", "1 ms"), -EINVAL);
	assert_string_equal(err_msg(), "some other failure");

	/* The receiver waits in vain, then the sender hangs up mid-stream. */
	mig_set_timeouts(b.fd, 1);
	assert_int_equal(mig_sock_read(&b, buf, sizeof(buf)), -ETIMEDOUT);
	assert_int_equal(mig_sock_explain(&b, -ETIMEDOUT, "source", "1 ms (a test's)"),
			 -ETIMEDOUT);
	assert_string_equal(err_msg(), "the source sent nothing for 1 ms (a test's), 0 bytes "
			    "into the stream: it is stopped or overloaded, or the link is down");
	b.recv_error = 0;
	assert_int_equal(mig_sock_write(&a, buf, 40), 0);
	assert_int_equal(mig_sock_flush(&a), 0);
	mig_sock_close(&a);
	assert_int_equal(mig_sock_read(&b, buf, sizeof(buf)), 40);
	assert_int_equal(mig_sock_read(&b, buf, sizeof(buf)), 0);
	assert_int_equal(err_set(-EBADMSG, "migration stream: truncated at offset 40"), -EBADMSG);
	assert_int_equal(mig_sock_explain(&b, -EBADMSG, "source", "1 ms"), -EBADMSG);
	assert_string_equal(err_msg(), "the source hung up 40 bytes into the stream, before its "
			    "end: truncated at offset 40");

	/* Sending to a peer that is gone. */
	assert_int_equal(mig_sock_write(&b, buf, 8), 0);
	assert_int_equal(mig_sock_flush(&b), -EPIPE);
	assert_int_equal(mig_sock_explain(&b, -EPIPE, "destination", "1 ms"), -EPIPE);
	assert_string_equal(err_msg(), "the destination hung up (the connection was reset), 40 "
			    "bytes into the stream");
	mig_sock_close(&b);
}

static void test_records_hopvms_own_writes(void **state)
{
	static uint8_t ram[64 * 4096];
	struct guest_mem mem;
	uint64_t bitmap[1] = { 0 };
	const uint8_t byte = 1;

	(void)state;
	guest_mem_init_buffer(&mem, ram, sizeof(ram));
	assert_int_equal(guest_mem_write(&mem, 5 * 4096, &byte, 1), 0);	/* not logging yet */
	assert_int_equal(guest_mem_dirty_log_start(&mem), 0);
	assert_int_equal(guest_mem_write(&mem, 3 * 4096 + 4000, ram, 200), 0);	/* pages 3, 4 */
	assert_int_equal(guest_mem_zero(&mem, 63 * 4096, 4096), 0);
	guest_mem_mark_dirty(&mem, 10 * 4096, 1);
	guest_mem_dirty_collect(&mem, 0, bitmap);
	assert_true(bitmap[0] == ((1ULL << 3) | (1ULL << 4) | (1ULL << 10) | (1ULL << 63)));
	bitmap[0] = 0;
	guest_mem_dirty_collect(&mem, 0, bitmap);	/* collected means forgotten */
	assert_true(bitmap[0] == 0);
	guest_mem_dirty_log_stop(&mem);
	guest_mem_mark_dirty(&mem, 0, 4096);	/* ignored once stopped */
	assert_null(mem.dirty[0]);
}

/* A stream sent as a live source sends it, pages twice and SYNC between passes, into fresh
 * RAM: the hash kept as pages arrive must match the sender's, and SYNC reaches on_section. */
static unsigned syncs_seen;

static int count_syncs(void *ctx, uint32_t type)
{
	(void)ctx;
	if (type == MIG_SECTION_SYNC)
		syncs_seen++;
	return 0;
}

static void test_live_stream_hashes_as_it_goes(void **state)
{
	static uint8_t src[16 * 4096], dst[16 * 4096];
	struct guest_mem src_mem, dst_mem;
	struct mig_machine machine = {
		.ram_size = sizeof(src), .nr_vcpus = 1, .nr_cpuid_entries = 1,
		.cpuid = { { .function = 0, .eax = 1 } },
	};
	struct mig_ram_hashes sent;
	struct mig_membuf buf = { 0 };
	struct mig_writer w;
	struct mig_reader r;
	struct mig_state st;
	uint64_t all[16];
	uint8_t blob[8] = { 1 };
	struct mig_vcpu_state vcpu = { .blobs = { [MIG_VCPU_REGS] = { blob, sizeof(blob) } } };
	struct mig_blob chips[MIG_IRQCHIP_NR_TAGS] = { [1] = { blob, 8 } }, one = { blob, 8 };

	(void)state;
	guest_mem_init_buffer(&src_mem, src, sizeof(src));
	guest_mem_init_buffer(&dst_mem, dst, sizeof(dst));
	for (unsigned i = 0; i < 16; i++)
		all[i] = i;
	memset(src + 2 * 4096, 0xab, 4096);
	assert_int_equal(mig_page_hash(1, src + 4096), 0);	/* a zero page hashes to 0 */
	assert_true(mig_page_hash(2, src + 2 * 4096) != 0);

	assert_int_equal(mig_ram_hashes_init(&sent, &src_mem), 0);
	mig_writer_init(&w, mig_membuf_write, &buf);
	w.sent = &sent;
	assert_int_equal(mig_write_header(&w, &machine), 0);
	assert_int_equal(mig_write_ram(&w, &src_mem, all, 16), 0);
	assert_int_equal(mig_write_sync(&w), 0);
	memset(src + 2 * 4096, 0, 4096);	/* page 2 back to zero, page 7 written */
	src[7 * 4096 + 5] = 9;
	assert_int_equal(mig_write_ram(&w, &src_mem, (uint64_t[]){ 2, 7 }, 2), 0);
	assert_int_equal(mig_write_sync(&w), 0);
	assert_true(sent.sum == mig_ram_hash(&src_mem));
	assert_int_equal(mig_write_vcpu(&w, 0, &vcpu), 0);
	assert_int_equal(mig_write_irqchip(&w, chips), 0);
	assert_int_equal(mig_write_pit(&w, &one), 0);
	assert_int_equal(mig_write_clock(&w, &one), 0);
	assert_int_equal(mig_write_end(&w, sent.sum), 0);

	memset(dst, 0, sizeof(dst));
	mig_reader_init(&r, mig_membuf_read, &buf);
	r.on_section = count_syncs;
	syncs_seen = 0;
	assert_int_equal(mig_read_header(&r, &machine), 0);
	assert_int_equal(mig_read_sections(&r, &dst_mem, &st, MIG_READ_FRESH_RAM |
					   MIG_READ_REQUIRE_EOF), 0);
	assert_int_equal(syncs_seen, 2);
	assert_memory_equal(src, dst, sizeof(src));
	mig_state_free(&st);
	mig_ram_hashes_free(&sent);
	mig_membuf_free(&buf);
}

static void test_status_json(void **state)
{
	struct migration_stats st = { .phase = MIGRATION_COMPLETED, .round = 3, .bytes = 42,
				      .elapsed_ms = 12.5, .downtime_ms = 3.25 };
	char json[2048];

	(void)state;
	strcpy(st.target, "tcp:a\"b:1");
	migration_stats_json(&st, json, sizeof(json));
	assert_non_null(strstr(json, "\"phase\": \"completed\", \"target\": \"tcp:a\\\"b:1\", "
			       "\"round\": 3, "));
	assert_non_null(strstr(json, "\"bytes\": 42, "));
	assert_non_null(strstr(json, "\"total_ms\": 12.5, \"downtime_ms\": 3.2"));
	assert_null(strstr(json, "reason"));
	st.phase = MIGRATION_FAILED;
	strcpy(st.reason, "no convergence");
	migration_stats_json(&st, json, sizeof(json));
	assert_non_null(strstr(json, "\"phase\": \"failed\""));
	assert_null(strstr(json, "total_ms"));
	assert_non_null(strstr(json, ", \"reason\": \"no convergence\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parses_targets),
		cmocka_unit_test(test_target_texts),
		cmocka_unit_test(test_targets_resolved_for_the_vm),
		cmocka_unit_test(test_exec_and_fd_channels),
		cmocka_unit_test(test_replies_cross_a_socket),
		cmocka_unit_test(test_broken_connections_explained),
		cmocka_unit_test(test_records_hopvms_own_writes),
		cmocka_unit_test(test_live_stream_hashes_as_it_goes),
		cmocka_unit_test(test_status_json),
	};

	return cmocka_run_group_tests_name("migration_live", tests, NULL, NULL);
}
