#include <stdarg.h>
#include <stdio.h>

#include "hopvm/error.h"

static __thread char last_error[512];

int err_set(int neg_errno, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return neg_errno;
}

const char *err_msg(void)
{
	return last_error;
}

void err_clear(void)
{
	last_error[0] = '\0';
}
