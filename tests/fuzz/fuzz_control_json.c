/* libFuzzer harness for what the control socket makes of a client's bytes before any command
 * runs: the input is cut into lines as the control thread cuts them, and each line goes to
 * the flat JSON parser and to control_parse_request(), which takes it apart into a command
 * and its checked arguments (a migration target, whole numbers, a bandwidth).  A refusal must
 * say why, and a line that is not JSON must never make a request.  What is accepted must
 * survive being written back: an object, with json_append_string(), parses to the same
 * fields; a request, written as a client would write it, parses to the same command and
 * arguments; a target prints as text that parses back to the same target. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hopvm/control.h"
#include "hopvm/error.h"
#include "hopvm/json.h"
#include "hopvm/migration.h"
#include "hopvm/migration_transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Room for the longest object written back: every byte of every text as a \u escape. */
#define OUT_MAX (JSON_MAX_FIELDS * 2 * (6 * JSON_MAX_TEXT + 8) + 8)
#define TARGET_SHOWN (2 * MIG_TARGET_PATH_MAX + 64)

static void refused_with_reason(const char *what, const char *line)
{
	if (err_msg()[0] == '\0') {
		fprintf(stderr, "%s was refused without a message: '%s'\n", what, line);
		abort();
	}
}

static void append(char *out, const char *s)
{
	if (strlen(out) + strlen(s) + 1 > OUT_MAX)
		abort();
	strcat(out, s);
}

static void append_string(char *out, const char *s)
{
	size_t used = strlen(out);

	if (!json_append_string(out + used, OUT_MAX - used, s))
		abort();
}

/* The object written back as JSON, as a reply would carry its strings. */
static void write_back(const struct json_object *obj, char *out)
{
	out[0] = '\0';
	append(out, "{");
	for (size_t i = 0; i < obj->nr_fields; i++) {
		const struct json_field *f = &obj->fields[i];

		if (i > 0)
			append(out, ", ");
		append_string(out, f->key);
		append(out, ": ");
		switch (f->type) {
		case JSON_STRING:
			append_string(out, f->text);
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
	char shown[TARGET_SHOWN], again[TARGET_SHOWN];

	err_clear();
	if (mig_target_parse(text, &t) < 0) {
		refused_with_reason("a migration target", text);
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

/* The request as hopvm ctl would send it: every argument spelled out, the bandwidth in KiB/s
 * (a bare number would be MiB/s). */
static void write_request(const struct control_request *req, char *out)
{
	char num[160], shown[TARGET_SHOWN];
	const struct migration_params *p = &req->params;

	out[0] = '\0';
	append(out, "{\"cmd\": ");
	append_string(out, control_cmd_name(req->cmd));
	if (req->cmd == CONTROL_RESUME)
		append(out, req->force ? ", \"force\": true" : ", \"force\": false");
	if (req->cmd == CONTROL_MIGRATE) {
		mig_target_text(&req->target, shown, sizeof(shown));
		append(out, ", \"target\": ");
		append_string(out, shown);
		snprintf(num, sizeof(num), ", \"max_downtime_ms\": %u, \"max_rounds\": %u, "
			 "\"io_timeout_ms\": %u", p->max_downtime_ms, p->max_rounds,
			 p->io_timeout_ms);
		append(out, num);
		if (p->max_bandwidth == 0)
			snprintf(num, sizeof(num), ", \"max_bandwidth\": 0");
		else
			snprintf(num, sizeof(num), ", \"max_bandwidth\": \"%lluK\"",
				 (unsigned long long)(p->max_bandwidth >> 10));
		append(out, num);
		append(out, p->auto_converge ? ", \"auto_converge\": true" :
		       ", \"auto_converge\": false");
		append(out, req->wait ? ", \"wait\": true" : ", \"wait\": false");
	}
	append(out, "}");
}

static void same_requests(const struct control_request *a, const struct control_request *b)
{
	static char x[TARGET_SHOWN], y[TARGET_SHOWN];
	const struct migration_params *p = &a->params, *q = &b->params;

	if (a->cmd != b->cmd || a->force != b->force || a->wait != b->wait)
		abort();
	if (a->cmd != CONTROL_MIGRATE)
		return;
	mig_target_text(&a->target, x, sizeof(x));
	mig_target_text(&b->target, y, sizeof(y));
	if (a->target.kind != b->target.kind || strcmp(x, y) != 0 ||
	    p->max_downtime_ms != q->max_downtime_ms || p->max_rounds != q->max_rounds ||
	    p->io_timeout_ms != q->io_timeout_ms || p->max_bandwidth != q->max_bandwidth ||
	    p->auto_converge != q->auto_converge)
		abort();
}

/* The command and its arguments, as control_handle() would get them. */
static void request(const char *line, const struct json_object *obj, bool is_json)
{
	static struct control_request req, back;
	static char out[OUT_MAX];
	struct migration_params defaults;
	const struct json_field *cmd;
	const struct migration_params *p = &req.params;

	migration_params_default(&defaults);
	err_clear();
	if (control_parse_request(line, &defaults, &req) < 0) {
		refused_with_reason("a request", line);
		return;
	}
	cmd = json_get(obj, "cmd");
	if (!is_json || cmd == NULL || cmd->type != JSON_STRING ||
	    strcmp(cmd->text, control_cmd_name(req.cmd)) != 0) {
		fprintf(stderr, "'%s' was taken as command %s\n", line, control_cmd_name(req.cmd));
		abort();
	}
	if (req.cmd == CONTROL_MIGRATE &&
	    (p->max_downtime_ms > 60000 || p->max_rounds > 100000 || p->io_timeout_ms < 1 ||
	     p->io_timeout_ms > 3600000 || (p->max_bandwidth & 1023) != 0)) {
		fprintf(stderr, "'%s' was taken with arguments out of range\n", line);
		abort();
	}
	write_request(&req, out);
	err_clear();
	if (control_parse_request(out, &defaults, &back) < 0) {
		fprintf(stderr, "'%s' written back as '%s' is refused: %s\n", line, out, err_msg());
		abort();
	}
	same_requests(&req, &back);
}

static void one_line(const char *line)
{
	static struct json_object obj, back;
	static char out[OUT_MAX];
	const struct json_field *f;
	bool is_json;

	err_clear();
	is_json = json_parse_object(line, &obj) == 0;
	if (!is_json)
		refused_with_reason("an object", line);
	request(line, &obj, is_json);
	if (!is_json)
		return;
	write_back(&obj, out);
	if (json_parse_object(out, &back) < 0) {
		fprintf(stderr, "'%s' written back as '%s' is refused: %s\n", line, out, err_msg());
		abort();
	}
	same_objects(&obj, &back);
	f = json_get(&obj, "target");
	if (f != NULL && f->type == JSON_STRING)
		target(f->text);
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
