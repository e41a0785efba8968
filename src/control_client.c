/* hopvm ctl's side of the control socket: one request, one answer.  A migrate to
 * exec:COMMAND runs COMMAND here, in the client, and hands hopvm the socket to it
 * (SCM_RIGHTS): hopvm itself never runs a program, which its seccomp filters forbid. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hopvm/control.h"
#include "hopvm/error.h"
#include "hopvm/json.h"
#include "hopvm/migration.h"
#include "hopvm/migration_transport.h"

/* Sends all of buf; with pass >= 0, that descriptor rides along with the first byte. */
static bool send_request(int fd, char *buf, size_t len, int pass)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (pass >= 0) {
		struct cmsghdr *c;

		memset(&control, 0, sizeof(control));
		msg.msg_control = control.space;
		msg.msg_controllen = sizeof(control.space);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass, sizeof(int));
	}
	while (len > 0) {
		ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		len -= (size_t)n;
		iov.iov_base = (char *)iov.iov_base + n;
		iov.iov_len = len;
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
	}
	return true;
}

static bool has_arg(char *const *args, size_t nargs, const char *arg)
{
	for (size_t i = 0; i < nargs; i++)
		if (strcmp(args[i], arg) == 0)
			return true;
	return false;
}

/* A snapshot through exec:COMMAND was written and the guest waits, paused: COMMAND's status
 * says whether it kept it.  Ends the VM if so (as file: does), resumes the guest if not. */
static int snapshot_verdict(const char *path, pid_t child, char *reply, size_t len)
{
	char written[CONTROL_MAX_LINE], answer[CONTROL_MAX_LINE];
	int status = mig_child_wait(child, MIGRATION_DEFAULT_IO_TIMEOUT_MS), ret;
	bool kept = status == 0;

	snprintf(written, sizeof(written), "%s", reply);
	ret = control_request(path, kept ? "quit" : "resume", NULL, 0, answer, sizeof(answer));
	if (kept && ret == 0) {
		/* {"ok": true, "state": "written", ...} becomes the file: snapshot's answer. */
		char *rest = strstr(written, "\"bytes\"");

		snprintf(reply, len, "{\"ok\": true, \"state\": \"migrated\", %s",
			 rest != NULL ? rest : "}");
		return 0;
	}
	err_clear();
	mig_child_explain(status);
	snprintf(reply, len, "{\"error\": \"the snapshot's command failed; %s\"}",
		 kept ? "the guest could not be ended (see hopvm ctl quit)" :
		 ret == 0 ? "the guest runs on" : "the guest is paused (resume it with hopvm ctl resume)");
	return -EREMOTEIO;
}

/* The COMMAND of a migrate target=exec:COMMAND among args, or NULL. */
static const char *exec_command(const char *cmd, char *const *args, size_t nargs)
{
	if (strcmp(cmd, "migrate") != 0)
		return NULL;
	for (size_t i = 0; i < nargs; i++)
		if (strncmp(args[i], "target=exec:", 12) == 0)
			return args[i] + 12;
	return NULL;
}

int control_request(const char *path, const char *cmd, char *const *args, size_t nargs,
		    char *reply, size_t len)
{
	char request[CONTROL_MAX_LINE] = "{\"cmd\": ";
	const char *command = exec_command(cmd, args, nargs);
	struct sockaddr_un addr;
	size_t used = 0;
	pid_t child = 0;
	int fd, ret, pass = -1;
	bool sent;

	ret = control_address(path, &addr);
	if (ret < 0)
		return ret;
	if (!json_append_string(request, sizeof(request) - 2, cmd))
		return err_set(-E2BIG, "the request is too long");
	for (size_t i = 0; i < nargs; i++) {
		char resolved[MIG_TARGET_HOST_MAX + 32], key[JSON_MAX_TEXT];
		const char *arg = args[i], *eq, *value;

		/* A running hopvm resolves no names (its filters): they are looked up here. */
		if (strcmp(cmd, "migrate") == 0 && strncmp(arg, "target=tcp:", 11) == 0) {
			ret = mig_target_resolve(arg + 7, resolved + 7, sizeof(resolved) - 7);
			if (ret < 0)
				return ret;
			if (ret == 1) {
				memcpy(resolved, "target=", 7);
				arg = resolved;
			}
		}
		eq = strchr(arg, '=');
		if (eq == NULL || eq == arg || (size_t)(eq - arg) >= sizeof(key))
			return err_set(-EINVAL, "'%s' is not KEY=VALUE", arg);
		memcpy(key, arg, (size_t)(eq - arg));
		key[eq - arg] = '\0';
		value = eq + 1;
		strncat(request, ", ", sizeof(request) - strlen(request) - 1);
		if (!json_append_string(request, sizeof(request) - 2, key))
			return err_set(-E2BIG, "the request is too long");
		strncat(request, ": ", sizeof(request) - strlen(request) - 1);
		/* Only what the server reads as a number goes bare: "0x10" or "inf" is text. */
		if (json_is_number(value) || strcmp(value, "true") == 0 ||
		    strcmp(value, "false") == 0) {
			if (strlen(request) + strlen(value) + 3 > sizeof(request))
				return err_set(-E2BIG, "the request is too long");
			strcat(request, value);
		} else if (!json_append_string(request, sizeof(request) - 2, value)) {
			return err_set(-E2BIG, "the request is too long");
		}
	}
	strcat(request, "}\n");

	err_clear();
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(-errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		ret = err_set(-errno, "cannot reach the VM at %s: %s", path, strerror(errno));
		close(fd);
		return ret;
	}
	if (command != NULL) {
		pass = mig_exec_spawn(command, MIGRATION_DEFAULT_IO_TIMEOUT_MS, &child);
		if (pass < 0) {
			close(fd);
			return pass;
		}
	}
	/* Unsent or not, an answer may be waiting: a refused peer gets one before the close. */
	sent = send_request(fd, request, strlen(request), pass);
	if (pass >= 0)
		close(pass);	/* hopvm has its own copy now */
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
	ret = used > 0 && reply[used - 1] == '\n' && strncmp(reply, "{\"ok\": true", 11) == 0
		      ? 0 : -EREMOTEIO;
	/* The command ends with the migration (its socket closed); a failed one may say why.
	 * Without wait=true the migration goes on: the command is left to it. */
	if (child > 0 && (ret < 0 || strstr(reply, "\"phase\": ") != NULL))
		mig_child_explain(mig_child_end(child));
	if (used == 0 && !sent)
		return err_set(-EIO, "the VM at %s hung up", path);
	if (used == 0 || reply[used - 1] != '\n')
		return err_set(-EIO, "the VM at %s gave no whole answer", path);
	reply[used - 1] = '\0';
	if (ret == 0 && child > 0 && has_arg(args, nargs, "snapshot=true") &&
	    strstr(reply, "\"state\": \"written\"") != NULL)
		return snapshot_verdict(path, child, reply, len);
	return ret;
}
