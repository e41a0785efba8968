/* Building /hopvm/exec: the NUL-terminated "key=value" records hopvm exec hands its guest init
 * (the keys and their order are in exec_abi.h).
 *
 * The records are bytes in memory; the caller adds them to the initramfs with cpio_add_file().
 * Functions return 0 or a negative errno with a message in err_msg(). */
#ifndef HOPVM_EXEC_CONFIG_H
#define HOPVM_EXEC_CONFIG_H

#include <stddef.h>

struct exec_config {
	char *data;		/* the records, each "key=value\0" */
	size_t size;
	size_t cap;
};

void exec_config_init(struct exec_config *cfg);
void exec_config_free(struct exec_config *cfg);

/* Appends "key=value\0".  The key is one or more lower-case letters (so the init can split at
 * the first '='); the value is any text without a NUL, which would end the record early.
 * -EINVAL for either, naming the key. */
int exec_config_add(struct exec_config *cfg, const char *key, const char *value)
	__attribute__((warn_unused_result));
/* The same with a value of len bytes, which may not hold a NUL. */
int exec_config_add_mem(struct exec_config *cfg, const char *key, const char *value, size_t len)
	__attribute__((warn_unused_result));

#endif
