/* A small encoder of ACPI Machine Language (ACPI 6.5, chapter 20), enough for hopvm's DSDT:
 * scopes, devices, named integers, strings, packages and buffers.
 *
 * Objects with a length (scopes, devices, packages) are opened with a *_begin call that
 * returns a mark and closed with aml_end(mark), which writes the PkgLength in front of what
 * was emitted since.  Writing past the buffer sets overflow and emits nothing more; the
 * caller checks it once at the end. */
#ifndef HOPVM_AML_H
#define HOPVM_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *buf;
	size_t len, cap;
	bool overflow;
};

void aml_init(struct aml *a, uint8_t *buf, size_t cap);
void aml_bytes(struct aml *a, const void *p, size_t n);

/* A name path such as "_S5_", "\\_SB_" or "\\_SB_.PCI0": segments of four characters
 * (pad with '_'), '.' between them, an optional leading '\\' for the root. */
void aml_name_path(struct aml *a, const char *path);

/* The shortest encoding of v: Zero, One, or a Byte, Word, DWord or QWord constant. */
void aml_integer(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);
/* A 7-character EISA ID such as "PNP0A03", as the ASL macro EisaId() compresses it. */
void aml_eisa_id(struct aml *a, const char *id);
void aml_buffer(struct aml *a, const void *p, size_t n);

/* Name(path, ...): the object follows. */
void aml_name(struct aml *a, const char *path);

size_t aml_scope_begin(struct aml *a, const char *path);
size_t aml_device_begin(struct aml *a, const char *path);
size_t aml_package_begin(struct aml *a, uint8_t nr_elements);
void aml_end(struct aml *a, size_t mark);

#endif
