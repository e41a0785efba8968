/* hopvm exec's init (guests/exec-init/init.c) relaying a real command without a VM: the test
 * build of the init runs with HOPVM_INIT_TEST_CHANNEL set, skips its guest setup and relays
 * over one end of a socketpair; this side plays the host, as hopvm would over hvc0. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hopvm/exec_abi.h"
#include "unit.h"

#ifndef EXEC_INIT_TEST_BIN
#define EXEC_INIT_TEST_BIN "build/tests/exec-init-test"
#endif
#define RUN_TIMEOUT_MS 20000

struct bytes {
	uint8_t *data;
	size_t len, capacity;
};

static void bytes_append(struct bytes *b, const void *data, size_t len)
{
	if (len == 0)	/* an empty frame's payload may be NULL */
		return;
	if (b->len + len > b->capacity) {
		b->capacity = (b->len + len) * 2;
		b->data = realloc(b->data, b->capacity);
		assert_non_null(b->data);
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

static void frame_append(struct bytes *b, enum exec_frame_type type, const void *payload,
			 size_t len)
{
	uint8_t header[EXEC_FRAME_HEADER] = { (uint8_t)type, 0, 0, 0, (uint8_t)len,
					      (uint8_t)(len >> 8), (uint8_t)(len >> 16),
					      (uint8_t)(len >> 24) };

	bytes_append(b, header, sizeof(header));
	bytes_append(b, payload, len);
}

/* What the init sent, taken apart, and how it ended. */
struct run {
	struct bytes stdout_data, stderr_data, error;
	bool ready_first;
	bool has_status;
	uint32_t status;
	bool frames_after_status;
	int init_wstatus;
	double seconds;
};

static void run_free(struct run *run)
{
	free(run->stdout_data.data);
	free(run->stderr_data.data);
	free(run->error.data);
}

/* Takes what the init sent apart into run: whole, well-formed frames only. */
static void parse_frames(const struct bytes *received, struct run *run)
{
	size_t pos = 0;
	bool first = true;

	while (pos < received->len) {
		const uint8_t *h = received->data + pos;
		uint32_t len;

		assert_true(received->len - pos >= EXEC_FRAME_HEADER);
		len = (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 |
		      (uint32_t)h[7] << 24;
		assert_true(h[1] == 0 && h[2] == 0 && h[3] == 0);
		assert_true(len <= EXEC_FRAME_MAX);
		assert_true(received->len - pos - EXEC_FRAME_HEADER >= len);
		if (run->has_status)
			run->frames_after_status = true;
		switch (h[0]) {
		case EXEC_FRAME_READY:
			run->ready_first = first;
			assert_int_equal(len, 0);
			break;
		case EXEC_FRAME_STDOUT:
			bytes_append(&run->stdout_data, h + EXEC_FRAME_HEADER, len);
			break;
		case EXEC_FRAME_STDERR:
			bytes_append(&run->stderr_data, h + EXEC_FRAME_HEADER, len);
			break;
		case EXEC_FRAME_STATUS:
			assert_int_equal(len, 4);
			run->has_status = true;
			run->status = (uint32_t)h[8] | (uint32_t)h[9] << 8 |
				      (uint32_t)h[10] << 16 | (uint32_t)h[11] << 24;
			break;
		case EXEC_FRAME_ERROR:
			bytes_append(&run->error, h + EXEC_FRAME_HEADER, len);
			break;
		default:
			fail_msg("a frame of type %u from the init", h[0]);
		}
		first = false;
		pos += EXEC_FRAME_HEADER + len;
	}
	bytes_append(&run->stdout_data, "", 1);	/* so the text ones compare as strings */
	bytes_append(&run->stderr_data, "", 1);
	bytes_append(&run->error, "", 1);
	run->stdout_data.len--;
	run->stderr_data.len--;
	run->error.len--;
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs the init on records (NULL-terminated), sends input once READY has come, chunk bytes a
 * write (1: a pause after each byte, so frames arrive split), and collects all it sends until
 * it exits. */
static void run_init(const char *const *records, const struct bytes *input, size_t chunk,
		     struct run *run)
{
	char config[] = "/tmp/hopvm-exec-init-XXXXXX", fd_text[16];
	struct bytes received = { 0 };
	const char *bin = getenv("HOPVM_EXEC_INIT_TEST");
	size_t sent = 0;
	bool ready = false, hung_up = false;
	double start = now_seconds();
	int sv[2], config_fd;
	pid_t pid;

	memset(run, 0, sizeof(*run));
	config_fd = mkstemp(config);
	assert_true(config_fd >= 0);
	for (const char *const *r = records; *r != NULL; r++)
		assert_int_equal(write(config_fd, *r, strlen(*r) + 1), (ssize_t)strlen(*r) + 1);
	close(config_fd);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int channel = dup(sv[1]);	/* without CLOEXEC: the init's */

		snprintf(fd_text, sizeof(fd_text), "%d", channel);
		setenv("HOPVM_INIT_TEST_CHANNEL", fd_text, 1);
		setenv("HOPVM_INIT_TEST_CONFIG", config, 1);
		execl(bin ? bin : EXEC_INIT_TEST_BIN, "exec-init-test", (char *)NULL);
		_exit(99);
	}
	close(sv[1]);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	while (!hung_up) {
		bool sending = ready && input != NULL && sent < input->len;
		struct pollfd pfd = { sv[0], POLLIN | (sending ? POLLOUT : 0), 0 };
		int left_ms = RUN_TIMEOUT_MS - (int)((now_seconds() - start) * 1000);

		if (left_ms <= 0) {
			kill(pid, SIGKILL);
			fail_msg("the init did not end within %d ms", RUN_TIMEOUT_MS);
		}
		assert_true(poll(&pfd, 1, left_ms) >= 0);
		if (pfd.revents & (POLLIN | POLLHUP)) {
			uint8_t buf[65536];
			ssize_t n = read(sv[0], buf, sizeof(buf));

			if (n > 0)
				bytes_append(&received, buf, (size_t)n);
			else if (n == 0 || errno != EAGAIN)
				hung_up = true;
			ready = ready || (received.len >= EXEC_FRAME_HEADER &&
					  received.data[0] == EXEC_FRAME_READY);
		}
		if (sending && (pfd.revents & POLLOUT)) {
			size_t len = input->len - sent < chunk ? input->len - sent : chunk;
			ssize_t n = send(sv[0], input->data + sent, len, MSG_NOSIGNAL);

			if (n > 0)
				sent += (size_t)n;
			else if (errno == EPIPE)
				sent = input->len;	/* the init has gone; the frames will say why */
			if (chunk == 1)
				usleep(300);
		}
	}
	close(sv[0]);
	assert_int_equal(waitpid(pid, &run->init_wstatus, 0), pid);
	run->seconds = now_seconds() - start;
	unlink(config);
	parse_frames(&received, run);
	free(received.data);
}

/* Asserts that the run ended as a command's run does: READY first, STATUS last, init exit 0. */
static void assert_command_ran(const struct run *run, uint32_t status)
{
	if (run->error.len > 0)
		fail_msg("the init sent ERROR: %s", (const char *)run->error.data);
	assert_true(run->ready_first);
	assert_true(run->has_status);
	assert_false(run->frames_after_status);
	assert_int_equal(run->status, status);
	assert_true(WIFEXITED(run->init_wstatus));
	assert_int_equal(WEXITSTATUS(run->init_wstatus), 0);
}

#define ENV_PATH "env=PATH=/usr/local/bin:/usr/bin:/bin"

static void test_streams_and_status(void **state)
{
	const char *const records[] = { ENV_PATH, "arg=sh", "arg=-c",
					"arg=echo out; echo err >&2; exit 42", NULL };
	struct run run;

	(void)state;
	run_init(records, NULL, 0, &run);
	assert_command_ran(&run, 42);
	assert_string_equal(run.stdout_data.data, "out\n");
	assert_string_equal(run.stderr_data.data, "err\n");
	run_free(&run);
}

static void test_stdin_and_end_of_file(void **state)
{
	const char *const records[] = { ENV_PATH, "arg=cat", NULL };
	struct bytes input = { 0 };
	struct run run;

	(void)state;
	frame_append(&input, EXEC_FRAME_STDIN, "hi\n", 3);
	frame_append(&input, EXEC_FRAME_STDIN, NULL, 0);
	run_init(records, &input, 4096, &run);
	assert_command_ran(&run, 0);
	assert_string_equal(run.stdout_data.data, "hi\n");
	free(input.data);
	run_free(&run);
}

/* Headers and payloads arrive a byte at a time, frames across reads. */
static void test_frames_split_anywhere(void **state)
{
	const char *const records[] = { ENV_PATH, "arg=cat", NULL };
	struct bytes input = { 0 };
	struct run run;

	(void)state;
	frame_append(&input, EXEC_FRAME_STDIN, "hello, ", 7);
	frame_append(&input, EXEC_FRAME_STDIN, "world\n", 6);
	frame_append(&input, EXEC_FRAME_STDIN, NULL, 0);
	run_init(records, &input, 1, &run);
	assert_command_ran(&run, 0);
	assert_string_equal(run.stdout_data.data, "hello, world\n");
	free(input.data);
	run_free(&run);
}

static void test_killed_by_signal(void **state)
{
	const char *const records[] = { ENV_PATH, "arg=sh", "arg=-c", "arg=kill -9 $$", NULL };
	struct run run;

	(void)state;
	run_init(records, NULL, 0, &run);
	assert_command_ran(&run, 128 + SIGKILL);
	run_free(&run);
}

static void test_missing_command(void **state)
{
	const char *const records[] = { ENV_PATH, "arg=hopvm-no-such-command", "arg=x", NULL };
	struct run run;

	(void)state;
	run_init(records, NULL, 0, &run);
	assert_command_ran(&run, EXEC_STATUS_NOT_FOUND);
	assert_string_equal(run.stderr_data.data,
			    "hopvm exec: hopvm-no-such-command: No such file or directory\n");
	assert_int_equal(run.stdout_data.len, 0);
	run_free(&run);
}

static void test_not_executable(void **state)
{
	char path[] = "/tmp/hopvm-exec-init-noexec-XXXXXX", arg[64], expected[128];
	const char *const records[] = { ENV_PATH, arg, NULL };
	struct run run;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
	close(fd);
	assert_int_equal(chmod(path, 0644), 0);
	snprintf(arg, sizeof(arg), "arg=%s", path);
	snprintf(expected, sizeof(expected), "hopvm exec: %s: Permission denied\n", path);
	run_init(records, NULL, 0, &run);
	unlink(path);
	assert_command_ran(&run, EXEC_STATUS_NOT_EXECUTABLE);
	assert_string_equal(run.stderr_data.data, expected);
	run_free(&run);
}

/* The PATH searched is the env= records', not the init's own. */
static void test_path_from_the_records(void **state)
{
	char dir[] = "/tmp/hopvm-exec-init-path-XXXXXX", script[128], env_path[160];
	const char *const records[] = { env_path, "env=GREETING=from the records",
					"arg=hopvm-exec-probe", NULL };
	struct run run;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(script, sizeof(script), "%s/hopvm-exec-probe", dir);
	f = fopen(script, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\necho \"$GREETING\"\n", f);
	fclose(f);
	assert_int_equal(chmod(script, 0755), 0);
	snprintf(env_path, sizeof(env_path), "env=PATH=%s:/usr/bin:/bin", dir);
	run_init(records, NULL, 0, &run);
	unlink(script);
	rmdir(dir);
	assert_command_ran(&run, 0);
	assert_string_equal(run.stdout_data.data, "from the records\n");
	run_free(&run);
}

static void test_large_output(void **state)
{
	const char *const records[] = { ENV_PATH, "arg=head", "arg=-c", "arg=1048576",
					"arg=/dev/zero", NULL };
	struct run run;

	(void)state;
	run_init(records, NULL, 0, &run);
	assert_command_ran(&run, 0);
	assert_int_equal(run.stdout_data.len, 1048576);
	for (size_t i = 0; i < run.stdout_data.len; i++)
		if (run.stdout_data.data[i] != 0)
			fail_msg("byte %zu is %u", i, run.stdout_data.data[i]);
	run_free(&run);
}

/* 4 MiB in and out through cat: the pipes fill both ways, and nothing deadlocks or drops. */
static void test_large_input_through_cat(void **state)
{
	const char *const records[] = { ENV_PATH, "arg=cat", NULL };
	const size_t total = 4 << 20;
	struct bytes input = { 0 };
	uint8_t *expected = malloc(total);
	struct run run;

	(void)state;
	assert_non_null(expected);
	for (size_t i = 0; i < total; i++)
		expected[i] = (uint8_t)(i * 7 + i / 251);
	for (size_t off = 0; off < total; off += EXEC_FRAME_MAX)
		frame_append(&input, EXEC_FRAME_STDIN, expected + off,
			     total - off < EXEC_FRAME_MAX ? total - off : EXEC_FRAME_MAX);
	frame_append(&input, EXEC_FRAME_STDIN, NULL, 0);
	run_init(records, &input, 10000, &run);
	assert_command_ran(&run, 0);
	assert_int_equal(run.stdout_data.len, total);
	assert_memory_equal(run.stdout_data.data, expected, total);
	free(expected);
	free(input.data);
	run_free(&run);
}

/* A command that closes its input while the host still sends: the init neither dies of
 * SIGPIPE nor stops relaying. */
static void test_command_closes_stdin(void **state)
{
	const char *const records[] = { ENV_PATH, "arg=sh", "arg=-c",
					"arg=exec 0<&-; sleep 0.3; echo still here; exit 3", NULL };
	struct bytes input = { 0 };
	static uint8_t chunk[EXEC_FRAME_MAX];
	struct run run;

	(void)state;
	for (int i = 0; i < 16; i++)
		frame_append(&input, EXEC_FRAME_STDIN, chunk, sizeof(chunk));
	run_init(records, &input, 65536, &run);
	assert_command_ran(&run, 3);
	assert_string_equal(run.stdout_data.data, "still here\n");
	free(input.data);
	run_free(&run);
}

/* A daemon left holding stdout does not hold back the status. */
static void test_background_writer_not_waited_for(void **state)
{
	const char *const records[] = { ENV_PATH, "arg=sh", "arg=-c",
					"arg=sleep 5 & echo started", NULL };
	struct run run;

	(void)state;
	run_init(records, NULL, 0, &run);
	assert_command_ran(&run, 0);
	assert_string_equal(run.stdout_data.data, "started\n");
	assert_true(run.seconds < 3);
	run_free(&run);
}

static void test_working_directory(void **state)
{
	const char *const records[] = { ENV_PATH, "cwd=/tmp", "arg=pwd", NULL };
	const char *const missing[] = { ENV_PATH, "cwd=/hopvm-no-such-dir", "arg=pwd", NULL };
	struct run run;

	(void)state;
	run_init(records, NULL, 0, &run);
	assert_command_ran(&run, 0);
	assert_string_equal(run.stdout_data.data, "/tmp\n");
	run_free(&run);

	run_init(missing, NULL, 0, &run);
	assert_command_ran(&run, 0);
	assert_string_equal(run.stdout_data.data, "/\n");
	assert_string_equal(run.stderr_data.data, "hopvm exec: warning: cannot enter "
			    "/hopvm-no-such-dir (No such file or directory); running in /\n");
	run_free(&run);
}

static void test_identity(void **state)
{
	const char *const records[] = { ENV_PATH, "uid=65534", "gid=65533", "groups=65531,65532",
					"arg=sh", "arg=-c", "arg=id -u; id -g; id -G", NULL };
	struct run run;

	(void)state;
	if (geteuid() != 0)
		skip();
	run_init(records, NULL, 0, &run);
	assert_command_ran(&run, 0);
	assert_string_equal(run.stdout_data.data, "65534\n65533\n65533 65531 65532\n");
	run_free(&run);
}

/* A frame no host sends: the init says so and powers off (in the test build: exits 1). */
static void test_broken_frames_end_the_run(void **state)
{
	const char *const records[] = { ENV_PATH, "arg=sleep", "arg=10", NULL };
	static const uint8_t unknown_type[] = { 9, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t too_long[] = { EXEC_FRAME_STDIN, 0, 0, 0, 1, 0, 1, 0 };
	struct bytes input = { 0 };
	struct run run;

	(void)state;
	bytes_append(&input, unknown_type, sizeof(unknown_type));
	run_init(records, &input, 4096, &run);
	assert_true(WIFEXITED(run.init_wstatus));
	assert_int_equal(WEXITSTATUS(run.init_wstatus), 1);
	assert_false(run.has_status);
	assert_string_equal(run.error.data, "a broken frame from the host: type 9, length 0");
	run_free(&run);

	input.len = 0;
	bytes_append(&input, too_long, sizeof(too_long));
	run_init(records, &input, 4096, &run);
	assert_int_equal(WEXITSTATUS(run.init_wstatus), 1);
	assert_string_equal(run.error.data, "a broken frame from the host: type 0, length 65537");
	free(input.data);
	run_free(&run);
}

static void test_bad_records(void **state)
{
	const char *const unknown[] = { "arg=true", "colour=blue", NULL };
	const char *const no_command[] = { ENV_PATH, NULL };
	struct run run;

	(void)state;
	run_init(unknown, NULL, 0, &run);
	assert_int_equal(WEXITSTATUS(run.init_wstatus), 1);
	assert_non_null(strstr((const char *)run.error.data, "unknown record \"colour=blue\""));
	run_free(&run);

	run_init(no_command, NULL, 0, &run);
	assert_int_equal(WEXITSTATUS(run.init_wstatus), 1);
	assert_non_null(strstr((const char *)run.error.data, "no command (no arg= record)"));
	run_free(&run);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_streams_and_status),
		cmocka_unit_test(test_stdin_and_end_of_file),
		cmocka_unit_test(test_frames_split_anywhere),
		cmocka_unit_test(test_killed_by_signal),
		cmocka_unit_test(test_missing_command),
		cmocka_unit_test(test_not_executable),
		cmocka_unit_test(test_path_from_the_records),
		cmocka_unit_test(test_large_output),
		cmocka_unit_test(test_large_input_through_cat),
		cmocka_unit_test(test_command_closes_stdin),
		cmocka_unit_test(test_background_writer_not_waited_for),
		cmocka_unit_test(test_working_directory),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_broken_frames_end_the_run),
		cmocka_unit_test(test_bad_records),
	};
	return cmocka_run_group_tests_name("exec-init", tests, NULL, NULL);
}
