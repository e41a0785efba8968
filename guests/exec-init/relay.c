/* The exec init's command and relay: the command runs with pipes for its stdin, stdout and
 * stderr; poll() moves STDIN frames from hvc0 into its input and its output into STDOUT and
 * STDERR frames, and reaps children (as PID 1, orphans too) until the command has ended. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec_init.h"

/* In the forked child, before its exec: fd 2 may not be the error pipe yet. */
static _Noreturn void command_fail(int err_fd, int err, const char *what)
{
	dprintf(err_fd, "hopvm exec: %s: %s\n", what, strerror(err));
	_exit(err == ENOENT ? EXEC_STATUS_NOT_FOUND : EXEC_STATUS_NOT_EXECUTABLE);
}

static _Noreturn void exec_command(const struct exec_config *cfg, int in, int out, int err)
{
	const char *path = NULL;
	sigset_t none;

	/* The init's blocked SIGCHLD and ignored SIGPIPE would survive the exec. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (setsid() < 0)
		command_fail(err, errno, "setsid");
	if (cfg->has_groups && setgroups(cfg->group_count, cfg->groups) < 0)
		command_fail(err, errno, "setgroups");
	if (cfg->has_gid && setgid(cfg->gid) < 0)
		command_fail(err, errno, "setgid");
	if (cfg->has_uid && setuid(cfg->uid) < 0)
		command_fail(err, errno, "setuid");
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		command_fail(err, errno, "dup2");
	/* execvpe searches the caller's PATH, not the one it passes on. */
	for (char **e = cfg->envp; *e != NULL && path == NULL; e++)
		path = record_value(*e, "PATH");
	if (path != NULL)
		setenv("PATH", path, 1);
	else
		unsetenv("PATH");
	execvpe(cfg->argv[0], cfg->argv, cfg->envp);
	command_fail(2, errno, cfg->argv[0]);
}

/* The init's ends of the command's pipes, non-blocking, and its pid. */
struct command {
	pid_t pid;
	int stdin_fd;		/* -1 once closed (end of input, or the command stopped reading) */
	int output_fds[2];	/* its stdout and stderr; -1 at end of file */
};

static void make_pipe(int fds[2], int nonblocking_end)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		fail(errno, "pipe");
	if (fcntl(fds[nonblocking_end], F_SETFL, O_NONBLOCK) < 0)
		fail(errno, "fcntl O_NONBLOCK");
}

static void start_command(const struct exec_config *cfg, struct command *cmd)
{
	int in[2], out[2], err[2];

	make_pipe(in, 1);
	make_pipe(out, 0);
	make_pipe(err, 0);
	cmd->pid = fork();
	if (cmd->pid < 0)
		fail(errno, "fork");
	if (cmd->pid == 0)
		exec_command(cfg, in[0], out[1], err[1]);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	cmd->stdin_fd = in[1];
	cmd->output_fds[0] = out[0];
	cmd->output_fds[1] = err[0];
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* --- the relay --------------------------------------------------------------------------- */

/* Bytes from the host, whole frames or not: the first frame leaves once its payload is in the
 * stdin pipe, so a command that does not read holds the host's input back, not our memory. */
struct host_input {
	uint8_t buf[EXEC_FRAME_HEADER + EXEC_FRAME_MAX];
	size_t len;
	size_t written;		/* of the first frame's payload, already in the pipe */
	bool blocked;		/* the first frame is whole, the pipe is full */
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Feeds the whole frames received into the stdin pipe, as far as it takes them. */
static void feed_stdin(struct host_input *in, struct command *cmd)
{
	in->blocked = false;
	while (in->len >= EXEC_FRAME_HEADER) {
		uint32_t length = le32(in->buf + 4);
		size_t frame_len = EXEC_FRAME_HEADER + length;

		if (in->buf[0] != EXEC_FRAME_STDIN || in->buf[1] || in->buf[2] || in->buf[3] ||
		    length > EXEC_FRAME_MAX)
			fail(0, "a broken frame from the host: type %u, length %u", in->buf[0],
			     length);
		if (in->len < frame_len)
			return;
		if (length == 0)
			close_fd(&cmd->stdin_fd);
		while (cmd->stdin_fd >= 0 && in->written < length) {
			ssize_t n = write(cmd->stdin_fd, in->buf + EXEC_FRAME_HEADER + in->written,
					  length - in->written);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN) {
				in->blocked = true;
				return;
			}
			if (n < 0)	/* EPIPE: the command closed its input; the rest goes */
				close_fd(&cmd->stdin_fd);
			else
				in->written += (size_t)n;
		}
		memmove(in->buf, in->buf + frame_len, in->len - frame_len);
		in->len -= frame_len;
		in->written = 0;
	}
}

static void receive_host_input(struct host_input *in, struct command *cmd, bool *channel_open)
{
	ssize_t n = read(channel, in->buf + in->len, sizeof(in->buf) - in->len);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* The host hung up: no more input will come. */
		*channel_open = false;
		close_fd(&cmd->stdin_fd);
		return;
	}
	in->len += (size_t)n;
	feed_stdin(in, cmd);
}

/* One read of the command's stdout (stream 0) or stderr (1), as one frame. */
static ssize_t forward_output(struct command *cmd, int stream, size_t max)
{
	static uint8_t buf[EXEC_FRAME_MAX];
	ssize_t n = read(cmd->output_fds[stream], buf, max < sizeof(buf) ? max : sizeof(buf));

	if (n > 0)
		send_frame(stream ? EXEC_FRAME_STDERR : EXEC_FRAME_STDOUT, buf, (size_t)n);
	else if (n == 0 || (errno != EAGAIN && errno != EINTR))
		close_fd(&cmd->output_fds[stream]);
	return n;
}

/* Reaps every child that ended (as PID 1, orphans are ours too); true once the command has,
 * with its status as a shell gives it. */
static bool reap_children(int signal_fd, pid_t command, int *status)
{
	struct signalfd_siginfo info;
	bool command_ended = false;
	pid_t pid;
	int wstatus;

	while (read(signal_fd, &info, sizeof(info)) > 0)
		;	/* SIGCHLDs merge: only the waits below count */
	while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
		if (pid != command)
			continue;
		command_ended = true;
		*status = WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus) : WEXITSTATUS(wstatus);
	}
	return command_ended;
}

/* Relays until the command has ended; returns its status. */
static int relay(struct command *cmd, int signal_fd)
{
	static struct host_input in;
	bool channel_open = true;
	int status = 0;

	for (;;) {
		struct pollfd fds[] = {
			{ .fd = signal_fd, .events = POLLIN },
			{ .fd = channel_open && !in.blocked ? channel : -1, .events = POLLIN },
			{ .fd = in.blocked ? cmd->stdin_fd : -1, .events = POLLOUT },
			{ .fd = cmd->output_fds[0], .events = POLLIN },
			{ .fd = cmd->output_fds[1], .events = POLLIN },
		};

		if (poll(fds, sizeof(fds) / sizeof(fds[0]), -1) < 0) {
			if (errno == EINTR)
				continue;
			fail(errno, "poll");
		}
		if (fds[0].revents && reap_children(signal_fd, cmd->pid, &status))
			return status;
		if (fds[1].revents)
			receive_host_input(&in, cmd, &channel_open);
		if (fds[2].revents)
			feed_stdin(&in, cmd);
		for (int stream = 0; stream < 2; stream++)
			if (fds[3 + stream].revents)
				forward_output(cmd, stream, EXEC_FRAME_MAX);
	}
}

/* What the command wrote before it ended, without waiting for the writers it may have left
 * behind (a daemon holding its stdout): what the pipe holds now, and no more. */
static void drain_output(struct command *cmd)
{
	for (int stream = 0; stream < 2; stream++) {
		int pending = 0;

		if (cmd->output_fds[stream] < 0 ||
		    ioctl(cmd->output_fds[stream], FIONREAD, &pending) < 0)
			continue;
		while (pending > 0 && cmd->output_fds[stream] >= 0) {
			ssize_t n = forward_output(cmd, stream, (size_t)pending);

			if (n <= 0)
				break;
			pending -= (int)n;
		}
		close_fd(&cmd->output_fds[stream]);
	}
}

int run_command(const struct exec_config *cfg)
{
	struct command cmd;
	sigset_t sigchld;
	int signal_fd, status;

	/* Blocked before the fork, so an early exit waits in the signalfd. */
	sigemptyset(&sigchld);
	sigaddset(&sigchld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &sigchld, NULL) < 0)
		fail(errno, "block SIGCHLD");
	signal_fd = signalfd(-1, &sigchld, SFD_NONBLOCK | SFD_CLOEXEC);
	if (signal_fd < 0)
		fail(errno, "signalfd");
	start_command(cfg, &cmd);
	status = relay(&cmd, signal_fd);
	close_fd(&cmd.stdin_fd);
	drain_output(&cmd);
	close(signal_fd);
	return status;
}
