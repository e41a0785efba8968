#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
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


void control_reply_error(char *reply, size_t len, const char *message)
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
	control_reply_error(reply, len, msg);
}

/* The mount point of the file system holding path: as far as the path's own names reach, the
 * highest ancestor of its folder on the same device.  Names, not realpath(): the control
 * thread may not read links, and a user knows the names it gave. */
static void mount_point(const char *path, char *out, size_t len)
{
	struct stat here, up_st;
	char *slash;

	snprintf(out, len, "%s", path);
	slash = strrchr(out, '/');
	if (slash == NULL)
		snprintf(out, len, ".");
	else
		*(slash == out ? slash + 1 : slash) = '\0';
	if (stat(out, &here) < 0)
		return;
	while (strcmp(out, "/") != 0 && (slash = strrchr(out, '/')) != NULL) {
		char up[MIG_TARGET_PATH_MAX + 1];

		snprintf(up, sizeof(up), "%.*s", slash == out ? 1 : (int)(slash - out), out);
		if (stat(up, &up_st) < 0 || up_st.st_dev != here.st_dev)
			break;
		snprintf(out, len, "%s", up);
	}
}

/* A snapshot's write failed for want of space: said as such, its file system named. */
static int file_write_failed(const char *path, int ret, uint64_t written, bool removed)
{
	char mount[MIG_TARGET_PATH_MAX + 1];

	if (ret != -ENOSPC && ret != -EDQUOT)
		return ret;
	mount_point(path, mount, sizeof(mount));
	return err_set(ret, "cannot write %s: the file system on %s is full (%s) after %.1f MB; "
		       "%s", path, mount, strerror(-ret), (double)written / 1e6,
		       removed ? "the partial file was removed" : "the partial file is left");
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
			ret = file_write_failed(path, ret, w.offset, unlink(path) == 0);
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

/* True if the answer waits for the migration's end (wait=true). */
static bool control_migrate(struct control *ctl, struct control_request *req, char *reply,
			    size_t len)
{
	struct mig_target *t = &req->target;

	/* Refused before anything is sent, as QEMU refuses a VM with vhost-user-fs. */
	if (vm_check_awake(ctl->vm) < 0) {
		control_reply_error(reply, len, err_msg());
		return false;
	}
	if (ctl->vm->nr_shares > 0) {
		char why[4096 + 256];

		snprintf(why, sizeof(why), "this VM cannot migrate: the guest has the share '%s' "
			 "(%s), whose open files and node ids live in this hopvm's file server",
			 ctl->vm->shares[0].opt.tag, ctl->vm->shares[0].opt.path);
		control_reply_error(reply, len, why);
		return false;
	}
	if (t->kind == MIG_TARGET_FILE) {
		if (migration_active(&ctl->migration))
			control_reply_error(reply, len,
					    "a live migration is running (see migrate-status)");
		else
			migrate_to_file(ctl, req->target_text, t->path, reply, len);
		return false;
	}
	if (t->kind == MIG_TARGET_EXEC) {
		/* hopvm ctl ran the command and sent its socket along with the request. */
		if (ctl->passed_fd < 0) {
			control_reply_error(reply, len, "exec: needs the socket to the command, "
					    "which hopvm ctl sends along as it runs the command "
					    "(hopvm itself runs no programs)");
			return false;
		}
		t->fd = ctl->passed_fd;
		ctl->passed_fd = -1;
	}
	if (req->snapshot) {
		if (migration_active(&ctl->migration)) {
			if (t->kind == MIG_TARGET_EXEC)
				close(t->fd);
			control_reply_error(reply, len,
					    "a live migration is running (see migrate-status)");
			return false;
		}
		migrate_to_stream(ctl, t->fd, req, reply, len);
		return false;
	}
	if (migration_start(&ctl->migration, t, &req->params) < 0) {
		if (t->kind == MIG_TARGET_EXEC)
			close(t->fd);
		control_reply_error(reply, len, err_msg());
		return false;
	}
	if (!req->wait) {
		snprintf(reply, len, "{\"ok\": true, \"state\": \"migrating\"}");
		return false;
	}
	/* The answer comes when the migration ends, with its statistics (control_answer_migration):
	 * the other clients are served meanwhile, so one can still cancel it. */
	return true;
}

void control_answer_migration(struct control *ctl, char *reply, size_t len)
{
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
		control_reply_error(reply, len, "the guest went to a destination that never confirmed and "
			    "may be running there; 'resume force=true' runs it here anyway");
		return;
	}
	if (!ctl->paused) {
		control_reply_error(reply, len, "the VM is not paused");
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
		control_reply_error(reply, len, "this VM has no ACPI power button (--no-acpi); 'quit' ends "
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
		control_reply_error(reply, len, "this VM has no ACPI (--no-acpi): its guest cannot sleep");
		return;
	}
	if (vm_wakeup(ctl->vm, ACPI_PM1_STS_PWRBTN) < 0) {
		control_reply_error(reply, len, err_msg());
		return;
	}
	snprintf(reply, len, "{\"ok\": true, \"state\": \"%s\"}", vm_state_name(ctl));
}

bool control_handle(struct control *ctl, const char *request, char *reply, size_t len)
{
	struct control_request req;
	struct migration_stats st;

	if (control_parse_request(request, &ctl->defaults, &req) < 0) {
		control_reply_error(reply, len, err_msg());
		return false;
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
			control_reply_error(reply, len, "the VM is already paused");
			return false;
		}
		vm_pause(ctl->vm);
		ctl->paused = true;
		snprintf(reply, len, "{\"ok\": true, \"state\": \"paused\"}");
		break;
	case CONTROL_RESUME:
		control_resume(ctl, req.force, reply, len);
		break;
	case CONTROL_MIGRATE:
		return control_migrate(ctl, &req, reply, len);
	case CONTROL_MIGRATE_STATUS:
		migration_answer(ctl, false, reply, len);
		break;
	case CONTROL_MIGRATE_CANCEL:
		if (migration_cancel(&ctl->migration) < 0)
			control_reply_error(reply, len, err_msg());
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
	return false;
}
