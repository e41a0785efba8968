/* The control socket's JSON: one flat object per line, {"key": value, ...}, where a value is a
 * string, a number, true, false or null.  Nothing nests: hopvm's commands need no more, and a
 * small parser is one a stranger's bytes cannot lead astray. */
#ifndef HOPVM_JSON_H
#define HOPVM_JSON_H

#include <stdbool.h>
#include <stddef.h>

#define JSON_MAX_FIELDS 16
#define JSON_MAX_TEXT 256	/* a key or a string value, decoded, with its NUL */

enum json_type { JSON_STRING, JSON_NUMBER, JSON_BOOL, JSON_NULL };

struct json_field {
	char key[JSON_MAX_TEXT];
	enum json_type type;
	char text[JSON_MAX_TEXT];	/* strings decoded; numbers as written */
	double number;
	bool boolean;
};

struct json_object {
	struct json_field fields[JSON_MAX_FIELDS];
	size_t nr_fields;
};

/* Parses one object from text (trailing white space allowed); -EINVAL with a message saying
 * what and where otherwise. */
int json_parse_object(const char *text, struct json_object *obj)
	__attribute__((warn_unused_result));

/* The field named key, or NULL. */
const struct json_field *json_get(const struct json_object *obj, const char *key);

/* Appends s to out (of size len, always NUL-terminated) as a JSON string, quotes included;
 * returns false if it did not fit. */
bool json_append_string(char *out, size_t len, const char *s);

/* Whether text is one whole JSON number (RFC 8259: no hex, inf, nan or leading zeros). */
bool json_is_number(const char *text);

#endif
