/* The control socket's server: one thread polls the listening socket and every client
 * connected, reads request lines and answers each through control_handle() (control.c), one
 * request at a time, so the requests never race one another on the VM. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hopvm/control.h"
#include "hopvm/error.h"
#include "hopvm/threads.h"
#include "hopvm/vm.h"

/* How often the server looks at the VM's stop flag while nobody talks to it, and, while a
 * client waits for a live migration's end, how often it looks at the migration. */
#define CONTROL_POLL_MS 100
#define CONTROL_MIGRATION_POLL_MS 20

/* One connected client: what it sent that is not yet a whole line, and a socket it passed
 * along for an exec: target. */
struct control_client {
	int fd;			/* -1: a free slot */
	int passed_fd;		/* or -1 */
	bool awaits_migration;	/* its migrate wait=true is answered when the migration ends */
	size_t used;
	char line[CONTROL_MAX_LINE + 1];
};

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
static ssize_t read_request(struct control_client *c)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(4 * sizeof(int))];
	} control;
	struct iovec iov = { c->line + c->used, CONTROL_MAX_LINE - c->used };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.space,
			      .msg_controllen = sizeof(control.space) };
	ssize_t n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

	for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); n >= 0 && h != NULL;
	     h = CMSG_NXTHDR(&msg, h)) {
		size_t count = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < count; i++) {
			int passed;

			memcpy(&passed, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
			if (c->passed_fd >= 0)
				close(c->passed_fd);
			c->passed_fd = passed;
		}
	}
	return n;
}

static void client_close(struct control_client *c)
{
	close(c->fd);
	/* One the client sent but no migration took. */
	if (c->passed_fd >= 0)
		close(c->passed_fd);
	c->fd = -1;
	c->passed_fd = -1;
	c->awaits_migration = false;
	c->used = 0;
}

static bool client_send(struct control_client *c, char *reply)
{
	strcat(reply, "\n");
	return write_all(c->fd, reply, strlen(reply));
}

/* Answers the whole lines the client has sent, until one waits for a migration.  False if
 * the client is to be closed (it hung up, or its line is too long). */
static bool client_serve_lines(struct control *ctl, struct control_client *c)
{
	char reply[CONTROL_MAX_LINE];
	char *nl;

	while (!c->awaits_migration && (nl = memchr(c->line, '\n', c->used)) != NULL) {
		size_t taken = (size_t)(nl - c->line) + 1;
		bool deferred;

		*nl = '\0';
		ctl->passed_fd = c->passed_fd;
		deferred = control_handle(ctl, c->line, reply, sizeof(reply) - 1);
		c->passed_fd = ctl->passed_fd;	/* -1 if a migration took it */
		ctl->passed_fd = -1;
		memmove(c->line, c->line + taken, c->used - taken);
		c->used -= taken;
		c->line[c->used] = '\0';
		if (deferred)
			c->awaits_migration = true;
		else if (!client_send(c, reply))
			return false;
	}
	if (c->used == CONTROL_MAX_LINE) {
		control_reply_error(reply, sizeof(reply) - 1, "request line longer than 4096 bytes");
		(void)client_send(c, reply);
		return false;
	}
	return true;
}

static bool client_read(struct control *ctl, struct control_client *c)
{
	ssize_t n = read_request(c);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	c->used += (size_t)n;
	c->line[c->used] = '\0';
	return client_serve_lines(ctl, c);
}

/* The clients waiting for the live migration's end get its outcome, then whatever else
 * they had sent is served. */
static void answer_migration_waiters(struct control *ctl, struct control_client *clients)
{
	char reply[CONTROL_MAX_LINE];

	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct control_client *c = &clients[i];

		if (c->fd < 0 || !c->awaits_migration)
			continue;
		c->awaits_migration = false;
		control_answer_migration(ctl, reply, sizeof(reply) - 1);
		if (!client_send(c, reply) || !client_serve_lines(ctl, c))
			client_close(c);
	}
}

/* A peer that may not steer this VM: its request is read (and dropped) first, since closing
 * on unread data would reset the connection before the answer is seen. */
static void refuse_peer(int fd, const char *why, bool *logged)
{
	char reply[CONTROL_MAX_LINE];
	struct pollfd req = { .fd = fd, .events = POLLIN };

	if (poll(&req, 1, CONTROL_POLL_MS) > 0)
		(void)!read(fd, reply, sizeof(reply));
	control_reply_error(reply, sizeof(reply) - 1, why);
	strcat(reply, "\n");
	(void)write_all(fd, reply, strlen(reply));
	if (!*logged)
		fprintf(stderr, "hopvm: control socket: %s\n", why);
	*logged = true;
	close(fd);
}

static void accept_client(struct control *ctl, struct control_client *clients, bool *logged)
{
	char why[200];
	int fd = accept(ctl->listen_fd, NULL, NULL);

	if (fd < 0)
		return;
	if (!control_peer_ok(ctl, fd, why, sizeof(why))) {
		refuse_peer(fd, why, logged);
		return;
	}
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		if (clients[i].fd < 0) {
			clients[i].fd = fd;
			return;
		}
	}
	close(fd);	/* not reached: the listening socket is polled only with a slot free */
}

static bool any_awaits_migration(const struct control_client *clients)
{
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (clients[i].fd >= 0 && clients[i].awaits_migration)
			return true;
	return false;
}

static void control_serve(struct control *ctl, struct control_client *clients)
{
	bool refusal_logged = false;	/* the first refused peer is told on stderr too */

	while (!vm_stop_requested(ctl->vm)) {
		struct pollfd p[CONTROL_MAX_CLIENTS + 1];
		struct control_client *of[CONTROL_MAX_CLIENTS + 1];
		bool waiting = any_awaits_migration(clients);
		size_t n = 0, free_slots = 0;

		/* A client waiting for the migration sends nothing that is read meanwhile:
		 * its next requests are answered after the migration's outcome. */
		for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++) {
			if (clients[i].fd < 0) {
				free_slots++;
			} else if (!clients[i].awaits_migration) {
				p[n] = (struct pollfd){ .fd = clients[i].fd, .events = POLLIN };
				of[n++] = &clients[i];
			}
		}
		if (free_slots > 0) {
			p[n] = (struct pollfd){ .fd = ctl->listen_fd, .events = POLLIN };
			of[n++] = NULL;
		}
		if (poll(p, n, waiting ? CONTROL_MIGRATION_POLL_MS : CONTROL_POLL_MS) < 0 &&
		    errno != EINTR)
			break;
		for (size_t i = 0; i < n; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (of[i] == NULL)
				accept_client(ctl, clients, &refusal_logged);
			else if (!client_read(ctl, of[i]))
				client_close(of[i]);
		}
		if (waiting && !migration_active(&ctl->migration))
			answer_migration_waiters(ctl, clients);
	}
	/* A successful migration stops this VM before it is over: whoever waits for it still
	 * gets its outcome. */
	if (any_awaits_migration(clients)) {
		while (migration_active(&ctl->migration)) {
			struct timespec ts = { 0, CONTROL_MIGRATION_POLL_MS * 1000000L };

			nanosleep(&ts, NULL);
		}
		answer_migration_waiters(ctl, clients);
	}
}

static void *control_thread(void *arg)
{
	struct control *ctl = arg;
	struct control_client *clients;

	if (thread_enter(THREAD_CONTROL, 0) < 0) {
		vm_request_stop(ctl->vm, HOPVM_EXIT_ERROR, "control socket: %s", err_msg());
		return NULL;
	}
	clients = calloc(CONTROL_MAX_CLIENTS, sizeof(*clients));
	if (clients == NULL) {
		vm_request_stop(ctl->vm, HOPVM_EXIT_ERROR, "control socket: out of memory");
		return NULL;
	}
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
		clients[i].fd = clients[i].passed_fd = -1;
	control_serve(ctl, clients);
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
			client_close(&clients[i]);
	free(clients);
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
	if (listen(ctl->listen_fd, CONTROL_MAX_CLIENTS) < 0) {
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
