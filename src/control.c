#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hopvm/control.h"
#include "hopvm/error.h"
#include "hopvm/json.h"
#include "hopvm/vm.h"
#include "hopvm/vm_state.h"

/* How often the server looks at the VM's stop flag while nobody talks to it. */
#define CONTROL_POLL_MS 100

static void reply_error(char *reply, size_t len, const char *message)
{
	snprintf(reply, len, "{\"error\": ");
	if (!json_append_string(reply, len - 1, message))
		snprintf(reply, len, "{\"error\": \"(message too long)\"");
	strncat(reply, "}", len - strlen(reply) - 1);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Moves the guest into a file (a snapshot): the guest stops, its whole state goes to the file,
 * and the VM ends; if anything fails, the file goes and the guest runs on as before. */
static void control_migrate(struct control *ctl, const struct json_field *target, char *reply,
			    size_t len)
{
	const char *path;
	bool was_paused = ctl->paused;
	struct mig_writer w;
	double start = now_ms();
	int fd, ret;

	if (target == NULL || target->type != JSON_STRING ||
	    strncmp(target->text, "file:", 5) != 0 || target->text[5] == '\0') {
		reply_error(reply, len, "migrate needs a \"target\" of the form file:PATH");
		return;
	}
	path = target->text + 5;
	if (!was_paused)
		vm_pause(ctl->vm);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = err_set(-errno, "cannot create %s: %s", path, strerror(errno));
	} else {
		mig_writer_init(&w, mig_fd_write, &fd);
		ret = vm_state_write(ctl->vm, &w);
		if (ret == 0 && fsync(fd) < 0)
			ret = err_set(-errno, "cannot write %s: %s", path, strerror(errno));
		close(fd);
		if (ret < 0)
			unlink(path);
	}
	if (ret < 0) {
		char msg[600];

		if (!was_paused)
			vm_resume(ctl->vm);
		snprintf(msg, sizeof(msg), "migration failed, the guest runs on: %s", err_msg());
		reply_error(reply, len, msg);
		return;
	}
	/* The guest now lives in the file: this copy must never run again. */
	ctl->paused = true;
	vm_request_stop(ctl->vm, 0, "migrated to %s in %.1f ms", target->text,
			now_ms() - start);
	snprintf(reply, len, "{\"ok\": true, \"state\": \"migrated\", \"total_ms\": %.1f}",
		 now_ms() - start);
}

void control_handle(struct control *ctl, const char *request, char *reply, size_t len)
{
	struct json_object req;
	const struct json_field *cmd;

	if (json_parse_object(request, &req) < 0) {
		reply_error(reply, len, err_msg());
		return;
	}
	cmd = json_get(&req, "cmd");
	if (cmd == NULL || cmd->type != JSON_STRING) {
		reply_error(reply, len, "the request has no \"cmd\" string");
		return;
	}
	if (strcmp(cmd->text, "status") == 0) {
		snprintf(reply, len,
			 "{\"ok\": true, \"state\": \"%s\", \"vcpus\": %u, \"mem_bytes\": %llu}",
			 ctl->paused ? "paused" : "running", ctl->vm->cfg.nr_vcpus,
			 (unsigned long long)ctl->vm->cfg.ram_size);
	} else if (strcmp(cmd->text, "pause") == 0) {
		if (ctl->paused) {
			reply_error(reply, len, "the VM is already paused");
			return;
		}
		vm_pause(ctl->vm);
		ctl->paused = true;
		snprintf(reply, len, "{\"ok\": true, \"state\": \"paused\"}");
	} else if (strcmp(cmd->text, "resume") == 0) {
		if (!ctl->paused) {
			reply_error(reply, len, "the VM is not paused");
			return;
		}
		vm_resume(ctl->vm);
		ctl->paused = false;
		snprintf(reply, len, "{\"ok\": true, \"state\": \"running\"}");
	} else if (strcmp(cmd->text, "migrate") == 0) {
		control_migrate(ctl, json_get(&req, "target"), reply, len);
	} else if (strcmp(cmd->text, "quit") == 0) {
		vm_request_stop(ctl->vm, 0, "ended through the control socket (quit)");
		snprintf(reply, len, "{\"ok\": true, \"state\": \"stopping\"}");
	} else {
		char msg[JSON_MAX_TEXT + 64];

		snprintf(msg, sizeof(msg), "unknown command '%s' (status, pause, resume, migrate, quit)",
			 cmd->text);
		reply_error(reply, len, msg);
	}
}

static bool write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/* Serves one client until it hangs up, sends an over-long line, or the VM stops. */
static void control_serve_client(struct control *ctl, int fd)
{
	char line[CONTROL_MAX_LINE + 1], reply[CONTROL_MAX_LINE];
	size_t used = 0;

	while (!vm_stop_requested(ctl->vm)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char *nl;
		ssize_t n;

		if (poll(&p, 1, CONTROL_POLL_MS) <= 0)
			continue;
		n = read(fd, line + used, CONTROL_MAX_LINE - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		used += (size_t)n;
		line[used] = '\0';
		while ((nl = memchr(line, '\n', used)) != NULL) {
			size_t taken = (size_t)(nl - line) + 1;

			*nl = '\0';
			control_handle(ctl, line, reply, sizeof(reply) - 1);
			strcat(reply, "\n");
			if (!write_all(fd, reply, strlen(reply)))
				return;
			memmove(line, line + taken, used - taken);
			used -= taken;
			line[used] = '\0';
		}
		if (used == CONTROL_MAX_LINE) {
			reply_error(reply, sizeof(reply) - 1, "request line longer than 4096 bytes");
			strcat(reply, "\n");
			(void)write_all(fd, reply, strlen(reply));
			return;
		}
	}
}

static void *control_thread(void *arg)
{
	struct control *ctl = arg;

	while (!vm_stop_requested(ctl->vm)) {
		struct pollfd p = { .fd = ctl->listen_fd, .events = POLLIN };
		int fd;

		if (poll(&p, 1, CONTROL_POLL_MS) <= 0)
			continue;
		fd = accept(ctl->listen_fd, NULL, NULL);
		if (fd < 0)
			continue;
		control_serve_client(ctl, fd);
		close(fd);
	}
	/* A VM stopping while paused must not leave its vCPUs waiting. */
	if (ctl->paused)
		vm_resume(ctl->vm);
	ctl->paused = false;
	return NULL;
}

static int control_address(const char *path, struct sockaddr_un *addr)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(addr->sun_path))
		return err_set(-ENAMETOOLONG, "control socket path '%s' is longer than %zu bytes",
			       path, sizeof(addr->sun_path) - 1);
	strcpy(addr->sun_path, path);
	return 0;
}

/* True if something answers on path: then it is not ours to replace. */
static bool control_in_use(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool used;

	if (fd < 0)
		return false;
	used = connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0;
	close(fd);
	return used;
}

int control_start(struct control *ctl, struct vm *vm, const char *path)
{
	struct sockaddr_un addr;
	int ret;

	memset(ctl, 0, sizeof(*ctl));
	ctl->vm = vm;
	ctl->path = path;
	ctl->listen_fd = -1;
	ret = control_address(path, &addr);
	if (ret < 0)
		return ret;
	ctl->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ctl->listen_fd < 0)
		return err_set(-errno, "control socket: %s", strerror(errno));
	if (bind(ctl->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 &&
	    (errno != EADDRINUSE || control_in_use(&addr) || unlink(path) < 0 ||
	     bind(ctl->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)) {
		ret = err_set(-errno, "control socket %s: %s%s", path, strerror(errno),
			      errno == EADDRINUSE ? " (another hopvm listens there)" : "");
		goto fail;
	}
	if (listen(ctl->listen_fd, 4) < 0) {
		ret = err_set(-errno, "control socket %s: listen: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	ret = pthread_create(&ctl->thread, NULL, control_thread, ctl);
	if (ret != 0) {
		ret = err_set(-ret, "cannot start the control thread: %s", strerror(ret));
		unlink(path);
		goto fail;
	}
	ctl->running = true;
	return 0;
fail:
	close(ctl->listen_fd);
	ctl->listen_fd = -1;
	return ret;
}

void control_stop(struct control *ctl)
{
	if (ctl->running) {
		pthread_join(ctl->thread, NULL);
		unlink(ctl->path);
	}
	if (ctl->listen_fd >= 0)
		close(ctl->listen_fd);
	ctl->listen_fd = -1;
	ctl->running = false;
}

int control_request(const char *path, const char *cmd, char *const *args, size_t nargs,
		    char *reply, size_t len)
{
	char request[CONTROL_MAX_LINE] = "{\"cmd\": ";
	struct sockaddr_un addr;
	size_t used = 0;
	int fd, ret;

	ret = control_address(path, &addr);
	if (ret < 0)
		return ret;
	if (!json_append_string(request, sizeof(request) - 2, cmd))
		return err_set(-E2BIG, "the request is too long");
	for (size_t i = 0; i < nargs; i++) {
		const char *eq = strchr(args[i], '=');
		char key[JSON_MAX_TEXT], *end;
		const char *value;

		if (eq == NULL || eq == args[i] || (size_t)(eq - args[i]) >= sizeof(key))
			return err_set(-EINVAL, "'%s' is not KEY=VALUE", args[i]);
		memcpy(key, args[i], (size_t)(eq - args[i]));
		key[eq - args[i]] = '\0';
		value = eq + 1;
		strncat(request, ", ", sizeof(request) - strlen(request) - 1);
		if (!json_append_string(request, sizeof(request) - 2, key))
			return err_set(-E2BIG, "the request is too long");
		strncat(request, ": ", sizeof(request) - strlen(request) - 1);
		(void)strtod(value, &end);
		if ((*value != '\0' && *end == '\0') || strcmp(value, "true") == 0 ||
		    strcmp(value, "false") == 0) {
			if (strlen(request) + strlen(value) + 3 > sizeof(request))
				return err_set(-E2BIG, "the request is too long");
			strcat(request, value);
		} else if (!json_append_string(request, sizeof(request) - 2, value)) {
			return err_set(-E2BIG, "the request is too long");
		}
	}
	strcat(request, "}\n");

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(-errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		ret = err_set(-errno, "cannot reach the VM at %s: %s", path, strerror(errno));
		close(fd);
		return ret;
	}
	if (!write_all(fd, request, strlen(request))) {
		ret = err_set(-EIO, "the VM at %s hung up", path);
		close(fd);
		return ret;
	}
	while (used + 1 < len && memchr(reply, '\n', used) == NULL) {
		ssize_t n = read(fd, reply + used, len - 1 - used);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	close(fd);
	reply[used] = '\0';
	if (used == 0 || reply[used - 1] != '\n')
		return err_set(-EIO, "the VM at %s gave no whole answer", path);
	reply[used - 1] = '\0';
	return strncmp(reply, "{\"ok\": true", 11) == 0 ? 0 : -EREMOTEIO;
}
