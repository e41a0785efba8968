/* Shared includes for the cmocka unit tests (cmocka needs these before its own header). */
#ifndef HOPVM_TEST_UNIT_H
#define HOPVM_TEST_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

/* Asserts that err_msg() mentions the given text. */
#define assert_err_mentions(text)                                                          \
	do {                                                                               \
		if (strstr(err_msg(), (text)) == NULL)                                     \
			fail_msg("error message \"%s\" does not mention \"%s\"", err_msg(), \
				 (text));                                                  \
	} while (0)

#endif
