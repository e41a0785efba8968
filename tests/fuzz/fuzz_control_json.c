/* libFuzzer harness for what the control socket makes of a client's bytes before any command
 * runs: the input is cut into lines as the control thread cuts them, each line is parsed as
 * a flat JSON object, and the values a command takes apart further are parsed as it does (a
 * migration target, a bandwidth).  A refusal must say why.  An accepted object must survive
 * being written out again with json_append_string() and parsed back, field for field; an
 * accepted target must print as text that parses back to the same target. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hopvm/control.h"
#include "hopvm/error.h"
#include "hopvm/json.h"
#include "hopvm/migration_transport.h"
#include "hopvm/size.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Room for the longest object written back: every byte of every text as a \u escape. */
#define OUT_MAX (JSON_MAX_FIELDS * 2 * (6 * JSON_MAX_TEXT + 8) + 8)

static void refused_with_reason(const char *what)
{
	if (err_msg()[0] == '\0') {
		fprintf(stderr, "%s was refused without a message\n", what);
		abort();
	}
}

static void append(char *out, const char *s)
{
	if (strlen(out) + strlen(s) + 1 > OUT_MAX)
		abort();
	strcat(out, s);
}

/* The object written back as JSON, as a reply would carry its strings. */
static void write_back(const struct json_object *obj, char *out)
{
	out[0] = '\0';
	append(out, "{");
	for (size_t i = 0; i < obj->nr_fields; i++) {
		const struct json_field *f = &obj->fields[i];
		size_t used = strlen(out);

		if (i > 0)
			append(out, ", ");
		used = strlen(out);
		if (!json_append_string(out + used, OUT_MAX - used, f->key))
			abort();
		append(out, ": ");
		used = strlen(out);
		switch (f->type) {
		case JSON_STRING:
			if (!json_append_string(out + used, OUT_MAX - used, f->text))
				abort();
			break;
		case JSON_NUMBER:
			append(out, f->text);
			break;
		case JSON_BOOL:
			append(out, f->boolean ? "true" : "false");
			break;
		case JSON_NULL:
			append(out, "null");
			break;
		}
	}
	append(out, "}");
}

static void same_objects(const struct json_object *a, const struct json_object *b)
{
	if (a->nr_fields != b->nr_fields)
		abort();
	for (size_t i = 0; i < a->nr_fields; i++) {
		const struct json_field *x = &a->fields[i], *y = &b->fields[i];

		if (strcmp(x->key, y->key) != 0 || x->type != y->type)
			abort();
		if ((x->type == JSON_STRING || x->type == JSON_NUMBER) &&
		    strcmp(x->text, y->text) != 0)
			abort();
		if (x->type == JSON_NUMBER && !(x->number == y->number ||
						 (isnan(x->number) && isnan(y->number))))
			abort();
		if (x->type == JSON_BOOL && x->boolean != y->boolean)
			abort();
	}
}

/* What migrate does with its target: parsed, and shown back in migrate-status. */
static void target(const char *text)
{
	struct mig_target t, u;
	char shown[2 * MIG_TARGET_PATH_MAX + 64], again[sizeof(shown)];

	err_clear();
	if (mig_target_parse(text, &t) < 0) {
		refused_with_reason("a migration target");
		return;
	}
	mig_target_text(&t, shown, sizeof(shown));
	if (mig_target_parse(shown, &u) < 0) {
		fprintf(stderr, "target '%s' shows as '%s', which is refused: %s\n", text, shown,
			err_msg());
		abort();
	}
	mig_target_text(&u, again, sizeof(again));
	if (strcmp(shown, again) != 0 || t.kind != u.kind)
		abort();
}

static void one_line(const char *line)
{
	static struct json_object obj, back;
	static char out[OUT_MAX];
	const struct json_field *f;
	uint64_t rate;

	err_clear();
	if (json_parse_object(line, &obj) < 0) {
		refused_with_reason("a request");
		return;
	}
	write_back(&obj, out);
	if (json_parse_object(out, &back) < 0) {
		fprintf(stderr, "'%s' written back as '%s' is refused: %s\n", line, out, err_msg());
		abort();
	}
	same_objects(&obj, &back);
	f = json_get(&obj, "target");
	if (f != NULL && f->type == JSON_STRING)
		target(f->text);
	f = json_get(&obj, "max_bandwidth");
	if (f != NULL && (f->type == JSON_STRING || f->type == JSON_NUMBER)) {
		err_clear();
		if (parse_rate(f->text, &rate) < 0)
			refused_with_reason("a bandwidth");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t start = 0;

	/* Lines of at most CONTROL_MAX_LINE bytes, each in a buffer of exactly its size (and
	 * its NUL) so that AddressSanitizer sees a read past its end. */
	while (start < size) {
		const uint8_t *nl = memchr(data + start, '\n', size - start);
		size_t len = (nl != NULL ? (size_t)(nl - data) : size) - start;
		char *line;

		if (len > CONTROL_MAX_LINE)
			len = CONTROL_MAX_LINE;
		line = malloc(len + 1);
		if (line == NULL)
			abort();
		memcpy(line, data + start, len);
		line[len] = '\0';
		one_line(line);
		free(line);
		start += len + (nl != NULL && data + start + len == nl);
	}
	return 0;
}
