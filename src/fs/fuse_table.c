/* The FUSE server's node table (host inode -> node id, with a (dev, ino) hash so the same
 * inode keeps one id while referenced) and its file handle table. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuse_internal.h"

/* A guest running `find /usr` holds ~100k nodes; the cap only bounds memory. */
#define MAX_NODES (1U << 24)
#define MAX_HANDLES (1U << 20)
#define FIRST_CAP 64

uint64_t fuse_node_id(const struct fuse_server *s, uint32_t slot)
{
	return (uint64_t)s->nodes[slot].gen << 32 | slot;
}

static uint32_t bucket_of(const struct fuse_server *s, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)ino * 0xc2b2ae3d27d4eb4fULL);

	h ^= h >> 29;
	return (uint32_t)h & (s->nr_buckets - 1);
}

static void hash_insert(struct fuse_server *s, uint32_t slot)
{
	uint32_t b = bucket_of(s, s->nodes[slot].dev, s->nodes[slot].ino);

	s->nodes[slot].hash_next = s->buckets[b];
	s->buckets[b] = slot;
}

static void hash_remove(struct fuse_server *s, uint32_t slot)
{
	uint32_t *link = &s->buckets[bucket_of(s, s->nodes[slot].dev, s->nodes[slot].ino)];

	while (*link != 0 && *link != slot)
		link = &s->nodes[*link].hash_next;
	if (*link == slot)
		*link = s->nodes[slot].hash_next;
}

static int grow_nodes(struct fuse_server *s)
{
	uint32_t cap = s->node_cap ? s->node_cap * 2 : FIRST_CAP;
	struct fs_node *nodes;
	uint32_t *buckets;

	if (s->node_cap >= MAX_NODES)
		return -ENFILE;
	nodes = realloc(s->nodes, cap * sizeof(*nodes));
	if (nodes == NULL)
		return -ENOMEM;
	s->nodes = nodes;
	buckets = calloc((size_t)cap * 2, sizeof(*buckets));
	if (buckets == NULL)
		return -ENOMEM;
	free(s->buckets);
	s->buckets = buckets;
	s->nr_buckets = cap * 2;
	s->node_cap = cap;
	for (uint32_t i = 1; i < s->nr_slots; i++)
		if (s->nodes[i].fd >= 0)
			hash_insert(s, i);
	return 0;
}

static int alloc_node_slot(struct fuse_server *s, uint32_t *slot)
{
	int ret;

	if (s->free_nodes != 0) {
		*slot = s->free_nodes;
		s->free_nodes = s->nodes[*slot].free_next;
		return 0;
	}
	if (s->nr_slots >= s->node_cap && (ret = grow_nodes(s)) < 0)
		return ret;
	*slot = s->nr_slots++;
	s->nodes[*slot].gen = 0;
	return 0;
}

int fuse_tables_init(struct fuse_server *s, int root_fd, const struct stat *root_st)
{
	uint32_t slot;
	int ret;

	s->nr_slots = 1;	/* slot 0: node id 0 is never valid */
	ret = alloc_node_slot(s, &slot);
	if (ret < 0)
		return ret;
	s->nodes[0].fd = -1;
	s->nodes[0].gen = 0;
	s->nodes[slot] = (struct fs_node){ .fd = root_fd, .dev = root_st->st_dev,
					   .ino = root_st->st_ino, .nlookup = 1 };
	hash_insert(s, slot);
	s->fds_held = 1;
	s->nr_handle_slots = 1;
	return 0;
}

void fuse_tables_reset(struct fuse_server *s)
{
	for (uint32_t i = 1; i < s->nr_handle_slots; i++)
		if (s->handles[i].fd >= 0)
			fuse_handle_release(s, (uint64_t)s->handles[i].gen << 32 | i);
	for (uint32_t i = FUSE_ROOT_ID + 1; i < s->nr_slots; i++)
		if (s->nodes[i].fd >= 0)
			fuse_node_forget(s, fuse_node_id(s, i), UINT64_MAX);
	s->nodes[FUSE_ROOT_ID].nlookup = 1;
}

void fuse_tables_free(struct fuse_server *s)
{
	for (uint32_t i = 1; i < s->nr_slots; i++)
		if (s->nodes[i].fd >= 0)
			close(s->nodes[i].fd);
	for (uint32_t i = 1; i < s->nr_handle_slots; i++)
		if (s->handles[i].fd >= 0)
			close(s->handles[i].fd);
	free(s->nodes);
	free(s->buckets);
	free(s->handles);
}

struct fs_node *fuse_node(struct fuse_req *r, uint64_t id)
{
	struct fuse_server *s = r->s;
	uint32_t slot = (uint32_t)id;

	if (slot == 0 || slot >= s->nr_slots || s->nodes[slot].fd < 0 ||
	    s->nodes[slot].gen != (uint32_t)(id >> 32)) {
		fuse_refuse(r, REFUSED_NODE, -ENOENT, "node id %#llx is not one the server gave",
			    (unsigned long long)id);
		return NULL;
	}
	return &s->nodes[slot];
}

/* Takes fd (an O_PATH fd on the inode st describes): an inode already in the table keeps its
 * id and gains a lookup, and fd is closed; a new one gets a slot holding fd. */
int fuse_node_add(struct fuse_server *s, int fd, const struct stat *st, uint64_t *id)
{
	uint32_t slot;
	int ret;

	if (s->nr_buckets != 0) {
		for (slot = s->buckets[bucket_of(s, st->st_dev, st->st_ino)]; slot != 0;
		     slot = s->nodes[slot].hash_next) {
			struct fs_node *n = &s->nodes[slot];

			if (n->dev == st->st_dev && n->ino == st->st_ino) {
				close(fd);
				n->nlookup++;
				*id = fuse_node_id(s, slot);
				return 0;
			}
		}
	}
	ret = s->fds_held < s->fd_budget ? alloc_node_slot(s, &slot) : -EMFILE;
	if (ret < 0) {
		close(fd);
		return ret;
	}
	s->fds_held++;
	s->nodes[slot].fd = fd;
	s->nodes[slot].dev = st->st_dev;
	s->nodes[slot].ino = st->st_ino;
	s->nodes[slot].nlookup = 1;
	hash_insert(s, slot);
	*id = fuse_node_id(s, slot);
	return 0;
}

/* The root is never dropped: the guest may forget it, and lookups still start from it. */
void fuse_node_forget(struct fuse_server *s, uint64_t id, uint64_t n)
{
	uint32_t slot = (uint32_t)id;
	struct fs_node *node;

	if (slot == 0 || slot >= s->nr_slots || s->nodes[slot].fd < 0 ||
	    s->nodes[slot].gen != (uint32_t)(id >> 32))
		return;
	node = &s->nodes[slot];
	node->nlookup -= n < node->nlookup ? n : node->nlookup;
	if (node->nlookup != 0 || slot == FUSE_ROOT_ID)
		return;
	hash_remove(s, slot);
	close(node->fd);
	s->fds_held--;
	node->fd = -1;
	node->gen++;
	node->free_next = s->free_nodes;
	s->free_nodes = slot;
}

int fuse_handle_add(struct fuse_server *s, int fd, bool is_dir, uint64_t node_id, uint64_t *fh)
{
	uint32_t slot;

	if (s->fds_held >= s->fd_budget) {
		close(fd);
		return -EMFILE;
	}
	if (s->free_handles != 0) {
		slot = s->free_handles;
		s->free_handles = s->handles[slot].free_next;
	} else {
		if (s->nr_handle_slots >= s->handle_cap) {
			uint32_t cap = s->handle_cap ? s->handle_cap * 2 : FIRST_CAP;
			struct fs_handle *h;

			if (s->handle_cap >= MAX_HANDLES) {
				close(fd);
				return -ENFILE;
			}
			h = realloc(s->handles, cap * sizeof(*h));
			if (h == NULL) {
				close(fd);
				return -ENOMEM;
			}
			s->handles = h;
			s->handle_cap = cap;
			if (s->nr_handle_slots <= 1) {
				s->handles[0].fd = -1;
				s->handles[0].gen = 0;
				s->nr_handle_slots = 1;
			}
		}
		slot = s->nr_handle_slots++;
		s->handles[slot].gen = 0;
	}
	s->fds_held++;
	s->handles[slot].fd = fd;
	s->handles[slot].is_dir = is_dir;
	s->handles[slot].node_id = node_id;
	*fh = (uint64_t)s->handles[slot].gen << 32 | slot;
	return 0;
}

struct fs_handle *fuse_handle(struct fuse_req *r, uint64_t fh)
{
	struct fuse_server *s = r->s;
	uint32_t slot = (uint32_t)fh;

	if (slot == 0 || slot >= s->nr_handle_slots || s->handles[slot].fd < 0 ||
	    s->handles[slot].gen != (uint32_t)(fh >> 32)) {
		fuse_refuse(r, REFUSED_HANDLE, -EBADF, "fh %#llx is not one the server gave",
			    (unsigned long long)fh);
		return NULL;
	}
	return &s->handles[slot];
}

void fuse_handle_release(struct fuse_server *s, uint64_t fh)
{
	uint32_t slot = (uint32_t)fh;
	struct fs_handle *h;

	if (slot == 0 || slot >= s->nr_handle_slots || s->handles[slot].fd < 0 ||
	    s->handles[slot].gen != (uint32_t)(fh >> 32))
		return;
	h = &s->handles[slot];
	close(h->fd);
	s->fds_held--;
	h->fd = -1;
	h->gen++;
	h->free_next = s->free_handles;
	s->free_handles = slot;
}
