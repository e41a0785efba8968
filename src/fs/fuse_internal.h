/* What the FUSE server's files share: the node and handle tables, the request being served and
 * the helpers that read its arguments and write its reply. */
#ifndef HOPVM_FUSE_INTERNAL_H
#define HOPVM_FUSE_INTERNAL_H

#include <linux/fuse.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "hopvm/fuse_server.h"

/* Room for the largest arguments but WRITE's data and BATCH_FORGET's list (read in place):
 * SYMLINK's name and target, RENAME2's two names. */
#define FUSE_ARGS_MAX 8192
/* READ and WRITE data iovecs built over the guest's buffers (a chain holds at most 256). */
#define FUSE_DATA_IOV_MAX 1024

/* A host inode the guest holds: node id = (gen << 32) | slot; slot 0 is never used, slot 1 is
 * the root.  fd is -1 while the slot is free. */
struct fs_node {
	int fd;			/* O_PATH|O_NOFOLLOW */
	uint32_t gen;
	dev_t dev;
	ino_t ino;
	uint64_t nlookup;
	uint32_t hash_next;	/* next slot in the same (dev, ino) bucket, 0 at the end */
	uint32_t free_next;	/* next free slot, 0 at the end */
};

/* An open file or directory: fh = (gen << 32) | slot, slot 0 never used. */
struct fs_handle {
	int fd;			/* -1 while free */
	uint32_t gen;
	bool is_dir;
	uint64_t node_id;	/* what it was opened from (a directory's ".." of the root) */
	uint32_t free_next;
};

enum fuse_refusal_kind {
	REFUSED_MALFORMED,	/* lengths that do not add up */
	REFUSED_NAME,		/* not a single component */
	REFUSED_NODE,		/* invented or forgotten node id */
	REFUSED_HANDLE,		/* invented or released fh */
	REFUSED_OPCODE,		/* an opcode the server does not know */
	REFUSED_REPLY_ROOM,	/* reply buffers too small for the answer */
	REFUSED_NOT_INIT,	/* a request before INIT */
	REFUSED_KINDS
};

struct fuse_server {
	pthread_mutex_t lock;
	bool read_only;
	bool as_root;		/* create as the requesting uid/gid */
	bool initialized;
	uint32_t minor;		/* negotiated protocol minor */
	int proc_fd;		/* /proc/self/fd, to reopen our own O_PATH fds */
	uint64_t timeout;	/* entry and attribute validity, seconds */
	mode_t host_umask;	/* the process's, undone on what the guest creates */
	uint32_t fds_held;	/* by nodes and handles */
	uint32_t fd_budget;	/* at most that many, leaving the rest to hopvm */

	struct fs_node *nodes;
	uint32_t nr_slots, node_cap, free_nodes;
	uint32_t *buckets;	/* (dev, ino) hash -> first slot, 0 = empty */
	uint32_t nr_buckets;	/* power of two, twice node_cap */

	struct fs_handle *handles;
	uint32_t nr_handle_slots, handle_cap, free_handles;

	uint32_t refusals_seen;	/* bit per enum fuse_refusal_kind */
	bool refusal_pending;
	char refusal[256];

	uint8_t args[FUSE_ARGS_MAX];
	char dirents[32768] __attribute__((aligned(8)));	/* getdents64 batch */
};

/* The request being served. */
struct fuse_req {
	struct fuse_server *s;
	const struct iovec *in, *out;
	unsigned nr_in, nr_out;
	struct fuse_in_header h;
	size_t args_off;	/* where the arguments start in the request */
	size_t args_len;	/* their length (the header and extensions excluded) */
	size_t args_copied;	/* how much of them s->args holds */
	size_t args_pos;	/* parse cursor in s->args */
	size_t reply_room;	/* bytes the reply's data may take after fuse_out_header */
};

/* fuse_server.c: requests and replies */
int fuse_refuse(struct fuse_req *r, enum fuse_refusal_kind kind, int neg_errno, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));
int fuse_take(struct fuse_req *r, void *dst, size_t len);
int fuse_take_name(struct fuse_req *r, const char **name);
int fuse_take_modifiable_name(struct fuse_req *r, const char **name);
int fuse_take_text(struct fuse_req *r, const char **text, size_t max);
void fuse_in_copy(const struct fuse_req *r, size_t off, void *dst, size_t len);
void fuse_out_put(const struct fuse_req *r, size_t off, const void *src, size_t len);
int fuse_reply(struct fuse_req *r, const void *data, size_t len);
unsigned fuse_iov_range(const struct iovec *v, unsigned nr, size_t off, size_t len,
			struct iovec *dst, unsigned max);
void fuse_fill_attr(struct fuse_attr *a, const struct stat *st);
int fuse_proc_name(char *buf, size_t size, int fd);

/* fuse_table.c: nodes and handles */
int fuse_tables_init(struct fuse_server *s, int root_fd, const struct stat *root_st);
void fuse_tables_free(struct fuse_server *s);
void fuse_tables_reset(struct fuse_server *s);
struct fs_node *fuse_node(struct fuse_req *r, uint64_t id);
uint64_t fuse_node_id(const struct fuse_server *s, uint32_t slot);
int fuse_node_add(struct fuse_server *s, int fd, const struct stat *st, uint64_t *id);
void fuse_node_forget(struct fuse_server *s, uint64_t id, uint64_t n);
int fuse_handle_add(struct fuse_server *s, int fd, bool is_dir, uint64_t node_id, uint64_t *fh);
struct fs_handle *fuse_handle(struct fuse_req *r, uint64_t fh);
void fuse_handle_release(struct fuse_server *s, uint64_t fh);

/* fuse_dir.c: names and directories */
int fuse_entry_for(struct fuse_req *r, int dir_fd, uint64_t dir_id, const char *name,
		   struct fuse_entry_out *e);
int fuse_op_lookup(struct fuse_req *r);
int fuse_op_forget(struct fuse_req *r);
int fuse_op_batch_forget(struct fuse_req *r);
int fuse_op_readlink(struct fuse_req *r);
int fuse_op_create_node(struct fuse_req *r);	/* MKNOD, MKDIR, SYMLINK */
int fuse_op_unlink(struct fuse_req *r);		/* UNLINK, RMDIR */
int fuse_op_rename(struct fuse_req *r);		/* RENAME, RENAME2 */
int fuse_op_link(struct fuse_req *r);
int fuse_op_opendir(struct fuse_req *r);
int fuse_op_readdir(struct fuse_req *r);	/* READDIR, READDIRPLUS */

/* fuse_file.c: attributes and file data */
int fuse_op_getattr(struct fuse_req *r);
int fuse_op_setattr(struct fuse_req *r);
int fuse_op_open(struct fuse_req *r);
int fuse_op_create(struct fuse_req *r);
int fuse_op_read(struct fuse_req *r);
int fuse_op_write(struct fuse_req *r);
int fuse_op_release(struct fuse_req *r);	/* RELEASE, RELEASEDIR */
int fuse_op_fsync(struct fuse_req *r);		/* FSYNC, FSYNCDIR, FLUSH */
int fuse_op_lseek(struct fuse_req *r);
int fuse_op_fallocate(struct fuse_req *r);
int fuse_op_statfs(struct fuse_req *r);
int fuse_op_access(struct fuse_req *r);
int fuse_op_syncfs(struct fuse_req *r);

/* Creation as the requesting guest user (when running as root). */
int fuse_creds_enter(struct fuse_req *r);
void fuse_creds_leave(struct fuse_req *r);

#endif
