/* The control socket: `hopvm run --control PATH` serves one JSON object per line on a unix
 * socket, a request {"cmd": ...} answered by {"ok": true, ...} or {"error": "..."}, so scripts
 * and `hopvm ctl` can drive a running VM.  Commands: status, pause, resume, quit, migrate,
 * migrate-status, migrate-cancel (the README describes each with its arguments).
 *
 * Up to CONTROL_MAX_CLIENTS clients at once (control_server.c), each answered in the order it
 * asked, one request at a time across clients; a migrate with wait=true holds only its own
 * client's answer.  Each request line is at most CONTROL_MAX_LINE bytes.  The socket file
 * is removed when the VM ends.  A migration to file:PATH creates PATH and refuses one there. */
#ifndef HOPVM_CONTROL_H
#define HOPVM_CONTROL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "hopvm/json.h"
#include "hopvm/migration.h"

#define CONTROL_MAX_LINE 4096
#define CONTROL_MAX_CLIENTS 64

struct vm;

struct control {
	struct vm *vm;
	const char *path;
	int listen_fd;
	long allowed_gid;	/* --control-group: may steer the VM too, or -1 */
	int passed_fd;		/* a socket the client sent along (exec:), or -1 */
	pthread_t thread;
	bool running;
	bool paused;		/* by a "pause" request, until "resume" */
	struct migration migration;	/* the last live migration, or none */
	struct migration_params defaults;	/* from the command line */
};

/* Binds the socket (replacing a stale one nobody listens on) and starts serving; migrations
 * it starts use defaults unless the request says otherwise.  The socket is hopvm's user's
 * alone (0600), or also group allowed_gid's (0660) unless that is -1; a peer of another
 * user outside that group is answered with an error and nothing else. */
int control_start(struct control *ctl, struct vm *vm, const char *path, long allowed_gid,
		  const struct migration_params *defaults)
	__attribute__((warn_unused_result));

/* --control-group's group: a number, or a name looked up in group_file (/etc/group). */
int control_group_lookup(const char *name, const char *group_file, gid_t *gid)
	__attribute__((warn_unused_result));

/* The rule control_start applies to a peer (SO_PEERCRED, SO_PEERGROUPS). */
bool control_peer_allowed(uid_t owner, long allowed_gid, uid_t peer_uid, gid_t peer_gid,
			  const gid_t *peer_groups, size_t nr_groups);
void control_stop(struct control *ctl);

/* Answers one request line into reply (a JSON object, no newline), or returns true when the
 * answer waits for the live migration it started to end (migrate wait=true): once
 * migration_active() is false, control_answer_migration() gives it. */
bool control_handle(struct control *ctl, const char *request, char *reply, size_t len);
void control_answer_migration(struct control *ctl, char *reply, size_t len);
/* {"error": message} into reply. */
void control_reply_error(char *reply, size_t len, const char *message);

enum control_cmd {
	CONTROL_STATUS,
	CONTROL_PAUSE,
	CONTROL_RESUME,
	CONTROL_SHUTDOWN,
	CONTROL_QUIT,
	CONTROL_MIGRATE,
	CONTROL_MIGRATE_STATUS,
	CONTROL_MIGRATE_CANCEL,
	CONTROL_WAKEUP,
};

/* A request line taken apart, every argument checked, before anything is done to the VM.
 * force is resume's (give up an unconfirmed migration's hold); the rest is migrate's: wait
 * (answer once the migration has ended), the target as the client wrote it and parsed, and
 * the parameters (the defaults, with the request's over them). */
struct control_request {
	enum control_cmd cmd;
	bool force;
	bool wait;
	bool snapshot;		/* migrate snapshot=true: one way, as file: writes it */
	char target_text[JSON_MAX_TEXT];
	struct mig_target target;
	struct migration_params params;
};

/* What control_handle makes of a client's line before it touches the VM: the command and its
 * arguments over defaults (the command line's).  -EINVAL with the message the client is
 * answered with otherwise.  Needs no VM (the control fuzzer feeds it). */
int control_parse_request(const char *line, const struct migration_params *defaults,
			  struct control_request *req) __attribute__((warn_unused_result));

/* The command's name in a request ("migrate-status"). */
const char *control_cmd_name(enum control_cmd cmd);

/* path as a unix socket address; -ENAMETOOLONG if it does not fit (both sides use it). */
struct sockaddr_un;
int control_address(const char *path, struct sockaddr_un *addr)
	__attribute__((warn_unused_result));

/* The client side (control_client.c): sends {"cmd": cmd, key: value...} (args are "key=value"; values that are
 * numbers or true/false go as such) and leaves the reply in reply.  0 if the VM answered
 * "ok", -EREMOTEIO if it answered an error, another -errno if it could not be asked. */
int control_request(const char *path, const char *cmd, char *const *args, size_t nargs,
		    char *reply, size_t len) __attribute__((warn_unused_result));

#endif
