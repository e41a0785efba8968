/* The migration channels besides TCP: a command's stdin and stdout (exec:), and a socket the
 * caller opened (fd:).  Either way the conversation of migration_transport.h runs over one
 * socket, both ways. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/migration_transport.h"

/* How long a command gets to end by itself once its socket is closed. */
#define CHILD_GRACE_MS 2000

extern char **environ;

int mig_exec_spawn(const char *command, unsigned io_timeout_ms, pid_t *child)
{
	char sh[] = "sh", dash_c[] = "-c", cmd[MIG_TARGET_PATH_MAX + 1];
	char *const argv[] = { sh, dash_c, cmd, NULL };
	posix_spawn_file_actions_t actions;
	posix_spawnattr_t attr;
	sigset_t none, ignored;
	int sv[2], ret;

	if (strlen(command) > MIG_TARGET_PATH_MAX)
		return err_set(-ENAMETOOLONG, "exec: the command is longer than %d bytes",
			       MIG_TARGET_PATH_MAX);
	strcpy(cmd, command);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return err_set(-errno, "exec:%s: socketpair: %s", command, strerror(errno));
	/* The command starts as from a shell: no signal a hopvm thread blocks, nor SIGPIPE,
	 * which hopvm ignores, carries over (handlers go with the exec by themselves). */
	sigemptyset(&none);
	sigemptyset(&ignored);
	sigaddset(&ignored, SIGPIPE);
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_adddup2(&actions, sv[1], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&actions, sv[1], STDOUT_FILENO);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &ignored);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	ret = posix_spawn(child, "/bin/sh", &actions, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	posix_spawnattr_destroy(&attr);
	close(sv[1]);
	if (ret != 0) {
		close(sv[0]);
		return err_set(-ret, "exec:%s: cannot start /bin/sh: %s", command, strerror(ret));
	}
	mig_set_timeouts(sv[0], io_timeout_ms);
	return sv[0];
}

int mig_fd_socket(int fd, unsigned io_timeout_ms)
{
	int type = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return err_set(-errno, "file descriptor %d %s", fd, errno == ENOTSOCK ?
			       "is not a socket (fd:N carries the conversation both ways)" :
			       errno == EBADF ? "is not open" : strerror(errno));
	if (type != SOCK_STREAM)
		return err_set(-EPROTOTYPE, "file descriptor %d is not a stream socket", fd);
	mig_set_timeouts(fd, io_timeout_ms);
	return fd;
}

/* Reaps child if it ends within ms; true then, with its status in *status. */
static bool reaped_within(pid_t child, unsigned ms, int *status)
{
	for (unsigned waited = 0; waited < ms; waited += 10) {
		struct timespec ts = { 0, 10 * 1000000L };
		pid_t got = waitpid(child, status, WNOHANG);

		if (got == child)
			return true;
		if (got < 0 && errno != EINTR) {
			*status = -1;	/* not ours to wait for: nothing to tell */
			return true;
		}
		nanosleep(&ts, NULL);
	}
	return false;
}

int mig_child_end(pid_t child)
{
	int status;

	if (reaped_within(child, CHILD_GRACE_MS, &status))
		return status;
	kill(child, SIGTERM);
	if (!reaped_within(child, CHILD_GRACE_MS, &status)) {
		kill(child, SIGKILL);
		(void)waitpid(child, &status, 0);
	}
	return -1;
}

int mig_child_wait(pid_t child, unsigned ms)
{
	int status;

	return reaped_within(child, ms, &status) ? status : mig_child_end(child);
}

void mig_child_explain(int status)
{
	char why[512];	/* err_msg()'s size */
	const char *sep = err_msg()[0] != '\0' ? " (" : "", *end = sep[0] != '\0' ? ")" : "";

	if (status == 0)
		return;
	snprintf(why, sizeof(why), "%s", err_msg());
	if (status == -1)
		(void)err_set(-EIO, "%s%sthe exec: command did not end; it was stopped%s", why, sep,
			      end);
	else if (WIFEXITED(status))
		(void)err_set(-EIO, "%s%sthe exec: command exited with status %d%s", why, sep,
			      WEXITSTATUS(status), end);
	else if (WIFSIGNALED(status))
		(void)err_set(-EIO, "%s%sthe exec: command was killed by signal %d%s", why, sep,
			      WTERMSIG(status), end);
}
