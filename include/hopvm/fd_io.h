/* Writing a whole buffer to a descriptor that may be slow, non-blocking or gone. */
#ifndef HOPVM_FD_IO_H
#define HOPVM_FD_IO_H

#include <stddef.h>

/* Writes all len bytes of data to fd.  A non-blocking fd that takes nothing for stall_ms
 * milliseconds (-1: wait for ever), or any error but EINTR, ends it early: the caller's output
 * is lost rather than the caller stuck (a console nobody reads, a closed pipe). */
void fd_write_all(int fd, const void *data, size_t len, int stall_ms);

#endif
