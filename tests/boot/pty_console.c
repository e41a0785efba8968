/* Runs a command on a new pseudo-terminal, as a person at a terminal would: waits until it
 * prints WAIT_TEXT, then types INPUT (or sends a signal), collects everything it printed and
 * says whether the terminal's settings came back as they were.
 *
 *   pty_console [--signal N] WAIT_TEXT INPUT COMMAND [ARGS...]
 *
 * Prints the command's output, then "pty_console: exit status N" (or "killed by signal N")
 * and "pty_console: terminal restored" or "...: terminal left changed"; exits 0 unless it
 * could not run the command at all. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_S 60

static char output[1 << 20];
static size_t output_len;

static void child(int slave, char **argv)
{
	setsid();
	if (ioctl(slave, TIOCSCTTY, 0) < 0) {
		perror("pty_console: TIOCSCTTY");
		_exit(127);
	}
	dup2(slave, 0);
	dup2(slave, 1);
	dup2(slave, 2);
	if (slave > 2)
		close(slave);
	execvp(argv[0], argv);
	perror("pty_console: exec");
	_exit(127);
}

static bool same_settings(const struct termios *a, const struct termios *b)
{
	return a->c_iflag == b->c_iflag && a->c_oflag == b->c_oflag &&
	       a->c_lflag == b->c_lflag && memcmp(a->c_cc, b->c_cc, sizeof(a->c_cc)) == 0;
}

int main(int argc, char **argv)
{
	int sig = 0, arg = 1, master, slave, status = 0;
	struct termios before, after;
	bool sent = false, exited = false;
	time_t deadline = time(NULL) + DEADLINE_S;
	const char *wait_text, *input;
	pid_t pid;

	if (argc > 2 && strcmp(argv[1], "--signal") == 0) {
		sig = atoi(argv[2]);
		arg = 3;
	}
	if (argc - arg < 3) {
		fprintf(stderr, "usage: pty_console [--signal N] WAIT_TEXT INPUT COMMAND...\n");
		return 2;
	}
	wait_text = argv[arg];
	input = argv[arg + 1];
	if (openpty(&master, &slave, NULL, NULL, NULL) < 0 || tcgetattr(slave, &before) < 0) {
		perror("pty_console: openpty");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("pty_console: fork");
		return 1;
	}
	if (pid == 0)
		child(slave, argv + arg + 2);

	while (time(NULL) < deadline) {
		struct pollfd p = { .fd = master, .events = POLLIN };
		ssize_t n = 0;

		if (poll(&p, 1, 100) > 0) {
			n = read(master, output + output_len, sizeof(output) - 1 - output_len);
			if (n > 0)
				output_len += (size_t)n;
			output[output_len] = '\0';
		}
		if (!sent && strstr(output, wait_text) != NULL) {
			sent = true;
			if (sig != 0)
				kill(pid, sig);
			else if (write(master, input, strlen(input)) < 0)
				perror("pty_console: write");
		}
		if (!exited && waitpid(pid, &status, WNOHANG) == pid)
			exited = true;
		if (exited && n <= 0)
			break;	/* gone, and nothing more to read */
	}
	if (!exited) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		printf("%s\npty_console: timed out after %d s\n", output, DEADLINE_S);
		return 0;
	}
	tcgetattr(slave, &after);
	printf("%s\n", output);
	if (WIFSIGNALED(status))
		printf("pty_console: killed by signal %d\n", WTERMSIG(status));
	else
		printf("pty_console: exit status %d\n", WEXITSTATUS(status));
	printf("pty_console: terminal %s\n",
	       same_settings(&before, &after) ? "restored" : "left changed");
	return 0;
}
