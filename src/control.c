#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hopvm/control.h"
#include "hopvm/error.h"
#include "hopvm/json.h"
#include "hopvm/migration_transport.h"
#include "hopvm/size.h"
#include "hopvm/vm.h"
#include "hopvm/vm_sleep.h"
#include "hopvm/vm_state.h"
#include "hopvm/threads.h"

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

/* A snapshot that did not get out: the guest runs on as before, and the answer says why. */
static void snapshot_failed(struct control *ctl, bool was_paused, const char *what, char *reply,
			    size_t len)
{
	char msg[600];

	if (!was_paused)
		vm_resume(ctl->vm);
	snprintf(msg, sizeof(msg), "%s, the guest runs on: %s", what, err_msg());
	reply_error(reply, len, msg);
}

/* Moves the guest into a file (a snapshot): the guest stops, its whole state goes to the file,
 * and the VM ends; if anything fails, the file goes and the guest runs on as before. */
static void migrate_to_file(struct control *ctl, const char *target, const char *path,
			    char *reply, size_t len)
{
	bool was_paused = ctl->paused;
	struct mig_writer w;
	double start = now_ms();
	int fd, ret;

	if (!was_paused)
		vm_pause(ctl->vm);
	/* O_EXCL: a file (or a symlink, which is then not followed) already there is never
	 * overwritten; a snapshot goes to a new file. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = err_set(-errno, "cannot create %s: %s%s", path, strerror(errno),
			      errno == EEXIST ? " (a migration never overwrites a file or follows "
			      "a symlink)" : "");
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
		snapshot_failed(ctl, was_paused, "migration failed", reply, len);
		return;
	}
	/* The guest now lives in the file: this copy must never run again. */
	ctl->paused = true;
	vm_request_stop(ctl->vm, 0, "migrated to %s in %.1f ms", target, now_ms() - start);
	snprintf(reply, len, "{\"ok\": true, \"state\": \"migrated\", \"total_ms\": %.1f}",
		 now_ms() - start);
}

/* A snapshot through a stream (exec:COMMAND, fd:N): the bytes file: would hold, one way, as
 * QEMU's `migrate "exec:gzip -c > FILE"`.  Once the reader has taken all of it and closed its
 * end, the guest stays paused: only whoever asked knows whether the command kept it (hopvm ctl
 * has its exit status), and answers with quit or resume.  A failure before that resumes the
 * guest at once. */
static void migrate_to_stream(struct control *ctl, int fd, const struct control_request *req,
			      char *reply, size_t len)
{
	bool was_paused = ctl->paused;
	struct mig_writer w = { 0 };
	double start = now_ms();
	char buf[256];
	int ret;

	if (!was_paused)
		vm_pause(ctl->vm);
	ret = mig_fd_socket(fd, req->params.io_timeout_ms);
	if (ret >= 0) {
		mig_writer_init(&w, mig_fd_write, &fd);
		ret = vm_state_write(ctl->vm, &w);
		if (ret < 0)
			ret = err_set(ret, "the stream stopped after %llu bytes: %s",
				      (unsigned long long)w.offset, strerror(-ret));
	}
	if (ret >= 0 && shutdown(fd, SHUT_WR) < 0)
		ret = err_set(-errno, "shutdown: %s", strerror(errno));
	/* The end of the stream is the reader's to see: it is done when it closes its end. */
	while (ret >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n == 0)
			break;
		if (n < 0 && errno != EINTR)
			ret = err_set(-errno, "the reader did not finish within %u ms: %s",
				      req->params.io_timeout_ms, strerror(errno));
	}
	close(fd);
	if (ret < 0) {
		snapshot_failed(ctl, was_paused, "the snapshot failed", reply, len);
		return;
	}
	ctl->paused = true;
	snprintf(reply, len, "{\"ok\": true, \"state\": \"written\", \"bytes\": %llu, "
		 "\"total_ms\": %.1f}", (unsigned long long)w.offset, now_ms() - start);
}

/* A whole number argument of migrate, if given. */
static int number_arg(const struct json_object *req, const char *key, uint64_t max,
		      uint64_t *value)
{
	const struct json_field *f = json_get(req, key);

	if (f == NULL)
		return 0;
	/* Written so that a NaN fails too, before the conversion (undefined for it). */
	if (f->type != JSON_NUMBER || !(f->number >= 0 && f->number <= (double)max) ||
	    f->number != (double)(uint64_t)f->number)
		return err_set(-EINVAL, "\"%s\" must be a whole number from 0 to %llu", key,
			       (unsigned long long)max);
	*value = (uint64_t)f->number;
	return 0;
}

/* The migrate command's optional arguments over the command line's defaults. */
static int migrate_params(const struct json_object *req, const struct migration_params *defaults,
			  struct migration_params *p)
{
	const struct json_field *f;
	uint64_t downtime = defaults->max_downtime_ms, rounds = defaults->max_rounds,
		 timeout = defaults->io_timeout_ms;
	int ret;

	*p = *defaults;
	if ((ret = number_arg(req, "max_downtime_ms", 60000, &downtime)) < 0 ||
	    (ret = number_arg(req, "max_rounds", 100000, &rounds)) < 0 ||
	    (ret = number_arg(req, "io_timeout_ms", 3600000, &timeout)) < 0)
		return ret;
	p->max_downtime_ms = (unsigned)downtime;
	p->max_rounds = (unsigned)rounds;
	p->io_timeout_ms = timeout ? (unsigned)timeout : 1;
	f = json_get(req, "max_bandwidth");
	if (f != NULL && ((f->type != JSON_STRING && f->type != JSON_NUMBER) ||
			  parse_rate(f->text, &p->max_bandwidth) < 0))
		return err_set(-EINVAL, "\"max_bandwidth\" must be a rate such as 100M (bytes per "
			       "second; a bare number is MiB/s, 0 for no limit)");
	f = json_get(req, "auto_converge");
	if (f != NULL && f->type != JSON_BOOL)
		return err_set(-EINVAL, "\"auto_converge\" must be true or false");
	if (f != NULL)
		p->auto_converge = f->boolean;
	return 0;
}

static const char *const cmd_names[] = {
	[CONTROL_STATUS] = "status",
	[CONTROL_PAUSE] = "pause",
	[CONTROL_RESUME] = "resume",
	[CONTROL_SHUTDOWN] = "shutdown",
	[CONTROL_QUIT] = "quit",
	[CONTROL_MIGRATE] = "migrate",
	[CONTROL_MIGRATE_STATUS] = "migrate-status",
	[CONTROL_MIGRATE_CANCEL] = "migrate-cancel",
	[CONTROL_WAKEUP] = "wakeup",
};

const char *control_cmd_name(enum control_cmd cmd)
{
	return (size_t)cmd < sizeof(cmd_names) / sizeof(cmd_names[0]) ? cmd_names[cmd] : "?";
}

/* A true boolean argument; anything else (missing, false, not a boolean) is false. */
static bool true_arg(const struct json_object *req, const char *key)
{
	const struct json_field *f = json_get(req, key);

	return f != NULL && f->type == JSON_BOOL && f->boolean;
}

int control_parse_request(const char *line, const struct migration_params *defaults,
			  struct control_request *req)
{
	struct json_object obj;
	const struct json_field *cmd, *target;
	size_t i, n = sizeof(cmd_names) / sizeof(cmd_names[0]);
	int ret;

	memset(req, 0, sizeof(*req));
	req->params = *defaults;
	ret = json_parse_object(line, &obj);
	if (ret < 0)
		return ret;
	cmd = json_get(&obj, "cmd");
	if (cmd == NULL || cmd->type != JSON_STRING)
		return err_set(-EINVAL, "the request has no \"cmd\" string");
	for (i = 0; i < n && strcmp(cmd->text, cmd_names[i]) != 0; i++)
		;
	if (i == n)
		return err_set(-EINVAL, "unknown command '%s' (status, pause, resume, shutdown, "
			       "quit, migrate, migrate-status, migrate-cancel, wakeup)", cmd->text);
	req->cmd = (enum control_cmd)i;
	req->force = req->cmd == CONTROL_RESUME && true_arg(&obj, "force");
	if (req->cmd != CONTROL_MIGRATE)
		return 0;
	target = json_get(&obj, "target");
	if (target == NULL || target->type != JSON_STRING)
		return err_set(-EINVAL, "migrate needs a \"target\": tcp:HOST:PORT, exec:COMMAND, "
			       "fd:N or file:PATH");
	ret = mig_target_parse(target->text, &req->target);
	if (ret == 0)
		ret = migrate_params(&obj, defaults, &req->params);
	if (ret < 0)
		return ret;
	snprintf(req->target_text, sizeof(req->target_text), "%s", target->text);
	req->wait = true_arg(&obj, "wait");
	req->snapshot = true_arg(&obj, "snapshot");
	if (req->snapshot && req->target.kind == MIG_TARGET_TCP)
		return err_set(-EINVAL, "snapshot=true goes one way through exec:COMMAND, fd:N or "
			       "file:PATH, not tcp: (whose destination answers)");
	return 0;
}

/* The migration's statistics; a failed migration's as an error if failure_is_error. */
static void migration_answer(struct control *ctl, bool failure_is_error, char *reply,
			     size_t len)
{
	struct migration_stats st;
	size_t n;

	migration_get_stats(&ctl->migration, &st);
	if (failure_is_error &&
	    (st.phase == MIGRATION_FAILED || st.phase == MIGRATION_UNCONFIRMED)) {
		snprintf(reply, len, "{\"error\": ");
		if (!json_append_string(reply, len - 2, st.reason))
			strcat(reply, "\"(too long)\"");
		strcat(reply, ", ");
	} else {
		snprintf(reply, len, "{\"ok\": true, ");
	}
	n = strlen(reply);
	migration_stats_json(&st, reply + n, len - n - 1);
	strcat(reply, "}");
}

static void control_migrate(struct control *ctl, struct control_request *req, char *reply,
			    size_t len)
{
	struct mig_target *t = &req->target;

	/* Refused before anything is sent, as QEMU refuses a VM with vhost-user-fs. */
	if (vm_check_awake(ctl->vm) < 0) {
		reply_error(reply, len, err_msg());
		return;
	}
	if (ctl->vm->nr_shares > 0) {
		char why[4096 + 256];

		snprintf(why, sizeof(why), "this VM cannot migrate: the guest has the share '%s' "
			 "(%s), whose open files and node ids live in this hopvm's file server",
			 ctl->vm->shares[0].opt.tag, ctl->vm->shares[0].opt.path);
		reply_error(reply, len, why);
		return;
	}
	if (t->kind == MIG_TARGET_FILE) {
		if (migration_active(&ctl->migration))
			reply_error(reply, len, "a live migration is running (see migrate-status)");
		else
			migrate_to_file(ctl, req->target_text, t->path, reply, len);
		return;
	}
	if (t->kind == MIG_TARGET_EXEC) {
		/* hopvm ctl ran the command and sent its socket along with the request. */
		if (ctl->passed_fd < 0) {
			reply_error(reply, len, "exec: needs the socket to the command, which hopvm "
				    "ctl sends along as it runs the command (hopvm itself runs no "
				    "programs)");
			return;
		}
		t->fd = ctl->passed_fd;
		ctl->passed_fd = -1;
	}
	if (req->snapshot) {
		if (migration_active(&ctl->migration)) {
			if (t->kind == MIG_TARGET_EXEC)
				close(t->fd);
			reply_error(reply, len, "a live migration is running (see migrate-status)");
			return;
		}
		migrate_to_stream(ctl, t->fd, req, reply, len);
		return;
	}
	if (migration_start(&ctl->migration, t, &req->params) < 0) {
		if (t->kind == MIG_TARGET_EXEC)
			close(t->fd);
		reply_error(reply, len, err_msg());
		return;
	}
	if (!req->wait) {
		snprintf(reply, len, "{\"ok\": true, \"state\": \"migrating\"}");
		return;
	}
	/* The answer comes when the migration ends, with its statistics: a source that
	 * succeeds ends right after, and could not be asked any more. */
	while (migration_active(&ctl->migration)) {
		struct timespec ts = { 0, CONTROL_POLL_MS * 1000000L / 2 };

		nanosleep(&ts, NULL);
	}
	migration_answer(ctl, true, reply, len);
}

/* resume: undoes "pause", or with force=true gives up an unconfirmed migration's hold. */
static void control_resume(struct control *ctl, bool force, char *reply, size_t len)
{
	if (force && ctl->migration.holds_pause) {
		if (migration_release_pause(&ctl->migration) == 0) {
			snprintf(reply, len, "{\"ok\": true, \"state\": \"%s\"}",
				 ctl->paused ? "paused" : "running");
			return;
		}
	}
	if (ctl->migration.holds_pause) {
		reply_error(reply, len, "the guest went to a destination that never confirmed and "
			    "may be running there; 'resume force=true' runs it here anyway");
		return;
	}
	if (!ctl->paused) {
		reply_error(reply, len, "the VM is not paused");
		return;
	}
	vm_resume(ctl->vm);
	ctl->paused = false;
	snprintf(reply, len, "{\"ok\": true, \"state\": \"running\"}");
}

/* A press of the ACPI power button: the guest decides what it means and when it is done. */
static void control_shutdown(struct control *ctl, char *reply, size_t len)
{
	bool heard;

	if (!ctl->vm->cfg.acpi) {
		reply_error(reply, len, "this VM has no ACPI power button (--no-acpi); 'quit' ends "
			    "it at once");
		return;
	}
	heard = acpi_pm_press_power_button(&ctl->vm->acpi_pm);
	snprintf(reply, len, "{\"ok\": true, \"state\": \"%s\", \"power_button\": \"pressed\"%s}",
		 ctl->paused ? "paused" : "running",
		 heard ? "" : ", \"warning\": \"the guest has not enabled its ACPI power button "
		 "event, so it may not hear the press\"");
}

/* What status and the commands that leave the VM as it is report. */
static const char *vm_state_name(struct control *ctl)
{
	if (ctl->paused || ctl->migration.holds_pause)
		return "paused";
	return vm_suspended(ctl->vm) ? "suspended" : "running";
}

/* A wake event for a guest suspended to RAM (ACPI S3), as QEMU's system_wakeup. */
static void control_wakeup(struct control *ctl, char *reply, size_t len)
{
	if (!ctl->vm->cfg.acpi) {
		reply_error(reply, len, "this VM has no ACPI (--no-acpi): its guest cannot sleep");
		return;
	}
	if (vm_wakeup(ctl->vm, ACPI_PM1_STS_PWRBTN) < 0) {
		reply_error(reply, len, err_msg());
		return;
	}
	snprintf(reply, len, "{\"ok\": true, \"state\": \"%s\"}", vm_state_name(ctl));
}

void control_handle(struct control *ctl, const char *request, char *reply, size_t len)
{
	struct control_request req;
	struct migration_stats st;

	if (control_parse_request(request, &ctl->defaults, &req) < 0) {
		reply_error(reply, len, err_msg());
		return;
	}
	switch (req.cmd) {
	case CONTROL_STATUS:
		migration_get_stats(&ctl->migration, &st);
		snprintf(reply, len,
			 "{\"ok\": true, \"state\": \"%s\", \"vcpus\": %u, \"mem_bytes\": %llu, "
			 "\"migration\": \"%s\"}",
			 vm_state_name(ctl),
			 ctl->vm->cfg.nr_vcpus, (unsigned long long)ctl->vm->cfg.ram_size,
			 migration_phase_name(st.phase));
		break;
	case CONTROL_PAUSE:
		if (ctl->paused) {
			reply_error(reply, len, "the VM is already paused");
			return;
		}
		vm_pause(ctl->vm);
		ctl->paused = true;
		snprintf(reply, len, "{\"ok\": true, \"state\": \"paused\"}");
		break;
	case CONTROL_RESUME:
		control_resume(ctl, req.force, reply, len);
		break;
	case CONTROL_MIGRATE:
		control_migrate(ctl, &req, reply, len);
		break;
	case CONTROL_MIGRATE_STATUS:
		migration_answer(ctl, false, reply, len);
		break;
	case CONTROL_MIGRATE_CANCEL:
		if (migration_cancel(&ctl->migration) < 0)
			reply_error(reply, len, err_msg());
		else
			snprintf(reply, len, "{\"ok\": true, \"state\": \"cancelling\"}");
		break;
	case CONTROL_SHUTDOWN:
		control_shutdown(ctl, reply, len);
		break;
	case CONTROL_WAKEUP:
		control_wakeup(ctl, reply, len);
		break;
	case CONTROL_QUIT:
		vm_request_stop(ctl->vm, 0, "ended through the control socket (quit)");
		snprintf(reply, len, "{\"ok\": true, \"state\": \"stopping\"}");
		break;
	}
}

/* A peer gone is an error here, not a SIGPIPE. */
static bool write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

int control_group_lookup(const char *name, const char *group_file, gid_t *gid)
{
	char line[1024], *end;
	unsigned long n;
	FILE *f;

	errno = 0;
	n = strtoul(name, &end, 10);
	if (name[0] >= '0' && name[0] <= '9' && *end == '\0' && errno == 0 && n < (gid_t)-1) {
		*gid = (gid_t)n;
		return 0;
	}
	/* /etc/group read here, not through NSS: hopvm is linked statically. */
	f = fopen(group_file, "r");
	if (f == NULL)
		return err_set(-errno, "--control-group %s: cannot read %s: %s", name, group_file,
			       strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *colon = strchr(line, ':'), *gid_field;

		if (colon == NULL || (size_t)(colon - line) != strlen(name) ||
		    strncmp(line, name, (size_t)(colon - line)) != 0)
			continue;
		gid_field = strchr(colon + 1, ':');
		if (gid_field == NULL)
			break;
		errno = 0;
		n = strtoul(gid_field + 1, &end, 10);
		if (end == gid_field + 1 || (*end != ':' && *end != '\n' && *end != '\0') ||
		    errno != 0 || n >= (gid_t)-1)
			break;
		fclose(f);
		*gid = (gid_t)n;
		return 0;
	}
	fclose(f);
	return err_set(-ENOENT, "--control-group %s: no such group in %s", name, group_file);
}

bool control_peer_allowed(uid_t owner, long allowed_gid, uid_t peer_uid, gid_t peer_gid,
			  const gid_t *peer_groups, size_t nr_groups)
{
	if (peer_uid == owner)
		return true;
	if (allowed_gid < 0)
		return false;
	if (peer_gid == (gid_t)allowed_gid)
		return true;
	for (size_t i = 0; i < nr_groups; i++)
		if (peer_groups[i] == (gid_t)allowed_gid)
			return true;
	return false;
}

/* Whoever connected may steer this VM: hopvm's own user, or a member of --control-group.
 * The socket's mode keeps others out already; this holds should the mode be changed. */
static bool control_peer_ok(const struct control *ctl, int fd, char *why, size_t len)
{
	struct ucred cred;
	socklen_t cred_len = sizeof(cred);
	gid_t groups[64];
	socklen_t groups_len = sizeof(groups);
	size_t nr_groups = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0) {
		snprintf(why, len, "cannot tell who connected (SO_PEERCRED: %s)", strerror(errno));
		return false;
	}
	if (ctl->allowed_gid >= 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &groups_len) == 0)
		nr_groups = groups_len / sizeof(gid_t);
	if (control_peer_allowed(geteuid(), ctl->allowed_gid, cred.uid, cred.gid, groups,
				 nr_groups))
		return true;
	if (ctl->allowed_gid >= 0)
		snprintf(why, len, "refused: uid %u is not hopvm's (%u) and is not in group %ld "
			 "(--control-group)", (unsigned)cred.uid, (unsigned)geteuid(),
			 ctl->allowed_gid);
	else
		snprintf(why, len, "refused: uid %u is not hopvm's (%u); --control-group lets a "
			 "group in", (unsigned)cred.uid, (unsigned)geteuid());
	return false;
}

/* A read that also takes a descriptor the client sent along (the socket to an exec:
 * command, which hopvm ctl runs); a second one replaces the first. */
static ssize_t read_request(struct control *ctl, int fd, char *buf, size_t len)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(4 * sizeof(int))];
	} control;
	struct iovec iov = { buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.space,
			      .msg_controllen = sizeof(control.space) };
	ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);

	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); n >= 0 && c != NULL;
	     c = CMSG_NXTHDR(&msg, c)) {
		size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < count; i++) {
			int passed;

			memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (ctl->passed_fd >= 0)
				close(ctl->passed_fd);
			ctl->passed_fd = passed;
		}
	}
	return n;
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
		n = read_request(ctl, fd, line + used, CONTROL_MAX_LINE - used);
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
	bool refusal_logged = false;	/* the first refused peer is told on stderr too */
	char why[200];

	if (thread_enter(THREAD_CONTROL, 0) < 0) {
		vm_request_stop(ctl->vm, HOPVM_EXIT_ERROR, "control socket: %s", err_msg());
		return NULL;
	}

	while (!vm_stop_requested(ctl->vm)) {
		struct pollfd p = { .fd = ctl->listen_fd, .events = POLLIN };
		int fd;

		if (poll(&p, 1, CONTROL_POLL_MS) <= 0)
			continue;
		fd = accept(ctl->listen_fd, NULL, NULL);
		if (fd < 0)
			continue;
		if (control_peer_ok(ctl, fd, why, sizeof(why))) {
			control_serve_client(ctl, fd);
			/* One the client sent but no migration took. */
			if (ctl->passed_fd >= 0)
				close(ctl->passed_fd);
			ctl->passed_fd = -1;
		} else {
			char reply[CONTROL_MAX_LINE];
			struct pollfd req = { .fd = fd, .events = POLLIN };

			/* Its request is read (and dropped) first: closing on unread data
			 * would reset the connection before the answer is seen. */
			if (poll(&req, 1, CONTROL_POLL_MS) > 0)
				(void)!read(fd, reply, sizeof(reply));
			reply_error(reply, sizeof(reply) - 1, why);
			strcat(reply, "\n");
			(void)write_all(fd, reply, strlen(reply));
			if (!refusal_logged)
				fprintf(stderr, "hopvm: control socket: %s\n", why);
			refusal_logged = true;
		}
		close(fd);
	}
	/* A VM stopping while paused must not leave its vCPUs waiting. */
	if (ctl->paused)
		vm_resume(ctl->vm);
	ctl->paused = false;
	return NULL;
}

int control_address(const char *path, struct sockaddr_un *addr)
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

/* The socket file: owner only (0600) whatever the umask, or owner and allowed_gid (0660).
 * The umask covers the moment between bind and chmod. */
static int control_bind(struct control *ctl, const struct sockaddr_un *addr)
{
	mode_t old = umask(0177);
	int ret = bind(ctl->listen_fd, (const struct sockaddr *)addr, sizeof(*addr));

	if (ret < 0 && errno == EADDRINUSE && !control_in_use(addr) && unlink(ctl->path) == 0)
		ret = bind(ctl->listen_fd, (const struct sockaddr *)addr, sizeof(*addr));
	umask(old);
	if (ret < 0)
		return err_set(-errno, "control socket %s: %s%s", ctl->path, strerror(errno),
			       errno == EADDRINUSE ? " (another hopvm listens there)" : "");
	if (ctl->allowed_gid >= 0 &&
	    (chown(ctl->path, (uid_t)-1, (gid_t)ctl->allowed_gid) < 0 ||
	     chmod(ctl->path, 0660) < 0)) {
		ret = err_set(-errno, "control socket %s: cannot give it to group %ld: %s",
			      ctl->path, ctl->allowed_gid, strerror(errno));
		unlink(ctl->path);
		return ret;
	}
	return 0;
}

int control_start(struct control *ctl, struct vm *vm, const char *path, long allowed_gid,
		  const struct migration_params *defaults)
{
	struct sockaddr_un addr;
	int ret;

	memset(ctl, 0, sizeof(*ctl));
	ctl->vm = vm;
	ctl->defaults = *defaults;
	migration_init(&ctl->migration, vm);
	ctl->path = path;
	ctl->allowed_gid = allowed_gid;
	ctl->listen_fd = -1;
	ctl->passed_fd = -1;
	ret = control_address(path, &addr);
	if (ret < 0)
		return ret;
	ctl->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ctl->listen_fd < 0)
		return err_set(-errno, "control socket: %s", strerror(errno));
	ret = control_bind(ctl, &addr);
	if (ret < 0)
		goto fail;
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
		migration_join(&ctl->migration);
		unlink(ctl->path);
	}
	if (ctl->listen_fd >= 0)
		close(ctl->listen_fd);
	ctl->listen_fd = -1;
	ctl->running = false;
}
