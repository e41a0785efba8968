#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "hopvm/error.h"
#include "hopvm/size.h"

static int suffix_shift(const char *suffix, unsigned *shift)
{
	static const char units[] = "KMGT";
	const char *unit;

	if (*suffix == '\0') {
		*shift = 20;	/* bare numbers are MiB */
		return 0;
	}
	unit = strchr(units, toupper((unsigned char)*suffix));
	if (unit == NULL)
		return -EINVAL;
	*shift = 10 * (unsigned)(unit - units + 1);
	suffix++;
	if (strcmp(suffix, "") == 0 || strcmp(suffix, "B") == 0 || strcmp(suffix, "iB") == 0)
		return 0;
	return -EINVAL;
}

int parse_size(const char *text, uint64_t *bytes)
{
	uint64_t value = 0;
	const char *p = text;
	unsigned shift;

	if (text == NULL || !isdigit((unsigned char)*p))
		return err_set(-EINVAL, "size '%s' must start with a number", text ? text : "");
	for (; isdigit((unsigned char)*p); p++) {
		unsigned digit = (unsigned)(*p - '0');

		if (__builtin_mul_overflow(value, 10, &value) ||
		    __builtin_add_overflow(value, digit, &value))
			return err_set(-ERANGE, "size '%s' is too large", text);
	}
	if (suffix_shift(p, &shift) < 0)
		return err_set(-EINVAL, "size '%s' has an unknown unit '%s' (use K, M, G or T)",
			       text, p);
	if (value == 0)
		return err_set(-EINVAL, "size '%s' must not be zero", text);
	if (value > (UINT64_MAX >> shift))
		return err_set(-ERANGE, "size '%s' is too large", text);
	*bytes = value << shift;
	return 0;
}

int parse_rate(const char *text, uint64_t *bytes)
{
	if (strcmp(text, "0") == 0) {
		*bytes = 0;
		return 0;
	}
	return parse_size(text, bytes);
}
