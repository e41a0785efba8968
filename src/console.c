#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "hopvm/console.h"
#include "hopvm/error.h"
#include "hopvm/vm.h"
#include "hopvm/threads.h"

/* How often the input thread looks at the stop flag, and retries a full FIFO. */
#define CONSOLE_POLL_MS 50
#define CONSOLE_FIFO_RETRY_US 1000

#define CONSOLE_HELP_TEXT                                                                  \
	"\r\nC-a x    end the VM\r\nC-a C-a  send C-a to the guest\r\nC-a h    this help\r\n"

/* The terminal's settings before raw mode.  Process-wide, because a signal handler must
 * restore them; tcsetattr() is async-signal-safe. */
static struct termios saved_termios;
static volatile sig_atomic_t saved_termios_fd = -1;

static void terminal_restore(void)
{
	int fd = saved_termios_fd;

	if (fd >= 0) {
		tcsetattr(fd, TCSANOW, &saved_termios);
		saved_termios_fd = -1;
	}
}

static void terminal_restore_on_signal(int sig)
{
	terminal_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Raw input (no line editing, echo or signal keys) but cooked output, so hopvm's own
 * messages still start at the left margin. */
static int terminal_make_raw(int fd)
{
	static const int fatal_signals[] = {
		SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT,
	};
	static bool atexit_done;
	struct termios raw;

	if (tcgetattr(fd, &saved_termios) < 0)
		return err_set(-errno, "tcgetattr on the console: %s", strerror(errno));
	raw = saved_termios;
	raw.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL |
				   IXON);
	raw.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = terminal_restore_on_signal;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESETHAND;
		sigaction(fatal_signals[i], &sa, NULL);
	}
	if (!atexit_done && atexit(terminal_restore) == 0)
		atexit_done = true;
	saved_termios_fd = fd;
	if (tcsetattr(fd, TCSANOW, &raw) < 0) {
		saved_termios_fd = -1;
		return err_set(-errno, "tcsetattr on the console: %s", strerror(errno));
	}
	return 0;
}

enum console_action console_escape_filter(struct console_escape *esc, const uint8_t *in,
					  size_t len, uint8_t *out, size_t *out_len,
					  size_t *consumed)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = in[i];

		if (!esc->pending) {
			if (c == CONSOLE_ESCAPE_KEY)
				esc->pending = true;
			else
				out[n++] = c;
			continue;
		}
		esc->pending = false;
		if (c == CONSOLE_ESCAPE_KEY) {
			out[n++] = c;
		} else if (c == 'x' || c == 'X' || c == 'h' || c == 'H' || c == '?') {
			*out_len = n;
			*consumed = i + 1;
			return (c == 'x' || c == 'X') ? CONSOLE_QUIT : CONSOLE_HELP;
		}
		/* Any other key after Ctrl-A is dropped, as QEMU drops it. */
	}
	*out_len = n;
	*consumed = len;
	return CONSOLE_NONE;
}

/* Hands bytes to COM1, waiting while its FIFO is full; false if the VM stopped first. */
static bool console_feed(struct console_input *in, const uint8_t *bytes, size_t len)
{
	size_t off = 0;

	while (off < len) {
		if (vm_stop_requested(in->vm))
			return false;
		off += uart_16550_receive(&in->vm->com1, bytes + off, len - off);
		if (off < len)
			usleep(CONSOLE_FIFO_RETRY_US);	/* FIFO full: let the guest read */
	}
	return true;
}

/* Handles what the terminal typed; false once the VM should stop reading. */
static bool console_typed(struct console_input *in, const uint8_t *buf, size_t len)
{
	uint8_t out[256];

	while (len > 0) {
		size_t out_len, consumed;
		enum console_action act =
			console_escape_filter(&in->esc, buf, len, out, &out_len, &consumed);

		if (!console_feed(in, out, out_len))
			return false;
		if (act == CONSOLE_QUIT) {
			vm_request_stop(in->vm, 0, "terminated by Ctrl-A x");
			return false;
		}
		if (act == CONSOLE_HELP && write(STDERR_FILENO, CONSOLE_HELP_TEXT,
						 sizeof(CONSOLE_HELP_TEXT) - 1) < 0) {
			/* Nowhere to say it: the keys still work. */
		}
		buf += consumed;
		len -= consumed;
	}
	return true;
}

static void *console_input_thread(void *arg)
{
	struct console_input *in = arg;
	uint8_t buf[256];

	if (thread_enter(THREAD_CONSOLE_IN, 0) < 0) {
		vm_request_stop(in->vm, HOPVM_EXIT_ERROR, "console input: %s", err_msg());
		return NULL;
	}
	while (!vm_stop_requested(in->vm)) {
		struct pollfd p = { .fd = in->fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, CONSOLE_POLL_MS) <= 0)
			continue;
		n = read(in->fd, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;	/* end of input: the guest just hears nothing more */
		if (in->terminal ? !console_typed(in, buf, (size_t)n)
				 : !console_feed(in, buf, (size_t)n))
			break;
	}
	return NULL;
}

int console_input_start(struct console_input *in, struct vm *vm, int fd)
{
	int ret;

	memset(in, 0, sizeof(*in));
	in->vm = vm;
	in->fd = fd;
	if (fd < 0)
		return 0;
	if (isatty(fd)) {
		if (tcgetpgrp(fd) != getpgrp())
			return 0;	/* someone else's terminal: leave it alone */
		ret = terminal_make_raw(fd);
		if (ret < 0)
			return ret;
		in->terminal = true;
	}
	ret = pthread_create(&in->thread, NULL, console_input_thread, in);
	if (ret != 0) {
		terminal_restore();
		return err_set(-ret, "cannot start the console input thread: %s", strerror(ret));
	}
	in->running = true;
	return 0;
}

void console_input_stop(struct console_input *in)
{
	if (in->running)
		pthread_join(in->thread, NULL);
	in->running = false;
	if (in->terminal)
		terminal_restore();
	in->terminal = false;
}
