/* A minimal QMP client for the migration benchmark, so it needs nothing beyond libc:
 *   qmp SOCKET JSON...
 * Connects to QEMU's QMP unix socket, leaves capability negotiation, sends each JSON command
 * in turn and prints each answer (the line with "return" or "error"; events are skipped).
 * Exit status 1 if QEMU cannot be reached or answers an error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static char buf[1 << 16];
static size_t used;

/* The next line from QEMU, NUL-terminated in buf; NULL at the end. */
static char *next_line(int fd)
{
	static size_t consumed;
	char *nl;

	memmove(buf, buf + consumed, used - consumed);
	used -= consumed;
	consumed = 0;
	while ((nl = memchr(buf, '\n', used)) == NULL) {
		ssize_t n;

		if (used == sizeof(buf) - 1)
			return NULL;
		n = read(fd, buf + used, sizeof(buf) - 1 - used);
		if (n <= 0)
			return NULL;
		used += (size_t)n;
	}
	*nl = '\0';
	consumed = (size_t)(nl - buf) + 1;
	return buf;
}

/* Sends one command and returns its answer line (events skipped). */
static char *command(int fd, const char *json)
{
	char *line;

	if (write(fd, json, strlen(json)) < 0 || write(fd, "\n", 1) < 0)
		return NULL;
	while ((line = next_line(fd)) != NULL)
		if (strstr(line, "\"return\"") != NULL || strstr(line, "\"error\"") != NULL)
			return line;
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char *line;
	int fd, status = 0;

	if (argc < 3 || strlen(argv[1]) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "usage: qmp SOCKET JSON...\n");
		return 2;
	}
	strcpy(addr.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		perror(argv[1]);
		return 1;
	}
	if (next_line(fd) == NULL || command(fd, "{\"execute\": \"qmp_capabilities\"}") == NULL) {
		fprintf(stderr, "qmp: no QMP greeting on %s\n", argv[1]);
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		line = command(fd, argv[i]);
		if (line == NULL) {
			fprintf(stderr, "qmp: no answer to %s\n", argv[i]);
			return 1;
		}
		printf("%s\n", line);
		if (strstr(line, "\"error\"") != NULL)
			status = 1;
	}
	close(fd);
	return status;
}
