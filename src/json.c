#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hopvm/error.h"
#include "hopvm/json.h"

struct cursor {
	const char *start, *p;
};

static int json_error(const struct cursor *c, const char *what)
{
	return err_set(-EINVAL, "not a flat JSON object: %s at byte %zu", what,
		       (size_t)(c->p - c->start));
}

static void skip_space(struct cursor *c)
{
	while (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n')
		c->p++;
}

static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)tolower((unsigned char)ch);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* A string at c->p (its opening quote), decoded into out.  \uXXXX must be ASCII: commands
 * and paths need nothing else, and refusing the rest keeps out UTF-16 surrogate games. */
static int parse_string(struct cursor *c, char *out)
{
	size_t n = 0;

	if (*c->p != '"')
		return json_error(c, "expected a string");
	c->p++;
	while (*c->p != '"') {
		char ch = *c->p;

		if (ch == '\0')
			return json_error(c, "unterminated string");
		if ((unsigned char)ch < 0x20)
			return json_error(c, "control character in a string");
		if (ch == '\\') {
			c->p++;
			switch (*c->p) {
			case '"': case '\\': case '/': ch = *c->p; break;
			case 'n': ch = '\n'; break;
			case 't': ch = '\t'; break;
			case 'r': ch = '\r'; break;
			case 'b': ch = '\b'; break;
			case 'f': ch = '\f'; break;
			case 'u': {
				int v = 0;

				for (int i = 1; i <= 4; i++) {
					int d = hex_digit(c->p[i]);

					if (d < 0)
						return json_error(c, "bad \\u escape");
					v = v * 16 + d;
				}
				if (v == 0 || v > 0x7f)
					return json_error(c, "\\u escape outside ASCII");
				ch = (char)v;
				c->p += 4;
				break;
			}
			default:
				return json_error(c, "bad escape");
			}
		}
		if (n + 1 >= JSON_MAX_TEXT)
			return json_error(c, "string too long");
		out[n++] = ch;
		c->p++;
	}
	c->p++;
	out[n] = '\0';
	return 0;
}

/* The length of the JSON number at p (RFC 8259, 6: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?),
 * or 0.  strtod() reads more (nan, inf, hex, "1."), none of it a number a request may hold. */
static size_t number_length(const char *p)
{
	const char *start = p;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (isdigit((unsigned char)*p))
			p++;
	else
		return 0;
	if (*p == '.') {
		if (!isdigit((unsigned char)*++p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return (size_t)(p - start);
}

static int parse_value(struct cursor *c, struct json_field *f)
{
	if (*c->p == '"') {
		f->type = JSON_STRING;
		return parse_string(c, f->text);
	}
	if (strncmp(c->p, "true", 4) == 0 || strncmp(c->p, "false", 5) == 0) {
		f->type = JSON_BOOL;
		f->boolean = *c->p == 't';
		c->p += f->boolean ? 4 : 5;
		return 0;
	}
	if (strncmp(c->p, "null", 4) == 0) {
		f->type = JSON_NULL;
		c->p += 4;
		return 0;
	}
	if (*c->p == '-' || isdigit((unsigned char)*c->p)) {
		size_t len = number_length(c->p);

		/* A digit or a letter right after it is no number either ("01", "1x"). */
		if (len == 0 || len >= JSON_MAX_TEXT || isalnum((unsigned char)c->p[len]) ||
		    c->p[len] == '.')
			return json_error(c, "bad number");
		f->type = JSON_NUMBER;
		memcpy(f->text, c->p, len);
		f->text[len] = '\0';
		f->number = strtod(f->text, NULL);
		c->p += len;
		return 0;
	}
	return json_error(c, "expected a string, number, true, false or null");
}

int json_parse_object(const char *text, struct json_object *obj)
{
	struct cursor c = { text, text };
	int ret;

	memset(obj, 0, sizeof(*obj));
	skip_space(&c);
	if (*c.p++ != '{')
		return json_error(&c, "expected '{'");
	skip_space(&c);
	if (*c.p == '}') {
		c.p++;
	} else {
		for (;;) {
			struct json_field *f;

			if (obj->nr_fields == JSON_MAX_FIELDS)
				return json_error(&c, "too many fields");
			f = &obj->fields[obj->nr_fields++];
			skip_space(&c);
			ret = parse_string(&c, f->key);
			if (ret < 0)
				return ret;
			if (obj->nr_fields > 1 && json_get(obj, f->key) != f)
				return json_error(&c, "duplicate key");
			skip_space(&c);
			if (*c.p++ != ':')
				return json_error(&c, "expected ':'");
			skip_space(&c);
			ret = parse_value(&c, f);
			if (ret < 0)
				return ret;
			skip_space(&c);
			if (*c.p == ',') {
				c.p++;
				continue;
			}
			if (*c.p++ != '}')
				return json_error(&c, "expected ',' or '}'");
			break;
		}
	}
	skip_space(&c);
	if (*c.p != '\0')
		return json_error(&c, "text after the object");
	return 0;
}

const struct json_field *json_get(const struct json_object *obj, const char *key)
{
	for (size_t i = 0; i < obj->nr_fields; i++)
		if (strcmp(obj->fields[i].key, key) == 0)
			return &obj->fields[i];
	return NULL;
}

bool json_is_number(const char *text)
{
	size_t len = number_length(text);

	return len > 0 && text[len] == '\0';
}

bool json_append_string(char *out, size_t len, const char *s)
{
	size_t start = strlen(out), n = start;

	if (n + 3 > len)
		return false;
	out[n++] = '"';
	for (; *s; s++) {
		char esc[8];
		unsigned char ch = (unsigned char)*s;
		size_t e;

		if (ch == '"' || ch == '\\')
			snprintf(esc, sizeof(esc), "\\%c", ch);
		else if (ch < 0x20)
			snprintf(esc, sizeof(esc), "\\u%04x", ch);
		else
			snprintf(esc, sizeof(esc), "%c", ch);
		e = strlen(esc);
		if (n + e + 2 > len) {
			out[start] = '\0';	/* all or nothing */
			return false;
		}
		memcpy(out + n, esc, e);
		n += e;
	}
	out[n++] = '"';
	out[n] = '\0';
	return true;
}
