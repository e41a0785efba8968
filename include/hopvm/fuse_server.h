/* The FUSE file server behind virtio-fs: serves one host directory to a guest, one request at
 * a time, as pure logic over byte buffers (no virtqueue, no KVM).  The device glue hands it a
 * chain's readable buffers (the request) and writable buffers (room for the reply).
 *
 * Nothing outside the shared directory is ever reached.  Every inode the guest knows is held
 * as an O_PATH|O_NOFOLLOW fd the server resolved itself, one name component at a time from the
 * root; names in requests are single components ("." and ".." handled explicitly, ".." of the
 * root is the root); symlinks are returned to the guest, never followed.  Node ids and file
 * handles are slot numbers with a generation in their high 32 bits, never host pointers: an
 * invented or stale one gets ENOENT (node) or EBADF (handle).
 *
 * Protocol: FUSE 7.12 to 7.38 (<linux/fuse.h>); ops sent before INIT get EIO.  Replies use the
 * full 7.12+ structures.  Caching: a read-only share answers with entry and attribute
 * timeouts of a day and keeps page and directory caches across opens; a read-write share
 * with 1 s and no kept caches, so host-side changes show up.
 *
 * Each node and open handle costs one host fd: fuse_server_open() raises RLIMIT_NOFILE as
 * virtiofsd does, with CAP_SYS_RESOURCE both limits to 1,000,000 (or fs.nr_open if lower),
 * else the soft limit to the hard, and the server holds at most that limit less 512 (half of
 * it below 1024), leaving the rest to hopvm; past that, LOOKUP and OPEN answer EMFILE.  When the process runs as root, CREATE, MKNOD, MKDIR and SYMLINK run with the
 * requesting guest's uid and gid as the calling thread's fsuid and fsgid.  What the guest
 * creates gets the mode it asked for: the process umask read at fuse_server_open() is undone.
 * Calls may come from several threads: one mutex serializes them. */
#ifndef HOPVM_FUSE_SERVER_H
#define HOPVM_FUSE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

struct fuse_server;

/* What INIT offers the guest: 512 KiB per WRITE and READ, as 128 pages (a virtqueue chain holds
 * at most 256 buffers, so never more). */
#define FUSE_SERVER_MAX_WRITE (512U << 10)
#define FUSE_SERVER_MAX_PAGES 128

/* Opens root_path (an existing directory, else -ENOENT or -ENOTDIR with a message naming the
 * path) as node 1 (FUSE_ROOT_ID).  read_only: every change is refused with EROFS. */
int fuse_server_open(struct fuse_server **out, const char *root_path, bool read_only)
	__attribute__((warn_unused_result));

/* Closes every fd the server holds and frees it; NULL is ignored. */
void fuse_server_close(struct fuse_server *s);

/* Serves one request.  in/nr_in: the request as the guest laid it out (fuse_in_header, the
 * operation's arguments, WRITE's data), possibly split across buffers at any byte; out/nr_out:
 * the device-writable buffers for the reply (at most the first 1024 of either are used for
 * READ and WRITE data).  Returns the length of the reply written into out (fuse_out_header and
 * data), 0 for a request that takes no reply (FORGET, BATCH_FORGET, INTERRUPT), or a negative
 * errno with an err_set() message only for a request that cannot be answered at all: shorter
 * than fuse_in_header, a header len other than the bytes given, or out shorter than
 * fuse_out_header for a request that takes a reply (FORGET, BATCH_FORGET and INTERRUPT need
 * no out buffers: Linux's virtiofs gives FORGET none).  Everything else, however malformed,
 * gets a reply whose fuse_out_header.error is a negative errno. */
int fuse_server_handle(struct fuse_server *s, const struct iovec *in, unsigned nr_in,
		       const struct iovec *out, unsigned nr_out);

/* Guest misuse (malformed lengths, bad names, unknown node ids or handles, unknown opcodes,
 * replies that do not fit) is answered with an errno, and remembered once per kind so the
 * device can print one stderr line per kind rather than one per request.  Copies the message
 * of the first refusal of a kind not reported before into buf (NUL-terminated) and returns
 * true, once; false when nothing new happened since the last call. */
bool fuse_server_new_refusal(struct fuse_server *s, char *buf, size_t size);

#endif
