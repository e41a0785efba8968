/* Parsing of sizes given on the command line ("512M", "2G"). */
#ifndef HOPVM_SIZE_H
#define HOPVM_SIZE_H

#include <stdint.h>

/* Parses a whole number with an optional K, M, G or T suffix (powers of 1024, either case,
 * optionally followed by "B" or "iB").  A number without a suffix counts in MiB, as QEMU's
 * and kvmtool's -m do.  Returns 0 and *bytes, or -EINVAL for an empty, malformed or zero
 * size and -ERANGE for one that does not fit in 64 bits; err_msg() says which. */
int parse_size(const char *text, uint64_t *bytes);

/* A rate in bytes a second as parse_size() reads sizes, or "0" for no limit (*bytes = 0). */
int parse_rate(const char *text, uint64_t *bytes);

#endif
