/* The control socket's flat JSON, and its answers to bad requests. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "hopvm/control.h"
#include "hopvm/error.h"
#include "hopvm/json.h"
#include "hopvm/vm.h"
#include "unit.h"

static void test_parses_flat_objects(void **state)
{
	struct json_object obj;
	const struct json_field *f;

	(void)state;
	assert_int_equal(json_parse_object(" {\"cmd\": \"migrate\", \"target\": \"tcp:10.0.0.2:4444\","
					   "\"max-downtime\": 50.5, \"force\": true, \"x\": null}\n",
					   &obj), 0);
	assert_int_equal(obj.nr_fields, 5);
	f = json_get(&obj, "target");
	assert_non_null(f);
	assert_int_equal(f->type, JSON_STRING);
	assert_string_equal(f->text, "tcp:10.0.0.2:4444");
	f = json_get(&obj, "max-downtime");
	assert_int_equal(f->type, JSON_NUMBER);
	assert_true(f->number > 50.4 && f->number < 50.6);
	assert_true(json_get(&obj, "force")->boolean);
	assert_int_equal(json_get(&obj, "x")->type, JSON_NULL);
	assert_null(json_get(&obj, "missing"));
	assert_int_equal(json_parse_object("{}", &obj), 0);
	assert_int_equal(obj.nr_fields, 0);
	assert_int_equal(json_parse_object("{\"p\": \"a\\\"b\\\\c\\u0041\\n\"}", &obj), 0);
	assert_string_equal(obj.fields[0].text, "a\"b\\cA\n");
}

static void expect_refused(const char *text, const char *why)
{
	struct json_object obj;

	assert_int_equal(json_parse_object(text, &obj), -EINVAL);
	assert_err_mentions(why);
}

static void test_refuses_what_it_does_not_know(void **state)
{
	char big[600];

	(void)state;
	expect_refused("", "expected '{'");
	expect_refused("[1]", "expected '{'");
	expect_refused("{\"a\": 1", "expected ',' or '}'");
	expect_refused("{\"a\" 1}", "expected ':'");
	expect_refused("{a: 1}", "expected a string");
	expect_refused("{\"a\": {\"b\": 1}}", "expected a string, number");
	expect_refused("{\"a\": \"x}", "unterminated string");
	expect_refused("{\"a\": \"\\q\"}", "bad escape");
	expect_refused("{\"a\": \"\\u00e9\"}", "outside ASCII");
	expect_refused("{\"a\": \"\\u0000\"}", "outside ASCII");
	expect_refused("{\"a\": \"\\u12\"}", "bad \\u escape");
	expect_refused("{\"a\": 1, \"a\": 2}", "duplicate key");
	expect_refused("{\"a\": 1} x", "text after the object");
	expect_refused("{\"a\": \"\x01\"}", "control character");
	/* Numbers as JSON writes them, not all that strtod() reads: the control fuzzer's
	 * harness showed "max_rounds": -nan reaching a conversion to an integer. */
	expect_refused("{\"a\": -nan}", "bad number");
	expect_refused("{\"a\": -inf}", "bad number");
	expect_refused("{\"a\": -infinity}", "bad number");
	expect_refused("{\"a\": 0x1f}", "bad number");
	expect_refused("{\"a\": -0x1p3}", "bad number");
	expect_refused("{\"a\": 01}", "bad number");
	expect_refused("{\"a\": 1.}", "bad number");
	expect_refused("{\"a\": 1e}", "bad number");
	expect_refused("{\"a\": 1e+}", "bad number");
	expect_refused("{\"a\": -}", "bad number");
	expect_refused("{\"a\": - 1}", "bad number");
	memset(big, 'a', sizeof(big));
	memcpy(big, "{\"a\": \"", 7);
	strcpy(big + sizeof(big) - 3, "\"}");
	expect_refused(big, "string too long");
	expect_refused("{\"1\":1,\"2\":1,\"3\":1,\"4\":1,\"5\":1,\"6\":1,\"7\":1,\"8\":1,\"9\":1,"
		       "\"10\":1,\"11\":1,\"12\":1,\"13\":1,\"14\":1,\"15\":1,\"16\":1,\"17\":1}",
		       "too many fields");
}

static void test_parses_json_numbers(void **state)
{
	struct json_object obj;

	(void)state;
	assert_int_equal(json_parse_object("{\"a\": 0, \"b\": -0, \"c\": 1.5e-3, \"d\": 1E+2, "
					   "\"e\": -12.0, \"f\": 1e999}", &obj), 0);
	assert_string_equal(json_get(&obj, "c")->text, "1.5e-3");
	assert_true(json_get(&obj, "d")->number == 100.0);
	assert_true(json_get(&obj, "e")->number == -12.0);
	assert_true(json_get(&obj, "f")->number > 1e308);	/* any limit refuses it */
	/* hopvm ctl sends a value bare only if the server reads it as a number. */
	assert_true(json_is_number("10") && json_is_number("-1.5e3") && json_is_number("0"));
	assert_false(json_is_number("0x10") || json_is_number("inf") || json_is_number("nan") ||
		     json_is_number("01") || json_is_number("1.") || json_is_number("") ||
		     json_is_number("10M"));
}

/* A request line taken apart without a VM: the command, then migrate's arguments over the
 * defaults. */
static void test_parses_requests(void **state)
{
	static const char *const not_numbers[] = { "-nan", "nan", "-inf", "0x10", "1e400" };
	static struct control_request req;
	struct migration_params defaults;
	char line[200];

	(void)state;
	migration_params_default(&defaults);
	defaults.max_bandwidth = 5 << 20;
	assert_int_equal(control_parse_request("{\"cmd\": \"resume\", \"force\": true}", &defaults,
					       &req), 0);
	assert_int_equal(req.cmd, CONTROL_RESUME);
	assert_true(req.force);
	assert_int_equal(control_parse_request("{\"cmd\": \"resume\", \"force\": 1}", &defaults,
					       &req), 0);
	assert_false(req.force);
	assert_int_equal(control_parse_request("{\"cmd\": \"migrate-status\"}", &defaults, &req),
			 0);
	assert_string_equal(control_cmd_name(req.cmd), "migrate-status");
	assert_int_equal(control_parse_request("{\"cmd\": \"migrate\", "
					       "\"target\": \"tcp:[::1]:44\", \"max_rounds\": 7, "
					       "\"io_timeout_ms\": 0, \"max_bandwidth\": \"2M\", "
					       "\"auto_converge\": true, \"wait\": true}",
					       &defaults, &req), 0);
	assert_int_equal(req.cmd, CONTROL_MIGRATE);
	assert_int_equal(req.target.kind, MIG_TARGET_TCP);
	assert_string_equal(req.target.host, "::1");
	assert_string_equal(req.target_text, "tcp:[::1]:44");
	assert_int_equal(req.params.max_rounds, 7);
	assert_int_equal(req.params.io_timeout_ms, 1);	/* 0 would never wait */
	assert_int_equal(req.params.max_downtime_ms, defaults.max_downtime_ms);
	assert_int_equal(req.params.max_bandwidth, 2 << 20);
	assert_true(req.params.auto_converge);
	assert_true(req.wait);
	assert_int_equal(control_parse_request("{\"cmd\": \"migrate\", \"target\": \"fd:3\"}",
					       &defaults, &req), 0);
	assert_int_equal(req.params.max_bandwidth, 5 << 20);
	assert_false(req.wait);
	assert_int_equal(control_parse_request("{\"cmd\": \"Status\"}", &defaults, &req), -EINVAL);
	assert_err_mentions("unknown command 'Status'");
	/* Whole numbers only: nothing that is not one reaches the conversion to an integer. */
	for (size_t i = 0; i < sizeof(not_numbers) / sizeof(not_numbers[0]); i++) {
		snprintf(line, sizeof(line), "{\"cmd\": \"migrate\", \"target\": \"fd:3\", "
			 "\"max_rounds\": %s}", not_numbers[i]);
		assert_int_equal(control_parse_request(line, &defaults, &req), -EINVAL);
	}
}

static void test_appends_escaped_strings(void **state)
{
	char out[32] = "x=";

	(void)state;
	assert_true(json_append_string(out, sizeof(out), "a\"b\\\n"));
	assert_string_equal(out, "x=\"a\\\"b\\\\\\u000a\"");
	assert_false(json_append_string(out, sizeof(out), "far too long to fit in here"));
	assert_string_equal(out, "x=\"a\\\"b\\\\\\u000a\"");	/* unchanged */
}

static void test_control_answers(void **state)
{
	static struct vm vm;
	struct control ctl = { .vm = &vm };
	char reply[1024];

	(void)state;
	migration_init(&ctl.migration, &vm);
	migration_params_default(&ctl.defaults);
	vm.cfg.nr_vcpus = 2;
	vm.cfg.ram_size = 64ULL << 20;
	control_handle(&ctl, "{\"cmd\": \"status\"}", reply, sizeof(reply));
	assert_string_equal(reply, "{\"ok\": true, \"state\": \"running\", \"vcpus\": 2, "
			    "\"mem_bytes\": 67108864, \"migration\": \"none\"}");
	/* The power button: refused without ACPI; with it, pressed, and the guest that has
	 * not enabled its event is said not to be listening, then one that has. */
	control_handle(&ctl, "{\"cmd\": \"shutdown\"}", reply, sizeof(reply));
	assert_string_equal(reply, "{\"error\": \"this VM has no ACPI power button (--no-acpi); "
			    "'quit' ends it at once\"}");
	vm.cfg.acpi = true;
	acpi_pm_init(&vm.acpi_pm, NULL, NULL, NULL);
	control_handle(&ctl, "{\"cmd\": \"shutdown\"}", reply, sizeof(reply));
	assert_non_null(strstr(reply, "\"power_button\": \"pressed\", \"warning\": \"the guest "
			       "has not enabled its ACPI power button event"));
	assert_int_equal(acpi_pm_write(&vm.acpi_pm, 2, (const uint8_t[]){ 0x00, 0x01 }, 2), 0);
	control_handle(&ctl, "{\"cmd\": \"shutdown\"}", reply, sizeof(reply));
	assert_string_equal(reply, "{\"ok\": true, \"state\": \"running\", \"power_button\": "
			    "\"pressed\"}");
	/* ACPI S3: wakeup wakes only a sleeping guest, which status shows and which cannot be
	 * saved. */
	control_handle(&ctl, "{\"cmd\": \"wakeup\"}", reply, sizeof(reply));
	assert_string_equal(reply, "{\"error\": \"the guest is not suspended (ACPI S3)\"}");
	vm.suspended = true;
	control_handle(&ctl, "{\"cmd\": \"status\"}", reply, sizeof(reply));
	assert_non_null(strstr(reply, "{\"ok\": true, \"state\": \"suspended\", "));
	control_handle(&ctl, "{\"cmd\": \"migrate\", \"target\": \"file:/tmp/x.snap\"}", reply,
		       sizeof(reply));
	assert_string_equal(reply, "{\"error\": \"the guest is suspended to RAM (ACPI S3), and "
			    "hopvm cannot save a sleeping guest: wake it first (hopvm ctl SOCKET "
			    "wakeup)\"}");
	control_handle(&ctl, "{\"cmd\": \"wakeup\"}", reply, sizeof(reply));
	assert_string_equal(reply, "{\"ok\": true, \"state\": \"running\"}");
	assert_false(vm.suspended);
	assert_int_equal(vm.wake_generation, 1);
	assert_int_equal(vm.wake_event, ACPI_PM1_STS_PWRBTN);
	vm.cfg.acpi = false;
	control_handle(&ctl, "{\"cmd\": \"wakeup\"}", reply, sizeof(reply));
	assert_string_equal(reply, "{\"error\": \"this VM has no ACPI (--no-acpi): its guest "
			    "cannot sleep\"}");
	vm.cfg.acpi = true;
	acpi_pm_destroy(&vm.acpi_pm);
	/* A share's open files live in this hopvm: refused before anything starts. */
	vm.nr_shares = 1;
	strcpy(vm.shares[0].opt.tag, "t");
	strcpy(vm.shares[0].opt.path, "/srv");
	control_handle(&ctl, "{\"cmd\": \"migrate\", \"target\": \"file:/tmp/x.snap\"}", reply,
		       sizeof(reply));
	assert_string_equal(reply, "{\"error\": \"this VM cannot migrate: the guest has the "
			    "share 't' (/srv), whose open files and node ids live in this hopvm's "
			    "file server\"}");
	vm.nr_shares = 0;
	control_handle(&ctl, "{\"cmd\": \"fly\"}", reply, sizeof(reply));
	assert_string_equal(reply, "{\"error\": \"unknown command 'fly' (status, pause, resume, "
			    "shutdown, quit, migrate, migrate-status, migrate-cancel, wakeup)\"}");
	control_handle(&ctl, "{\"cmd\": \"migrate\"}", reply, sizeof(reply));
	assert_string_equal(reply, "{\"error\": \"migrate needs a \\\"target\\\": "
			    "tcp:HOST:PORT, exec:COMMAND, fd:N or file:PATH\"}");
	control_handle(&ctl, "{\"cmd\": \"migrate\", \"target\": \"udp:host:1\"}", reply,
		       sizeof(reply));
	assert_string_equal(reply, "{\"error\": \"'udp:host:1' is none of tcp:HOST:PORT, "
			    "exec:COMMAND, fd:N, file:PATH\"}");
	control_handle(&ctl, "{\"cmd\": \"migrate\", \"target\": \"tcp:h:1\", "
		       "\"max_downtime_ms\": -5}", reply, sizeof(reply));
	assert_string_equal(reply, "{\"error\": \"\\\"max_downtime_ms\\\" must be a whole "
			    "number from 0 to 60000\"}");
	control_handle(&ctl, "{\"cmd\": \"migrate\", \"target\": \"tcp:h:1\", "
		       "\"max_bandwidth\": \"fast\"}", reply, sizeof(reply));
	assert_non_null(strstr(reply, "must be a rate such as 100M"));
	control_handle(&ctl, "{\"cmd\": \"migrate\", \"target\": \"tcp:h:1\", "
		       "\"auto_converge\": 1}", reply, sizeof(reply));
	assert_string_equal(reply, "{\"error\": \"\\\"auto_converge\\\" must be true or "
			    "false\"}");
	control_handle(&ctl, "{\"cmd\": \"migrate-status\"}", reply, sizeof(reply));
	assert_non_null(strstr(reply, "{\"ok\": true, \"phase\": \"none\", \"target\": \"\", "
			       "\"round\": 0, "));
	control_handle(&ctl, "{\"cmd\": \"migrate-cancel\"}", reply, sizeof(reply));
	assert_string_equal(reply, "{\"error\": \"no migration is running\"}");
	control_handle(&ctl, "{\"command\": \"status\"}", reply, sizeof(reply));
	assert_string_equal(reply, "{\"error\": \"the request has no \\\"cmd\\\" string\"}");
	control_handle(&ctl, "status", reply, sizeof(reply));
	assert_non_null(strstr(reply, "{\"error\": \"not a flat JSON object: expected '{'"));
	control_handle(&ctl, "{\"cmd\": \"resume\"}", reply, sizeof(reply));
	assert_string_equal(reply, "{\"error\": \"the VM is not paused\"}");
}

static void test_control_who_may_steer(void **state)
{
	const gid_t groups[] = { 27, 100, 2001 };

	(void)state;
	assert_true(control_peer_allowed(1000, -1, 1000, 1000, NULL, 0));
	assert_false(control_peer_allowed(1000, -1, 1001, 1000, NULL, 0));
	assert_false(control_peer_allowed(1000, -1, 0, 0, NULL, 0));	/* root is another uid */
	assert_true(control_peer_allowed(1000, 2001, 1001, 2001, NULL, 0));
	assert_true(control_peer_allowed(1000, 2001, 1001, 1001, groups, 3));
	assert_false(control_peer_allowed(1000, 2002, 1001, 1001, groups, 3));
}

static void test_control_group_names(void **state)
{
	char path[] = "/tmp/hopvm-test-group-XXXXXX";
	int fd = mkstemp(path);
	const char text[] = "root:x:0:\nkvm:x:104:alice,bob\nkvmx:x:7:\nbroken:x:\nodd:x:12z:\n";
	gid_t gid = 0;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
	close(fd);
	assert_int_equal(control_group_lookup("kvm", path, &gid), 0);
	assert_int_equal(gid, 104);
	assert_int_equal(control_group_lookup("kvmx", path, &gid), 0);
	assert_int_equal(gid, 7);
	assert_int_equal(control_group_lookup("2001", path, &gid), 0);
	assert_int_equal(gid, 2001);
	assert_int_equal(control_group_lookup("kv", path, &gid), -ENOENT);
	assert_non_null(strstr(err_msg(), "--control-group kv: no such group in /tmp/"));
	assert_int_equal(control_group_lookup("broken", path, &gid), -ENOENT);
	assert_int_equal(control_group_lookup("odd", path, &gid), -ENOENT);
	unlink(path);
	assert_int_equal(control_group_lookup("kvm", path, &gid), -ENOENT);
	assert_non_null(strstr(err_msg(), "cannot read"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parses_flat_objects),
		cmocka_unit_test(test_refuses_what_it_does_not_know),
		cmocka_unit_test(test_parses_json_numbers),
		cmocka_unit_test(test_parses_requests),
		cmocka_unit_test(test_appends_escaped_strings),
		cmocka_unit_test(test_control_answers),
		cmocka_unit_test(test_control_who_may_steer),
		cmocka_unit_test(test_control_group_names),
	};
	return cmocka_run_group_tests_name("json_control", tests, NULL, NULL);
}
